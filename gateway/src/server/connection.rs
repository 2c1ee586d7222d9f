//! The partner port's connections, held to bounds a hostile client cannot stretch
//! (docs/security.md, "Connections"):
//!
//! - **Request heads.** A connection must send a complete request head within the header-read
//!   timeout — counted from when it opened, or from the first byte of its next request. An
//!   HTTP/1 head over [`MAX_HEAD_BYTES`] is refused when that size is reached: no byte past it
//!   is read; the connection answers 431 (a problem) and closes.
//! - **Idle keep-alive** connections are closed after the idle timeout.
//! - **Memory.** Each connection may buffer [`FREE_HEAD_BYTES`] of an unfinished head (every
//!   ordinary head fits); beyond that it draws on one budget shared by all connections
//!   ([`HEAD_BUDGET_BYTES`]). While the budget is spent, such a connection is not read from —
//!   its bytes wait in the kernel's socket buffer, not in the gateway — so a thousand slow
//!   clients holding 30 KiB heads cost bounded memory, and ordinary requests keep flowing.
//!   An HTTP/1 head that does not arrive in one read is held in [`Metered`] until complete
//!   (see there). Measured with `bench/abuse.sh`: 1,000 connections × 30 KiB unfinished heads
//!   take the gateway from 12 MiB to a peak of 35–38 MiB (bench/README.md, "Abuse").
//!
//! hyper's own header-read timeout is not used: it also runs while a keep-alive connection waits
//! for its next request, which would cut every idle connection at the (short) header timeout.

use std::{
    io,
    mem::MaybeUninit,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::{Notify, OwnedSemaphorePermit, Semaphore},
    time::Instant,
};
use tokio_util::sync::PollSemaphore;

use crate::problem::{PROBLEM_JSON, Problem, default_detail};

/// Largest request head (request line and headers) accepted.
pub(crate) const MAX_HEAD_BYTES: usize = 32 * 1024;

/// What any connection may buffer of an unfinished head without drawing on the shared budget.
pub(crate) const FREE_HEAD_BYTES: usize = 4 * 1024;

/// What all connections together may buffer of unfinished heads beyond their free part.
pub(crate) const HEAD_BUDGET_BYTES: usize = 4 * 1024 * 1024;

/// The budget is counted in units of this many bytes.
const UNIT: usize = 1024;

/// A response extension: the connection sends this response only after the delay. Waited out
/// in the connection, after the router's future (its middleware, spans and request) is gone, so
/// that a held-back answer costs little more than the connection itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HoldBack(pub(crate) Duration);

/// The timeouts of a connection.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// For a complete request head.
    pub header_read: Duration,
    /// For an idle keep-alive connection.
    pub idle: Duration,
}

/// The budget of unfinished heads, shared by every connection of a server.
#[derive(Clone, Debug)]
pub(crate) struct HeadBudget(Arc<Semaphore>);

impl HeadBudget {
    pub(crate) fn new(bytes: usize) -> Self {
        Self(Arc::new(Semaphore::new(bytes / UNIT)))
    }
}

const AWAITING_HEAD: u8 = 0;
const IN_REQUEST: u8 = 1;
const IDLE: u8 = 2;

/// Where a connection is, shared by its reader, its service and its watchdog.
#[derive(Debug)]
pub(crate) struct ConnectionState {
    opened: Instant,
    phase: AtomicU8,
    /// Milliseconds since `opened` when the phase began.
    since: AtomicU64,
    in_flight: AtomicUsize,
    /// Requests started since the connection opened.
    started: AtomicU64,
    /// Bytes read of the unfinished head.
    head_bytes: AtomicUsize,
    /// Budget held for the unfinished head.
    held: Mutex<Option<OwnedSemaphorePermit>>,
    changed: Notify,
}

impl ConnectionState {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            phase: AtomicU8::new(AWAITING_HEAD),
            since: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            head_bytes: AtomicUsize::new(0),
            held: Mutex::new(None),
            changed: Notify::new(),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn enter(&self, phase: u8) {
        self.since.store(self.now(), Ordering::Release);
        self.phase.store(phase, Ordering::Release);
        self.changed.notify_one();
    }

