//! Client-side load balancing over every ticket-service pod.
//!
//! gRPC multiplexes every call of a gateway over one HTTP/2 connection, so behind a plain
//! Kubernetes Service all of a gateway's calls would land on one pod. With
//! `GATEWAY_TICKET_SERVICE_URL=dns:///name:port` (a headless Service) the gateway instead keeps
//! a connection to every address the name resolves to and spreads calls over them
//! (power-of-two-choices on pending requests, tower's balancer inside tonic).
//!
//! A background task keeps the set true: every [`BalanceSettings::refresh`] — and at once when a
//! call fails to reach a pod — it resolves the name again and asks each address for the gRPC
//! health of `tickets.v2.TicketService`. An address joins the set when it answers SERVING and
//! leaves it when it stops resolving, stops answering, or reports NOT_SERVING (its database is
//! unreachable, or it is shutting down — which it says before it stops accepting). A pod that
//! comes back is probed, found SERVING and used again. The gateway's readiness is "the set is
//! not empty": known at every moment without a call of its own.

use std::{
    collections::{BTreeSet, HashMap},
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::{Notify, mpsc::Sender};
use tonic::transport::{Channel, Endpoint, channel::Change};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Resolves the target to its current addresses.
pub type Resolve = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>> + Send + Sync,
>;

/// Timings of the balancer.
#[derive(Clone, Copy, Debug)]
pub struct BalanceSettings {
    /// How often the name is resolved and every address probed.
    pub refresh: Duration,
    /// How long a health probe may take before the address counts as down.
    pub probe_timeout: Duration,
    /// With TLS: how often the certificate files are checked for a replacement.
    pub tls_reload: Duration,
}

impl Default for BalanceSettings {
    fn default() -> Self {
        Self {
            refresh: Duration::from_secs(2),
            probe_timeout: Duration::from_secs(1),
            tls_reload: tickets_runtime::tls::RELOAD_EVERY,
        }
    }
}

/// Answers whether the connections' TLS files were replaced since it was last asked (and takes
/// the new ones up).
pub(crate) type Rotated = Arc<dyn Fn() -> bool + Send + Sync>;

/// `host` and `port` of a `dns:///host:port` (or `dns://authority/host:port`) target.
pub(crate) fn parse_dns_target(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("dns:")?;
    let rest =
        rest.strip_prefix("//").map_or(rest, |r| r.split_once('/').map_or("", |(_, path)| path));
    let (host, port) = rest.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse().ok()?;
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

/// A resolver that asks the system (DNS, `/etc/hosts`) for `host`.
pub(crate) fn dns_resolver(host: String, port: u16) -> Resolve {
    Arc::new(move || {
        let host = host.clone();
        Box::pin(async move {
            let mut addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), port)).await?.collect();
            addresses.sort_unstable();
            addresses.dedup();
            Ok(addresses)
        })
    })
}

/// What the upstream client needs of the balancer.
#[derive(Clone, Debug)]
pub struct Balancer {
    healthy: Arc<AtomicUsize>,
    wake: Arc<Notify>,
    /// Becomes true once the first round has probed every address.
    settled: tokio::sync::watch::Receiver<bool>,
}

impl Balancer {
    /// Waits (at most `limit`) until the first round has probed every address, so that the
    /// calls of a gateway that just started are not refused before it knows its pods.
    pub(crate) async fn settled(&self, limit: Duration) {
        let mut settled = self.settled.clone();
        let _ = tokio::time::timeout(limit, settled.wait_for(|settled| *settled)).await;
    }

    /// How many pods are in the set now.
    pub(crate) fn endpoints(&self) -> usize {
        self.healthy.load(Ordering::SeqCst)
    }

    /// Whether at least one pod is in the set (else calls fail fast instead of waiting).
    pub(crate) fn has_endpoints(&self) -> bool {
        self.healthy.load(Ordering::SeqCst) > 0
    }

    /// Asks for an immediate re-resolution and probe (a call could not reach its pod).
    pub(crate) fn connection_lost(&self) {
        self.wake.notify_one();
    }
}

impl std::fmt::Debug for BalancerTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BalancerTask").field("members", &self.members).finish_non_exhaustive()
    }
}

struct BalancerTask {
    resolve: Resolve,
    endpoint: Arc<dyn Fn(SocketAddr) -> Endpoint + Send + Sync>,
    settings: BalanceSettings,
    changes: Sender<Change<SocketAddr, Endpoint>>,
    /// A health client per resolved address, on its own connection.
    probes: HashMap<SocketAddr, HealthClient<Channel>>,
    /// The addresses currently in the balanced channel.
    members: BTreeSet<SocketAddr>,
    healthy: Arc<AtomicUsize>,
    wake: Arc<Notify>,
    rotated: Option<Rotated>,
    settled: tokio::sync::watch::Sender<bool>,
}

