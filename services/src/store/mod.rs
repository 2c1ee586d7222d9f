//! The ticket store: connection setup, migrations and the query functions, over SeaORM.
//!
//! `TICKETS_DATABASE_URL` alone picks the backend: `sqlite:` for the embedded default,
//! `postgres:` for production. Both run the same migrations and the same queries.

mod cached;
mod connect;
mod convert;
mod employees;
mod entity;
mod errors;
mod migration;
mod tickets;

pub use connect::{PoolSettings, connect, migrate};
pub use employees::upsert_employee;
pub use tickets::{
    Started, create_pending_ticket, get_in_progress_ticket, get_pending_ticket,
    list_in_progress_tickets, list_pending_tickets, start_service,
};

pub use sea_orm::DatabaseConnection;