    fn release_budget(&self) {
        self.head_bytes.store(0, Ordering::Release);
        self.held.lock().unwrap_or_else(PoisonError::into_inner).take();
    }

    /// A request head is complete: the request is being served.
    pub(crate) fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.started.fetch_add(1, Ordering::AcqRel);
        self.release_budget();
        self.enter(IN_REQUEST);
    }

    /// A response was sent (or dropped); with none left in flight the connection is idle.
    pub(crate) fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.enter(IDLE);
        }
    }

    /// Bytes arrived: an idle connection starts its next head.
    fn bytes_read(&self, count: usize) {
        if count > 0
            && self
                .phase
                .compare_exchange(IDLE, AWAITING_HEAD, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.since.store(self.now(), Ordering::Release);
            self.changed.notify_one();
        }
        if self.phase.load(Ordering::Acquire) == AWAITING_HEAD {
            self.head_bytes.fetch_add(count, Ordering::AcqRel);
        }
    }

    /// Resolves when the connection has outlived the timeout of its phase.
    pub(crate) async fn expired(&self, timeouts: Timeouts) {
        loop {
            let notified = self.changed.notified();
            let (phase, since) =
                (self.phase.load(Ordering::Acquire), self.since.load(Ordering::Acquire));
            let limit = match phase {
                AWAITING_HEAD => timeouts.header_read,
                IDLE => timeouts.idle,
                _ => {
                    notified.await;
                    continue;
                }
            };
            let deadline = self.opened + Duration::from_millis(since) + limit;
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {
                    let unchanged = self.phase.load(Ordering::Acquire) == phase
                        && self.since.load(Ordering::Acquire) == since;
                    if unchanged {
                        tracing::debug!(phase, "connection closed: timed out");
                        return;
                    }
                }
                () = notified => {}
            }
        }
    }
}

/// The answer to an HTTP/1 head over [`MAX_HEAD_BYTES`]: written by the connection itself,
/// since no request is ever formed.
fn head_too_large() -> Vec<u8> {
    let status = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    let body =
        serde_json::to_vec(&Problem::new(status, default_detail(status))).unwrap_or_default();
    let mut response = format!(
        "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: {PROBLEM_JSON}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    response
}

/// The first bytes of every HTTP/2 connection (its preface starts so).
pub(crate) const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// A connection's socket, read only as far as its head budget allows.
///
/// On an HTTP/1 connection, an unfinished request head is held here, in a buffer that grows
/// with what arrived, and handed to hyper only once it is complete (or refused, 431, once it
/// reaches [`MAX_HEAD_BYTES`]). hyper's own read buffer starts at 8 KiB and doubles whenever a
/// read leaves it less than 8 KiB free, so a client trickling a head in would make it hold
/// 16–64 KiB per connection; held here, a slow head costs what it sent. A head that arrives in
/// one read — every ordinary request — goes straight into hyper's buffer, without a copy.
#[derive(Debug)]
pub(crate) struct Metered<T> {
    inner: T,
    state: Arc<ConnectionState>,
    budget: PollSemaphore,
    /// Whether the connection speaks HTTP/2 (its heads are hyper's h2 business).
    h2: Option<bool>,
    /// The 431 being written, and how much of it is out.
    refusal: Option<(Vec<u8>, usize)>,
    /// HTTP/1: the unfinished head held back from hyper.
    held: Vec<u8>,
    /// HTTP/1: where the end of the head is looked for.
    end: HeadEnd,
    /// HTTP/1: a complete head being handed to hyper, from this offset of `held`.
    handing: Option<usize>,
    /// HTTP/1: `started` of the state when the last complete head was handed over; heads are
    /// held again once hyper started its request and answered it.
    handed_at: Option<u64>,
}

/// Finds the empty line that ends a request head, across reads. Empty lines before the request
/// line are skipped (as HTTP/1.1 allows and hyper does), so that they cannot pass for a
/// complete head.
#[derive(Debug, Default)]
struct HeadEnd {
    /// A byte other than CR or LF was seen.
    started: bool,
    /// Line feeds since the last byte other than CR or LF (an empty line makes two).
    line_feeds: u8,
}

impl HeadEnd {
    /// Whether a head ends within `bytes`. What follows the end (a body, or the start of a
    /// pipelined request) is scanned on, so that a head whose start came with an earlier
    /// request's is still seen to end.
    ///
    /// Line by line: `memchr` finds the line feeds, and a line needs only its first byte
    /// looked at unless it is made of CRs. Byte by byte it cost 6,500 instructions more per
    /// REST get in the gateway, of 220,000 (an 850-byte head; bench/README.md, "Instructions
    /// per request"); the byte-by-byte rule is kept as the tests' oracle.
    fn complete(&mut self, bytes: &[u8]) -> bool {
        let mut ended = false;
        let mut line_start = 0;
        for at in memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len())) {
            // Between two line feeds there is no LF: a byte other than CR starts content.
            if bytes[line_start..at].iter().any(|&byte| byte != b'\r') {
                self.started = true;
                self.line_feeds = 0;
            }
            if at < bytes.len() && self.started {
                self.line_feeds += 1;
                if self.line_feeds == 2 {
                    *self = Self::default();
                    ended = true;
                }
            }
            line_start = at + 1;
        }
        ended
    }
}

