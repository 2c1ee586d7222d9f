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

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// What a strict base-10 reading of `value` accepts: Rust's parser, minus its `+`.
        fn oracle(value: &str, valid: impl Fn(i64) -> bool) -> Option<i64> {
            (!value.starts_with('+'))
                .then(|| value.parse::<i64>().ok())
                .flatten()
                .filter(|v| valid(*v))
        }

        fn encoded(value: &str) -> String {
            form_urlencoded::byte_serialize(value.as_bytes()).collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_query_string_is_answered_without_panicking(raw in any::<String>()) {
                match list_params(Some(&raw)) {
                    Ok(params) => prop_assert!((0..=LIMIT_MAX).contains(&params.limit) && params.offset >= 0),
                    Err(violations) => prop_assert!(!violations.is_empty()),
                }
            }

            #[test]
            fn query_like_strings_are_answered_without_panicking(
                raw in "[a-z_=&%0-9A-F+.-]{0,80}"
            ) {
                let _ = list_params(Some(&raw));
            }

            #[test]
            fn integers_are_accepted_exactly_in_range_and_echoed(
                limit in prop_oneof![0..=1000i64, any::<i64>()],
                offset in prop_oneof![0..=i64::MAX, any::<i64>()],
                ticket_number in any::<i64>(),
                noise in "[a-z]{1,8}=[a-z0-9]{0,8}",
            ) {
                let raw = format!("{noise}&limit={limit}&offset={offset}&ticket_number={ticket_number}");
                let in_range = (0..=1000).contains(&limit) && offset >= 0;
                match list_params(Some(&raw)) {
                    Ok(params) => {
                        prop_assert!(in_range);
                        prop_assert_eq!(
                            params,
                            ListParams { limit: i32::try_from(limit).unwrap(), offset, ticket_number: Some(ticket_number) }
                        );
                    }
                    Err(violations) => {
                        prop_assert!(!in_range);
                        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
                        prop_assert_eq!(fields.contains(&"limit"), !(0..=1000).contains(&limit));
                        prop_assert_eq!(fields.contains(&"offset"), offset < 0);
                        prop_assert!(!fields.contains(&"ticket_number"));
                    }
                }
            }

            #[test]
            fn a_value_is_accepted_only_when_it_is_a_base_10_integer_in_range(
                value in prop_oneof![any::<String>(), "[-+ 0-9a-z.]{0,24}"],
            ) {
                let parsed = list_params(Some(&format!("limit={}", encoded(&value))));
                let expected = oracle(&value, |v| (0..=1000).contains(&v));
                prop_assert_eq!(parsed.clone().ok().map(|p| i64::from(p.limit)), expected);
                if let Err(violations) = parsed {
                    prop_assert_eq!(violations.len(), 1);
                    prop_assert_eq!(violations[0].field.as_str(), "limit");
                }
                let number = list_params(Some(&format!("ticket_number={}", encoded(&value))));
                prop_assert_eq!(number.ok().and_then(|p| p.ticket_number), oracle(&value, |_| true));
            }

            #[test]
            fn a_parameter_given_twice_is_one_violation(a in any::<i64>(), b in any::<i64>()) {
                let violations = list_params(Some(&format!("offset={a}&offset={b}"))).unwrap_err();
                prop_assert_eq!(violations.len(), 1);
                prop_assert_eq!(violations[0].field.as_str(), "offset");
            }
        }
    }
}
