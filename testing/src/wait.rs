//! Waiting for a condition, with a deadline — never for a fixed time, which is either too long
//! (slow tests) or, on a loaded machine, too short (flaky tests).

use std::{future::Future, time::Duration};

/// How often a condition is checked again.
const POLL: Duration = Duration::from_millis(20);

/// Checks `condition` until it holds (`true`) or `timeout` has passed (`false`).
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let probe = || {
        let holds = condition();
        async move { holds.await.then_some(()) }
    };
    until_some(timeout, probe).await.is_some()
}

/// Like [`eventually`], for a value: the first `Some` that `probe` returns, or `None` when
/// `timeout` passes first.
pub async fn until_some<T, F, Fut>(timeout: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Some(value) = probe().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
    }
}
