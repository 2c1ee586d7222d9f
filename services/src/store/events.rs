//! The event log's queries (docs/events.md). Triggers append the events (see the migration);
//! these read them, number them on PostgreSQL, and prune them.
//!
//! Only numbered events are ever read, and numbers are handed out by one sequencer transaction
//! at a time, each committing before the next starts: a reader that saw id `n` can only ever be
//! shown ids above `n` afterwards, never one below it that committed late.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult as _, QueryFilter,
    QueryOrder, QueryResult, QuerySelect, QueryTrait as _, Select, SqlxPostgresConnector,
    Statement,
};
use uuid::Uuid;

use super::{
    Parked, connect::postgres_pool_options, convert::event_from_row, entity::ticket_event,
};
use crate::domain::{Error, EventLimit, EventPosition, EventQuery, ProviderId, TicketEvent};

/// The most events one hub read returns, and one pruning pass looks at.
pub(crate) const BATCH: u16 = 1000;

// The sequencer's functions (migrations) number and read in batches of the same size.
const _: () = assert!(BATCH == 1000, "ticket_events_number() and ticket_events_advance() use 1000");

/// The events of `provider` after `query.after`, oldest first.
///
/// # Errors
/// `Gone` when `after` is older than the retained log; `Unavailable` when the store cannot be
/// reached.
pub(crate) async fn page(
    db: &DatabaseConnection,
    provider: ProviderId,
    query: EventQuery,
) -> Result<Vec<TicketEvent>, Error> {
    let after = query.after.get();
    let rows = page_query(provider, query).all(db).await?;
    let events = rows.into_iter().map(event_from_row).collect::<Result<Vec<_>, _>>()?;
    // A page that starts right after `after` proves the position is a real, retained one;
    // otherwise ask.
    if events.first().is_none_or(|first| first.id > after + 1) {
        check_position(db, query.after).await?;
    }
    Ok(events)
}

fn page_query(provider: ProviderId, query: EventQuery) -> Select<ticket_event::Entity> {
    ticket_event::Entity::find()
        .filter(ticket_event::Column::ProviderId.eq(provider.get()))
        .filter(ticket_event::Column::Id.gt(query.after.get()))
        .order_by_asc(ticket_event::Column::Id)
        .limit(u64::from(query.limit.get()))
}

/// Whether a reader can resume at `after`: nothing after it has been pruned, and it is not
/// beyond the newest event (no reader can have received an id that was never handed out; one
/// that claims to would skip every event up to it).
///
/// # Errors
/// `Gone` when events after it were pruned; `InvalidArgument` on `after` when it is beyond the
/// newest event; `Unavailable` when the store cannot be reached.
pub(crate) async fn check_position(
    db: &DatabaseConnection,
    after: EventPosition,
) -> Result<(), Error> {
    if after == EventPosition::START {
        return Ok(());
    }
    let (oldest, newest) = ticket_event::Entity::find()
        .select_only()
        .column_as(ticket_event::Column::Id.min(), "oldest")
        .column_as(ticket_event::Column::Id.max(), "newest")
        .into_tuple::<(Option<i64>, Option<i64>)>()
        .one(db)
        .await?
        .unwrap_or_default();
    if after.get() > newest.unwrap_or(0) {
        return Err(Error::violation("after", BEYOND_NEWEST));
    }
    // Ids have no holes, so the log holds everything after `after` exactly when the oldest
    // retained event is at most the next one.
    match oldest {
        Some(oldest) if after.get() + 1 < oldest => Err(Error::Gone(after.get())),
        _ => Ok(()),
    }
}

/// The violation of a position beyond the newest event.
const BEYOND_NEWEST: &str =
    "must be the id of an event you received: it is beyond the newest event";

/// Every provider's events after `after`, oldest first, at most [`BATCH`]: what the service's
/// hub reads to fan out.
///
/// # Errors
/// `Unavailable` when the store cannot be reached.
pub(crate) async fn since(store: &Parked, after: i64) -> Result<Vec<TicketEvent>, Error> {
    let events = read_window(store, after).await?;
    past_a_pruned_stretch_if_empty(store, after, events).await
}

