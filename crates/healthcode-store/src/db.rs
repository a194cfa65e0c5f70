//! The two backends, chosen by the database URL's scheme, and the macro that runs one body of
//! code (one SQL text) on whichever the store has.

use crate::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, SqliteConnection, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the store's pool, whichever backend it is. The body is
/// compiled once per backend, so the SQL text and the Rust around it are written once.
macro_rules! with_pool {
    ($backend:expr, $pool:ident => $body:expr) => {
        match $backend {
            $crate::db::Backend::Sqlite($pool) => $body,
            $crate::db::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// One connection of either backend, borrowed from an open transaction for the statements the
/// write path shares: chaining an audit entry, inserting a fact, queueing a trace. A function
/// taking it is written once and serves both stores; callers pass `&mut *tx`.
pub(crate) enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

impl<'a> From<&'a mut SqliteConnection> for Conn<'a> {
    fn from(c: &'a mut SqliteConnection) -> Conn<'a> {
        Conn::Sqlite(c)
    }
}

impl<'a> From<&'a mut PgConnection> for Conn<'a> {
    fn from(c: &'a mut PgConnection) -> Conn<'a> {
        Conn::Postgres(c)
    }
}

/// Lends a `Conn` again, for the next statement of the same transaction.
impl<'a, 'b> From<&'a mut Conn<'b>> for Conn<'a> {
    fn from(c: &'a mut Conn<'b>) -> Conn<'a> {
        match c {
            Conn::Sqlite(c) => Conn::Sqlite(c),
            Conn::Postgres(c) => Conn::Postgres(c),
        }
    }
}

/// Runs `$body` with `$c` bound to the connection of `$conn` (a `&mut Conn`), as `with_pool!`
/// does for a pool.
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::Conn::Sqlite($c) => $body,
            $crate::db::Conn::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_conn;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Backend {
    /// Connects and applies the embedded migrations. `sqlite://PATH` (created if missing, WAL,
    /// synchronous FULL so that what is acknowledged survives a power cut) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Backend, StoreError> {
        if is_postgres(url) {
            let pool = pg_pool(url).await?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            Ok(Backend::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            if let Some(file) = sqlite_file(url)? {
                owner_only(&file)?;
            }
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Reads map the file instead of copying each page through a system call:
                // tracing walks 100,000 index entries of a busy venue.
                .pragma("mmap_size", "1073741824");
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await?;
            SQLITE_MIGRATIONS.run(&pool).await?;
            Ok(Backend::Sqlite(pool))
        } else {
            Err(StoreError::Config(format!(
                "unsupported database URL {url:?}: use sqlite://PATH or postgres://…"
            )))
        }
    }

    /// Connects to a PostgreSQL standby for reads: the same options, no migrations.
    pub async fn connect_replica(url: &str) -> Result<Backend, StoreError> {
        if !is_postgres(url) {
            return Err(StoreError::Config(format!(
                "unsupported replica URL {url:?}: use postgres://…"
            )));
        }
        Ok(Backend::Postgres(pg_pool(url).await?))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A pool of PostgreSQL connections, each named after this node (`application_name`) unless
/// the URL names it.
async fn pg_pool(url: &str) -> Result<sqlx::PgPool, StoreError> {
    let mut options = PgConnectOptions::from_str(url)?;
    if options.get_application_name().is_none() {
        options = options.application_name(&crate::node_name());
    }
    Ok(PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?)
}

/// The file of a `sqlite:` URL; `None` for PostgreSQL and for an in-memory SQLite database,
/// which only the pool's own connections can reach.
pub(crate) fn sqlite_file(url: &str) -> Result<Option<std::path::PathBuf>, StoreError> {
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(None);
    }
    let options = SqliteConnectOptions::from_str(url)?;
    Ok(Some(options.get_filename().to_path_buf()))
}

/// Creates the database file readable and writable by its owner only, or narrows an existing
/// one (and its journal files) to that. SQLite gives the journal files it creates the database
/// file's mode.
fn owner_only(file: &std::path::Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let io = |e: std::io::Error| StoreError::Config(format!("{}: {e}", file.display()));
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(file)
            .map_err(io)?;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
            if path.exists() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(io)?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Rows per multi-row INSERT: 7 and 15 columns stay far below both stores' bind limits.
pub(crate) const CHUNK: usize = 500;

/// `$first, $first+1, …` for an `IN (…)` list of `n` values.
pub(crate) fn numbered(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which placeholders a store's statements take: numbered (`$1`) on PostgreSQL, `?` on SQLite.
pub(crate) trait Dialect {
    fn numbered(&self) -> bool;
}

impl Dialect for Backend {
    fn numbered(&self) -> bool {
        matches!(self, Backend::Postgres(_))
    }
}

impl Dialect for Conn<'_> {
    fn numbered(&self) -> bool {
        matches!(self, Conn::Postgres(_))
    }
}

/// The groups of a multi-row VALUES list of `rows` rows of `cols` columns: `($1, $2), …` on
/// PostgreSQL; `(?, ?), …` on SQLite, where looking up thousands of numbered parameters by name
/// costs more than the insert itself.
pub(crate) fn placeholders(store: &impl Dialect, rows: usize, cols: usize) -> String {
    let numbered = store.numbered();
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=cols)
                .map(|c| {
                    if numbered {
                        format!("${}", r * cols + c)
                    } else {
                        "?".to_owned()
                    }
                })
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Begins a transaction that reads and then writes. SQLite takes the write lock at once
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads first cannot later upgrade to a writer
/// if another connection wrote meanwhile, and fails with "database is locked" without waiting.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}
