//! Provider employees, as pushed by the employee directory.

use super::{EmployeeId, ProviderId};

/// What an employee may do in the service desk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EmployeeRole {
    /// A desk employee.
    Employee,
    /// An operator.
    Operator,
    /// A senior operator.
    SeniorOperator,
    /// An administrator.
    Admin,
}

impl EmployeeRole {
    /// Every role.
    pub const ALL: [Self; 4] = [Self::Employee, Self::Operator, Self::SeniorOperator, Self::Admin];

    /// The role's name, as the contract words it and the store keeps it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Employee => "employee",
            Self::Operator => "operator",
            Self::SeniorOperator => "senior_operator",
            Self::Admin => "admin",
        }
    }
}

impl std::str::FromStr for EmployeeRole {
    type Err = &'static str;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == name)
            .ok_or("must be one of employee, operator, senior_operator, admin")
    }
}

/// A given or family name: 1..=255 characters, not only white space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonName(String);

/// The reading side of a text value checked at construction.
macro_rules! checked_text {
    ($name:ident) => {
        impl $name {
            /// The text as given.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text, moved out.
            #[must_use]
            pub fn into_inner(self) -> String {
                self.0
            }
        }
    };
}

checked_text!(PersonName);
checked_text!(EmailAddress);

impl TryFrom<String> for PersonName {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let chars = value.chars().count();
        if value.trim().is_empty() || chars > 255 {
            Err("must be 1 to 255 characters and not blank")
        } else if value.chars().any(char::is_control) {
            Err("must not contain control characters")
        } else {
            Ok(Self(value))
        }
    }
}

/// An e-mail address used as the employee's username: at most 255 characters, `local@domain`.
///
/// Only the shape is checked (one `@`, both sides non-empty, no white space or control
/// characters): the directory owns the addresses, this service only refuses obvious garbage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress(String);

impl TryFrom<String> for EmailAddress {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let well_formed = value.chars().count() <= 255
            && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(value.split_once('@'), Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
        if well_formed {
            Ok(Self(value))
        } else {
            Err("must be an e-mail address of at most 255 characters")
        }
    }
}

/// An employee of one provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Employee {
    /// Employee identifier (from the directory).
    pub id: EmployeeId,
    /// The provider employing them.
    pub provider_id: ProviderId,
    /// Given name.
    pub given_name: PersonName,
    /// Family name.
    pub family_name: PersonName,
    /// E-mail address; unique within the provider.
    pub username: EmailAddress,
    /// Role.
    pub role: EmployeeRole,
    /// May be assigned to tickets.
    pub is_operator: bool,
    /// Active; a disabled operator cannot be assigned.
    pub enabled: bool,
}

impl Employee {
    /// Whether this employee may be assigned to a ticket right now.
    #[must_use]
    pub const fn can_operate(&self) -> bool {
        self.is_operator && self.enabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_not_be_blank_or_too_long() {
        assert!(PersonName::try_from("Ada".to_owned()).is_ok());
        assert!(PersonName::try_from("é".repeat(255)).is_ok());
        assert!(PersonName::try_from(String::new()).is_err());
        assert!(PersonName::try_from("   ".to_owned()).is_err());
        assert!(PersonName::try_from("a".repeat(256)).is_err());
        assert!(PersonName::try_from("a\nb".to_owned()).is_err());
    }

    #[test]
    fn every_role_reads_back_from_its_name() {
        for role in EmployeeRole::ALL {
            assert_eq!(role.as_str().parse(), Ok(role));
        }
        assert!("Operator".parse::<EmployeeRole>().is_err());
    }

    #[test]
    fn usernames_must_look_like_email_addresses() {
        assert!(EmailAddress::try_from("ada@example.com".to_owned()).is_ok());
        for bad in ["", "ada", "@example.com", "ada@", "a@b@c", "ada @example.com"] {
            assert!(EmailAddress::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
        assert!(EmailAddress::try_from(format!("{}@example.com", "a".repeat(250))).is_err());
    }
}
