//! The counts shared by every gateway replica, in Redis: one script call per counted request
//! (loaded once, called by its hash), which reads Redis's own clock, checks the daily count,
//! then the GCRA bucket, and counts the request only when both allow it. One hash per client;
//! it expires once the bucket would be full again (no quota) or 25 hours after the client's
//! last counted request.

use std::time::Duration;

use redis::{Client, Script, aio::ConnectionManager};
use tokio::sync::OnceCell;

use super::policy::{DAY_SECONDS, Limit, Policy, Standing, utc_day};

/// The check, atomic in Redis. Same arithmetic as [`super::local`].
///
/// `KEYS[1]`: the client's hash: `tat` (the bucket's theoretical arrival time, µs), `day` (the
/// UTC day of `used`) and `used` (requests counted that day). `ARGV`: µs per request (0: no
/// burst policy), burst, daily quota (0: none), today's UTC day, the count's time to live.
/// Returns `{verdict (0 allowed, 1 burst, 2 daily), retry after µs, µs the bucket is ahead of
/// now, requests counted today}`. One key and four commands: the limiter's cost in Redis is
/// mostly per command.
const CHECK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local quota = tonumber(ARGV[3])
local day = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tat', 'day', 'used')
local tat = math.max(tonumber(state[1]) or 0, now)
local used = 0
if tonumber(state[2]) == day then
  used = tonumber(state[3]) or 0
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
  tat = nxt
end
if quota > 0 then
  used = used + 1
end
redis.call('HSET', KEYS[1], 'tat', string.format('%d', tat), 'day', day, 'used', used)
if quota > 0 then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
else
  redis.call('PEXPIRE', KEYS[1], math.floor((tat - now) / 1000) + 1000)
end
return {0, 0, tat - now, used}
";

/// A client's hash lives this long after its last counted request: the day and an hour for
/// clocks that disagree.
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
        let connect = || async {
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(self.timeout))
                .set_number_of_retries(1);
            ConnectionManager::new_with_config(self.client.clone(), config).await
        };
        self.connection.get_or_try_init(connect).await.cloned()
    }

    /// Counts one request of `client` under `policy`, unless a limit refuses it.
    pub(crate) async fn check(&self, client: &str, policy: Policy) -> redis::RedisResult<Standing> {
        let mut connection = self.connection().await?;
        let today = utc_day(std::time::SystemTime::now());
        // The client id as a hash tag: a Redis Cluster routes by it.
        let (verdict, retry_micros, ahead_micros, used): (u8, u64, u64, u64) = self
            .script
            .key(format!("ratelimit:{{{client}}}"))
            .arg(policy.interval_micros())
            .arg(policy.burst)
            .arg(policy.daily)
            .arg(today)
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
