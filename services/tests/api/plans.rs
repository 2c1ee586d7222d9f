//! The hot statements' plans do not depend on statistics (PostgreSQL): right after a bulk load
//! of one provider's backlog, before any `ANALYZE`, the get by id and start-service are lookups
//! on the unique index on `id`, and the list statements use the
//! `(provider, state, created_at, number)` index — never a scan of the table. The same for the
//! event log the load appended to: the hub's reads use the id index, a provider's page the
//! provider's index. And the sequencer's pass costs the same however many events it numbered
//! since the log was last vacuumed.

use std::time::Duration;

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};
use ticket_service::store::{self, PoolSettings};
use uuid::Uuid;

use crate::helpers::{Backend, TestDb};

/// Tickets of the one provider's backlog, loaded at once.
const BACKLOG: u32 = 10_000;

/// How long a condition may take to hold on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(20);

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
        let plan = explain(&db, "", statement).await;
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
        let plan = explain(&db, "", statement).await;
        assert!(!plan.contains("Seq Scan on ticket_events"), "{name} scans the log:\n{plan}");
        let index = match name {
            "events: page" => "ix_ticket_events_provider_id",
            _ => "ticket_events_id_key",
        };
        assert!(plan.contains(index), "{name} does not use {index}:\n{plan}");
    }
}

/// Numbering an event leaves its unnumbered version in the partial index of staged events until
/// VACUUM: a sequencer that scanned that index from its start walked every event numbered since,
/// and the heap pages behind them (an empty pass read 261 buffers after these 10,000; 655 and
/// 5 ms after a few benchmark runs). Its scan starts above a floor instead, once no writer that
/// could still commit below it is open: an empty pass reads about 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sequencer_does_not_walk_the_events_it_numbered() {
    let Some(database) = TestDb::create(Backend::Postgres).await else { return };
    // One connection: the pass measured has its statements planned already, as the hub's has.
    let one = PoolSettings { max_connections: 1, ..PoolSettings::default() };
    let db = store::connect(&database.url, one).unwrap();
    store::migrate(&db).await.unwrap();
    let sql = |text: &str| Statement::from_string(DbBackend::Postgres, text.to_owned());
    db.execute_raw(sql("ALTER TABLE ticket_events SET (autovacuum_enabled = false)"))
        .await
        .unwrap();
    let provider = Uuid::new_v4();
    let insert = |count: u32| {
        format!(
            "INSERT INTO tickets (id, provider_id, state, created_at, customer_id, \
             vehicle_model_id, vin, connection_id, outsourced) \
             SELECT gen_random_uuid(), '{provider}', 'pending', now(), gen_random_uuid(), 1, \
             'WVW' || lpad(g::text, 14, '0'), NULL, false FROM generate_series(1, {count}) g"
        )
    };
    let number_all = || async {
        let mut numbered = 0;
        loop {
            let row = db.query_one_raw(sql("SELECT ticket_events_number()")).await.unwrap();
            match row.unwrap().try_get_by_index::<i64>(0).unwrap() {
                0 => return numbered,
                n => numbered += n,
            }
        }
    };
    db.execute_raw(sql(&insert(BACKLOG))).await.unwrap();
    assert_eq!(number_all().await, i64::from(BACKLOG));

    // The floor rises once no transaction older than a pass's marker is open anywhere in the
    // cluster (other tests' writers are): a few more passes, each numbering one event.
    let db = &db;
    let empty_pass = || explain(db, "(ANALYZE, BUFFERS) ", sql("SELECT ticket_events_number()"));
    let cheap = tickets_testing::wait::eventually(PATIENCE, || async move {
        db.execute_raw(sql(&insert(1))).await.unwrap();
        assert_eq!(number_all().await, 1);
        buffers(&empty_pass().await) <= 12
    })
    .await;
    assert!(cheap, "an empty pass walks what was numbered:\n{}", empty_pass().await);
}

/// The buffers (hit and read) an `EXPLAIN (ANALYZE, BUFFERS)` reports for its top node.
fn buffers(plan: &str) -> u64 {
    let line = plan.lines().find(|line| line.trim_start().starts_with("Buffers:")).unwrap_or("");
    line.split_whitespace()
        .filter_map(|part| part.strip_prefix("hit=").or_else(|| part.strip_prefix("read=")))
        .filter_map(|count| count.parse::<u64>().ok())
        .sum()
}

/// The plan PostgreSQL chooses for `statement` (with `options`, e.g. `"(ANALYZE) "`: what it
/// did), one line per node.
async fn explain(db: &DatabaseConnection, options: &str, statement: Statement) -> String {
    let explain = Statement { sql: format!("EXPLAIN {options}{}", statement.sql), ..statement };
    let rows = db.query_all_raw(explain).await.unwrap();
    let plan: Vec<String> =
        rows.iter().map(|row| row.try_get_by_index::<String>(0).unwrap()).collect();
    plan.join("\n")
}
