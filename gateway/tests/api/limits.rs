//! docs/security.md "Rate limit and quota": per client, in-process by default or shared by
//! every gateway through Redis; the `RateLimit-Policy` / `RateLimit` headers on every counted
//! answer; Redis going away and coming back.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use tickets_testing::{Backend, eventually, metrics, redis::RedisServer};
use tokio::time::Instant;

use crate::helpers::{Options, TestGateway, problem};

/// A client's standing as `RateLimit` states it: (burst r, daily r), each `None` when absent.
fn remaining(response: &Response) -> (Option<u64>, Option<u64>) {
    let Some(value) = response.headers().get("ratelimit") else { return (None, None) };
    let text = value.to_str().unwrap();
    let of = |name: &str| {
        text.split(", ").find(|item| item.starts_with(&format!("\"{name}\""))).map(|item| {
            let r = item.split(';').find_map(|p| p.strip_prefix("r=")).unwrap();
            r.parse().unwrap()
        })
    };
    (of("burst"), of("daily"))
}

/// `GET /v2/tickets/pending-tickets` on `gw` as client A with `token`.
async fn list(gw: &TestGateway, token: &str) -> Response {
    gw.get_with(&gw.a, token, "/v2/tickets/pending-tickets?limit=1").await
}

/// Two gateways counting in one Redis, each with a token of its client A (same client id).
struct TwoGateways {
    one: TestGateway,
    one_token: String,
    two: TestGateway,
    two_token: String,
}

impl TwoGateways {
    async fn start(redis: &RedisServer, per_second: u32, burst: u32, daily: u32) -> Self {
        let one = with_limits(per_second, burst, daily, Some(redis)).await;
        let two = with_limits(per_second, burst, daily, Some(redis)).await;
        let (one_token, two_token) = (one.token(&one.a).await, two.token(&two.a).await);
        Self { one, one_token, two, two_token }
    }

    /// [`list`] through the first gateway.
    async fn first(&self) -> Response {
        list(&self.one, &self.one_token).await
    }

    /// [`list`] through the second gateway.
    async fn second(&self) -> Response {
        list(&self.two, &self.two_token).await
    }

    /// `requests` [`list`] calls one after the other: every `every`-th through the first
    /// gateway, the others through the second.
    async fn spread(&self, requests: usize, every: usize) -> Vec<Response> {
        let mut responses = Vec::with_capacity(requests);
        for i in 0..requests {
            responses.push(if i % every == 0 { self.first().await } else { self.second().await });
        }
        responses
    }
}

async fn with_limits(
    per_second: u32,
    burst: u32,
    daily: u32,
    redis: Option<&RedisServer>,
) -> TestGateway {
    let options = Options {
        rate_per_second: per_second,
        rate_burst: burst,
        daily_quota: daily,
        redis_url: redis.map(RedisServer::url),
        ..Options::default()
    };
    TestGateway::start_with(Backend::Sqlite, options).await.unwrap()
}

#[tokio::test]
async fn every_counted_answer_carries_the_limits_and_remaining_falls_by_one() {
    let gw = with_limits(5, 10, 1000, None).await;
    let token = gw.token(&gw.a).await;
    let first = list(&gw, &token).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["ratelimit-policy"], "\"burst\";q=10;w=1, \"daily\";q=1000;w=86400");
    let value = first.headers()["ratelimit"].to_str().unwrap().to_owned();
    let t: u64 = value.rsplit("t=").next().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&t), "daily t is the time to 00:00 UTC: {value}");
    assert_eq!(remaining(&first), (Some(9), Some(999)));
    assert_eq!(remaining(&list(&gw, &token).await), (Some(8), Some(998)));
    // A 4xx of a counted request carries them too.
    let missing = gw
        .get_with(&gw.a, &token, "/v2/tickets/pending-tickets/497f6eca-6276-4993-bfeb-53cbbbba6f08")
        .await;
    assert_eq!(remaining(&missing), (Some(7), Some(997)));
    problem(missing, 404).await;
    // A refusal before any client is known: the gateway's policy, no standing.
    let anonymous = gw.http.get(gw.url("/v2/tickets/pending-tickets")).send().await.unwrap();
    assert!(anonymous.headers().contains_key("ratelimit-policy"));
    assert!(!anonymous.headers().contains_key("ratelimit"));
    problem(anonymous, 401).await;
    // Not counted: the document, the token endpoint, the probes.
    for path in ["/v2/openapi.json", "/healthz"] {
        let response = gw.http.get(gw.url(path)).send().await.unwrap();
        assert!(!response.headers().contains_key("ratelimit-policy"), "{path}");
    }
    assert_eq!(remaining(&list(&gw, &token).await).1, Some(996), "uncounted calls took none");
}

