//! Connections: how many may be open, how many from one address, how long a TLS
//! handshake may take, and how long one may sit without a byte in either direction.
//!
//! [`Gate`] is the outermost acceptor: it refuses a connection past `max_connections`
//! (or `max_connections_per_ip`) by closing it at once, so a flood of idle sockets runs
//! into a bound of ours rather than the process's file descriptors, and wraps every
//! accepted socket in [`Tracked`], which gives its slot back when the connection ends
//! and ends a connection idle for `idle_timeout`. Request heads are bounded by hyper's
//! header timeout and sizes (set in `app.rs`), bodies by `http::body`.
//!
//! Everything cut off here is counted in `/metrics` (`lookout_http_cut_total`).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::config::HttpLimits;
use crate::metrics::Metrics;

/// Counts open connections, in all and per peer address.
struct Slots {
    max: usize,
    per_ip: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
    metrics: Arc<Metrics>,
}

/// One open connection's place; given back when dropped.
struct Slot {
    slots: Arc<Slots>,
    ip: IpAddr,
}

impl Slots {
    fn take(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, &'static str> {
        let mut open = self.open.lock().expect("slots");
        if open.0 >= self.max {
            return Err("max_connections");
        }
        let from_ip = open.1.entry(ip).or_default();
        if self.per_ip > 0 && *from_ip >= self.per_ip {
            return Err("max_connections_per_ip");
        }
        *from_ip += 1;
        open.0 += 1;
        self.metrics
            .open_connections
            .fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            slots: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().expect("slots");
        open.0 -= 1;
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
        self.slots
            .metrics
            .open_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// The acceptor in front of TLS: connection slots, `TCP_NODELAY`, the idle timer.
#[derive(Clone)]
pub struct Gate<A> {
    inner: A,
    slots: Arc<Slots>,
    idle: Duration,
}

impl<A> Gate<A> {
    pub fn new(inner: A, limits: &HttpLimits, metrics: Arc<Metrics>) -> Self {
        Gate {
            inner,
            slots: Arc::new(Slots {
                max: limits.max_connections,
                per_ip: limits.max_connections_per_ip,
                open: Mutex::default(),
                metrics,
            }),
            idle: limits.idle_timeout,
        }
    }
}

type Refused<T> = std::future::Ready<io::Result<T>>;

impl<A, S> Accept<TcpStream, S> for Gate<A>
where
    A: Accept<Tracked<TcpStream>, S>,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = futures_util::future::Either<Refused<(A::Stream, A::Service)>, A::Future>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let ip = stream
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let slot = match self.slots.take(ip) {
            Ok(slot) => slot,
            Err(reason) => {
                self.slots.metrics.cut(reason);
                tracing::debug!(%ip, "connection refused: {reason} reached");
                // Dropping the stream closes it at once.
                return futures_util::future::Either::Left(std::future::ready(Err(
                    io::Error::other(reason),
                )));
            }
        };
        // Answers go out at once: without TCP_NODELAY, Nagle's algorithm and the
        // client's delayed ACK held some answers back 40 ms (BENCHMARKS.md).
        let _ = stream.set_nodelay(true);
        let tracked = Tracked {
            inner: stream,
            _slot: slot,
            idle: self.idle,
            last: Instant::now(),
            timer: Box::pin(tokio::time::sleep(self.idle)),
            metrics: self.slots.metrics.clone(),
        };
        futures_util::future::Either::Right(self.inner.accept(tracked, service))
    }
}

/// A socket that holds its connection slot and ends itself after `idle` without a byte
/// read or written.
pub struct Tracked<S> {
    inner: S,
    _slot: Slot,
    idle: Duration,
    last: Instant,
    timer: Pin<Box<Sleep>>,
    metrics: Arc<Metrics>,
}

impl<S> Tracked<S> {
    fn active(&mut self) {
        self.last = Instant::now();
    }

    /// Called when the socket has nothing to give: `Err` once it has been idle too long.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let until = self.last + self.idle;
        if self.timer.deadline() != until {
            self.timer.as_mut().reset(until);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            self.metrics.cut("idle_timeout");
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no byte in either direction for {:?}", self.idle),
            ));
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.active();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match self.check_idle(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                self.active();
                Poll::Ready(Ok(n))
            }
            // A peer that does not read our answer is idle too.
            Poll::Pending => match self.check_idle(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            other => other,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                self.active();
                Poll::Ready(Ok(n))
            }
            Poll::Pending => match self.check_idle(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Raises this process's open-file limit to its hard limit (as Go does at start), so
/// `max_connections` rather than the default soft limit of 1,024 is what binds.
/// Returns the limit in force.
pub fn raise_open_files_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
        limit.rlim_cur
    }
}