impl BalancerTask {
    /// New connections for every pod when the TLS files were replaced: each member's endpoint
    /// is replaced (its calls move to a connection with the new certificate) and the probes
    /// reconnect.
    async fn follow_rotation(&mut self) {
        if !self.rotated.as_ref().is_some_and(|rotated| rotated()) {
            return;
        }
        tracing::info!("TLS files replaced: reconnecting to every ticket-service pod");
        self.probes.clear();
        for address in self.members.clone() {
            let _ = self.changes.send(Change::Insert(address, (self.endpoint)(address))).await;
        }
    }

    async fn probe(&mut self, address: SocketAddr) -> bool {
        let endpoint = (self.endpoint)(address);
        let client = self
            .probes
            .entry(address)
            .or_insert_with(|| HealthClient::new(endpoint.connect_lazy()));
        let service = tickets_contract::TICKET_SERVICE_NAME.to_owned();
        let check = client.check(HealthCheckRequest { service });
        matches!(
            tokio::time::timeout(self.settings.probe_timeout, check).await,
            Ok(Ok(response)) if response.get_ref().status == ServingStatus::Serving as i32
        )
    }

    async fn round(&mut self) {
        let resolved: BTreeSet<SocketAddr> = match (self.resolve)().await {
            Ok(addresses) => addresses.into_iter().collect(),
            Err(error) => {
                tracing::warn!(%error, "resolving the ticket service failed; keeping the current pods");
                self.members.clone()
            }
        };
        self.probes.retain(|address, _| resolved.contains(address));
        for address in resolved.iter().copied() {
            let up = self.probe(address).await;
            let member = self.members.contains(&address);
            if up && !member {
                tracing::info!(%address, "ticket-service pod joins the balancer");
                if self
                    .changes
                    .send(Change::Insert(address, (self.endpoint)(address)))
                    .await
                    .is_ok()
                {
                    self.members.insert(address);
                }
            } else if !up && member {
                tracing::warn!(%address, "ticket-service pod leaves the balancer (not serving)");
                let _ = self.changes.send(Change::Remove(address)).await;
                self.members.remove(&address);
            }
        }
        let gone: Vec<SocketAddr> = self.members.difference(&resolved).copied().collect();
        for address in gone {
            tracing::info!(%address, "ticket-service pod no longer resolves; leaving the balancer");
            let _ = self.changes.send(Change::Remove(address)).await;
            self.members.remove(&address);
        }
        self.healthy.store(self.members.len(), Ordering::SeqCst);
        self.settled.send_if_modified(|settled| !std::mem::replace(settled, true));
    }

    async fn run(mut self) {
        let mut checked = tokio::time::Instant::now();
        loop {
            if checked.elapsed() >= self.settings.tls_reload {
                checked = tokio::time::Instant::now();
                self.follow_rotation().await;
            }
            self.round().await;
            if self.changes.is_closed() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.refresh) => {}
                () = self.wake.notified() => {
                    // Coalesce a burst of failures into one round.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

/// A channel balanced over the addresses `resolve` returns, each connected through `endpoint`.
/// Runs its maintenance task until the channel is dropped.
pub(crate) fn balanced_channel(
    resolve: Resolve,
    endpoint: impl Fn(SocketAddr) -> Endpoint + Send + Sync + 'static,
    settings: BalanceSettings,
    rotated: Option<Rotated>,
) -> (Channel, Balancer) {
    let (channel, changes) = Channel::balance_channel::<SocketAddr>(64);
    let (settled, settled_rx) = tokio::sync::watch::channel(false);
    let balancer = Balancer { healthy: Arc::default(), wake: Arc::default(), settled: settled_rx };
    let task = BalancerTask {
        resolve,
        endpoint: Arc::new(endpoint),
        settings,
        changes,
        probes: HashMap::new(),
        members: BTreeSet::new(),
        healthy: balancer.healthy.clone(),
        wake: balancer.wake.clone(),
        rotated,
        settled,
    };
    tokio::spawn(task.run());
    (channel, balancer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_targets_parse() {
        assert_eq!(
            parse_dns_target("dns:///ticket-service:50051"),
            Some(("ticket-service".into(), 50051))
        );
        assert_eq!(
            parse_dns_target("dns://8.8.8.8/tickets.svc:1"),
            Some(("tickets.svc".into(), 1))
        );
        assert_eq!(parse_dns_target("dns:///[::1]:50051"), Some(("::1".into(), 50051)));
        for bad in ["dns:///ticket-service", "dns:///:50051", "http://a:1", "dns:///a:port"] {
            assert_eq!(parse_dns_target(bad), None, "{bad}");
        }
    }
}
