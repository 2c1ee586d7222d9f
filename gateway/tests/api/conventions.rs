//! The partner HTTP conventions: cursor paging with `Link`, `ETag`/`304`, compression, CORS.

use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};
use tickets_contract::cursor::{Cursor, CursorList};

use crate::helpers::{Options, TestGateway, e2e_test, start_service, violations};

/// The path and query of a `Link: <…>; rel="next"` header, when there is one.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(header::LINK)?.to_str().expect("ascii link");
    let target = link.strip_prefix('<')?.split_once(">; rel=\"next\"")?.0;
    Some(target.to_owned())
}

/// The ids of a list page's tickets.
fn ids(body: &Value) -> Vec<String> {
    body["result"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().into()).collect()
}

e2e_test!(following_next_links_walks_the_list_exactly_once, |gw| {
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(gw.ticket(gw.a.provider).await.id);
    }
    let (mut seen, mut pages) = (Vec::new(), 0);
    let mut path = "/v2/tickets/pending-tickets?limit=3".to_owned();
    loop {
        let response = gw.get(&path).await;
        assert_eq!(response.status(), 200);
        let next = next_link(response.headers());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["total"], 7, "the total of the whole collection on every page");
        if pages > 0 {
            let after = path.split("after=").nth(1).unwrap();
            assert_eq!(body["query"], json!({"limit": 3, "after": after}), "no offset with after");
        }
        pages += 1;
        seen.extend(ids(&body));
        match next {
            Some(next) => {
                assert!(next.starts_with("/v2/tickets/pending-tickets?limit=3&after="), "{next}");
                path = next;
            }
            None => break,
        }
    }
    assert_eq!((pages, seen), (3, created));
});

e2e_test!(a_cursor_reads_on_where_an_offset_would_skip_consumed_tickets, |gw| {
    let operator = gw.operator(gw.a.provider).await;
    let mut created = Vec::new();
    for _ in 0..9 {
        created.push(gw.ticket(gw.a.provider).await.id);
    }
    // Read 3, start service on those 3 ...
    let first = gw.get("/v2/tickets/pending-tickets?limit=3").await;
    let next = next_link(first.headers()).expect("a next link");
    let body: Value = first.json().await.unwrap();
    assert_eq!(ids(&body), created[..3]);
    for id in &created[..3] {
        let path = format!("/v2/tickets/pending-tickets/{id}");
        assert_eq!(gw.patch_json(&path, &start_service(operator)).await.status(), 303);
    }
    // ... `offset=3` now skips tickets 4–6; the cursor answers exactly them.
    let by_offset: Value =
        gw.get("/v2/tickets/pending-tickets?limit=3&offset=3").await.json().await.unwrap();
    assert_eq!(ids(&by_offset), created[6..]);
    let by_cursor: Value = gw.get(&next).await.json().await.unwrap();
    assert_eq!(ids(&by_cursor), created[3..6]);
    assert_eq!(by_cursor["total"], 6);

    // The in-progress list pages the same way, with its own cursors.
    let in_progress = gw.get("/v2/tickets/in-progress-tickets?limit=2").await;
    let next = next_link(in_progress.headers()).expect("a next link");
    assert!(next.starts_with("/v2/tickets/in-progress-tickets?limit=2&after="), "{next}");
    let rest = gw.get(&next).await;
    assert!(next_link(rest.headers()).is_none(), "the last page has no next");
    assert_eq!(ids(&rest.json().await.unwrap()).len(), 1);
    // A pending cursor is not an in-progress one.
    let after = next.split("after=").nth(1).unwrap();
    let foreign = gw.get(&format!("/v2/tickets/pending-tickets?after={after}")).await;
    assert_eq!(violations(foreign).await, ["after"]);
});

e2e_test!(a_page_that_holds_the_rest_has_no_next_link, |gw| {
    for _ in 0..3 {
        gw.ticket(gw.a.provider).await;
    }
    for query in ["limit=3", "limit=25", "limit=0", "offset=3", "ticket_number=1"] {
        let response = gw.get(&format!("/v2/tickets/pending-tickets?{query}")).await;
        assert_eq!(response.status(), 200);
        assert!(next_link(response.headers()).is_none(), "{query}");
    }
    let response = gw.get("/v2/tickets/pending-tickets?limit=2&offset=0").await;
    assert!(next_link(response.headers()).is_some(), "offset pages link to cursor pages");
});

