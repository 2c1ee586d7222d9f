//! Access tokens as both binaries know them.
//!
//! The gateway issues ES256 JWTs to its clients ([`SigningKey`], [`Claims::issue`]) and
//! verifies what partners present; the ticket service verifies every call's token itself. Both
//! verify the same way ([`Verifier`]): the checks that cost nothing first (size, header,
//! algorithm, a known key), the signature only then, against fixed keys or issuers' published
//! key sets ([`KeySet`]), and a bounded cache of what verified. Rights are the `scope` claim
//! ([`Scopes`]).

pub mod claims;
pub mod keys;
pub mod scope;
pub mod signing;
pub mod verify;

pub use claims::{Audience, Claims, Verified};
pub use keys::{KeySet, RemoteKeys, VerifyingKey};
pub use scope::{Scope, Scopes, UnknownScope};
pub use signing::{KeyError, SigningKey};
pub use verify::{Rejected, Verifier, header_kid};
