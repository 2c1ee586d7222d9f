//! `GET /v2/tickets/events`: the JSON page, the event stream, resumption, the per-provider
//! upstream watch, the stream cap, and what partners see when the upstream breaks.

use std::time::Duration;

use serde_json::{Value, json};
use ticket_service::grpc::ServerSettings;
use tickets_testing::{TestService, grpc, metrics, wait::eventually};
use tickets_tokens::{Claims, Scope, Scopes};

use crate::{
    common::Client,
    helpers::{Options, TcpProxy, TestGateway, Upstream, e2e_test, start_service, violations},
};

/// Long enough for an event to travel on a loaded machine; a passing run never waits this long.
const PATIENCE: Duration = Duration::from_secs(20);

/// One frame of an event stream.
#[derive(Debug, Default, PartialEq)]
struct Frame {
    id: Option<i64>,
    event: Option<String>,
    data: Option<Value>,
    comment: bool,
}

/// A partner's open event stream, read frame by frame.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    /// Opens a stream for `client` after `query` / `last_event_id`; panics unless it is a 200
    /// event stream.
    async fn open(gw: &TestGateway, client: &Client, query: &str, last: Option<i64>) -> Self {
        let response = open(gw, client, query, last).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self { response, buffer: String::new() }
    }

    /// The next frame, or `None` when the stream ended.
    async fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let text: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(&text));
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("the stream says something in time")
                .expect("a healthy stream")?;
            self.buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// The next event, skipping keep-alive comments.
    async fn event(&mut self) -> Frame {
        loop {
            let frame = self.frame().await.expect("the stream goes on");
            if !frame.comment {
                return frame;
            }
        }
    }

    /// Whether the stream ends (without another event) in time.
    async fn ends(&mut self) -> bool {
        loop {
            match self.frame().await {
                None => return true,
                Some(frame) if frame.comment => {}
                Some(frame) => panic!("an event instead of the end: {frame:?}"),
            }
        }
    }
}

fn parse(text: &str) -> Frame {
    let mut frame = Frame::default();
    for line in text.lines() {
        if line.starts_with(':') {
            frame.comment = true;
        } else if let Some((field, value)) = line.split_once(": ") {
            match field {
                "id" => frame.id = Some(value.parse().expect("numeric id")),
                "event" => frame.event = Some(value.to_owned()),
                "data" => frame.data = Some(serde_json::from_str(value).expect("JSON data")),
                other => panic!("unexpected field {other}"),
            }
        }
    }
    frame
}

async fn open(
    gw: &TestGateway,
    client: &Client,
    query: &str,
    last: Option<i64>,
) -> reqwest::Response {
    let mut request = gw
        .as_client(client, reqwest::Method::GET, &format!("/v2/tickets/events{query}"))
        .await
        .header("accept", "text/event-stream");
    if let Some(last) = last {
        request = request.header("last-event-id", last.to_string());
    }
    request.send().await.expect("send")
}

/// The JSON page of client A's events after `after`, once it holds `count` of them.
async fn page_of(gw: &TestGateway, after: i64, count: usize) -> Value {
    tickets_testing::wait::until_some(PATIENCE, || async move {
        let response = gw.get(&format!("/v2/tickets/events?after={after}")).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        (body["result"].as_array().unwrap().len() >= count).then_some(body)
    })
    .await
    .expect("the events arrive")
}

fn ticket_id(frame: &Frame) -> &str {
    frame.data.as_ref().and_then(|data| data["ticket"]["id"].as_str()).expect("a ticket id")
}

e2e_test!(the_json_page_lists_changes_in_the_rest_shape_of_their_collection, |gw| {
    let operator = gw.operator(gw.a.provider).await;
    let ticket = gw.ticket(gw.a.provider).await;
    let path = format!("/v2/tickets/pending-tickets/{}", ticket.id);
    assert_eq!(gw.patch_json(&path, &start_service(operator)).await.status(), 303);
    let body = page_of(&gw, 0, 2).await;
    assert_eq!(body["query"], json!({"after": 0, "limit": 100}));
    let events = body["result"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let (created, started) = (&events[0], &events[1]);
    assert_eq!(created["type"], "ticket.created");
    assert_eq!(started["type"], "ticket.service-started");
    assert!(created["id"].as_i64().unwrap() < started["id"].as_i64().unwrap());
    assert_eq!(created["ticket"]["id"], ticket.id);
    assert_eq!(created["ticket"].as_object().unwrap().len(), 7, "a pending ticket");
    assert_eq!(created["occurred_at"], created["ticket"]["created_at"]);
    assert_eq!(started["ticket"]["operator_id"], operator.to_string());
    assert_eq!(started["ticket"].as_object().unwrap().len(), 11, "an in-progress ticket");
    assert_eq!(started["occurred_at"], started["ticket"]["service_started_at"]);
    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "occurred_at", "ticket", "type"], "sorted");

    let after = created["id"].as_i64().unwrap();
    let rest: Value =
        gw.get(&format!("/v2/tickets/events?after={after}&limit=1")).await.json().await.unwrap();
    assert_eq!(rest["query"], json!({"after": after, "limit": 1}));
    assert_eq!(rest["result"].as_array().unwrap().len(), 1);
    assert_eq!(rest["result"][0]["id"], started["id"]);

    // Another provider's client sees none of it.
    let theirs = gw.as_client(&gw.b, reqwest::Method::GET, "/v2/tickets/events").await;
    let theirs: Value = theirs.send().await.unwrap().json().await.unwrap();
    assert_eq!(theirs["result"], json!([]));
});

