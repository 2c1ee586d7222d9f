//! Behaviour under concurrency: the sequence and the StartService race.

use std::collections::HashSet;

use tickets_contract::v2;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{as_provider, db_test, new_ticket};

db_test!(ticket_numbers_are_unique_and_increasing_under_100_concurrent_creates, |app| {
    let provider = Uuid::new_v4();
    let creates = (0..100).map(|_| {
        let mut client = app.tickets();
        async move { client.create_pending_ticket(as_provider(provider, new_ticket())).await }
    });
    let created: Vec<v2::PendingTicket> = futures::future::join_all(creates)
        .await
        .into_iter()
        .map(|result| result.expect("every create succeeds").into_inner())
        .collect();
    let numbers: HashSet<i64> = created.iter().map(|t| t.ticket_number).collect();
    assert_eq!(numbers.len(), 100, "unique");
    let ids: HashSet<&str> = created.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids.len(), 100);

    let highest = numbers.iter().max().copied().unwrap();
    let next = app.ticket(provider).await;
    assert!(next.ticket_number > highest, "a later ticket gets a larger number");

    let all = v2::ListTicketsRequest { limit: Some(1000), ..Default::default() };
    let listed =
        app.tickets().list_pending_tickets(as_provider(provider, all)).await.unwrap().into_inner();
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
            let mut client = app.tickets();
            let operator = operators[i % operators.len()];
            let request = v2::StartServiceRequest {
                pending_ticket_id: ticket.id.clone(),
                operator_id: operator.to_string(),
            };
            async move { (operator, client.start_service(as_provider(provider, request)).await) }
        });
        let results = futures::future::join_all(attempts).await;
        let winners: HashSet<String> = results
            .iter()
            .filter_map(|(_, result)| result.as_ref().ok().map(|t| t.get_ref().operator_id.clone()))
            .collect();
        assert_eq!(winners.len(), 1, "exactly one operator owns the ticket: {winners:?}");
        let winner = winners.into_iter().next().unwrap();
        for (operator, result) in &results {
            match result {
                Ok(ticket) => assert_eq!(
                    operator.to_string(),
                    ticket.get_ref().operator_id,
                    "only the winner succeeds"
                ),
                Err(status) => {
                    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                    assert_ne!(operator.to_string(), winner);
                }
            }
        }
        let retry = v2::StartServiceRequest {
            pending_ticket_id: ticket.id.clone(),
            operator_id: winner.clone(),
        };
        let again = app
            .tickets()
            .start_service(as_provider(provider, retry))
            .await
            .expect("the winner's retry succeeds");
        assert_eq!(again.into_inner().operator_id, winner);
    }
});
