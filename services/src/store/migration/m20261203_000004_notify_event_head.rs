//! The sequencer's notification tells the head it numbered up to (it was empty): a hub that
//! has already read that far — its own numbering, which it reads right away, or another
//! replica's events it read with its own — skips the read the notification would have caused.
//! PostgreSQL only; SQLite has no sequencer.

use sea_orm_migration::prelude::*;

use super::m20261202_000003_create_ticket_events::sequencer;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_sequencer(manager, "(head + numbered)::text").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_sequencer(manager, "''").await
    }
}

async fn replace_sequencer(manager: &SchemaManager<'_>, payload: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    manager.get_connection().execute_unprepared(&sequencer(payload)).await?;
    Ok(())
}
