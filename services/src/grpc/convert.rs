//! Proto ↔ domain, in one place. Requests are parsed into domain values here (collecting every
//! violation, named by proto field); responses are built from domain values here. Each
//! conversion destructures the whole message, so a new proto field fails to compile until it is
//! handled.

use chrono::{DateTime, Utc};
use tickets_contract::v2;

use crate::domain::{
    Change, CustomerId, EmailAddress, Employee, EmployeeId, EmployeeRole, Error, EventLimit,
    EventPosition, EventQuery, InProgressTicket, Limit, ListQuery, NewTicket, Offset, Page,
    PendingTicket, PersonName, Position, ProviderId, TicketEvent, TicketId, TicketState, Vin,
    parse_uuid,
};
use tickets_contract::{
    cursor::{CURSOR_RULE, Cursor, CursorList, OFFSET_WITH_CURSOR_RULE},
    violations::Violations,
};

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        // Always in 0..1e9, which fits an i32.
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The list a state's cursors belong to.
fn cursor_list(state: TicketState) -> CursorList {
    match state {
        TicketState::Pending => CursorList::Pending,
        TicketState::InProgress => CursorList::InProgress,
    }
}

/// A cursor of the `state` list, as callers see it.
fn cursor(state: TicketState, position: Position) -> String {
    Cursor {
        list: cursor_list(state),
        created_at_micros: position.created_at.timestamp_micros(),
        ticket_number: position.ticket_number,
    }
    .encode()
}

/// The effective query of a list of `state` tickets; absent values take their defaults, which
/// the response echoes. `after` must be a cursor of that list, and excludes `offset`.
pub(crate) fn list_query(
    request: v2::ListTicketsRequest,
    state: TicketState,
) -> Result<ListQuery, Error> {
    let v2::ListTicketsRequest { limit, offset, ticket_number, after } = request;
    let mut violations = Violations::new();
    let limit = match limit {
        Some(value) => violations.check("limit", Limit::try_from(i64::from(value))),
        None => Some(Limit::DEFAULT),
    };
    let offset = match (offset, &after) {
        (Some(_), Some(_)) => violations.check("offset", Err(OFFSET_WITH_CURSOR_RULE)),
        (Some(value), None) => violations.check("offset", Offset::try_from(value)),
        (None, _) => Some(Offset::default()),
    };
    // Absent: `Some(None)`; refused: `None`.
    let after = match after {
        None => Some(None),
        Some(after) => {
            let position = Cursor::decode(cursor_list(state), &after).and_then(|cursor| {
                let created_at =
                    DateTime::from_timestamp_micros(cursor.created_at_micros).ok_or(CURSOR_RULE)?;
                Ok(Position { created_at, ticket_number: cursor.ticket_number })
            });
            violations.check("after", position).map(Some)
        }
    };
    Ok(violations.finish(|| {
        Some(ListQuery { limit: limit?, offset: offset?, ticket_number, after: after? })
    })?)
}

/// The effective page of events; absent values take their defaults, which the response echoes.
impl TryFrom<v2::ListTicketEventsRequest> for EventQuery {
    type Error = Error;

    fn try_from(request: v2::ListTicketEventsRequest) -> Result<Self, Error> {
        let v2::ListTicketEventsRequest { after, limit } = request;
        let mut violations = Violations::new();
        let after = violations.check("after", EventPosition::try_from(after.unwrap_or(0)));
        let limit = match limit {
            Some(value) => violations.check("limit", EventLimit::try_from(i64::from(value))),
            None => Some(EventLimit::DEFAULT),
        };
        Ok(violations.finish(|| Some(Self { after: after?, limit: limit? }))?)
    }
}

/// Where a watch starts.
pub(crate) fn watch_position(
    request: v2::WatchTicketEventsRequest,
) -> Result<EventPosition, Error> {
    let v2::WatchTicketEventsRequest { after } = request;
    EventPosition::try_from(after.unwrap_or(0))
        .map_err(|message| Error::violation("after", message))
}

