//! Query and path parameters: parsed strictly, every violation collected.

use axum::extract::{Path, rejection::PathRejection};
use tickets_contract::rules::{self, LIMIT_DEFAULT, LIMIT_MAX};
use uuid::Uuid;

use crate::problem::Violation;

/// The effective paging of a list request; also what the response echoes as `query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ListParams {
    pub(crate) limit: i32,
    pub(crate) offset: i64,
    pub(crate) ticket_number: Option<i64>,
}

/// A base-10 integer: an optional `-` and ASCII digits, nothing else (no `+`, no spaces, no
/// exponent), within `i64`.
fn integer(value: &str) -> Option<i64> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Parses `limit`, `offset` and `ticket_number` from a raw query string. Unknown parameters are
/// ignored. A known parameter that is empty, not a base-10 integer, out of range, or given more
/// than once is a violation; all of them are reported together.
pub(crate) fn list_params(raw: Option<&str>) -> Result<ListParams, Vec<Violation>> {
    let mut limit: Vec<String> = Vec::new();
    let mut offset: Vec<String> = Vec::new();
    let mut ticket_number: Vec<String> = Vec::new();
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "limit" => limit.push(value.into_owned()),
            "offset" => offset.push(value.into_owned()),
            "ticket_number" => ticket_number.push(value.into_owned()),
            _ => {}
        }
    }

    let mut violations = Vec::new();
    let mut single =
        |name: &str, values: &[String], rule: &str, valid: &dyn Fn(i64) -> bool| match values {
            [] => None,
            [value] if value.is_empty() => {
                violations.push(Violation::new(name, "must not be empty"));
                None
            }
            [value] => match integer(value).filter(|v| valid(*v)) {
                Some(parsed) => Some(parsed),
                None => {
                    violations.push(Violation::new(name, rule));
                    None
                }
            },
            _ => {
                violations.push(Violation::new(name, "must be given at most once"));
                None
            }
        };
    let limit =
        single("limit", &limit, rules::LIMIT_RULE, &|v| (0..=i64::from(LIMIT_MAX)).contains(&v));
    let offset = single("offset", &offset, rules::OFFSET_RULE, &|v| v >= 0);
    let ticket_number =
        single("ticket_number", &ticket_number, "must be a base-10 64-bit integer", &|_| true);

    if violations.is_empty() {
        Ok(ListParams {
            limit: limit.and_then(|v| i32::try_from(v).ok()).unwrap_or(LIMIT_DEFAULT),
            offset: offset.unwrap_or(0),
            ticket_number,
        })
    } else {
        Err(violations)
    }
}

/// A ticket id from the path; a violation on the path parameter's `name` when it is not a UUID
/// (upper case accepted).
pub(crate) fn path_id(
    path: Result<Path<String>, PathRejection>,
    name: &str,
    violations: &mut Vec<Violation>,
) -> Option<Uuid> {
    let parsed = path.ok().and_then(|Path(id)| rules::parse_uuid(&id).ok());
    if parsed.is_none() {
        violations.push(Violation::new(name, rules::UUID_RULE));
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(raw: &str) -> Vec<String> {
        list_params(Some(raw)).expect_err("violations").into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn defaults_apply_and_unknown_parameters_are_ignored() {
        assert_eq!(list_params(None), Ok(ListParams { limit: 25, offset: 0, ticket_number: None }));
        assert_eq!(
            list_params(Some("foo=bar&sort=desc")),
            Ok(ListParams { limit: 25, offset: 0, ticket_number: None })
        );
    }

    #[test]
    fn every_given_parameter_is_applied() {
        assert_eq!(
            list_params(Some("limit=0&offset=9223372036854775807&ticket_number=-7")),
            Ok(ListParams { limit: 0, offset: i64::MAX, ticket_number: Some(-7) })
        );
        assert_eq!(list_params(Some("limit=1000")).map(|p| p.limit), Ok(1000));
        assert_eq!(list_params(Some("limit=007")).map(|p| p.limit), Ok(7));
    }

    #[test]
    fn bad_values_are_violations() {
        for raw in [
            "limit=",
            "limit=1001",
            "limit=-1",
            "limit=abc",
            "limit=1.5",
            "limit=+5",
            "limit=%201",
            "limit=1e3",
            "limit=99999999999999999999",
            "limit=1&limit=2",
            "limit=%FF",
        ] {
            assert_eq!(fields(raw), ["limit"], "{raw}");
        }
        assert_eq!(fields("offset=-1"), ["offset"]);
        assert_eq!(fields("offset=9223372036854775808"), ["offset"]);
        assert_eq!(fields("ticket_number=x"), ["ticket_number"]);
        assert_eq!(fields("ticket_number=1&ticket_number=1"), ["ticket_number"]);
    }

    #[test]
    fn all_violations_are_reported_together() {
        assert_eq!(
            fields("limit=x&offset=-2&ticket_number="),
            ["limit", "offset", "ticket_number"]
        );
    }
}
