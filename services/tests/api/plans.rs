//! The hot statements' plans do not depend on statistics (PostgreSQL): right after a bulk load
//! of one provider's backlog, before any `ANALYZE`, the get by id and start-service are lookups
//! on the unique index on `id`, and the list statements use the
//! `(provider, state, created_at, number)` index — never a scan of the table. The same for the
//! event log the load appended to: the hub's reads use the id index, a provider's page the
//! provider's index.

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};
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
    // Autovacuum must not analyze the tables behind the test's back.
    for table in ["tickets", "ticket_events"] {
        db.execute_raw(sql(format!("ALTER TABLE {table} SET (autovacuum_enabled = false)")))
            .await
            .unwrap();
    }
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
        .query_one_raw(sql("SELECT bool_and(coalesce(last_analyze, last_autoanalyze) IS NULL) \
             FROM pg_stat_user_tables WHERE relname IN ('tickets', 'ticket_events')"
            .into()))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<bool>(0)
        .unwrap();
    assert!(analyzed, "the tables have never been analyzed");
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
        let plan = explain(&db, statement).await;
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

    // The load's events, numbered as the sequencer does (1,000 at a time).
    let mut numbered = 0;
    loop {
        let row = db.query_one_raw(sql("SELECT ticket_events_number()".into())).await.unwrap();
        match row.unwrap().try_get_by_index::<i64>(0).unwrap() {
            0 => break,
            n => numbered += n,
        }
    }
    assert_eq!(numbered, i64::from(BACKLOG), "every ticket of the load appended its event");
    let after = i64::from(BACKLOG / 2);
    for (name, statement) in store::hot_event_statements(DbBackend::Postgres, provider, after) {
        let plan = explain(&db, statement).await;
        assert!(!plan.contains("Seq Scan on ticket_events"), "{name} scans the log:\n{plan}");
        let index = match name {
            "events: page" => "ix_ticket_events_provider_id",
            _ => "ticket_events_id_key",
        };
        assert!(plan.contains(index), "{name} does not use {index}:\n{plan}");
    }
}

/// The plan PostgreSQL chooses for `statement`, one line per node.
async fn explain(db: &DatabaseConnection, statement: Statement) -> String {
    let explain = Statement { sql: format!("EXPLAIN {}", statement.sql), ..statement };
    let rows = db.query_all_raw(explain).await.unwrap();
    let plan: Vec<String> =
        rows.iter().map(|row| row.try_get_by_index::<String>(0).unwrap()).collect();
    plan.join("\n")
}
