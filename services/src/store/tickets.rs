//! Ticket queries. Every function takes the caller's provider and filters by it: there is no
//! query here that can see another provider's tickets.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, FromQueryResult, Iterable as _,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait as _,
    sea_query::{Expr, ExprTrait as _, Order, Query},
};
use uuid::Uuid;

use super::{
    cached::CachedSql,
    convert::FromRow,
    entity::{employee, ticket},
};
use crate::domain::{
    EmployeeId, Error, InProgressTicket, ListQuery, NewTicket, Page, PendingTicket, Position,
    ProviderId, TicketId, TicketState,
};

/// Timestamps are kept at microsecond precision: what PostgreSQL stores, so both backends answer
/// the same value that was written.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn scoped(provider: ProviderId, state: TicketState) -> Condition {
    Condition::all()
        .add(ticket::Column::ProviderId.eq(provider.get()))
        .add(ticket::Column::State.eq(ticket::State::from(state)))
}

/// One page of a provider's tickets of type `T` (pending or in progress), oldest first, and the
/// count of all of them.
///
/// The page starts at the query's offset or right after its cursor position; one ticket more
/// than the limit is read, to know whether a next page exists without a second query.
///
/// # Errors
/// `Unavailable` when the store cannot be reached.
pub(crate) async fn list<T: FromRow>(
    db: &DatabaseConnection,
    provider: ProviderId,
    query: ListQuery,
) -> Result<Page<T>, Error> {
    let mut condition = scoped(provider, T::STATE);
    if let Some(number) = query.ticket_number {
        condition = condition.add(ticket::Column::TicketNumber.eq(number));
    }
    // Both statements read only the columns of the (provider, state, created_at, number) index,
    // so PostgreSQL answers them from the index alone: the count, and the page's numbers —
    // however deep the offset — without touching the table. Only the 25 (or `limit`) rows of
    // the page are then read in full ("deferred join"). A cursor is a row comparison on the
    // index's own order, so its page starts with an index seek however deep it is.
    let count = ticket::Entity::find()
        .select_only()
        .column_as(ticket::Column::TicketNumber.count(), "total")
        .filter(condition.clone())
        .into_tuple::<i64>()
        .one(db);
    let limit = query.limit.get();
    let page = async {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut page_condition = condition;
        if let Some(after) = query.after {
            page_condition = page_condition.add(
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
            .cond_where(page_condition)
            .order_by(ticket::Column::CreatedAt, Order::Asc)
            .order_by(ticket::Column::TicketNumber, Order::Asc)
            .limit(u64::from(limit) + 1)
            .offset(query.offset.get())
            .to_owned();
        ticket::Entity::find()
            .filter(ticket::Column::TicketNumber.in_subquery(numbers))
            .order_by_asc(ticket::Column::CreatedAt)
            .order_by_asc(ticket::Column::TicketNumber)
            .all(db)
            .await
    };
    // Count and page are independent reads: run them side by side on two pooled connections.
    let (total, mut rows) = tokio::try_join!(count, page)?;
    let next = if rows.len() > usize::from(limit) {
        rows.truncate(usize::from(limit));
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

/// One ticket of type `T` (pending or in progress) of the provider.
///
/// # Errors
/// `NotFound` when the provider has no such ticket in that state.
pub(crate) async fn get<T: FromRow>(
    db: &DatabaseConnection,
    provider: ProviderId,
    id: TicketId,
) -> Result<T, Error> {
    static SQL: CachedSql = CachedSql::new();
    let backend = db.get_database_backend();
    let state = ticket::State::from(T::STATE);
    let values = vec![provider.get().into(), state.into(), id.get().into(), 1u64.into()];
    let statement = SQL.statement(backend, values, || {
        ticket::Entity::find()
            .filter(ticket::Column::ProviderId.eq(provider.get()))
            .filter(ticket::Column::State.eq(state))
            .filter(ticket::Column::Id.eq(id.get()))
            .limit(1)
            .build(backend)
    });
    let row = ticket::Model::find_by_statement(statement).one(db).await?;
    T::from_row(row.ok_or(Error::NotFound(T::NAME))?)
}

/// Opens a pending ticket; the database assigns its number from its sequence.
///
/// # Errors
/// `Unavailable` when the store cannot be reached.
pub async fn create_pending_ticket(
    db: &DatabaseConnection,
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
    PendingTicket::from_row(ticket::Entity::insert(row).exec_with_returning(db).await?)
}

/// The condition "this employee may be assigned by this provider right now", as a subquery so
/// that the check and the state change are one statement.
fn operator_is_assignable(provider: ProviderId, operator: EmployeeId) -> Expr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(employee::Entity)
            .and_where(employee::Column::Id.eq(operator.get()))
            .and_where(employee::Column::ProviderId.eq(provider.get()))
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
pub async fn start_service(
    db: &DatabaseConnection,
    provider: ProviderId,
    id: TicketId,
    operator: EmployeeId,
) -> Result<Started, Error> {
    static SQL: CachedSql = CachedSql::new();
    let backend = db.get_database_backend();
    let started_at = now();
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
    let statement = SQL.statement(backend, values, || {
        let mut update = ticket::Entity::update_many()
            .col_expr(ticket::Column::State, Expr::value(ticket::State::InProgress))
            .col_expr(ticket::Column::OperatorId, Expr::value(operator.get()))
            .col_expr(ticket::Column::ServiceStartedAt, Expr::value(started_at))
            .filter(scoped(provider, TicketState::Pending))
            .filter(ticket::Column::Id.eq(id.get()))
            .filter(operator_is_assignable(provider, operator))
            .into_query();
        // Every column back, as SeaORM's `exec_with_returning` asks for them.
        update
            .returning(Query::returning().exprs(
                ticket::Column::iter().map(|c| c.select_as(c.into_returning_expr(backend))),
            ));
        backend.build(&update)
    });
    let updated = ticket::Model::find_by_statement(statement).one(db).await?;
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
