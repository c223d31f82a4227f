//! The database: one pool over SQLite or PostgreSQL (through sqlx's `Any`
//! driver, so the same SQL serves both), and the migrations in
//! `migrations/`, applied at start-up.

pub mod analytics;
pub mod checkpoint;
pub mod configs;
pub mod direct;
pub mod records;
pub mod writer;

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A database that could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Connecting failed.
    #[error("cannot open database {url}: {source}")]
    Connect {
        /// The URL, without its password.
        url: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A statement failed.
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    /// A statement on a direct SQLite connection failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The engine's database handle; cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    kind: DbKind,
    sqlite: Option<std::sync::Arc<direct::SqliteFile>>,
    writer: Option<writer::Writer>,
}

/// Hides the password of a database URL for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Db {
    /// Opens `url` and applies the migrations.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        install_default_drivers();
        let kind = if url.starts_with("sqlite:") {
            DbKind::Sqlite
        } else {
            DbKind::Postgres
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if kind == DbKind::Sqlite {
                        conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact_url(url),
                source,
            })?;
        if kind == DbKind::Sqlite {
            // Readers do not block the writer, and the other way round.
            pool.execute("PRAGMA journal_mode = WAL").await?;
        }
        sqlx::migrate!("../migrations").run(&pool).await?;
        let sqlite = match direct::SqliteFile::path_of(url).filter(|_| kind == DbKind::Sqlite) {
            Some(path) => Some(std::sync::Arc::new(
                tokio::task::spawn_blocking(move || direct::SqliteFile::open(&path))
                    .await
                    .map_err(|e| StoreError::Sql(sqlx::Error::Protocol(e.to_string())))??,
            )),
            None => None,
        };
        let writer = match &sqlite {
            Some(file) => {
                let checkpointer = checkpoint::Checkpointer::start(file.connect_read_write()?)
                    .map_err(|e| StoreError::Sql(sqlx::Error::Io(e)))?;
                Some(writer::Writer::start_thread(
                    file.connect_writer()?,
                    checkpointer,
                ))
            }
            None => writer::Writer::start(pool.clone()),
        };
        Ok(Self {
            pool,
            kind,
            sqlite,
            writer,
        })
    }

    /// The SQLite file for direct access (see [`direct`]), when the
    /// database is an SQLite file.
    pub fn sqlite(&self) -> Option<&std::sync::Arc<direct::SqliteFile>> {
        self.sqlite.as_ref()
    }

    /// The group-commit writer for recorded queries, if it runs.
    pub fn writer(&self) -> Option<&writer::Writer> {
        self.writer.as_ref()
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database this is.
    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// Begins a transaction that will write. On SQLite it is
    /// `BEGIN IMMEDIATE`, which takes the write lock up front: a
    /// read-then-write transaction then waits its turn (the busy timeout)
    /// instead of failing with "database is locked" when another
    /// connection wrote in between.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.kind {
            DbKind::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            DbKind::Postgres => self.pool.begin().await,
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://user:secret@db:5432/x"),
            "postgres://user:***@db:5432/x"
        );
        assert_eq!(
            redact_url("sqlite://switchboard.db"),
            "sqlite://switchboard.db"
        );
        assert_eq!(redact_url("postgres://user@db/x"), "postgres://user@db/x");
    }
}
