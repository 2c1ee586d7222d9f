//! Input rules that both the gateway (REST) and the service (gRPC) enforce. The service is the
//! authority; the gateway checks the same rules first so that it can report every violation of a
//! request at once, before any call. Keeping them here keeps the two sides from drifting.

use uuid::Uuid;

/// Largest page size a caller may ask for.
pub const LIMIT_MAX: i32 = 1000;

/// Page size when the caller names none.
pub const LIMIT_DEFAULT: i32 = 25;

/// The violation message for a page size out of bounds.
pub const LIMIT_RULE: &str = "must be an integer between 0 and 1000";

/// The violation message for a negative offset.
pub const OFFSET_RULE: &str = "must be an integer greater than or equal to 0";

/// The violation message for an id that is not a UUID.
pub const UUID_RULE: &str = "must be a UUID such as 497f6eca-6276-4993-bfeb-53cbbbba6f08";

/// Parses the canonical hyphenated UUID form (36 characters, any case).
///
/// The simple, braced and URN forms that `Uuid::parse_str` also takes are refused: partners see
/// ids only in the hyphenated form, and accepting several spellings of one id would make logs and
/// caches disagree.
///
/// # Errors
/// [`UUID_RULE`], fit for a field violation.
pub fn parse_uuid(input: &str) -> Result<Uuid, &'static str> {
    if input.len() == 36 { Uuid::try_parse(input).map_err(|_| UUID_RULE) } else { Err(UUID_RULE) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hyphenated_form_in_any_case_is_a_uuid() {
        assert!(parse_uuid("497F6ECA-6276-4993-BFEB-53CBBBBA6F08").is_ok());
        for input in [
            "",
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
