//! The REST representations, exactly as partners see them, and their conversion from the
//! service's messages (in one place).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use tickets_contract::v2;
use utoipa::ToSchema;

use crate::params::ListParams;

/// A ticket that is ready to be serviced by an operator.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct PendingTicket {
    /// Ticket identifier.
    #[schema(format = Uuid)]
    pub(crate) id: String,
    /// Date and time of creation (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub(crate) created_at: String,
    /// Identifier of the customer for whom the ticket was created.
    #[schema(format = Uuid)]
    pub(crate) customer_id: String,
    /// Human-readable ticket identifier.
    #[schema(format = Int64)]
    pub(crate) ticket_number: i64,
    /// Identifier of the vehicle model on the ticket.
    #[schema(format = Int64, minimum = 0)]
    pub(crate) vehicle_model_id: i64,
    /// Vehicle Identification Number (VIN) of the vehicle on the ticket.
    #[schema(min_length = 17, max_length = 17, pattern = "^[A-HJ-NPR-Z0-9]{17}$")]
    pub(crate) vin: String,
    /// Identifier of the connection, or null.
    #[schema(format = Uuid, nullable = true)]
    pub(crate) connection_id: Option<String>,
}

/// A ticket an operator is servicing: every field of a pending ticket, and the assignment.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct InProgressTicket {
    #[serde(flatten)]
    pub(crate) ticket: PendingTicket,
    /// The operator servicing the ticket.
    #[schema(format = Uuid)]
    pub(crate) operator_id: String,
    /// When service started (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub(crate) service_started_at: String,
    /// A voucher redeemed for the service; null for now.
    #[schema(nullable = true)]
    pub(crate) voucher_code: Option<String>,
    /// Whether the service was handed to a third party; false for now.
    pub(crate) outsourced: bool,
}

/// The query parameters applied to a list, defaults included.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct AppliedQuery {
    /// The applied limit.
    #[schema(minimum = 0, maximum = 1000)]
    pub(crate) limit: i32,
    /// The applied offset (absent when the page was asked for by cursor).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Int64, minimum = 0)]
    pub(crate) offset: Option<i64>,
    /// The applied ticket-number filter (present only when given).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Int64)]
    pub(crate) ticket_number: Option<i64>,
    /// The applied cursor (present only when given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) after: Option<String>,
}

impl From<ListParams> for v2::ListTicketsRequest {
    fn from(params: ListParams) -> Self {
        let ListParams { limit, offset, ticket_number, after } = params;
        Self {
            limit: Some(limit.as_i32()),
            offset: after.is_none().then(|| offset.as_i64()),
            ticket_number,
            after: after.map(|cursor| cursor.encode()),
        }
    }
}

impl From<ListParams> for AppliedQuery {
    fn from(params: ListParams) -> Self {
        let ListParams { limit, offset, ticket_number, after } = params;
        Self {
            limit: limit.as_i32(),
            offset: after.is_none().then(|| offset.as_i64()),
            ticket_number,
            after: after.map(|cursor| cursor.encode()),
        }
    }
}

/// One page of pending tickets.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct PendingTicketList {
    /// Applied query parameters, including defaults.
    pub(crate) query: AppliedQuery,
    /// The tickets of the page, oldest first.
    pub(crate) result: Vec<PendingTicket>,
    /// Total number of tickets matching the query, ignoring limit and offset.
    #[schema(format = Int64, minimum = 0)]
    pub(crate) total: i64,
}

/// One page of in-progress tickets.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct InProgressTicketList {
    /// Applied query parameters, including defaults.
    pub(crate) query: AppliedQuery,
    /// The tickets of the page, oldest first.
    pub(crate) result: Vec<InProgressTicket>,
    /// Total number of tickets matching the query, ignoring limit and offset.
    #[schema(format = Int64, minimum = 0)]
    pub(crate) total: i64,
}

impl From<(AppliedQuery, Vec<PendingTicket>, i64)> for PendingTicketList {
    fn from((query, result, total): (AppliedQuery, Vec<PendingTicket>, i64)) -> Self {
        Self { query, result, total }
    }
}

impl From<(AppliedQuery, Vec<InProgressTicket>, i64)> for InProgressTicketList {
    fn from((query, result, total): (AppliedQuery, Vec<InProgressTicket>, i64)) -> Self {
        Self { query, result, total }
    }
}

/// The ticket an event carries, as the REST shape of the collection it is in after the change.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum EventTicket {
    /// After `ticket.created`: a pending ticket.
    Pending(PendingTicket),
    /// After `ticket.service-started`: an in-progress ticket.
    InProgress(InProgressTicket),
}

/// One change of a ticket of the partner's provider.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct TicketEvent {
    /// Position in the log: resume after the last one received (`after`, `Last-Event-ID`).
    #[schema(format = Int64, minimum = 1)]
    pub(crate) id: i64,
    /// What happened.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "ticket.created")]
    pub(crate) kind: EventType,
    /// When it happened (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub(crate) occurred_at: String,
    /// The ticket as the change left it.
    pub(crate) ticket: EventTicket,
}

/// The type of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) enum EventType {
    /// A pending ticket was opened.
    #[serde(rename = "ticket.created")]
    Created,
    /// Service started on a ticket, which is now in progress.
    #[serde(rename = "ticket.service-started")]
    ServiceStarted,
}

