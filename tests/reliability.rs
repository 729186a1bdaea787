//! Reliability of `stepup serve` under load and faults, with real parts:
//! the `stepup` binary, the oidc-provider IdP (tests/idp) and, for the slow
//! IdP, a delaying TCP proxy in front of it (tests/support/slowproxy.rs).
//! Everything listens on 127.0.0.1.
//!
//! The load (tests/support/load.rs) goes straight to `/auth` with the
//! headers ingress-nginx's auth subrequest carries (`X-Original-URL`,
//! `X-Original-Method`, `Authorization: Bearer …`) over N keep-alive
//! connections; nginx is left out so that what is measured is stepup (the
//! nginx hop is in BENCHMARKS.md).
//!
//! The scenarios are slow (about 3.5 minutes together), so every test is
//! `#[ignore]`d: the normal `cargo test --all-targets` pass compiles and
//! lints them and skips them. Run them with
//!
//! ```sh
//! cargo test --release --test reliability -- --ignored --test-threads=1
//! ```
//!
//! or `bash bench/reliability.sh` (the same, plus a table). Each test runs
//! under a hard deadline (it fails instead of hanging, and kills the server
//! it started), prints one `RELIABILITY {json}` line and writes the same
//! JSON to `target/test-output/reliability/<scenario>.json`. RELIABILITY.md
//! has the figures of one run.

#[path = "support/certs.rs"]
mod certs;
#[path = "support/idp.rs"]
mod idp;
#[path = "support/load.rs"]
mod load;
#[path = "support/proc.rs"]
mod proc;
#[path = "support/shop_policy.rs"]
mod shop_policy;
#[path = "support/slowloris.rs"]
mod slowloris;
#[path = "support/slowproxy.rs"]
mod slowproxy;
#[path = "support/usage.rs"]
mod usage;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idp::{Alg, Idp, Login};
use load::{Call, Plan, Report, Summary, Transport};
use serde_json::{Value, json};
use slowproxy::SlowProxy;

/// The command that produces the figures (recorded with them).
const COMMAND: &str = "cargo test --release --test reliability -- --ignored --test-threads=1";

/// Paced load: requests per second over all connections, and connections.
/// About a tenth of what `/auth` serves closed-loop on this machine
/// (24,000-30,000 req/s, BENCHMARKS.md): a busy ingress, not saturation, so
/// the latency measured is the server's and not a queue, and one generator
/// thread keeps the schedule while the server has the other core.
const RATE: f64 = 3000.0;
const CONNS: usize = 16;
/// Full handshakes `tls_rotation` makes itself after the swap.
const FORCED_HANDSHAKES: usize = 30;

/// p99 bound (ms) of the requests a fault must not disturb. A bound
/// against pile-ups and starvation (which cost seconds), not a latency
/// target: the machine has two cores, shared with other builds, and its
/// tail latency follows their load (RELIABILITY.md has the figures).
const P99_MS: f64 = 100.0;

// ------------------------------------------------------------ the server

/// The servers running now, killed when a scenario overruns.
static STARTED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// A running `stepup serve`. Its stderr goes to a file (at `info`, every
/// deny is a log line: hundreds of thousands of them in a load run).
struct Server {
    child: Child,
    addr: SocketAddr,
    log_file: PathBuf,
    transport: Transport,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Start on a free port with the policy for `issuer`; `rust_log` is
    /// its `RUST_LOG`.
    fn start(issuer: &str, extra: &[&str], rust_log: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy.yaml");
        std::fs::write(&policy, shop_policy::policy(issuer, "shop")).unwrap();
        let log_file = dir.path().join("stderr.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_stepup"))
            .args(["serve", "-p"])
            .arg(&policy)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log_file).unwrap())
            .spawn()
            .expect("start stepup serve");
        STARTED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(child.id());
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        std::thread::spawn(move || {
            let _ = stdout.read_to_end(&mut Vec::new());
        });
        let port = proc::listening_port(&line).unwrap_or_else(|| {
            let log = std::fs::read_to_string(&log_file).unwrap_or_default();
            panic!("stepup serve printed no address: {line:?}\n{log}")
        });
        Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log_file,
            transport: Transport::Plain,
            _dir: dir,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    fn get(&self, target: &str, headers: &[(&str, &str)]) -> load::Answer {
        load::once(self.addr, &self.transport, target, headers)
            .unwrap_or_else(|e| panic!("GET {target}: {e}\nlog:\n{}", self.tail()))
    }

    /// Wait until `/readyz` answers 200 (keys loaded).
    fn ready(self) -> Server {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = load::once(self.addr, &self.transport, "/readyz", &[]);
            if r.is_ok_and(|a| a.status == 200) {
                return self;
            }
            assert!(Instant::now() < deadline, "never ready:\n{}", self.tail());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A series of `/metrics` (`name{labels}`), 0 when absent.
    fn metric(&self, series: &str) -> f64 {
        let body = self.get("/metrics", &[]).body;
        body.lines()
            .find_map(|l| {
                l.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    }

    /// The last lines of the log, for failure messages.
    fn tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -TERM {}", self.pid());
    }

    /// The exit status, if the process ends within `within`.
    fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let pid = self.pid();
        STARTED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|&p| p != pid);
    }
}

