//! UpsertEmployee.

use tickets_contract::v2;
use uuid::Uuid;

use crate::helpers::{db_test, employee_request, violated_fields};

db_test!(an_employee_is_created_then_replaced, |app| {
    let provider = Uuid::new_v4();
    let id = Uuid::new_v4();
    let created = app.upsert(provider, employee_request(id)).await.unwrap();
    assert_eq!(
        (created.id.as_str(), created.is_operator, created.enabled),
        (id.to_string().as_str(), true, true)
    );
    let changed = v2::UpsertEmployeeRequest {
        family_name: "King".into(),
        role: v2::EmployeeRole::Admin.into(),
        is_operator: false,
        ..employee_request(id)
    };
    let updated = app.upsert(provider, changed).await.unwrap();
    assert_eq!(updated.family_name, "King");
    assert_eq!(updated.role, i32::from(v2::EmployeeRole::Admin));
    assert!(!updated.is_operator);
});

db_test!(an_employee_of_another_provider_cannot_be_taken_over, |app| {
    let id = Uuid::new_v4();
    app.upsert(Uuid::new_v4(), employee_request(id)).await.unwrap();
    let status = app.upsert(Uuid::new_v4(), employee_request(id)).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["id"]);
});

db_test!(a_username_is_unique_within_a_provider, |app| {
    let provider = Uuid::new_v4();
    let first = employee_request(Uuid::new_v4());
    app.upsert(provider, first.clone()).await.unwrap();
    let second = v2::UpsertEmployeeRequest {
        username: first.username.clone(),
        ..employee_request(Uuid::new_v4())
    };
    let status = app.upsert(provider, second.clone()).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["username"]);
    let elsewhere = app.upsert(Uuid::new_v4(), second).await;
    assert!(elsewhere.is_ok(), "another provider may use the same address");
});

db_test!(every_bad_employee_field_is_reported_at_once, |app| {
    let request = v2::UpsertEmployeeRequest {
        id: "x".into(),
        given_name: String::new(),
        family_name: "a".repeat(256),
        username: "not-an-address".into(),
        role: 0,
        is_operator: true,
        enabled: true,
    };
    let status = app.upsert(Uuid::new_v4(), request).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["id", "given_name", "family_name", "username", "role"]);
});
