//! The counts shared by every gateway replica, in Redis: one script call per counted request
//! (loaded once, called by its hash), which reads Redis's own clock, checks the daily count,
//! then the GCRA bucket, and counts the request only when both allow it. Keys expire: a bucket
//! when it would be full again, a day's count after 25 hours.

use std::time::Duration;

use redis::{Client, Script, aio::ConnectionManager};
use tokio::sync::OnceCell;

use super::policy::{DAY_SECONDS, Limit, Policy, Standing, utc_day};

/// The check, atomic in Redis. Same arithmetic as [`super::local`].
///
/// `KEYS[1]`: the client's bucket (its theoretical arrival time, µs); `KEYS[2]`: its count for
/// the UTC day. `ARGV`: µs per request (0: no burst policy), burst, daily quota (0: none), the
/// count's time to live. Returns `{verdict (0 allowed, 1 burst, 2 daily), retry after µs, µs the
/// bucket is ahead of now, requests counted today}`.
const CHECK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local quota = tonumber(ARGV[3])
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
local tat = now
if interval > 0 then
  tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
end
if quota > 0 and used >= quota then
  return {2, 0, tat - now, used}
end
if interval > 0 then
  local nxt = tat + interval
  local allowed_from = nxt - interval * burst
  if now < allowed_from then
    return {1, allowed_from - now, tat - now, used}
  end
  redis.call('SET', KEYS[1], nxt, 'PX', math.floor((nxt - now) / 1000) + 1000)
  tat = nxt
end
if quota > 0 then
  used = redis.call('INCR', KEYS[2])
  if used == 1 then
    redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
  end
end
return {0, 0, tat - now, used}
";

/// A day's count lives this long: the day and an hour for clocks that disagree.
const COUNT_TTL_SECONDS: u64 = DAY_SECONDS + 3_600;

/// The Redis counter. Connects in the background: until the first connection succeeds every
/// check fails (and the caller counts in-process).
#[derive(Debug)]
pub(crate) struct SharedCounter {
    connection: OnceCell<ConnectionManager>,
    client: Client,
    script: Script,
    timeout: Duration,
}

impl SharedCounter {
    /// A counter on the Redis at `url` (`redis://` or `rediss://`, a password in the URL
    /// allowed), each call bounded by `timeout`.
    ///
    /// # Errors
    /// When `url` is not a Redis URL (the message never repeats the URL, which may hold a
    /// password).
    pub(crate) fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = Client::open(url).map_err(|error| {
            anyhow::anyhow!(
                "GATEWAY_REDIS_URL is not a usable redis:// or rediss:// URL ({:?})",
                error.kind()
            )
        })?;
        Ok(Self { connection: OnceCell::new(), client, script: Script::new(CHECK), timeout })
    }

    /// The connection, made on first use (or again after a failed first attempt). Once made,
    /// it reconnects by itself after Redis went away.
    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        self.connection
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
    }

    /// Counts one request of `client` under `policy`, unless a limit refuses it.
    pub(crate) async fn check(&self, client: &str, policy: Policy) -> redis::RedisResult<Standing> {
        let mut connection = self.connection().await?;
        let today = utc_day(std::time::SystemTime::now());
        // One hash tag per client: both keys live on one node of a Redis Cluster.
        let (bucket, count) = (
            format!("ratelimit:{{{client}}}:bucket"),
            format!("ratelimit:{{{client}}}:day:{today}"),
        );
        let (verdict, retry_micros, ahead_micros, used): (u8, u64, u64, u64) = self
            .script
            .key(bucket)
            .key(count)
            .arg(policy.interval_micros())
            .arg(policy.burst)
            .arg(policy.daily)
            .arg(COUNT_TTL_SECONDS)
            .invoke_async(&mut connection)
            .await?;
        let ahead = Duration::from_micros(ahead_micros);
        let standing = Standing::from_bucket(policy, ahead, used, None);
        let refused = match verdict {
            1 => Some((Limit::Burst, Duration::from_micros(retry_micros))),
            2 => Some((Limit::Daily, standing.until_midnight)),
            _ => None,
        };
        Ok(Standing { refused, ..standing })
    }
}
