//! Statements of the hot paths whose SQL text is built by sea-query once per backend and then
//! reused, with only the values bound per call.
//!
//! Building a statement (the expression tree, then its rendering to text) was 13–16% of the
//! service's CPU per get or start-service, for a text that never changes: the values travel as
//! placeholders. The queries are still written with SeaORM's query builder (typed columns, both
//! dialects); only their rendering is cached. (The database side was already cached: sqlx keeps
//! each text prepared per connection.)
//!
//! The contract of [`CachedSql::statement`]: `build` renders, for the same arguments, the
//! statement whose values are `values`, in order, and whose text does not depend on them. Debug
//! builds — every test — render it on every call and check both, so a query whose text varied
//! with its values, or values listed in another order, fails the tests.

use std::sync::OnceLock;

use sea_orm::{DbBackend, Statement, Value};

/// The SQL text of one statement, per backend.
#[derive(Debug)]
pub(super) struct CachedSql {
    postgres: OnceLock<String>,
    sqlite: OnceLock<String>,
}

impl CachedSql {
    pub(super) const fn new() -> Self {
        Self { postgres: OnceLock::new(), sqlite: OnceLock::new() }
    }

    /// The statement for `values`: the text `build` rendered the first time on this backend,
    /// with `values` bound to its placeholders.
    pub(super) fn statement(
        &self,
        backend: DbBackend,
        values: Vec<Value>,
        build: impl FnOnce() -> Statement,
    ) -> Statement {
        let cell = match backend {
            DbBackend::Postgres => &self.postgres,
            DbBackend::Sqlite => &self.sqlite,
            // Not a backend this service connects to; rendered every time, as before.
            _ => return build(),
        };
        if cfg!(debug_assertions) {
            let built = build();
            let text = cell.get_or_init(|| built.sql.clone());
            assert_eq!(text, &built.sql, "a cached statement's text changed with its values");
            assert_eq!(
                built.values.as_ref().map(|v| v.0.as_slice()).unwrap_or_default(),
                values.as_slice(),
                "a cached statement's values differ from what its query binds: {}",
                built.sql
            );
            return built;
        }
        let text = cell.get_or_init(|| build().sql).clone();
        Statement::from_sql_and_values(backend, text, values)
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{
        ColumnTrait as _, EntityTrait as _, QueryFilter as _, QuerySelect as _, QueryTrait as _,
    };

    use super::*;
    use crate::store::entity::ticket;

    fn by_number(backend: DbBackend, number: i64) -> Statement {
        ticket::Entity::find()
            .filter(ticket::Column::TicketNumber.eq(number))
            .limit(1)
            .build(backend)
    }

    #[test]
    fn the_text_is_rendered_once_and_the_values_bound_each_time() {
        let cached = CachedSql::new();
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            for number in [7, 8] {
                let statement =
                    cached.statement(backend, vec![Value::from(number), Value::from(1u64)], || {
                        by_number(backend, number)
                    });
                assert_eq!(statement.sql, by_number(backend, number).sql);
                assert_eq!(statement.values, by_number(backend, number).values);
            }
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "values differ")]
    fn values_in_another_order_are_caught() {
        let cached = CachedSql::new();
        let _ = cached.statement(
            DbBackend::Postgres,
            vec![Value::from(1u64), Value::from(7i64)],
            || by_number(DbBackend::Postgres, 7),
        );
    }
}
