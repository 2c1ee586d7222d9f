//! Ticket queries. Every function takes the caller's provider and filters by it: there is no
//! query here that can see another provider's tickets.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, DatabaseConnection, DbBackend, DbErr, EntityTrait, FromQueryResult,
    Iterable as _, QueryFilter, QueryOrder, QuerySelect, QueryTrait as _, Statement, Value,
    sea_query::{Expr, ExprTrait as _, IntoColumnRef, Order, Query, ReturningClause},
};
use uuid::Uuid;

use super::{
    Parked,
    cached::CachedSql,
    convert::FromRow,
    entity::{employee, ticket},
};
use crate::domain::{
    EmployeeId, Error, InProgressTicket, Limit, ListQuery, NewTicket, Offset, Page, PendingTicket,
    Position, ProviderId, TicketId, TicketState,
};

/// Timestamps are kept at microsecond precision: what PostgreSQL stores, so both backends answer
/// the same value that was written.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// `column IS NOT DISTINCT FROM value` (SQLite spells it `IS`): for a column that is never
/// null, the same test as `=`, but one no index can serve. Next to `id = $n` it leaves the
/// unique index on the id as the only index the planner may use, whatever the statistics say.
/// (With a plain `=` on the provider and the state, PostgreSQL planned start-service on the
/// `(provider, state, created_at, number)` index after a bulk load, before `ANALYZE`: a walk of
/// the provider's whole backlog per call; services/tests/api/plans.rs.)
fn only_filters(backend: DbBackend, column: impl IntoColumnRef, value: impl Into<Value>) -> Expr {
    let text = match backend {
        DbBackend::Postgres => "$1 IS NOT DISTINCT FROM $2",
        _ => "? IS ?",
    };
    Expr::cust_with_exprs(text, [Expr::col(column), Expr::val(value)])
}

fn scoped(provider: ProviderId, state: TicketState) -> Condition {
    Condition::all()
        .add(ticket::Column::ProviderId.eq(provider.get()))
        .add(ticket::Column::State.eq(ticket::State::from(state)))
}

/// The two statements of a list page of `state` tickets: the count of all that match, and
/// (unless `limit` is 0) the page, one ticket longer than the limit.
///
/// Both read only the columns of the (provider, state, created_at, number) index, so
/// PostgreSQL answers them from the index alone: the count, and the page's numbers — however
/// deep the offset — without touching the table. Only the 25 (or `limit`) rows of the page are
/// then read in full ("deferred join"). A cursor is a row comparison on the index's own order,
/// so its page starts with an index seek however deep it is.
fn list_statements(
    backend: DbBackend,
    provider: ProviderId,
    state: TicketState,
    query: ListQuery,
) -> (Statement, Option<Statement>) {
    let mut condition = scoped(provider, state);
    if let Some(number) = query.ticket_number {
        condition = condition.add(ticket::Column::TicketNumber.eq(number));
    }
    let count = ticket::Entity::find()
        .select_only()
        .column_as(ticket::Column::TicketNumber.count(), "total")
        .filter(condition.clone())
        .build(backend);
    let limit = query.limit.get();
    if limit == 0 {
        return (count, None);
    }
    if let Some(after) = query.after {
        condition = condition.add(
            Expr::tuple([
                Expr::col(ticket::Column::CreatedAt),
                Expr::col(ticket::Column::TicketNumber),
            ])
            .gt(Expr::tuple([Expr::val(after.created_at), Expr::val(after.ticket_number)])),
        );
    }
    let numbers = Query::select()
        .column(ticket::Column::TicketNumber)
        .from(ticket::Entity)
        .cond_where(condition)
        .order_by(ticket::Column::CreatedAt, Order::Asc)
        .order_by(ticket::Column::TicketNumber, Order::Asc)
        .limit(u64::from(limit) + 1)
        .offset(query.offset.get())
        .to_owned();
    let page = ticket::Entity::find()
        .filter(ticket::Column::TicketNumber.in_subquery(numbers))
        .order_by_asc(ticket::Column::CreatedAt)
        .order_by_asc(ticket::Column::TicketNumber)
        .build(backend);
    (count, Some(page))
}

