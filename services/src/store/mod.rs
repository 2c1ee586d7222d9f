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
pub(crate) mod events;
mod migration;
mod parked;
mod tickets;

pub use connect::{PoolSettings, connect, migrate};
pub(crate) use convert::FromRow;
pub use employees::upsert_employee;
pub use events::hot_statements as hot_event_statements;
pub(crate) use parked::Parked;
pub use tickets::{Started, hot_statements};
pub(crate) use tickets::{create_pending_ticket, get, list, start_service};

pub use sea_orm::DatabaseConnection;
