//! The sequencer's marker is a value the sequence hands out, not a read of its page (PostgreSQL
//! only).
//!
//! m20261203_000005's floor rises to a *marker*: the highest `seq` handed out when a pass began,
//! which it read with `SELECT last_value FROM ticket_events_seq_seq`. That read is not what the
//! sequence has handed out. `nextval` pre-logs 32 values: on every 32nd call it writes the
//! page's `last_value` as the value 32 ahead into the WAL record and sets it back afterwards,
//! under the page's lock — but a plain `SELECT` from the sequence reads the page's tuple after
//! releasing its lock, so it can read the value ahead. A marker 32 past what was handed out let
//! the floor rise over the next 32 `seq`s before their writers had committed: their events
//! stayed staged below the floor, never numbered, never delivered. Seen as a benchmark run
//! missing the last 32 events of a round (3 runs in about 45), and reproduced with eight
//! writers racing the sequencer (`bench/sequencer-race.sh`): 24 – 30 events stranded in 5 of 21
//! runs of 10 s.
//!
//! A pass that may set a new marker now *takes* one: `nextval` returns a value above every
//! `seq` handed out before it (and the value itself is never an event's). The reasoning of
//! m20261203_000005 holds for it as it was meant to: a writer takes its transaction id before
//! its `seq`, and the pass gets its own during its `nextval` (which assigns one when it logs) or
//! after it, so after every earlier `nextval`: every writer of a `seq` below the marker has a
//! lower transaction id than the pass's. A pass whose marker is still pending
//! does not take one; a pass that may set a new one takes it before it knows whether it will
//! number anything. So the sequence spends at most one value per pass (hundreds a second under
//! load, one a second per idle replica) of a bigint: gaps in `seq` are harmless, it only orders.
//!
//! The floor goes back to 0 and the marker is cleared: whatever the old marker stranded is
//! numbered by the next pass (as new events, after the ones numbered since), and the floor
//! rises again from there.
//!
//! The function's text is this migration's own (a migration is never edited once applied).

use sea_orm_migration::prelude::*;

use super::{
    m20261203_000004_sequencer_hands_out::on_postgres,
    m20261203_000005_sequencer_floor::{sequencer_with_floor, sequencer_with_floor_marker},
};

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

/// How the pass takes its marker now: only when it may set a new one, a value above every `seq`
/// handed out so far. (`nextval` may give the transaction its id; it does so after every earlier
/// writer took its `seq`, so after they took their ids.)
const TAKE_MARKER: &str = "    IF h.marker_xid IS NULL OR h.marker_xid < horizon THEN
        issued := nextval('ticket_events_seq_seq');
    END IF;";

/// `ticket_events_number()` whose marker comes from `nextval`; otherwise m20261203_000005's.
fn sequencer_with_taken_marker() -> String {
    sequencer_with_floor_marker(TAKE_MARKER)
}

/// Back to a scan from the start with no marker: what the old marker may have stranded is
/// staged above a floor of 0.
const RESCUE: &str =
    "UPDATE ticket_events_head SET floor = 0, marker_seq = NULL, marker_xid = NULL;";

/// The marker's reasoning needs a sequence without a per-session cache (its default): a
/// session holding cached values would hand out `seq`s below a marker taken after them.
const NO_CACHE: &str = "ALTER SEQUENCE ticket_events_seq_seq CACHE 1;";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(manager, &format!("{NO_CACHE}\n{}\n{RESCUE}", sequencer_with_taken_marker()))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(manager, &format!("{}\n{RESCUE}", sequencer_with_floor())).await
    }
}