/// One page of a provider's tickets of type `T` (pending or in progress), oldest first, and the
/// count of all of them ([`list_statements`]).
///
/// The page starts at the query's offset or right after its cursor position; one ticket more
/// than the limit is read, to know whether a next page exists without a second query.
///
/// # Errors
/// `Unavailable` when the store cannot be reached.
pub(crate) async fn list<T: FromRow>(
    store: &Parked,
    provider: ProviderId,
    query: ListQuery,
) -> Result<Page<T>, Error> {
    let backend = store.db().get_database_backend();
    let (count, page) = list_statements(backend, provider, T::STATE, query);
    let count = async {
        let row = store.query_one(count).await?;
        row.map(|row| row.try_get_by_index::<i64>(0)).transpose()
    };
    let page = async {
        let Some(page) = page else { return Ok(Vec::new()) };
        let rows = store.query_all(page).await?;
        rows.iter().map(|row| ticket::Model::from_query_result(row, "")).collect()
    };
    // Count and page are independent reads: run them side by side on two connections.
    let (total, mut rows) = tokio::try_join!(count, page)?;
    let limit = usize::from(query.limit.get());
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last()
            .map(|row| Position { created_at: row.created_at, ticket_number: row.ticket_number })
    } else {
        None
    };
    let items = rows.into_iter().map(T::from_row).collect::<Result<_, _>>()?;
    let total = total.and_then(|total| u64::try_from(total).ok()).unwrap_or(0);
    Ok(Page { items, total, next })
}

async fn find(
    db: &DatabaseConnection,
    provider: ProviderId,
    id: TicketId,
) -> Result<Option<ticket::Model>, Error> {
    Ok(ticket::Entity::find()
        .filter(ticket::Column::ProviderId.eq(provider.get()))
        .filter(ticket::Column::Id.eq(id.get()))
        .one(db)
        .await?)
}

/// The get by id: `WHERE id = $1` and nothing else, so the unique index on `id` is the only
/// index that applies and the plan cannot depend on statistics. (With the provider and the
/// state in the `WHERE` too, PostgreSQL planned a provider's get on the
/// `(provider, state, created_at, number)` index right after a bulk load, before `ANALYZE`: it
/// then walked all of that provider's pending tickets on every get.) The caller checks the
/// provider and the state of the row.
fn get_statement(backend: DbBackend, id: TicketId) -> Statement {
    static SQL: CachedSql = CachedSql::new();
    SQL.statement(backend, vec![id.get().into()], || {
        ticket::Entity::find().filter(ticket::Column::Id.eq(id.get())).build(backend)
    })
}

/// The ticket `statement` returns, if any: one statement, on a parked connection
/// ([`Parked`]).
async fn one_ticket(store: &Parked, statement: Statement) -> Result<Option<ticket::Model>, DbErr> {
    store
        .query_one(statement)
        .await?
        .map(|row| ticket::Model::from_query_result(&row, ""))
        .transpose()
}

/// One ticket of type `T` (pending or in progress) of the provider.
///
/// # Errors
/// `NotFound` when the provider has no such ticket in that state.
pub(crate) async fn get<T: FromRow>(
    store: &Parked,
    provider: ProviderId,
    id: TicketId,
) -> Result<T, Error> {
    let statement = get_statement(store.db().get_database_backend(), id);
    let row = one_ticket(store, statement).await?;
    // Another provider's ticket, or one in the other state, does not exist for this caller.
    let state = ticket::State::from(T::STATE);
    let row = row.filter(|row| row.provider_id == provider.get() && row.state == state);
    T::from_row(row.ok_or(Error::NotFound(T::NAME))?)
}

