//! How the gateway connects to the ticket service: one lazy HTTP/2 channel for `http://`
//! targets, a balanced one for `dns:///` targets.

use std::time::Duration;

use anyhow::Context as _;
use tonic::transport::{Channel, Endpoint};

use super::balance::{
    BalanceSettings, Balancer, Resolve, balanced_channel, dns_resolver, parse_dns_target,
};

/// How calls reach the ticket service: one channel, balanced over every pod for `dns:///`.
#[derive(Clone, Debug)]
pub struct ServiceChannel {
    pub(crate) channel: Channel,
    pub(crate) balancer: Option<Balancer>,
}

/// The connection settings of every connection to the ticket service.
fn endpoint(uri: &str, request_timeout: Duration) -> anyhow::Result<Endpoint> {
    Ok(Endpoint::from_shared(uri.to_owned())
        .with_context(|| format!("GATEWAY_TICKET_SERVICE_URL {uri:?} is not a valid URL"))?
        .connect_timeout(Duration::from_secs(1).min(request_timeout))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true))
}

impl ServiceChannel {
    /// `http://host:port`: one HTTP/2 connection, made lazily so that the gateway starts (and
    /// answers 503) while the service is down. `dns:///name:port`: balanced over every address
    /// the name resolves to (see [`super::balance`]).
    ///
    /// # Errors
    /// When the URL is malformed.
    pub fn connect(
        url: &str,
        request_timeout: Duration,
        balance: BalanceSettings,
    ) -> anyhow::Result<Self> {
        if url.starts_with("dns:") {
            let (host, port) = parse_dns_target(url).with_context(|| {
                format!("GATEWAY_TICKET_SERVICE_URL {url:?} must look like dns:///name:port")
            })?;
            return Self::balanced(dns_resolver(host, port), request_timeout, balance);
        }
        Ok(Self { channel: endpoint(url, request_timeout)?.connect_lazy(), balancer: None })
    }

    /// Balanced over whatever `resolve` returns (tests resolve to fixed loopback addresses).
    ///
    /// # Errors
    /// Never in practice (the per-address URLs are well formed).
    pub fn balanced(
        resolve: Resolve,
        request_timeout: Duration,
        balance: BalanceSettings,
    ) -> anyhow::Result<Self> {
        endpoint("http://127.0.0.1:1", request_timeout)?;
        let (channel, balancer) = balanced_channel(
            resolve,
            move |address| {
                endpoint(&format!("http://{address}"), request_timeout)
                    .unwrap_or_else(|_| Endpoint::from_static("http://127.0.0.1:1"))
            },
            balance,
        );
        Ok(Self { channel, balancer: Some(balancer) })
    }
}
