//! A load generator for the reliability tests (tests/reliability.rs).
//!
//! [`start`] opens `conns` HTTP/1.1 keep-alive connections (plain TCP or
//! TLS) to one server on loopback and sends requests from a weighted mix of
//! [`Call`]s over them with hyper's client connection API, on a tokio
//! runtime of its own (one thread, so the generator never takes more than
//! one of the machine's cores from the server under test). Every run is
//! bounded twice: by a request count and by a duration, and
//! [`Running::finish`] fails the test when the generator overruns.
//!
//! Pacing: with a `rate`, each connection sends on a fixed schedule. When
//! a connection is behind it (its previous answer came late), a request's
//! latency is counted from the time it was due, not from when it went out:
//! a stalled server cannot hide its stall by delaying the sends (no
//! coordinated omission). On schedule, it is counted from the send (the
//! timer's wake-up lag is the generator's). Without a rate, each
//! connection sends the next request as soon as the previous answer is in
//! (closed loop).
//!
//! Every request is recorded: when it started, its latency, which call it
//! was and how it ended ([`Outcome`]). Requests carry `X-Request-ID:
//! <prefix>-<n>`, so a test can match a request with the server's log line.
//!
//! Also here: [`once`] (one request, blocking, for probes) and
//! percentiles.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// One kind of request of the mix, with the answer it must get.
#[derive(Clone, Debug)]
pub struct Call {
    /// Short name for reports.
    pub name: &'static str,
    /// Request target (`/auth?level=mfa`).
    pub target: String,
    /// Request headers besides `Host` and `X-Request-ID`.
    pub headers: Vec<(&'static str, String)>,
    /// The expected status.
    pub expect: u16,
    /// A substring the `WWW-Authenticate` header must contain, if any.
    pub www: Option<&'static str>,
    /// Relative share of the mix.
    pub weight: u32,
}

/// How to reach the server.
#[derive(Clone)]
pub enum Transport {
    Plain,
    /// TLS with this client configuration, SNI `localhost`.
    Tls(Arc<rustls::ClientConfig>),
}

/// What a run does and its bounds.
#[derive(Clone)]
pub struct Plan {
    pub addr: SocketAddr,
    pub transport: Transport,
    /// Concurrent connections.
    pub conns: usize,
    /// At most this many requests in all.
    pub max_requests: u64,
    /// At most this long.
    pub duration: Duration,
    /// Total requests per second, spread over the connections; `None`:
    /// closed loop.
    pub rate: Option<f64>,
    /// Open a new connection after this many requests on one (new TLS
    /// handshakes during the run); `None`: keep connections.
    pub reconnect_every: Option<u32>,
    /// A request without an answer after this long is a [`Outcome::Timeout`].
    pub request_timeout: Duration,
    /// End a connection's loop when a connect is refused (the server has
    /// closed its listener) instead of retrying.
    pub stop_on_refused: bool,
    /// `X-Request-ID` prefix.
    pub id_prefix: &'static str,
}

impl Plan {
    /// Plain HTTP, closed loop, keep-alive, 10 s request timeout.
    pub fn new(addr: SocketAddr, conns: usize, max_requests: u64, duration: Duration) -> Plan {
        Plan {
            addr,
            transport: Transport::Plain,
            conns,
            max_requests,
            duration,
            rate: None,
            reconnect_every: None,
            request_timeout: Duration::from_secs(10),
            stop_on_refused: false,
            id_prefix: "load",
        }
    }
}

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The expected status (and `WWW-Authenticate`).
    Ok,
    /// An answer, but not the expected one (its status).
    Unexpected(u16),
    /// The connect was refused: the server never accepted this request.
    Refused,
    /// Another connect or TLS handshake failure.
    ConnectFailed,
    /// The connection closed before the request was written.
    NotSent,
    /// Written, then the connection closed or was reset before an answer.
    NoResponse,
    /// No answer within the request timeout.
    Timeout,
}