/// Run a scenario under a hard deadline: past it the servers it started
/// are killed and the test fails (a panic inside fails it as usual).
fn bounded(name: &str, limit: Duration, scenario: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        scenario();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(p) = thread.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            for pid in STARTED.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            panic!("{name}: still running after its hard deadline of {limit:?}");
        }
    }
}

// ------------------------------------------------------------ tokens, mix

/// The logins the mix uses (all from the IdP's real code flow).
struct Tokens {
    alice_pwd: String,
    alice_mfa_es256: String,
    bob_pwd_es256: String,
    bob_mfa: String,
    carol_pwd: String,
    carol_mfa: String,
}

impl Tokens {
    fn login(idp: &Idp) -> Tokens {
        let t = |l: Login| idp.login(&l).access_token;
        Tokens {
            alice_pwd: t(Login::new("alice")),
            alice_mfa_es256: t(Login::new("alice").mfa().alg(Alg::Es256)),
            bob_pwd_es256: t(Login::new("bob").alg(Alg::Es256)),
            bob_mfa: t(Login::new("bob").mfa()),
            carol_pwd: t(Login::new("carol")),
            carol_mfa: t(Login::new("carol").mfa()),
        }
    }

    /// alice's password token with `sub` changed after signing: verified
    /// (and refused) on every request, since only verified tokens are
    /// cached.
    fn tampered(&self) -> String {
        let parts: Vec<&str> = self.alice_pwd.split('.').collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["sub"] = json!("mallory");
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{}.{payload}.{}", parts[0], parts[2])
    }
}

