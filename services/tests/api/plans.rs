//! The hot statements' plans do not depend on statistics (PostgreSQL): right after a bulk load
//! of one provider's backlog, before any `ANALYZE`, the get by id and start-service are lookups
//! on the unique index on `id`, and the list statements use the
//! `(provider, state, created_at, number)` index — never a scan of the table.

use sea_orm::{ConnectionTrait as _, DbBackend, Statement};
use ticket_service::store::{self, PoolSettings};
use uuid::Uuid;

use crate::helpers::{Backend, TestDb};

/// Tickets of the one provider's backlog, loaded at once.
const BACKLOG: u32 = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_statements_use_their_index_before_any_analyze() {
    let Some(database) = TestDb::create(Backend::Postgres).await else { return };
    let db = store::connect(&database.url, PoolSettings::default()).unwrap();
    store::migrate(&db).await.unwrap();
    let (provider, operator) = (Uuid::new_v4(), Uuid::new_v4());
    let sql = |text: String| Statement::from_string(DbBackend::Postgres, text);
    // Autovacuum must not analyze the table behind the test's back.
    db.execute_raw(sql("ALTER TABLE tickets SET (autovacuum_enabled = false)".into()))
        .await
        .unwrap();
    db.execute_raw(sql(format!(
        "INSERT INTO employees (id, provider_id, given_name, family_name, username, role, \
         is_operator, enabled, updated_at) VALUES ('{operator}', '{provider}', 'Ada', 'Lovelace', \
         'ada@example.com', 'operator', true, true, now())"
    )))
    .await
    .unwrap();
    db.execute_raw(sql(format!(
        "INSERT INTO tickets (id, provider_id, state, created_at, customer_id, vehicle_model_id, \
         vin, connection_id, outsourced) \
         SELECT gen_random_uuid(), '{provider}', 'pending', now() + g * interval '1 ms', \
         gen_random_uuid(), g % 100, 'WVW' || lpad(g::text, 14, '0'), NULL, false \
         FROM generate_series(1, {BACKLOG}) g"
    )))
    .await
    .unwrap();
    let analyzed = db
        .query_one_raw(sql(
            "SELECT coalesce(last_analyze, last_autoanalyze) IS NULL FROM pg_stat_user_tables \
             WHERE relname = 'tickets'"
                .into(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<bool>(0)
        .unwrap();
    assert!(analyzed, "the table has never been analyzed");
    let ticket = db
        .query_one_raw(sql(format!(
            "SELECT id FROM tickets WHERE provider_id = '{provider}' ORDER BY ticket_number \
             OFFSET {} LIMIT 1",
            BACKLOG / 2
        )))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<Uuid>(0)
        .unwrap();

    for (name, statement) in store::hot_statements(DbBackend::Postgres, provider, ticket, operator)
    {
        let explain = Statement { sql: format!("EXPLAIN {}", statement.sql), ..statement.clone() };
        let rows = db.query_all_raw(explain).await.unwrap();
        let plan: Vec<String> =
            rows.iter().map(|row| row.try_get_by_index::<String>(0).unwrap()).collect();
        let plan = plan.join("\n");
        assert!(!plan.contains("Seq Scan on tickets"), "{name} scans the table:\n{plan}");
        match name {
            "get by id" | "start-service" => {
                assert!(
                    plan.contains("Index Scan using tickets_id_key on tickets"),
                    "{name} is not a lookup on the id:\n{plan}"
                );
                assert!(
                    !plan.contains("ix_tickets_provider_state_created"),
                    "{name} walks the provider's tickets:\n{plan}"
                );
            }
            _ => assert!(
                plan.contains("ix_tickets_provider_state_created"),
                "{name} does not use the list index:\n{plan}"
            ),
        }
        if name == "start-service" {
            assert!(
                plan.contains("Index Scan using employees_pkey on employees"),
                "start-service does not find the operator by its id:\n{plan}"
            );
        }
    }
}
