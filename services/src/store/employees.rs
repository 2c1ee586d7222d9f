//! Employee queries.

use chrono::{SubsecRound, Utc};
use sea_orm::{
    ActiveValue::Set,
    DatabaseConnection, DbErr, EntityTrait, SqlErr,
    sea_query::{Alias, Expr, ExprTrait, OnConflict},
};

use super::entity::employee;
use crate::domain::{Employee, EmployeeId, Error, ProviderId};

/// Creates the employee or replaces every field of the existing one.
///
/// The upsert is one statement whose update only applies when the stored row belongs to the
/// same provider, so a provider can never take over (or learn about) another provider's
/// employee by reusing its id.
///
/// # Errors
/// `InvalidArgument` on `id` when the id belongs to another provider's employee, on `username`
/// when another employee of the provider already has it; `Unavailable`.
pub async fn upsert_employee(
    db: &DatabaseConnection,
    employee: Employee,
) -> Result<Employee, Error> {
    let Employee { id, provider_id, given_name, family_name, username, role, is_operator, enabled } =
        employee;
    let row = employee::ActiveModel {
        id: Set(id.get()),
        provider_id: Set(provider_id.get()),
        given_name: Set(given_name.into_inner()),
        family_name: Set(family_name.into_inner()),
        username: Set(username.into_inner()),
        role: Set(role.as_str().to_owned()),
        is_operator: Set(is_operator),
        enabled: Set(enabled),
        updated_at: Set(Utc::now().trunc_subsecs(6)),
    };
    let same_provider = Expr::col((employee::Entity, employee::Column::ProviderId))
        .eq(Expr::col((Alias::new("excluded"), employee::Column::ProviderId)));
    let result = employee::Entity::insert(row)
        .on_conflict(
            OnConflict::column(employee::Column::Id)
                .update_columns([
                    employee::Column::GivenName,
                    employee::Column::FamilyName,
                    employee::Column::Username,
                    employee::Column::Role,
                    employee::Column::IsOperator,
                    employee::Column::Enabled,
                    employee::Column::UpdatedAt,
                ])
                .action_and_where(same_provider)
                .to_owned(),
        )
        .exec_with_returning(db)
        .await;
    match result {
        Ok(row) => from_row(row),
        Err(DbErr::RecordNotInserted | DbErr::RecordNotFound(_)) => {
            Err(Error::violation("id", "is already used by another employee"))
        }
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(Error::violation("username", "is already used by another employee"))
        }
        Err(err) => Err(err.into()),
    }
}

fn from_row(row: employee::Model) -> Result<Employee, Error> {
    let id = row.id;
    let corrupt =
        |what: &str| Error::Internal(format!("stored employee {id} has an invalid {what}"));
    Ok(Employee {
        id: EmployeeId::new(id),
        provider_id: ProviderId::new(row.provider_id),
        given_name: row.given_name.try_into().map_err(|_| corrupt("given name"))?,
        family_name: row.family_name.try_into().map_err(|_| corrupt("family name"))?,
        username: row.username.try_into().map_err(|_| corrupt("username"))?,
        role: row.role.parse().map_err(|_| corrupt("role"))?,
        is_operator: row.is_operator,
        enabled: row.enabled,
    })
}
