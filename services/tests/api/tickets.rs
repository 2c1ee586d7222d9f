//! Creating and reading tickets.

use tickets_contract::v2;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::helpers::{TestApp, db_test, get, new_ticket, violated_fields};

/// The statuses of reading `id` as a pending and as an in-progress ticket: both must fail.
async fn both_gets_fail(app: &TestApp, provider: Uuid, id: &str) -> [Status; 2] {
    [
        app.get_pending(provider, get(id)).await.unwrap_err(),
        app.get_in_progress(provider, get(id)).await.unwrap_err(),
    ]
}

db_test!(a_created_ticket_reads_back_with_every_field, |app| {
    let provider = Uuid::new_v4();
    let request = new_ticket();
    let created = app.create(provider, request.clone()).await.unwrap();
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

    let read = app.get_pending(provider, get(&created.id)).await.unwrap();
    assert_eq!(read, created);
});

db_test!(a_ticket_without_connection_reads_back_without_one, |app| {
    let request = v2::CreatePendingTicketRequest { connection_id: None, ..new_ticket() };
    let created = app.create(Uuid::new_v4(), request).await.unwrap();
    assert_eq!(created.connection_id, None);
});

db_test!(a_lower_case_vin_is_stored_upper_case, |app| {
    let request =
        v2::CreatePendingTicketRequest { vin: "jh4ka7630pc007649".into(), ..new_ticket() };
    let created = app.create(Uuid::new_v4(), request).await;
    assert_eq!(created.unwrap().vin, "JH4KA7630PC007649");
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
        let status = app.create(Uuid::new_v4(), request).await.unwrap_err();
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
    let status = app.create(Uuid::new_v4(), request).await.unwrap_err();
    assert_eq!(
        violated_fields(&status),
        ["customer_id", "vehicle_model_id", "vin", "connection_id"]
    );
    let count = app.list_pending(Uuid::new_v4(), v2::ListTicketsRequest::default()).await;
    assert_eq!(count.unwrap().total, 0, "nothing was stored");
});

db_test!(get_with_an_upper_case_id_finds_the_ticket, |app| {
    let provider = Uuid::new_v4();
    let ticket = app.ticket(provider).await;
    let read = app.get_pending(provider, get(&ticket.id.to_uppercase())).await;
    assert_eq!(read.unwrap().id, ticket.id);
});

db_test!(get_with_a_malformed_id_is_a_violation_on_id, |app| {
    for id in
        ["", "nope", "497f6eca62764993bfeb53cbbbba6f08", "{497f6eca-6276-4993-bfeb-53cbbbba6f08}"]
    {
        for status in both_gets_fail(&app, Uuid::new_v4(), id).await {
            assert_eq!(violated_fields(&status), ["id"], "{id:?}");
        }
    }
});

db_test!(get_of_an_unknown_ticket_is_not_found, |app| {
    let id = Uuid::new_v4().to_string();
    for status in both_gets_fail(&app, Uuid::new_v4(), &id).await {
        assert_eq!(status.code(), Code::NotFound);
    }
});

db_test!(a_pending_ticket_is_not_found_as_in_progress, |app| {
    let provider = Uuid::new_v4();
    let ticket = app.ticket(provider).await;
    let status = app.get_in_progress(provider, get(&ticket.id)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
});
