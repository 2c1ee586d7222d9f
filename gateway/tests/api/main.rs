//! End-to-end tests: partner HTTP calls → gateway → ticket service (gRPC) → database, on SQLite
//! and on PostgreSQL, each test with its own database and servers.
#![expect(clippy::unwrap_used, reason = "a test fails by panicking on an unexpected result")]

#[path = "../common/mod.rs"]
mod common;
mod helpers;

mod abuse;
mod architecture;

mod balancing;
mod browser;
mod conventions;
mod events;
mod failures;
mod isolation;
mod limits;
mod lists;
mod logs;
mod manifests;
mod metrics;
mod openapi;
mod reliability;
mod rights;
mod security;
mod shutdown;
mod single;
mod tls;
mod transition;
