//! The hub of live events in one service process (docs/events.md): it learns that events were
//! committed, reads them once, and hands them to every watcher of the process.
//!
//! - PostgreSQL: one listening connection (`LISTEN ticket_events`). A change committed by this
//!   process wakes the hub ([`poke`](Hub::poke)), which runs the sequencer and reads what is new
//!   in the same round trip; the sequencer's `NOTIFY` (once per batch, from its own transaction,
//!   with the head it numbered up to) makes every other replica's hub read what is new.
//!   Writers never notify themselves: a transaction that notifies serialises its commit with
//!   every other notifying one, which would cap the write rate. Under write load (a pass that
//!   handed out [`BUSY_PASS`] events or more) the hub waits [`GATHER`] before its next pass, so
//!   that one pass numbers what many commits staged.
//!   When the listening connection breaks (a database restart, a failover), the hub connects
//!   again and reads what it missed meanwhile, so the gap loses nothing.
//! - SQLite: the process is the only writer; the handlers [`poke`](Hub::poke) the hub after a
//!   change.
//! - Both: a tick every [`TICK`] reads anyway, for writers the hub cannot hear (another process
//!   on the same SQLite file, a notification lost with a connection), and the pruning of events
//!   older than the retention runs every [`PRUNE_EVERY`].
//!
//! Watchers get `Arc`s of their provider's events through a bounded broadcast per provider, so
//! an event wakes only the watchers of its provider (with one broadcast for all, every event
//! woke every watcher of the process, to be dropped by all but its provider's). A watcher that
//! falls behind by more than [`CAPACITY`] of its provider's events is told so (`Lagged`) and
//! reads what it missed from the database.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use sea_orm::{DatabaseConnection, DbBackend};
use sqlx::postgres::{PgListener, PgNotification, PgPoolOptions};
use tokio::{
    sync::{Notify, broadcast, mpsc, watch},
    task::JoinSet,
};

use crate::{
    domain::{Error, ProviderId, TicketEvent},
    store::{Parked, events},
};

/// How often the hub reads new events without being told to.
pub const TICK: Duration = Duration::from_secs(1);

/// How often events older than the retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How long a watch waits for the hub to start before it is refused UNAVAILABLE.
const START_PATIENCE: Duration = Duration::from_secs(5);

/// How many of its provider's events a watcher may fall behind the hub before it must read
/// from the database. Each watched provider's broadcast holds this many slots (about 40 bytes
/// each: 20 KiB a provider).
const CAPACITY: usize = 512;

/// The channel the sequencer notifies on: events were numbered (to read).
const NUMBERED: &str = "ticket_events";

/// How long, after a pass that handed out [`BUSY_PASS`] events or more, the hub lets staged
/// events gather before it numbers again.
///
/// Under write load the commits' pokes come faster than passes end, and passes ran back to
/// back: each a transaction of its own (a commit, a WAL flush, a `NOTIFY`) for 7 – 9 events at
/// 4,500 start-services a second. Waiting this long after a busy pass lets the next one number
/// about four times as many (31 – 37): PostgreSQL's CPU per start-service fell from 257 – 260 µs
/// to 213 – 221 µs (bench/README.md, "Gathering events between passes"). An event
/// committed under such load is handed out at most this much later; below it (fewer than
/// [`BUSY_PASS`] events a pass: the pokes of a few hundred writes a second) a pass follows
/// the poke at once, as before.
const GATHER: Duration = Duration::from_millis(4);

/// Events handed out by one pass from which the hub counts as under write load ([`GATHER`]).
const BUSY_PASS: i64 = 4;

/// The pause before the next pass, after one that handed out `events` events.
fn gather_after(events: i64) -> Option<Duration> {
    (events >= BUSY_PASS).then_some(GATHER)
}

/// What a watcher receives: its provider's events.
pub(crate) type Live = broadcast::Receiver<Arc<TicketEvent>>;

/// The broadcast of each provider that has (or recently had) watchers in this process.
type Feeds = Mutex<HashMap<ProviderId, broadcast::Sender<Arc<TicketEvent>>>>;

/// The hub; cheap to clone.
#[derive(Clone, Debug)]
pub struct Hub {
    /// The service's pool: for pruning.
    db: DatabaseConnection,
    /// The hub's own connection (PostgreSQL, parked between passes: `store::events::hub_store`;
    /// the service's pool on SQLite): numbering and reading new events never queue behind the
    /// calls waiting for a pooled connection.
    own: Parked,
    feeds: Arc<Feeds>,
    wake: Arc<Notify>,
    closing: watch::Sender<bool>,
    /// Set once the hub knows where it starts (the newest event when it started): from then
    /// on every later event goes through it. Before, a watch could fall between the events it
    /// reads from the database and the first one the hub hands out, so none is taken.
    started: watch::Sender<bool>,
    retention: Duration,
}

