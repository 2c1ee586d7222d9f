//! What the benchmark reads from `/proc`: CPU time of processes and of the machine, and
//! resident memory (current and peak) of the servers. Linux only, as the benchmark is.

use std::{collections::BTreeMap, fs, time::Duration};

use tokio::time::Instant;

/// utime + stime of a process (all its threads), in seconds. `/proc` counts in USER_HZ ticks,
/// which are 1/100 s on every Linux architecture that matters here.
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: the fields after it follow its last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) sit at 11 and 12.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// CPU seconds of every process whose command name is `comm`, keyed by pid.
pub(crate) fn cpu_of_comm(comm: &str) -> BTreeMap<u32, f64> {
    let mut out = BTreeMap::new();
    let Ok(entries) = fs::read_dir("/proc") else { return out };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(found) = fs::read_to_string(format!("/proc/{pid}/comm")) else { continue };
        if found.trim_end() == comm
            && let Some(seconds) = cpu_seconds(&pid.to_string())
        {
            out.insert(pid, seconds);
        }
    }
    out
}

/// Busy CPU seconds of the whole machine (every core) from `/proc/stat`: user, nice, system,
/// irq, softirq and steal.
pub(crate) fn machine_busy_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let busy = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| ticks.get(i)).sum::<u64>();
    Some(busy as f64 / 100.0)
}

/// Waits (up to `max_wait` seconds) until the machine was under 15% busy for a second; returns
/// the time waited and the last busy fraction seen.
pub(crate) async fn wait_for_quiet(max_wait: f64) -> (f64, f64) {
    if max_wait <= 0.0 {
        return (0.0, 0.0);
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get) as f64;
    let started = Instant::now();
    loop {
        let before = machine_busy_seconds();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let busy = match (before, machine_busy_seconds()) {
            (Some(a), Some(b)) => (b - a) / cores,
            _ => 0.0,
        };
        let waited = started.elapsed().as_secs_f64();
        if busy < 0.15 || waited >= max_wait {
            return (waited, busy);
        }
    }
}

pub(crate) fn reset_peak_rss(pid: u32) -> bool {
    // "5" resets the peak RSS (VmHWM) to the current RSS (Linux ≥ 4.0).
    fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// A process's resident memory, in KiB.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResidentKib {
    /// The peak (VmHWM), since the process started or the last [`reset_peak_rss`].
    pub(crate) peak: u64,
    /// Now (VmRSS).
    pub(crate) now: u64,
}

/// The resident memory of a process; `None` when it is not running.
pub(crate) fn rss_kib(pid: u32) -> Option<ResidentKib> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Some(ResidentKib { peak: field("VmHWM:"), now: field("VmRSS:") })
}
