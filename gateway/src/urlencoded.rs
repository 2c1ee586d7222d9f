//! `application/x-www-form-urlencoded` input (query strings and the token endpoint's form)
//! decoded into the request types the OpenAPI document is generated from.
//!
//! Every parameter of such a type is a [`Values`]: all the values it was given, so that the
//! type's `TryFrom` can refuse a parameter given twice or empty with a violation instead of
//! keeping one value silently. Unknown parameters are ignored.

use std::{collections::BTreeMap, fmt};

use serde::{
    Deserialize, Deserializer,
    de::{self, DeserializeOwned, IntoDeserializer, SeqAccess, Visitor, value::MapDeserializer},
};

/// Every value one parameter was given, in order (none when it was absent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Values(Vec<String>);

/// Why a parameter has no single usable value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NotSingle {
    /// Given with an empty value.
    Empty,
    /// Given more than once.
    Repeated,
}

impl NotSingle {
    /// The violation message.
    pub(crate) const fn message(self) -> &'static str {
        match self {
            Self::Empty => "must not be empty",
            Self::Repeated => "must be given at most once",
        }
    }
}

impl Values {
    /// Whether the parameter appears in the query at all (even empty).
    pub(crate) fn is_given(&self) -> bool {
        !self.0.is_empty()
    }

    /// The one value given, `Ok(None)` when the parameter was absent.
    ///
    /// # Errors
    /// When it was given empty or more than once.
    pub(crate) fn single(&self) -> Result<Option<&str>, NotSingle> {
        match self.0.as_slice() {
            [] => Ok(None),
            [value] if value.is_empty() => Err(NotSingle::Empty),
            [value] => Ok(Some(value)),
            _ => Err(NotSingle::Repeated),
        }
    }
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValuesVisitor;

        impl<'de> Visitor<'de> for ValuesVisitor {
            type Value = Values;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the values of a form parameter")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Values, A::Error> {
                let mut values = Vec::new();
                while let Some(value) = seq.next_element::<String>()? {
                    values.push(value);
                }
                Ok(Values(values))
            }
        }

        deserializer.deserialize_seq(ValuesVisitor)
    }
}

/// Decodes `input` (percent-decoded leniently: a malformed escape or invalid UTF-8 becomes
/// U+FFFD and so a value no rule accepts) into `T`, whose fields are [`Values`] with
/// `#[serde(default)]`.
///
/// # Errors
/// Only when `T` has a field that is not a [`Values`] (a programming error).
pub(crate) fn decode<T: DeserializeOwned>(input: &[u8]) -> Result<T, de::value::Error> {
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(input) {
        grouped.entry(name.into_owned()).or_default().push(value.into_owned());
    }
    let pairs = grouped.into_iter().map(|(name, values)| (name, values.into_deserializer()));
    T::deserialize(MapDeserializer::new(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize)]
    struct Form {
        #[serde(default)]
        a: Values,
        #[serde(default)]
        b: Values,
    }

    #[test]
    fn every_value_of_a_known_parameter_is_kept_and_unknown_ones_are_ignored() {
        let form: Form = decode(b"a=1&zz=9&a=&b=x%20y").unwrap();
        assert_eq!(form.a, Values(vec!["1".into(), String::new()]));
        assert_eq!(form.a.single(), Err(NotSingle::Repeated));
        assert_eq!(form.b.single(), Ok(Some("x y")));
        let empty: Form = decode(b"").unwrap();
        assert_eq!((empty.a.single(), empty.b.single()), (Ok(None), Ok(None)));
        let blank: Form = decode(b"a=").unwrap();
        assert_eq!(blank.a.single(), Err(NotSingle::Empty));
    }

    #[test]
    fn malformed_escapes_become_a_value_no_rule_accepts() {
        let form: Form = decode(b"a=%FF&b=%zz").unwrap();
        assert_eq!(form.a.single(), Ok(Some("\u{fffd}")));
        assert_eq!(form.b.single(), Ok(Some("%zz")));
    }
}