impl Hub {
    /// A hub over `db` that keeps events for `retention`; nothing happens until [`run`](Self::run).
    #[must_use]
    pub fn new(db: DatabaseConnection, retention: Duration) -> Self {
        let own = events::hub_store(&db);
        Self {
            db,
            own,
            feeds: Arc::default(),
            wake: Arc::new(Notify::new()),
            closing: watch::channel(false).0,
            started: watch::channel(false).0,
            retention,
        }
    }

    /// `provider`'s live events from now on, once the hub has started (waiting up to
    /// [`START_PATIENCE`] for it); `None` when it has not by then (the database is unreachable:
    /// retry).
    pub(crate) async fn subscribe(&self, provider: ProviderId) -> Option<Live> {
        let mut started = self.started.subscribe();
        let ready = tokio::time::timeout(START_PATIENCE, started.wait_for(|started| *started));
        if !matches!(ready.await, Ok(Ok(_))) {
            return None;
        }
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        // The broadcasts whose watchers have all gone, of providers with no event since.
        feeds.retain(|_, feed| feed.receiver_count() > 0);
        let feed = feeds.entry(provider).or_insert_with(|| broadcast::channel(CAPACITY).0);
        Some(feed.subscribe())
    }

    /// Resolves once the hub is closing: every watcher ends so its caller resumes elsewhere.
    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Tells the hub that this process just committed a change.
    pub(crate) fn poke(&self) {
        self.wake.notify_one();
    }

    /// Ends every watch (graceful shutdown): the callers resume on another replica.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Runs until [`close`](Self::close): listens, numbers, reads and fans out.
    pub async fn run(self) {
        let mut closing = self.closing();
        let postgres = self.db.get_database_backend() == DbBackend::Postgres;
        let prune = tokio::spawn(self.clone().prune_every(PRUNE_EVERY));
        tokio::select! {
            () = async {
                if postgres { self.listen().await } else { self.tick_and_poke().await }
            } => {}
            _ = closing.wait_for(|closing| *closing) => {}
        }
        prune.abort();
    }