#[tokio::test]
async fn the_daily_quota_refuses_until_midnight_utc() {
    let gw = with_limits(0, 0, 3, None).await;
    let token = gw.token(&gw.a).await;
    for left in (0..3).rev() {
        let response = list(&gw, &token).await;
        assert_eq!(response.status(), 200);
        assert_eq!(remaining(&response), (None, Some(left)));
    }
    let refused = list(&gw, &token).await;
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.headers()["ratelimit-policy"], "\"daily\";q=3;w=86400");
    assert_eq!(remaining(&refused), (None, Some(0)));
    let body = problem(refused, 429).await;
    assert!(body["detail"].as_str().unwrap().contains("Daily quota of 3"), "{body}");
    let b_token = gw.token(&gw.b).await;
    let b = gw.get_with(&gw.b, &b_token, "/v2/tickets/pending-tickets").await;
    assert_eq!(b.status(), 200, "another client has its own quota");
}

#[tokio::test]
async fn two_gateways_sharing_redis_let_exactly_the_quota_through() {
    let Some(redis) = RedisServer::start().await else { return };
    let gateways = TwoGateways::start(&redis, 0, 0, 20).await;
    let mut allowed = 0;
    let mut left_seen = Vec::new();
    for response in gateways.spread(30, 3).await {
        match response.status() {
            StatusCode::OK => {
                allowed += 1;
                left_seen.push(remaining(&response).1.unwrap());
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let retry: u64 =
                    response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=86_400).contains(&retry));
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(allowed, 20, "the quota holds across both gateways");
    assert_eq!(left_seen, (0..20).rev().collect::<Vec<_>>(), "one count, falling by one");
}

#[tokio::test]
async fn two_gateways_sharing_redis_hold_one_burst_and_rate() {
    let Some(redis) = RedisServer::start().await else { return };
    let gateways = TwoGateways::start(&redis, 5, 10, 0).await;
    let started = Instant::now();
    let responses = gateways.spread(60, 2).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut allowed = 0u32;
    for response in responses {
        match response.status() {
            StatusCode::OK => allowed += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    let most = 10.0 + 5.0 * elapsed + 1.0;
    assert!(f64::from(allowed) <= most, "{allowed} allowed in {elapsed:.2} s (at most {most:.1})");
    assert!(allowed >= 10, "the burst itself passes: {allowed}");
}

#[tokio::test]
async fn without_redis_the_gateways_count_alone_stay_ready_and_share_again_once_it_is_back() {
    let Some(mut redis) = RedisServer::start().await else { return };
    let gateways = TwoGateways::start(&redis, 0, 0, 1000).await;
    assert_eq!(remaining(&gateways.first().await).1, Some(999));
    assert_eq!(remaining(&gateways.second().await).1, Some(998), "one shared count");
    redis.kill().await;
    for response in gateways.spread(10, 2).await {
        assert_eq!(response.status(), 200, "no 5xx, no refusal while Redis is away");
        assert!(remaining(&response).1.is_some(), "still counted, in-process");
    }
    let one = &gateways.one;
    assert_eq!(one.http.get(one.url("/readyz")).send().await.unwrap().status(), 200);
    let scraped = metrics::scrape(one.metrics_addr).await;
    let errors = metrics::sample(&scraped, "rate_limit_backend_errors_total", &[]).unwrap_or(0.0);
    assert!(errors >= 1.0, "the failures are counted: {errors}");
    redis.restart().await;
    // Back to one shared count (Redis restarted empty): both gateways see it fall together.
    let shared_again = eventually(Duration::from_secs(10), || async {
        let first = remaining(&gateways.first().await).1;
        let second = remaining(&gateways.second().await).1;
        matches!((first, second), (Some(a), Some(b)) if a == b + 1 && a > 990)
    })
    .await;
    assert!(shared_again, "counting is shared again once Redis is back");
}

#[tokio::test]
async fn a_gateway_whose_redis_never_answered_serves_and_counts_alone() {
    let options = Options {
        rate_per_second: 5,
        rate_burst: 10,
        redis_url: Some("redis://:secret@127.0.0.1:1".into()),
        ..Options::default()
    };
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
    let token = gw.token(&gw.a).await;
    for left in (7..10).rev() {
        let response = list(&gw, &token).await;
        assert_eq!(response.status(), 200);
        assert_eq!(remaining(&response).0, Some(left), "counted in-process");
    }
    let scraped = metrics::scrape(gw.metrics_addr).await;
    let errors = metrics::sample(&scraped, "rate_limit_backend_errors_total", &[]).unwrap_or(0.0);
    assert!(errors >= 1.0, "{errors}");
}
