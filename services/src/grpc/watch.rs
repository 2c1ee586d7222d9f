//! `ListTicketEvents` and `WatchTicketEvents`: a page of the provider's log, and the log from a
//! position on, live (docs/events.md).
//!
//! A watch subscribes to the hub *before* it reads the backlog from the database: whatever the
//! hub hands out from then on reaches it, and whatever was handed out before is already in the
//! database it reads. It sends every event with an id above the last one it sent, so the seam
//! between the two shows neither a gap nor a repeat.

use std::{pin::Pin, time::Duration};

use sea_orm::DatabaseConnection;
use tickets_contract::v2;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};

use super::{
    Service,
    callers::{TokenExpiry, provider_of},
    convert::{self, EventPage},
};
use crate::{
    domain::{EventLimit, EventPosition, EventQuery, ProviderId},
    events::Live,
    store,
};

/// The stream a watch answers with.
pub(crate) type Watch = Pin<Box<dyn Stream<Item = Result<v2::TicketEvent, Status>> + Send>>;

/// How many events may wait in a watch's outgoing queue. A caller that does not read blocks the
/// watch, which then falls behind the hub and reads from the database when it is read again:
/// memory per watch is bounded whatever the caller does.
const QUEUE: usize = 64;

/// The page size of the backlog a watch reads from the database.
const BACKLOG_PAGE: EventLimit = EventLimit::DEFAULT;

impl Service {
    pub(crate) async fn list_events(
        &self,
        request: Request<v2::ListTicketEventsRequest>,
    ) -> Result<Response<v2::ListTicketEventsResponse>, Status> {
        let provider = provider_of(&request)?;
        let query = EventQuery::try_from(request.into_inner())?;
        let events = store::events::page(&self.db, provider, query).await?;
        Ok(Response::new(EventPage { query, events }.into()))
    }

    pub(crate) async fn watch_events(
        &self,
        request: Request<v2::WatchTicketEventsRequest>,
    ) -> Result<Response<Watch>, Status> {
        let provider = provider_of(&request)?;
        let expires = request.extensions().get::<TokenExpiry>().copied();
        let after = convert::watch_position(request.into_inner())?;
        let live = self.hub.subscribe(provider).await.ok_or_else(|| {
            Status::unavailable("the service is starting its event feed; retry in a moment")
        })?;
        store::events::check_position(&self.db, after).await?;
        let (sender, receiver) = mpsc::channel(QUEUE);
        let tail = sender.clone();
        let watcher = Watcher { db: self.db.clone(), provider, last: after.get(), sender };
        let closing = self.hub.closing();
        tokio::spawn(async move {
            let ended = tokio::select! {
                ended = watcher.run(live) => ended,
                () = until_expiry(expires) => Some(Status::unauthenticated(
                    "the access token expired; resume with a new one after the last event id",
                )),
                () = closed(closing) => Some(Status::unavailable(
                    "the service is stopping; resume after the last event id",
                )),
            };
            if let Some(status) = ended {
                let _ = tail.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}

/// One watch: where it is, and where its events go.
struct Watcher {
    db: DatabaseConnection,
    provider: ProviderId,
    last: i64,
    sender: mpsc::Sender<Result<v2::TicketEvent, Status>>,
}

impl Watcher {
    /// Sends the backlog, then live events, until the caller goes away or a read fails.
    async fn run(mut self, mut live: Live) -> Option<Status> {
        loop {
            if let Err(status) = self.catch_up().await {
                return Some(status);
            }
            loop {
                let event = tokio::select! {
                    received = live.recv() => received,
                    () = self.sender.closed() => return None,
                };
                match event {
                    Ok(event) if event.provider == self.provider && event.id > self.last => {
                        self.last = event.id;
                        if self.sender.send(Ok((*event).clone().into())).await.is_err() {
                            return None;
                        }
                    }
                    Ok(_) => {}
                    // Fell behind the hub: what it missed is in the database.
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => {
                        return Some(Status::unavailable("the service is stopping"));
                    }
                }
            }
        }
    }

    /// Sends every event of the database after `last`.
    async fn catch_up(&mut self) -> Result<(), Status> {
        loop {
            let query = EventQuery {
                after: EventPosition::new(self.last).unwrap_or_default(),
                limit: BACKLOG_PAGE,
            };
            let page = store::events::page(&self.db, self.provider, query).await?;
            let full = page.len() == usize::from(BACKLOG_PAGE.get());
            for event in page {
                self.last = event.id;
                if self.sender.send(Ok(event.into())).await.is_err() {
                    return Ok(());
                }
            }
            if !full {
                return Ok(());
            }
        }
    }
}

async fn until_expiry(expires: Option<TokenExpiry>) {
    match expires {
        Some(TokenExpiry(at)) => {
            let left = at - chrono::Utc::now().timestamp();
            tokio::time::sleep(Duration::from_secs(u64::try_from(left).unwrap_or(0))).await;
        }
        None => std::future::pending().await,
    }
}

async fn closed(mut closing: tokio::sync::watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}
