//! In a real browser (headless Chromium, every non-loopback host unresolvable): the API
//! reference at `/v2/docs` renders every operation from the gateway's own assets, and a page on
//! an allowed origin reads a ticket with `fetch` — preflight included — while the same page from
//! another origin cannot.

use axum::{Router, response::Html, routing::get};
use serde_json::Value;
use tickets_testing::{Backend, browser::Browser};
use tokio::net::TcpListener;

use crate::helpers::{Options, TestGateway};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_reference_renders_every_operation_without_the_internet() {
    let Some(browser) = Browser::find() else { return };
    let Some(gw) = TestGateway::start(Backend::Sqlite).await else { return };
    let dom = browser.rendered_dom(&gw.url("/v2/docs/")).await;

    let document: Value =
        gw.http.get(gw.url("/v2/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for operation in item.as_object().unwrap().values() {
            let id = operation["operationId"].as_str().unwrap();
            assert!(dom.contains(&format!(">{id}<")), "{id} ({path}) is not on the page");
            operations += 1;
        }
        assert!(dom.contains(&format!("data-path=\"{path}\"")), "{path} is not on the page");
    }
    assert!(operations >= 7, "{operations} operations");
    // The redirect from the bare path lands on the page.
    let bare = gw.http.get(gw.url("/v2/docs")).send().await.unwrap();
    assert!(bare.status().is_redirection(), "{}", bare.status());
    assert_eq!(bare.headers()["location"], "/v2/docs/");
}

/// Serves `html` at `/` on a loopback port of its own (an origin of its own); its address.
async fn serve_page(html: String) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/", get(move || async move { Html(html) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A page whose script GETs `url` with `headers` and writes what happened into `#out`.
fn page(url: &str, headers: &Value) -> String {
    format!(
        r#"<!doctype html><html><body><pre id="out">pending</pre><script>
fetch({url:?}, {{ headers: {headers} }})
  .then(async (r) => {{
    const body = await r.json();
    document.getElementById("out").textContent =
      "status=" + r.status + " etag=" + r.headers.get("etag") + " id=" + body.id;
  }})
  .catch((e) => {{ document.getElementById("out").textContent = "failed: " + e.name; }});
</script></body></html>"#
    )
}

/// What the page wrote into `#out`.
fn outcome(dom: &str) -> &str {
    let start = dom.find("<pre id=\"out\">").expect("the page rendered") + "<pre id=\"out\">".len();
    &dom[start..start + dom[start..].find("</pre>").unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_page_on_an_allowed_origin_reads_a_ticket_and_another_origin_cannot() {
    let Some(browser) = Browser::find() else { return };
    // Two pages with the same script on two origins (ports); the gateway allows the first.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let allowed_port = listener.local_addr().unwrap().port();
    drop(listener);
    let origin = format!("http://127.0.0.1:{allowed_port}");
    let options = Options { cors: origin.parse().unwrap(), ..Options::default() };
    let Some(gw) = TestGateway::start_with(Backend::Sqlite, options).await else { return };
    let ticket = gw.ticket(gw.a.provider).await;
    let token = gw.token(&gw.a).await;
    let url = gw.url(&format!("/v2/tickets/pending-tickets/{}", ticket.id));
    // `Authorization` and `x-api-key` make the request one the browser must preflight.
    let headers =
        serde_json::json!({"Authorization": format!("Bearer {token}"), "x-api-key": gw.a.api_key});
    let html = page(&url, &headers);
    // The same call with a header the gateway does not allow: the preflight refuses it.
    let mut unlisted = headers.clone();
    unlisted["x-unlisted"] = "1".into();
    let unlisted = page(&url, &unlisted);

    let listener = TcpListener::bind(("127.0.0.1", allowed_port)).await.unwrap();
    let app = {
        let html = html.clone();
        Router::new()
            .route("/", get(move || async move { Html(html) }))
            .route("/unlisted", get(move || async move { Html(unlisted) }))
    };
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dom = browser.rendered_dom(&format!("{origin}/")).await;
    let read = outcome(&dom);
    assert!(read.starts_with("status=200 etag=W/\""), "{read}");
    assert!(read.ends_with(&format!("id={}", ticket.id)), "{read}");
    let dom = browser.rendered_dom(&format!("{origin}/unlisted")).await;
    assert_eq!(outcome(&dom), "failed: TypeError", "the preflight is checked");

    let other = serve_page(html).await;
    let dom = browser.rendered_dom(&format!("http://{other}/")).await;
    assert_eq!(outcome(&dom), "failed: TypeError", "another origin cannot read the answer");
}
