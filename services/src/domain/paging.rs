//! Paging and filtering of the ticket lists. The bounds of `limit` and `offset` are input rules
//! of the contract, shared with the gateway.

use chrono::{DateTime, Utc};
pub use tickets_contract::rules::{Limit, Offset};

/// A validated list request: the effective values, which are also what the response echoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Page size.
    pub limit: Limit,
    /// Tickets skipped (0 when `after` is set).
    pub offset: Offset,
    /// Only the ticket with this number, when set.
    pub ticket_number: Option<i64>,
    /// Start right after this ticket, when set (a cursor).
    pub after: Option<Position>,
}

/// Where a ticket stands in a list's order: the keyset `(created_at, ticket_number)` that the
/// lists are sorted by, and that a cursor carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// When the ticket was created.
    pub created_at: DateTime<Utc>,
    /// The ticket's number (unique: it breaks ties).
    pub ticket_number: i64,
}

/// One page of a list, with the count of everything that matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The tickets of the page, oldest first.
    pub items: Vec<T>,
    /// All matching tickets of the provider, ignoring limit and offset.
    pub total: u64,
    /// The position of the page's last ticket, when more tickets follow it.
    pub next: Option<Position>,
}
