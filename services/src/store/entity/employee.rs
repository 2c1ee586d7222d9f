//! The `employees` table.

use sea_orm::entity::prelude::*;

/// One employee row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "employees")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: Uuid,
    pub(crate) provider_id: Uuid,
    pub(crate) given_name: String,
    pub(crate) family_name: String,
    pub(crate) username: String,
    /// The role's name (`EmployeeRole::as_str`), as text so a new role needs no migration.
    pub(crate) role: String,
    pub(crate) is_operator: bool,
    pub(crate) enabled: bool,
    pub(crate) updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
