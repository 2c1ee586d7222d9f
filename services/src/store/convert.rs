//! Rows ↔ domain values, in one place. Each conversion destructures the whole row, so a new
//! column fails to compile here until it is handled.

use super::entity::{ticket, ticket_event};
use crate::domain::{
    Change, CustomerId, EmployeeId, Error, InProgressTicket, PendingTicket, ProviderId,
    TicketEvent, TicketId, TicketState,
};

/// A ticket type that stands for one state, as the store reads it: the state its rows are
/// selected by, how a missing one is named, and the conversion from such a row.
pub(crate) trait FromRow: Sized {
    /// The state of every row this type is read from.
    const STATE: TicketState;
    /// What a caller is told is missing (`pending ticket not found`).
    const NAME: &'static str;

    /// The ticket a row of [`Self::STATE`] holds.
    fn from_row(row: ticket::Model) -> Result<Self, Error>;
}

impl From<TicketState> for ticket::State {
    fn from(state: TicketState) -> Self {
        match state {
            TicketState::Pending => Self::Pending,
            TicketState::InProgress => Self::InProgress,
        }
    }
}

/// The common fields of any ticket row.
fn pending_fields(row: &ticket::Model) -> PendingTicket {
    PendingTicket {
        id: TicketId::new(row.id),
        created_at: row.created_at,
        customer_id: CustomerId::new(row.customer_id),
        ticket_number: row.ticket_number,
        vehicle_model_id: row.vehicle_model_id,
        vin: row.vin.clone(),
        connection_id: row.connection_id,
    }
}

impl FromRow for PendingTicket {
    const STATE: TicketState = TicketState::Pending;
    const NAME: &'static str = "pending ticket";

    fn from_row(row: ticket::Model) -> Result<Self, Error> {
        match row.state {
            ticket::State::Pending => Ok(pending_fields(&row)),
            ticket::State::InProgress => Err(Error::Internal(format!(
                "ticket {} read as pending but is {:?}",
                row.id, row.state
            ))),
        }
    }
}

impl FromRow for InProgressTicket {
    const STATE: TicketState = TicketState::InProgress;
    const NAME: &'static str = "in-progress ticket";

    fn from_row(row: ticket::Model) -> Result<Self, Error> {
        let ticket = pending_fields(&row);
        let ticket::Model {
            state, operator_id, service_started_at, voucher_code, outsourced, ..
        } = row;
        match (state, operator_id, service_started_at) {
            (ticket::State::InProgress, Some(operator_id), Some(service_started_at)) => Ok(Self {
                ticket,
                operator_id: EmployeeId::new(operator_id),
                service_started_at,
                voucher_code,
                outsourced,
            }),
            _ => Err(Error::Internal(format!(
                "ticket {} read as in progress but is {state:?} (operator set: {})",
                ticket.id,
                operator_id.is_some()
            ))),
        }
    }
}

/// The event a numbered `ticket_events` row holds: its ticket columns read back as the ticket
/// row they were copied from, in the state the event's type says.
pub(crate) fn event_from_row(row: ticket_event::Model) -> Result<TicketEvent, Error> {
    let ticket_event::Model {
        seq,
        id,
        provider_id,
        kind,
        occurred_at,
        ticket_id,
        ticket_number,
        created_at,
        customer_id,
        vehicle_model_id,
        vin,
        connection_id,
        operator_id,
        service_started_at,
        voucher_code,
        outsourced,
    } = row;
    let id = id.ok_or_else(|| Error::Internal(format!("event {seq} was read unnumbered")))?;
    let state = match kind.as_str() {
        CREATED => ticket::State::Pending,
        SERVICE_STARTED => ticket::State::InProgress,
        other => return Err(Error::Internal(format!("event {id} has the unknown type {other}"))),
    };
    let ticket = ticket::Model {
        ticket_number,
        id: ticket_id,
        provider_id,
        state,
        created_at,
        customer_id,
        vehicle_model_id,
        vin,
        connection_id,
        operator_id,
        service_started_at,
        voucher_code,
        outsourced,
    };
    let change = match state {
        ticket::State::Pending => Change::Created(PendingTicket::from_row(ticket)?),
        ticket::State::InProgress => Change::ServiceStarted(InProgressTicket::from_row(ticket)?),
    };
    Ok(TicketEvent { id, provider: ProviderId::new(provider_id), occurred_at, change })
}

/// The `type` the triggers write for each change.
const CREATED: &str = "ticket.created";
const SERVICE_STARTED: &str = "ticket.service-started";
