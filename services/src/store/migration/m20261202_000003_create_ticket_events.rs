//! The `ticket_events` log (docs/events.md) and the triggers that append to it in the same
//! transaction as every change of a ticket.
//!
//! A trigger, not application code, writes the events: whatever statement changes a ticket —
//! the service's, a migration's, an operator's fix by hand — appends its event in the same
//! transaction, and a retried start-service that changes nothing fires nothing.
//!
//! Ids: SQLite has one writer at a time, so the trigger numbers the event itself (`max(id) +
//! 1` inside the write lock: commit order is id order). PostgreSQL commits concurrently, so a
//! trigger that took a number at insert could make a later id visible before an earlier one;
//! there the trigger leaves `id` NULL and the sequencer (`store::events::advance`)
//! numbers committed events in one short transaction at a time.

use sea_orm_migration::prelude::*;

/// The advisory lock that makes one numbering run at a time, across replicas ("tickev").
const SEQUENCER_LOCK_KEY: i64 = 0x0074_6963_6b65_7476;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum TicketEvents {
    Table,
    Seq,
    Id,
    ProviderId,
    Type,
    OccurredAt,
    TicketId,
    TicketNumber,
    CreatedAt,
    CustomerId,
    VehicleModelId,
    Vin,
    ConnectionId,
    OperatorId,
    ServiceStartedAt,
    VoucherCode,
    Outsourced,
}

/// The ticket columns an event copies, in the order of both column lists below.
const TICKET_COLUMNS: &str = "ticket_id, ticket_number, created_at, customer_id, \
     vehicle_model_id, vin, connection_id, operator_id, service_started_at, voucher_code, outsourced";
const NEW_VALUES: &str = "NEW.id, NEW.ticket_number, NEW.created_at, NEW.customer_id, \
     NEW.vehicle_model_id, NEW.vin, NEW.connection_id, NEW.operator_id, NEW.service_started_at, \
     NEW.voucher_code, NEW.outsourced";

fn postgres_triggers() -> String {
    format!(
        r"
CREATE INDEX ix_ticket_events_unnumbered ON ticket_events (seq) WHERE id IS NULL;
CREATE FUNCTION ticket_events_append() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO ticket_events (provider_id, type, occurred_at, {TICKET_COLUMNS})
        VALUES (NEW.provider_id, 'ticket.created', NEW.created_at, {NEW_VALUES});
    ELSE
        INSERT INTO ticket_events (provider_id, type, occurred_at, {TICKET_COLUMNS})
        VALUES (NEW.provider_id, 'ticket.service-started', NEW.service_started_at, {NEW_VALUES});
    END IF;
    -- No NOTIFY here: a transaction that notifies holds PostgreSQL's notification-queue lock
    -- through its commit, which serialises every writer's commit (start-service fell from
    -- thousands to ~670 a second). The writer's process wakes its own hub instead, and every
    -- hub numbers on a 1 s tick for writers it cannot hear.
    RETURN NULL;
END
$$;
CREATE TRIGGER tickets_created AFTER INSERT ON tickets
    FOR EACH ROW WHEN (NEW.state = 'pending') EXECUTE FUNCTION ticket_events_append();
-- The highest id handed out: one row, written only by the sequencer (under its lock).
CREATE TABLE ticket_events_head (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), id bigint NOT NULL);
INSERT INTO ticket_events_head (id) VALUES (0);
-- The sequencer, in one round trip: each statement of a volatile function takes a fresh
-- snapshot, so the numbering sees every event committed before the lock was granted.
CREATE FUNCTION ticket_events_number() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
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
        PERFORM pg_notify('ticket_events', '');
    END IF;
    RETURN numbered;
END
$$;
CREATE TRIGGER tickets_service_started AFTER UPDATE OF state ON tickets
    FOR EACH ROW WHEN (OLD.state = 'pending' AND NEW.state = 'in_progress')
    EXECUTE FUNCTION ticket_events_append();
"
    )
}

fn sqlite_triggers() -> String {
    let next_id = "(SELECT coalesce(max(id), 0) + 1 FROM ticket_events)";
    format!(
        r"
CREATE TRIGGER tickets_created AFTER INSERT ON tickets
    FOR EACH ROW WHEN NEW.state = 'pending'
BEGIN
    INSERT INTO ticket_events (id, provider_id, type, occurred_at, {TICKET_COLUMNS})
    VALUES ({next_id}, NEW.provider_id, 'ticket.created', NEW.created_at, {NEW_VALUES});
END;
CREATE TRIGGER tickets_service_started AFTER UPDATE OF state ON tickets
    FOR EACH ROW WHEN OLD.state = 'pending' AND NEW.state = 'in_progress'
BEGIN
    INSERT INTO ticket_events (id, provider_id, type, occurred_at, {TICKET_COLUMNS})
    VALUES ({next_id}, NEW.provider_id, 'ticket.service-started', NEW.service_started_at, {NEW_VALUES});
END;
"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TicketEvents::Table)
                    // The order events were staged in (a sequence): what the sequencer numbers by.
                    .col(
                        ColumnDef::new(TicketEvents::Seq)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    // The public id; NULL until numbered (PostgreSQL), and only numbered events
                    // are ever read.
                    .col(ColumnDef::new(TicketEvents::Id).big_integer().null().unique_key())
                    .col(ColumnDef::new(TicketEvents::ProviderId).uuid().not_null())
                    .col(ColumnDef::new(TicketEvents::Type).string_len(32).not_null())
                    .col(
                        ColumnDef::new(TicketEvents::OccurredAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // The ticket as the change left it: a copy, so the event never changes.
                    .col(ColumnDef::new(TicketEvents::TicketId).uuid().not_null())
                    .col(ColumnDef::new(TicketEvents::TicketNumber).big_integer().not_null())
                    .col(
                        ColumnDef::new(TicketEvents::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(TicketEvents::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(TicketEvents::VehicleModelId).big_integer().not_null())
                    .col(ColumnDef::new(TicketEvents::Vin).string_len(17).not_null())
                    .col(ColumnDef::new(TicketEvents::ConnectionId).uuid().null())
                    .col(ColumnDef::new(TicketEvents::OperatorId).uuid().null())
                    .col(
                        ColumnDef::new(TicketEvents::ServiceStartedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(TicketEvents::VoucherCode).string_len(64).null())
                    .col(ColumnDef::new(TicketEvents::Outsourced).boolean().not_null())
                    .to_owned(),
            )
            .await?;
        // A provider's feed: `provider_id = ? AND id > ? ORDER BY id`.
        manager
            .create_index(
                Index::create()
                    .name("ix_ticket_events_provider_id")
                    .table(TicketEvents::Table)
                    .col(TicketEvents::ProviderId)
                    .col(TicketEvents::Id)
                    .to_owned(),
            )
            .await?;
        let triggers = match manager.get_database_backend() {
            sea_orm::DbBackend::Postgres => postgres_triggers(),
            _ => sqlite_triggers(),
        };
        manager.get_connection().execute_unprepared(&triggers).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let drop = match manager.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                "DROP TRIGGER tickets_created ON tickets; \
                 DROP TRIGGER tickets_service_started ON tickets; \
                 DROP FUNCTION ticket_events_append(); \
                 DROP FUNCTION ticket_events_number(); \
                 DROP TABLE ticket_events_head;"
            }
            _ => "DROP TRIGGER tickets_created; DROP TRIGGER tickets_service_started;",
        };
        manager.get_connection().execute_unprepared(drop).await?;
        manager.drop_table(Table::drop().table(TicketEvents::Table).to_owned()).await
    }
}