impl TryFrom<v2::GetTicketRequest> for TicketId {
    type Error = Error;

    fn try_from(request: v2::GetTicketRequest) -> Result<Self, Error> {
        let v2::GetTicketRequest { id } = request;
        Self::try_from(id.as_str()).map_err(|message| Error::violation("id", message))
    }
}

/// A validated `StartService` call.
#[derive(Debug)]
pub(crate) struct StartService {
    pub(crate) ticket: TicketId,
    pub(crate) operator: EmployeeId,
}

impl TryFrom<v2::StartServiceRequest> for StartService {
    type Error = Error;

    fn try_from(request: v2::StartServiceRequest) -> Result<Self, Error> {
        let v2::StartServiceRequest { pending_ticket_id, operator_id } = request;
        let mut violations = Violations::new();
        let ticket =
            violations.check("pending_ticket_id", TicketId::try_from(pending_ticket_id.as_str()));
        let operator = violations.check("operator_id", EmployeeId::try_from(operator_id.as_str()));
        Ok(violations.finish(|| Some(Self { ticket: ticket?, operator: operator? }))?)
    }
}

/// A new ticket for `provider`.
pub(crate) fn new_ticket(
    provider: ProviderId,
    request: v2::CreatePendingTicketRequest,
) -> Result<NewTicket, Error> {
    let v2::CreatePendingTicketRequest { customer_id, vehicle_model_id, vin, connection_id } =
        request;
    let mut violations = Violations::new();
    let customer_id = violations.check("customer_id", CustomerId::try_from(customer_id.as_str()));
    if vehicle_model_id < 0 {
        violations.add("vehicle_model_id", "must be greater than or equal to 0");
    }
    let vin = violations.check("vin", Vin::try_from(vin.as_str()));
    let connection_id = match connection_id {
        Some(id) => violations.check("connection_id", parse_uuid(&id)).map(Some),
        None => Some(None),
    };
    let new = violations.finish(|| {
        Some(NewTicket {
            provider_id: provider,
            customer_id: customer_id?,
            vehicle_model_id,
            vin: vin?,
            connection_id: connection_id?,
        })
    })?;
    Ok(new)
}

fn role(role: i32) -> Result<EmployeeRole, &'static str> {
    match v2::EmployeeRole::try_from(role) {
        Ok(v2::EmployeeRole::Employee) => Ok(EmployeeRole::Employee),
        Ok(v2::EmployeeRole::Operator) => Ok(EmployeeRole::Operator),
        Ok(v2::EmployeeRole::SeniorOperator) => Ok(EmployeeRole::SeniorOperator),
        Ok(v2::EmployeeRole::Admin) => Ok(EmployeeRole::Admin),
        Ok(v2::EmployeeRole::Unspecified) | Err(_) => {
            Err("must be one of EMPLOYEE, OPERATOR, SENIOR_OPERATOR, ADMIN")
        }
    }
}

/// An employee of `provider`, as the directory pushed it.
pub(crate) fn employee(
    provider: ProviderId,
    request: v2::UpsertEmployeeRequest,
) -> Result<Employee, Error> {
    let v2::UpsertEmployeeRequest {
        id,
        given_name,
        family_name,
        username,
        role: role_value,
        is_operator,
        enabled,
    } = request;
    let mut violations = Violations::new();
    let id = violations.check("id", EmployeeId::try_from(id.as_str()));
    let given_name = violations.check("given_name", PersonName::try_from(given_name));
    let family_name = violations.check("family_name", PersonName::try_from(family_name));
    let username = violations.check("username", EmailAddress::try_from(username));
    let role = violations.check("role", role(role_value));
    let employee = violations.finish(|| {
        Some(Employee {
            id: id?,
            provider_id: provider,
            given_name: given_name?,
            family_name: family_name?,
            username: username?,
            role: role?,
            is_operator,
            enabled,
        })
    })?;
    Ok(employee)
}

