//! `grpc.health.v1` status that tells the truth: SERVING only while the database answers, and
//! NOT_SERVING for good once shutdown starts.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sea_orm::DatabaseConnection;
use tickets_contract::{EMPLOYEE_SERVICE_NAME, TICKET_SERVICE_NAME};
use tonic_health::{ServingStatus, pb::health_server::HealthServer, server::HealthReporter};

/// The names whose status is reported: the overall server (`""`) and each service.
const NAMES: [&str; 3] = ["", TICKET_SERVICE_NAME, EMPLOYEE_SERVICE_NAME];

/// The names that follow the database. The overall status (`""`) does not: it is what liveness
/// probes check, and a database outage is no reason to restart every replica.
const DATABASE_BOUND: [&str; 2] = [TICKET_SERVICE_NAME, EMPLOYEE_SERVICE_NAME];

/// Handle on the health status of every reported name.
#[derive(Clone, Debug)]
pub struct Health {
    reporter: HealthReporter,
    shutting_down: Arc<AtomicBool>,
    /// Serialises status changes, so a database probe finishing late cannot report SERVING
    /// after shutdown reported NOT_SERVING.
    changing: Arc<tokio::sync::Mutex<()>>,
}

impl Health {
    /// A reporter with every name SERVING, and the `grpc.health.v1` service that publishes it.
    pub(crate) async fn new() -> (Self, HealthServer<impl tonic_health::pb::health_server::Health>)
    {
        let (reporter, service) = tonic_health::server::health_reporter();
        let health = Self {
            reporter,
            shutting_down: Arc::new(AtomicBool::new(false)),
            changing: Arc::new(tokio::sync::Mutex::new(())),
        };
        health.set(&NAMES, ServingStatus::Serving).await;
        (health, service)
    }

    async fn set(&self, names: &[&str], status: ServingStatus) {
        for name in names {
            self.reporter.set_service_status(*name, status).await;
        }
    }

    /// Reports NOT_SERVING from now on, whatever the database does.
    pub(crate) async fn shut_down(&self) {
        let _changing = self.changing.lock().await;
        self.shutting_down.store(true, Ordering::SeqCst);
        self.set(&NAMES, ServingStatus::NotServing).await;
    }

    /// Pings the database every `interval` and reports the named services NOT_SERVING while it
    /// does not answer, so that readiness (the gateway's `/readyz`, Kubernetes readiness probes)
    /// follows the store.
    pub(crate) async fn watch_database(self, db: DatabaseConnection, interval: Duration) {
        let mut serving = true;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let reachable = matches!(tokio::time::timeout(interval, db.ping()).await, Ok(Ok(())));
            if reachable != serving {
                let _changing = self.changing.lock().await;
                if self.shutting_down.load(Ordering::SeqCst) {
                    return;
                }
                serving = reachable;
                if reachable {
                    tracing::info!("database reachable again: SERVING");
                    self.set(&DATABASE_BOUND, ServingStatus::Serving).await;
                } else {
                    tracing::warn!("database unreachable: NOT_SERVING");
                    self.set(&DATABASE_BOUND, ServingStatus::NotServing).await;
                }
            }
        }
    }
}
