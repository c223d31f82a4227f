//! WAL checkpoints off the commit path.
//!
//! By default SQLite checkpoints inside the commit that takes the WAL past
//! 1,000 pages: that commit copies every changed page into the database
//! file and syncs it before it returns, and every request waiting in the
//! group commit waits with it; under load it showed as about a quarter of
//! the writer thread's profile. The writer's connection therefore turns automatic checkpoints
//! off, and this thread, woken by the writer's commits, runs a passive
//! checkpoint (it never blocks readers or the writer) at most every
//! [`GATHER`], so a page written by many commits is copied once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// How long the thread lets commits gather after being woken before it
/// checkpoints: the WAL holds at most about what the commits of that long
/// (and of one checkpoint) wrote.
pub const GATHER: Duration = Duration::from_millis(250);

/// A handle to the checkpoint thread; when it is dropped, the thread runs a
/// last checkpoint and ends.
#[derive(Debug)]
pub struct Checkpointer {
    wake: SyncSender<()>,
    /// Whether the thread was found gone (warned about once).
    gone: AtomicBool,
}

impl Checkpointer {
    /// Starts the thread with `conn`, a read-write connection of its own.
    pub fn start(conn: Connection) -> std::io::Result<Self> {
        let (wake, woken) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("switchboard-checkpoint".into())
            .spawn(move || run(&conn, &woken))?;
        Ok(Self {
            wake,
            gone: AtomicBool::new(false),
        })
    }

    /// Tells the thread that the WAL has grown; cheap, never blocks.
    pub fn wake(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                if !self.gone.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        "the checkpoint thread is gone; the WAL is checkpointed only by other connections' commits"
                    );
                }
            }
        }
    }
}

fn run(conn: &Connection, woken: &Receiver<()>) {
    while woken.recv().is_ok() {
        std::thread::sleep(GATHER);
        // A wake that came while sleeping is covered by this checkpoint.
        let _ = woken.try_recv();
        checkpoint(conn);
    }
    checkpoint(conn);
}

/// Runs one passive checkpoint and reports it.
fn checkpoint(conn: &Connection) {
    let started = Instant::now();
    let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    match outcome {
        Ok((frames, copied)) => {
            metrics::histogram!("switchboard_wal_checkpoint_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            tracing::trace!(frames, copied, "WAL checkpoint");
        }
        Err(error) => tracing::warn!(%error, "WAL checkpoint failed; the next one retries"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_copies_the_wal_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (v TEXT);",
            )
            .unwrap();
        let main_size = || std::fs::metadata(&path).unwrap().len();
        let before = main_size();
        writer.execute_batch("BEGIN").unwrap();
        for i in 0..200 {
            writer
                .execute("INSERT INTO t VALUES (?1)", [format!("{i:0>1000}")])
                .unwrap();
        }
        writer.execute_batch("COMMIT").unwrap();
        assert_eq!(main_size(), before, "no automatic checkpoint");
        let checkpointer = Checkpointer::start(Connection::open(&path).unwrap()).unwrap();
        checkpointer.wake();
        let deadline = Instant::now() + Duration::from_secs(10);
        while main_size() == before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(main_size() > before, "the rows reached the database file");
        drop(checkpointer);
        let rows: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 200);
    }
}
