//! Creating and reading tickets.

use tickets_contract::v2;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{as_provider, db_test, new_ticket, violated_fields};

db_test!(a_created_ticket_reads_back_with_every_field, |app| {
    let provider = Uuid::new_v4();
    let request = new_ticket();
    let created = app
        .tickets()
        .create_pending_ticket(as_provider(provider, request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.customer_id, request.customer_id);
    assert_eq!(created.vehicle_model_id, 42);
    assert_eq!(created.vin, "JH4KA7630PC007649");
    assert_eq!(created.connection_id, request.connection_id);
    assert!(created.ticket_number > 0);
    assert!(Uuid::try_parse(&created.id).is_ok());
    let created_at = created.created_at.expect("created_at");
    let now = chrono::Utc::now().timestamp();
    assert!((now - created_at.seconds).abs() < 60, "created_at is now");
    assert_eq!(created_at.nanos % 1000, 0, "microsecond precision");

    let read = app
        .tickets()
        .get_pending_ticket(as_provider(provider, v2::GetTicketRequest { id: created.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);
});

db_test!(a_ticket_without_connection_reads_back_without_one, |app| {
    let provider = Uuid::new_v4();
    let request = v2::CreatePendingTicketRequest { connection_id: None, ..new_ticket() };
    let created =
        app.tickets().create_pending_ticket(as_provider(provider, request)).await.unwrap();
    assert_eq!(created.into_inner().connection_id, None);
});

db_test!(a_lower_case_vin_is_stored_upper_case, |app| {
    let request =
        v2::CreatePendingTicketRequest { vin: "jh4ka7630pc007649".into(), ..new_ticket() };
    let created = app.tickets().create_pending_ticket(as_provider(Uuid::new_v4(), request)).await;
    assert_eq!(created.unwrap().into_inner().vin, "JH4KA7630PC007649");
});

db_test!(vins_with_i_o_q_or_wrong_length_are_refused, |app| {
    for vin in [
        "JH4KA7630PC00764I",
        "JH4KA7630PC00764O",
        "JH4KA7630PC00764Q",
        "JH4KA7630PC00764",
        "JH4KA7630PC0076499",
        "",
        "JH4KA7630PC00764*",
    ] {
        let request = v2::CreatePendingTicketRequest { vin: vin.into(), ..new_ticket() };
        let status = app
            .tickets()
            .create_pending_ticket(as_provider(Uuid::new_v4(), request))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["vin"], "{vin:?}");
    }
});

db_test!(every_bad_field_of_a_create_is_reported_at_once, |app| {
    let request = v2::CreatePendingTicketRequest {
        customer_id: "not-a-uuid".into(),
        vehicle_model_id: -1,
        vin: "short".into(),
        connection_id: Some("also-not-a-uuid".into()),
    };
    let status = app
        .tickets()
        .create_pending_ticket(as_provider(Uuid::new_v4(), request))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        ["customer_id", "vehicle_model_id", "vin", "connection_id"]
    );
    let count = app
        .tickets()
        .list_pending_tickets(as_provider(Uuid::new_v4(), v2::ListTicketsRequest::default()))
        .await
        .unwrap();
    assert_eq!(count.into_inner().total, 0, "nothing was stored");
});

db_test!(get_with_an_upper_case_id_finds_the_ticket, |app| {
    let provider = Uuid::new_v4();
    let ticket = app.ticket(provider).await;
    let id = ticket.id.to_uppercase();
    let read =
        app.tickets().get_pending_ticket(as_provider(provider, v2::GetTicketRequest { id })).await;
    assert_eq!(read.unwrap().into_inner().id, ticket.id);
});

db_test!(get_with_a_malformed_id_is_a_violation_on_id, |app| {
    for id in
        ["", "nope", "497f6eca62764993bfeb53cbbbba6f08", "{497f6eca-6276-4993-bfeb-53cbbbba6f08}"]
    {
        let status = app
            .tickets()
            .get_pending_ticket(as_provider(Uuid::new_v4(), v2::GetTicketRequest { id: id.into() }))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["id"], "{id:?}");
        let status = app
            .tickets()
            .get_in_progress_ticket(as_provider(
                Uuid::new_v4(),
                v2::GetTicketRequest { id: id.into() },
            ))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["id"], "{id:?}");
    }
});

db_test!(get_of_an_unknown_ticket_is_not_found, |app| {
    let id = Uuid::new_v4().to_string();
    let status = app
        .tickets()
        .get_pending_ticket(as_provider(Uuid::new_v4(), v2::GetTicketRequest { id: id.clone() }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = app
        .tickets()
        .get_in_progress_ticket(as_provider(Uuid::new_v4(), v2::GetTicketRequest { id }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
});

db_test!(a_pending_ticket_is_not_found_as_in_progress, |app| {
    let provider = Uuid::new_v4();
    let ticket = app.ticket(provider).await;
    let status = app
        .tickets()
        .get_in_progress_ticket(as_provider(provider, v2::GetTicketRequest { id: ticket.id }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
});
