//! Rows ↔ domain values, in one place. Each conversion destructures the whole row, so a new
//! column fails to compile here until it is handled.

use super::entity::{employee, ticket};
use crate::domain::{
    CustomerId, EmployeeId, EmployeeRole, Error, InProgressTicket, PendingTicket, TicketState,
};

impl From<TicketState> for ticket::State {
    fn from(state: TicketState) -> Self {
        match state {
            TicketState::Pending => Self::Pending,
            TicketState::InProgress => Self::InProgress,
        }
    }
}

impl From<EmployeeRole> for employee::Role {
    fn from(role: EmployeeRole) -> Self {
        match role {
            EmployeeRole::Employee => Self::Employee,
            EmployeeRole::Operator => Self::Operator,
            EmployeeRole::SeniorOperator => Self::SeniorOperator,
            EmployeeRole::Admin => Self::Admin,
        }
    }
}

impl From<employee::Role> for EmployeeRole {
    fn from(role: employee::Role) -> Self {
        match role {
            employee::Role::Employee => Self::Employee,
            employee::Role::Operator => Self::Operator,
            employee::Role::SeniorOperator => Self::SeniorOperator,
            employee::Role::Admin => Self::Admin,
        }
    }
}

/// The common fields of any ticket row.
fn pending_fields(row: &ticket::Model) -> PendingTicket {
    PendingTicket {
        id: crate::domain::TicketId::new(row.id),
        created_at: row.created_at,
        customer_id: CustomerId::new(row.customer_id),
        ticket_number: row.ticket_number,
        vehicle_model_id: row.vehicle_model_id,
        vin: row.vin.clone(),
        connection_id: row.connection_id,
    }
}

impl TryFrom<ticket::Model> for PendingTicket {
    type Error = Error;

    fn try_from(row: ticket::Model) -> Result<Self, Error> {
        match row.state {
            ticket::State::Pending => Ok(pending_fields(&row)),
            ticket::State::InProgress => Err(Error::Internal(format!(
                "ticket {} read as pending but is {:?}",
                row.id, row.state
            ))),
        }
    }
}

impl TryFrom<ticket::Model> for InProgressTicket {
    type Error = Error;

    fn try_from(row: ticket::Model) -> Result<Self, Error> {
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
