//! The one table of failure kinds, shared by both sides of the gRPC boundary.
//!
//! The ticket service maps each domain error to an [`ErrorKind`] and sends its [`grpc_code`]; the
//! gateway maps the code it receives back with [`ErrorKind::from_grpc_code`] and answers the
//! [`http_status`] and problem type of that kind. Because both directions read this one table, a
//! precondition failure cannot become FAILED_PRECONDITION on one side and a 500 on the other.
//!
//! [`grpc_code`]: ErrorKind::grpc_code
//! [`http_status`]: ErrorKind::http_status

use http::StatusCode;
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
    /// A dependency (the database, the ticket service) cannot be reached; safe to retry.
    Unavailable,
    /// The operation did not finish within the caller's deadline.
    DeadlineExceeded,
    /// Anything else: a bug or an unexpected failure, never explained to the caller.
    Internal,
}

impl ErrorKind {
    /// Every kind, for exhaustive table tests.
    pub const ALL: [Self; 9] = [
        Self::InvalidArgument,
        Self::Unauthenticated,
        Self::PermissionDenied,
        Self::NotFound,
        Self::Conflict,
        Self::ResourceExhausted,
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
            Self::Unavailable => Code::Unavailable,
            Self::DeadlineExceeded => Code::DeadlineExceeded,
            Self::Internal => Code::Internal,
        }
    }

    /// The kind a received gRPC code stands for. Total over every code, so that whatever a
    /// server (or a proxy in between) answers, the gateway has a defined response.
    #[must_use]
    pub const fn from_grpc_code(code: Code) -> Self {
        match code {
            Code::InvalidArgument | Code::OutOfRange => Self::InvalidArgument,
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

    /// The HTTP status the gateway answers for this kind.
    #[must_use]
    pub const fn http_status(self) -> StatusCode {
        match self {
            Self::InvalidArgument => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The RFC 9457 problem `type` of this kind.
    #[must_use]
    pub const fn problem_type(self) -> &'static str {
        match self {
            Self::InvalidArgument => "/problems/violations",
            Self::Unauthenticated => "/problems/unauthorized",
            Self::PermissionDenied => "/problems/forbidden",
            Self::NotFound => "/problems/not-found",
            Self::Conflict => "/problems/conflict",
            Self::ResourceExhausted => "/problems/too-many-requests",
            Self::Unavailable => "/problems/service-unavailable",
            Self::DeadlineExceeded => "/problems/gateway-timeout",
            Self::Internal => "/problems/internal",
        }
    }

    /// The RFC 9457 problem `title` of this kind.
    #[must_use]
    pub const fn title(self) -> &'static str {
        match self {
            Self::InvalidArgument => "Bad request",
            Self::Unauthenticated => "Unauthorized",
            Self::PermissionDenied => "Forbidden",
            Self::NotFound => "Not found",
            Self::Conflict => "Conflict",
            Self::ResourceExhausted => "Too many requests",
            Self::Unavailable => "Service unavailable",
            Self::DeadlineExceeded => "Gateway timeout",
            Self::Internal => "Internal server error",
        }
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
    fn every_kind_is_an_error_status_with_its_own_problem_type() {
        let mut types = std::collections::HashSet::new();
        for kind in ErrorKind::ALL {
            let status = kind.http_status();
            assert!(status.is_client_error() || status.is_server_error(), "{kind:?}");
            assert!(types.insert(kind.problem_type()), "{kind:?} shares its problem type");
        }
    }

    #[test]
    fn a_precondition_failure_is_a_conflict_on_both_sides() {
        assert_eq!(ErrorKind::Conflict.grpc_code(), Code::FailedPrecondition);
        assert_eq!(
            ErrorKind::from_grpc_code(Code::FailedPrecondition).http_status(),
            StatusCode::CONFLICT
        );
    }

    #[test]
    fn only_availability_and_deadline_failures_are_retryable_5xx() {
        assert_eq!(
            ErrorKind::from_grpc_code(Code::Unavailable).http_status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ErrorKind::from_grpc_code(Code::DeadlineExceeded).http_status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            ErrorKind::from_grpc_code(Code::Unknown).http_status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
