//! A real ticket service on an ephemeral port.

use std::net::SocketAddr;

use ticket_service::{
    grpc::{self, ServerSettings, ServerTls},
    metrics::Metrics,
    store::{self, DatabaseConnection, PoolSettings},
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::transport::{Channel, ClientTlsConfig};

/// A ticket service serving on `127.0.0.1:<ephemeral>`, stopped when dropped.
#[derive(Debug)]
pub struct TestService {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A connected channel to it (over TLS for [`Self::start_tls`]).
    pub channel: Channel,
    /// Its pool, for seeding or inspecting the database directly.
    pub db: DatabaseConnection,
    /// Where its Prometheus `/metrics` endpoint listens.
    pub metrics_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestService {
    /// Migrates `url` and serves it.
    pub async fn start(url: &str, settings: ServerSettings) -> Self {
        let db = store::connect(url, PoolSettings::default()).expect("pool");
        store::migrate(&db).await.expect("migrations");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(listener, db, settings).await
    }

    /// Serves `db` on `listener` (bind first, so callers can reuse a known address).
    pub async fn serve(
        listener: TcpListener,
        db: DatabaseConnection,
        settings: ServerSettings,
    ) -> Self {
        Self::serve_with(listener, db, settings, None).await
    }

    /// Migrates `url` and serves it over TLS only, with `tls` (mutual when its files name a
    /// client CA; see [`crate::pki`]), checking its files for a replacement every
    /// `settings.tls_reload`. [`Self::channel`] is connected over TLS with `client`: it keeps
    /// the connection it made at start, so after a rotation it says nothing about new ones.
    pub async fn start_tls(
        url: &str,
        settings: ServerSettings,
        tls: ServerTls,
        client: ClientTlsConfig,
    ) -> Self {
        let db = store::connect(url, PoolSettings::default()).expect("pool");
        store::migrate(&db).await.expect("migrations");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve_with(listener, db, settings, Some((tls, client))).await
    }

    async fn serve_with(
        listener: TcpListener,
        db: DatabaseConnection,
        settings: ServerSettings,
        tls: Option<(ServerTls, ClientTlsConfig)>,
    ) -> Self {
        let (server_tls, client_tls) = tls.unzip();
        let db_for_server = db.clone();
        let addr = listener.local_addr().expect("local addr");
        let metrics = Metrics::new(db.clone());
        let metrics_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind metrics");
        let metrics_addr = metrics_listener.local_addr().expect("metrics addr");
        let (shutdown, stop) = oneshot::channel::<()>();
        let (metrics_stop, metrics_stopped) = oneshot::channel::<()>();
        tokio::spawn(tickets_runtime::metrics::serve(
            metrics_listener,
            metrics.clone(),
            async move {
                let _ = metrics_stopped.await;
            },
        ));
        let server = tokio::spawn(async move {
            let served = grpc::serve(
                listener,
                db_for_server,
                metrics,
                settings,
                grpc::Security {
                    callers: grpc::Callers::verified(crate::tokens::verifier()),
                    tls: server_tls,
                    health_listener: None,
                },
                async move {
                    let _ = stop.await;
                },
            )
            .await;
            let _ = metrics_stop.send(());
            served
        });
        let channel = match client_tls {
            Some(config) => crate::pki::endpoint(addr, config)
                .connect()
                .await
                .unwrap_or_else(|error| panic!("connect over TLS to {addr}: {error:?}")),
            None => crate::grpc::connect(addr).await,
        };
        Self { addr, channel, db, metrics_addr, shutdown: Some(shutdown), server: Some(server) }
    }

    /// Signals shutdown without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Starts shutdown and waits for the server to return.
    ///
    /// # Errors
    /// When the server failed.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.begin_shutdown();
        match self.server.take() {
            Some(server) => server.await?,
            None => Ok(()),
        }
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}
