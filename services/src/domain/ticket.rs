//! Tickets and their states.

use chrono::{DateTime, Utc};

use super::{CustomerId, EmployeeId, ProviderId, TicketId, Vin};

/// Where a ticket is in its life. Stored as text so that the later states of the wider product
/// (closed, cancelled, outsourced) are one new variant here, with no schema change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TicketState {
    /// Waiting for an operator.
    Pending,
    /// An operator started service on it.
    InProgress,
}

/// What a caller supplies to open a ticket; the service assigns the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTicket {
    /// The provider the ticket belongs to.
    pub provider_id: ProviderId,
    /// The customer it was opened for.
    pub customer_id: CustomerId,
    /// The vehicle model (≥ 0).
    pub vehicle_model_id: i64,
    /// The vehicle.
    pub vin: Vin,
    /// The vehicle interface connection, when known.
    pub connection_id: Option<uuid::Uuid>,
}

/// A ticket waiting for an operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingTicket {
    /// Ticket identifier.
    pub id: TicketId,
    /// When it was opened (microsecond precision, UTC).
    pub created_at: DateTime<Utc>,
    /// The customer.
    pub customer_id: CustomerId,
    /// Unique, increasing number from the database sequence.
    pub ticket_number: i64,
    /// The vehicle model.
    pub vehicle_model_id: i64,
    /// The vehicle.
    pub vin: String,
    /// The vehicle interface connection, when known.
    pub connection_id: Option<uuid::Uuid>,
}

/// A ticket an operator is servicing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InProgressTicket {
    /// The fields it had while pending.
    pub ticket: PendingTicket,
    /// The assigned operator.
    pub operator_id: EmployeeId,
    /// When service started.
    pub service_started_at: DateTime<Utc>,
    /// A redeemed voucher; not issued yet, so always `None` for now.
    pub voucher_code: Option<String>,
    /// Handed to a third party; not possible yet, so always `false` for now.
    pub outsourced: bool,
}
