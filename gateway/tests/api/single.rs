//! `GET /v2/tickets/{pending,in-progress}-tickets/{id}`.

use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{e2e_test, problem, violations};

e2e_test!(a_pending_ticket_is_returned_by_id_in_any_case, |gw| {
    let ticket = gw.ticket(gw.a.provider).await;
    for id in [ticket.id.clone(), ticket.id.to_uppercase()] {
        let response = gw.get(&format!("/v2/tickets/pending-tickets/{id}")).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["id"], ticket.id);
        assert_eq!(body["ticket_number"], ticket.ticket_number);
    }
});

e2e_test!(an_unknown_ticket_is_a_not_found_problem, |gw| {
    let id = Uuid::new_v4();
    let body = problem(gw.get(&format!("/v2/tickets/pending-tickets/{id}")).await, 404).await;
    assert_eq!(body["type"], "/problems/not-found");
    problem(gw.get(&format!("/v2/tickets/in-progress-tickets/{id}")).await, 404).await;
    let pending = gw.ticket(gw.a.provider).await;
    problem(gw.get(&format!("/v2/tickets/in-progress-tickets/{}", pending.id)).await, 404).await;
});

e2e_test!(a_malformed_id_is_a_violation_on_the_path_parameter, |gw| {
    for id in [
        "nope",
        "497f6eca62764993bfeb53cbbbba6f08",
        "%7B497f6eca-6276-4993-bfeb-53cbbbba6f08%7D",
        "%FF%FE",
    ] {
        let fields = violations(gw.get(&format!("/v2/tickets/pending-tickets/{id}")).await).await;
        assert_eq!(fields, ["pending-ticket-id"], "{id}");
        let fields =
            violations(gw.get(&format!("/v2/tickets/in-progress-tickets/{id}")).await).await;
        assert_eq!(fields, ["in-progress-ticket-id"], "{id}");
    }
});