/// Opens a pending ticket; the database assigns its number from its sequence. One `INSERT …
/// RETURNING` every column, as SeaORM's `exec_with_returning` builds it, on a parked connection.
///
/// # Errors
/// `Unavailable` when the store cannot be reached.
pub(crate) async fn create_pending_ticket(
    store: &Parked,
    new: NewTicket,
) -> Result<PendingTicket, Error> {
    let NewTicket { provider_id, customer_id, vehicle_model_id, vin, connection_id } = new;
    let row = ticket::ActiveModel {
        ticket_number: NotSet,
        id: Set(Uuid::now_v7()),
        provider_id: Set(provider_id.get()),
        state: Set(ticket::State::Pending),
        created_at: Set(now()),
        customer_id: Set(customer_id.get()),
        vehicle_model_id: Set(vehicle_model_id),
        vin: Set(vin.as_str().to_owned()),
        connection_id: Set(connection_id),
        operator_id: Set(None),
        service_started_at: Set(None),
        voucher_code: Set(None),
        outsourced: Set(false),
    };
    let backend = store.db().get_database_backend();
    let mut insert = ticket::Entity::insert(row).into_query();
    insert.returning(every_column(backend));
    let inserted = one_ticket(store, backend.build(&insert)).await?;
    PendingTicket::from_row(inserted.ok_or(Error::Internal("the insert returned no row".into()))?)
}

/// `RETURNING` every column of a ticket, as SeaORM's `exec_with_returning` asks for them.
fn every_column(backend: DbBackend) -> ReturningClause {
    Query::returning()
        .exprs(ticket::Column::iter().map(|c| c.select_as(c.into_returning_expr(backend))))
}

/// The condition "this employee may be assigned by this provider right now", as a subquery so
/// that the check and the state change are one statement.
fn operator_is_assignable(backend: DbBackend, provider: ProviderId, operator: EmployeeId) -> Expr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(employee::Entity)
            .and_where(employee::Column::Id.eq(operator.get()))
            // Not indexable: the lookup is by primary key (see `only_filters`).
            .and_where(only_filters(
                backend,
                (employee::Entity, employee::Column::ProviderId),
                provider.get(),
            ))
            .and_where(employee::Column::IsOperator.eq(true))
            .and_where(employee::Column::Enabled.eq(true))
            .to_owned(),
    )
}

/// What `start_service` did.
#[derive(Debug)]
pub enum Started {
    /// This call moved the ticket to in progress.
    Now(InProgressTicket),
    /// The ticket was already in progress under this operator; nothing changed.
    Already(InProgressTicket),
}

impl Started {
    /// The in-progress ticket, either way.
    #[must_use]
    pub fn into_ticket(self) -> InProgressTicket {
        match self {
            Self::Now(ticket) | Self::Already(ticket) => ticket,
        }
    }
}

/// The conditional `UPDATE` of [`start_service`], `RETURNING` every column.
fn start_service_statement(
    backend: DbBackend,
    provider: ProviderId,
    id: TicketId,
    operator: EmployeeId,
    started_at: DateTime<Utc>,
) -> Statement {
    static SQL: CachedSql = CachedSql::new();
    let values = vec![
        ticket::State::InProgress.into(),
        operator.get().into(),
        started_at.into(),
        provider.get().into(),
        ticket::State::Pending.into(),
        id.get().into(),
        1.into(),
        operator.get().into(),
        provider.get().into(),
        true.into(),
        true.into(),
    ];
    SQL.statement(backend, values, || {
        let mut update = ticket::Entity::update_many()
            .col_expr(ticket::Column::State, Expr::value(ticket::State::InProgress))
            .col_expr(ticket::Column::OperatorId, Expr::value(operator.get()))
            .col_expr(ticket::Column::ServiceStartedAt, Expr::value(started_at))
            .filter(only_filters(
                backend,
                (ticket::Entity, ticket::Column::ProviderId),
                provider.get(),
            ))
            .filter(only_filters(
                backend,
                (ticket::Entity, ticket::Column::State),
                ticket::State::Pending,
            ))
            .filter(ticket::Column::Id.eq(id.get()))
            .filter(operator_is_assignable(backend, provider, operator))
            .into_query();
        update.returning(every_column(backend));
        backend.build(&update)
    })
}

