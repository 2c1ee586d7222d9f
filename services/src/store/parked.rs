//! The single statements of the request paths — the gets by id, start-service, create, and a
//! list's count and page — on PostgreSQL connections that are parked between calls instead of
//! handed back to sqlx's pool.
//!
//! sqlx's pool pings every connection it takes back, in a task of its own (`Sync`, then wait
//! for `ReadyForQuery`): for a call of one statement, that is a second round trip to the
//! database per statement, and it cost about a third of the service's and of PostgreSQL's CPU
//! per get (bench/README.md, "sqlx's ping on release"). A parked connection is a
//! `PoolConnection` taken from the same pool and kept here between calls, so it is never
//! released and never pinged:
//!
//! - a call whose statement completed parks its connection again: one statement in autocommit
//!   leaves nothing behind on it;
//! - a call that failed, or was cancelled (its future dropped mid-statement), drops its
//!   connection, and the pool's release ping decides whether it is reused (it also drains an
//!   interrupted exchange): a connection in an unknown state is never parked;
//! - one parked for 100 ms or more is pinged before use, as the pool's own connections are
//!   (`connect::PING_IF_IDLE_FOR`), and one parked past the pool's idle timeout or leased past
//!   its maximum lifetime goes back to the pool, which retires it as it would have;
//! - all but a fifth of the pool's connections (at least one) may be leased here, parked or in
//!   a call; a call that finds no room waits for it as long as it would wait for the pool. The
//!   rest stay in the pool for everything else (transactions, the events pages, the health
//!   check). The database sees no more connections than `TICKETS_DB_MAX_CONNECTIONS`.
//!
//! The event hub's numbering and reads (`store::events::hub_store`) use the same parking on a
//! pool of one connection of their own, every connection of it parked ([`Parked::dedicated`]):
//! without it, each pass of the hub cost two round trips more than its one statement (sqlx's
//! default ping when the connection is taken, and the ping when it is given back).
//!
//! SQLite calls, and every call on a request-path pool of one connection, run through the pool
//! as before.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use sea_orm::{
    ConnAcquireErr, ConnectionTrait as _, DatabaseConnection, DbBackend, DbErr, QueryResult,
    RuntimeErr, Statement, sea_query::Values,
};
use sea_query_sqlx::SqlxValues;
use sqlx::{Connection as _, PgPool, Postgres, pool::PoolConnection};
use tickets_runtime::telemetry;
use tokio::{
    sync::{Semaphore, SemaphorePermit},
    time::Instant,
};
use tracing::Instrument as _;

use super::connect::PING_IF_IDLE_FOR;

/// The store's handle for the request paths' single statements: SeaORM's connection, and on
/// PostgreSQL the connections parked for those statements. Cheap to clone (the clones share the
/// parked ones).
#[derive(Clone, Debug)]
pub(crate) struct Parked {
    db: DatabaseConnection,
    leases: Option<Arc<Leases>>,
}

#[derive(Debug)]
struct Leases {
    pool: PgPool,
    /// The parked connections, the one parked last on top (the warmest).
    idle: Mutex<Vec<Lease>>,
    /// Leases that may exist at once, parked or in a call.
    room: Semaphore,
    acquire_timeout: Duration,
    idle_timeout: Option<Duration>,
    max_lifetime: Option<Duration>,
}

#[derive(Debug)]
struct Lease {
    connection: PoolConnection<Postgres>,
    taken: Instant,
    parked: Instant,
}

