//! The one table of failure kinds, shared by both sides of the gRPC boundary.
//!
//! The ticket service maps each domain error to an [`ErrorKind`] and sends its
//! [`grpc_code`](ErrorKind::grpc_code); the gateway maps the code it receives back with
//! [`ErrorKind::from_grpc_code`] and answers the HTTP problem it keeps for that kind. Because
//! both directions read this one table, a precondition failure cannot become
//! FAILED_PRECONDITION on one side and a 500 on the other.

use tonic::Code;

/// A kind of failure a caller can act on differently from the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request breaks one or more input rules; the details name every offending field.
    InvalidArgument,
    /// The caller did not say (or prove) who it acts for.
    Unauthenticated,
    /// The caller is known but may not do this.
    PermissionDenied,
    /// The resource does not exist for this caller (foreign data included).
    NotFound,
    /// The resource exists but is not in a state that allows the operation.
    Conflict,
    /// The caller sent too much, too fast.
    ResourceExhausted,
    /// A position in the event log that is older than what is retained.
    Gone,
    /// A dependency (the database, the ticket service) cannot be reached; safe to retry.
    Unavailable,
    /// The operation did not finish within the caller's deadline.
    DeadlineExceeded,
    /// Anything else: a bug or an unexpected failure, never explained to the caller.
    Internal,
}

impl ErrorKind {
    /// Every kind, for exhaustive table tests.
    pub const ALL: [Self; 10] = [
        Self::InvalidArgument,
        Self::Unauthenticated,
        Self::PermissionDenied,
        Self::NotFound,
        Self::Conflict,
        Self::ResourceExhausted,
        Self::Gone,
        Self::Unavailable,
        Self::DeadlineExceeded,
        Self::Internal,
    ];

    /// The gRPC status code this kind travels as.
    #[must_use]
    pub const fn grpc_code(self) -> Code {
        match self {
            Self::InvalidArgument => Code::InvalidArgument,
            Self::Unauthenticated => Code::Unauthenticated,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::NotFound => Code::NotFound,
            Self::Conflict => Code::FailedPrecondition,
            Self::ResourceExhausted => Code::ResourceExhausted,
            Self::Gone => Code::OutOfRange,
            Self::Unavailable => Code::Unavailable,
            Self::DeadlineExceeded => Code::DeadlineExceeded,
            Self::Internal => Code::Internal,
        }
    }

    /// The kind a received gRPC code stands for. Total over every code, so that whatever a
    /// server (or a proxy in between) answers, the caller has a defined response.
    #[must_use]
    pub const fn from_grpc_code(code: Code) -> Self {
        match code {
            Code::InvalidArgument => Self::InvalidArgument,
            Code::OutOfRange => Self::Gone,
            Code::Unauthenticated => Self::Unauthenticated,
            Code::PermissionDenied => Self::PermissionDenied,
            Code::NotFound => Self::NotFound,
            Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => Self::Conflict,
            Code::ResourceExhausted => Self::ResourceExhausted,
            Code::Unavailable | Code::Cancelled => Self::Unavailable,
            Code::DeadlineExceeded => Self::DeadlineExceeded,
            Code::Ok | Code::Unknown | Code::Unimplemented | Code::Internal | Code::DataLoss => {
                Self::Internal
            }
        }
    }
}

/// The canonical name of a status code (`FAILED_PRECONDITION`), as both binaries spell it in
/// metric labels and log lines.
#[must_use]
pub const fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_survives_the_round_trip_through_its_grpc_code() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_grpc_code(kind.grpc_code()), kind, "{kind:?}");
        }
    }

    #[test]
    fn a_precondition_failure_travels_as_failed_precondition() {
        assert_eq!(ErrorKind::Conflict.grpc_code(), Code::FailedPrecondition);
        assert_eq!(ErrorKind::from_grpc_code(Code::FailedPrecondition), ErrorKind::Conflict);
    }

    #[test]
    fn code_names_are_the_canonical_upper_snake_case_ones() {
        assert_eq!(code_name(Code::FailedPrecondition), "FAILED_PRECONDITION");
        let names: std::collections::HashSet<_> =
            (0..=16).map(|c| code_name(Code::from(c))).collect();
        assert_eq!(names.len(), 17);
    }
}
