//! The partner-facing REST gateway: the `/v2` contract of CONTRACT §2, served by calling the
//! ticket service over gRPC, behind the security of CONTRACT §4.
//!
//! Request path: middleware (limits, timeout, problem safety net) → authentication and rate
//! limit (`auth`) → a thin handler per route (`routes`) that parses with `params`/`body`, makes
//! one call through `upstream`, and converts with `model`. Failures become problems
//! (`problem`) through the shared code table.

mod app;
pub mod auth;
pub mod balance;
mod body;
pub mod cli;
mod metrics;
mod model;
mod observe;
mod openapi;
mod params;
mod problem;
mod routes;
mod upstream;

pub use app::{Gateway, HttpSettings};
