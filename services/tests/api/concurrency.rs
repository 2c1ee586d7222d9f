//! Behaviour under concurrency: the sequence and the StartService race.

use std::collections::HashSet;

use tickets_contract::v2;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{db_test, new_ticket, start};

db_test!(ticket_numbers_are_unique_and_increasing_under_100_concurrent_creates, |app| {
    let provider = Uuid::new_v4();
    let creates = (0..100).map(|_| app.create(provider, new_ticket()));
    let created: Vec<v2::PendingTicket> = futures::future::join_all(creates)
        .await
        .into_iter()
        .map(|result| result.expect("every create succeeds"))
        .collect();
    let numbers: HashSet<i64> = created.iter().map(|t| t.ticket_number).collect();
    assert_eq!(numbers.len(), 100, "unique");
    let ids: HashSet<&str> = created.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids.len(), 100);

    let highest = numbers.iter().max().copied().unwrap();
    let next = app.ticket(provider).await;
    assert!(next.ticket_number > highest, "a later ticket gets a larger number");

    let all = v2::ListTicketsRequest { limit: Some(1000), ..Default::default() };
    let listed = app.list_pending(provider, all).await.unwrap();
    assert_eq!(listed.total, 101);
});

db_test!(a_start_service_race_has_exactly_one_winner, |app| {
    let provider = Uuid::new_v4();
    let mut operators = Vec::new();
    for _ in 0..5 {
        operators.push(app.operator(provider).await);
    }
    for _round in 0..3 {
        let ticket = app.ticket(provider).await;
        let attempts = (0..40).map(|i| {
            let operator = operators[i % operators.len()];
            let attempt = app.start_service(provider, start(&ticket.id, operator));
            async move { (operator, attempt.await) }
        });
        let results = futures::future::join_all(attempts).await;
        let winners: HashSet<String> = results
            .iter()
            .filter_map(|(_, result)| result.as_ref().ok().map(|t| t.operator_id.clone()))
            .collect();
        assert_eq!(winners.len(), 1, "exactly one operator owns the ticket: {winners:?}");
        let winner = winners.into_iter().next().unwrap();
        for (operator, result) in &results {
            match result {
                Ok(ticket) => {
                    assert_eq!(
                        operator.to_string(),
                        ticket.operator_id,
                        "only the winner succeeds"
                    );
                }
                Err(status) => {
                    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                    assert_ne!(operator.to_string(), winner);
                }
            }
        }
        let retry = start(&ticket.id, winner.parse().unwrap());
        let again = app.start_service(provider, retry).await.expect("the winner's retry succeeds");
        assert_eq!(again.operator_id, winner);
    }
});
