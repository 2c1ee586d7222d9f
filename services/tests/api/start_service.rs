//! StartService: the transition, its idempotent retry, and the check order.

use tickets_contract::v2;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{TestApp, db_test, get, start, violated_fields};

/// A provider, an enabled operator of it and a pending ticket of it.
async fn operator_and_ticket(app: &TestApp) -> (Uuid, Uuid, v2::PendingTicket) {
    let provider = Uuid::new_v4();
    let operator = app.operator(provider).await;
    (provider, operator, app.ticket(provider).await)
}

db_test!(starting_service_moves_the_ticket_to_in_progress, |app| {
    let (provider, operator, ticket) = operator_and_ticket(&app).await;
    let started = app.start_service(provider, start(&ticket.id, operator)).await.unwrap();
    assert_eq!(started.id, ticket.id);
    assert_eq!(started.ticket_number, ticket.ticket_number);
    assert_eq!(started.created_at, ticket.created_at);
    assert_eq!(started.vin, ticket.vin);
    assert_eq!(started.operator_id, operator.to_string());
    assert!(started.service_started_at.is_some());
    assert_eq!((started.voucher_code, started.outsourced), (None, false));

    let gone = app.get_pending(provider, get(&ticket.id)).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "it left the pending collection");
    let read = app.get_in_progress(provider, get(&ticket.id)).await.unwrap();
    assert_eq!(read.operator_id, operator.to_string());

    let pending = app.list_pending(provider, v2::ListTicketsRequest::default()).await.unwrap();
    assert_eq!(pending.total, 0);
    let in_progress = app.list_in_progress(provider, Default::default()).await.unwrap();
    assert_eq!((in_progress.limit, in_progress.offset, in_progress.total), (25, 0, 1));
    assert_eq!(in_progress.result[0].id, ticket.id);
});

db_test!(start_service_twice_by_same_operator_is_idempotent, |app| {
    let (provider, operator, ticket) = operator_and_ticket(&app).await;
    let first = app.start_service(provider, start(&ticket.id, operator)).await.unwrap();
    let again = app.start_service(provider, start(&ticket.id, operator)).await.unwrap();
    assert_eq!(first, again, "the retry changes nothing");
});

db_test!(start_service_by_another_operator_after_success_is_a_failed_precondition, |app| {
    let (provider, winner, ticket) = operator_and_ticket(&app).await;
    let other = app.operator(provider).await;
    app.start_service(provider, start(&ticket.id, winner)).await.unwrap();
    let status = app.start_service(provider, start(&ticket.id, other)).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let read = app.get_in_progress(provider, get(&ticket.id)).await.unwrap();
    assert_eq!(read.operator_id, winner.to_string(), "the winner keeps the ticket");
});

db_test!(an_unknown_ticket_is_not_found_before_the_operator_is_checked, |app| {
    let unknown_ticket = Uuid::new_v4().to_string();
    let unknown_operator = Uuid::new_v4();
    let request = start(&unknown_ticket, unknown_operator);
    let status = app.start_service(Uuid::new_v4(), request).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
});

db_test!(operators_that_cannot_be_assigned_are_violations_on_operator_id, |app| {
    let provider = Uuid::new_v4();
    let disabled = app.employee(provider, true, false).await;
    let not_operator = app.employee(provider, false, true).await;
    let foreign = app.operator(Uuid::new_v4()).await;
    let unknown = Uuid::new_v4();
    let ticket = app.ticket(provider).await;
    for operator in [disabled, not_operator, foreign, unknown] {
        let status = app.start_service(provider, start(&ticket.id, operator)).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["operator_id"]);
    }
    let still_pending = app.get_pending(provider, get(&ticket.id)).await;
    assert!(still_pending.is_ok(), "nothing changed");
});

db_test!(an_invalid_operator_is_reported_before_the_state, |app| {
    let (provider, winner, ticket) = operator_and_ticket(&app).await;
    app.start_service(provider, start(&ticket.id, winner)).await.unwrap();
    let status = app.start_service(provider, start(&ticket.id, Uuid::new_v4())).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["operator_id"]);
});

db_test!(malformed_ids_are_both_reported, |app| {
    let request =
        v2::StartServiceRequest { pending_ticket_id: "x".into(), operator_id: "y".into() };
    let status = app.start_service(Uuid::new_v4(), request).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["pending_ticket_id", "operator_id"]);
});

db_test!(an_upper_case_ticket_id_starts_service, |app| {
    let (provider, operator, ticket) = operator_and_ticket(&app).await;
    let request = v2::StartServiceRequest {
        pending_ticket_id: ticket.id.to_uppercase(),
        operator_id: operator.to_string().to_uppercase(),
    };
    let started = app.start_service(provider, request).await.unwrap();
    assert_eq!(started.id, ticket.id);
});
