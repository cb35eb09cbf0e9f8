//! Serving connections: hyper's HTTP/1 connection driven by hand, so that a connection cannot
//! keep its slot forever.
//!
//! - A cap on open connections (beyond it the server stops accepting; the kernel's backlog
//!   queues), and a cap per source address (beyond it a new connection is answered with a 429
//!   and closed at once).
//! - A request head must arrive whole within `header_read_timeout` of its first byte (of the
//!   connection's start, for the first request); a connection waiting for its next request, or
//!   whose client stopped reading an answer, is closed after `idle_timeout` without progress.
//!   While a request is being served, `request_timeout` (in the request middleware) bounds it.
//!   hyper's own header timer runs as a backstop (the two timeouts added up).
//! - Each request carries the peer's address (`ConnectInfo<SocketAddr>`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower_service::Service as _;

/// The connection limits (a part of [`crate::limits::Limits`]).
#[derive(Clone, Debug)]
pub struct ConnLimits {
    pub max_connections: usize,
    /// 0: no cap per source.
    pub max_connections_per_source: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

/// The key connections and failed token requests are counted under: the IPv4 address, or the
/// /64 network of an IPv6 address (one host usually holds a whole /64).
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Open connections per source.
#[derive(Default)]
struct Sources(Mutex<HashMap<IpAddr, usize>>);

/// A connection's place in its source's count, given back when dropped.
struct SourceSlot {
    sources: Arc<Sources>,
    key: IpAddr,
}

impl Sources {
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<SourceSlot> {
        let key = source_key(ip);
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(key).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            sources: self.clone(),
            key,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut map = self.sources.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// What a connection is doing, for its watchdog. Times are milliseconds since the connection
/// was accepted.
struct Activity {
    epoch: Instant,
    /// Requests being served (hyper serves one at a time on HTTP/1).
    busy: AtomicU32,
    /// The last byte read or written, or the end of the last request.
    last: AtomicU64,
    /// 1 + when the head of the next request began (its first byte; for the first request,
    /// the connection's start); 0 while none is pending.
    head: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            busy: AtomicU32::new(0),
            last: AtomicU64::new(0),
            head: AtomicU64::new(1),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn read(&self) {
        self.read_at(self.now());
    }

    fn read_at(&self, now: u64) {
        self.last.store(now, Ordering::Relaxed);
        if self.busy.load(Ordering::Acquire) == 0 && self.head.load(Ordering::Relaxed) == 0 {
            self.head.store(now + 1, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.last.store(self.now(), Ordering::Relaxed);
    }

    fn begin(&self) {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.head.store(0, Ordering::Relaxed);
    }

    fn end(&self) {
        self.end_at(self.now());
    }

    fn end_at(&self, now: u64) {
        self.last.store(now, Ordering::Relaxed);
        self.busy.fetch_sub(1, Ordering::AcqRel);
    }

    /// When the connection is to be closed unless something happens first; `None` while a
    /// request is being served.
    fn deadline(&self, limits: &ConnLimits) -> Option<u64> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        match self.head.load(Ordering::Relaxed) {
            0 => Some(
                self.last
                    .load(Ordering::Relaxed)
                    .saturating_add(ms(limits.idle_timeout)),
            ),
            started => Some((started - 1).saturating_add(ms(limits.header_read_timeout))),
        }
    }

    /// Resolves when the connection has overstayed: a head that took too long, or no progress
    /// while idle.
    async fn overstayed(&self, limits: &ConnLimits) {
        let shorter = limits.header_read_timeout.min(limits.idle_timeout);
        loop {
            let now = self.now();
            match self.deadline(limits) {
                Some(d) if d <= now => return,
                // A deadline can move earlier (a request ends, and the idle timeout is shorter
                // than the header timeout the connection was waiting under): look again at
                // least every shorter timeout.
                Some(d) => {
                    tokio::time::sleep(Duration::from_millis(d - now).min(shorter)).await;
                }
                None => tokio::time::sleep(shorter).await,
            }
        }
    }
}

/// The socket, reporting progress to the watchdog.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
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

/// The router as one connection's hyper service: marks requests in progress and adds the
/// peer's address.
#[derive(Clone)]
struct ConnService {
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

/// Ends a request's "in progress" mark, however its future ends.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.end();
    }
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut req: hyper::Request<Incoming>) -> Self::Future {
        self.activity.begin();
        let busy = Busy(self.activity.clone());
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let served = self.router.clone().call(req);
        Box::pin(async move {
            let res = served.await;
            drop(busy);
            res
        })
    }
}

/// The answer to a connection beyond its source's cap, written without reading the request.
fn refusal(max: usize) -> Vec<u8> {
    let body = serde_json::json!({
        "code": 20429,
        "message": format!("Too many connections from this address: at most {max} at once"),
        "more_info": orgiam_domain::error::more_info(20429),
        "status": 429,
    })
    .to_string();
    format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets each
/// connection finish its request in flight, and returns when all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let sources = Arc::new(Sources::default());
    let refused = Arc::new(refusal(limits.max_connections_per_source));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection holds a receiver: `closed()` resolves when the last one is gone.
    let (done_tx, done_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(source) = sources.enter(peer.ip(), limits.max_connections_per_source) else {
            tracing::debug!(source = %source_key(peer.ip()), "too many connections from one source");
            let _ = stream.try_write(&refused);
            // Whatever of the request already arrived is read, so that closing sends a FIN
            // (the answer stays readable) rather than a reset.
            let mut scratch = [0u8; 4096];
            for _ in 0..16 {
                if !matches!(stream.try_read(&mut scratch), Ok(n) if n > 0) {
                    break;
                }
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (router, limits, stop, done) = (
            router.clone(),
            limits.clone(),
            stop_rx.clone(),
            done_rx.clone(),
        );
        tokio::spawn(async move {
            connection(stream, peer, router, &limits, stop).await;
            drop((slot, source, done));
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: &ConnLimits,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let service = ConnService {
        router,
        peer,
        activity: activity.clone(),
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout + limits.idle_timeout)
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let overstayed = activity.overstayed(limits);
    tokio::pin!(overstayed);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            () = &mut overstayed => {
                tracing::debug!(%peer, "closing a connection that sent no complete request in time, or stalled");
                return;
            }
            changed = stop.changed(), if !stopping => {
                if changed.is_err() || *stop.borrow() {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_addresses_or_ipv6_networks() {
        let v4: IpAddr = "127.0.0.2".parse().expect("ip");
        assert_eq!(source_key(v4), v4);
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().expect("ip");
        assert_eq!(source_key(mapped), v4);
        let a: IpAddr = "2001:db8:1:2:3:4:5:6".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::1".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(source_key(a), source_key(b));
        assert_ne!(source_key(a), source_key(c));
    }

    #[test]
    fn a_source_cap_counts_open_connections() {
        let sources = Arc::new(Sources::default());
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        let a = sources.enter(ip, 2);
        let b = sources.enter(ip, 2);
        assert!(a.is_some() && b.is_some());
        assert!(sources.enter(ip, 2).is_none(), "a third is refused");
        assert!(sources.enter("10.0.0.2".parse().expect("ip"), 2).is_some());
        drop(a);
        assert!(
            sources.enter(ip, 2).is_some(),
            "a closed one frees its place"
        );
        assert!(sources.enter(ip, 0).is_some(), "0 is no cap");
    }

    #[test]
    fn deadlines_follow_the_connection_state() {
        let limits = ConnLimits {
            max_connections: 1,
            max_connections_per_source: 0,
            header_read_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(7),
        };
        let a = Activity::new();
        // A new connection must send a head within the header timeout of its start.
        assert_eq!(a.deadline(&limits), Some(2000));
        a.read_at(100);
        assert_eq!(a.deadline(&limits), Some(2000), "more of the first head");
        a.begin();
        assert_eq!(a.deadline(&limits), None, "no deadline while serving");
        a.read_at(300);
        assert_eq!(a.deadline(&limits), None, "a body is read while serving");
        a.end_at(500);
        // Idle after an answer: the idle timeout from the last progress.
        assert_eq!(a.deadline(&limits), Some(7500));
        // The next head's first byte starts the header timer; later bytes do not move it.
        a.read_at(4000);
        a.read_at(5000);
        assert_eq!(a.deadline(&limits), Some(6000));
        a.begin();
        a.end_at(6500);
        assert_eq!(a.deadline(&limits), Some(13_500));
    }
}
