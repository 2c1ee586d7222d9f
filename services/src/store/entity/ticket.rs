//! The `tickets` table.

use sea_orm::entity::prelude::*;

/// A ticket's state, stored as text so new states need no schema change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub(crate) enum State {
    /// Waiting for an operator.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// An operator is servicing it.
    #[sea_orm(string_value = "in_progress")]
    InProgress,
}

/// One ticket row. `ticket_number` is the primary key because it comes from the database's own
/// sequence (`bigserial` on PostgreSQL, `AUTOINCREMENT` on SQLite), which is what makes it unique
/// and never reused across service replicas; `id` is the public identifier.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tickets")]
pub(crate) struct Model {
    #[sea_orm(primary_key)]
    pub(crate) ticket_number: i64,
    #[sea_orm(unique)]
    pub(crate) id: Uuid,
    pub(crate) provider_id: Uuid,
    pub(crate) state: State,
    pub(crate) created_at: DateTimeUtc,
    pub(crate) customer_id: Uuid,
    pub(crate) vehicle_model_id: i64,
    pub(crate) vin: String,
    pub(crate) connection_id: Option<Uuid>,
    pub(crate) operator_id: Option<Uuid>,
    pub(crate) service_started_at: Option<DateTimeUtc>,
    pub(crate) voucher_code: Option<String>,
    pub(crate) outsourced: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
