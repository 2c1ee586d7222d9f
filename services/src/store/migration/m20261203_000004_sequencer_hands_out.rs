//! The sequencer hands out what it numbered (PostgreSQL only; SQLite has no sequencer).
//!
//! - `ticket_events_advance(after_id)` numbers what is staged and returns the events after
//!   `after_id` in the same call: a hub that was poked numbers and reads in one round trip
//!   instead of two.
//! - The sequencer's notification tells the head it numbered up to (it was empty): a hub that
//!   has already read that far — its own numbering, which it reads at once, or another
//!   replica's events it read along with its own — skips the read the notification would cause.

use sea_orm_migration::prelude::*;

use super::m20261202_000003_create_ticket_events::sequencer;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

/// Numbers, then reads the window of ids the hub's own read covers (`store::events::since`:
/// the next 1,000 ids, an index range whatever the statistics). The rows reach the caller
/// before the transaction commits, but the call completes only once it has: the hub hands out
/// nothing before the call has returned.
const ADVANCE: &str = r"
CREATE FUNCTION ticket_events_advance(after_id bigint) RETURNS SETOF ticket_events
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM ticket_events_number();
    RETURN QUERY SELECT * FROM ticket_events AS e
        WHERE e.id > after_id AND e.id <= after_id + 1000 ORDER BY e.id;
END
$$;";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if !is_postgres(manager) {
            return Ok(());
        }
        let sql = format!("{}\n{ADVANCE}", sequencer("(head + numbered)::text"));
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if !is_postgres(manager) {
            return Ok(());
        }
        let sql = format!("DROP FUNCTION ticket_events_advance(bigint);\n{}", sequencer("''"));
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }
}

fn is_postgres(manager: &SchemaManager<'_>) -> bool {
    manager.get_database_backend() == sea_orm::DbBackend::Postgres
}