impl From<PendingTicket> for v2::PendingTicket {
    fn from(ticket: PendingTicket) -> Self {
        Self {
            id: ticket.id.to_string(),
            created_at: Some(timestamp(ticket.created_at)),
            customer_id: ticket.customer_id.to_string(),
            ticket_number: ticket.ticket_number,
            vehicle_model_id: ticket.vehicle_model_id,
            vin: ticket.vin,
            connection_id: ticket.connection_id.map(|id| id.hyphenated().to_string()),
        }
    }
}

impl From<InProgressTicket> for v2::InProgressTicket {
    fn from(ticket: InProgressTicket) -> Self {
        let InProgressTicket { ticket, operator_id, service_started_at, voucher_code, outsourced } =
            ticket;
        let common = v2::PendingTicket::from(ticket);
        Self {
            id: common.id,
            created_at: common.created_at,
            customer_id: common.customer_id,
            ticket_number: common.ticket_number,
            vehicle_model_id: common.vehicle_model_id,
            vin: common.vin,
            connection_id: common.connection_id,
            operator_id: operator_id.to_string(),
            service_started_at: Some(timestamp(service_started_at)),
            voucher_code,
            outsourced,
        }
    }
}

/// A page as a list RPC answers it, with the query that made it (echoed with its defaults).
#[derive(Debug)]
pub(crate) struct Listed<T> {
    pub(crate) query: ListQuery,
    pub(crate) page: Page<T>,
}

/// The fields every list response has.
struct ListFields<W> {
    limit: i32,
    offset: i64,
    ticket_number: Option<i64>,
    result: Vec<W>,
    total: i64,
    after: Option<String>,
    next: Option<String>,
}

impl<T> Listed<T> {
    /// The fields every list response has: the effective `limit`, `offset`, `ticket_number` and
    /// `after`, the page, the total, and the next page's cursor — cursors of the `state` list.
    fn into_fields<W: From<T>>(self, state: TicketState) -> ListFields<W> {
        let Self {
            query: ListQuery { limit, offset, ticket_number, after },
            page: Page { items, total, next },
        } = self;
        ListFields {
            limit: limit.as_i32(),
            offset: offset.as_i64(),
            ticket_number,
            result: items.into_iter().map(Into::into).collect(),
            total: i64::try_from(total).unwrap_or(i64::MAX),
            after: after.map(|position| cursor(state, position)),
            next: next.map(|position| cursor(state, position)),
        }
    }
}

impl From<Listed<PendingTicket>> for v2::ListPendingTicketsResponse {
    fn from(listed: Listed<PendingTicket>) -> Self {
        let ListFields { limit, offset, ticket_number, result, total, after, next } =
            listed.into_fields(TicketState::Pending);
        Self { limit, offset, ticket_number, result, total, after, next }
    }
}

impl From<Listed<InProgressTicket>> for v2::ListInProgressTicketsResponse {
    fn from(listed: Listed<InProgressTicket>) -> Self {
        let ListFields { limit, offset, ticket_number, result, total, after, next } =
            listed.into_fields(TicketState::InProgress);
        Self { limit, offset, ticket_number, result, total, after, next }
    }
}

impl From<TicketEvent> for v2::TicketEvent {
    fn from(event: TicketEvent) -> Self {
        let TicketEvent { id, provider: _, occurred_at, change } = event;
        let (kind, ticket) = match change {
            Change::Created(ticket) => {
                (v2::TicketEventType::Created, v2::ticket_event::Ticket::Pending(ticket.into()))
            }
            Change::ServiceStarted(ticket) => (
                v2::TicketEventType::ServiceStarted,
                v2::ticket_event::Ticket::InProgress(ticket.into()),
            ),
        };
        Self {
            id,
            r#type: kind.into(),
            occurred_at: Some(timestamp(occurred_at)),
            ticket: Some(ticket),
        }
    }
}

