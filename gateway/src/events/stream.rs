//! One partner's event stream: the retained events after its position, read page by page from
//! the log, then its provider's feed — stitched so that nothing is missed or repeated.
//!
//! The log is read to its end first (`read_to`); only then does the stream subscribe to the
//! feed, which starts a new feed at `read_to` or joins a running one at its position `p`. When
//! the feed is already further (`p > read_to`), the events in between went out before the
//! subscription, so they are read from the log too. From then on the feed brings every later
//! event; each is sent only when its id is above the last one sent.
//!
//! A stream owns two timers, each registered once: the keep-alive, which fires every interval
//! whatever else was sent (a comment then goes out), and the token's expiry, which ends it. An
//! event costs no timer work. The gateway's shutdown reaches a live stream through its feed,
//! which ends and closes the channel; a stream still reading the log checks before each page.

use std::{
    collections::VecDeque,
    convert::Infallible,
    pin::Pin,
    sync::Arc,
    time::{Duration, SystemTime},
};

use axum::body::Bytes;
use futures::Stream;
use tickets_contract::rules::EventLimit;
use tokio::{
    sync::broadcast::error::{RecvError, TryRecvError},
    time::{Instant, Interval, MissedTickBehavior, Sleep},
};

use super::{Delivered, Feeds, Live, StreamSlot, feed::subscribe, read_log};
use crate::{auth::Caller, state::AppState};

/// What a stream sends every keep-alive interval: a comment line.
const KEEP_ALIVE: &[u8] = b":\n\n";

/// The most bytes sent in one chunk, and the most events taken from the feed at once.
const MAX_CHUNK: usize = 64 * 1024;
const MAX_BATCH: usize = 64;

/// The page size the backlog is read in.
const BACKLOG_PAGE: u16 = EventLimit::MAX;

/// Where a stream is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading the log up to its end.
    Backlog,
    /// Reading the log up to the feed's position `until`.
    Fill { until: i64 },
    /// Forwarding the feed.
    Live,
}

/// What a stream sends next: an event, and whether it came live (from the feed) rather than
/// from the log.
type Next = (Arc<Delivered>, bool);

/// One partner stream.
pub(crate) struct PartnerStream {
    state: AppState,
    caller: Caller,
    phase: Phase,
    /// The last id read from the log.
    read_to: i64,
    /// The last id sent.
    sent: i64,
    pending: VecDeque<Next>,
    live: Option<Live>,
    /// Fires every keep-alive interval.
    keep_alive: Interval,
    /// When the caller's token expires: the stream ends.
    expires: Pin<Box<Sleep>>,
    _slot: StreamSlot,
}

impl PartnerStream {
    /// A stream for `caller` after `after`, starting with `first` — the first page of the
    /// backlog, read before the response started so that its failure is an HTTP problem.
    pub(crate) fn new(
        state: AppState,
        caller: Caller,
        slot: StreamSlot,
        after: i64,
        first: Vec<Delivered>,
        first_was_full: bool,
    ) -> Self {
        let read_to = first.last().map_or(after, |event| event.id);
        let every = state.feeds.settings().keep_alive;
        let mut keep_alive = tokio::time::interval_at(Instant::now() + every, every);
        keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let lifetime =
            u64::try_from(caller.expires_at - chrono::Utc::now().timestamp()).unwrap_or(0);
        let expires = Box::pin(tokio::time::sleep(Duration::from_secs(lifetime)));
        let mut stream = Self {
            state,
            caller,
            phase: Phase::Backlog,
            read_to,
            sent: after,
            pending: first.into_iter().map(|event| (Arc::new(event), false)).collect(),
            live: None,
            keep_alive,
            expires,
            _slot: slot,
        };
        if !first_was_full {
            stream.join_feed();
        }
        stream
    }

    /// The page size of every backlog read, including the first.
    pub(crate) const fn page() -> u16 {
        BACKLOG_PAGE
    }