e2e_test!(bad_positions_limits_and_last_event_ids_are_violations, |gw| {
    let response = gw.get("/v2/tickets/events?after=-1&limit=0").await;
    assert_eq!(violations(response).await, ["after", "limit"]);
    for query in ["?limit=1001", "?limit=abc", "?after=1.5", "?after=1&after=2"] {
        let response = gw.get(&format!("/v2/tickets/events{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
    }
    let mut request = gw
        .as_client(&gw.a, reqwest::Method::GET, "/v2/tickets/events")
        .await
        .header("accept", "text/event-stream")
        .header("last-event-id", "seven");
    assert_eq!(violations(request.send().await.unwrap()).await, ["Last-Event-ID"]);
    request = gw
        .as_client(&gw.a, reqwest::Method::GET, "/v2/tickets/events")
        .await
        .header("accept", "text/event-stream")
        .header("last-event-id", "-3");
    assert_eq!(violations(request.send().await.unwrap()).await, ["Last-Event-ID"]);
    // A bad `after` is reported even when the header would win.
    let request = gw
        .as_client(&gw.a, reqwest::Method::GET, "/v2/tickets/events?after=9223372036854775808")
        .await
        .header("last-event-id", "0");
    assert_eq!(violations(request.send().await.unwrap()).await, ["after"]);
    // A position beyond the newest event: nobody can have received it.
    let response = gw.get("/v2/tickets/events?after=1000000").await;
    assert_eq!(violations(response).await, ["after"]);
    let request = gw
        .as_client(&gw.a, reqwest::Method::GET, "/v2/tickets/events")
        .await
        .header("accept", "text/event-stream")
        .header("last-event-id", "1000000");
    assert_eq!(violations(request.send().await.unwrap()).await, ["Last-Event-ID"]);
});

e2e_test!(a_stream_sends_the_backlog_then_live_events_and_resumes_by_last_event_id, |gw| {
    let operator = gw.operator(gw.a.provider).await;
    let old = gw.ticket(gw.a.provider).await;
    page_of(&gw, 0, 1).await;
    let mut stream = Stream::open(&gw, &gw.a, "", None).await;
    let backlog = stream.event().await;
    assert_eq!(ticket_id(&backlog), old.id);
    assert_eq!(backlog.event.as_deref(), Some("ticket.created"));
    assert_eq!(backlog.data.as_ref().unwrap()["id"], json!(backlog.id.unwrap()));

    let live = gw.ticket(gw.a.provider).await;
    let created = stream.event().await;
    assert_eq!(ticket_id(&created), live.id);
    let path = format!("/v2/tickets/pending-tickets/{}", live.id);
    assert_eq!(gw.patch_json(&path, &start_service(operator)).await.status(), 303);
    let started = stream.event().await;
    assert_eq!(started.event.as_deref(), Some("ticket.service-started"));
    assert_eq!(ticket_id(&started), live.id);
    drop(stream);

    // Last-Event-ID wins over `after`: exactly the events after it.
    let mut resumed = Stream::open(&gw, &gw.a, "?after=0", created.id).await;
    assert_eq!(resumed.event().await, started);
    let mut by_query =
        Stream::open(&gw, &gw.a, &format!("?after={}", backlog.id.unwrap()), None).await;
    assert_eq!(by_query.event().await, created);
});

e2e_test!(streams_of_a_provider_share_one_upstream_watch_and_see_only_their_tickets, |gw| {
    let mut ours =
        [Stream::open(&gw, &gw.a, "", None).await, Stream::open(&gw, &gw.a, "", None).await];
    let mut theirs = Stream::open(&gw, &gw.b, "", None).await;
    let mine = gw.ticket(gw.a.provider).await;
    let other = gw.ticket(gw.b.provider).await;
    for stream in &mut ours {
        assert_eq!(ticket_id(&stream.event().await), mine.id);
    }
    assert_eq!(ticket_id(&theirs.event().await), other.id);
    let text = metrics::scrape(gw.metrics_addr).await;
    assert_eq!(metrics::sample(&text, "event_upstream_watches", &[]), Some(2.0), "{text}");
    assert_eq!(metrics::sample(&text, "event_streams_open", &[]), Some(3.0));
    drop((ours, theirs));
    let retired = eventually(PATIENCE, || async {
        let text = metrics::scrape(gw.metrics_addr).await;
        metrics::sample(&text, "event_streams_open", &[]) == Some(0.0)
    })
    .await;
    assert!(retired, "closed streams are no longer counted");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_may_hold_only_its_cap_of_streams() {
    let streams = ticket_gateway::StreamSettings { max_per_client: 2, ..Default::default() };
    let options = Options { streams, ..Options::default() };
    let Some(gw) = TestGateway::start_with(tickets_testing::Backend::Sqlite, options).await else {
        return;
    };
    let first = Stream::open(&gw, &gw.a, "", None).await;
    let _second = Stream::open(&gw, &gw.a, "", None).await;
    let refused = open(&gw, &gw.a, "", None).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "/problems/too-many-requests");
    // Another client has its own cap; and a closed stream frees its slot.
    let _theirs = Stream::open(&gw, &gw.b, "", None).await;
    drop(first);
    let freed =
        eventually(PATIENCE, || async { open(&gw, &gw.a, "", None).await.status() == 200 }).await;
    assert!(freed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quiet_streams_get_keep_alive_comments_and_end_when_the_token_expires() {
    let keep_alive = Duration::from_millis(200);
    let streams = ticket_gateway::StreamSettings { keep_alive, ..Default::default() };
    let options = Options { streams, ..Options::default() };
    let Some(gw) = TestGateway::start_with(tickets_testing::Backend::Sqlite, options).await else {
        return;
    };
    let mut quiet = Stream::open(&gw, &gw.a, "", None).await;
    assert!(quiet.frame().await.unwrap().comment, "a comment while nothing happens");

    let claims = Claims::issue(
        &tickets_testing::tokens::audience(),
        &gw.a.id,
        Some(gw.a.provider),
        Scopes::of(&[Scope::TicketsRead]),
        Duration::from_secs(2),
    );
    let token = tickets_testing::tokens::sign(&claims);
    let response = gw
        .http
        .get(gw.url("/v2/tickets/events"))
        .bearer_auth(token)
        .header("x-api-key", &gw.a.api_key)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut expiring = Stream { response, buffer: String::new() };
    assert!(expiring.ends().await, "the stream ends at the token's expiry");
}

e2e_test!(shutdown_ends_every_stream, |gw| {
    let mut gw = gw;
    let mut stream = Stream::open(&gw, &gw.a, "", None).await;
    gw.shutdown();
    assert!(stream.ends().await);
});

/// The gateway reaches the service through a proxy that is cut mid-stream (what a service pod
/// that stops looks like to it); events committed meanwhile arrive once it is back, and nothing
/// arrives twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upstream_break_mid_stream_is_invisible_to_the_partner() {
    let Some(direct) = TestGateway::start(tickets_testing::Backend::Sqlite).await else { return };
    let mut proxy = TcpProxy::start("127.0.0.1:0", direct.service.addr).await;
    let options =
        Options { upstream: Upstream::Url(format!("http://{}", proxy.addr)), ..Options::default() };
    let Some(gw) = TestGateway::start_with(tickets_testing::Backend::Sqlite, options).await else {
        return;
    };
    // The gateway's own database is not the one behind the proxy: write where it reads.
    let create = || grpc::create_ticket(&direct.service.channel, gw.a.provider);
    let mut stream = Stream::open(&gw, &gw.a, "", None).await;
    let before = create().await.unwrap();
    assert_eq!(ticket_id(&stream.event().await), before.id);

    proxy.cut().await;
    let during = create().await.unwrap();
    proxy.restore().await;
    let after = create().await.unwrap();
    let (second, third) = (stream.event().await, stream.event().await);
    assert_eq!([ticket_id(&second), ticket_id(&third)], [during.id.as_str(), after.id.as_str()]);
    assert!(second.id < third.id);
}

/// Two service replicas on one PostgreSQL database: a ticket written through one reaches a
/// partner stream served from the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_through_one_replica_reaches_a_stream_on_the_other() {
    let Some(gw) = TestGateway::start(tickets_testing::Backend::Postgres).await else { return };
    let other = TestService::start(&gw.database.url, ServerSettings::default()).await;
    let mut stream = Stream::open(&gw, &gw.a, "", None).await;
    let ticket = grpc::create_ticket(&other.channel, gw.a.provider).await.unwrap();
    assert_eq!(ticket_id(&stream.event().await), ticket.id);
}

// 8 writers × 25 creates while a stream and a polling reader run: both see every event exactly
// once, in increasing id.
e2e_test!(concurrent_writers_lose_and_repeat_nothing_for_a_stream_and_a_poller, |gw| {
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let mut stream = Stream::open(&gw, &gw.a, "", None).await;
    let channel = gw.service.channel.clone();
    let provider = gw.a.provider;
    let writers = (0..WRITERS).map(|_| {
        let channel = channel.clone();
        tokio::spawn(async move {
            let mut created = Vec::new();
            for _ in 0..EACH {
                created.push(grpc::create_ticket(&channel, provider).await.unwrap().id);
            }
            created
        })
    });
    let poller = async {
        let mut seen: Vec<Value> = Vec::new();
        while seen.len() < WRITERS * EACH {
            let after = seen.last().map_or(0, |event| event["id"].as_i64().unwrap());
            let page = gw.get(&format!("/v2/tickets/events?after={after}&limit=1000")).await;
            let page: Value = page.json().await.unwrap();
            seen.extend(page["result"].as_array().unwrap().iter().cloned());
        }
        seen.iter()
            .map(|e| (e["id"].as_i64().unwrap(), e["ticket"]["id"].as_str().unwrap().to_owned()))
            .collect::<Vec<_>>()
    };
    let streamed = async {
        let mut seen = Vec::new();
        while seen.len() < WRITERS * EACH {
            let frame = stream.event().await;
            seen.push((frame.id.unwrap(), ticket_id(&frame).to_owned()));
        }
        seen
    };
    let (created, polled, streamed) = tokio::join!(
        futures::future::join_all(writers),
        tokio::time::timeout(PATIENCE, poller),
        streamed
    );
    let created: std::collections::HashSet<String> =
        created.into_iter().flat_map(Result::unwrap).collect();
    for (reader, events) in
        [("poller", polled.expect("the poller caught up")), ("stream", streamed)]
    {
        assert!(
            events.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "{reader}: ids not increasing"
        );
        let tickets: std::collections::HashSet<String> =
            events.iter().map(|(_, ticket)| ticket.clone()).collect();
        assert_eq!(tickets.len(), events.len(), "{reader}: a ticket seen twice");
        assert_eq!(tickets, created, "{reader}: not every ticket seen");
    }
});

/// A partner that stops reading is disconnected once its stream falls more than the gateway's
/// limit behind its feed — the gateway holds nothing for it beyond that — and resumes by
/// `Last-Event-ID` with nothing lost or repeated. The partner's socket has a small, fixed
/// receive buffer; the gateway's send buffer still absorbs an unknown number of events before
/// the gateway sees the reader fall behind, so the burst doubles until one does — at the latest
/// once it is more than those buffers can hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_that_stops_reading_is_disconnected_and_resumes_without_a_gap() {
    let most_absorbed = most_events_buffered();
    let streams = ticket_gateway::StreamSettings { max_behind: 16, ..Default::default() };
    let options = Options { streams, ..Options::default() };
    let Some(gw) = TestGateway::start_with(tickets_testing::Backend::Sqlite, options).await else {
        return;
    };
    let mut burst = 128;
    loop {
        let head = newest_event(&gw).await;
        let mut slow = UnreadStream::open(&gw, head).await;
        create_tickets(&gw, burst).await;
        // Only now does the partner read: what the buffers held, then the end if it fell behind.
        let (mut ids, ended) = slow.read(burst).await;
        if !ended {
            assert_eq!(ids.len(), burst);
            assert!(
                burst <= most_absorbed,
                "a stream that did not read got all {burst} events, more than buffers hold"
            );
            burst *= 2;
            continue;
        }
        assert!(ids.len() < burst, "the stream ended early");
        let last = ids.last().copied().unwrap_or(head);
        let mut resumed = Stream::open(&gw, &gw.a, "", Some(last)).await;
        while ids.len() < burst {
            ids.push(resumed.event().await.id.expect("an id"));
        }
        let logged = event_ids_after(&gw, head).await;
        assert_eq!(ids, logged, "the slow stream and its resume saw exactly the log, in order");
        return;
    }
}

/// The most events that socket and server buffers can hold for a reader that does not read:
/// the gateway's send buffer at its ceiling (`tcp_wmem`'s maximum) in frames of at least 300
/// bytes, the reader's 8 KiB, hyper's 64 KiB, a chunk of 64 events and the 16 it may be behind.
fn most_events_buffered() -> usize {
    let send_buffer = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|text| text.split_whitespace().nth(2)?.parse::<usize>().ok())
        .unwrap_or(4 << 20);
    (send_buffer + (8 << 10) + (64 << 10)) / 300 + 64 + 16
}

/// Client A's event stream on a socket with a 4 KiB receive buffer (fixed: the kernel does
/// not grow it), read only when asked.
struct UnreadStream {
    socket: tokio::net::TcpStream,
    received: Vec<u8>,
}

impl UnreadStream {
    async fn open(gw: &TestGateway, after: i64) -> Self {
        use tokio::io::AsyncWriteExt as _;
        let address: std::net::SocketAddr =
            gw.base.trim_start_matches("http://").parse().expect("the gateway's address");
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut socket = socket.connect(address).await.unwrap();
        let token = gw.token(&gw.a).await;
        let request = format!(
            "GET /v2/tickets/events?after={after} HTTP/1.1\r\nhost: {address}\r\n\
             accept: text/event-stream\r\nauthorization: Bearer {token}\r\n\
             x-api-key: {}\r\n\r\n",
            gw.a.api_key
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        Self { socket, received: Vec::new() }
    }

    /// Reads until `count` events came or the stream's body ended; the event ids, and whether
    /// it ended.
    async fn read(&mut self, count: usize) -> (Vec<i64>, bool) {
        use tokio::io::AsyncReadExt as _;
        loop {
            let (ids, ended) = self.decode();
            if ended || ids.len() >= count {
                return (ids, ended);
            }
            let mut buffer = vec![0; 64 * 1024];
            let read = tokio::time::timeout(PATIENCE, self.socket.read(&mut buffer))
                .await
                .expect("the stream says something in time")
                .unwrap();
            assert!(read > 0, "the gateway closed the connection without ending the body");
            self.received.extend_from_slice(&buffer[..read]);
        }
    }

    /// The events of everything received so far, and whether the (chunked) body ended.
    fn decode(&self) -> (Vec<i64>, bool) {
        let text = String::from_utf8_lossy(&self.received);
        let Some((head, mut rest)) = text.split_once("\r\n\r\n") else { return (vec![], false) };
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut body = String::new();
        let mut ended = false;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size, 16).expect("a chunk size");
            if size == 0 {
                ended = true;
                break;
            }
            if after.len() < size + 2 {
                break;
            }
            body.push_str(&after[..size]);
            rest = &after[size + 2..];
        }
        let ids = body
            .split_terminator("\n\n")
            .map(parse)
            .filter(|frame| !frame.comment)
            .map(|frame| frame.id.expect("an id"))
            .collect();
        (ids, ended)
    }
}