impl Outcome {
    /// Whether the server answered (expected or not).
    pub fn answered(self) -> bool {
        matches!(self, Outcome::Ok | Outcome::Unexpected(_))
    }
}

/// One request.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    /// When its latency clock started (see the module doc), in µs from the
    /// run's start.
    pub at_us: u32,
    /// To the end of the answer's body, µs.
    pub latency_us: u32,
    /// Index into the mix.
    pub call: u16,
    /// The `n` of its `X-Request-ID`.
    pub n: u32,
    pub outcome: Outcome,
}

impl Record {
    pub fn at(&self) -> Duration {
        Duration::from_micros(u64::from(self.at_us))
    }
}

/// A TLS handshake the generator made: when it completed, the server's
/// certificate, and whether it resumed an earlier session (then the
/// certificate is the one of that session: the server sends none).
#[derive(Clone, Debug)]
pub struct Handshake {
    pub at: Duration,
    pub cert: Vec<u8>,
    pub resumed: bool,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    issued: AtomicU64,
    inflight: AtomicUsize,
    max_inflight: AtomicUsize,
    server_closes: AtomicU64,
    samples: Mutex<Vec<String>>,
    handshakes: Mutex<Vec<Handshake>>,
}

/// The result of a run.
pub struct Report {
    /// The mix, by index.
    pub calls: Vec<Call>,
    pub records: Vec<Record>,
    pub handshakes: Vec<Handshake>,
    /// Most requests outstanding at once.
    pub max_inflight: usize,
    /// Idle connections the server closed (replaced before the next
    /// request; nothing was lost, but a server under steady load should
    /// not do it).
    pub server_closes: u64,
    /// The first failures, described.
    pub samples: Vec<String>,
    /// The run's wall time.
    pub elapsed: Duration,
    pub prefix: &'static str,
}

/// A run in progress.
pub struct Running {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Report>>,
    /// When the run started.
    pub started: Instant,
    limit: Instant,
}

/// Start a run in the background.
pub fn start(plan: Plan, calls: Vec<Call>) -> Running {
    assert!(!calls.is_empty() && plan.conns > 0);
    let shared = Arc::new(Shared::default());
    let started = Instant::now();
    let limit = started + plan.duration + plan.request_timeout + Duration::from_secs(10);
    let sh = shared.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("load generator runtime");
        rt.block_on(run(plan, calls, sh, started))
    });
    Running {
        shared,
        thread: Some(thread),
        started,
        limit,
    }
}

impl Running {
    /// Ask the connections to stop after their current request.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }

    /// Requests outstanding now.
    pub fn inflight(&self) -> usize {
        self.shared.inflight.load(Ordering::Relaxed)
    }

    /// Requests started so far.
    pub fn issued(&self) -> u64 {
        self.shared.issued.load(Ordering::Relaxed)
    }