    /// The bytes of the stream — event frames, and a comment every keep-alive interval —
    /// ending when the token expires or the gateway closes.
    pub(crate) fn into_events(self) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
        futures::stream::unfold(self, |mut stream| async move {
            let event = stream.next().await?;
            Some((Ok(event), stream))
        })
    }

    fn feeds(&self) -> &Arc<Feeds> {
        &self.state.feeds
    }

    /// Subscribes to the feed, having read the log to `read_to`.
    fn join_feed(&mut self) {
        let (live, position) = subscribe(self.feeds(), self.caller.provider_id, self.read_to);
        self.live = Some(live);
        self.phase =
            if position > self.read_to { Phase::Fill { until: position } } else { Phase::Live };
    }

    /// The next chunk — the frames of every event ready to go, up to [`MAX_CHUNK`] bytes —
    /// or `None` when the stream ends (a failed read, a slow reader, the feed gone): the
    /// partner reconnects with `Last-Event-ID`. A stream that is behind sends what it owes in
    /// one write instead of one per event, so the busier the gateway, the less each event costs.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            let mut chunk: Option<Bytes> = None;
            let mut joined: Option<Vec<u8>> = None;
            while let Some((event, live)) = self.pending.pop_front() {
                if event.id <= self.sent {
                    continue;
                }
                let size =
                    chunk.as_ref().map_or(0, Bytes::len) + joined.as_ref().map_or(0, Vec::len);
                if size > 0 && size + event.frame.len() > MAX_CHUNK {
                    self.pending.push_front((event, live));
                    break;
                }
                self.sent = event.id;
                let frame = self.render(&event, live);
                match (chunk.take(), joined.as_mut()) {
                    (None, None) => chunk = Some(frame),
                    (Some(first), None) => {
                        let mut buffer = Vec::with_capacity(2 * (first.len() + frame.len()));
                        buffer.extend_from_slice(&first);
                        buffer.extend_from_slice(&frame);
                        joined = Some(buffer);
                    }
                    (_, Some(buffer)) => buffer.extend_from_slice(&frame),
                }
            }
            if let Some(buffer) = joined {
                return Some(Bytes::from(buffer));
            }
            if chunk.is_some() {
                return chunk;
            }
            if self.phase != Phase::Live && self.is_over() {
                return None;
            }
            match self.phase {
                Phase::Backlog => {
                    let full = Box::pin(self.read_page()).await?;
                    if !full {
                        self.join_feed();
                    }
                }
                Phase::Fill { until } => {
                    let full = Box::pin(self.read_page()).await?;
                    if self.read_to >= until || !full {
                        self.phase = Phase::Live;
                    }
                }
                Phase::Live => {
                    let live = self.live.as_mut()?;
                    // The timers first, so that a stream busy with events still ends at its
                    // token's expiry and still sends its comments. (The feed closes its channel
                    // when the gateway shuts down.)
                    let received = tokio::select! {
                        biased;
                        () = &mut self.expires => return None,
                        _ = self.keep_alive.tick() => return Some(Bytes::from_static(KEEP_ALIVE)),
                        received = live.recv() => received,
                    };
                    let mut received = Some(received);
                    // Whatever else is already waiting goes out with it.
                    while let Some(next) = received.take() {
                        match next {
                            Ok(event) => self.pending.push_back((event, true)),
                            Err(RecvError::Lagged(missed)) => {
                                tracing::info!(client_id = %self.caller.client_id, missed, "event stream too slow; disconnected");
                                return None;
                            }
                            Err(RecvError::Closed) => return None,
                        }
                        if self.pending.len() < MAX_BATCH {
                            received = match live.try_recv() {
                                Ok(event) => Some(Ok(event)),
                                Err(TryRecvError::Lagged(missed)) => {
                                    Some(Err(RecvError::Lagged(missed)))
                                }
                                Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
                                Err(TryRecvError::Empty) => None,
                            };
                        }
                    }
                }
            }
        }
    }

    /// Whether the stream must end before reading more of the log: its token expired, or the
    /// gateway is closing.
    fn is_over(&self) -> bool {
        self.expires.deadline() <= Instant::now() || self.state.feeds.is_closing()
    }

    /// Reads the next page of the log into `pending`; whether it was full (more may follow).
    /// (Called boxed: its future, an upstream call's, is large, and an idle stream should not
    /// carry room for it.)
    async fn read_page(&mut self) -> Option<bool> {
        let page = read_log(&self.state.upstream, &self.caller, self.read_to, BACKLOG_PAGE).await;
        let page = match page {
            Ok(page) => page,
            Err(status) => {
                tracing::info!(code = ?status.code(), "reading the event log for a stream failed; ending it");
                return None;
            }
        };
        let full = page.result.len() == usize::from(BACKLOG_PAGE);
        for event in page.result {
            let event = Delivered::try_from(event).ok()?;
            self.read_to = event.id;
            self.pending.push_back((Arc::new(event), false));
        }
        Some(full)
    }

    fn render(&self, event: &Delivered, live: bool) -> Bytes {
        let metrics = &self.state.metrics;
        if live {
            let lag = SystemTime::now().duration_since(event.occurred_at).unwrap_or_default();
            metrics.event_delivery_lag(lag);
        }
        metrics.event_delivered();
        event.frame.clone()
    }
}
