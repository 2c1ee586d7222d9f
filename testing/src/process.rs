//! Running the real binaries as child processes.

/// Reads a child process's JSON log lines until the one containing `marker` that carries an
/// `addr` field (the "listening" line of either binary), and returns that address with every
/// line read so far. Panics when the process exits first or says nothing for 30 s.
pub async fn announced_address<R>(
    lines: &mut tokio::io::Lines<R>,
    marker: &str,
) -> (String, Vec<String>)
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let mut read = Vec::new();
    loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("the process announces its address in time")
            .expect("readable logs")
            .expect("the process is still running");
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let addr = entry["addr"].as_str().filter(|_| line.contains(marker)).map(str::to_owned);
        read.push(line);
        if let Some(addr) = addr {
            return (addr, read);
        }
    }
}
