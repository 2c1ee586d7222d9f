//! Integration tests: the real server on an ephemeral port, called over the network with tonic
//! clients, on SQLite and on PostgreSQL (each test its own database).
#![expect(clippy::unwrap_used, reason = "a test fails by panicking on an unexpected result")]

mod helpers;

mod architecture;

mod callers;
mod concurrency;
mod employees;
mod errors;
mod events;
mod isolation;
mod list;
mod migrations;
mod parked;
mod plans;
mod server;
mod shutdown;
mod start_service;
mod tickets;
mod tls;
