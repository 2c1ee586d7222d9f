//! docs/security.md "Abuse resistance": what a hostile client can and cannot make the gateway
//! do — guess secrets, probe which credential was wrong, hold connections with slow or endless
//! request heads, or open more connections than the gateway serves.

use std::{collections::BTreeSet, time::Duration};

use serde_json::Value;
use tickets_testing::{Backend, metrics};
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    time::timeout,
};

use crate::helpers::{Options, TestGateway, problem, start_service};

/// Generous bound for things that must happen; only a broken gateway reaches it.
const PATIENCE: Duration = Duration::from_secs(10);

async fn token_attempt(gw: &TestGateway, client_id: &str, secret: &str) -> reqwest::Response {
    gw.http
        .post(gw.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap()
}

/// Asserts the RFC 6749 lock-out answer and returns its `Retry-After`.
async fn assert_locked_out(response: reqwest::Response, case: &str) -> u64 {
    assert_eq!(response.status(), 429, "{case}");
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{case}: {body}");
    retry_after
}

#[tokio::test]
async fn guessing_one_clients_secret_locks_that_client_id_out_for_the_minute() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    for attempt in 1..=10 {
        let response = token_attempt(&gw, &gw.a.id, &format!("guess-{attempt}")).await;
        assert_eq!(response.status(), 401, "failed attempt {attempt} is answered");
    }
    let retry_after =
        assert_locked_out(token_attempt(&gw, &gw.a.id, "guess-11").await, "the 11th").await;
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_locked_out(
        token_attempt(&gw, &gw.a.id, &gw.a.secret).await,
        "the right secret during the lock",
    )
    .await;
    let basic = gw
        .http
        .post(gw.url("/oauth2/token"))
        .basic_auth(&gw.a.id, Some(&gw.a.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_locked_out(basic, "the right secret in HTTP Basic").await;
    assert_eq!(
        token_attempt(&gw, &gw.b.id, &gw.b.secret).await.status(),
        200,
        "another client from the same address is not locked out"
    );
}

#[tokio::test]
async fn guessing_from_one_address_locks_that_address_out_whatever_the_client_ids() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    for attempt in 1..=30 {
        let response = token_attempt(&gw, &format!("guess-{attempt}"), "secret").await;
        assert_eq!(response.status(), 401, "failed attempt {attempt} is answered");
    }
    assert_locked_out(token_attempt(&gw, "guess-31", "secret").await, "a fresh client id").await;
    assert_locked_out(
        token_attempt(&gw, &gw.b.id, &gw.b.secret).await,
        "a real client from the address",
    )
    .await;
}

#[tokio::test]
async fn right_secrets_are_never_throttled() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    for attempt in 1..=40 {
        let response = token_attempt(&gw, &gw.a.id, &gw.a.secret).await;
        assert_eq!(response.status(), 200, "attempt {attempt}");
    }
}

/// Every way of getting `/v2` credentials wrong answers the same 401.
#[tokio::test]
async fn every_401_reads_the_same_whichever_credential_was_wrong() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let (a_token, b_token) = (gw.token(&gw.a).await, gw.token(&gw.b).await);
    let cases: [(&str, Option<&str>, Option<&str>); 7] = [
        ("valid token, another client's key", Some(&a_token), Some(&gw.b.api_key)),
        ("valid token, unknown key", Some(&a_token), Some("no-such-key")),
        ("another client's token, own key", Some(&b_token), Some(&gw.a.api_key)),
        ("garbage token, own key", Some("x.y.z"), Some(&gw.a.api_key)),
        ("forged signature, own key", Some(&forge(&a_token)), Some(&gw.a.api_key)),
        ("no token", None, Some(&gw.a.api_key)),
        ("no key", Some(&a_token), None),
    ];
    let mut details = BTreeSet::new();
    for (case, token, key) in cases {
        let mut request = gw.http.get(gw.url("/v2/tickets/pending-tickets"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let body = problem(request.send().await.unwrap(), 401).await;
        details.insert(body["detail"].as_str().unwrap_or_else(|| panic!("{case}")).to_owned());
    }
    assert_eq!(details.len(), 1, "one detail for every case: {details:?}");
}

/// The token with its signature's bytes changed: well-formed, signed by nobody.
fn forge(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let flipped: String =
        signature.chars().rev().map(|c| if c == 'A' { 'B' } else { 'A' }).collect();
    format!("{signed}.{flipped}")
}

async fn connect(gw: &TestGateway) -> TcpStream {
    TcpStream::connect(gw.base.trim_start_matches("http://")).await.unwrap()
}

/// Reads until the server closes the connection; what it sent before.
async fn until_closed(socket: &mut (impl AsyncRead + Unpin)) -> String {
    let mut received = Vec::new();
    loop {
        match socket.read_buf(&mut received).await {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&received).into_owned(),
            Ok(_) => {}
        }
    }
}

