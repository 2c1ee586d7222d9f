//! Vehicle identification numbers.

use std::fmt;

/// A VIN: exactly 17 characters of `A-H J-N P R-Z 0-9`, stored upper case.
///
/// I, O and Q are excluded by ISO 3779 because they read as 1 and 0; a VIN containing them is a
/// typo, never a real vehicle, so it is refused rather than corrected.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Vin(String);

/// Why a string is not a VIN, in words fit for a field violation.
const VIN_RULE: &str =
    "must be exactly 17 characters of A-H, J-N, P, R-Z and 0-9 (I, O and Q are never valid)";

impl Vin {
    /// The upper-case VIN.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    const fn is_vin_char(c: u8) -> bool {
        matches!(c, b'A'..=b'H' | b'J'..=b'N' | b'P' | b'R'..=b'Z' | b'0'..=b'9')
    }
}

impl TryFrom<&str> for Vin {
    type Error = &'static str;

    fn try_from(input: &str) -> Result<Self, Self::Error> {
        let upper = input.to_ascii_uppercase();
        if upper.len() == 17 && upper.bytes().all(Self::is_vin_char) {
            Ok(Self(upper))
        } else {
            Err(VIN_RULE)
        }
    }
}

impl fmt::Display for Vin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_vin_is_kept_upper_case() {
        assert_eq!(
            Vin::try_from("jh4ka7630pc007649").map(|v| v.to_string()).as_deref(),
            Ok("JH4KA7630PC007649")
        );
    }

    #[test]
    fn i_o_and_q_wrong_lengths_and_other_characters_are_refused() {
        for input in [
            "",
            "JH4KA7630PC00764",
            "JH4KA7630PC0076490",
            "JH4KA7630PC00764I",
            "JH4KA7630PC00764O",
            "JH4KA7630PC00764Q",
            "JH4KA7630PC00764-",
            "JH4KA7630PC00764 ",
            "JH4KA7630PC00764é",
        ] {
            assert!(Vin::try_from(input).is_err(), "{input:?}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// A valid VIN, and a run of VIN characters of any length.
        const VALID: &str = "[A-HJ-NPR-Z0-9]{17}";
        const ANY_LENGTH: &str = "[A-HJ-NPR-Z0-9]{0,40}";

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_string_is_answered_and_only_17_vin_characters_are_accepted(input in any::<String>()) {
                let expected = input.len() == 17
                    && input.to_ascii_uppercase().bytes().all(Vin::is_vin_char);
                match Vin::try_from(input.as_str()) {
                    Ok(vin) => {
                        prop_assert!(expected);
                        prop_assert_eq!(vin.as_str(), input.to_ascii_uppercase());
                    }
                    Err(rule) => {
                        prop_assert!(!expected);
                        prop_assert_eq!(rule, VIN_RULE);
                    }
                }
            }

            #[test]
            fn every_valid_vin_parses_in_any_case_and_is_kept_upper_case(
                vin in VALID,
                lower in prop::collection::vec(any::<bool>(), 17),
            ) {
                let mixed: String = vin
                    .chars()
                    .zip(lower)
                    .map(|(c, lower)| if lower { c.to_ascii_lowercase() } else { c })
                    .collect();
                let parsed = Vin::try_from(mixed.as_str());
                prop_assert_eq!(parsed.as_ref().map(Vin::as_str), Ok(vin.as_str()));
                prop_assert_eq!(parsed.map(|v| v.to_string()), Ok(vin));
            }

            #[test]
            fn one_forbidden_character_anywhere_is_refused(
                vin in VALID,
                position in 0..17usize,
                forbidden in prop_oneof![
                    prop::sample::select(vec!['I', 'O', 'Q', 'i', 'o', 'q']),
                    any::<char>().prop_filter("not a VIN character", |c| {
                        !c.is_ascii_alphanumeric()
                    }),
                ],
            ) {
                let mut chars: Vec<char> = vin.chars().collect();
                chars[position] = forbidden;
                let input: String = chars.into_iter().collect();
                prop_assert!(Vin::try_from(input.as_str()).is_err(), "{:?}", input);
            }

            #[test]
            fn any_other_length_is_refused(vin in ANY_LENGTH) {
                prop_assert_eq!(Vin::try_from(vin.as_str()).is_ok(), vin.len() == 17);
            }
        }
    }
}
