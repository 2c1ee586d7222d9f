//! Tenant isolation end to end: client B (provider B) cannot reach provider A's data.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{TestGateway, e2e_test, problem, start_service, violations};

/// `method path` as client B, with `body` as JSON when given.
async fn as_b(
    gw: &TestGateway,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let request = gw.as_client(&gw.b, method, path).await;
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.unwrap()
}

e2e_test!(provider_b_can_neither_get_list_count_nor_transition_provider_a_tickets, |gw| {
    let a_operator = gw.operator(gw.a.provider).await;
    let b_operator = gw.operator(gw.b.provider).await;
    let a_ticket = gw.ticket(gw.a.provider).await;
    let a_started = gw.ticket(gw.a.provider).await;
    let started_path = format!("/v2/tickets/pending-tickets/{}", a_started.id);
    assert_eq!(gw.patch_json(&started_path, &start_service(a_operator)).await.status(), 303);

    let a_pending = format!("/v2/tickets/pending-tickets/{}", a_ticket.id);
    let a_in_progress = format!("/v2/tickets/in-progress-tickets/{}", a_started.id);
    problem(as_b(&gw, Method::GET, &a_pending, None).await, 404).await;
    problem(as_b(&gw, Method::GET, &a_in_progress, None).await, 404).await;
    for list in [
        "/v2/tickets/pending-tickets".to_owned(),
        "/v2/tickets/in-progress-tickets".to_owned(),
        format!("/v2/tickets/pending-tickets?ticket_number={}", a_ticket.ticket_number),
    ] {
        let body: Value = as_b(&gw, Method::GET, &list, None).await.json().await.unwrap();
        assert_eq!(
            (body["total"].clone(), body["result"].as_array().map(Vec::len)),
            (Value::from(0), Some(0))
        );
    }
    let start = start_service(b_operator);
    problem(as_b(&gw, Method::PATCH, &a_pending, Some(start)).await, 404).await;

    // Nor assign A's operator to B's own ticket.
    let b_ticket = gw.ticket(gw.b.provider).await;
    let b_pending = format!("/v2/tickets/pending-tickets/{}", b_ticket.id);
    let response = as_b(&gw, Method::PATCH, &b_pending, Some(start_service(a_operator))).await;
    assert_eq!(violations(response).await, ["transition.operator_id"]);

    let a_view: Value = gw.get(&a_pending).await.json().await.unwrap();
    assert_eq!(a_view["id"], a_ticket.id, "A's ticket is untouched");

    // A header naming another provider changes nothing: the provider comes from the credentials.
    let response = gw
        .as_client(&gw.b, Method::GET, &a_pending)
        .await
        .header("x-provider-id", gw.a.provider.to_string())
        .send()
        .await
        .unwrap();
    problem(response, 404).await;
});
