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
use super::checkpoint::Checkpointer;
use super::records::{NewAction, NewQuery, write_query, write_query_sqlite};

/// Records committed together at most (also the last bucket of the
/// `switchboard_group_commit_size` histogram).
pub(crate) const MAX_BATCH: usize = 256;

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
    /// (an SQLite connection that does not checkpoint) and wakes
    /// `checkpointer` after its commits; it ends when the last handle is
    /// dropped.
    pub fn start_thread(conn: rusqlite::Connection, checkpointer: Checkpointer) -> Self {
        let (jobs, inbox) = mpsc::channel(4 * MAX_BATCH);
        let spawned = std::thread::Builder::new()
            .name("switchboard-writer".into())
            .spawn(move || run_thread(conn, inbox, checkpointer));
        if let Err(error) = spawned {
            // The closed channel makes every caller write for itself.
            tracing::error!(%error, "cannot start the writer thread");
        }
        Self { jobs }
    }

    /// Commits `query` and `action`; returns once they are durable, or
    /// `None` when the writer task is gone and never took them (the caller
    /// then writes them itself). A job taken but not acknowledged within
    /// `ACK_TIMEOUT` is an error: it may still commit, but no answer is
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

fn run_thread(
    mut conn: rusqlite::Connection,
    mut inbox: mpsc::Receiver<Job>,
    checkpointer: Checkpointer,
) {
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
        checkpointer.wake();
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

#[cfg(test)]
mod tests {
    use super::super::Db;
    use super::super::records::{NewQuery, query_exists};
    use crate::TenantId;

    fn record(id: &str) -> NewQuery {
        NewQuery {
            query_id: id.to_owned(),
            tenant: TenantId::new(1),
            user_id: "agent-7".into(),
            conversation_id: None,
            text: "show billing for ABC123".into(),
            response_text: "ok".into(),
            structured_data: "{}".into(),
            intent: "billing.summary".into(),
            confidence: 0.9,
            processing_time: 0.001,
            status: "answered".into(),
            interpreter: "embedded".into(),
            created_at: "2026-12-02T00:00:00Z".into(),
        }
    }

    /// A batch with one record the database refuses is written again one by
    /// one on the SQLite writer thread: the others are committed, and only
    /// the bad one's request hears about it.
    #[tokio::test]
    async fn one_refused_record_costs_the_others_of_its_batch_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let db = Db::open(&format!("sqlite://{}?mode=rwc", path.display()), 2)
            .await
            .unwrap();
        let writer = db.writer().expect("a writer thread").clone();
        writer
            .write(record("q-first"), None)
            .await
            .unwrap()
            .unwrap();
        // Hold the write lock so the next records queue up and meet in
        // one batch once it is released.
        let blocker = rusqlite::Connection::open(&path).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let waiting = ["q-a", "q-first", "q-b", "q-c"].map(|id| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.write(record(id), None).await })
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        blocker.execute_batch("COMMIT").unwrap();
        let mut outcomes = Vec::new();
        for job in waiting {
            outcomes.push(job.await.unwrap().expect("the writer took the job"));
        }
        assert!(outcomes[0].is_ok(), "{:?}", outcomes[0]);
        let refused = outcomes[1].as_ref().expect_err("a duplicate id is refused");
        assert!(super::is_constraint(refused), "{refused}");
        assert!(outcomes[2].is_ok() && outcomes[3].is_ok(), "{outcomes:?}");
        for id in ["q-first", "q-a", "q-b", "q-c"] {
            assert!(
                query_exists(&db, TenantId::new(1), id).await.unwrap(),
                "{id}"
            );
        }
    }
}