impl Parked {
    /// Parks connections of `db`'s pool when it is PostgreSQL with two or more connections:
    /// all but a fifth of them (at least one), which stay for the other queries.
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self::with_room(db, room)
    }

    /// Parks every connection of `db`'s pool when it is PostgreSQL: for a pool that one task
    /// uses, one statement at a time (the event hub's own connection), where no other query
    /// needs one to stay in the pool.
    pub(crate) fn dedicated(db: DatabaseConnection) -> Self {
        Self::with_room(db, |size| size)
    }

    /// Parks up to `room(pool size)` connections of `db`'s pool when it is PostgreSQL.
    fn with_room(db: DatabaseConnection, room: fn(usize) -> usize) -> Self {
        let leases = (db.get_database_backend() == DbBackend::Postgres)
            .then(|| db.get_postgres_connection_pool().clone())
            .and_then(|pool| {
                let options = pool.options();
                let room = room(usize::try_from(options.get_max_connections()).ok()?);
                let (acquire_timeout, idle_timeout, max_lifetime) = (
                    options.get_acquire_timeout(),
                    options.get_idle_timeout(),
                    options.get_max_lifetime(),
                );
                (room > 0).then(|| Leases {
                    acquire_timeout,
                    idle_timeout,
                    max_lifetime,
                    room: Semaphore::new(room),
                    idle: Mutex::new(Vec::with_capacity(room)),
                    pool,
                })
            })
            .map(Arc::new);
        Self { db, leases }
    }

    /// SeaORM's connection, for everything that is not one statement.
    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Runs `statement` and returns its first row, if any.
    ///
    /// # Errors
    /// As SeaORM's `query_one_raw`: no connection came within the pool's acquire timeout, or
    /// the statement failed.
    pub(crate) async fn query_one(
        &self,
        statement: Statement,
    ) -> Result<Option<QueryResult>, DbErr> {
        let Some(leases) = &self.leases else { return self.db.query_one_raw(statement).await };
        let (_room, mut lease) = leases.take().await?;
        let (sql, values, span) = parts(statement);
        let query = sqlx::query_with(sqlx::AssertSqlSafe(sql.as_str()), values);
        // Dropped here if the call is cancelled: the pool gets the connection back.
        let result = query.fetch_optional(&mut *lease.connection).instrument(span).await;
        leases.settle(lease, result).map(|row| row.map(QueryResult::from))
    }

    /// Runs `statement` and returns its rows.
    ///
    /// # Errors
    /// As [`Self::query_one`].
    pub(crate) async fn query_all(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let Some(leases) = &self.leases else { return self.db.query_all_raw(statement).await };
        let (_room, mut lease) = leases.take().await?;
        let (sql, values, span) = parts(statement);
        let query = sqlx::query_with(sqlx::AssertSqlSafe(sql.as_str()), values);
        let result = query.fetch_all(&mut *lease.connection).instrument(span).await;
        leases.settle(lease, result).map(|rows| rows.into_iter().map(QueryResult::from).collect())
    }
}

/// How many of a pool's `size` connections may be leased here: all but a fifth, and at least
/// one stays in the pool.
fn room(size: usize) -> usize {
    size.saturating_sub((size / 5).max(1))
}

/// A statement's text, its values as sqlx binds them, and its span.
fn parts(statement: Statement) -> (String, SqlxValues, tracing::Span) {
    let Statement { sql, values, .. } = statement;
    let span = span(&sql);
    (sql, SqlxValues(values.unwrap_or_else(|| Values(Vec::new()))), span)
}

