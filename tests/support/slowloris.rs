//! Slowloris clients: connections that open and then send a request head
//! one byte at a time, never finishing it (a header line that never ends),
//! or send nothing at all. Each one records when the server closed it, so a
//! test can see the server's header read timeout at work.
//!
//! Use from a test file with `#[path = "support/slowloris.rs"] mod slowloris;`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What one slow connection saw.
#[derive(Debug, Clone)]
pub struct Slow {
    /// It sent bytes (else it stayed silent).
    pub trickled: bool,
    /// Whether the connect succeeded.
    pub connected: bool,
    /// Bytes of the never-ending head sent.
    pub sent: usize,
    /// When the server closed it, from the connect; `None`: still open
    /// when the client gave up.
    pub closed_after: Option<Duration>,
    /// What the server wrote before closing (the start of it).
    pub answer: String,
}

/// Slow clients in the background.
pub struct Slowloris {
    thread: JoinHandle<Vec<Slow>>,
    /// When they were started.
    pub started: Instant,
}

/// Open `count` connections to `addr`: every other one trickles a byte
/// every `every`, the rest stay silent. Each gives up after `give_up`.
pub fn start(addr: SocketAddr, count: usize, every: Duration, give_up: Duration) -> Slowloris {
    let started = Instant::now();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("slowloris runtime");
        rt.block_on(async move {
            let tasks: Vec<_> = (0..count)
                .map(|i| tokio::spawn(one(addr, i % 2 == 0, every, give_up)))
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                if let Ok(s) = t.await {
                    out.push(s);
                }
            }
            out
        })
    });
    Slowloris { thread, started }
}

impl Slowloris {
    /// Wait for every client to be closed or to give up.
    pub fn finish(self) -> Vec<Slow> {
        match self.thread.join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

async fn one(addr: SocketAddr, trickle: bool, every: Duration, give_up: Duration) -> Slow {
    let mut slow = Slow {
        trickled: trickle,
        connected: false,
        sent: 0,
        closed_after: None,
        answer: String::new(),
    };
    let Ok(tcp) = tokio::net::TcpStream::connect(addr).await else {
        return slow;
    };
    slow.connected = true;
    let t0 = Instant::now();
    let (mut rd, mut wr) = tcp.into_split();
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let mut tick = tokio::time::interval(every);
    let end = tokio::time::sleep(give_up);
    tokio::pin!(end);
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            _ = &mut end => return slow,
            r = rd.read(&mut buf) => {
                match r {
                    Ok(n) if n > 0 && slow.answer.len() < 200 => {
                        slow.answer.push_str(&String::from_utf8_lossy(&buf[..n]));
                        continue;
                    }
                    Ok(n) if n > 0 => continue,
                    _ => {}
                }
                slow.closed_after = Some(t0.elapsed());
                return slow;
            }
            _ = tick.tick(), if trickle => {
                let byte = head.get(slow.sent).copied().unwrap_or(b'a');
                if wr.write_all(&[byte]).await.is_err() {
                    slow.closed_after = Some(t0.elapsed());
                    return slow;
                }
                slow.sent += 1;
            }
        }
    }
}