    /// Wait for the run to end; panics when it overruns its bounds
    /// (duration + request timeout + 10 s).
    pub fn finish(mut self) -> Report {
        let thread = self.thread.take().expect("finished once");
        while !thread.is_finished() {
            if Instant::now() > self.limit {
                self.stop();
                panic!(
                    "the load generator overran its bound ({} requests started)",
                    self.issued()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        match thread.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn run(plan: Plan, calls: Vec<Call>, shared: Arc<Shared>, started: Instant) -> Report {
    let mut table = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        table.extend(std::iter::repeat_n(i as u16, c.weight as usize));
    }
    let plan = Arc::new(plan);
    let calls = Arc::new(calls);
    let table = Arc::new(table);
    let mut tasks = Vec::new();
    for ix in 0..plan.conns {
        tasks.push(tokio::spawn(connection(
            ix,
            plan.clone(),
            calls.clone(),
            table.clone(),
            shared.clone(),
            started,
        )));
    }
    let mut records = Vec::new();
    for t in tasks {
        if let Ok(mut r) = t.await {
            records.append(&mut r);
        }
    }
    records.sort_by_key(|r| r.at_us);
    let samples = take(&shared.samples);
    let handshakes = take(&shared.handshakes);
    let calls = Arc::try_unwrap(calls).unwrap_or_else(|c| (*c).clone());
    Report {
        calls,
        records,
        handshakes,
        max_inflight: shared.max_inflight.load(Ordering::Relaxed),
        server_closes: shared.server_closes.load(Ordering::Relaxed),
        samples,
        elapsed: started.elapsed(),
        prefix: plan.id_prefix,
    }
}

fn take<T>(m: &Mutex<Vec<T>>) -> Vec<T> {
    std::mem::take(&mut *m.lock().unwrap_or_else(|p| p.into_inner()))
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// One connection's loop (reconnecting after failures).
async fn connection(
    ix: usize,
    plan: Arc<Plan>,
    calls: Arc<Vec<Call>>,
    table: Arc<Vec<u16>>,
    shared: Arc<Shared>,
    started: Instant,
) -> Vec<Record> {
    let end = tokio::time::Instant::from_std(started + plan.duration);
    let interval = plan
        .rate
        .map(|r| Duration::from_secs_f64(plan.conns as f64 / r));
    let mut due = tokio::time::Instant::from_std(started)
        + interval.map_or(Duration::ZERO, |i| i * ix as u32 / plan.conns as u32);
    let mut records = Vec::new();
    let mut sender: Option<SendRequest<Empty<Bytes>>> = None;
    let mut on_conn = 0u32;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        // When the latency clock starts: at the send, unless this
        // connection is behind its schedule (its previous answer came
        // late): then at the time the request was due.
        let t0 = match interval {
            Some(i) => {
                if due >= end {
                    break;
                }
                let t = if tokio::time::Instant::now() < due {
                    // Woken by the timer (1 ms resolution): its lag is
                    // the generator's, not the server's.
                    tokio::time::sleep_until(due).await;
                    Instant::now()
                } else {
                    due.into_std()
                };
                due += i;
                t
            }
            None if tokio::time::Instant::now() >= end => break,
            None => Instant::now(),
        };
        let n = shared.issued.fetch_add(1, Ordering::Relaxed);
        if n >= plan.max_requests {
            break;
        }
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        let ci = table[n as usize % table.len()];
        let call = &calls[ci as usize];
        let mut rec = Record {
            at_us: micros(t0.duration_since(started)),
            latency_us: 0,
            call: ci,
            n,
            outcome: Outcome::Ok,
        };
        // A connection the server closed while idle is replaced before
        // sending (as any client does); nothing was sent on it.
        if sender.as_ref().is_some_and(|s| s.is_closed()) {
            shared.server_closes.fetch_add(1, Ordering::Relaxed);
        }
        if sender.as_ref().is_none_or(|s| s.is_closed())
            || plan.reconnect_every.is_some_and(|k| on_conn >= k)
        {
            sender = None;
            match connect(&plan, &shared, started).await {
                Ok(s) => {
                    sender = Some(s);
                    on_conn = 0;
                }
                Err(outcome) => {
                    rec.outcome = outcome;
                    rec.latency_us = micros(t0.elapsed());
                    records.push(rec);
                    note(&shared, || {
                        format!("#{n} {}: connect: {outcome:?}", call.name)
                    });
                    if outcome == Outcome::Refused && plan.stop_on_refused {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        on_conn += 1;
        let now = shared.inflight.fetch_add(1, Ordering::Relaxed) + 1;
        shared.max_inflight.fetch_max(now, Ordering::Relaxed);
        let res = tokio::time::timeout(plan.request_timeout, send(s, &plan, call, n)).await;
        shared.inflight.fetch_sub(1, Ordering::Relaxed);
        rec.latency_us = micros(t0.elapsed());
        rec.outcome = match res {
            Ok(Ok((status, www))) => {
                let www_ok = call.www.is_none_or(|w| www.contains(w));
                if status == call.expect && www_ok {
                    Outcome::Ok
                } else {
                    note(&shared, || {
                        format!("#{n} {}: {status} www-authenticate: {www}", call.name)
                    });
                    Outcome::Unexpected(status)
                }
            }
            Ok(Err(outcome)) => {
                note(&shared, || format!("#{n} {}: {outcome:?}", call.name));
                sender = None;
                outcome
            }
            Err(_) => {
                note(&shared, || format!("#{n} {}: timeout", call.name));
                sender = None;
                Outcome::Timeout
            }
        };
        records.push(rec);
    }
    records
}

fn note(shared: &Shared, what: impl FnOnce() -> String) {
    let mut s = shared.samples.lock().unwrap_or_else(|p| p.into_inner());
    if s.len() < 20 {
        s.push(what());
    }
}

/// A new connection (and its TLS handshake, recorded).
async fn connect(
    plan: &Plan,
    shared: &Shared,
    started: Instant,
) -> Result<SendRequest<Empty<Bytes>>, Outcome> {
    let tcp = match tokio::net::TcpStream::connect(plan.addr).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(Outcome::Refused);
        }
        Err(_) => return Err(Outcome::ConnectFailed),
    };
    let _ = tcp.set_nodelay(true);
    match &plan.transport {
        Transport::Plain => handshake(tcp).await,
        Transport::Tls(cfg) => {
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("DNS name");
            let tls = tokio_rustls::TlsConnector::from(cfg.clone())
                .connect(name, tcp)
                .await
                .map_err(|_| Outcome::ConnectFailed)?;
            let conn = tls.get_ref().1;
            if let Some(cert) = conn.peer_certificates().and_then(|c| c.first()) {
                let resumed = conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
                shared
                    .handshakes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Handshake {
                        at: started.elapsed(),
                        cert: cert.to_vec(),
                        resumed,
                    });
            }
            handshake(tls).await
        }
    }
}

async fn handshake<IO>(io: IO) -> Result<SendRequest<Empty<Bytes>>, Outcome>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|_| Outcome::ConnectFailed)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Send one request of the mix; its status and `WWW-Authenticate`.
async fn send(
    s: &mut SendRequest<Empty<Bytes>>,
    plan: &Plan,
    call: &Call,
    n: u32,
) -> Result<(u16, String), Outcome> {
    s.ready().await.map_err(|_| Outcome::NotSent)?;
    let id = format!("{}-{n}", plan.id_prefix);
    let mut headers: Vec<(&str, &str)> = vec![("x-request-id", &id)];
    headers.extend(call.headers.iter().map(|(k, v)| (*k, v.as_str())));
    match exchange(s, &call.target, &headers).await {
        Ok((status, www, _)) => Ok((status, www)),
        Err(e) if e.is_canceled() => Err(Outcome::NotSent),
        Err(_) => Err(Outcome::NoResponse),
    }
}

/// GET `target` with `headers` (and `Host`), and read the whole answer:
/// status, `WWW-Authenticate` and body.
async fn exchange(
    s: &mut SendRequest<Empty<Bytes>>,
    target: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, String, Bytes), hyper::Error> {
    let mut req = hyper::Request::get(target).header("host", "stepup");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Empty::new()).expect("a valid request");
    let resp = s.send_request(req).await?;
    let status = resp.status().as_u16();
    let www = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, www, body))
}

/// One answer of [`once`].
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub www: String,
    pub body: String,
    /// The server's certificate (TLS).
    pub cert: Option<Vec<u8>>,
    pub latency: Duration,
}

