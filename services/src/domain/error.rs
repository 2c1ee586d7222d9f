//! The one error type of the ticket service's core.

/// One broken input rule, named by the request field it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The request field, by its proto name (`id`, `operator_id`, `limit`, ...).
    pub field: String,
    /// What the field must be, in words a caller can act on.
    pub message: String,
}

/// Collects every violation of a request, so a caller learns all of them at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<Violation>);

impl Violations {
    /// An empty collection.
    #[must_use]
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Records a violation on `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(Violation { field: field.to_owned(), message: message.into() });
    }

    /// Keeps the value of a parse, or records its error on `field`.
    pub fn check<T, E: Into<String>>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        parsed.map_err(|message| self.add(field, message)).ok()
    }

    /// `Ok(value)` when nothing was recorded, else the invalid-argument error.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] with every recorded violation.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, Error> {
        if self.0.is_empty() {
            // With no violation recorded every `check` succeeded, so the value is complete.
            value().ok_or_else(|| Error::Internal("a checked value was missing".into()))
        } else {
            Err(Error::InvalidArgument(self.0))
        }
    }
}

/// Why a ticket-service operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request breaks input rules; every violation is listed.
    #[error("invalid argument: {0:?}")]
    InvalidArgument(Vec<Violation>),
    /// The named thing does not exist for this provider.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The ticket exists but is not in a state that allows the operation.
    #[error("{0}")]
    Conflict(&'static str),
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
        Self::InvalidArgument(vec![Violation { field: field.to_owned(), message: message.into() }])
    }
}
