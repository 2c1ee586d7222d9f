//! Domain errors → gRPC status, through the shared [`ErrorKind`] table. This is the only place
//! that decides what a caller sees of a failure: violations in full, internal detail never.

use tickets_contract::errors::ErrorKind;
use tonic::Status;
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::domain::Error;

/// The kind of each domain error. With [`ErrorKind::grpc_code`] this is the service's half of
/// the contract's "one table maps domain errors to gRPC codes".
pub(crate) const fn kind(error: &Error) -> ErrorKind {
    match error {
        Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
        Error::NotFound(_) => ErrorKind::NotFound,
        Error::Conflict(_) => ErrorKind::Conflict,
        Error::Unavailable(_) => ErrorKind::Unavailable,
        Error::Internal(_) => ErrorKind::Internal,
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let code = kind(&error).grpc_code();
        match error {
            Error::InvalidArgument(violations) => {
                let violations: Vec<FieldViolation> = violations
                    .into_iter()
                    .map(|v| FieldViolation::new(v.field, v.message))
                    .collect();
                Self::with_error_details(
                    code,
                    "the request violates one or more constraints",
                    ErrorDetails::with_bad_request(violations),
                )
            }
            Error::NotFound(what) => Self::new(code, format!("{what} not found")),
            Error::Conflict(why) => Self::new(code, why),
            Error::Unavailable(detail) => {
                tracing::warn!(error = %detail, "ticket store unavailable");
                Self::new(code, "the ticket store is temporarily unavailable; retry later")
            }
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                Self::new(code, "internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;
    use crate::domain::Violation;

    #[test]
    fn violations_travel_as_bad_request_details() {
        let status = Status::from(Error::InvalidArgument(vec![
            Violation { field: "id".into(), message: "bad".into() },
            Violation { field: "vin".into(), message: "worse".into() },
        ]));
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields: Vec<_> = status
            .get_details_bad_request()
            .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default();
        assert_eq!(fields, ["id", "vin"]);
    }

    #[test]
    fn internal_and_unavailable_details_never_reach_the_caller() {
        for error in [
            Error::Internal("SELECT secret FROM /var/lib".into()),
            Error::Unavailable("connection refused 10.0.0.7:5432".into()),
        ] {
            let status = Status::from(error);
            assert!(!status.message().contains("SELECT") && !status.message().contains("10.0.0.7"));
        }
    }

    #[test]
    fn each_domain_error_has_the_code_of_its_kind() {
        let cases = [
            (Error::violation("id", "x"), Code::InvalidArgument),
            (Error::NotFound("pending ticket"), Code::NotFound),
            (Error::Conflict("no"), Code::FailedPrecondition),
            (Error::Unavailable(String::new()), Code::Unavailable),
            (Error::Internal(String::new()), Code::Internal),
        ];
        for (error, code) in cases {
            assert_eq!(Status::from(error).code(), code);
        }
    }
}