/// A page of events, with the effective query it answers.
#[derive(Debug)]
pub(crate) struct EventPage {
    pub(crate) query: EventQuery,
    pub(crate) events: Vec<TicketEvent>,
}

impl From<EventPage> for v2::ListTicketEventsResponse {
    fn from(page: EventPage) -> Self {
        let EventPage { query, events } = page;
        Self {
            after: query.after.get(),
            limit: i32::from(query.limit.get()),
            result: events.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<EmployeeRole> for v2::EmployeeRole {
    fn from(role: EmployeeRole) -> Self {
        match role {
            EmployeeRole::Employee => Self::Employee,
            EmployeeRole::Operator => Self::Operator,
            EmployeeRole::SeniorOperator => Self::SeniorOperator,
            EmployeeRole::Admin => Self::Admin,
        }
    }
}

impl From<Employee> for v2::Employee {
    fn from(employee: Employee) -> Self {
        let Employee {
            id,
            provider_id: _,
            given_name,
            family_name,
            username,
            role,
            is_operator,
            enabled,
        } = employee;
        Self {
            id: id.to_string(),
            given_name: given_name.into_inner(),
            family_name: family_name.into_inner(),
            username: username.into_inner(),
            role: v2::EmployeeRole::from(role).into(),
            is_operator,
            enabled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(error: Error) -> Vec<String> {
        match error {
            Error::InvalidArgument(violations) => violations.into_iter().map(|v| v.field).collect(),
            other => panic!("expected violations, got {other:?}"),
        }
    }

    #[test]
    fn absent_paging_takes_the_defaults() {
        let query = list_query(v2::ListTicketsRequest::default(), TicketState::Pending);
        assert_eq!(
            query.ok(),
            Some(ListQuery {
                limit: Limit::DEFAULT,
                offset: Offset::default(),
                ticket_number: None,
                after: None,
            })
        );
    }

    #[test]
    fn every_bad_paging_value_is_reported_at_once() {
        let request = v2::ListTicketsRequest {
            limit: Some(1001),
            offset: Some(-1),
            ticket_number: None,
            after: Some("nope".into()),
        };
        let error = list_query(request, TicketState::Pending).unwrap_err();
        assert_eq!(fields(error), ["limit", "offset", "after"]);
    }

    #[test]
    fn a_cursor_round_trips_and_belongs_to_its_list() {
        let position = Position {
            created_at: DateTime::from_timestamp_micros(1_764_684_000_123_456).unwrap(),
            ticket_number: 42,
        };
        let after = Some(cursor(TicketState::Pending, position));
        let request = v2::ListTicketsRequest { after: after.clone(), ..Default::default() };
        let query = list_query(request.clone(), TicketState::Pending).unwrap();
        assert_eq!(query.after, Some(position));
        assert_eq!(query.offset, Offset::default());
        let error = list_query(request, TicketState::InProgress).unwrap_err();
        assert_eq!(fields(error), ["after"]);
        let both = v2::ListTicketsRequest { offset: Some(0), after, ..Default::default() };
        assert_eq!(fields(list_query(both, TicketState::Pending).unwrap_err()), ["offset"]);
    }

    #[test]
    fn a_new_ticket_reports_every_bad_field() {
        let request = v2::CreatePendingTicketRequest {
            customer_id: "nope".into(),
            vehicle_model_id: -1,
            vin: "IOQ".into(),
            connection_id: Some(String::new()),
        };
        let provider = ProviderId::new(uuid::Uuid::nil());
        assert_eq!(
            fields(new_ticket(provider, request).unwrap_err()),
            ["customer_id", "vehicle_model_id", "vin", "connection_id"]
        );
    }

    #[test]
    fn an_unspecified_or_unknown_role_is_a_violation() {
        assert!(role(0).is_err());
        assert!(role(99).is_err());
        assert_eq!(role(2), Ok(EmployeeRole::Operator));
    }
}
