//! The sequencer's scan starts above what it has numbered (PostgreSQL only).
//!
//! Numbering an event updates its row, and the old version (id still null) stays in the
//! partial index of unnumbered events until VACUUM removes it. Every pass scanned that index
//! from its start, so it walked every event numbered since the last VACUUM: measured, an empty
//! pass read 655 buffers and took 5 ms after a few benchmark runs, and a table vacuumed only
//! at autovacuum's default (a fifth of the log dead) would make each pass walk millions.
//!
//! A floor makes the scan `seq > floor`. The floor may only rise past a `seq` once no event
//! with that `seq` or below can still commit, and an uncommitted event can have any `seq`
//! (the sequence hands `seq`s out at insert, not at commit). What bounds them is the writers'
//! transaction ids: the trigger runs after the ticket's row is written, so a writer has its
//! transaction id before it takes a `seq`. So a pass, before it writes anything, reads the
//! highest `seq` handed out so far (the *marker*), and then takes its own transaction id,
//! which is higher than the id of every writer that took a `seq` up to the marker. A later pass
//! whose snapshot's `xmin` is above that id sees every one of those writers ended: their events
//! are visible to it, and it numbers them (the lowest 1,000 first), so the floor rises to the
//! marker (or to the last `seq` it numbered, when its batch was full). A writer that stays open
//! holds `xmin` down, and the floor waits for it.
//!
//! Its marker was read from the sequence's page, which can show a value ahead of what was handed
//! out: m20261204_000006 takes it with `nextval` instead, and rescues what the old marker
//! stranded.
//!
//! The function's text is this migration's own (a migration is never edited once applied).

use sea_orm_migration::prelude::*;

use super::m20261203_000004_sequencer_hands_out::{
    HEAD_PAYLOAD, SEQUENCER_LOCK_KEY, on_postgres, sequencer,
};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

/// The columns the floor keeps in the head row.
const FLOOR_COLUMNS: &str = "ALTER TABLE ticket_events_head
    ADD COLUMN floor bigint NOT NULL DEFAULT 0,
    ADD COLUMN marker_seq bigint,
    ADD COLUMN marker_xid xid8;";

/// How this migration's pass takes its marker: a read of the sequence's page. (It could pass a
/// `seq` not yet handed out: m20261204_000006 takes it with `nextval` instead, and restores this
/// on the way down.)
const READ_MARKER: &str =
    "    SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END
        INTO issued FROM ticket_events_seq_seq AS s;";

/// `ticket_events_number()` with the floor, as this migration creates it.
pub(super) fn sequencer_with_floor() -> String {
    sequencer_with_floor_marker(READ_MARKER)
}

/// `ticket_events_number()` with the floor — the same numbering, lock and notification as
/// m20261203_000004's — where `take_marker` (PL/pgSQL statements, run after `horizon` is read
/// and before anything is written) sets `issued`, the marker a new floor may rise to.
pub(super) fn sequencer_with_floor_marker(take_marker: &str) -> String {
    format!(
        r"CREATE OR REPLACE FUNCTION ticket_events_number() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    h ticket_events_head%ROWTYPE;
    horizon xid8;
    issued bigint;
    numbered bigint;
    newest bigint;
BEGIN
    PERFORM pg_advisory_xact_lock({SEQUENCER_LOCK_KEY});
    SELECT * INTO h FROM ticket_events_head;
    -- Both read before this transaction writes, so before it has a transaction id.
    horizon := pg_snapshot_xmin(pg_current_snapshot());
{take_marker}
    WITH staged AS (
        SELECT seq, row_number() OVER (ORDER BY seq) AS n
        FROM ticket_events WHERE id IS NULL AND seq > h.floor ORDER BY seq LIMIT 1000
    ), done AS (
        UPDATE ticket_events AS e SET id = h.id + staged.n
        FROM staged
        WHERE e.seq = staged.seq
        RETURNING e.seq
    )
    SELECT count(*), max(done.seq) INTO numbered, newest FROM done;
    IF numbered > 0 THEN
        IF h.marker_xid IS NOT NULL AND h.marker_xid < horizon THEN
            -- Every writer of a seq up to the marker had ended before this pass's snapshot:
            -- this pass numbered all of their events, unless its batch was full.
            h.floor := greatest(h.floor, CASE WHEN numbered < 1000 THEN h.marker_seq
                                              ELSE least(h.marker_seq, newest) END);
            h.marker_xid := NULL;
        END IF;
        IF h.marker_xid IS NULL THEN
            h.marker_seq := issued;
            h.marker_xid := pg_current_xact_id();
        END IF;
        UPDATE ticket_events_head SET id = h.id + numbered, floor = h.floor,
            marker_seq = h.marker_seq, marker_xid = h.marker_xid;
        PERFORM pg_notify('ticket_events', (h.id + numbered)::text);
    END IF;
    RETURN numbered;
END
$$;"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(manager, &format!("{FLOOR_COLUMNS}\n{}", sequencer_with_floor())).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = format!(
            "{}\nALTER TABLE ticket_events_head DROP COLUMN floor, DROP COLUMN marker_seq, \
             DROP COLUMN marker_xid;",
            sequencer(HEAD_PAYLOAD)
        );
        on_postgres(manager, &sql).await
    }
}
