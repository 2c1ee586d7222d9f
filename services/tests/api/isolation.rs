//! Tenant isolation: to provider B, provider A's data does not exist.

use tickets_contract::v2;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{as_provider, db_test, violated_fields};

db_test!(another_provider_can_neither_see_count_nor_change_a_ticket, |app| {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let a_operator = app.operator(a).await;
    let b_operator = app.operator(b).await;
    let a_ticket = app.ticket(a).await;
    let a_started = app.ticket(a).await;
    app.tickets()
        .start_service(as_provider(
            a,
            v2::StartServiceRequest {
                pending_ticket_id: a_started.id.clone(),
                operator_id: a_operator.to_string(),
            },
        ))
        .await
        .unwrap();

    let get = app
        .tickets()
        .get_pending_ticket(as_provider(b, v2::GetTicketRequest { id: a_ticket.id.clone() }))
        .await;
    assert_eq!(get.unwrap_err().code(), Code::NotFound);
    let get = app
        .tickets()
        .get_in_progress_ticket(as_provider(b, v2::GetTicketRequest { id: a_started.id.clone() }))
        .await;
    assert_eq!(get.unwrap_err().code(), Code::NotFound);

    let list = app
        .tickets()
        .list_pending_tickets(as_provider(b, v2::ListTicketsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((list.total, list.result.len()), (0, 0));
    let by_number = v2::ListTicketsRequest {
        ticket_number: Some(a_ticket.ticket_number),
        ..Default::default()
    };
    let list =
        app.tickets().list_pending_tickets(as_provider(b, by_number)).await.unwrap().into_inner();
    assert_eq!(list.total, 0);
    let list = app
        .tickets()
        .list_in_progress_tickets(as_provider(b, v2::ListTicketsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.total, 0);

    let start = v2::StartServiceRequest {
        pending_ticket_id: a_ticket.id.clone(),
        operator_id: b_operator.to_string(),
    };
    let status = app.tickets().start_service(as_provider(b, start)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "B cannot transition A's ticket");

    let a_list = app
        .tickets()
        .list_pending_tickets(as_provider(a, v2::ListTicketsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a_list.total, 1, "A's ticket is untouched");
});

db_test!(a_provider_cannot_assign_another_providers_operator, |app| {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let a_operator = app.operator(a).await;
    let b_ticket = app.ticket(b).await;
    let start = v2::StartServiceRequest {
        pending_ticket_id: b_ticket.id,
        operator_id: a_operator.to_string(),
    };
    let status = app.tickets().start_service(as_provider(b, start)).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["operator_id"]);
});
