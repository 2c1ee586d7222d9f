//! The `tickets` table and the index that keeps one provider's lists cheap.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Tickets {
    Table,
    TicketNumber,
    Id,
    ProviderId,
    State,
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tickets::Table)
                    // The database's own sequence: bigserial/identity on PostgreSQL, AUTOINCREMENT
                    // on SQLite. Either is unique and never reused, whatever the replica count.
                    .col(
                        ColumnDef::new(Tickets::TicketNumber)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Tickets::Id).uuid().not_null().unique_key())
                    .col(ColumnDef::new(Tickets::ProviderId).uuid().not_null())
                    // Text, not a database enum: a later state is a new value, not a migration.
                    .col(ColumnDef::new(Tickets::State).string_len(32).not_null())
                    .col(ColumnDef::new(Tickets::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Tickets::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(Tickets::VehicleModelId).big_integer().not_null())
                    .col(ColumnDef::new(Tickets::Vin).string_len(17).not_null())
                    .col(ColumnDef::new(Tickets::ConnectionId).uuid().null())
                    .col(ColumnDef::new(Tickets::OperatorId).uuid().null())
                    .col(
                        ColumnDef::new(Tickets::ServiceStartedAt).timestamp_with_time_zone().null(),
                    )
                    .col(ColumnDef::new(Tickets::VoucherCode).string_len(64).null())
                    .col(ColumnDef::new(Tickets::Outsourced).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await?;
        // Every list and count is "one provider, one state, oldest first": with the state second,
        // the index range for (provider, 'pending') holds only that provider's pending tickets,
        // so their cost does not grow with millions of tickets in other states or of other
        // providers. The ordering columns let the page be read in index order.
        manager
            .create_index(
                Index::create()
                    .name("ix_tickets_provider_state_created")
                    .table(Tickets::Table)
                    .col(Tickets::ProviderId)
                    .col(Tickets::State)
                    .col(Tickets::CreatedAt)
                    .col(Tickets::TicketNumber)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Tickets::Table).to_owned()).await
    }
}
