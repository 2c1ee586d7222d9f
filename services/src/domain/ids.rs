//! Identifier newtypes, so a ticket id can never be passed where an operator id is expected.

use std::fmt;

use uuid::Uuid;

/// Parses the canonical hyphenated UUID form (36 characters, any case).
///
/// The simple, braced and URN forms that `Uuid::parse_str` also takes are refused: partners see
/// ids only in the hyphenated form, and accepting several spellings of one id would make logs and
/// caches disagree.
///
/// # Errors
/// A message fit for a field violation.
pub fn parse_uuid(input: &str) -> Result<Uuid, &'static str> {
    if input.len() != 36 {
        return Err("must be a UUID such as 497f6eca-6276-4993-bfeb-53cbbbba6f08");
    }
    Uuid::try_parse(input)
        .map_err(|_| "must be a UUID such as 497f6eca-6276-4993-bfeb-53cbbbba6f08")
}

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

    #[test]
    fn non_hyphenated_forms_and_garbage_are_refused() {
        for input in [
            "",
            "497f6eca627649934bfeb53cbbbba6f08",
            "497f6eca62764993bfeb53cbbbba6f08",
            "{497f6eca-6276-4993-bfeb-53cbbbba6f08}",
            "urn:uuid:497f6eca-6276-4993-bfeb-53cbbbba6f08",
            "497f6eca-6276-4993-bfeb-53cbbbba6f0g",
            "497f6eca+6276-4993-bfeb-53cbbbba6f08",
            "497f6eca-6276-4993-bfeb-53cbbbba6f08 ",
        ] {
            assert!(parse_uuid(input).is_err(), "{input:?}");
        }
    }
}