/// A gateway whose partner connections have these header-read and idle timeouts.
async fn with_timeouts(header_read: Duration, idle: Duration) -> TestGateway {
    let mut options = Options::default();
    options.timeouts.header_read = header_read;
    options.timeouts.idle = idle;
    TestGateway::start_with(Backend::Sqlite, options).await.unwrap()
}

#[tokio::test]
async fn a_head_that_trickles_in_is_cut_off_at_the_header_read_timeout() {
    let gw = with_timeouts(Duration::from_millis(500), Duration::from_secs(60)).await;
    let socket = connect(&gw).await;
    let (mut reader, mut writer) = socket.into_split();
    let trickle = tokio::spawn(async move {
        writer.write_all(b"GET /v2/tickets/pending-tickets HTTP/1.1\r\nhost: x\r\n").await?;
        // One byte now and then keeps an idle-only timer from ever firing.
        let mut every = tokio::time::interval(Duration::from_millis(50));
        loop {
            every.tick().await;
            writer.write_all(b"x").await?;
        }
        #[allow(unreachable_code)]
        std::io::Result::Ok(())
    });
    let closed = timeout(PATIENCE, until_closed(&mut reader)).await;
    let text = closed.expect("the connection is closed");
    assert!(trickle.await.unwrap().is_err(), "the server stopped reading");
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test]
async fn a_connection_that_never_sends_anything_is_closed_too() {
    let gw = with_timeouts(Duration::from_millis(300), Duration::from_secs(60)).await;
    let mut socket = connect(&gw).await;
    assert!(timeout(PATIENCE, until_closed(&mut socket)).await.is_ok());
}

