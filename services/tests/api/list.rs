//! Listing: the effective-value echo, paging, ordering, filtering and bounds.

use tickets_contract::v2;
use uuid::Uuid;

use crate::helpers::{db_test, start, violated_fields};

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
            v2::ListTicketsRequest { limit: Some(3), offset: Some(offset), ..Default::default() };
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
        let request = v2::ListTicketsRequest { limit, offset, ..Default::default() };
        let statuses = [
            app.list_pending(Uuid::new_v4(), request.clone()).await.unwrap_err(),
            app.list_in_progress(Uuid::new_v4(), request).await.unwrap_err(),
        ];
        for status in statuses {
            assert_eq!(violated_fields(&status), fields);
        }
    }
});

/// A page of `limit` pending tickets of `provider` after the cursor `after`.
fn after(limit: i32, after: Option<String>) -> v2::ListTicketsRequest {
    v2::ListTicketsRequest { limit: Some(limit), after, ..Default::default() }
}

db_test!(a_cursor_walk_sees_every_ticket_once_in_order, |app| {
    let provider = Uuid::new_v4();
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(app.ticket(provider).await);
    }
    let (mut seen, mut cursor, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = app.list_pending(provider, after(3, cursor.clone())).await.unwrap();
        assert_eq!((page.limit, page.offset, page.total), (3, 0, 7));
        assert_eq!(page.after, cursor, "the cursor applied is echoed");
        pages += 1;
        seen.extend(page.result);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "every ticket once, in creation order");

    // A page that ends exactly at the last ticket says so: no next.
    let page = app.list_pending(provider, after(7, None)).await.unwrap();
    assert_eq!((page.result.len(), page.next), (7, None));
    let page = app.list_pending(provider, after(0, None)).await.unwrap();
    assert_eq!((page.result.len(), page.next, page.total), (0, None, 7));
});

db_test!(a_cursor_neither_skips_nor_repeats_when_the_queue_is_consumed, |app| {
    let provider = Uuid::new_v4();
    let operator = app.operator(provider).await;
    let mut created = Vec::new();
    for _ in 0..9 {
        created.push(app.ticket(provider).await);
    }
    let first = app.list_pending(provider, after(3, None)).await.unwrap();
    assert_eq!(first.result, created[..3]);
    for ticket in &first.result {
        app.start_service(provider, start(&ticket.id, operator)).await.unwrap();
    }
    // An offset now skips tickets 4–6 ...
    let by_offset =
        v2::ListTicketsRequest { limit: Some(3), offset: Some(3), ..Default::default() };
    let skipped = app.list_pending(provider, by_offset).await.unwrap();
    assert_eq!(skipped.result, created[6..]);
    // ... the cursor does not.
    let second = app.list_pending(provider, after(3, first.next)).await.unwrap();
    assert_eq!(second.result, created[3..6]);
    assert_eq!(second.total, 6);

    // The in-progress list pages by its own cursors.
    let in_progress = app.list_in_progress(provider, after(2, None)).await.unwrap();
    assert_eq!(in_progress.result.len(), 2);
    let rest = app.list_in_progress(provider, after(2, in_progress.next.clone())).await.unwrap();
    assert_eq!((rest.result.len(), rest.next), (1, None));
    // ... and refuses the other list's.
    let foreign = app.list_pending(provider, after(2, in_progress.next)).await.unwrap_err();
    assert_eq!(violated_fields(&foreign), ["after"]);
});

db_test!(bad_and_conflicting_cursors_are_violations, |app| {
    let provider = Uuid::new_v4();
    for _ in 0..2 {
        app.ticket(provider).await;
    }
    let next = app.list_pending(provider, after(1, None)).await.unwrap().next;
    let mut edited = next.clone().unwrap();
    edited.replace_range(5..6, if &edited[5..6] == "A" { "B" } else { "A" });
    for bad in ["", "nope", &edited, &"A".repeat(30)] {
        let status = app.list_pending(provider, after(1, Some(bad.to_owned()))).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["after"], "{bad:?}");
    }
    let both = v2::ListTicketsRequest { offset: Some(0), after: next, ..Default::default() };
    let status = app.list_pending(provider, both).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["offset"]);
});
