//! Rows ↔ domain values, in one place. Each conversion destructures the whole row, so a new
//! column fails to compile here until it is handled.

use super::entity::ticket;
use crate::domain::{
    CustomerId, EmployeeId, Error, InProgressTicket, PendingTicket, TicketId, TicketState,
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
