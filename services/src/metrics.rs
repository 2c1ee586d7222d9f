//! Prometheus metrics of the ticket service, served in the text format on
//! `TICKETS_METRICS_ADDR` at `/metrics`.
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `grpc_server_requests_total` | counter | `method`, `code` | finished RPCs by method and gRPC status code |
//! | `grpc_server_request_duration_seconds` | histogram | `method` | RPC latency, from request to the last response byte |
//! | `db_pool_connections` | gauge | `state` (`in_use`, `idle`) | database pool connections |
//! | `ticket_transitions_total` | counter | `transition` | state changes made (idempotent retries excluded) |

use std::{sync::Arc, time::Duration};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use sea_orm::{DatabaseConnection, DbBackend};
use tickets_runtime::metrics::{LATENCY_BUCKETS, Render};

/// Labels of a finished RPC.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RpcLabels {
    pub(crate) method: &'static str,
    pub(crate) code: &'static str,
}

/// Labels naming an RPC method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MethodLabels {
    pub(crate) method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    transition: &'static str,
}

/// Every metric of the service.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub(crate) rpcs: Family<RpcLabels, Counter>,
    pub(crate) rpc_duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
    pool: Family<StateLabels, Gauge>,
    transitions: Family<TransitionLabels, Counter>,
    db: DatabaseConnection,
}

impl Metrics {
    /// Registers every metric; `db` is read at scrape time for the pool gauges.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Arc<Self> {
        let mut registry = Registry::default();
        let rpcs = Family::<RpcLabels, Counter>::default();
        registry.register(
            "grpc_server_requests",
            "Finished RPCs by method and gRPC status code",
            rpcs.clone(),
        );
        let rpc_duration = Family::<MethodLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(LATENCY_BUCKETS)) as fn() -> Histogram,
        );
        registry.register(
            "grpc_server_request_duration_seconds",
            "RPC latency",
            rpc_duration.clone(),
        );
        let pool = Family::<StateLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections by state",
            pool.clone(),
        );
        let transitions = Family::<TransitionLabels, Counter>::default();
        registry.register("ticket_transitions", "Ticket state changes made", transitions.clone());
        Arc::new(Self { registry, rpcs, rpc_duration, pool, transitions, db })
    }

    /// Counts one started service (a real transition, not a retry).
    pub(crate) fn service_started(&self) {
        self.transitions.get_or_create(&TransitionLabels { transition: "start_service" }).inc();
    }

    /// Records a finished RPC.
    pub(crate) fn rpc_finished(&self, method: &'static str, code: &'static str, elapsed: Duration) {
        self.rpcs.get_or_create(&RpcLabels { method, code }).inc();
        self.rpc_duration.get_or_create(&MethodLabels { method }).observe(elapsed.as_secs_f64());
    }
}

impl Render for Metrics {
    fn render(&self) -> Result<String, std::fmt::Error> {
        let (size, idle) = match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        self.pool.get_or_create(&StateLabels { state: "idle" }).set(i64::from(idle));
        self.pool
            .get_or_create(&StateLabels { state: "in_use" })
            .set(i64::from(size.saturating_sub(idle)));
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
