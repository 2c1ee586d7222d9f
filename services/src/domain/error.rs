//! The one error type of the ticket service's core.

use tickets_contract::violations::{Violation, Violations};

/// Why a ticket-service operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request breaks input rules; every violation is listed, named by proto field.
    #[error("invalid argument: {0:?}")]
    InvalidArgument(Violations),
    /// The named thing does not exist for this provider.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The ticket exists but is not in a state that allows the operation.
    #[error("{0}")]
    Conflict(&'static str),
    /// The event position is older than the retained log; the reader must start over.
    #[error("event position {0} is older than the retained log")]
    Gone(i64),
    /// The store cannot be reached (or is too busy to answer); safe to retry.
    #[error("the ticket store is unavailable: {0}")]
    Unavailable(String),
    /// An unexpected failure; the text is for the logs only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A single violation on `field`.
    #[must_use]
    pub fn violation(field: &str, message: impl Into<String>) -> Self {
        Self::InvalidArgument(Violation::new(field, message).into())
    }
}

impl From<Violations> for Error {
    fn from(violations: Violations) -> Self {
        Self::InvalidArgument(violations)
    }
}
