//! Where log lines go: stderr, in batches written by a background thread, so that a request
//! never waits on a write and a busy server does not pay a thread wake-up and a system call per
//! line.
//!
//! A line is appended to a shared buffer (an uncontended lock and a copy). The first line into
//! an empty buffer wakes the writer thread, which lets lines gather for [`FLUSH_INTERVAL`] and
//! then writes them all at once: at most one wake-up and one write per interval, whatever the
//! request rate. Nothing is dropped: a warning or an error is written at once, together with
//! every line before it, and so is the buffer when it reaches [`MAX_PENDING_BYTES`] (the caller
//! then waits for stderr, as it would writing directly). Dropping the [`FlushGuard`] writes what
//! is left and stops the thread; a line logged after that is written at once.
//!
//! (Measured, bench/README.md change 13: `tracing-appender`'s channel woke its thread for nearly
//! every line and its spinning receiver made `sched_yield` the service's most frequent system
//! call; this way the context switches per REST start-service fell from 1.0 to 0.65 in the
//! gateway and from 1.9 to 1.5 in the service.)

use std::{
    io::{self, Write},
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread::JoinHandle,
    time::Duration,
};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// How long lines gather before the writer thread writes them: the most a line waits.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(10);

/// Pending bytes at which the logging caller writes the batch itself rather than queue more.
pub const MAX_PENDING_BYTES: usize = 1024 * 1024;

/// The lines not yet written, and whether the writer thread is stopping.
#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    stopping: bool,
}

#[derive(Debug)]
struct Shared<W> {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Held while a batch is written, so that batches reach the output in order.
    output: Mutex<W>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Appending to a Vec or writing to stderr leaves nothing half-done: a panic elsewhere
    // while a lock was held does not make the data unusable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<W: Write> Shared<W> {
    /// Writes every pending line. The output is locked before `pending` is released, so a
    /// later batch can never overtake this one.
    fn write_out(&self, mut pending: MutexGuard<'_, Pending>) {
        if pending.bytes.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut pending.bytes);
        let mut output = lock(&self.output);
        drop(pending);
        // There is nowhere to report a failing stderr; the lines are gone either way.
        let _ = output.write_all(&batch);
        let _ = output.flush();
    }

    fn append(&self, line: &[u8], urgent: bool) {
        let mut pending = lock(&self.pending);
        let was_empty = pending.bytes.is_empty();
        pending.bytes.extend_from_slice(line);
        if urgent || pending.stopping || pending.bytes.len() >= MAX_PENDING_BYTES {
            self.write_out(pending);
        } else if was_empty {
            drop(pending);
            self.wake.notify_one();
        }
    }

    fn run(&self) {
        loop {
            let mut pending = lock(&self.pending);
            while pending.bytes.is_empty() && !pending.stopping {
                pending = self.wake.wait(pending).unwrap_or_else(PoisonError::into_inner);
            }
            if !pending.stopping {
                drop(pending);
                std::thread::sleep(FLUSH_INTERVAL);
                pending = lock(&self.pending);
            }
            let stopping = pending.stopping;
            self.write_out(pending);
            if stopping {
                return;
            }
        }
    }
}

/// The writer to give `tracing_subscriber::fmt`: cheap to clone, one per layer.
#[derive(Debug)]
pub struct BatchedWriter<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for BatchedWriter<W> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

/// Writes what is left and stops the writer thread when dropped.
#[derive(Debug)]
#[must_use = "dropping the guard stops the log writer"]
pub struct FlushGuard<W: Write> {
    shared: Arc<Shared<W>>,
    thread: Option<JoinHandle<()>>,
}

impl<W: Write> Drop for FlushGuard<W> {
    fn drop(&mut self) {
        lock(&self.shared.pending).stopping = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Whatever was appended between the thread's last batch and `stopping`.
        self.shared.write_out(lock(&self.shared.pending));
    }
}

