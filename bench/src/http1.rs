//! The REST half of the load generator: one keep-alive HTTP/1.1 connection per worker, driven
//! inside the worker's own task (no connection task, no pool, no URL parsing per request).
//!
//! The load generator shares the machine's cores with the servers and the database, so every
//! microsecond it spends is one the system under test does not get. A pooled general-purpose
//! client (reqwest: URL parsing, pool checkout, a connection task per connection) cost about
//! 75 µs of CPU per REST get on the slower host of the latest run; this costs about 50 µs,
//! against 65–75 µs for the gRPC half (tonic's channel): a lean instrument, as `wrk` would be
//! for HTTP/1.1. The CPU table of the report shows each half's cost.

use std::{
    net::{IpAddr, SocketAddr},
    pin::Pin,
};

use http_body_util::{BodyExt as _, Full};
use hyper::{
    Request, StatusCode,
    body::Bytes,
    client::conn::http1::{self, Connection, SendRequest},
    header::{HOST, HeaderValue},
};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpSocket, TcpStream};

type Conn = Pin<Box<Connection<TokioIo<TcpStream>, Full<Bytes>>>>;

/// A connection to one server, opened on first use and again after it fails or closes.
#[derive(Debug)]
pub(crate) struct Http1 {
    /// `host:port`.
    address: String,
    host: HeaderValue,
    /// The local address connections are opened from (the system's choice when `None`).
    source: Option<IpAddr>,
    open: Option<(SendRequest<Full<Bytes>>, Conn)>,
}

impl Http1 {
    /// A client for the `http://host:port` in `base` (a path after it is ignored).
    pub(crate) fn new(base: &str) -> anyhow::Result<Self> {
        let uri: hyper::Uri = base.parse()?;
        anyhow::ensure!(uri.scheme_str() == Some("http"), "{base}: only http:// is supported");
        let authority = uri.authority().ok_or_else(|| anyhow::anyhow!("{base}: no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        Ok(Self {
            address: format!("{}:{port}", authority.host()),
            host: HeaderValue::from_str(authority.as_str())?,
            source: None,
            open: None,
        })
    }

    /// Opens the next connection from `source` (the current one is closed).
    pub(crate) fn reconnect_from(&mut self, source: IpAddr) {
        self.source = Some(source);
        self.open = None;
    }

    async fn connect(&self) -> Result<(SendRequest<Full<Bytes>>, Conn), String> {
        let failed = |e: std::io::Error| format!("transport: connecting to {}: {e}", self.address);
        let stream = match self.source {
            None => TcpStream::connect(&self.address).await.map_err(failed)?,
            Some(source) => {
                let remote: SocketAddr = self.address.parse().map_err(|e| format!("{e}"))?;
                let socket =
                    if source.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }
                        .map_err(failed)?;
                socket.bind(SocketAddr::new(source, 0)).map_err(failed)?;
                socket.connect(remote).await.map_err(failed)?
            }
        };
        stream.set_nodelay(true).map_err(|e| format!("transport: {e}"))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("transport: handshake: {e}"))?;
        Ok((sender, Box::pin(connection)))
    }

    /// Sends `request` (its `Host` is set here) and reads the whole answer: the status, the
    /// body as received (not decoded), and its `Content-Encoding`.
    pub(crate) async fn send(
        &mut self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes, Option<HeaderValue>), String> {
        if self.open.as_ref().is_none_or(|(sender, _)| sender.is_closed()) {
            self.open = Some(self.connect().await?);
        }
        let (sender, connection) = self.open.as_mut().ok_or("transport: not connected")?;
        request.headers_mut().insert(HOST, self.host.clone());
        let exchange = async {
            sender.ready().await.map_err(|e| format!("transport: {e}"))?;
            let response =
                sender.send_request(request).await.map_err(|e| format!("transport: {e}"))?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| format!("reading body: {e}"))?;
            let encoding = parts.headers.get(hyper::header::CONTENT_ENCODING).cloned();
            Ok::<_, String>((parts.status, body.to_bytes(), encoding))
        };
        // The connection makes progress only while it is polled: alongside the exchange.
        let outcome = tokio::select! {
            biased;
            outcome = exchange => outcome,
            ended = connection.as_mut() => Err(match ended {
                Ok(()) => "transport: connection closed".to_owned(),
                Err(e) => format!("transport: {e}"),
            }),
        };
        if outcome.is_err() {
            self.open = None;
        }
        outcome
    }
}
