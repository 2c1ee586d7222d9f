//! `GET /v2/tickets/{pending,in-progress}-tickets`: envelope, echo, paging, violations.

use serde_json::{Value, json};

use crate::helpers::{e2e_test, start_service, violations};

e2e_test!(the_pending_list_echoes_defaults_and_returns_every_field, |gw| {
    let first = gw.ticket(gw.a.provider).await;
    gw.ticket(gw.a.provider).await;
    let response = gw.get("/v2/tickets/pending-tickets").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["query"], json!({"limit": 25, "offset": 0}));
    assert_eq!(body["total"], 2);
    let ticket = &body["result"][0];
    assert_eq!(ticket["id"], first.id);
    assert_eq!(ticket["ticket_number"], first.ticket_number);
    assert_eq!(ticket["vin"], "JH4KA7630PC007649");
    assert_eq!(ticket["vehicle_model_id"], 42);
    assert_eq!(ticket["connection_id"], Value::Null, "present as null");
    let created_at = ticket["created_at"].as_str().unwrap();
    assert!(
        created_at.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(created_at).is_ok(),
        "{created_at}"
    );
    let keys: Vec<&String> = ticket.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
});

e2e_test!(applied_parameters_are_echoed_and_unknown_ones_ignored, |gw| {
    let tickets = [
        gw.ticket(gw.a.provider).await,
        gw.ticket(gw.a.provider).await,
        gw.ticket(gw.a.provider).await,
    ];
    let body: Value = gw
        .get("/v2/tickets/pending-tickets?limit=1&offset=1&sort=desc")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["query"], json!({"limit": 1, "offset": 1}));
    assert_eq!(body["result"].as_array().unwrap().len(), 1);
    assert_eq!(body["result"][0]["id"], tickets[1].id, "oldest first");
    assert_eq!(body["total"], 3);

    let number = tickets[2].ticket_number;
    let body: Value = gw
        .get(&format!("/v2/tickets/pending-tickets?ticket_number={number}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["query"], json!({"limit": 25, "offset": 0, "ticket_number": number}));
    assert_eq!(
        (body["total"].clone(), body["result"][0]["id"].clone()),
        (json!(1), json!(tickets[2].id))
    );

    let body: Value = gw.get("/v2/tickets/pending-tickets?limit=0").await.json().await.unwrap();
    assert_eq!(
        (body["result"].clone(), body["total"].clone()),
        (json!([]), json!(3)),
        "limit=0 answers the true total"
    );
});

e2e_test!(every_bad_parameter_is_reported_at_once, |gw| {
    let fields = violations(
        gw.get("/v2/tickets/pending-tickets?limit=1001&offset=-1&ticket_number=abc").await,
    )
    .await;
    assert_eq!(fields, ["limit", "offset", "ticket_number"]);
    for query in ["limit=", "limit=x", "limit=2.5", "limit=1&limit=2", "limit=-1", "limit=%2B5"] {
        let fields =
            violations(gw.get(&format!("/v2/tickets/in-progress-tickets?{query}")).await).await;
        assert_eq!(fields, ["limit"], "{query}");
    }
});

e2e_test!(the_in_progress_list_has_the_same_contract, |gw| {
    let operator = gw.operator(gw.a.provider).await;
    let ticket = gw.ticket(gw.a.provider).await;
    gw.ticket(gw.a.provider).await;
    let path = format!("/v2/tickets/pending-tickets/{}", ticket.id);
    assert_eq!(gw.patch_json(&path, &start_service(operator)).await.status(), 303);
    let body: Value = gw.get("/v2/tickets/in-progress-tickets").await.json().await.unwrap();
    assert_eq!(body["query"], json!({"limit": 25, "offset": 0}));
    assert_eq!(body["total"], 1);
    let started = &body["result"][0];
    assert_eq!(started["id"], ticket.id);
    assert_eq!(started["operator_id"], operator.to_string());
    assert_eq!(started["voucher_code"], Value::Null);
    assert_eq!(started["outsourced"], false);
    assert!(started["service_started_at"].as_str().unwrap().ends_with('Z'));
    let pending: Value = gw.get("/v2/tickets/pending-tickets").await.json().await.unwrap();
    assert_eq!(pending["total"], 1);
});
