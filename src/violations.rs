//! Broken input rules, and the one way both binaries collect and carry them.
//!
//! A request is parsed field by field into a [`Violations`] accumulator, so that a caller learns
//! every broken rule of a request at once, not only the first. Over gRPC the violations travel
//! as `google.rpc.BadRequest` details of an INVALID_ARGUMENT status ([`Violations::into_status`]
//! and [`Violations::from_status`]), named by proto field; the gateway renames them to the REST
//! fields of its request.

use serde::Serialize;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt as _};

/// One broken input rule, named by the request field it concerns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Violation {
    /// The offending field: a proto field name over gRPC (`operator_id`); over REST a query or
    /// path parameter name, or a dotted path into the body (`transition.operator_id`).
    pub field: String,
    /// What the field must be, in words a caller can act on.
    pub message: String,
}

impl Violation {
    /// A violation on `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// The status message of every INVALID_ARGUMENT carrying violations.
const MESSAGE: &str = "the request violates one or more constraints";

/// The field named when a failure carries no violation of its own, so that a caller is always
/// told about at least one.
const WHOLE_REQUEST: &str = "request";

/// Collects every violation of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Violations(Vec<Violation>);

impl Violations {
    /// An empty collection.
    #[must_use]
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Records a violation on `field`.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Violation::new(field, message));
    }

    /// Keeps the value of a parse, or records its error on `field`.
    pub fn check<T, E: Into<String>>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        parsed.map_err(|message| self.add(field, message)).ok()
    }

    /// Whether nothing was recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, else every recorded violation.
    ///
    /// `value` is built only when nothing was recorded, which means every `check` succeeded; if
    /// it still has a part missing (a parse forgot to record its failure), the request is
    /// refused as a whole rather than accepted half-checked.
    ///
    /// # Errors
    /// The violations, at least one.
    pub fn finish<T>(mut self, value: impl FnOnce() -> Option<T>) -> Result<T, Self> {
        if self.0.is_empty() {
            value().ok_or_else(|| {
                self.add(WHOLE_REQUEST, "is invalid");
                self
            })
        } else {
            Err(self)
        }
    }

    /// The violations, with each field renamed by `rename` (proto names to REST names).
    #[must_use]
    pub fn renamed(self, rename: impl Fn(&str) -> String) -> Self {
        Self(self.0.into_iter().map(|v| Violation { field: rename(&v.field), ..v }).collect())
    }

    /// The INVALID_ARGUMENT status carrying them as `google.rpc.BadRequest` field violations.
    #[must_use]
    pub fn into_status(self) -> Status {
        let fields: Vec<_> =
            self.0.into_iter().map(|v| FieldViolation::new(v.field, v.message)).collect();
        Status::with_error_details(
            Code::InvalidArgument,
            MESSAGE,
            ErrorDetails::with_bad_request(fields),
        )
    }

    /// The violations a status carries (at least one: a status without details is reported as
    /// a violation of the whole request).
    #[must_use]
    pub fn from_status(status: &Status) -> Self {
        let mut violations = Self(
            status
                .get_details_bad_request()
                .map(|details| {
                    details
                        .field_violations
                        .into_iter()
                        .map(|v| Violation::new(v.field, v.description))
                        .collect()
                })
                .unwrap_or_default(),
        );
        if violations.is_empty() {
            violations.add(WHOLE_REQUEST, "is invalid");
        }
        violations
    }
}

impl From<Violation> for Violations {
    fn from(violation: Violation) -> Self {
        Self(vec![violation])
    }
}

impl IntoIterator for Violations {
    type Item = Violation;
    type IntoIter = std::vec::IntoIter<Violation>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Violations {
    type Item = &'a Violation;
    type IntoIter = std::slice::Iter<'a, Violation>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(violations: &Violations) -> Vec<&str> {
        violations.into_iter().map(|v| v.field.as_str()).collect()
    }

    #[test]
    fn every_failed_check_is_kept_in_order() {
        let mut violations = Violations::new();
        let a: Option<u8> = violations.check("a", Err("bad"));
        let b = violations.check::<_, &str>("b", Ok(1));
        let c: Option<u8> = violations.check("c", Err("worse"));
        assert_eq!((a, b, c), (None, Some(1), None));
        let result = violations.finish(|| Some(()));
        assert_eq!(result.map_err(|v| fields(&v).join(",")), Err("a,c".to_owned()));
    }

    #[test]
    fn a_missing_part_without_a_violation_refuses_the_whole_request() {
        let result: Result<u8, _> = Violations::new().finish(|| None);
        assert_eq!(result.map_err(|v| fields(&v).join(",")), Err("request".to_owned()));
    }

    #[test]
    fn violations_survive_the_trip_through_a_status_in_order() {
        let mut violations = Violations::new();
        violations.add("pending_ticket_id", "must be a UUID");
        violations.add("operator_id", "must be an operator");
        let status = violations.clone().into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(Violations::from_status(&status), violations);
    }

    #[test]
    fn a_status_without_details_still_names_a_field() {
        let violations = Violations::from_status(&Status::invalid_argument("x"));
        assert_eq!(fields(&violations), ["request"]);
    }

    #[test]
    fn renaming_keeps_the_messages() {
        let violations = Violations::from(Violation::new("id", "m"))
            .renamed(|field| if field == "id" { "pending-ticket-id".into() } else { field.into() });
        assert_eq!(violations.into_iter().next(), Some(Violation::new("pending-ticket-id", "m")));
    }
}
