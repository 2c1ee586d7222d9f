//! The live event feeds of the gateway (docs/events.md): **one upstream watch per provider**,
//! fanned out to every partner stream of that provider, and the per-client cap on open streams.
//!
//! - [`feed`]: the per-provider watch. It resumes after the last id it forwarded whenever the
//!   upstream stream breaks (a service pod stops, a token is renewed), so its partners see
//!   neither a gap nor a repeat, and it ends when its last partner stream has gone.
//! - [`stream`]: one partner's stream — the backlog from the log, then the feed, stitched at
//!   the last id sent.

pub(crate) mod feed;
pub(crate) mod stream;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use axum::body::Bytes;
use tickets_contract::v2::{self, ticket_service_client::TicketServiceClient};
use tokio::sync::{broadcast, watch};
use tonic::{Request, Response, Status, transport::Channel};
use uuid::Uuid;

use crate::{
    auth::{Auth, Caller},
    model::{Incomplete, TicketEvent},
    upstream::Upstream,
};

/// How many events a partner stream may fall behind its feed before it is disconnected (it
/// resumes with `Last-Event-ID`): the memory a slow reader can hold is bounded by this.
const MAX_BEHIND: usize = 1024;

/// An event as a feed hands it to its partner streams: its Server-Sent-Events frame is written
/// once, and every stream sends the same bytes (a reference count, not a copy, per stream).

#[derive(Debug)]
pub(crate) struct Delivered {
    /// Its id.
    pub(crate) id: i64,
    /// `id: …`, `event: …` and `data: <the event's JSON, on one line>`, and the blank line.
    pub(crate) frame: Bytes,
    /// When it happened, for the delivery-lag histogram.
    pub(crate) occurred_at: SystemTime,
}

impl TryFrom<v2::TicketEvent> for Delivered {
    type Error = Incomplete;

    /// The event the service sent, serialised for partners.
    fn try_from(event: v2::TicketEvent) -> Result<Self, Incomplete> {
        let occurred_at = event
            .occurred_at
            .and_then(|at| {
                let nanos = u32::try_from(at.nanos).ok()?;
                let seconds = u64::try_from(at.seconds).ok()?;
                SystemTime::UNIX_EPOCH.checked_add(Duration::new(seconds, nanos))
            })
            .unwrap_or_else(SystemTime::now);
        let event = TicketEvent::try_from(event)?;
        let json = serde_json::to_string(&event).map_err(|_| Incomplete::unserialisable())?;
        let frame = format!("id: {}\nevent: {}\ndata: {json}\n\n", event.id, event.kind.name());
        Ok(Self { id: event.id, frame: Bytes::from(frame), occurred_at })
    }
}

/// What partner streams receive from a feed.
pub(crate) type Live = broadcast::Receiver<Arc<Delivered>>;

/// A page of `caller`'s event log after `after`, of at most `limit` events.
pub(crate) async fn read_log(
    upstream: &Upstream,
    caller: &Caller,
    after: i64,
    limit: u16,
) -> Result<v2::ListTicketEventsResponse, Status> {
    let request = v2::ListTicketEventsRequest { after: Some(after), limit: Some(i32::from(limit)) };
    upstream.call(caller, request, list_ticket_events).await
}

async fn list_ticket_events(
    mut client: TicketServiceClient<Channel>,
    request: Request<v2::ListTicketEventsRequest>,
) -> Result<Response<v2::ListTicketEventsResponse>, Status> {
    client.list_ticket_events(request).await
}

/// One provider's feed.
#[derive(Debug)]
struct Feed {
    sender: broadcast::Sender<Arc<Delivered>>,
    /// The id of the last event handed out: a partner that subscribes now gets every later one.
    last: Mutex<i64>,
}

/// Settings of the event streams.
#[derive(Clone, Copy, Debug)]
pub struct StreamSettings {
    /// Most open streams per client (`GATEWAY_MAX_STREAMS_PER_CLIENT`).
    pub max_per_client: usize,
    /// How often a stream sends a keep-alive comment.
    pub keep_alive: Duration,
    /// How many events a stream may fall behind its feed before it is disconnected (rounded up
    /// to a power of two).
    pub max_behind: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self { max_per_client: 10, keep_alive: Duration::from_secs(15), max_behind: MAX_BEHIND }
    }
}

/// Every feed and stream of the gateway.
#[derive(Debug)]
pub(crate) struct Feeds {
    upstream: Upstream,
    auth: Arc<Auth>,
    settings: StreamSettings,
    feeds: Mutex<HashMap<Uuid, Arc<Feed>>>,
    streams: Mutex<HashMap<Arc<str>, usize>>,
    open: AtomicUsize,
    closing: watch::Sender<bool>,
}

impl Feeds {
    pub(crate) fn new(upstream: Upstream, auth: Arc<Auth>, settings: StreamSettings) -> Self {
        Self {
            upstream,
            auth,
            settings,
            feeds: Mutex::default(),
            streams: Mutex::default(),
            open: AtomicUsize::new(0),
            closing: watch::channel(false).0,
        }
    }

    /// The stream settings.
    pub(crate) const fn settings(&self) -> StreamSettings {
        self.settings
    }

    /// Partner streams open now.
    pub(crate) fn open_streams(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Upstream watches running now (one per provider with a stream).
    pub(crate) fn watches(&self) -> usize {
        self.feeds.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Ends every stream and feed (graceful shutdown): partners resume on another replica.
    pub(crate) fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Whether [`close`](Self::close) was called.
    pub(crate) fn is_closing(&self) -> bool {
        *self.closing.borrow()
    }

    /// Resolves once [`close`](Self::close) was called.
    pub(crate) fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closing| *closing).await;
        }
    }

    /// A slot for one more stream of `client`, or `None` when it has the most it may.
    pub(crate) fn open_stream(self: &Arc<Self>, client: &Arc<str>) -> Option<StreamSlot> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let count = streams.entry(client.clone()).or_default();
        if *count >= self.settings.max_per_client {
            return None;
        }
        *count += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(StreamSlot { feeds: self.clone(), client: client.clone() })
    }

    /// Removes `provider`'s feed when no stream receives from it any more; whether it did. A
    /// partner subscribing at the same moment holds the same lock, so it either sees the feed
    /// gone (and starts a new one) or keeps this one alive.
    fn retire_if_unused(&self, provider: Uuid, feed: &Arc<Feed>) -> bool {
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        if feed.sender.receiver_count() > 0 {
            return false;
        }
        if feeds.get(&provider).is_some_and(|current| Arc::ptr_eq(current, feed)) {
            feeds.remove(&provider);
        }
        true
    }

    /// Removes `provider`'s feed whatever its streams (they end and resume by their last id).
    fn retire(&self, provider: Uuid, feed: &Arc<Feed>) {
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        if feeds.get(&provider).is_some_and(|current| Arc::ptr_eq(current, feed)) {
            feeds.remove(&provider);
        }
    }
}

/// One open partner stream, counted against its client's cap until dropped.
#[derive(Debug)]
pub(crate) struct StreamSlot {
    feeds: Arc<Feeds>,
    client: Arc<str>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut streams = self.feeds.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = streams.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                streams.remove(&self.client);
            }
        }
        self.feeds.open.fetch_sub(1, Ordering::Relaxed);
    }
}