/// The id of client A's newest event (0 when it has none).
async fn newest_event(gw: &TestGateway) -> i64 {
    event_ids_after(gw, 0).await.last().copied().unwrap_or(0)
}

/// The ids of client A's events after `after`, all of them.
async fn event_ids_after(gw: &TestGateway, mut after: i64) -> Vec<i64> {
    let mut ids = Vec::new();
    loop {
        let page = gw.get(&format!("/v2/tickets/events?after={after}&limit=1000")).await;
        assert_eq!(page.status(), 200);
        let page: Value = page.json().await.unwrap();
        let events = page["result"].as_array().unwrap();
        ids.extend(events.iter().map(|event| event["id"].as_i64().unwrap()));
        match ids.last() {
            Some(&last) if events.len() == 1000 => after = last,
            _ => return ids,
        }
    }
}

/// Creates `count` tickets for client A, 8 at a time.
async fn create_tickets(gw: &TestGateway, count: usize) {
    const WRITERS: usize = 8;
    let writers = (0..WRITERS).map(|writer| {
        let channel = gw.service.channel.clone();
        let provider = gw.a.provider;
        tokio::spawn(async move {
            for _ in (writer..count).step_by(WRITERS) {
                grpc::create_ticket(&channel, provider).await.unwrap();
            }
        })
    });
    for writer in futures::future::join_all(writers).await {
        writer.unwrap();
    }
}