    /// SQLite: read on every poke and every tick.
    async fn tick_and_poke(&self) {
        let mut last = self.start().await;
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(TICK) => {}
            }
            last = self.fan_out(last).await;
        }
    }

    /// PostgreSQL: number and read when poked, on every tick and after a reconnection; read
    /// when another replica's sequencer numbered events this hub has not read.
    async fn listen(&self) {
        let mut last = self.start().await;
        let mut listener: Option<Listener> = None;
        loop {
            if listener.is_none() {
                listener = self.connect_listener().await;
                // Whatever was committed while nobody listened is staged or numbered by now.
                last = self.advance(last).await;
            }
            let Some(heard) = listener.as_mut() else {
                tokio::time::sleep(TICK).await;
                continue;
            };
            let mut pass = Pass::default();
            tokio::select! {
                received = heard.next() => pass.hear(received, last),
                () = self.wake.notified() => pass.staged = true,
                () = tokio::time::sleep(TICK) => (pass.staged, pass.numbered) = (true, true),
            }
            // Everything already heard is handled by the same pass.
            while let Some(received) = heard.next_buffered() {
                pass.hear(received, last);
            }
            if pass.failed {
                listener = None;
                continue;
            }
            if pass.staged {
                let before = last;
                last = self.advance(last).await;
                if let Some(gather) = gather_after(last - before) {
                    // Pokes meanwhile are kept (one permit): the next pass starts right after.
                    tokio::time::sleep(gather).await;
                }
            } else if pass.numbered {
                last = self.fan_out(last).await;
            }
        }
    }

    async fn connect_listener(&self) -> Option<Listener> {
        // A pool of its own with one connection, so that listening never takes a connection
        // the calls need.
        let options = self.db.get_postgres_connection_pool().connect_options();
        let pool = PgPoolOptions::new().max_connections(1).connect_lazy_with((*options).clone());
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(NUMBERED).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match connected.await {
            Ok(listener) => Some(Listener::spawn(listener)),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for events; retrying");
                None
            }
        }
    }

    /// Runs the sequencer and hands out every event after `last` (one round trip when less
    /// than a batch is new); the new `last`.
    async fn advance(&self, last: i64) -> i64 {
        let started = std::time::Instant::now();
        let batch = match events::advance(&self.own, last).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "numbering events failed; retrying at the next tick");
                return last;
            }
        };
        tracing::debug!(
            events = batch.len(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "advanced"
        );
        match self.hand_out(batch, last) {
            (last, true) => last,
            (last, false) => self.fan_out(last).await,
        }
    }

    /// The id the hub starts after: the newest event when it starts (watchers read older ones
    /// from the database themselves).
    async fn start(&self) -> i64 {
        loop {
            match events::head_of(&self.own).await {
                Ok(head) => {
                    self.started.send_replace(true);
                    return head;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot read the event log; retrying");
                    tokio::time::sleep(TICK).await;
                }
            }
        }
    }

    /// Reads every event after `last` and hands each to the watchers; the new `last`.
    ///
    /// A read that returns less than a full batch has everything numbered so far: an event
    /// numbered after it comes with its own notification (or poke, or tick), so the hub does
    /// not ask again to learn that nothing more is there.
    async fn fan_out(&self, mut last: i64) -> i64 {
        loop {
            let batch = match events::since(&self.own, last).await {
                Ok(batch) => batch,
                Err(error) => {
                    log_read_failure(&error);
                    return last;
                }
            };
            let complete;
            (last, complete) = self.hand_out(batch, last);
            if complete {
                return last;
            }
        }
    }

    /// Hands each event of `batch` (read after `last`) to the watchers: the new `last`, and
    /// whether the batch was the end of the log (shorter than a full one).
    fn hand_out(&self, batch: Vec<TicketEvent>, last: i64) -> (i64, bool) {
        let complete = batch.len() < usize::from(events::BATCH);
        let Some(newest) = batch.last().map(|event| event.id) else { return (last, true) };
        if let Some(first) = batch.first() {
            let age = chrono::Utc::now() - first.occurred_at;
            tracing::debug!(
                events = batch.len(),
                oldest_age_ms = age.num_microseconds().unwrap_or(0) as f64 / 1e3,
                "fanning out"
            );
        }
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        for event in batch {
            // A provider nobody here watches is skipped: the event is in the log for whoever
            // comes (a watch subscribes before it reads the log, under this lock).
            let provider = event.provider;
            let Some(feed) = feeds.get(&provider) else { continue };
            if feed.send(Arc::new(event)).is_err() {
                // Its last watcher has gone.
                feeds.remove(&provider);
            }
        }
        (newest, complete)
    }

    async fn prune_every(self, every: Duration) {
        loop {
            let cut = chrono::Duration::from_std(self.retention)
                .ok()
                .and_then(|retention| chrono::Utc::now().checked_sub_signed(retention));
            // A retention too long to subtract keeps everything.
            let pruned = match cut {
                Some(cut) => events::prune(&self.db, cut).await,
                None => Ok(0),
            };
            match pruned {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "pruned events older than the retention"),
                Err(error) => tracing::warn!(%error, "pruning events failed; retrying later"),
            }
            tokio::time::sleep(every).await;
        }
    }
}

/// What the listening connection received: a notification, `None` when the connection was
/// lost (the next receive connects again), or the error that ended listening.
type Received = Result<Option<PgNotification>, sqlx::Error>;

/// The listening connection, received from by a task of its own that passes on what it gets.
///
/// The hub's loop waits on a channel's small future instead of on sqlx's receive, whose future
/// (it may connect again, and holds what that takes) is over 4 KB: built anew on every turn of
/// the loop and moved into the `select!`, it cost the service 58,700 instructions of `memcpy`
/// per start-service at c=1, one pass each (bench/README.md, "The hub's listener in a task of
/// its own"). And a receive is never dropped half-way now: it runs to its end in the task.
struct Listener {
    heard: mpsc::Receiver<Received>,
    /// The receiving task; dropping the set (a failed listener, the hub closing) aborts it.
    _receiving: JoinSet<()>,
}

impl Listener {
    /// Notifications waiting in the channel before the task waits for room.
    const BUFFER: usize = 64;

    fn spawn(mut listener: PgListener) -> Self {
        let (tell, heard) = mpsc::channel(Self::BUFFER);
        let mut receiving = JoinSet::new();
        receiving.spawn(async move {
            loop {
                let received = listener.try_recv().await;
                let ended = received.is_err();
                if tell.send(received).await.is_err() || ended {
                    return;
                }
            }
        });
        Self { heard, _receiving: receiving }
    }

    /// The next thing received (the task is gone only after passing on its error).
    async fn next(&mut self) -> Received {
        self.heard.recv().await.unwrap_or(Err(sqlx::Error::WorkerCrashed))
    }

