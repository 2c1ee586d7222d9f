//! The `employees` table, fed by the employee directory.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Employees {
    Table,
    Id,
    ProviderId,
    GivenName,
    FamilyName,
    Username,
    Role,
    IsOperator,
    Enabled,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Employees::Table)
                    .col(ColumnDef::new(Employees::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Employees::ProviderId).uuid().not_null())
                    .col(ColumnDef::new(Employees::GivenName).string_len(255).not_null())
                    .col(ColumnDef::new(Employees::FamilyName).string_len(255).not_null())
                    .col(ColumnDef::new(Employees::Username).string_len(255).not_null())
                    .col(ColumnDef::new(Employees::Role).string_len(32).not_null())
                    .col(ColumnDef::new(Employees::IsOperator).boolean().not_null())
                    .col(ColumnDef::new(Employees::Enabled).boolean().not_null())
                    .col(ColumnDef::new(Employees::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        // A username names one employee within a provider; it also serves lookups by provider.
        manager
            .create_index(
                Index::create()
                    .name("ux_employees_provider_username")
                    .table(Employees::Table)
                    .col(Employees::ProviderId)
                    .col(Employees::Username)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Employees::Table).to_owned()).await
    }
}