/// One request on a new connection, blocking (probes from a test's thread).
pub fn once(
    addr: SocketAddr,
    transport: &Transport,
    target: &str,
    headers: &[(&str, &str)],
) -> Result<Answer, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let t0 = Instant::now();
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let (mut s, cert) = match transport {
            Transport::Plain => (handshake(tcp).await, None),
            Transport::Tls(cfg) => {
                let name = rustls::pki_types::ServerName::try_from("localhost").expect("DNS name");
                let tls = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                let cert = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.to_vec());
                (handshake(tls).await, cert)
            }
        };
        let s = s.as_mut().map_err(|o| format!("HTTP handshake: {o:?}"))?;
        let (status, www, body) =
            tokio::time::timeout(Duration::from_secs(30), exchange(s, target, headers))
                .await
                .map_err(|_| "no answer in 30 s".to_string())?
                .map_err(|e| format!("request: {e}"))?;
        Ok(Answer {
            status,
            www,
            body: String::from_utf8_lossy(&body).into_owned(),
            cert,
            latency: t0.elapsed(),
        })
    })
}

/// Counts and latency percentiles of a set of records.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub requests: u64,
    pub ok: u64,
    pub unexpected: u64,
    pub refused: u64,
    pub connect_failed: u64,
    pub not_sent: u64,
    pub no_response: u64,
    pub timeouts: u64,
    /// Latency of answered requests, ms.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    /// Everything that is not the expected answer.
    pub fn errors(&self) -> u64 {
        self.requests - self.ok
    }

    /// Connection-level failures (no answer at all).
    pub fn conn_errors(&self) -> u64 {
        self.refused + self.connect_failed + self.not_sent + self.no_response + self.timeouts
    }

    pub fn json(&self) -> Value {
        json!({
            "requests": self.requests,
            "errors": self.errors(),
            "unexpected_status": self.unexpected,
            "conn_errors": self.conn_errors(),
            "refused": self.refused,
            "connect_failed": self.connect_failed,
            "not_sent": self.not_sent,
            "no_response": self.no_response,
            "timeouts": self.timeouts,
            "p50_ms": round3(self.p50_ms),
            "p99_ms": round3(self.p99_ms),
            "max_ms": round3(self.max_ms),
        })
    }
}

