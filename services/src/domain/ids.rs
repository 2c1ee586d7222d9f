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
}