impl<T> Metered<T> {
    /// `http1`: the connection's first bytes showed it speaks HTTP/1 (else hyper tells the
    /// version apart, and heads are not held here).
    pub(crate) fn new(
        inner: T,
        state: Arc<ConnectionState>,
        budget: &HeadBudget,
        http1: bool,
    ) -> Self {
        Self {
            inner,
            state,
            budget: PollSemaphore::new(budget.0.clone()),
            h2: http1.then_some(false),
            refusal: None,
            held: Vec::new(),
            end: HeadEnd::default(),
            handing: None,
            handed_at: None,
        }
    }

    /// Whether a head being read now is held here: on HTTP/1, between requests.
    fn holds_heads(&mut self) -> bool {
        if self.h2 != Some(false) {
            return false;
        }
        let started = self.state.started.load(Ordering::Acquire);
        if self.handed_at.is_some_and(|at| started > at) {
            self.handed_at = None;
        }
        self.handed_at.is_none() && self.state.in_flight.load(Ordering::Acquire) == 0
    }

    /// How many more head bytes may be read now, once enough budget is held (Pending while
    /// the shared budget is spent).
    fn allowance(&mut self, cx: &mut Context<'_>, wanted: usize) -> Poll<usize> {
        if self.state.phase.load(Ordering::Acquire) == IN_REQUEST {
            return Poll::Ready(wanted);
        }
        let read = self.state.head_bytes.load(Ordering::Acquire);
        let held_units = {
            let held = self.state.held.lock().unwrap_or_else(PoisonError::into_inner);
            held.as_ref().map_or(0, OwnedSemaphorePermit::num_permits)
        };
        let covered = FREE_HEAD_BYTES + held_units * UNIT;
        if read < covered {
            return Poll::Ready(wanted.min(covered - read));
        }
        if read >= MAX_HEAD_BYTES {
            return Poll::Ready(0);
        }
        let units = (MAX_HEAD_BYTES - covered).div_ceil(UNIT).min(8);
        let Some(permit) =
            ready!(self.budget.poll_acquire_many(cx, u32::try_from(units).unwrap_or(8)))
        else {
            return Poll::Ready(wanted);
        };
        let mut held = self.state.held.lock().unwrap_or_else(PoisonError::into_inner);
        match held.as_mut() {
            Some(existing) => existing.merge(permit),
            None => *held = Some(permit),
        }
        Poll::Ready(wanted.min(units * UNIT).min(MAX_HEAD_BYTES - read))
    }
}