async fn read_window(store: &Parked, after: i64) -> Result<Vec<TicketEvent>, Error> {
    let statement = since_query(after).build(store.db().get_database_backend());
    events_of(&store.query_all(statement).await?)
}

/// The events of `rows` (whole `ticket_events` rows).
fn events_of(rows: &[QueryResult]) -> Result<Vec<TicketEvent>, Error> {
    rows.iter()
        .map(|row| event_from_row(ticket_event::Model::from_query_result(row, "")?))
        .collect()
}

/// `events`, the window read after `after`; when it is empty, what follows `after`: nothing,
/// normally; but when pruning cut the log more than a window ahead of a reader that fell
/// behind (a hub that could not read for longer than the retention), the events from the
/// oldest retained one on — what was pruned is gone for every reader, and a reader stuck
/// before it would never move again. One probe of the id index (`min` is planned as the first
/// entry after `after`).
async fn past_a_pruned_stretch_if_empty(
    store: &Parked,
    after: i64,
    events: Vec<TicketEvent>,
) -> Result<Vec<TicketEvent>, Error> {
    if !events.is_empty() {
        return Ok(events);
    }
    let next = scalar(store, next_query(after), "next").await?;
    match next {
        Some(next) if next > after.saturating_add(i64::from(BATCH)) => {
            tracing::warn!(
                after,
                next,
                "events after the hub's position were pruned; continuing from the oldest retained"
            );
            read_window(store, next - 1).await
        }
        _ => Ok(Vec::new()),
    }
}

/// The smallest id after `after`.
fn next_query(after: i64) -> Select<ticket_event::Entity> {
    ticket_event::Entity::find()
        .select_only()
        .column_as(ticket_event::Column::Id.min(), "next")
        .filter(ticket_event::Column::Id.gt(after))
}

/// The ids after `after` up to `after + BATCH`: ids have no holes (but where pruning cut ahead
/// of a reader, see [`since`]), so that window holds exactly the next [`BATCH`] events. The
/// upper bound is what keeps the plan an index range scan whatever the statistics say: with
/// `id > after` alone, a table not yet analyzed (a young log, a restore) is planned as a scan
/// of the whole table and a sort, on every read.
fn since_query(after: i64) -> Select<ticket_event::Entity> {
    ticket_event::Entity::find()
        .filter(ticket_event::Column::Id.gt(after))
        .filter(ticket_event::Column::Id.lte(after.saturating_add(i64::from(BATCH))))
        .order_by_asc(ticket_event::Column::Id)
        .limit(u64::from(BATCH))
}

/// The event log's hot statements with their parameters, for checking their plans (the
/// `plans` test): the hub's read after `after`, its probe for the next id, and a page of
/// `provider`'s events.
#[must_use]
pub fn hot_statements(
    backend: DbBackend,
    provider: Uuid,
    after: i64,
) -> Vec<(&'static str, Statement)> {
    let query = EventQuery {
        after: EventPosition::new(after).unwrap_or(EventPosition::START),
        limit: EventLimit::try_from(i64::from(EventLimit::MAX)).unwrap_or_default(),
    };
    vec![
        ("events: hub read", since_query(after).build(backend)),
        ("events: next id after a pruned stretch", next_query(after).build(backend)),
        ("events: page", page_query(ProviderId::new(provider), query).build(backend)),
    ]
}

/// The highest id handed out so far (0 before the first event).
///
/// # Errors
/// `Unavailable` when the store cannot be reached.
pub(crate) async fn head(db: &DatabaseConnection) -> Result<i64, Error> {
    Ok(head_query().into_tuple::<Option<i64>>().one(db).await?.flatten().unwrap_or(0))
}

/// [`head`], on the hub's own store.
///
/// # Errors
/// `Unavailable` when the store cannot be reached.
pub(crate) async fn head_of(store: &Parked) -> Result<i64, Error> {
    Ok(scalar(store, head_query(), "head").await?.unwrap_or(0))
}

fn head_query() -> Select<ticket_event::Entity> {
    ticket_event::Entity::find().select_only().column_as(ticket_event::Column::Id.max(), "head")
}

