//! Identifier newtypes, so a ticket id can never be passed where an operator id is expected.

use std::fmt;

use uuid::Uuid;

pub use tickets_contract::rules::parse_uuid;

macro_rules! uuid_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an already-validated UUID.
            #[must_use]
            pub const fn new(id: Uuid) -> Self {
                Self(id)
            }

            /// The UUID inside.
            #[must_use]
            pub const fn get(self) -> Uuid {
                self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = &'static str;

            fn try_from(input: &str) -> Result<Self, Self::Error> {
                parse_uuid(input).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_newtype!(
    /// The provider a caller acts for; every query is scoped by it.
    ProviderId
);
uuid_newtype!(
    /// A ticket, in whatever state.
    TicketId
);
uuid_newtype!(
    /// An employee of a provider (operators included).
    EmployeeId
);
uuid_newtype!(
    /// A customer of a provider.
    CustomerId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_case_uuids_are_accepted_and_displayed_lower_case() {
        let id = TicketId::try_from("497F6ECA-6276-4993-BFEB-53CBBBBA6F08");
        assert_eq!(
            id.map(|id| id.to_string()).as_deref(),
            Ok("497f6eca-6276-4993-bfeb-53cbbbba6f08")
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_string_is_answered_and_only_a_hyphenated_uuid_is_accepted(input in any::<String>()) {
                match TicketId::try_from(input.as_str()) {
                    Ok(id) => {
                        prop_assert_eq!(input.len(), 36);
                        prop_assert_eq!(id.to_string(), input.to_ascii_lowercase());
                    }
                    Err(rule) => prop_assert_eq!(rule, tickets_contract::rules::UUID_RULE),
                }
            }

            #[test]
            fn every_uuid_round_trips_in_either_case(bytes in any::<[u8; 16]>(), upper in any::<bool>()) {
                let id = Uuid::from_bytes(bytes);
                let text = id.hyphenated().to_string();
                let text = if upper { text.to_uppercase() } else { text };
                let parsed = EmployeeId::try_from(text.as_str());
                prop_assert_eq!(parsed, Ok(EmployeeId::new(id)));
                prop_assert_eq!(parsed.map(|p| p.to_string()), Ok(id.hyphenated().to_string()));
            }

            #[test]
            fn other_spellings_and_foreign_characters_are_refused(
                bytes in any::<[u8; 16]>(),
                position in 0..36usize,
                foreign in any::<char>().prop_filter("changes the id", |c| !c.is_ascii_hexdigit() && *c != '-'),
            ) {
                let id = Uuid::from_bytes(bytes);
                for other in [
                    id.simple().to_string(),
                    id.braced().to_string(),
                    id.urn().to_string(),
                    format!(" {}", id.hyphenated()),
                ] {
                    prop_assert!(TicketId::try_from(other.as_str()).is_err(), "{}", other);
                }
                let mut chars: Vec<char> = id.hyphenated().to_string().chars().collect();
                chars[position] = foreign;
                let broken: String = chars.into_iter().collect();
                prop_assert!(TicketId::try_from(broken.as_str()).is_err(), "{}", broken);
            }
        }
    }
}