impl Leases {
    /// Room for one more lease (waiting as long as the pool would), and a parked connection
    /// that is still fit to use or else a new lease from the pool.
    async fn take(&self) -> Result<(SemaphorePermit<'_>, Lease), DbErr> {
        // Free room is taken at once; only a call that must wait arms a timer.
        let room = match self.room.try_acquire() {
            Ok(room) => room,
            Err(_) => tokio::time::timeout(self.acquire_timeout, self.room.acquire())
                .await
                .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
                .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))?,
        };
        Ok((room, self.lease().await?))
    }

    async fn lease(&self) -> Result<Lease, DbErr> {
        while let Some(mut lease) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            if self.is_stale(&lease, Instant::now()) {
                continue; // dropped: back to the pool, which retires it
            }
            if lease.parked.elapsed() >= PING_IF_IDLE_FOR && lease.connection.ping().await.is_err()
            {
                continue; // dropped: the pool's own ping on release closes it
            }
            return Ok(lease);
        }
        // Boxed: sqlx's acquire future is about 14.5 KB, and held inline it made every call's
        // future that size, copied as it is built on every call (bench/README.md, "Small
        // futures"); a new lease is the rare path.
        let connection = Box::pin(self.pool.acquire()).await.map_err(acquire_error)?;
        let now = Instant::now();
        Ok(Lease { connection, taken: now, parked: now })
    }

    /// Parks the lease of a call whose statement completed; drops that of one that failed.
    fn settle<T>(&self, lease: Lease, result: Result<T, sqlx::Error>) -> Result<T, DbErr> {
        match result {
            Ok(answer) => {
                self.park(lease);
                Ok(answer)
            }
            // As SeaORM reports a failed query (its own conversion is private).
            Err(error) => Err(DbErr::Query(RuntimeErr::SqlxError(error.into()))),
        }
    }

    /// Parks `lease` again, and hands the bottom one back to the pool if it went stale (it sat
    /// under the others while calls were few; one per call is enough to clear them all).
    fn park(&self, mut lease: Lease) {
        let now = Instant::now();
        lease.parked = now;
        let stale = self.idle.lock().ok().and_then(|mut idle| {
            idle.push(lease);
            idle.first().is_some_and(|bottom| self.is_stale(bottom, now)).then(|| idle.remove(0))
        });
        drop(stale); // outside the lock
    }

    fn is_stale(&self, lease: &Lease, now: Instant) -> bool {
        self.idle_timeout.is_some_and(|timeout| now - lease.parked >= timeout)
            || self.max_lifetime.is_some_and(|lifetime| now - lease.taken >= lifetime)
    }
}

/// The span SeaORM gives a query (`sea_orm.query`), when traces are exported: the hot calls
/// keep their place in a trace.
fn span(sql: &str) -> tracing::Span {
    if !telemetry::tracing_enabled() {
        return tracing::Span::none();
    }
    let operation = sql.split_whitespace().next().unwrap_or_default();
    tracing::info_span!(
        "sea_orm.query",
        otel.kind = "client",
        db.system = "postgresql",
        db.operation = %operation.to_ascii_uppercase(),
    )
}

/// As SeaORM reports a pool that gave no connection (its own conversion is private).
fn acquire_error(error: sqlx::Error) -> DbErr {
    match error {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        error => DbErr::Conn(RuntimeErr::SqlxError(error.into())),
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, SqlxPostgresConnector, Statement};
    use sqlx::postgres::PgPoolOptions;

    use super::{Parked, room};

    #[test]
    fn the_pool_keeps_a_fifth_of_its_connections_and_at_least_one() {
        assert_eq!([1, 2, 5, 10, 100].map(room), [0, 1, 4, 8, 80]);
    }

    /// The futures of the calls are built and moved on every call: with sqlx's acquire future
    /// inline they were about 14.8 KB each, with it boxed 608 bytes (release build).
    #[tokio::test]
    async fn a_calls_future_does_not_hold_the_pools_acquire_future() {
        // Lazy: nothing connects, the futures are only built.
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .connect_lazy("postgres://nobody@127.0.0.1:1/nothing")
            .expect("a valid URL");
        let acquire = std::mem::size_of_val(&pool.acquire());
        let parked = Parked::new(SqlxPostgresConnector::from_sqlx_postgres_pool(pool));
        let statement = Statement::from_string(DbBackend::Postgres, "SELECT 1");
        let one = std::mem::size_of_val(&parked.query_one(statement.clone()));
        let all = std::mem::size_of_val(&parked.query_all(statement));
        // A future that held the acquire future inline would be larger than it.
        assert!(one < acquire && all < acquire, "{one} / {all} bytes against {acquire}");
    }
}
