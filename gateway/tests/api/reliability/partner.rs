//! A partner's client calling the gateway over HTTP, and what each call came back with.

use std::time::Duration;

use tickets_testing::eventually;
use uuid::Uuid;

use crate::helpers::{TestGateway, start_service};

/// What one REST call came back with. `status` 0: no answer within the allowed time.
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) location: Option<String>,
    pub(crate) body: serde_json::Value,
    pub(crate) elapsed: Duration,
    /// When it came back.
    pub(crate) at: tokio::time::Instant,
}

impl Answer {
    /// A 503 `service-unavailable` problem.
    pub(crate) fn is_unavailable_problem(&self) -> bool {
        self.status == 503
            && self.content_type == "application/problem+json"
            && self.body["type"] == "/problems/service-unavailable"
    }
}

/// A partner's client calling the gateway: one token, fetched once and reused by every call
/// (the token endpoint is not what these tests load).
#[derive(Clone, Debug)]
pub(crate) struct Partner {
    http: reqwest::Client,
    base: String,
    token: String,
    api_key: String,
    /// Longest a call may take before it counts as hung.
    patience: Duration,
}

impl Partner {
    /// Client A of `gw`, giving each call `patience` to answer.
    pub(crate) async fn of(gw: &TestGateway, patience: Duration) -> Self {
        Self {
            http: gw.http.clone(),
            base: gw.base.clone(),
            token: gw.token(&gw.a).await,
            api_key: gw.a.api_key.clone(),
            patience,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let started = std::time::Instant::now();
        let request = request.bearer_auth(&self.token).header("x-api-key", &self.api_key);
        let Ok(Ok(response)) = tokio::time::timeout(self.patience, request.send()).await else {
            return Answer {
                status: 0,
                content_type: String::new(),
                location: None,
                body: serde_json::Value::Null,
                elapsed: started.elapsed(),
                at: tokio::time::Instant::now(),
            };
        };
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let (content_type, location) =
            (header("content-type").unwrap_or_default(), header("location"));
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        Answer {
            status,
            content_type,
            location,
            body: serde_json::from_slice(&bytes).unwrap_or_default(),
            elapsed: started.elapsed(),
            at: tokio::time::Instant::now(),
        }
    }

    /// `GET path`.
    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    /// Starts service on pending ticket `ticket` as `operator`.
    pub(crate) async fn start(&self, ticket: &str, operator: Uuid) -> Answer {
        let url = format!("{}/v2/tickets/pending-tickets/{ticket}", self.base);
        self.send(self.http.patch(url).json(&start_service(operator))).await
    }

    /// `GET /readyz` (no credentials needed; sent with them anyway).
    pub(crate) async fn ready(&self) -> u16 {
        self.get("/readyz").await.status
    }

    /// Polls `/readyz` until it answers `status`, for at most `timeout`.
    pub(crate) async fn wait_ready(&self, status: u16, timeout: Duration) -> bool {
        eventually(timeout, || async move { self.ready().await == status }).await
    }
}
