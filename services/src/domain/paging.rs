//! Paging and filtering of the ticket lists.

use tickets_contract::rules;

/// Page size: 0..=1000, 25 by default. Zero is valid and answers just the total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(u16);

impl Limit {
    /// The largest page a caller may ask for, bounding the work one request can cause.
    pub const MAX: u16 = 1000;
    /// The page size when the caller names none.
    pub const DEFAULT: Self = Self(25);
    const _SAME_AS_CONTRACT: () = assert!(
        Self::MAX as i32 == rules::LIMIT_MAX && Self::DEFAULT.0 as i32 == rules::LIMIT_DEFAULT
    );

    /// The page size.
    #[must_use]
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<i64> for Limit {
    type Error = &'static str;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        u16::try_from(value).ok().filter(|v| *v <= Self::MAX).map(Self).ok_or(rules::LIMIT_RULE)
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
        u64::try_from(value).map(Self).map_err(|_| rules::OFFSET_RULE)
    }
}

/// A validated list request: the effective values, which are also what the response echoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Page size.
    pub limit: Limit,
    /// Tickets skipped.
    pub offset: Offset,
    /// Only the ticket with this number, when set.
    pub ticket_number: Option<i64>,
}

/// One page of a list, with the count of everything that matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The tickets of the page, oldest first.
    pub items: Vec<T>,
    /// All matching tickets of the provider, ignoring limit and offset.
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

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
                    prop_assert_eq!(limit, Err(rules::LIMIT_RULE));
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
                    prop_assert_eq!(offset, Err(rules::OFFSET_RULE));
                }
            }
        }
    }
}
