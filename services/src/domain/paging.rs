//! Paging and filtering of the ticket lists. The bounds of `limit` and `offset` are input rules
//! of the contract, shared with the gateway.

pub use tickets_contract::rules::{Limit, Offset};

/// A validated list request: the effective values, which are also what the response echoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Page size.
    pub limit: Limit,
    /// Tickets skipped.
    pub offset: Offset,
    /// Only the ticket with this number, when set.
    pub ticket_number: Option<i64>,
}

/// One page of a list, with the count of everything that matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The tickets of the page, oldest first.
    pub items: Vec<T>,
    /// All matching tickets of the provider, ignoring limit and offset.
    pub total: u64,
}
