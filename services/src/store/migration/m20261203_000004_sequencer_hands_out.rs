//! The sequencer hands out what it numbered (PostgreSQL only; SQLite has no sequencer).
//!
//! - `ticket_events_advance(after_id)` numbers what is staged and returns the events after
//!   `after_id` in the same call: a hub that was poked numbers and reads in one round trip
//!   instead of two.
//! - The sequencer's notification tells the head it numbered up to (it was empty): a hub that
//!   has already read that far — its own numbering, which it reads at once, or another
//!   replica's events it read along with its own — skips the read the notification would cause.
//!
//! The function's text is this migration's own (a migration is never edited once applied):
//! `ticket_events_number()` as m20261202_000003 created it, but for its notification's payload.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

/// The advisory lock that makes one numbering run at a time, across replicas ("tickev"): the
/// one m20261202_000003 takes.
pub(super) const SEQUENCER_LOCK_KEY: i64 = 0x0074_6963_6b65_7476;

/// The payload of this migration's notification: the head the sequencer numbered up to.
pub(super) const HEAD_PAYLOAD: &str = "(head + numbered)::text";

/// `ticket_events_number()` whose notification carries `payload`, an SQL expression.
pub(super) fn sequencer(payload: &str) -> String {
    format!(
        r"CREATE OR REPLACE FUNCTION ticket_events_number() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head bigint;
    numbered bigint;
BEGIN
    PERFORM pg_advisory_xact_lock({SEQUENCER_LOCK_KEY});
    SELECT h.id INTO head FROM ticket_events_head AS h;
    WITH staged AS (
        SELECT seq, row_number() OVER (ORDER BY seq) AS n
        FROM ticket_events WHERE id IS NULL ORDER BY seq LIMIT 1000
    )
    UPDATE ticket_events AS e SET id = head + staged.n
    FROM staged
    WHERE e.seq = staged.seq;
    GET DIAGNOSTICS numbered = ROW_COUNT;
    IF numbered > 0 THEN
        UPDATE ticket_events_head SET id = head + numbered;
        PERFORM pg_notify('ticket_events', {payload});
    END IF;
    RETURN numbered;
END
$$;"
    )
}

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
        on_postgres(manager, &format!("{}\n{ADVANCE}", sequencer(HEAD_PAYLOAD))).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = format!("DROP FUNCTION ticket_events_advance(bigint);\n{}", sequencer("''"));
        on_postgres(manager, &sql).await
    }
}

/// Runs `sql` on PostgreSQL; nothing to do on SQLite.
pub(super) async fn on_postgres(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}
