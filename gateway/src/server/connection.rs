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
//!
//! hyper's own header-read timeout is not used: it also runs while a keep-alive connection waits
//! for its next request, which would cut every idle connection at the (short) header timeout.

use std::{
    io,
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
pub(crate) const FREE_HEAD_BYTES: usize = 8 * 1024;

/// What all connections together may buffer of unfinished heads beyond their free part.
pub(crate) const HEAD_BUDGET_BYTES: usize = 8 * 1024 * 1024;

/// The budget is counted in units of this many bytes.
const UNIT: usize = 1024;

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

/// The first bytes of every HTTP/2 connection.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// A connection's socket, read only as far as its head budget allows.
#[derive(Debug)]
pub(crate) struct Metered<T> {
    inner: T,
    state: Arc<ConnectionState>,
    budget: PollSemaphore,
    /// Whether the connection speaks HTTP/2 (its heads are hyper's h2 business).
    h2: Option<bool>,
    /// The 431 being written, and how much of it is out.
    refusal: Option<(Vec<u8>, usize)>,
}

impl<T> Metered<T> {
    pub(crate) fn new(inner: T, state: Arc<ConnectionState>, budget: &HeadBudget) -> Self {
        Self { inner, state, budget: PollSemaphore::new(budget.0.clone()), h2: None, refusal: None }
    }

    /// How many more head bytes may be read now, once enough budget is held (Pending while
    /// the shared budget is spent).
    fn allowance(&mut self, cx: &mut Context<'_>, wanted: usize) -> Poll<usize> {
        if self.state.phase.load(Ordering::Acquire) != AWAITING_HEAD {
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
        let wanted = buf.remaining();
        let allowed = ready!(self.allowance(cx, wanted)).min(wanted);
        if allowed == 0 && wanted > 0 {
            // The head reached its limit unfinished: refuse it without reading further.
            if self.h2 == Some(true) {
                return Poll::Ready(Err(io::Error::other("HTTP/2 preface and headers too large")));
            }
            tracing::info!("request head over {MAX_HEAD_BYTES} bytes refused");
            self.refusal = Some((head_too_large(), 0));
            return self.poll_refuse(cx);
        }
        let before = buf.filled().len();
        if allowed == wanted {
            ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        } else {
            // Less than the caller's buffer may be read: read into a small one and copy (only
            // for heads past their free part, never on an ordinary request).
            let mut scratch = [0u8; MAX_CHUNK];
            let mut limited = ReadBuf::new(&mut scratch[..allowed.min(MAX_CHUNK)]);
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
