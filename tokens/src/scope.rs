//! Rights: the `scope` claim of a token, and the `scopes` of a client.

use std::fmt;

/// One right a token can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// List, read and watch tickets.
    TicketsRead,
    /// Start service on a ticket.
    TicketsWrite,
    /// Open tickets.
    TicketsCreate,
    /// Push employees from the directory.
    EmployeesWrite,
    /// Act for any provider, named per call (internal services only).
    ProvidersAny,
}

impl Scope {
    /// Every scope, in their canonical order.
    pub const ALL: [Self; 5] = [
        Self::TicketsRead,
        Self::TicketsWrite,
        Self::TicketsCreate,
        Self::EmployeesWrite,
        Self::ProvidersAny,
    ];

    /// The scope's name in a `scope` claim or parameter.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TicketsRead => "tickets:read",
            Self::TicketsWrite => "tickets:write",
            Self::TicketsCreate => "tickets:create",
            Self::EmployeesWrite => "employees:write",
            Self::ProvidersAny => "providers:any",
        }
    }

    const fn bit(self) -> u8 {
        match self {
            Self::TicketsRead => 1,
            Self::TicketsWrite => 1 << 1,
            Self::TicketsCreate => 1 << 2,
            Self::EmployeesWrite => 1 << 3,
            Self::ProvidersAny => 1 << 4,
        }
    }

    fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == name)
    }
}

/// A set of rights.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

/// A scope name this system does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown scope {0:?} (known: tickets:read, tickets:write, tickets:create, employees:write, providers:any)"
)]
pub struct UnknownScope(pub String);

impl Scopes {
    /// No right at all.
    pub const NONE: Self = Self(0);

    /// What a partner client may do unless its entry says otherwise: read tickets and start
    /// service on them.
    pub const PARTNER_DEFAULT: Self = Self(Scope::TicketsRead.bit() | Scope::TicketsWrite.bit());

    /// The set holding exactly `scopes`.
    #[must_use]
    pub fn of(scopes: &[Scope]) -> Self {
        Self(scopes.iter().fold(0, |bits, scope| bits | scope.bit()))
    }

    /// Parses a space-separated list, refusing any name it does not know (a clients file, the
    /// token endpoint's `scope` parameter).
    ///
    /// # Errors
    /// The first unknown name.
    pub fn parse(text: &str) -> Result<Self, UnknownScope> {
        text.split_ascii_whitespace().try_fold(Self::NONE, |scopes, name| {
            Scope::named(name)
                .map(|scope| scopes.with(scope))
                .ok_or_else(|| UnknownScope(name.to_owned()))
        })
    }

    /// Parses a `scope` claim, ignoring names this system does not know (an external issuer's
    /// tokens may carry rights of other systems).
    #[must_use]
    pub fn from_claim(text: &str) -> Self {
        text.split_ascii_whitespace().filter_map(Scope::named).fold(Self::NONE, Self::with)
    }

    /// This set with `scope` added.
    #[must_use]
    pub const fn with(self, scope: Scope) -> Self {
        Self(self.0 | scope.bit())
    }

    /// Whether the set holds `scope`.
    #[must_use]
    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether every right of `self` is also in `other`.
    #[must_use]
    pub const fn is_subset_of(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// The rights both sets hold.
    #[must_use]
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Whether the set is empty.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes of the set, in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |scope| self.contains(*scope))
    }
}

impl fmt::Display for Scopes {
    /// Space-separated, canonical order: the `scope` claim's form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_parses_into_its_set_and_prints_canonically() {
        let scopes = Scopes::parse("tickets:write  providers:any tickets:read").unwrap();
        assert_eq!(scopes.to_string(), "tickets:read tickets:write providers:any");
        assert_eq!(Scopes::parse(""), Ok(Scopes::NONE));
        assert_eq!(Scopes::parse(&scopes.to_string()), Ok(scopes));
    }

    #[test]
    fn an_unknown_name_is_refused_in_configuration_and_ignored_in_a_claim() {
        assert_eq!(Scopes::parse("tickets:read openid"), Err(UnknownScope("openid".into())));
        assert_eq!(Scopes::from_claim("openid tickets:read"), Scopes::of(&[Scope::TicketsRead]));
    }

    #[test]
    fn subsets_and_intersections() {
        let partner = Scopes::PARTNER_DEFAULT;
        let read = Scopes::of(&[Scope::TicketsRead]);
        assert!(read.is_subset_of(partner) && !partner.is_subset_of(read));
        assert!(Scopes::NONE.is_subset_of(read));
        assert_eq!(partner.intersection(read), read);
        assert!(!partner.contains(Scope::ProvidersAny));
    }
}