/// Rounded to µs, for JSON.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Report {
    /// The records `keep` selects, summarised.
    pub fn summary(&self, keep: impl Fn(&Record) -> bool) -> Summary {
        let mut s = Summary::default();
        let mut lat = Vec::new();
        for r in self.records.iter().filter(|r| keep(r)) {
            s.requests += 1;
            match r.outcome {
                Outcome::Ok => s.ok += 1,
                Outcome::Unexpected(_) => s.unexpected += 1,
                Outcome::Refused => s.refused += 1,
                Outcome::ConnectFailed => s.connect_failed += 1,
                Outcome::NotSent => s.not_sent += 1,
                Outcome::NoResponse => s.no_response += 1,
                Outcome::Timeout => s.timeouts += 1,
            }
            if r.outcome.answered() {
                lat.push(r.latency_us);
            }
        }
        lat.sort_unstable();
        s.p50_ms = percentile(&lat, 50.0);
        s.p99_ms = percentile(&lat, 99.0);
        s.max_ms = lat.last().map_or(0.0, |&v| f64::from(v) / 1000.0);
        s
    }

    /// All records.
    pub fn all(&self) -> Summary {
        self.summary(|_| true)
    }

    /// The index of the call named `name`.
    pub fn call(&self, name: &str) -> u16 {
        let i = self.calls.iter().position(|c| c.name == name);
        i.unwrap_or_else(|| panic!("no call {name} in the mix")) as u16
    }

    /// The `X-Request-ID` of a record.
    pub fn request_id(&self, r: &Record) -> String {
        format!("{}-{}", self.prefix, r.n)
    }

    /// Requests answered per second over the run.
    pub fn rps(&self) -> f64 {
        let answered = self.records.iter().filter(|r| r.outcome.answered()).count();
        answered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The `p`th percentile (nearest rank) of sorted µs values, in ms.
pub fn percentile(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    f64::from(sorted_us[rank.clamp(1, sorted_us.len()) - 1]) / 1000.0
}
