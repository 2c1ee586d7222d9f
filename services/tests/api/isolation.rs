//! Tenant isolation: to provider B, provider A's data does not exist.

use tickets_contract::v2;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{db_test, get, start, violated_fields};

db_test!(another_provider_can_neither_see_count_nor_change_a_ticket, |app| {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let a_operator = app.operator(a).await;
    let b_operator = app.operator(b).await;
    let a_ticket = app.ticket(a).await;
    let a_started = app.ticket(a).await;
    app.start_service(a, start(&a_started.id, a_operator)).await.unwrap();

    let get_pending = app.get_pending(b, get(&a_ticket.id)).await;
    assert_eq!(get_pending.unwrap_err().code(), Code::NotFound);
    let get_in_progress = app.get_in_progress(b, get(&a_started.id)).await;
    assert_eq!(get_in_progress.unwrap_err().code(), Code::NotFound);

    let all = v2::ListTicketsRequest::default();
    let list = app.list_pending(b, all.clone()).await.unwrap();
    assert_eq!((list.total, list.result.len()), (0, 0));
    let by_number =
        v2::ListTicketsRequest { ticket_number: Some(a_ticket.ticket_number), ..all.clone() };
    assert_eq!(app.list_pending(b, by_number).await.unwrap().total, 0);
    assert_eq!(app.list_in_progress(b, all.clone()).await.unwrap().total, 0);

    let status = app.start_service(b, start(&a_ticket.id, b_operator)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "B cannot transition A's ticket");

    let a_list = app.list_pending(a, all).await.unwrap();
    assert_eq!(a_list.total, 1, "A's ticket is untouched");
});

db_test!(a_provider_cannot_assign_another_providers_operator, |app| {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let a_operator = app.operator(a).await;
    let b_ticket = app.ticket(b).await;
    let status = app.start_service(b, start(&b_ticket.id, a_operator)).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["operator_id"]);
});