e2e_test!(bad_and_conflicting_cursors_are_violations, |gw| {
    gw.ticket(gw.a.provider).await;
    gw.ticket(gw.a.provider).await;
    let next = next_link(gw.get("/v2/tickets/pending-tickets?limit=1").await.headers()).unwrap();
    let after = next.split("after=").nth(1).unwrap().to_owned();
    let mut edited = after.clone();
    edited.replace_range(3..4, if &after[3..4] == "A" { "B" } else { "A" });
    for bad in ["", "x", "%FF", &edited, &format!("{after}A"), &"A".repeat(30)] {
        let response = gw.get(&format!("/v2/tickets/pending-tickets?after={bad}")).await;
        assert_eq!(violations(response).await, ["after"], "{bad:?}");
    }
    let twice = gw.get(&format!("/v2/tickets/pending-tickets?after={after}&after={after}")).await;
    assert_eq!(violations(twice).await, ["after"]);
    let both = gw.get(&format!("/v2/tickets/pending-tickets?offset=0&after={after}")).await;
    assert_eq!(violations(both).await, ["offset"]);
    let all = gw.get("/v2/tickets/pending-tickets?limit=x&offset=1&after=nope").await;
    assert_eq!(violations(all).await, ["limit", "offset", "after"]);
    // A cursor with a valid checksum but a timestamp no database holds: refused by the service,
    // named as the REST field.
    let forged =
        Cursor { list: CursorList::Pending, created_at_micros: i64::MAX, ticket_number: 1 };
    let response = gw.get(&format!("/v2/tickets/pending-tickets?after={}", forged.encode())).await;
    assert_eq!(violations(response).await, ["after"]);
});

e2e_test!(a_get_carries_an_etag_and_a_matching_if_none_match_is_a_304, |gw| {
    let ticket = gw.ticket(gw.a.provider).await;
    let list = "/v2/tickets/pending-tickets";
    let first = gw.get(list).await;
    assert_eq!(first.status(), 200);
    let tag = first.headers()[header::ETAG].clone();
    assert!(tag.to_str().unwrap().starts_with("W/\""), "{tag:?}");
    assert_eq!(gw.get(list).await.headers()[header::ETAG], tag, "same page, same tag");

    let conditional = |path: String, tag: String| {
        let gw = &gw;
        async move {
            gw.as_client(&gw.a, reqwest::Method::GET, &path)
                .await
                .header(header::IF_NONE_MATCH, tag)
                .send()
                .await
                .unwrap()
        }
    };
    let tag_text = tag.to_str().unwrap().to_owned();
    let not_modified = conditional(list.into(), tag_text.clone()).await;
    assert_eq!(not_modified.status(), 304);
    assert_eq!(not_modified.headers()[header::ETAG], tag);
    assert!(!not_modified.headers().contains_key(header::CONTENT_TYPE));
    assert!(not_modified.bytes().await.unwrap().is_empty());
    // Strong and listed forms of the same tag match too; another tag does not.
    let strong = tag_text.trim_start_matches("W/").to_owned();
    assert_eq!(conditional(list.into(), format!("\"x\", {strong}")).await.status(), 304);
    assert_eq!(conditional(list.into(), "\"x\"".into()).await.status(), 200);

    // The page changes (a new ticket, so the total too): a new tag, and the old one is a 200.
    gw.ticket(gw.a.provider).await;
    let changed = conditional(list.into(), tag_text.clone()).await;
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()[header::ETAG], tag);
    // limit=0: only the total is in the page, and the tag still follows it.
    let count = gw.get(&format!("{list}?limit=0")).await.headers()[header::ETAG].clone();
    gw.ticket(gw.a.provider).await;
    assert_ne!(gw.get(&format!("{list}?limit=0")).await.headers()[header::ETAG], count);

    // A single ticket, and public documents, are tagged alike.
    let one = format!("{list}/{}", ticket.id);
    let one_tag = gw.get(&one).await.headers()[header::ETAG].to_str().unwrap().to_owned();
    assert_eq!(conditional(one, one_tag).await.status(), 304);
    let document = gw.http.get(gw.url("/v2/openapi.json")).send().await.unwrap();
    assert!(document.headers().contains_key(header::ETAG));
    // Errors are not tagged.
    let missing = gw.get(&format!("{list}/{}", uuid::Uuid::new_v4())).await;
    assert_eq!(missing.status(), 404);
    assert!(!missing.headers().contains_key(header::ETAG));
});

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_304_counts_against_the_quota() {
    let options =
        Options { rate_per_second: 1, rate_burst: 100, daily_quota: 3, ..Options::default() };
    let Some(gw) = TestGateway::start_with(tickets_testing::Backend::Sqlite, options).await else {
        return;
    };
    let token = gw.token(&gw.a).await;
    let get = |tag: Option<String>| {
        let (gw, token) = (&gw, token.clone());
        async move {
            let mut request = gw
                .http
                .get(gw.url("/v2/tickets/pending-tickets"))
                .bearer_auth(token)
                .header("x-api-key", &gw.a.api_key);
            if let Some(tag) = tag {
                request = request.header(header::IF_NONE_MATCH, tag);
            }
            request.send().await.unwrap()
        }
    };
    let first = get(None).await;
    assert_eq!(first.status(), 200);
    let tag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
    for _ in 0..2 {
        let not_modified = get(Some(tag.clone())).await;
        assert_eq!(not_modified.status(), 304);
        assert!(not_modified.headers().contains_key("ratelimit"), "a 304 says where it stands");
    }
    assert_eq!(get(Some(tag)).await.status(), 429, "the two 304s used the quota up");
}

