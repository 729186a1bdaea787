//! A TCP proxy on loopback that can hold what its clients send for a while
//! before passing it on: put in front of the test IdP (whose issuer is the
//! proxy's address, `Idp::start_with_issuer`), it makes stepup's discovery
//! and JWKS requests hang as behind a slow or stuck IdP, without touching
//! the IdP or stepup.
//!
//! Each chunk a client sends is held for the delay set at the time it
//! arrives ([`SlowProxy::set_delay`]; zero passes it on at once), on
//! connections already open too, so a pooled keep-alive connection gets no
//! shortcut. A client that gives up (closes) while its bytes are held is
//! counted as having abandoned the request. The counters say how many
//! requests were held at once: with a single-flight JWKS refresh, never
//! more than one.
//!
//! Use from a test file with `#[path = "support/slowproxy.rs"] mod slowproxy;`.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    held: AtomicU64,
    held_now: AtomicU64,
    held_max: AtomicU64,
    abandoned: AtomicU64,
}

/// A snapshot of the proxy's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyStats {
    /// Client connections accepted.
    pub connections: u64,
    /// Chunks (requests) held because a delay was set.
    pub held: u64,
    /// Most chunks held at the same time.
    pub held_max: u64,
    /// Held chunks whose client closed before they were passed on.
    pub abandoned: u64,
}

/// A running proxy; stops when dropped.
pub struct SlowProxy {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    upstream: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    counters: Arc<Counters>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl SlowProxy {
    /// Listen on a free loopback port; connections are refused (closed)
    /// until [`SlowProxy::set_upstream`].
    pub fn start() -> SlowProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let upstream = Arc::new(AtomicU16::new(0));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (up, delay, count) = (upstream.clone(), delay_ms.clone(), counters.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let accept = async {
                    while let Ok((client, _)) = listener.accept().await {
                        count.connections.fetch_add(1, Ordering::Relaxed);
                        let port = up.load(Ordering::Relaxed);
                        tokio::spawn(relay(client, port, delay.clone(), count.clone()));
                    }
                };
                tokio::select! {
                    _ = accept => {},
                    _ = stopped => {},
                }
            });
        });
        SlowProxy {
            port,
            upstream,
            delay_ms,
            counters,
            stop: Some(stop),
        }
    }

    /// `http://127.0.0.1:PORT`, the issuer to give the IdP.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Forward new connections to `127.0.0.1:port`.
    pub fn set_upstream(&self, port: u16) {
        self.upstream.store(port, Ordering::Relaxed);
    }

    /// Hold every chunk that arrives from now on for `d` (zero: none).
    pub fn set_delay(&self, d: Duration) {
        self.delay_ms.store(
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub fn stats(&self) -> ProxyStats {
        let c = &self.counters;
        ProxyStats {
            connections: c.connections.load(Ordering::Relaxed),
            held: c.held.load(Ordering::Relaxed),
            held_max: c.held_max.load(Ordering::Relaxed),
            abandoned: c.abandoned.load(Ordering::Relaxed),
        }
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Relay one connection: upstream to client as is, client to upstream
/// through the hold.
async fn relay(client: TcpStream, port: u16, delay_ms: Arc<AtomicU64>, count: Arc<Counters>) {
    if port == 0 {
        return;
    }
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut ur, &mut cw).await;
        let _ = cw.shutdown().await;
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match cr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut chunk = buf[..n].to_vec();
        let delay = Duration::from_millis(delay_ms.load(Ordering::Relaxed));
        if !delay.is_zero() && !hold(&mut cr, &mut chunk, delay, &count).await {
            break;
        }
        if uw.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let _ = uw.shutdown().await;
    down.abort();
}

/// Hold `chunk` for `delay`, adding what else the client sends meanwhile;
/// false when the client closed first.
async fn hold(
    cr: &mut tokio::net::tcp::OwnedReadHalf,
    chunk: &mut Vec<u8>,
    delay: Duration,
    count: &Counters,
) -> bool {
    count.held.fetch_add(1, Ordering::Relaxed);
    let now = count.held_now.fetch_add(1, Ordering::Relaxed) + 1;
    count.held_max.fetch_max(now, Ordering::Relaxed);
    let until = tokio::time::Instant::now() + delay;
    let mut more = vec![0u8; 16 * 1024];
    let kept = loop {
        tokio::select! {
            _ = tokio::time::sleep_until(until) => break true,
            r = cr.read(&mut more) => match r {
                Ok(0) | Err(_) => break false,
                Ok(n) => chunk.extend_from_slice(&more[..n]),
            },
        }
    };
    count.held_now.fetch_sub(1, Ordering::Relaxed);
    if !kept {
        count.abandoned.fetch_add(1, Ordering::Relaxed);
    }
    kept
}