    /// What was received already, without waiting.
    fn next_buffered(&mut self) -> Option<Received> {
        self.heard.try_recv().ok()
    }
}

/// What one turn of the hub's loop learnt: whether to number (`staged`), only read
/// (`numbered`), or connect again (`failed`).
#[derive(Debug, Default)]
struct Pass {
    staged: bool,
    numbered: bool,
    failed: bool,
}

impl Pass {
    fn hear(&mut self, received: Received, last: i64) {
        match received {
            Ok(Some(notification)) => self.numbered |= announces_unread(&notification, last),
            Ok(None) => {
                tracing::warn!("event listener connection lost; reconnected, catching up");
                (self.staged, self.numbered) = (true, true);
            }
            Err(error) => {
                tracing::warn!(%error, "event listener failed; reconnecting");
                self.failed = true;
            }
        }
    }
}

/// Whether `notification` may announce events after `last`: the sequencer tells the head it
/// numbered up to, and ids have no holes, so a head at or below `last` was read already (this
/// hub's own numbering, which it reads at once, or another replica's read along with it). An
/// empty or unreadable payload (a sequencer from before the head was sent) means read.
fn announces_unread(notification: &PgNotification, last: i64) -> bool {
    notification.channel() == NUMBERED && head_is_unread(notification.payload(), last)
}

fn head_is_unread(payload: &str, last: i64) -> bool {
    payload.parse::<i64>().map_or(true, |head| head > last)
}

fn log_read_failure(error: &Error) {
    tracing::warn!(%error, "reading new events failed; retrying at the next tick");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{GATHER, Hub, Pass, ProviderId, TicketEvent, gather_after, head_is_unread};

    fn event(id: i64, provider: ProviderId) -> TicketEvent {
        use crate::domain::{Change, CustomerId, PendingTicket, TicketId};
        let ticket = PendingTicket {
            id: TicketId::new(uuid::Uuid::new_v4()),
            created_at: chrono::Utc::now(),
            customer_id: CustomerId::new(uuid::Uuid::new_v4()),
            ticket_number: id,
            vehicle_model_id: 1,
            vin: "1HGCM82633A004352".to_owned(),
            connection_id: None,
        };
        TicketEvent {
            id,
            provider,
            occurred_at: ticket.created_at,
            change: Change::Created(ticket),
        }
    }

    #[tokio::test]
    async fn an_event_reaches_only_its_providers_watchers_and_unwatched_feeds_go() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let hub = Hub::new(db, Duration::from_secs(60));
        hub.started.send_replace(true);
        let (a, b) = (ProviderId::new(uuid::Uuid::new_v4()), ProviderId::new(uuid::Uuid::new_v4()));
        let mut watcher = hub.subscribe(a).await.unwrap();

        assert_eq!(hub.hand_out(vec![event(1, a), event(2, b), event(3, a)], 0), (3, true));
        assert_eq!(watcher.try_recv().unwrap().id, 1);
        assert_eq!(watcher.try_recv().unwrap().id, 3, "b's event never reached a's watcher");
        assert!(watcher.try_recv().is_err());
        let watched = |hub: &Hub| hub.feeds.lock().unwrap().keys().copied().collect::<Vec<_>>();
        assert_eq!(watched(&hub), [a], "no feed for a provider nobody watches");

        drop(watcher);
        hub.hand_out(vec![event(4, a)], 3);
        assert!(watched(&hub).is_empty(), "a's feed went with its last watcher");
    }

    #[test]
    fn only_a_busy_pass_lets_events_gather_before_the_next() {
        assert_eq!([0, 1, 3].map(gather_after), [None; 3], "a quiet pass is followed at once");
        assert_eq!([4, 8, 1000].map(gather_after), [Some(GATHER); 3]);
    }

    #[test]
    fn a_lost_listening_connection_catches_up_and_a_failed_one_is_replaced() {
        let mut lost = Pass::default();
        lost.hear(Ok(None), 7);
        assert!(lost.staged && lost.numbered && !lost.failed, "{lost:?}: number and read");

        let mut failed = Pass::default();
        failed.hear(Ok(None), 7);
        failed.hear(Err(sqlx::Error::PoolClosed), 7);
        assert!(failed.failed, "{failed:?}: an error among what was heard connects again");
    }

    #[test]
    fn a_notification_is_read_only_when_its_head_is_past_what_the_hub_read() {
        assert!(head_is_unread("8", 7));
        assert!(!head_is_unread("7", 7), "the hub has read through 7");
        assert!(!head_is_unread("3", 7));
        assert!(head_is_unread("", 7), "an older sequencer sends no head: read");
        assert!(head_is_unread("seven", 7));
    }
}
