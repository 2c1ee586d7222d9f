//! One provider's upstream watch: started by the first partner stream of the provider, resumed
//! after the last id it handed out whenever it breaks, ended when the last stream has gone.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tickets_contract::v2;
use tokio::sync::broadcast;
use tonic::{Code, Status};
use uuid::Uuid;

use super::{Delivered, Feed, Feeds, Live};

/// How often a feed checks that someone still listens while no event comes.
const UNUSED_CHECK: Duration = Duration::from_secs(5);

/// The pause before the first attempt to resume a broken watch, doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The live events of `provider` after the position `from` the caller has read the log
/// to: a receiver, and the id after which it starts (≥ `from` when the feed was already
/// further; the caller reads the events in between from the log).
pub(crate) fn subscribe(feeds: &Arc<Feeds>, provider: Uuid, from: i64) -> (Live, i64) {
    let mut registry = feeds.feeds.lock().unwrap_or_else(PoisonError::into_inner);
    let feed = registry
        .entry(provider)
        .or_insert_with(|| {
            let (sender, _) = broadcast::channel(feeds.settings.max_behind.max(1));
            let feed = Arc::new(Feed { sender, last: Mutex::new(from) });
            tokio::spawn(run(feeds.clone(), provider, feed.clone()));
            feed
        })
        .clone();
    // The registry stays locked until the stream has subscribed: a feed that finds no receiver
    // retires under that lock, so on a multi-threaded runtime it could otherwise retire between
    // this lookup and the subscription, and the new stream would end at once.
    let last = feed.last.lock().unwrap_or_else(PoisonError::into_inner);
    (feed.sender.subscribe(), *last)
}

/// Runs `feed` for `provider` until it is unused, the gateway closes, or its position is gone.
async fn run(feeds: Arc<Feeds>, provider: Uuid, feed: Arc<Feed>) {
    let closed = feeds.closed();
    tokio::pin!(closed);
    let mut backoff = FIRST_BACKOFF;
    loop {
        if feeds.retire_if_unused(provider, &feed) {
            tracing::debug!(%provider, "event feed unused; stopped");
            return;
        }
        let ended = tokio::select! {
            ended = watch_once(&feeds, provider, &feed) => ended,
            () = &mut closed => {
                feeds.retire(provider, &feed);
                return;
            }
        };
        match ended {
            Ended::Unused => {}
            Ended::Broken { delivered, status } => {
                if status.code() == Code::OutOfRange {
                    // The feed's own position was pruned: its streams end and start over.
                    tracing::warn!(%provider, "event feed position no longer retained");
                    feeds.retire(provider, &feed);
                    return;
                }
                if delivered {
                    backoff = FIRST_BACKOFF;
                }
                tracing::info!(%provider, code = ?status.code(), message = status.message(), "event watch ended; resuming after the last event forwarded");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut closed => {
                        feeds.retire(provider, &feed);
                        return;
                    }
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// How one upstream watch ended.
enum Ended {
    /// No partner stream listens any more.
    Unused,
    /// The watch broke or was ended by the service; `delivered` tells whether it got anywhere.
    Broken { delivered: bool, status: Status },
}

async fn watch_once(feeds: &Feeds, provider: Uuid, feed: &Feed) -> Ended {
    let broken = |delivered, status| Ended::Broken { delivered, status };
    let (authorization, _expires_at) = match feeds.auth.feed_authorization(provider) {
        Ok(token) => token,
        Err(error) => {
            tracing::error!(%error, "signing the event feed's token failed");
            return broken(false, Status::internal("no token"));
        }
    };
    let after = *feed.last.lock().unwrap_or_else(PoisonError::into_inner);
    let mut stream = match feeds.upstream.watch(provider, authorization, after).await {
        Ok(stream) => stream,
        Err(status) => return broken(false, status),
    };
    let mut delivered = false;
    let mut check = tokio::time::interval(UNUSED_CHECK);
    check.reset();
    loop {
        tokio::select! {
            message = stream.message() => match message {
                Ok(Some(event)) => {
                    if let Err(status) = deliver(feed, event) {
                        return broken(delivered, status);
                    }
                    delivered = true;
                }
                Ok(None) => return broken(delivered, Status::unavailable("the watch ended")),
                Err(status) => return broken(delivered, status),
            },
            _ = check.tick() => {
                if feed.sender.receiver_count() == 0 {
                    return Ended::Unused;
                }
            }
        }
    }
}

/// Hands one event to every stream of the feed, once: an id at or below the last one handed
/// out (a resumed watch repeating itself) is dropped.
fn deliver(feed: &Feed, event: v2::TicketEvent) -> Result<(), Status> {
    let delivered = Arc::new(Delivered::try_from(event).map_err(|error| {
        tracing::error!(%error, "unusable event from the ticket service");
        Status::internal("unusable event")
    })?);
    let mut last = feed.last.lock().unwrap_or_else(PoisonError::into_inner);
    if delivered.id <= *last {
        return Ok(());
    }
    *last = delivered.id;
    // No receiver is not an error: the feed ends at its next check.
    let _ = feed.sender.send(delivered);
    Ok(())
}
