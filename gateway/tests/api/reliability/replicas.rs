//! Several `ticket-service` processes on one PostgreSQL database: operators racing for the same
//! tickets through replicas behind one gateway, ticket numbers from concurrent creates on both,
//! and replicas starting at once on an empty database.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use futures::future::join_all;
use tickets_testing::{Backend, TestDb};
use uuid::Uuid;

use super::{
    Partner, create_ticket, grpc, lost_and_duplicated, operators, process::ServiceProcess, report,
    stored_tickets,
};
use crate::helpers::{Options, TestGateway, calls_answered};

const TICKETS: usize = 200;
const OPERATORS: usize = 8;

/// How many StartService calls `replica` has answered.
async fn starts_served(replica: &ServiceProcess) -> f64 {
    calls_answered(replica.metrics_addr, "StartService").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_start_each_ticket_exactly_once_and_number_tickets_uniquely() {
    let Some(database) = TestDb::create(Backend::Postgres).await else { return };
    let (first, second) = tokio::join!(
        ServiceProcess::spawn(&database.url, None, &[]),
        ServiceProcess::spawn(&database.url, None, &[])
    );
    let options = Options::balanced_over(vec![first.addr, second.addr]);
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
    let partner = Partner::of(&gw, Duration::from_secs(10)).await;
    assert!(partner.wait_ready(200, Duration::from_secs(10)).await, "gateway ready");
    let channels = [grpc(first.addr).await, grpc(second.addr).await];
    let provider = gw.a.provider;
    let operators = operators(&channels[0], provider, OPERATORS).await;
    let mut requests = OPERATORS;
    let mut failures = 0;

    // Concurrent creates, each writer alternating between the replicas.
    let writers = (0..OPERATORS).map(|writer| {
        let channels = channels.clone();
        tokio::spawn(async move {
            let mut made = Vec::new();
            for i in 0..TICKETS / OPERATORS {
                made.push(create_ticket(&channels[(writer + i) % 2], provider).await);
            }
            made
        })
    });
    let mut tickets = Vec::new();
    for made in join_all(writers).await {
        let made = made.unwrap();
        requests += made.len();
        failures += made.iter().filter(|r| r.is_err()).count();
        let numbers: Vec<i64> =
            made.iter().filter_map(|r| r.as_ref().ok()).map(|t| t.ticket_number).collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "one writer's tickets are numbered in creation order across replicas: {numbers:?}"
        );
        tickets.extend(made.into_iter().filter_map(Result::ok));
    }
    let numbers: HashSet<i64> = tickets.iter().map(|t| t.ticket_number).collect();
    assert_eq!((tickets.len(), numbers.len()), (TICKETS, TICKETS), "every create, unique numbers");
    let ids: Vec<String> = tickets.iter().map(|t| t.id.clone()).collect();

    // Every operator tries to start every ticket, all in the same order: real races.
    let race = operators.iter().map(|&operator| {
        let (partner, ids) = (partner.clone(), ids.clone());
        tokio::spawn(async move {
            let mut answers = Vec::new();
            for id in ids {
                let answer = partner.start(&id, operator).await;
                answers.push((id, operator, answer));
            }
            answers
        })
    });
    let mut winners: HashMap<String, Uuid> = HashMap::new();
    for answers in join_all(race).await {
        for (id, operator, answer) in answers.unwrap() {
            requests += 1;
            let expected_location = format!("/v2/tickets/in-progress-tickets/{id}");
            match answer.status {
                303 if answer.location.as_deref() == Some(expected_location.as_str()) => {
                    if winners.insert(id.clone(), operator).is_some() {
                        eprintln!("a second 303 for {id}");
                        failures += 1;
                    }
                }
                409 if answer.body["type"] == "/problems/conflict" => {}
                _ => {
                    eprintln!("unexpected answer in the race: {answer:?}");
                    failures += 1;
                }
            }
        }
    }
    assert_eq!(winners.len(), TICKETS, "every ticket has exactly one winner");
    let served = [starts_served(&first).await, starts_served(&second).await];
    assert!(served.iter().all(|n| *n >= 300.0), "both replicas took part in the race: {served:?}");

    // The winner's retry is another 303; anyone else's (every eighth ticket: the race already
    // answered 1,400 of them) a 409.
    let retries = ids.chunks(TICKETS / OPERATORS).map(|chunk| {
        let (partner, chunk) = (partner.clone(), chunk.to_vec());
        let winners: Vec<Uuid> = chunk.iter().map(|id| winners[id]).collect();
        let operators = operators.clone();
        tokio::spawn(async move {
            let (mut sent, mut wrong) = (0, 0);
            for (i, (id, winner)) in chunk.iter().zip(winners).enumerate() {
                sent += 1;
                wrong += usize::from(partner.start(id, winner).await.status != 303);
                if i % 8 == 0 {
                    let loser = operators.iter().copied().find(|o| *o != winner).unwrap();
                    sent += 1;
                    wrong += usize::from(partner.start(id, loser).await.status != 409);
                }
            }
            (sent, wrong)
        })
    });
    for retried in join_all(retries).await {
        let (sent, wrong) = retried.unwrap();
        (requests, failures) = (requests + sent, failures + wrong);
    }

    // Later creates get larger numbers, whichever replica makes them.
    let highest = numbers.iter().copied().max().unwrap();
    let later_first = create_ticket(&channels[0], provider).await.unwrap().ticket_number;
    let later_second = create_ticket(&channels[1], provider).await.unwrap().ticket_number;
    requests += 2;
    assert!(
        highest < later_first && later_first < later_second,
        "{highest} {later_first} {later_second}"
    );

    // The database holds exactly the winners, and REST says the same.
    let stored = stored_tickets(&database.url).await;
    let acknowledged: Vec<(Uuid, Uuid)> =
        winners.iter().map(|(id, operator)| (id.parse().unwrap(), *operator)).collect();
    let (lost, duplicated) = lost_and_duplicated(&stored, &acknowledged, TICKETS + 2);
    let listed = partner.get("/v2/tickets/in-progress-tickets?limit=1000").await;
    let pending = partner.get("/v2/tickets/pending-tickets?limit=0").await;
    requests += 2;
    assert_eq!((listed.status, listed.body["total"].as_u64()), (200, Some(TICKETS as u64)));
    assert_eq!(pending.body["total"], 2);
    for ticket in listed.body["result"].as_array().unwrap() {
        let id = ticket["id"].as_str().unwrap();
        assert_eq!(ticket["operator_id"], winners[id].to_string(), "REST shows the winner");
    }

    report(
        "multi-replica exactly-once: 2 service processes, PostgreSQL, 8 operators × 200 tickets + concurrent creates",
        requests,
        failures,
        lost + duplicated,
    );
    assert_eq!((failures, lost, duplicated), (0, 0, 0));
}