#[tokio::test]
async fn an_oversized_head_is_refused_while_it_is_still_arriving() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let socket = connect(&gw).await;
    let (mut reader, mut writer) = socket.into_split();
    // 40 KiB of head with no end: the answer must come without the head ever completing.
    let writing = tokio::spawn(async move {
        writer.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").await?;
        for _ in 0..40 {
            writer.write_all(format!("x-padding: {}\r\n", "p".repeat(1000)).as_bytes()).await?;
        }
        // Keep the connection open, head unfinished, until the server hangs up.
        std::future::pending::<std::io::Result<()>>().await
    });
    let mut received = Vec::new();
    let answered = timeout(PATIENCE, async {
        while !String::from_utf8_lossy(&received).contains("\r\n\r\n{") {
            match reader.read_buf(&mut received).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    writing.abort();
    assert!(answered.is_ok(), "answered before the head was finished");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    assert!(text.contains("/problems/request-header-fields-too-large"), "{text}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let gw = with_timeouts(Duration::from_secs(10), Duration::from_millis(300)).await;
    let mut socket = connect(&gw).await;
    socket.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut received = Vec::new();
    while !String::from_utf8_lossy(&received).contains("\r\n\r\n") {
        assert!(socket.read_buf(&mut received).await.unwrap() > 0);
    }
    assert!(String::from_utf8_lossy(&received).starts_with("HTTP/1.1 200"));
    // Kept alive after the answer, then closed once idle: well before the header timeout.
    let closed = timeout(Duration::from_secs(5), until_closed(&mut socket)).await;
    assert!(closed.is_ok(), "the idle connection is closed");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let options = Options { max_connections: 2, ..Options::default() };
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
    let first = connect(&gw).await;
    let second = connect(&gw).await;
    let mut third = connect(&gw).await;
    third.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut received = [0u8; 1];
    // Not served while two connections are open (a gateway without the cap answers at once).
    let early = timeout(Duration::from_millis(500), third.read(&mut received)).await;
    assert!(early.is_err(), "the third connection waits unaccepted");
    let scraped = metrics::scrape(gw.metrics_addr).await;
    assert_eq!(metrics::sample(&scraped, "http_server_open_connections", &[]), Some(2.0));
    drop(first);
    drop(second);
    let mut response = Vec::new();
    let served = timeout(PATIENCE, async {
        while !String::from_utf8_lossy(&response).contains("\r\n\r\n") {
            if third.read_buf(&mut response).await.unwrap() == 0 {
                break;
            }
        }
    })
    .await;
    assert!(served.is_ok());
    assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200"));
}

/// Reads one HTTP/1.1 response (its head and a `content-length` body): its status and body.
async fn read_response(
    socket: &mut (impl AsyncRead + Unpin),
    buffer: &mut Vec<u8>,
) -> (u16, String) {
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break at + 4;
        }
        assert!(socket.read_buf(buffer).await.unwrap() > 0, "closed mid-response");
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |value| value.trim().parse().unwrap());
    while buffer.len() < head_end + length {
        assert!(socket.read_buf(buffer).await.unwrap() > 0, "closed mid-body");
    }
    let body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned();
    buffer.drain(..head_end + length);
    (status, body)
}

/// Writes `bytes` in pieces of `size` at a slow client's pace (the pause is the client's
/// behaviour under test, not a wait for the server).
async fn dribble(socket: &mut TcpStream, bytes: &[u8], size: usize) {
    for piece in bytes.chunks(size) {
        socket.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn heads_and_bodies_that_arrive_in_pieces_are_served_on_one_kept_alive_connection() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let token = gw.token(&gw.a).await;
    let ticket = gw.ticket(gw.a.provider).await;
    let operator = gw.operator(gw.a.provider).await;
    let mut socket = connect(&gw).await;
    let mut buffer = Vec::new();
    let auth = format!("authorization: Bearer {token}\r\nx-api-key: {}\r\n", gw.a.api_key);
    // A head over the free 4 KiB, a few bytes at a time.
    let list = format!(
        "GET /v2/tickets/pending-tickets?limit=5 HTTP/1.1\r\nhost: x\r\n{auth}x-padding: {}\r\n\r\n",
        "p".repeat(6000)
    );
    dribble(&mut socket, list.as_bytes(), 700).await;
    let (status, body) = read_response(&mut socket, &mut buffer).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&ticket.id), "{body}");
    // Then a PATCH, preceded by an empty line, whose body is sent only once the gateway has
    // taken its head and asks for the body (100 Continue).
    let start = start_service(operator).to_string();
    let patch = format!(
        "\r\nPATCH /v2/tickets/pending-tickets/{} HTTP/1.1\r\nhost: x\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\r\n",
        ticket.id,
        start.len()
    );
    dribble(&mut socket, patch.as_bytes(), 13).await;
    let asked = timeout(PATIENCE, read_response(&mut socket, &mut buffer)).await;
    assert_eq!(asked.expect("the head is taken and the body asked for").0, 100);
    dribble(&mut socket, start.as_bytes(), 7).await;
    let (status, body) = read_response(&mut socket, &mut buffer).await;
    assert_eq!(status, 303, "{body}");
    // Finally two requests in one write; the second's end is sent once the first is answered.
    let health = "GET /healthz HTTP/1.1\r\nhost: x\r\n";
    socket.write_all(format!("{health}\r\n{health}").as_bytes()).await.unwrap();
    let first = timeout(PATIENCE, read_response(&mut socket, &mut buffer)).await;
    assert_eq!(first.expect("the first pipelined request is answered").0, 200);
    socket.write_all(b"\r\n").await.unwrap();
    let second = timeout(PATIENCE, read_response(&mut socket, &mut buffer)).await;
    assert_eq!(second.expect("the second pipelined request is answered").0, 200);
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_served_beside_http1() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let token = gw.token(&gw.a).await;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    for _ in 0..3 {
        let response = h2
            .get(gw.url("/v2/tickets/pending-tickets?limit=1"))
            .bearer_auth(&token)
            .header("x-api-key", &gw.a.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
        assert_eq!(response.status(), 200);
    }
    assert_eq!(gw.http.get(gw.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn an_address_refused_again_and_again_gets_its_401s_late_but_its_good_requests_at_once() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let token = gw.token(&gw.a).await;
    let refused = || gw.get_with(&gw.a, "x.y.z", "/v2/tickets/pending-tickets");
    for _ in 0..20 {
        problem(refused().await, 401).await;
    }
    let started = tokio::time::Instant::now();
    let late = refused();
    // Good requests from the same address are never held back.
    let served = gw.get_with(&gw.a, &token, "/v2/tickets/pending-tickets").await;
    assert_eq!(served.status(), 200);
    let body = problem(late.await, 401).await;
    assert!(started.elapsed() >= Duration::from_millis(950), "held back for a second");
    assert_eq!(body["type"], "/problems/unauthorized");
}