/// The most one read of an unfinished head may take beyond what the caller's buffer limits.
const MAX_CHUNK: usize = 8 * UNIT;

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Metered<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.refusal.is_some() {
            return self.poll_refuse(cx);
        }
        if let Some(from) = self.handing {
            let n = buf.remaining().min(self.held.len() - from);
            buf.put_slice(&self.held[from..from + n]);
            if from + n == self.held.len() {
                self.handing = None;
                self.held = Vec::new();
            } else {
                self.handing = Some(from + n);
            }
            return Poll::Ready(Ok(()));
        }
        if self.holds_heads() {
            return self.poll_read_head(cx, buf);
        }
        let wanted = buf.remaining();
        let allowed = ready!(self.allowance(cx, wanted)).min(wanted);
        if allowed == 0 && wanted > 0 {
            return self.refuse(cx);
        }
        let before = buf.filled().len();
        if allowed == wanted {
            ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        } else {
            // Less than the caller's buffer may be read: read into a small one and copy. A
            // head past its free part, and also the read hyper makes right after each head,
            // before the request has begun (which as a rule finds nothing). Uninitialised:
            // zeroing the 8 KiB was 8,200 of the 8,300 instructions of memset per request.
            let mut scratch = [MaybeUninit::<u8>::uninit(); MAX_CHUNK];
            let mut limited = ReadBuf::uninit(&mut scratch[..allowed.min(MAX_CHUNK)]);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut limited))?;
            buf.put_slice(limited.filled());
        }
        let count = buf.filled().len() - before;
        if self.h2.is_none() && buf.filled().len() >= H2_PREFACE.len() {
            self.h2 = Some(buf.filled().starts_with(H2_PREFACE));
        }
        self.state.bytes_read(count);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Metered<T> {
    /// Reads an HTTP/1 head: handed on at once when it arrives whole, else held in `held`
    /// until it is complete.
    fn poll_read_head(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let allowed = ready!(self.allowance(cx, MAX_CHUNK)).min(MAX_CHUNK);
            if allowed == 0 {
                return self.refuse(cx);
            }
            let mut scratch = [MaybeUninit::<u8>::uninit(); MAX_CHUNK];
            let mut chunk = ReadBuf::uninit(&mut scratch[..allowed]);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut chunk))?;
            let arrived = chunk.filled();
            if arrived.is_empty() {
                // The client gave up mid-head: nothing for hyper but the end of the stream.
                self.held = Vec::new();
                return Poll::Ready(Ok(()));
            }
            self.state.bytes_read(arrived.len());
            let complete = self.end.complete(arrived);
            if complete && self.held.is_empty() && arrived.len() <= buf.remaining() {
                // Every ordinary request: the whole head in one read.
                buf.put_slice(arrived);
                self.handed_at = Some(self.state.started.load(Ordering::Acquire));
                return Poll::Ready(Ok(()));
            }
            // Grown in KiB steps, not doubled: the head costs about what the client sent, and
            // a head sent a byte at a time is copied at most once per KiB.
            if self.held.capacity() - self.held.len() < arrived.len() {
                self.held.reserve_exact(arrived.len().next_multiple_of(UNIT));
            }
            self.held.extend_from_slice(arrived);
            if complete {
                self.handed_at = Some(self.state.started.load(Ordering::Acquire));
                let n = buf.remaining().min(self.held.len());
                buf.put_slice(&self.held[..n]);
                if n == self.held.len() {
                    self.held = Vec::new();
                } else {
                    self.handing = Some(n);
                }
                return Poll::Ready(Ok(()));
            }
        }
    }

    /// The head reached its limit unfinished: refuse it without reading further.
    fn refuse(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.h2 == Some(true) {
            return Poll::Ready(Err(io::Error::other("HTTP/2 preface and headers too large")));
        }
        tracing::info!("request head over {MAX_HEAD_BYTES} bytes refused");
        self.held = Vec::new();
        self.refusal = Some((head_too_large(), 0));
        self.poll_refuse(cx)
    }
}

