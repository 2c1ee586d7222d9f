//! Listing: the effective-value echo, paging, ordering, filtering and bounds.

use tickets_contract::v2;
use uuid::Uuid;

use crate::helpers::{db_test, violated_fields};

db_test!(an_empty_list_echoes_the_defaults, |app| {
    let page = app.list_pending(Uuid::new_v4(), v2::ListTicketsRequest::default()).await.unwrap();
    assert_eq!((page.limit, page.offset, page.ticket_number, page.total), (25, 0, None, 0));
    assert!(page.result.is_empty());
});

db_test!(pages_are_oldest_first_and_total_ignores_paging, |app| {
    let provider = Uuid::new_v4();
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(app.ticket(provider).await);
    }
    let mut seen = Vec::new();
    for offset in [0, 3, 6] {
        let request =
            v2::ListTicketsRequest { limit: Some(3), offset: Some(offset), ticket_number: None };
        let page = app.list_pending(provider, request).await.unwrap();
        assert_eq!((page.limit, page.offset, page.total), (3, offset, 7));
        seen.extend(page.result);
    }
    assert_eq!(seen, created, "every ticket once, in creation order");
});

db_test!(limit_zero_answers_only_the_total, |app| {
    let provider = Uuid::new_v4();
    app.ticket(provider).await;
    app.ticket(provider).await;
    let request = v2::ListTicketsRequest { limit: Some(0), ..Default::default() };
    let page = app.list_pending(provider, request).await.unwrap();
    assert_eq!((page.limit, page.result.len(), page.total), (0, 0, 2));
});

db_test!(an_offset_past_the_end_is_an_empty_page, |app| {
    let provider = Uuid::new_v4();
    app.ticket(provider).await;
    let request = v2::ListTicketsRequest { offset: Some(i64::MAX), ..Default::default() };
    let page = app.list_pending(provider, request).await.unwrap();
    assert_eq!((page.offset, page.result.len(), page.total), (i64::MAX, 0, 1));
});

db_test!(the_ticket_number_filter_is_applied_and_echoed, |app| {
    let provider = Uuid::new_v4();
    app.ticket(provider).await;
    let wanted = app.ticket(provider).await;
    let by_number =
        |number| v2::ListTicketsRequest { ticket_number: Some(number), ..Default::default() };
    let page = app.list_pending(provider, by_number(wanted.ticket_number)).await.unwrap();
    assert_eq!(page.ticket_number, Some(wanted.ticket_number));
    assert_eq!((page.total, page.result), (1, vec![wanted]));

    let page = app.list_pending(provider, by_number(-5)).await.unwrap();
    assert_eq!((page.ticket_number, page.total), (Some(-5), 0));
});

db_test!(the_largest_limit_is_accepted, |app| {
    let request = v2::ListTicketsRequest { limit: Some(1000), ..Default::default() };
    let page = app.list_pending(Uuid::new_v4(), request).await.unwrap();
    assert_eq!(page.limit, 1000);
});

db_test!(out_of_range_paging_is_reported_field_by_field, |app| {
    let cases = [
        (Some(1001), None, vec!["limit"]),
        (Some(-1), None, vec!["limit"]),
        (None, Some(-1), vec!["offset"]),
        (Some(i32::MAX), Some(i64::MIN), vec!["limit", "offset"]),
    ];
    for (limit, offset, fields) in cases {
        let request = v2::ListTicketsRequest { limit, offset, ticket_number: None };
        let statuses = [
            app.list_pending(Uuid::new_v4(), request).await.unwrap_err(),
            app.list_in_progress(Uuid::new_v4(), request).await.unwrap_err(),
        ];
        for status in statuses {
            assert_eq!(violated_fields(&status), fields);
        }
    }
});
