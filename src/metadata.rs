//! The names of the metadata (HTTP/2 headers) the gateway and the service exchange, defined once.
//! As `&'static str`, which both tonic's metadata maps and `http::HeaderName::from_static` (a
//! `const fn`) take.

/// The provider a call acts for (a UUID).
pub const PROVIDER_ID: &str = "x-provider-id";

/// The id that ties one partner request's log lines together across both binaries; also echoed
/// to the partner.
pub const REQUEST_ID: &str = "x-request-id";

/// The caller's credentials: `Bearer <access token>` (an ES256 JWT).
pub const AUTHORIZATION: &str = "authorization";
