//! Group commit of recorded queries: request handlers hand their records
//! to one writer task, which commits everything waiting in a single
//! transaction and then acknowledges each request. A request still gets
//! its answer only after its own record is committed, but many requests
//! share one commit (one fsync on SQLite) under load.
//!
//! If the database refuses a batch, its records are written again one by
//! one, so one bad record never costs the others theirs; if the database
//! is unreachable, every waiting request gets the error at once.

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::records::{NewAction, NewQuery, write_query};

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

async fn run(pool: AnyPool, mut inbox: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = inbox.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        metrics::histogram!("switchboard_group_commit_size").record(batch.len() as f64);
        let started = std::time::Instant::now();
        match commit(&pool, &batch).await {
            Ok(()) => {
                for job in batch.drain(..) {
                    let _ = job.done.send(Ok(()));
                }
            }
            // A record the database refused (a constraint): write the
            // others one by one, until an error that is not about a record.
            Err(error) if batch.len() > 1 && is_constraint(&error) => {
                let mut failure: Option<String> = None;
                for job in batch.drain(..) {
                    if let Some(message) = &failure {
                        let _ = job.done.send(Err(unavailable(message)));
                        continue;
                    }
                    let alone = commit(&pool, std::slice::from_ref(&job)).await;
                    if let Err(e) = &alone
                        && !is_constraint(e)
                    {
                        failure = Some(e.to_string());
                    }
                    let _ = job.done.send(alone);
                }
            }
            // The database is unreachable or busy (or the batch was one
            // record): every request hears it now, none waits for its own try.
            Err(error) => {
                let message = error.to_string();
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(unavailable(&message)));
                }
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
