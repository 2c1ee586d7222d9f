//! The embedded default under concurrent writers: many clients creating and starting tickets
//! and reading lists at once on one SQLite file must all succeed — a "database is locked" must
//! never reach a client.

use std::time::Duration;

use futures::future::join_all;
use tickets_testing::Backend;
use uuid::Uuid;

use super::{Partner, create_ticket, lost_and_duplicated, operators, report, stored_tickets};
use crate::helpers::TestGateway;

const CLIENTS: usize = 32;
const ROUNDS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_on_sqlite_all_succeed_and_nothing_is_lost() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let partner = Partner::of(&gw, Duration::from_secs(10)).await;
    let provider = gw.a.provider;
    let operators = operators(&gw.service.channel, provider, CLIENTS).await;
    let clients = operators.iter().map(|&operator| {
        let (partner, channel) = (partner.clone(), gw.service.channel.clone());
        tokio::spawn(async move {
            let (mut requests, mut failures, mut mine) = (0, 0, Vec::new());
            for _ in 0..ROUNDS {
                requests += 1;
                let ticket = match create_ticket(&channel, provider).await {
                    Ok(ticket) => ticket,
                    Err(status) => {
                        eprintln!("create failed: {status:?}");
                        failures += 1;
                        continue;
                    }
                };
                // The start, then its retry (another write to the same row).
                for _ in 0..2 {
                    let answer = partner.start(&ticket.id, operator).await;
                    requests += 1;
                    if answer.status != 303 {
                        eprintln!("start: {answer:?}");
                        failures += 1;
                    }
                }
                let page = partner.get("/v2/tickets/pending-tickets?limit=10").await;
                let started =
                    partner.get(&format!("/v2/tickets/in-progress-tickets/{}", ticket.id)).await;
                requests += 2;
                for answer in [&page, &started] {
                    if answer.status != 200 {
                        eprintln!("read: {answer:?}");
                        failures += 1;
                    }
                }
                if started.body["operator_id"] != operator.to_string() {
                    failures += 1;
                }
                mine.push((Uuid::parse_str(&ticket.id).unwrap(), operator));
            }
            (requests, failures, mine)
        })
    });
    let (mut requests, mut failures, mut acknowledged) = (0, 0, Vec::new());
    for client in join_all(clients).await {
        let (r, f, mine) = client.unwrap();
        (requests, failures) = (requests + r, failures + f);
        acknowledged.extend(mine);
    }

    let in_progress = partner.get("/v2/tickets/in-progress-tickets?limit=0").await;
    let pending = partner.get("/v2/tickets/pending-tickets?limit=0").await;
    requests += 2;
    let stored = stored_tickets(&gw.database.url).await;
    let (lost, duplicated) = lost_and_duplicated(&stored, &acknowledged, CLIENTS * ROUNDS);
    report(
        "SQLite, 32 concurrent clients: creates + start-service (+ retry) + lists",
        requests,
        failures,
        lost + duplicated,
    );
    assert_eq!(failures, 0, "no locked database, no 5xx, no UNAVAILABLE");
    assert_eq!(in_progress.body["total"], CLIENTS * ROUNDS);
    assert_eq!(pending.body["total"], 0);
    assert_eq!((lost, duplicated), (0, 0));
}