/// The timestamps of `replica`'s log lines that contain `text`.
fn timestamps(replica: &ServiceProcess, text: &str) -> Vec<String> {
    replica
        .logs()
        .iter()
        .filter(|line| line.contains(text))
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|entry| entry["timestamp"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_at_once_on_an_empty_database_migrate_exactly_once() {
    let Some(database) = TestDb::create(Backend::Postgres).await else { return };
    let mut replicas =
        join_all((0..4).map(|_| ServiceProcess::spawn(&database.url, None, &[]))).await;
    // Each replica listens only once its migrations are done (spawn waited for that).
    let applied: Vec<usize> = replicas
        .iter()
        .map(|r| r.logs().iter().filter(|l| l.contains("Applying migration '")).count())
        .collect();
    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    let (recorded,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM seaql_migrations").fetch_one(&pool).await.unwrap();
    pool.close().await;
    let applying: Vec<_> = applied.iter().filter(|n| **n > 0).collect();
    assert_eq!(applying.len(), 1, "exactly one replica applies the migrations: {applied:?}");
    assert_eq!(*applying[0] as i64, recorded, "each migration applied and recorded once");
    // The others waited for the lock and only then found nothing left to do: after the last
    // migration was recorded (the log timestamps share the host's clock and format).
    let applier = applied.iter().position(|n| *n > 0).unwrap();
    let done = timestamps(&replicas[applier], "has been applied").into_iter().max().unwrap();
    let found_nothing: Vec<_> = replicas
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != applier)
        .map(|(_, r)| timestamps(r, "No pending migrations").into_iter().next())
        .collect();
    assert!(
        found_nothing.iter().all(|at| at.as_ref().is_some_and(|at| *at >= done)),
        "the others found nothing left to do, after {done}: {found_nothing:?}"
    );

    let provider = Uuid::new_v4();
    let mut failures = 0;
    for replica in &replicas {
        failures += usize::from(create_ticket(&grpc(replica.addr).await, provider).await.is_err());
    }
    for replica in &mut replicas {
        failures += usize::from(!replica.terminate().await);
    }
    report(
        "startup race: 4 service processes migrating one empty PostgreSQL database",
        8,
        failures,
        0,
    );
    assert_eq!(failures, 0, "every replica serves, and exits 0 on SIGTERM");
}