/// A batched writer on `output` and the guard of its thread.
///
/// # Errors
/// When the thread cannot be started.
pub fn batched<W: Write + Send + 'static>(
    output: W,
) -> io::Result<(BatchedWriter<W>, FlushGuard<W>)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending::default()),
        wake: Condvar::new(),
        output: Mutex::new(output),
    });
    let worker = shared.clone();
    let thread =
        std::thread::Builder::new().name("log-writer".into()).spawn(move || worker.run())?;
    Ok((BatchedWriter { shared: shared.clone() }, FlushGuard { shared, thread: Some(thread) }))
}

/// One event's line on its way into the buffer.
#[derive(Debug)]
pub struct LineWriter<'a, W> {
    shared: &'a Shared<W>,
    urgent: bool,
}

impl<W: Write> Write for LineWriter<'_, W> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.shared.append(line, self.urgent);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for BatchedWriter<W> {
    type Writer = LineWriter<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { shared: &self.shared, urgent: false }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter { shared: &self.shared, urgent: *meta.level() <= Level::WARN }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// An output the test can read, counting the writes it gets.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut inner = lock(&self.0);
            inner.0.extend_from_slice(buf);
            inner.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(lock(&self.0).0.clone()).unwrap()
        }
        fn writes(&self) -> usize {
            lock(&self.0).1
        }
        fn wait_for(&self, lines: usize) -> String {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let text = self.text();
                if text.lines().count() >= lines || Instant::now() > deadline {
                    return text;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    fn line(writer: &BatchedWriter<Sink>, text: &str) {
        writer.make_writer().write_all(format!("{text}\n").as_bytes()).unwrap();
    }

    #[test]
    fn lines_arrive_in_order_in_few_writes() {
        let sink = Sink::default();
        let (writer, _guard) = batched(sink.clone()).unwrap();
        for i in 0..1000 {
            line(&writer, &format!("line {i}"));
        }
        let text = sink.wait_for(1000);
        let expected: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
        assert!(sink.writes() < 1000, "{} writes for 1000 lines", sink.writes());
    }

    #[test]
    fn concurrent_lines_are_neither_lost_nor_torn() {
        let sink = Sink::default();
        let (writer, guard) = batched(sink.clone()).unwrap();
        std::thread::scope(|scope| {
            for t in 0..8 {
                let writer = writer.clone();
                scope.spawn(move || {
                    for i in 0..2000 {
                        line(&writer, &format!("thread {t} line {i} {}", "x".repeat(i % 300)));
                    }
                });
            }
        });
        drop(guard);
        let text = sink.text();
        assert_eq!(text.lines().count(), 16_000);
        for t in 0..8 {
            let mine: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("thread {t} line ")))
                .map(|rest| {
                    let (i, xs) = rest.split_once(' ').unwrap();
                    let i: usize = i.parse().unwrap();
                    assert_eq!(xs, "x".repeat(i % 300));
                    i
                })
                .collect();
            assert_eq!(mine, (0..2000).collect::<Vec<_>>(), "thread {t}'s lines out of order");
        }
    }

    #[test]
    fn warnings_are_written_at_once_with_the_lines_before_them() {
        let sink = Sink::default();
        let (writer, _guard) = batched(sink.clone()).unwrap();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("info before");
            tracing::warn!("the warning");
        });
        // No waiting: the warning was written inside the call, after the line before it.
        assert_eq!(sink.text(), " INFO info before\n WARN the warning\n");
    }

    #[test]
    fn a_full_buffer_is_written_by_the_caller() {
        let sink = Sink::default();
        let (writer, _guard) = batched(sink.clone()).unwrap();
        let big = "y".repeat(MAX_PENDING_BYTES);
        line(&writer, &big);
        assert_eq!(sink.text().len(), MAX_PENDING_BYTES + 1);
    }

    #[test]
    fn dropping_the_guard_writes_everything_and_later_lines_go_straight_out() {
        let sink = Sink::default();
        let (writer, guard) = batched(sink.clone()).unwrap();
        line(&writer, "queued");
        drop(guard);
        assert_eq!(sink.text(), "queued\n");
        line(&writer, "after");
        assert_eq!(sink.text(), "queued\nafter\n");
    }
}