/// One `/auth` subrequest as ingress-nginx sends it.
fn auth(
    name: &'static str,
    level: &str,
    method: &str,
    url: &str,
    token: Option<&str>,
    expect: (u16, Option<&'static str>),
    weight: u32,
) -> Call {
    let mut headers = vec![
        ("x-original-url", url.to_string()),
        ("x-original-method", method.to_string()),
    ];
    if let Some(t) = token {
        headers.push(("authorization", format!("Bearer {t}")));
    }
    Call {
        name,
        target: format!("/auth?level={level}"),
        headers,
        expect: expect.0,
        www: expect.1,
        weight,
    }
}

const STEP_UP: Option<&str> = Some("error=\"insufficient_user_authentication\"");
const INVALID: Option<&str> = Some("error=\"invalid_token\"");

/// The mix: allows, RFC 9470 step-ups, 403s, no credentials, a forged
/// token and a public path (about 60% allowed).
fn mix(t: &Tokens) -> Vec<Call> {
    let account = "https://shop.test/account/orders";
    let admin = "https://shop.test/admin/users";
    let pay = "https://shop.test/api/payments/1";
    vec![
        auth(
            "allow-pwd",
            "authenticated",
            "GET",
            account,
            Some(&t.alice_pwd),
            (200, None),
            4,
        ),
        auth(
            "allow-es256",
            "authenticated",
            "GET",
            account,
            Some(&t.bob_pwd_es256),
            (200, None),
            3,
        ),
        auth(
            "allow-admin",
            "admin",
            "GET",
            admin,
            Some(&t.alice_mfa_es256),
            (200, None),
            2,
        ),
        auth(
            "allow-payment",
            "authenticated",
            "POST",
            pay,
            Some(&t.carol_mfa),
            (200, None),
            2,
        ),
        auth(
            "step-up-admin",
            "admin",
            "GET",
            admin,
            Some(&t.alice_pwd),
            (401, STEP_UP),
            2,
        ),
        auth(
            "step-up-payment",
            "authenticated",
            "POST",
            pay,
            Some(&t.carol_pwd),
            (401, STEP_UP),
            1,
        ),
        auth(
            "forbidden-group",
            "admin",
            "GET",
            admin,
            Some(&t.bob_mfa),
            (403, None),
            1,
        ),
        auth(
            "no-credentials",
            "authenticated",
            "GET",
            account,
            None,
            (401, Some("Bearer realm=\"stepup\"")),
            1,
        ),
        auth(
            "forged",
            "authenticated",
            "GET",
            account,
            Some(&t.tampered()),
            (401, INVALID),
            1,
        ),
        auth(
            "public",
            "public",
            "GET",
            "https://shop.test/static/app.js",
            None,
            (200, None),
            1,
        ),
    ]
}

/// A paced run of the mix against `s`.
fn paced(s: &Server, duration: Duration) -> Plan {
    let mut p = Plan::new(
        s.addr,
        CONNS,
        (RATE * duration.as_secs_f64() * 1.1) as u64,
        duration,
    );
    p.rate = Some(RATE);
    p.transport = s.transport.clone();
    p
}

/// What a scenario runs against: the IdP (behind a [`SlowProxy`] when
/// asked: stepup then fetches keys through it), a ready server, the mix
/// (warmed up), and the server's RSS sampled from the end of the warm-up.
struct Scene {
    proxy: Option<SlowProxy>,
    idp: Idp,
    s: Server,
    calls: Vec<Call>,
    usage: usage::Sampler,
}

fn setup(behind_proxy: bool, extra: &[&str], rust_log: &str) -> Scene {
    let proxy = behind_proxy.then(SlowProxy::start);
    let idp = match &proxy {
        Some(p) => {
            let idp = Idp::start_with_issuer(&p.url(), 600);
            p.set_upstream(idp.port());
            idp
        }
        None => Idp::start(&[], 600),
    };
    let s = Server::start(idp.issuer(), extra, rust_log).ready();
    let calls = mix(&Tokens::login(&idp));
    warm_up(&s, &calls);
    let usage = usage::sample(s.pid(), Duration::from_millis(500));
    Scene {
        proxy,
        idp,
        s,
        calls,
        usage,
    }
}

impl Scene {
    fn proxy(&self) -> &SlowProxy {
        self.proxy
            .as_ref()
            .expect("a scene set up behind the proxy")
    }
}

/// Two seconds of the mix, which must all succeed (connections, caches and
/// allocator warm before RSS is read).
fn warm_up(s: &Server, calls: &[Call]) {
    let r = load::start(paced(s, Duration::from_secs(2)), calls.to_vec()).finish();
    let all = r.all();
    assert_eq!(
        all.errors(),
        0,
        "warm-up failed: {:?}\n{}",
        r.samples,
        s.tail()
    );
}

// ------------------------------------------------------------ results

/// `target/test-output/reliability` (or under `$CARGO_TARGET_DIR`).
fn output_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or(root.join("target"), |t| root.join(t));
    target.join("test-output").join("reliability")
}

/// The machine at the time: cores and load average.
fn machine() -> Value {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    json!({"cpus": cpus, "loadavg": load.join(" ")})
}

