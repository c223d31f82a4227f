//! Group commit of recorded queries: request handlers hand their records
//! to one writer task, which commits everything waiting in a single
//! transaction and then acknowledges each request. A request still gets
//! its answer only after its own record is committed, but many requests
//! share one commit (one fsync on SQLite) under load.
//!
//! On SQLite the writer is a thread with its own connection (see
//! [`super::direct`]); on PostgreSQL a task on the Tokio runtime.
//!
//! If the database refuses a batch, its records are written again one by
//! one, so one bad record never costs the others theirs; if the database
//! is unreachable, every waiting request gets the error at once.

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::records::{NewAction, NewQuery, write_query, write_query_sqlite};

/// Records committed together at most.
const MAX_BATCH: usize = 256;

/// How long a request waits for its record to be committed.
const ACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One request's records and where to report the outcome.
struct Job {
    query: NewQuery,
    action: Option<NewAction>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// A handle to the writer task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("query_id", &self.query.query_id)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer task on the current Tokio runtime, if there is
    /// one; it ends when the last handle is dropped.
    pub fn start(pool: AnyPool) -> Option<Self> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (jobs, inbox) = mpsc::channel(4 * MAX_BATCH);
        runtime.spawn(run(pool, inbox));
        Some(Self { jobs })
    }

    /// Starts the writer on a thread of its own that commits with `conn`
    /// (an SQLite connection); it ends when the last handle is dropped.
    pub fn start_thread(conn: rusqlite::Connection) -> Self {
        let (jobs, inbox) = mpsc::channel(4 * MAX_BATCH);
        let spawned = std::thread::Builder::new()
            .name("switchboard-writer".into())
            .spawn(move || run_thread(conn, inbox));
        if let Err(error) = spawned {
            // The closed channel makes every caller write for itself.
            tracing::error!(%error, "cannot start the writer thread");
        }
        Self { jobs }
    }

    /// Commits `query` and `action`; returns once they are durable, or
    /// `None` when the writer task is gone and never took them (the caller
    /// then writes them itself). A job taken but not acknowledged within
    /// [`ACK_TIMEOUT`] is an error: it may still commit, but no answer is
    /// ever sent for a record that is not known to be committed.
    pub async fn write(
        &self,
        query: NewQuery,
        action: Option<NewAction>,
    ) -> Option<Result<(), StoreError>> {
        let (done, outcome) = oneshot::channel();
        let job = Job {
            query,
            action,
            done,
        };
        self.jobs.send(job).await.ok()?;
        Some(match tokio::time::timeout(ACK_TIMEOUT, outcome).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(unavailable("the database writer stopped")),
            Err(_) => Err(unavailable(
                "the database did not confirm the write in time",
            )),
        })
    }
}

/// Adds to `batch` every job already waiting, up to [`MAX_BATCH`].
fn gather(batch: &mut Vec<Job>, inbox: &mut mpsc::Receiver<Job>) {
    while batch.len() < MAX_BATCH {
        match inbox.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    metrics::histogram!("switchboard_group_commit_size").record(batch.len() as f64);
}

/// What to do after a batch's commit.
enum Settled {
    /// Every job got its answer.
    Done,
    /// A record the database refused (a constraint): write the jobs one by
    /// one, until an error that is not about a record.
    OneByOne,
}

/// Acknowledges the jobs of `batch` after its commit ended with `outcome`,
/// unless they must be written one by one.
fn settle(batch: &mut Vec<Job>, outcome: Result<(), StoreError>) -> Settled {
    match outcome {
        Ok(()) => {
            for job in batch.drain(..) {
                let _ = job.done.send(Ok(()));
            }
            Settled::Done
        }
        Err(error) if batch.len() > 1 && is_constraint(&error) => Settled::OneByOne,
        // The database is unreachable or busy (or the batch was one
        // record): every request hears it now, none waits for its own try.
        Err(error) => {
            let message = error.to_string();
            for job in batch.drain(..) {
                let _ = job.done.send(Err(unavailable(&message)));
            }
            Settled::Done
        }
    }
}

/// One job of a batch written alone: acknowledges it, and returns the
/// failure that ends the one-by-one pass (an error not about the record).
fn settle_alone(job: Job, outcome: Result<(), StoreError>) -> Option<String> {
    let failure = match &outcome {
        Err(e) if !is_constraint(e) => Some(e.to_string()),
        _ => None,
    };
    let _ = job.done.send(outcome);
    failure
}

async fn run(pool: AnyPool, mut inbox: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = inbox.recv().await {
        batch.push(first);
        gather(&mut batch, &mut inbox);
        let started = std::time::Instant::now();
        let outcome = commit(&pool, &batch).await;
        if let Settled::OneByOne = settle(&mut batch, outcome) {
            let mut failure: Option<String> = None;
            for job in batch.drain(..) {
                if let Some(message) = &failure {
                    let _ = job.done.send(Err(unavailable(message)));
                    continue;
                }
                let alone = commit(&pool, std::slice::from_ref(&job)).await;
                failure = settle_alone(job, alone);
            }
        }
        metrics::histogram!("switchboard_group_commit_duration_seconds")
            .record(started.elapsed().as_secs_f64());
    }
}

fn run_thread(mut conn: rusqlite::Connection, mut inbox: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = inbox.blocking_recv() {
        batch.push(first);
        gather(&mut batch, &mut inbox);
        let started = std::time::Instant::now();
        let outcome = commit_sqlite(&mut conn, &batch);
        if let Settled::OneByOne = settle(&mut batch, outcome) {
            let mut failure: Option<String> = None;
            for job in batch.drain(..) {
                if let Some(message) = &failure {
                    let _ = job.done.send(Err(unavailable(message)));
                    continue;
                }
                let alone = commit_sqlite(&mut conn, std::slice::from_ref(&job));
                failure = settle_alone(job, alone);
            }
        }
        metrics::histogram!("switchboard_group_commit_duration_seconds")
            .record(started.elapsed().as_secs_f64());
    }
}

/// Whether the database refused a record for what it holds (unique, foreign
/// key, not null, check), as opposed to being unreachable or busy.
fn is_constraint(error: &StoreError) -> bool {
    match error {
        StoreError::Sql(sqlx::Error::Database(db)) => {
            !matches!(db.kind(), sqlx::error::ErrorKind::Other)
        }
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
            e.code == rusqlite::ErrorCode::ConstraintViolation
        }
        _ => false,
    }
}

fn unavailable(message: &str) -> StoreError {
    StoreError::Sql(sqlx::Error::Protocol(message.to_owned()))
}

async fn commit(pool: &AnyPool, jobs: &[Job]) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    for job in jobs {
        write_query(&mut tx, &job.query, job.action.as_ref()).await?;
    }
    tx.commit().await?;
    Ok(())
}

fn commit_sqlite(conn: &mut rusqlite::Connection, jobs: &[Job]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for job in jobs {
        write_query_sqlite(&tx, &job.query, job.action.as_ref())?;
    }
    tx.commit()?;
    Ok(())
}
