//! The `ticket_events` table: the provider's event log, written by triggers (see the migration).

use sea_orm::entity::prelude::*;

/// One event row. Only rows with an `id` are ever read: on PostgreSQL an event is staged with
/// none and numbered by the sequencer once its transaction has committed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_events")]
pub(crate) struct Model {
    #[sea_orm(primary_key)]
    pub(crate) seq: i64,
    #[sea_orm(unique)]
    pub(crate) id: Option<i64>,
    pub(crate) provider_id: Uuid,
    #[sea_orm(column_name = "type")]
    pub(crate) kind: String,
    pub(crate) occurred_at: DateTimeUtc,
    pub(crate) ticket_id: Uuid,
    pub(crate) ticket_number: i64,
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
