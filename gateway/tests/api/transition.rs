//! `PATCH /v2/tickets/pending-tickets/{id}`: the start-service transition.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{e2e_test, problem, start_service, violations};

e2e_test!(start_service_answers_303_to_the_in_progress_ticket, |gw| {
    let operator = gw.operator(gw.a.provider).await;
    let ticket = gw.ticket(gw.a.provider).await;
    let response = gw
        .patch_json(&format!("/v2/tickets/pending-tickets/{}", ticket.id), &start_service(operator))
        .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/v2/tickets/in-progress-tickets/{}", ticket.id));
    assert!(response.bytes().await.unwrap().is_empty(), "empty body");

    let followed = gw.get(&location).await;
    assert_eq!(followed.status(), 200, "the 303 target resolves");
    let body: Value = followed.json().await.unwrap();
    assert_eq!(body["operator_id"], operator.to_string());
    problem(gw.get(&format!("/v2/tickets/pending-tickets/{}", ticket.id)).await, 404).await;
});

e2e_test!(repeating_a_successful_start_is_another_303, |gw| {
    let operator = gw.operator(gw.a.provider).await;
    let ticket = gw.ticket(gw.a.provider).await;
    let path = format!("/v2/tickets/pending-tickets/{}", ticket.id);
    assert_eq!(gw.patch_json(&path, &start_service(operator)).await.status(), 303);
    let again = gw
        .patch_json(
            &path
                .to_uppercase()
                .replace("/V2/TICKETS/PENDING-TICKETS/", "/v2/tickets/pending-tickets/"),
            &start_service(operator),
        )
        .await;
    assert_eq!(again.status(), 303);
    assert_eq!(
        again.headers()["location"],
        format!("/v2/tickets/in-progress-tickets/{}", ticket.id)
    );
});

e2e_test!(another_operator_after_a_start_is_a_conflict, |gw| {
    let first = gw.operator(gw.a.provider).await;
    let second = gw.operator(gw.a.provider).await;
    let ticket = gw.ticket(gw.a.provider).await;
    let path = format!("/v2/tickets/pending-tickets/{}", ticket.id);
    assert_eq!(gw.patch_json(&path, &start_service(first)).await.status(), 303);
    let body = problem(gw.patch_json(&path, &start_service(second)).await, 409).await;
    assert_eq!(body["type"], "/problems/conflict");
});

e2e_test!(an_operator_that_cannot_be_assigned_is_a_violation, |gw| {
    let ticket = gw.ticket(gw.a.provider).await;
    let path = format!("/v2/tickets/pending-tickets/{}", ticket.id);
    let candidates = [
        gw.employee(gw.a.provider, true, false).await,
        gw.employee(gw.a.provider, false, true).await,
        gw.operator(gw.b.provider).await,
        Uuid::new_v4(),
    ];
    for operator in candidates {
        assert_eq!(
            violations(gw.patch_json(&path, &start_service(operator)).await).await,
            ["transition.operator_id"]
        );
    }
});

e2e_test!(checks_come_in_the_contract_order, |gw| {
    let unknown_ticket = format!("/v2/tickets/pending-tickets/{}", Uuid::new_v4());
    // Syntax (400) before existence (404).
    let bad_body = json!({"transition": {"type": "close", "operator_id": "x"}});
    assert_eq!(
        violations(gw.patch_json(&unknown_ticket, &bad_body).await).await,
        ["transition.type", "transition.operator_id"]
    );
    // Existence (404) before the operator (400).
    problem(gw.patch_json(&unknown_ticket, &start_service(Uuid::new_v4())).await, 404).await;
    // The operator (400) before the state (409).
    let operator = gw.operator(gw.a.provider).await;
    let ticket = gw.ticket(gw.a.provider).await;
    let path = format!("/v2/tickets/pending-tickets/{}", ticket.id);
    assert_eq!(gw.patch_json(&path, &start_service(operator)).await.status(), 303);
    assert_eq!(
        violations(gw.patch_json(&path, &start_service(Uuid::new_v4())).await).await,
        ["transition.operator_id"]
    );
});

e2e_test!(a_bad_path_id_and_a_bad_body_are_reported_together, |gw| {
    let body = json!({"transition": {"operator_id": 12}});
    let fields =
        violations(gw.patch_json("/v2/tickets/pending-tickets/not-a-uuid", &body).await).await;
    assert_eq!(fields, ["pending-ticket-id", "transition.type", "transition.operator_id"]);
});

e2e_test!(body_shapes_are_violations_by_dotted_path, |gw| {
    let path = format!("/v2/tickets/pending-tickets/{}", Uuid::new_v4());
    let cases: [(&str, &[&str]); 6] = [
        ("not json", &["body"]),
        ("[1,2]", &["body"]),
        ("{}", &["transition"]),
        (r#"{"transition": "start-service"}"#, &["transition"]),
        (r#"{"transition": {"type": "start-service"}}"#, &["transition.operator_id"]),
        (
            r#"{"transition": {"type": "start-service", "operator_id": "nope"}}"#,
            &["transition.operator_id"],
        ),
    ];
    for (raw, expected) in cases {
        let response = gw.patch_raw(&path, Some("application/json; charset=utf-8"), raw).await;
        assert_eq!(violations(response).await, expected, "{raw}");
    }
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let response = gw.patch_raw(&path, Some("application/json"), deep).await;
    assert_eq!(violations(response).await, ["body"]);
    let response = gw.patch_raw(&path, Some("application/json"), vec![0xff, 0xfe, b'{']).await;
    assert_eq!(violations(response).await, ["body"], "invalid UTF-8");
});

e2e_test!(a_wrong_content_type_is_415_and_a_large_body_413, |gw| {
    let path = format!("/v2/tickets/pending-tickets/{}", Uuid::new_v4());
    let body = serde_json::to_vec(&start_service(Uuid::new_v4())).unwrap();
    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let problem_body =
            problem(gw.patch_raw(&path, content_type, body.clone()).await, 415).await;
        assert_eq!(problem_body["type"], "/problems/unsupported-media-type");
    }
    let large = format!(
        r#"{{"transition":{{"type":"start-service","operator_id":"{}"}},"pad":"{}"}}"#,
        Uuid::new_v4(),
        "x".repeat(64 * 1024)
    );
    let response = gw.patch_raw(&path, Some("application/json"), large).await;
    let problem_body = problem(response, 413).await;
    assert_eq!(problem_body["type"], "/problems/payload-too-large");
});
