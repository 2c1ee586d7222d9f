//! The event log of the live pending queue (docs/events.md): every change of a ticket, in the
//! order a reader must apply them.

use chrono::{DateTime, Utc};

pub use tickets_contract::rules::{EventLimit, EventPosition};

use super::{InProgressTicket, PendingTicket, ProviderId};

/// What happened, with the ticket as the change left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A pending ticket was opened (`ticket.created`).
    Created(PendingTicket),
    /// Service started on a ticket (`ticket.service-started`).
    ServiceStarted(InProgressTicket),
}

/// One event of a provider's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketEvent {
    /// Its position: ids increase in apply order, and a reader is never shown a later one
    /// before an earlier one.
    pub id: i64,
    /// The provider whose ticket changed.
    pub provider: ProviderId,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// What happened.
    pub change: Change,
}

impl TicketEvent {
    /// The event's position, as a reader resumes from it.
    #[must_use]
    pub const fn position(&self) -> EventPosition {
        // Ids are assigned from 1 upwards, so every one is a valid position.
        match EventPosition::new(self.id) {
            Some(position) => position,
            None => EventPosition::START,
        }
    }
}

/// A page request of the log: the events after `after`, at most `limit` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventQuery {
    /// The last event the reader has.
    pub after: EventPosition,
    /// Page size.
    pub limit: EventLimit,
}
