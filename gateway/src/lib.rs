//! The partner-facing REST gateway: the `/v2` API, served by calling the ticket service over
//! gRPC, behind OAuth2 client credentials and API keys.
//!
//! A request passes, in order: `middleware` (request id, span and access log, CORS via `cors`,
//! compression, metrics, limits, `ETag`s via `conditional`, the problem safety net) → the `auth::Caller` extractor (credentials, rate limit) → a thin
//! handler in `routes` that parses with `params`/`body`, makes one call through `upstream`, and
//! converts with `model`. Every failure becomes a `problem`. `router` assembles it all over the
//! shared `state`; `server` runs it; `cli` reads the configuration.

pub mod auth;
mod body;
pub mod cli;
mod conditional;
mod cors;
mod events;
mod limits;
mod metrics;
mod middleware;
mod model;
mod openapi;
mod params;
mod problem;
mod router;
mod routes;
mod server;
mod state;
pub mod upstream;
mod urlencoded;

pub use cors::{AllowedOrigins, BadOrigin};
pub use events::StreamSettings;
pub use server::{Gateway, HttpSettings, Listeners, Timeouts};