/// Print the result line and write it to `<scenario>.json`: the whole
/// run's counts and latency, the server's RSS at the first and last sample
/// and the CPU it used in between, and `extra`.
fn record(scenario: &str, r: &Report, used: &[usage::Sample], mut extra: Value) {
    let mut v = json!({"scenario": scenario});
    let o = v.as_object_mut().unwrap();
    if let Value::Object(sum) = r.all().json() {
        o.extend(sum);
    }
    let kib = |s: Option<&usage::Sample>| s.map_or(0, |x| x.rss_kib);
    o.insert("rss_start_kib".into(), json!(kib(used.first())));
    o.insert("rss_end_kib".into(), json!(kib(used.last())));
    let (cpu_s, cores) = usage::cpu(used);
    o.insert("server_cpu_s".into(), json!(load::round3(cpu_s)));
    o.insert("server_cpu_cores".into(), json!(load::round3(cores)));
    o.insert("server_closed_idle".into(), json!(r.server_closes));
    if let Some(e) = extra.as_object_mut() {
        o.append(e);
    }
    o.insert("command".into(), json!(COMMAND));
    o.insert("machine".into(), machine());
    println!("RELIABILITY {v}");
    let dir = output_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{scenario}.json")), format!("{v:#}\n")).unwrap();
}

/// Fails with the first failures described when `s` has errors.
fn assert_clean(what: &str, s: &Summary, r: &Report, server: &Server) {
    assert_eq!(
        s.errors(),
        0,
        "{what}: {s:?}\nfirst failures: {:#?}\nserver log tail:\n{}",
        r.samples,
        server.tail()
    );
}

fn between(from: Duration, to: Duration) -> impl Fn(&load::Record) -> bool {
    move |r| r.at() >= from && r.at() < to
}

/// The load before a fault (from the start to `from`) and during it
/// (`from` to `to`): both must be clean, and the p99 during the fault
/// within [`P99_MS`].
fn phases(r: &Report, s: &Server, fault: &str, from: Duration, to: Duration) -> (Summary, Summary) {
    let before = r.summary(between(Duration::ZERO, from));
    let during = r.summary(between(from, to));
    assert_clean(&format!("load before {fault}"), &before, r, s);
    assert_clean(&format!("load during {fault}"), &during, r, s);
    assert!(
        during.p99_ms < P99_MS,
        "p99 {} ms during {fault} (bound {P99_MS} ms)",
        during.p99_ms
    );
    (before, during)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ------------------------------------------------------------ scenarios

/// 1. 60 s of the mix: every answer as expected, no connection error, p99
///    bounded, RSS flat (growth from the 25% mark to the end under 4 MiB),
///    no keep-alive connection closed by the server.
#[test]
#[ignore = "slow (70 s): cargo test --release --test reliability -- --ignored"]
fn sustained() {
    bounded("sustained", secs(120), || {
        let sc = setup(false, &[], "info");
        let r = load::start(paced(&sc.s, secs(60)), sc.calls.clone()).finish();
        let rss = sc.usage.finish();
        let all = r.all();
        assert_clean("sustained", &all, &r, &sc.s);
        assert!(
            all.requests >= (RATE * 55.0) as u64,
            "generator fell behind: {all:?}"
        );
        assert!(all.p99_ms < P99_MS, "p99 {} ms", all.p99_ms);
        assert_eq!(r.server_closes, 0, "keep-alive connections closed");
        let (quarter, end) = (usage::rss_at(&rss, 0.25), usage::rss_at(&rss, 1.0));
        let peak = rss.iter().map(|x| x.rss_kib).max().unwrap_or(0);
        assert!(
            end.saturating_sub(quarter) < 4 * 1024,
            "RSS grew from {quarter} KiB (25%) to {end} KiB: {rss:?}"
        );
        let by_call: serde_json::Map<String, Value> = r
            .calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let sum = r.summary(|x| x.call as usize == i);
                let v = json!({"requests": sum.requests, "status": c.expect,
                    "errors": sum.errors(), "p99_ms": load::round3(sum.p99_ms)});
                (c.name.to_string(), v)
            })
            .collect();
        record(
            "sustained",
            &r,
            &rss,
            json!({"duration_s": 60, "rate": RATE, "conns": CONNS, "rps": load::round3(r.rps()),
                "rss_25pct_kib": quarter, "rss_peak_kib": peak, "calls": by_call}),
        );
    });
}

/// A token signed with a key stepup has not fetched (the IdP rotates).
fn unseen_token(idp: &Idp) -> String {
    let kid = idp.rotate(Alg::Rs256);
    let t = idp.login(&Login::new("alice")).access_token;
    assert_eq!(idp::jwt_header(&t)["kid"], kid.as_str());
    t
}

/// One `/auth` request for shop.test/account with `token`.
fn probe(s: &Server, token: &str) -> load::Answer {
    let bearer = format!("Bearer {token}");
    s.get(
        "/auth?level=authenticated",
        &[
            ("x-original-url", "https://shop.test/account"),
            ("x-original-method", "GET"),
            ("authorization", bearer.as_str()),
        ],
    )
}

