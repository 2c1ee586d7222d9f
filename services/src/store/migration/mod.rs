//! Schema migrations, applied in order and recorded in `seaql_migrations`.
#![expect(
    elided_lifetimes_in_paths,
    reason = "MigrationTrait's async_trait signature elides the SchemaManager lifetime; naming it breaks the impl"
)]

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20261129_000001_create_tickets;
mod m20261129_000002_create_employees;
mod m20261202_000003_create_ticket_events;
mod m20261203_000004_sequencer_hands_out;
mod m20261203_000005_sequencer_floor;
mod m20261204_000006_sequencer_marker;

/// Every migration of the ticket store, oldest first.
#[derive(Debug)]
pub(crate) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_create_tickets::Migration),
            Box::new(m20261129_000002_create_employees::Migration),
            Box::new(m20261202_000003_create_ticket_events::Migration),
            Box::new(m20261203_000004_sequencer_hands_out::Migration),
            Box::new(m20261203_000005_sequencer_floor::Migration),
            Box::new(m20261204_000006_sequencer_marker::Migration),
        ]
    }
}
