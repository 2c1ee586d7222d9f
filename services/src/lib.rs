//! The ticket service: the tonic `TicketService` and `EmployeeService` over the ticket store.
//!
//! Layers, outermost first: `grpc` (wire types, validation at the edge, status mapping) →
//! `store` (SeaORM queries, scoped to the caller's provider) → the database. `events` is the
//! process's hub of live events, between the store and the watch RPCs. `domain` holds the
//! checked values and the error type that the layers pass between them.

pub mod cli;
pub mod demo;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod metrics;
pub mod store;