/// 2. The IdP is killed during load. `--token-cache 0`: every request is
///    verified with the keys stepup holds, so the load after the kill shows
///    that the held keys keep serving. A token signed with a key the IdP
///    rotated to just before it died (never fetched by stepup) is a 401
///    `invalid_token`, never an allow; `/readyz` stays 200 (keys held).
#[test]
#[ignore = "slow (25 s): cargo test --release --test reliability -- --ignored"]
fn idp_killed() {
    bounded("idp_killed", secs(60), || {
        let flags = ["--jwks-min-refresh", "1s", "--token-cache", "0"];
        let mut sc = setup(false, &flags, "info");
        let unseen = unseen_token(&sc.idp);
        let run = load::start(paced(&sc.s, secs(20)), sc.calls.clone());
        std::thread::sleep(secs(6));
        let killed_at = run.started.elapsed();
        sc.idp.kill();
        std::thread::sleep(secs(2));
        let mut probes = Vec::new();
        for _ in 0..3 {
            let a = probe(&sc.s, &unseen);
            assert_eq!(a.status, 401, "new kid after the IdP died: {a:?}");
            assert!(a.www.contains("invalid_token"), "{}", a.www);
            assert!(a.www.contains("unknown signing key"), "{}", a.www);
            probes.push(load::round3(a.latency.as_secs_f64() * 1000.0));
            std::thread::sleep(Duration::from_millis(1200));
        }
        let readyz = sc.s.get("/readyz", &[]).status;
        let r = run.finish();
        let rss = sc.usage.finish();
        let (before, after) = phases(&r, &sc.s, "the IdP's death", killed_at, secs(3600));
        assert!(after.requests > (RATE * 10.0) as u64, "{after:?}");
        assert_eq!(readyz, 200, "readyz with the IdP down");
        let errors =
            sc.s.metric(r#"stepup_jwks_refreshes_total{outcome="error"}"#);
        assert!(errors >= 1.0, "no failed refresh counted");
        record(
            "idp_killed",
            &r,
            &rss,
            json!({"killed_at_s": load::round3(killed_at.as_secs_f64()),
                "before_kill": before.json(), "after_kill": after.json(),
                "new_kid_probes_ms": probes,
                "new_kid_status": 401, "readyz_after_kill": readyz,
                "jwks_refresh_errors": errors}),
        );
    });
}

/// Closed-loop load of a token signed with a key stepup has not fetched
/// (`conns` connections, at most `max` requests): every answer must be a
/// 401 `invalid_token`; 20 s request timeout (a hung JWKS fetch is 5 s).
fn unknown_kid_load(
    s: &Server,
    unseen: &str,
    (conns, max): (usize, u64),
    duration: Duration,
    prefix: &'static str,
) -> load::Running {
    let call = auth(
        "unknown-kid",
        "authenticated",
        "GET",
        "https://shop.test/account",
        Some(unseen),
        (401, INVALID),
        1,
    );
    let mut plan = Plan::new(s.addr, conns, max, duration);
    plan.request_timeout = secs(20);
    plan.id_prefix = prefix;
    load::start(plan, vec![call])
}

/// A `stepup_jwks_refreshes_total` counter.
fn refreshes(s: &Server, outcome: &str) -> f64 {
    s.metric(&format!(
        r#"stepup_jwks_refreshes_total{{outcome="{outcome}"}}"#
    ))
}

/// 3. The IdP hangs (every byte to it held 30 s; stepup's fetch timeout is
///    5 s) while tokens with an unknown `kid` keep arriving on 8 closed-loop
///    connections: each fails closed (401) within the fetch timeout + 1 s,
///    at most one JWKS request is outstanding at any time (single flight),
///    the rest are rate-limited, and the known-kid load (verified on every
///    request: `--token-cache 0`) keeps its latency. `--jwks-min-refresh
///    1s` is shorter than a hung fetch on purpose. Then the IdP answers
///    again and the unknown kid is fetched.
#[test]
#[ignore = "slow (30 s): cargo test --release --test reliability -- --ignored"]
fn idp_slow() {
    bounded("idp_slow", secs(75), || {
        let flags = ["--jwks-min-refresh", "1s", "--token-cache", "0"];
        let sc = setup(true, &flags, "info");
        let unseen = unseen_token(&sc.idp);
        let (ok_before, errors_before) = (refreshes(&sc.s, "ok"), refreshes(&sc.s, "error"));
        let proxy_before = sc.proxy().stats();
        let run = load::start(paced(&sc.s, secs(24)), sc.calls.clone());
        std::thread::sleep(secs(4));
        let slow_from = run.started.elapsed();
        sc.proxy().set_delay(secs(30));
        let u = unknown_kid_load(&sc.s, &unseen, (8, 100_000), secs(16), "unknown").finish();
        let slow_to = run.started.elapsed();
        let errors = refreshes(&sc.s, "error") - errors_before;
        let rate_limited = refreshes(&sc.s, "rate_limited");
        let stats = sc.proxy().stats();
        sc.proxy().set_delay(Duration::ZERO);
        let r = run.finish();
        let rss = sc.usage.finish();
        let us = u.all();
        assert_clean("unknown kid while the IdP hangs", &us, &u, &sc.s);
        assert!(
            us.max_ms <= 6000.0,
            "an unknown-kid request waited {} ms (fetch timeout 5 s)",
            us.max_ms
        );
        assert!(stats.held_max <= 1, "JWKS requests at once: {stats:?}");
        let (base, slow) = phases(&r, &sc.s, "the IdP hang", slow_from, slow_to);
        // The IdP answers again: the unseen key is fetched, the token works.
        std::thread::sleep(Duration::from_millis(1100));
        let a = probe(&sc.s, &unseen);
        assert_eq!(
            a.status,
            200,
            "after the IdP recovered: {a:?}\n{}",
            sc.s.tail()
        );
        let ok_after = refreshes(&sc.s, "ok") - ok_before;
        record(
            "idp_slow",
            &r,
            &rss,
            json!({"known_baseline": base.json(), "known_while_slow": slow.json(),
                "unknown_kid": us.json(), "unknown_kid_conns": 8,
                "slow_window_s": load::round3((slow_to - slow_from).as_secs_f64()),
                "idp_requests_held": stats.held - proxy_before.held,
                "idp_requests_held_at_once_max": stats.held_max,
                "idp_requests_abandoned": stats.abandoned - proxy_before.abandoned,
                "jwks_refresh_errors": errors, "jwks_refresh_rate_limited": rate_limited,
                "recovered_status": a.status, "jwks_refresh_ok_after_recovery": ok_after}),
        );
    });
}

/// 4. The serving certificate is swapped (a Secret-volume `..data` swap)
///    in the middle of a TLS load whose connections are renewed every 50
///    requests: no request fails, and every handshake after the swap gets
///    the new certificate.
#[test]
#[ignore = "slow (25 s): cargo test --release --test reliability -- --ignored"]
fn tls_rotation() {
    bounded("tls_rotation", secs(60), || {
        let idp = Idp::start(&[], 600);
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (certs::issue("first"), certs::issue("second"));
        certs::publish(dir.path(), "..2026_01_01_a", &a.cert_pem, &a.key_pem);
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        let mut s = Server::start(
            idp.issuer(),
            &[
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
            ],
            "info",
        );
        s.transport = Transport::Tls(certs::client_config(&[&a.ca_der, &b.ca_der]));
        let s = s.ready();
        let calls = mix(&Tokens::login(&idp));
        warm_up(&s, &calls);
        let sampler = usage::sample(s.pid(), Duration::from_millis(500));
        let mut plan = paced(&s, secs(20));
        plan.reconnect_every = Some(50);
        let run = load::start(plan, calls);
        std::thread::sleep(secs(10));
        let swap_from = run.started.elapsed();
        certs::publish(dir.path(), "..2026_01_01_b", &b.cert_pem, &b.key_pem);
        let swapped_at = run.started.elapsed();
        // Full handshakes forced after the swap, while the load goes on:
        // resumption off, so each one is a full handshake whatever the
        // load's own clients resume (their count depends on the machine).
        std::thread::sleep(Duration::from_millis(500));
        let fresh = Transport::Tls(certs::client_config_full_handshakes(&[
            &a.ca_der, &b.ca_der,
        ]));
        let forced: Vec<_> = (0..FORCED_HANDSHAKES)
            .map(|_| load::once(s.addr, &fresh, "/healthz", &[]))
            .collect();
        let r = run.finish();
        let rss = sampler.finish();
        let all = r.all();
        assert_clean("TLS load across the swap", &all, &r, &s);
        // Full handshakes completed after the swap must carry the new pair.
        // A resumed session (the client's session cache, as nginx's
        // proxy_ssl_session_reuse) gets no certificate: it keeps the one
        // its original handshake verified.
        let before: Vec<_> = r.handshakes.iter().filter(|h| h.at < swap_from).collect();
        let after: Vec<_> = r.handshakes.iter().filter(|h| h.at >= swapped_at).collect();
        assert!(
            before.iter().all(|h| h.cert == a.cert_der),
            "old pair before the swap"
        );
        let full: Vec<_> = after.iter().filter(|h| !h.resumed).collect();
        let stale = full.iter().filter(|h| h.cert != b.cert_der).count();
        assert_eq!(
            stale, 0,
            "{stale} full handshakes of the load after the swap got the old certificate"
        );
        for (i, f) in forced.iter().enumerate() {
            let f = f
                .as_ref()
                .unwrap_or_else(|e| panic!("forced handshake {i}: {e}"));
            assert_eq!(f.status, 200, "forced handshake {i}: {f:?}");
            assert!(
                f.cert.as_deref() == Some(b.cert_der.as_slice()),
                "forced full handshake {i} after the swap got the old certificate"
            );
        }
        let resumed_old = after
            .iter()
            .filter(|h| h.resumed && h.cert == a.cert_der)
            .count();
        assert!(s.log().contains("TLS certificate reloaded"), "{}", s.tail());
        assert!(all.p99_ms < P99_MS, "p99 {} ms", all.p99_ms);
        record(
            "tls_rotation",
            &r,
            &rss,
            json!({"swapped_at_s": load::round3(swapped_at.as_secs_f64()),
                "handshakes": r.handshakes.len(), "handshakes_before_swap": before.len(),
                "full_handshakes_after_swap": full.len(),
                "forced_full_handshakes_after_swap": forced.len(),
                "full_handshakes_after_swap_old_cert": stale,
                "resumed_after_swap": after.len() - full.len(),
                "resumed_after_swap_old_session_cert": resumed_old,
                "after_swap": r.summary(between(swapped_at, secs(3600))).json()}),
        );
    });
}

/// 5. SIGTERM during load, with 12 requests in flight that wait on a hung
///    JWKS fetch (about 4 s to go): those all get their answer, the
///    listener refuses new connections at once, the process exits 0 once
///    drained (well within `--grace`, 10 s). Load requests that failed are
///    checked against the server's log (debug level logs every decision
///    with its `X-Request-ID`): none that the server read went unanswered.
///    Connects refused after the listener closed, and requests sent on a
///    keep-alive connection the server closed without reading them, are
///    counted apart: they were never accepted.
#[test]
#[ignore = "slow (20 s): cargo test --release --test reliability -- --ignored"]
fn sigterm_drain() {
    bounded("sigterm_drain", secs(60), || {
        let mut sc = setup(true, &["--jwks-min-refresh", "1s"], "info,stepup=debug");
        let unseen = unseen_token(&sc.idp);
        let mut plan = paced(&sc.s, secs(30));
        plan.reconnect_every = Some(20);
        plan.stop_on_refused = true;
        let run = load::start(plan, sc.calls.clone());
        std::thread::sleep(secs(4));
        sc.proxy().set_delay(secs(30));
        let slow = unknown_kid_load(&sc.s, &unseen, (12, 12), secs(20), "inflight");
        std::thread::sleep(secs(1));
        let inflight_at_term = slow.inflight();
        assert_eq!(
            inflight_at_term, 12,
            "the slow requests are not all in flight"
        );
        let term_at = Instant::now();
        let term_offset = run.started.elapsed();
        sc.s.sigterm();
        std::thread::sleep(Duration::from_millis(300));
        let refused_during_drain = std::net::TcpStream::connect(sc.s.addr).is_err();
        let status = sc.s.wait_exit(secs(13));
        let exited_after = term_at.elapsed();
        let sr = slow.finish();
        let r = run.finish();
        let rss = sc.usage.finish();
        let s = &sc.s;
        let status = status.unwrap_or_else(|| panic!("no exit 13 s after SIGTERM\n{}", s.tail()));
        assert!(status.success(), "exit status {status:?}\n{}", s.tail());
        assert!(
            refused_during_drain,
            "the listener still accepted 300 ms after SIGTERM"
        );
        let log = s.log();
        assert!(
            log.contains("drained") && !log.contains("grace period over"),
            "{}",
            s.tail()
        );
        let ss = sr.all();
        assert_clean("requests in flight at SIGTERM", &ss, &sr, s);
        assert_eq!(ss.requests, 12);
        let all = r.all();
        assert_eq!(all.unexpected, 0, "{:?}", r.samples);
        assert_eq!(
            all.timeouts + all.connect_failed,
            0,
            "{all:?} {:?}",
            r.samples
        );
        // Unanswered load requests the server never decided.
        let unanswered: Vec<_> = r.records.iter().filter(|x| !x.outcome.answered()).collect();
        let decided: Vec<String> = unanswered
            .iter()
            .map(|x| format!("\"request_id\":\"{}\"", r.request_id(x)))
            .filter(|needle| log.contains(needle.as_str()))
            .collect();
        assert!(
            decided.is_empty(),
            "decided but never answered: {decided:?}"
        );
        let before_term = r.summary(between(Duration::ZERO, term_offset));
        let failed = all.unexpected + all.timeouts + all.connect_failed + decided.len() as u64;
        assert_clean("load before SIGTERM", &before_term, &r, s);
        record(
            "sigterm_drain",
            &r,
            &rss,
            json!({"errors": failed,
                "errors_excludes": "requests the server never accepted (refused, keep-alive race)",
                "term_at_s": load::round3(term_offset.as_secs_f64()),
                "in_flight_at_term": inflight_at_term, "in_flight": ss.json(),
                "exit_code": status.code(),
                "exit_after_term_s": load::round3(exited_after.as_secs_f64()),
                "grace_s": 10, "refused_during_drain": refused_during_drain,
                "load_answered": all.ok, "never_accepted_refused": all.refused,
                "never_accepted_keepalive_race": all.not_sent + all.no_response,
                "dropped_in_flight": decided.len()}),
        );
    });
}

/// How long the server keeps a keep-alive connection open once it is idle
/// after one request (`None`: still open after 20 s).
fn idle_keepalive_close(addr: SocketAddr) -> Option<Duration> {
    use std::io::Write as _;
    let mut tcp = std::net::TcpStream::connect(addr).ok()?;
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut buf = [0u8; 1024];
    let n = tcp.read(&mut buf).ok()?;
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    let idle_from = Instant::now();
    tcp.set_read_timeout(Some(secs(20))).ok()?;
    match tcp.read(&mut buf) {
        Ok(0) | Err(_) if idle_from.elapsed() < secs(20) => Some(idle_from.elapsed()),
        _ => None,
    }
}

/// 6. 200 slow clients (half trickle a never-ending header a byte a
///    second, half send nothing) during load: the load's answers and p99
///    are unaffected, and the server closes every slow connection at its
///    10 s header read timeout. `stepup serve` has no connection limit
///    (each connection is a tokio task; the bound is the file descriptor
///    limit, reported). Also recorded: when the server closes a keep-alive
///    connection left idle after one request.
#[test]
#[ignore = "slow (30 s): cargo test --release --test reliability -- --ignored"]
fn slowloris() {
    bounded("slowloris", secs(75), || {
        let sc = setup(false, &[], "info");
        let s = &sc.s;
        let run = load::start(paced(s, secs(24)), sc.calls.clone());
        std::thread::sleep(secs(4));
        let slow_from = run.started.elapsed();
        let addr = s.addr;
        let idle = std::thread::spawn(move || idle_keepalive_close(addr));
        let slow = slowloris::start(s.addr, 200, secs(1), secs(18)).finish();
        let idle = idle.join().unwrap().map(|d| load::round3(d.as_secs_f64()));
        let slow_to = run.started.elapsed();
        let r = run.finish();
        let rss = sc.usage.finish();
        let connected = slow.iter().filter(|c| c.connected).count();
        assert_eq!(connected, 200, "slow clients that could not connect");
        let closed: Vec<f64> = slow
            .iter()
            .filter_map(|c| c.closed_after.map(|d| d.as_secs_f64()))
            .collect();
        assert_eq!(closed.len(), 200, "slow connections still open after 18 s");
        let (first, last) = closed
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        assert!(
            first >= 9.5 && last <= 11.5,
            "closed between {first} s and {last} s"
        );
        let (base, during) = phases(&r, s, "200 slow clients", slow_from, slow_to);
        let answers: Vec<&str> = slow
            .iter()
            .map(|c| c.answer.lines().next().unwrap_or(""))
            .collect();
        let closed_with = answers
            .iter()
            .find(|a| !a.is_empty())
            .copied()
            .unwrap_or("(nothing)");
        let fd_limit = std::fs::read_to_string(format!("/proc/{}/limits", s.pid()))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .map(|l| l.split_whitespace().nth(3).unwrap_or("").to_string())
            .unwrap_or_default();
        record(
            "slowloris",
            &r,
            &rss,
            json!({"slow_clients": 200,
                "slow_trickling": slow.iter().filter(|c| c.trickled).count(),
                "slow_closed_after_s": [load::round3(first), load::round3(last)],
                "slow_closed_with": closed_with,
                "slow_bytes_sent_max": slow.iter().map(|c| c.sent).max(),
                "load_before": base.json(), "load_during": during.json(),
                "connection_limit": "none", "server_fd_limit": fd_limit,
                "idle_keepalive_closed_after_s": idle}),
        );
    });
}