/// The nullable `bigint` column `column` of the one row `query` returns, run on `store`: the
/// hub's statements all go through its parked connection (its pool has no other to give).
async fn scalar(
    store: &Parked,
    query: Select<ticket_event::Entity>,
    column: &str,
) -> Result<Option<i64>, Error> {
    let statement = query.build(store.db().get_database_backend());
    let row = store.query_one(statement).await?;
    Ok(row.map(|row| row.try_get::<Option<i64>>("", column)).transpose()?.flatten())
}

/// Numbers the staged events (PostgreSQL), then every provider's events after `after`, oldest
/// first, at most [`BATCH`]: what the hub does when this process committed a change. SQLite
/// numbers events as they are written, so there this is [`since`].
///
/// On PostgreSQL one call of the migrations' `ticket_events_advance()`, one round trip and one
/// transaction: `ticket_events_number()` first — an advisory transaction lock makes the
/// sequencers of all replicas take turns, and the numbering statement takes its snapshot only
/// once the lock is granted, after the previous numbering committed, so it continues from the
/// true highest id (kept in `ticket_events_head`) and a later id never becomes visible before
/// an earlier one; events still uncommitted are invisible to it and are numbered by a later
/// turn, after everything numbered now: the order they became visible in — then the read of
/// [`since`]. The call returns only once the transaction has committed (the driver completes a
/// query at the server's ready-for-query, after the commit, and a failed commit is an error),
/// so no event is handed out under a number that could still be rolled back.
///
/// # Errors
/// `Unavailable` when the store cannot be reached.
pub(crate) async fn advance(store: &Parked, after: i64) -> Result<Vec<TicketEvent>, Error> {
    if store.db().get_database_backend() != DbBackend::Postgres {
        return since(store, after).await;
    }
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT * FROM ticket_events_advance($1) ORDER BY id",
        [after.into()],
    );
    let events = events_of(&store.query_all(statement).await?)?;
    past_a_pruned_stretch_if_empty(store, after, events).await
}

/// The hub's own store over `db`: on PostgreSQL a pool of one connection of its own, parked
/// between the hub's statements (no round trip to ping it per pass while passes come often;
/// see `Parked`), so that numbering and reading new events never queue behind the calls
/// waiting for a pooled connection. On SQLite, `db` itself.
pub(crate) fn hub_store(db: &DatabaseConnection) -> Parked {
    if db.get_database_backend() != DbBackend::Postgres {
        return Parked::new(db.clone());
    }
    let options = db.get_postgres_connection_pool().connect_options();
    let pool = postgres_pool_options().max_connections(1).connect_lazy_with((*options).clone());
    Parked::dedicated(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
}

/// Deletes the events that occurred before `cut`, oldest first, never the newest one (ids
/// continue from it), and never one after an event that is kept — so the retained log is always
/// a contiguous range of ids. Returns how many it deleted.
///
/// # Errors
/// `Unavailable` when the store cannot be reached.
pub(crate) async fn prune(db: &DatabaseConnection, cut: DateTime<Utc>) -> Result<u64, Error> {
    let mut deleted = 0;
    loop {
        let newest = head(db).await?;
        let oldest: Vec<(i64, DateTime<Utc>)> = ticket_event::Entity::find()
            .select_only()
            .column(ticket_event::Column::Id)
            .column(ticket_event::Column::OccurredAt)
            .filter(ticket_event::Column::Id.is_not_null())
            .order_by_asc(ticket_event::Column::Id)
            .limit(u64::from(BATCH))
            .into_tuple()
            .all(db)
            .await?;
        let through = oldest
            .iter()
            .take_while(|(id, occurred_at)| *occurred_at < cut && *id < newest)
            .last()
            .map(|(id, _)| *id);
        let Some(through) = through else { return Ok(deleted) };
        let result = ticket_event::Entity::delete_many()
            .filter(ticket_event::Column::Id.lte(through))
            .exec(db)
            .await?;
        deleted += result.rows_affected;
        if result.rows_affected < u64::from(BATCH) {
            return Ok(deleted);
        }
    }
}
