//! Proto ↔ domain, in one place. Requests are parsed into domain values here (collecting every
//! violation, named by proto field); responses are built from domain values here. Each
//! conversion destructures the whole message, so a new proto field fails to compile until it is
//! handled.

use chrono::{DateTime, Utc};
use tickets_contract::v2;

use crate::domain::{
    Change, CustomerId, EmailAddress, Employee, EmployeeId, EmployeeRole, Error, EventLimit,
    EventPosition, EventQuery, InProgressTicket, Limit, ListQuery, NewTicket, Offset, Page,
    PendingTicket, PersonName, ProviderId, TicketEvent, TicketId, Vin, parse_uuid,
};
use tickets_contract::violations::Violations;

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        // Always in 0..1e9, which fits an i32.
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The effective list query; absent values take their defaults, which the response echoes.
impl TryFrom<v2::ListTicketsRequest> for ListQuery {
    type Error = Error;

    fn try_from(request: v2::ListTicketsRequest) -> Result<Self, Error> {
        let v2::ListTicketsRequest { limit, offset, ticket_number } = request;
        let mut violations = Violations::new();
        let limit = match limit {
            Some(value) => violations.check("limit", Limit::try_from(i64::from(value))),
            None => Some(Limit::DEFAULT),
        };
        let offset = match offset {
            Some(value) => violations.check("offset", Offset::try_from(value)),
            None => Some(Offset::default()),
        };
        Ok(violations.finish(|| Some(Self { limit: limit?, offset: offset?, ticket_number }))?)
    }
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

impl<T> Listed<T> {
    /// The fields every list response has: the effective `limit`, `offset` and `ticket_number`,
    /// the page, and the total.
    fn into_fields<W: From<T>>(self) -> (i32, i64, Option<i64>, Vec<W>, i64) {
        let Self { query: ListQuery { limit, offset, ticket_number }, page: Page { items, total } } =
            self;
        let result = items.into_iter().map(Into::into).collect();
        (
            limit.as_i32(),
            offset.as_i64(),
            ticket_number,
            result,
            i64::try_from(total).unwrap_or(i64::MAX),
        )
    }
}

impl From<Listed<PendingTicket>> for v2::ListPendingTicketsResponse {
    fn from(listed: Listed<PendingTicket>) -> Self {
        let (limit, offset, ticket_number, result, total) = listed.into_fields();
        Self { limit, offset, ticket_number, result, total }
    }
}

impl From<Listed<InProgressTicket>> for v2::ListInProgressTicketsResponse {
    fn from(listed: Listed<InProgressTicket>) -> Self {
        let (limit, offset, ticket_number, result, total) = listed.into_fields();
        Self { limit, offset, ticket_number, result, total }
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
        let query = ListQuery::try_from(v2::ListTicketsRequest::default());
        assert_eq!(
            query.ok(),
            Some(ListQuery {
                limit: Limit::DEFAULT,
                offset: Offset::default(),
                ticket_number: None
            })
        );
    }

    #[test]
    fn every_bad_paging_value_is_reported_at_once() {
        let request =
            v2::ListTicketsRequest { limit: Some(1001), offset: Some(-1), ticket_number: None };
        assert_eq!(fields(ListQuery::try_from(request).unwrap_err()), ["limit", "offset"]);
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
