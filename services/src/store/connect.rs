//! Opening the pool and applying migrations.

use std::{str::FromStr, time::Duration};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, SqliteTransactionMode,
    SqlxPostgresConnector, SqlxSqliteConnector, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{errors::is_busy, migration::Migrator};

/// Pool bounds. Every one of them is finite so a slow or dead database turns into quick,
/// retryable UNAVAILABLE answers instead of a pile of waiting requests.
#[derive(Clone, Copy, Debug)]
pub struct PoolSettings {
    /// Most connections open at once.
    pub max_connections: u32,
    /// How long a request waits for a free connection before it fails UNAVAILABLE.
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a locked database before giving up (ignored for PostgreSQL).
    pub sqlite_busy_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            sqlite_busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The advisory lock every replica takes before migrating, so that exactly one applies the
/// migrations and the others wait for it and then find nothing left to do.
const MIGRATION_LOCK_KEY: i64 = 0x0074_6963_6b65_7473; // "tickets" in ASCII

/// How long a PostgreSQL connection may sit idle before it is checked on its way out.
pub(super) const PING_IF_IDLE_FOR: Duration = Duration::from_millis(100);

/// Opens a connection pool for `url` (`sqlite:` or `postgres:`).
///
/// A PostgreSQL connection that sat idle in the pool for [`PING_IF_IDLE_FOR`] or longer is
/// pinged before a request gets it. Testing connections when they are returned (which sqlx
/// does) is not enough: one that dies while idle — the server restarted, a failover, a network
/// blip — would stay in the pool and fail a request with UNAVAILABLE after the database is back.
/// Pinging *every* checkout would cost a round trip per query (about a quarter of a simple
/// read's throughput); under load connections are back in use within milliseconds, so they are
/// not pinged, and when the service is quiet the round trip costs nothing that matters. SQLite
/// connections are in-process and cannot go away, so they are never pinged.
///
/// # Errors
/// When the URL is malformed or names another kind of database. The database itself is reached
/// lazily, so a server that is down at start does not stop the service from starting.
pub fn connect(url: &str, settings: PoolSettings) -> anyhow::Result<DatabaseConnection> {
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(settings.sqlite_busy_timeout)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .test_before_acquire(false)
            .connect_lazy_with(options);
        Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let options = PgConnectOptions::from_str(url)?.application_name("ticket-service");
        let pool = postgres_pool_options()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(options);
        Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
    } else {
        anyhow::bail!("TICKETS_DATABASE_URL must start with sqlite: or postgres:")
    }
}

/// The options of every PostgreSQL pool of the service: a connection is pinged before use only
/// when it sat idle for [`PING_IF_IDLE_FOR`] or longer (see [`connect`]); sqlx's default pings
/// every checkout.
pub(crate) fn postgres_pool_options() -> PgPoolOptions {
    PgPoolOptions::new().test_before_acquire(false).before_acquire(|connection, meta| {
        Box::pin(async move {
            if meta.idle_for >= PING_IF_IDLE_FOR {
                sqlx::Connection::ping(connection).await?;
            }
            Ok(true)
        })
    })
}

/// Applies every pending migration, safely when several replicas start at once.
///
/// PostgreSQL: one transaction holding an advisory transaction lock; DDL is transactional there,
/// so a replica either applies everything or nothing, and the others block on the lock and then
/// see the migrations recorded. SQLite: one `BEGIN IMMEDIATE` transaction, which takes the write
/// lock up front (waiting up to the busy timeout) instead of failing on a lock upgrade.
///
/// # Errors
/// When the database cannot be reached or a migration fails.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let txn = db.begin().await?;
            txn.execute_raw(sea_orm::Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [MIGRATION_LOCK_KEY.into()],
            ))
            .await?;
            Migrator::up(&txn, None).await?;
            txn.commit().await
        }
        _ => {
            // A fresh file is switched to WAL by the first connection that opens it. When two
            // connections switch at once, SQLite refuses one with SQLITE_BUSY at once (its
            // deadlock avoidance, which skips the busy timeout); by the time it is retried the
            // file is in WAL mode and opening is a no-op.
            let started = tokio::time::Instant::now();
            loop {
                match migrate_sqlite(db).await {
                    Err(err) if is_busy(&err) && started.elapsed() < SQLITE_MIGRATION_PATIENCE => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    result => return result,
                }
            }
        }
    }
}

/// How long a SQLite migration keeps retrying a busy database before it gives up.
const SQLITE_MIGRATION_PATIENCE: Duration = Duration::from_secs(10);

async fn migrate_sqlite(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await?;
    Migrator::up(&txn, None).await?;
    txn.commit().await
}