/// A client that asks for `encoding` only and decodes it.
fn client_accepting(encoding: &str) -> reqwest::Client {
    let builder = reqwest::Client::builder().no_gzip().no_brotli().no_zstd();
    let builder = match encoding {
        "gzip" => builder.gzip(true),
        "br" => builder.brotli(true),
        "zstd" => builder.zstd(true),
        _ => builder,
    };
    builder.build().unwrap()
}

e2e_test!(large_answers_are_compressed_as_asked_and_decode_to_the_same_body, |gw| {
    for _ in 0..30 {
        gw.ticket(gw.a.provider).await;
    }
    let token = gw.token(&gw.a).await;
    let fetch = |client: reqwest::Client, path: &'static str, accept: &'static str| {
        let (gw, token) = (&gw, token.clone());
        async move {
            let mut request =
                client.get(gw.url(path)).bearer_auth(token).header("x-api-key", &gw.a.api_key);
            if !accept.is_empty() {
                request = request.header(header::ACCEPT_ENCODING, accept);
            }
            request.send().await.unwrap()
        }
    };
    let list = "/v2/tickets/pending-tickets?limit=30";
    let identity = fetch(client_accepting(""), list, "").await;
    assert!(!identity.headers().contains_key(header::CONTENT_ENCODING));
    let plain = identity.bytes().await.unwrap();
    assert!(plain.len() > 1024, "{}", plain.len());
    for encoding in ["zstd", "br", "gzip"] {
        // What goes over the wire: smaller, and labelled.
        let raw = fetch(client_accepting(""), list, encoding).await;
        assert_eq!(raw.headers()[header::CONTENT_ENCODING], encoding);
        assert!(raw.headers()[header::VARY].to_str().unwrap().contains("accept-encoding"));
        let wire = raw.bytes().await.unwrap();
        assert!(wire.len() < plain.len() / 2, "{encoding}: {} of {}", wire.len(), plain.len());
        // What the client decodes: the same body.
        let decoded = fetch(client_accepting(encoding), list, "").await.bytes().await.unwrap();
        assert_eq!(decoded, plain, "{encoding}");
    }
    // zstd is preferred when everything is allowed; nothing is compressed when nothing is.
    let all = fetch(client_accepting(""), list, "gzip, br, zstd").await;
    assert_eq!(all.headers()[header::CONTENT_ENCODING], "zstd");
    let refused = fetch(client_accepting(""), list, "identity").await;
    assert!(!refused.headers().contains_key(header::CONTENT_ENCODING));
    // A small answer (one ticket, a problem) is sent as it is.
    let small = fetch(client_accepting(""), "/v2/tickets/pending-tickets?limit=1", "gzip").await;
    assert!(!small.headers().contains_key(header::CONTENT_ENCODING));
    assert!(small.bytes().await.unwrap().len() <= 1024);
    let problem = fetch(client_accepting(""), "/v2/tickets/pending-tickets?limit=x", "gzip").await;
    assert!(!problem.headers().contains_key(header::CONTENT_ENCODING));
});