/// The statements of the hot paths, for `ticket` of `provider` and `operator`, by name: what a
/// plan check runs `EXPLAIN` on (services/tests/api/plans.rs). Built by the same functions the
/// queries use, so a change to a query is a change to what is checked.
#[must_use]
pub fn hot_statements(
    backend: DbBackend,
    provider: Uuid,
    ticket: Uuid,
    operator: Uuid,
) -> Vec<(&'static str, Statement)> {
    let (provider, id, operator) =
        (ProviderId::new(provider), TicketId::new(ticket), EmployeeId::new(operator));
    let first = ListQuery {
        limit: Limit::DEFAULT,
        offset: Offset::default(),
        ticket_number: None,
        after: None,
    };
    let after = Position { created_at: now(), ticket_number: 1 };
    let (count, page) = list_statements(backend, provider, TicketState::Pending, first);
    let (_, cursor_page) = list_statements(
        backend,
        provider,
        TicketState::Pending,
        ListQuery { after: Some(after), ..first },
    );
    let mut statements = vec![
        ("get by id", get_statement(backend, id)),
        ("start-service", start_service_statement(backend, provider, id, operator, now())),
        ("list: count", count),
    ];
    statements.extend(page.map(|page| ("list: page", page)));
    statements.extend(cursor_page.map(|page| ("list: page after a cursor", page)));
    statements
}

/// Moves a pending ticket to in progress under `operator`.
///
/// The common case is one conditional `UPDATE … WHERE state = 'pending' AND <operator is
/// assignable> RETURNING *`: the database serialises concurrent attempts on the row, so exactly
/// one wins, and nothing is read first that could go stale. Only when it changes nothing do we
/// read, to say why — in the contract's check order: no such ticket (404), then operator not
/// assignable (400), then state: already in progress under this operator is a successful retry,
/// anything else a conflict.
///
/// # Errors
/// `NotFound`, `InvalidArgument` on `operator_id`, `Conflict`, `Unavailable`.
pub(crate) async fn start_service(
    store: &Parked,
    provider: ProviderId,
    id: TicketId,
    operator: EmployeeId,
) -> Result<Started, Error> {
    let db = store.db();
    let statement =
        start_service_statement(db.get_database_backend(), provider, id, operator, now());
    let updated = one_ticket(store, statement).await?;
    if let Some(row) = updated {
        return InProgressTicket::from_row(row).map(Started::Now);
    }

    let row = find(db, provider, id).await?.ok_or(Error::NotFound(PendingTicket::NAME))?;
    let assignable = employee::Entity::find_by_id(operator.get())
        .filter(employee::Column::ProviderId.eq(provider.get()))
        .one(db)
        .await?
        .is_some_and(|e| e.is_operator && e.enabled);
    if !assignable {
        return Err(Error::violation(
            "operator_id",
            "must be an enabled operator (is_operator = true) of your provider",
        ));
    }
    match row.state {
        ticket::State::InProgress if row.operator_id == Some(operator.get()) => {
            InProgressTicket::from_row(row).map(Started::Already)
        }
        ticket::State::InProgress => {
            Err(Error::Conflict("service was already started on this ticket by another operator"))
        }
        // Pending, with an assignable operator, yet the update missed: the operator was
        // re-enabled or the ticket reset between the two statements. Rare enough that the caller
        // retrying is the right answer.
        ticket::State::Pending => Err(Error::Unavailable(format!(
            "ticket {id} changed while service was being started; retry"
        ))),
    }
}
