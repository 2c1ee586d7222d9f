//! Domain errors → gRPC status, through the shared [`ErrorKind`] table. This is the only place
//! that decides what a caller sees of a failure: violations in full, internal detail never.

use tickets_contract::errors::ErrorKind;
use tonic::Status;

use crate::domain::Error;

/// The kind of each domain error. With [`ErrorKind::grpc_code`] this is the service's half of
/// the contract's "one table maps domain errors to gRPC codes".
pub(crate) const fn kind(error: &Error) -> ErrorKind {
    match error {
        Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
        Error::NotFound(_) => ErrorKind::NotFound,
        Error::Conflict(_) => ErrorKind::Conflict,
        Error::Gone(_) => ErrorKind::Gone,
        Error::Unavailable(_) => ErrorKind::Unavailable,
        Error::Internal(_) => ErrorKind::Internal,
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let code = kind(&error).grpc_code();
        match error {
            Error::InvalidArgument(violations) => violations.into_status(),
            Error::NotFound(what) => Self::new(code, format!("{what} not found")),
            Error::Conflict(why) => Self::new(code, why),
            Error::Gone(after) => Self::new(
                code,
                format!("event {after} is older than the retained log; resume from after = 0"),
            ),
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
    use tickets_contract::violations::Violations;
    use tonic::Code;

    use super::*;

    #[test]
    fn violations_travel_as_bad_request_details() {
        let mut violations = Violations::new();
        violations.add("id", "bad");
        violations.add("vin", "worse");
        let status = Status::from(Error::InvalidArgument(violations));
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields: Vec<_> =
            Violations::from_status(&status).into_iter().map(|v| v.field).collect();
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