/// A gateway that lets browsers on `origin` call it.
async fn with_cors(origin: &str) -> Option<TestGateway> {
    let options = Options { cors: origin.parse().unwrap(), ..Options::default() };
    TestGateway::start_with(tickets_testing::Backend::Sqlite, options).await
}

/// A CORS preflight from `origin` for a GET with `Authorization` and `x-api-key`.
async fn preflight(gw: &TestGateway, origin: &str, path: &str) -> reqwest::Response {
    gw.http
        .request(reqwest::Method::OPTIONS, gw.url(path))
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization,x-api-key,if-none-match")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn allowed_origins_get_preflights_and_exposed_headers_others_nothing() {
    let allowed = "https://partner.example";
    let Some(gw) = with_cors(&format!("{allowed},http://localhost:3000")).await else { return };
    let answer = preflight(&gw, allowed, "/v2/tickets/pending-tickets").await;
    assert_eq!(answer.status(), 204);
    let headers = answer.headers();
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], allowed);
    let methods = headers[header::ACCESS_CONTROL_ALLOW_METHODS].to_str().unwrap().to_owned();
    for method in ["GET", "PATCH"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed_headers =
        headers[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap().to_ascii_lowercase();
    for name in ["authorization", "x-api-key", "content-type", "if-none-match", "last-event-id"] {
        assert!(allowed_headers.contains(name), "{allowed_headers}");
    }
    assert!(headers.contains_key(header::ACCESS_CONTROL_MAX_AGE));

    // The call itself: the origin allowed, the headers partners read exposed.
    let token = gw.token(&gw.a).await;
    let response = gw
        .http
        .get(gw.url("/v2/tickets/pending-tickets?limit=1"))
        .header(header::ORIGIN, allowed)
        .bearer_auth(&token)
        .header("x-api-key", &gw.a.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], allowed);
    let exposed = response.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in
        ["location", "etag", "link", "ratelimit", "ratelimit-policy", "retry-after", "x-request-id"]
    {
        assert!(exposed.split(',').any(|h| h.trim() == name), "{name} in {exposed}");
    }
    // Errors are readable by the page too (its script can show the problem).
    let unauthorized = gw
        .http
        .get(gw.url("/v2/tickets/pending-tickets"))
        .header(header::ORIGIN, allowed)
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(unauthorized.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], allowed);

    // Another origin (even one differing only by scheme or port) is not allowed.
    for other in ["https://evil.example", "http://partner.example", "http://localhost:3001"] {
        let answer = preflight(&gw, other, "/v2/tickets/pending-tickets").await;
        assert!(!answer.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN), "{other}");
        let response = gw
            .http
            .get(gw.url("/v2/tickets/pending-tickets"))
            .header(header::ORIGIN, other)
            .bearer_auth(&token)
            .header("x-api-key", &gw.a.api_key)
            .send()
            .await
            .unwrap();
        assert!(!response.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN), "{other}");
    }
}

e2e_test!(without_configured_origins_there_are_no_cors_headers, |gw| {
    let answer = preflight(&gw, "https://partner.example", "/v2/tickets/pending-tickets").await;
    assert_eq!(answer.status(), 405, "no preflight handling: OPTIONS is not a method of ours");
    let response = gw
        .as_client(&gw.a, reqwest::Method::GET, "/v2/tickets/pending-tickets")
        .await
        .header(header::ORIGIN, "https://partner.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for response in [&answer, &response] {
        assert!(
            response.headers().keys().all(|name| !name.as_str().starts_with("access-control-")),
            "{:?}",
            response.headers()
        );
    }
});