impl<T: AsyncWrite + Unpin> Metered<T> {
    /// Writes the 431, then fails the read so that hyper drops the connection without a word
    /// of its own.
    fn poll_refuse(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some((response, written)) = self.refusal.as_mut() {
            while *written < response.len() {
                let sent = ready!(Pin::new(&mut self.inner).poll_write(cx, &response[*written..]))?;
                if sent == 0 {
                    break;
                }
                *written += sent;
            }
            ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        }
        Poll::Ready(Err(io::Error::other("request head too large")))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Metered<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::HeadEnd;

    /// The rule, byte by byte: what [`HeadEnd::complete`] must agree with.
    fn complete_bytewise(end: &mut HeadEnd, bytes: &[u8]) -> bool {
        let mut ended = false;
        for &byte in bytes {
            match byte {
                b'\n' if end.started => {
                    end.line_feeds += 1;
                    if end.line_feeds == 2 {
                        *end = HeadEnd::default();
                        ended = true;
                    }
                }
                b'\r' | b'\n' => {}
                _ => {
                    end.started = true;
                    end.line_feeds = 0;
                }
            }
        }
        ended
    }

    proptest! {
        /// Any bytes (mostly CR, LF and letters), cut into any chunks: the same answers and
        /// the same state after every chunk as the byte-by-byte rule.
        #[test]
        fn line_by_line_agrees_with_byte_by_byte(
            bytes in prop::collection::vec(prop::sample::select(b"\r\n\r\nab:".to_vec()), 0..200),
            cuts in prop::collection::vec(0..200_usize, 0..6),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut.min(bytes.len())).collect();
            cuts.push(0);
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let (mut fast, mut slow) = (HeadEnd::default(), HeadEnd::default());
            for window in cuts.windows(2) {
                let chunk = &bytes[window[0]..window[1]];
                prop_assert_eq!(fast.complete(chunk), complete_bytewise(&mut slow, chunk));
                prop_assert_eq!((fast.started, fast.line_feeds), (slow.started, slow.line_feeds));
            }
        }
    }

    fn ends(chunks: &[&str]) -> Vec<bool> {
        let mut end = HeadEnd::default();
        chunks.iter().map(|chunk| end.complete(chunk.as_bytes())).collect()
    }

    #[test]
    fn a_head_ends_at_its_empty_line_with_crlf_or_bare_lf() {
        assert_eq!(ends(&["GET / HTTP/1.1\r\nhost: x\r\n\r\n"]), [true]);
        assert_eq!(ends(&["GET / HTTP/1.1\nhost: x\n\n"]), [true]);
        assert_eq!(ends(&["GET / HTTP/1.1\r\nhost: x\r\n"]), [false]);
    }

    #[test]
    fn the_end_is_found_across_chunks_split_anywhere() {
        let head = "GET / HTTP/1.1\r\nhost: x\r\n\r\n";
        for at in 1..head.len() {
            assert_eq!(ends(&[&head[..at], &head[at..]]), [false, true], "split at {at}");
        }
        let bytes: Vec<String> = head.chars().map(String::from).collect();
        let one_at_a_time: Vec<&str> = bytes.iter().map(String::as_str).collect();
        let seen = ends(&one_at_a_time);
        assert_eq!(seen.iter().filter(|&&ended| ended).count(), 1);
        assert_eq!(seen.last(), Some(&true));
    }

    #[test]
    fn empty_lines_before_the_request_line_do_not_end_a_head() {
        assert_eq!(
            ends(&["\r\n\r\n", "\n\n", "GET / HTTP/1.1\r\n", "\r\n"]),
            [false, false, false, true]
        );
    }

    #[test]
    fn a_pipelined_head_begun_in_an_earlier_chunk_still_ends() {
        assert_eq!(
            ends(&["GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\n", "\r\n"]),
            [true, true]
        );
    }
}
