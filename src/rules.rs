//! Input rules that both the gateway (REST) and the service (gRPC) enforce. The service is the
//! authority; the gateway checks the same rules first so that it can report every violation of a
//! request at once, before any call. Each rule is a type that can only hold a valid value
//! ("parse, don't validate"), with the message a caller sees when a value is refused.

use uuid::Uuid;

/// The violation message for a page size out of bounds.
pub const LIMIT_RULE: &str = "must be an integer between 0 and 1000";

/// The violation message for a negative offset.
pub const OFFSET_RULE: &str = "must be an integer greater than or equal to 0";

/// The violation message for an id that is not a UUID.
pub const UUID_RULE: &str = "must be a UUID such as 497f6eca-6276-4993-bfeb-53cbbbba6f08";

/// Page size: 0..=1000, 25 by default. Zero is valid and answers just the total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(u16);

impl Limit {
    /// The largest page a caller may ask for, bounding the work one request can cause.
    pub const MAX: u16 = 1000;
    /// The page size when the caller names none.
    pub const DEFAULT: Self = Self(25);

    /// The page size.
    #[must_use]
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The page size as the `int32` the wire carries.
    #[must_use]
    pub fn as_i32(self) -> i32 {
        i32::from(self.0)
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<i64> for Limit {
    type Error = &'static str;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        u16::try_from(value).ok().filter(|v| *v <= Self::MAX).map(Self).ok_or(LIMIT_RULE)
    }
}

/// Number of tickets to skip: ≥ 0, 0 by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Offset(u64);

impl Offset {
    /// The number of tickets skipped.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The offset as the signed integer the wire and the databases use.
    #[must_use]
    pub fn as_i64(self) -> i64 {
        // Built only from a non-negative i64, so it always fits.
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }
}

impl TryFrom<i64> for Offset {
    type Error = &'static str;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        u64::try_from(value).map(Self).map_err(|_| OFFSET_RULE)
    }
}

/// The violation message for an event page size out of bounds.
pub const EVENT_LIMIT_RULE: &str = "must be an integer between 1 and 1000";

/// The violation message for an event position that is not a non-negative integer.
pub const AFTER_RULE: &str = "must be an event id: an integer greater than or equal to 0";

/// Size of a page of events: 1..=1000, 100 by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventLimit(u16);

impl EventLimit {
    /// The largest page of events a caller may ask for.
    pub const MAX: u16 = 1000;
    /// The page size when the caller names none.
    pub const DEFAULT: Self = Self(100);

    /// The page size.
    #[must_use]
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl Default for EventLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<i64> for EventLimit {
    type Error = &'static str;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        u16::try_from(value)
            .ok()
            .filter(|v| (1..=Self::MAX).contains(v))
            .map(Self)
            .ok_or(EVENT_LIMIT_RULE)
    }
}

/// A position in the event log: the id of the last event a reader has, 0 before the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct EventPosition(i64);

impl EventPosition {
    /// Before the oldest retained event.
    pub const START: Self = Self(0);

    /// The id of the last event read.
    #[must_use]
    pub const fn get(self) -> i64 {
        self.0
    }

    /// The position after the event with id `id`, when it is one (≥ 0).
    #[must_use]
    pub const fn new(id: i64) -> Option<Self> {
        if id >= 0 { Some(Self(id)) } else { None }
    }
}

impl TryFrom<i64> for EventPosition {
    type Error = &'static str;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value).ok_or(AFTER_RULE)
    }
}

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

    #[test]
    fn event_limits_are_one_to_a_thousand_and_positions_not_negative() {
        assert_eq!(EventLimit::try_from(1).map(EventLimit::get), Ok(1));
        assert_eq!(EventLimit::try_from(1000).map(EventLimit::get), Ok(1000));
        for bad in [0, 1001, -1, i64::MAX] {
            assert!(EventLimit::try_from(bad).is_err(), "{bad}");
        }
        assert_eq!(EventPosition::try_from(0), Ok(EventPosition::START));
        assert!(EventPosition::try_from(-1).is_err());
    }

    #[test]
    fn limit_bounds_are_inclusive() {
        assert_eq!(Limit::try_from(0).map(Limit::get), Ok(0));
        assert_eq!(Limit::try_from(1000).map(Limit::get), Ok(1000));
        assert!(Limit::try_from(1001).is_err());
        assert!(Limit::try_from(-1).is_err());
        assert!(Limit::try_from(i64::MAX).is_err());
    }

    #[test]
    fn offset_must_not_be_negative() {
        assert_eq!(Offset::try_from(0).map(Offset::get), Ok(0));
        assert_eq!(Offset::try_from(i64::MAX).map(Offset::as_i64), Ok(i64::MAX));
        assert!(Offset::try_from(-1).is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn a_limit_is_accepted_exactly_in_0_to_1000_and_kept(
                value in prop_oneof![-5..=1005i64, any::<i64>()],
            ) {
                let limit = Limit::try_from(value);
                prop_assert_eq!(limit.is_ok(), (0..=1000).contains(&value));
                if let Ok(limit) = limit {
                    prop_assert_eq!(i64::from(limit.get()), value);
                } else {
                    prop_assert_eq!(limit, Err(LIMIT_RULE));
                }
            }

            #[test]
            fn an_offset_is_accepted_exactly_when_not_negative_and_round_trips(value in any::<i64>()) {
                let offset = Offset::try_from(value);
                prop_assert_eq!(offset.is_ok(), value >= 0);
                if let Ok(offset) = offset {
                    prop_assert_eq!(offset.as_i64(), value);
                    prop_assert_eq!(offset.get(), value.unsigned_abs());
                } else {
                    prop_assert_eq!(offset, Err(OFFSET_RULE));
                }
            }
        }
    }
}
