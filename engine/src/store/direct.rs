//! SQLite without the hand-offs, for the two hot paths of a query: the
//! named queries a plugin's `handle` runs, and the group commit of recorded
//! queries.
//!
//! sqlx's SQLite driver runs every connection on its own worker thread, and
//! each statement crosses to that thread and back (two context switches,
//! more for a transaction). Here the thread that needs the data runs SQLite
//! itself: a plugin's reads run on the thread that runs the plugin, on a
//! read-only connection from a small pool, inside one read transaction per
//! call (so all reads of a call see one snapshot); recorded queries are
//! committed by one writer thread that owns its connection. Everything else
//! (migrations, the API's other reads and writes, confirmed actions) still
//! goes through sqlx.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// Connections kept for reuse; more can be open at once, and the extra
/// ones are closed when returned.
const KEEP_READERS: usize = 16;

/// How much of the database file a reader maps into memory.
const MMAP_BYTES: u64 = 256 << 20;

/// How long a statement waits for a lock before it fails with "busy".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One SQLite database file, reached directly.
#[derive(Debug)]
pub struct SqliteFile {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
}

impl SqliteFile {
    /// The file an sqlx SQLite URL names, or `None` when the database lives
    /// in memory (only sqlx's own connections can share it).
    pub fn path_of(url: &str) -> Option<PathBuf> {
        use std::str::FromStr;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
        let path = options.get_filename();
        let text = path.to_string_lossy();
        let in_memory = text.is_empty()
            || text.starts_with("file:")
            || text == ":memory:"
            || url.contains("mode=memory");
        (!in_memory).then(|| path.to_path_buf())
    }

    /// Opens `path` (which must exist) and checks that it can be read.
    pub fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        let file = Self {
            path: path.to_path_buf(),
            readers: Mutex::new(Vec::new()),
        };
        let first = file.connect_reader()?;
        first.query_row("SELECT 1", [], |_| Ok(()))?;
        file.pool().push(first);
        Ok(file)
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.readers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn connect_reader(&self) -> Result<Connection, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Belt and braces: the connection is opened read-only already.
        conn.execute_batch("PRAGMA query_only = ON")?;
        // Every commit of the writer empties a reader's page cache (WAL);
        // mapped, the pages it reads again come straight from the OS's
        // cache instead of one `pread` each.
        conn.execute_batch(&format!("PRAGMA mmap_size = {MMAP_BYTES}"))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    /// Opens the read-write connection of the writer thread. It never
    /// checkpoints the WAL itself: see [`super::checkpoint`].
    pub fn connect_writer(&self) -> Result<Connection, rusqlite::Error> {
        let conn = self.connect_read_write()?;
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0")?;
        Ok(conn)
    }

    /// Opens a read-write connection (for the checkpoint thread).
    pub fn connect_read_write(&self) -> Result<Connection, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(conn)
    }

    /// A read-only connection with a read transaction open on it; the
    /// transaction ends and the connection goes back to the pool when the
    /// [`Reader`] is dropped.
    pub fn reader(self: &Arc<Self>) -> Result<Reader, rusqlite::Error> {
        let pooled = self.pool().pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => self.connect_reader()?,
        };
        conn.prepare_cached("BEGIN")?.execute([])?;
        Ok(Reader {
            conn: Some(conn),
            home: self.clone(),
        })
    }
}

/// A pooled read-only connection inside a read transaction.
#[derive(Debug)]
pub struct Reader {
    conn: Option<Connection>,
    home: Arc<SqliteFile>,
}

impl Reader {
    /// The connection.
    pub fn connection(&self) -> &Connection {
        // Present until drop.
        self.conn
            .as_ref()
            .expect("reader connection present until drop")
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        conn.progress_handler(0, None::<fn() -> bool>);
        let ended = conn
            .prepare_cached("ROLLBACK")
            .and_then(|mut s| s.execute([]))
            .is_ok();
        // A connection whose transaction could not end is not reused.
        if ended && conn.is_autocommit() {
            let mut pool = self.home.pool();
            if pool.len() < KEEP_READERS {
                pool.push(conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_databases_are_not_reached_directly() {
        assert!(SqliteFile::path_of("sqlite::memory:").is_none());
        assert!(SqliteFile::path_of("sqlite://x.db?mode=memory").is_none());
        assert_eq!(
            SqliteFile::path_of("sqlite://data/x.db?mode=rwc"),
            Some(PathBuf::from("data/x.db"))
        );
    }

    #[test]
    fn readers_see_one_snapshot_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let setup = Connection::open(&path).unwrap();
        setup
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1);",
            )
            .unwrap();
        let file = Arc::new(SqliteFile::open(&path).unwrap());
        let reader = file.reader().unwrap();
        let count = |r: &Reader| -> i64 {
            r.connection()
                .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
                .unwrap()
        };
        assert_eq!(count(&reader), 1);
        setup.execute("INSERT INTO t VALUES (2)", []).unwrap();
        // Same transaction: same snapshot.
        assert_eq!(count(&reader), 1);
        assert!(
            reader
                .connection()
                .execute("INSERT INTO t VALUES (3)", [])
                .is_err()
        );
        drop(reader);
        // The pooled connection starts a new snapshot.
        let reader = file.reader().unwrap();
        assert_eq!(count(&reader), 2);
    }
}
