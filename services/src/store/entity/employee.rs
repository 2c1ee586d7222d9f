//! The `employees` table.

use sea_orm::entity::prelude::*;

/// An employee's role, stored as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub(crate) enum Role {
    #[sea_orm(string_value = "employee")]
    Employee,
    #[sea_orm(string_value = "operator")]
    Operator,
    #[sea_orm(string_value = "senior_operator")]
    SeniorOperator,
    #[sea_orm(string_value = "admin")]
    Admin,
}

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
    pub(crate) role: Role,
    pub(crate) is_operator: bool,
    pub(crate) enabled: bool,
    pub(crate) updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
