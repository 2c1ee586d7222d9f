//! Test support for the workspace's tests — a dev-dependency only, never part of a binary.
//!
//! - [`database`]: a throwaway database on SQLite or PostgreSQL (the PostgreSQL half is skipped
//!   with a message when no server answers, and fails instead under `CI=true`), and
//!   [`test_each_backend!`], one test per backend;
//! - [`service`]: a real ticket service on an ephemeral port, in plaintext or over TLS;
//! - [`pki`]: test certificates for mutual TLS, and their rotation;
//! - [`grpc`]: calling it as an internal client does, with valid requests to start from;
//! - [`process`]: the real binaries as child processes: configured, announced, logged, stopped;
//! - [`metrics`]: reading a Prometheus `/metrics` endpoint;
//! - [`redis`]: a throwaway `redis-server` per test (skipped without one, failing under
//!   `CI=true`);
//! - [`browser`]: headless Chromium, cut off from all but loopback, rendering a page (skipped
//!   without one, failing under `CI=true`);
//! - [`tokens`]: the tests' token issuer, which every test service and gateway trusts;
//! - [`wait`]: waiting for a condition with a deadline, never for a fixed time;
//! - [`module_graph`]: the check that a crate's modules import each other without cycles.
//!
//! Setup failures panic: these helpers only run inside tests, where a panic is the failure report.

pub mod browser;
pub mod database;
pub mod grpc;
pub mod metrics;
pub mod module_graph;
pub mod pki;
pub mod process;
pub mod redis;
pub mod service;
pub mod tokens;
pub mod wait;

pub use database::{Backend, TestDb};
pub use grpc::as_provider;
pub use pki::TestPki;
pub use process::ChildProcess;
pub use service::TestService;
pub use wait::{eventually, until_some};