impl EventType {
    /// The name, as `type` and as the SSE `event:` field spell it.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Created => "ticket.created",
            Self::ServiceStarted => "ticket.service-started",
        }
    }
}

/// The query applied to a page of events, defaults included.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub(crate) struct AppliedEventQuery {
    /// The id after which the page starts (0: the oldest retained event).
    #[schema(format = Int64, minimum = 0)]
    pub(crate) after: i64,
    /// The applied limit.
    #[schema(minimum = 1, maximum = 1000)]
    pub(crate) limit: i32,
}

/// A page of events, ascending id.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct TicketEventList {
    /// Applied query parameters, including defaults.
    pub(crate) query: AppliedEventQuery,
    /// The events after `after`; fewer than `limit` once the partner has caught up.
    pub(crate) result: Vec<TicketEvent>,
}

impl TryFrom<v2::TicketEvent> for TicketEvent {
    type Error = Incomplete;

    fn try_from(event: v2::TicketEvent) -> Result<Self, Incomplete> {
        let v2::TicketEvent { id, r#type, occurred_at, ticket } = event;
        let (kind, ticket) = match (v2::TicketEventType::try_from(r#type), ticket) {
            (Ok(v2::TicketEventType::Created), Some(v2::ticket_event::Ticket::Pending(t))) => {
                (EventType::Created, EventTicket::Pending(t.try_into()?))
            }
            (
                Ok(v2::TicketEventType::ServiceStarted),
                Some(v2::ticket_event::Ticket::InProgress(t)),
            ) => (EventType::ServiceStarted, EventTicket::InProgress(t.try_into()?)),
            _ => return Err(Incomplete("a type matching its ticket")),
        };
        Ok(Self { id, kind, occurred_at: rfc3339(occurred_at, "occurred_at")?, ticket })
    }
}

/// Why the service's answer could not be turned into a REST body (a service bug).
#[derive(Debug, thiserror::Error)]
#[error("the ticket service answered a ticket without {0}")]
pub(crate) struct Incomplete(&'static str);

impl Incomplete {
    /// An answer missing `what`, or holding it in a form that cannot be passed on.
    pub(crate) const fn new(what: &'static str) -> Self {
        Self(what)
    }

    /// An answer that converted but could not be written as JSON.
    pub(crate) const fn unserialisable() -> Self {
        Self("a JSON form")
    }
}

impl From<Incomplete> for crate::problem::Problem {
    fn from(error: Incomplete) -> Self {
        tracing::error!(%error, "unusable answer from the ticket service");
        Self::of_kind(tickets_contract::errors::ErrorKind::Internal)
    }
}

fn rfc3339(at: Option<prost_types::Timestamp>, what: &'static str) -> Result<String, Incomplete> {
    let at = at.ok_or(Incomplete(what))?;
    let nanos = u32::try_from(at.nanos).map_err(|_| Incomplete(what))?;
    let at: DateTime<Utc> = DateTime::from_timestamp(at.seconds, nanos).ok_or(Incomplete(what))?;
    Ok(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

impl TryFrom<v2::PendingTicket> for PendingTicket {
    type Error = Incomplete;

    fn try_from(ticket: v2::PendingTicket) -> Result<Self, Incomplete> {
        let v2::PendingTicket {
            id,
            created_at,
            customer_id,
            ticket_number,
            vehicle_model_id,
            vin,
            connection_id,
        } = ticket;
        Ok(Self {
            id,
            created_at: rfc3339(created_at, "created_at")?,
            customer_id,
            ticket_number,
            vehicle_model_id,
            vin,
            connection_id,
        })
    }
}

impl TryFrom<v2::InProgressTicket> for InProgressTicket {
    type Error = Incomplete;

    fn try_from(ticket: v2::InProgressTicket) -> Result<Self, Incomplete> {
        let v2::InProgressTicket {
            id,
            created_at,
            customer_id,
            ticket_number,
            vehicle_model_id,
            vin,
            connection_id,
            operator_id,
            service_started_at,
            voucher_code,
            outsourced,
        } = ticket;
        let common = v2::PendingTicket {
            id,
            created_at,
            customer_id,
            ticket_number,
            vehicle_model_id,
            vin,
            connection_id,
        };
        Ok(Self {
            ticket: common.try_into()?,
            operator_id,
            service_started_at: rfc3339(service_started_at, "service_started_at")?,
            voucher_code,
            outsourced,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_z() {
        let at = prost_types::Timestamp { seconds: 1_566_656_122, nanos: 0 };
        assert_eq!(rfc3339(Some(at), "t").unwrap(), "2019-08-24T14:15:22Z");
        let at = prost_types::Timestamp { seconds: 1_566_656_122, nanos: 123_456_000 };
        assert_eq!(rfc3339(Some(at), "t").unwrap(), "2019-08-24T14:15:22.123456Z");
        assert!(rfc3339(None, "t").is_err());
        assert!(rfc3339(Some(prost_types::Timestamp { seconds: 0, nanos: -1 }), "t").is_err());
    }

    #[test]
    fn an_absent_connection_is_null_not_missing() {
        let ticket = PendingTicket::try_from(v2::PendingTicket {
            created_at: Some(prost_types::Timestamp::default()),
            ..Default::default()
        })
        .unwrap();
        let json = serde_json::to_value(ticket).unwrap();
        assert_eq!(json.get("connection_id"), Some(&serde_json::Value::Null));
    }
}
