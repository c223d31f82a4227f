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
    /// `None` when the writer task is gone (the caller then writes them
    /// itself).
    pub async fn write(
        &self,
        query: NewQuery,
        action: Option<NewAction>,
    ) -> Option<Result<(), StoreError>> {
        let (done, outcome) = oneshot::channel();
        self.jobs
            .send(Job {
                query,
                action,
                done,
            })
            .await
            .ok()?;
        outcome.await.ok()
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
            // A record the database refused: write the others one by one.
            Err(StoreError::Sql(sqlx::Error::Database(_))) if batch.len() > 1 => {
                for job in batch.drain(..) {
                    let alone = commit(&pool, std::slice::from_ref(&job)).await;
                    let _ = job.done.send(alone);
                }
            }
            // The database is unreachable (or the batch was one record):
            // every request hears it now, none waits for its own retry.
            Err(error) => {
                let message = error.to_string();
                for job in batch.drain(..) {
                    let _ = job
                        .done
                        .send(Err(StoreError::Sql(sqlx::Error::Protocol(message.clone()))));
                }
            }
        }
        metrics::histogram!("switchboard_db_write_duration_seconds")
            .record(started.elapsed().as_secs_f64());
    }
}

async fn commit(pool: &AnyPool, jobs: &[Job]) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    for job in jobs {
        write_query(&mut tx, &job.query, job.action.as_ref()).await?;
    }
    tx.commit().await?;
    Ok(())
}
