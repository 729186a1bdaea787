//! Runtime benchmark: nginx + `stepup serve` + a backend on loopback, load
//! from `wrk` (Debian package), all measured in one run so the ratios hold
//! on a noisy machine. Run with `bash bench/runtime.sh` (which builds in
//! release mode and checks for wrk), or `cargo bench --bench runtime`.
//!
//! Scenarios (one nginx, one worker; the same backend server over kept-alive
//! upstream connections — a location that sets any `proxy_set_header` must
//! repeat `Connection ""`, as ingress-nginx's template does in every
//! location, or nginx closes the backend connection after each request):
//! - `no-auth`: a location proxied straight to the backend.
//! - `floor-inline`: `auth_request` to an internal location that answers
//!   `return 200` itself (the cheapest possible auth subrequest).
//! - `floor-proxied`: `auth_request` proxied to an nginx server that
//!   answers 200, over kept-alive upstream connections: the same hop stepup
//!   costs, with no auth work.
//! - `stepup`: `auth_request` to stepup's `/auth` with a valid bearer token
//!   (verified once, then from the cache), kept-alive upstream connections
//!   (what ingress-nginx's `auth-keepalive` gives).
//! - `stepup-noka`: the same without keep-alive (ingress-nginx's default:
//!   one new connection per subrequest).
//! - `direct`: wrk straight at stepup's `/auth` (no nginx).
//!
//! Environment: `BENCH_SECS` (default 10) per scenario, `BENCH_CONNS`
//! (default 32). Everything listens on 127.0.0.1 and every run is bounded
//! by wrk's duration.

#[path = "../tests/support/idp.rs"]
mod idp;
#[path = "../tests/support/nginx.rs"]
mod nginx;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const POLICY: &str = r#"apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata: {name: bench}
spec:
  idp:
    issuer: ISSUER
    audiences: [shop]
  levels:
    - name: authenticated
    - name: mfa
      acr: [urn:stepup:mfa]
      maxAge: 15m
  rules:
    - name: admin
      paths: [/admin/**]
      level: mfa
    - name: public
      paths: [/public/**]
      level: public
  default: authenticated
"#;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stepup_binary() -> std::path::PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(target)
        .join("release/stepup");
    assert!(
        p.exists(),
        "{} missing: run `cargo build --release` first (bench/runtime.sh does)",
        p.display()
    );
    p
}

#[derive(Debug, Default, Clone)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    non2xx: u64,
}

fn ms(s: &str) -> f64 {
    let s = s.trim();
    if let Some(v) = s.strip_suffix("us") {
        v.parse::<f64>().unwrap_or(f64::NAN) / 1000.0
    } else if let Some(v) = s.strip_suffix("ms") {
        v.parse().unwrap_or(f64::NAN)
    } else if let Some(v) = s.strip_suffix('s') {
        v.parse::<f64>().unwrap_or(f64::NAN) * 1000.0
    } else {
        f64::NAN
    }
}

fn wrk(url: &str, headers: &[(&str, &str)], secs: u64, conns: u32) -> Load {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--timeout",
        "5s",
        "--latency",
    ]);
    for (k, v) in headers {
        cmd.args(["-H", &format!("{k}: {v}")]);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("wrk missing: apt-get install wrk");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut l = Load::default();
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            l.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("50%") {
            l.p50_ms = ms(v);
        } else if let Some(v) = t.strip_prefix("99%") {
            l.p99_ms = ms(v);
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            l.non2xx = v.trim().parse().unwrap_or(0);
        } else if t.starts_with("Socket errors:") {
            l.errors = t
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse::<u64>().ok())
                .sum();
        }
    }
    assert!(l.rps > 0.0, "wrk printed no rate:\n{text}");
    l
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    // `cargo test --all-targets` builds benches in test mode and runs them
    // with no `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let conns: u32 = std::env::var("BENCH_CONNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);

    let idp = idp::Idp::start(&[], 3600);
    let token = idp.login(&idp::Login::new("alice")).access_token;
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY.replace("ISSUER", idp.issuer())).unwrap();
    let mut child = Command::new(stepup_binary())
        .args(["serve", "-p"])
        .arg(&policy)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    let stepup = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while nginx::raw(port, "GET", "x", "/readyz", &[]).status != 200 {
        assert!(Instant::now() < deadline, "stepup not ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let auth_headers = "    proxy_pass_request_body off;\n    proxy_set_header Content-Length \"\";\n    proxy_set_header X-Forwarded-Proto \"\";\n    proxy_set_header X-Request-ID $request_id;\n    proxy_set_header Host 127.0.0.1;\n    proxy_set_header X-Original-URL $scheme://$http_host$request_uri;\n    proxy_set_header X-Original-Method $request_method;\n    proxy_set_header X-Sent-From \"nginx-ingress-controller\";\n    proxy_set_header X-Real-IP $remote_addr;\n    proxy_set_header X-Forwarded-For $remote_addr;\n    proxy_set_header X-Auth-Request-Redirect $request_uri;\n    proxy_buffering off;\n    proxy_http_version 1.1;\n";
    let ngx = nginx::start_with(
        |p, backend| {
            let floor = nginx::free_port();
            format!(
                "upstream backend {{ server 127.0.0.1:{backend}; keepalive 64; }}\n\
                 upstream stepup_ka {{ server 127.0.0.1:{port}; keepalive 64; }}\n\
                 upstream floor_ka {{ server 127.0.0.1:{floor}; keepalive 64; }}\n\
                 server {{\n  listen 127.0.0.1:{floor};\n  location / {{ return 200; }}\n}}\n\
                 server {{\n  listen 127.0.0.1:{p};\n  server_name shop.test;\n\
                 proxy_http_version 1.1;\n  proxy_set_header Connection \"\";\n\
                 location = /_auth_inline {{ internal; return 200; }}\n\
                 location = /_auth_floor {{ internal;\n{auth_headers}    proxy_set_header Connection \"\";\n    proxy_pass http://floor_ka/; }}\n\
                 location = /_auth_stepup {{ internal;\n{auth_headers}    proxy_set_header Connection \"\";\n    proxy_pass http://stepup_ka/auth?level=authenticated&rule=default; }}\n\
                 location = /_auth_stepup_noka {{ internal;\n{auth_headers}    set $target http://127.0.0.1:{port}/auth?level=authenticated&rule=default;\n    proxy_pass $target; }}\n\
                 location /no-auth/ {{ proxy_pass http://backend; }}\n\
                 location /floor-inline/ {{ auth_request /_auth_inline; proxy_pass http://backend; }}\n\
                 location /floor-proxied/ {{ auth_request /_auth_floor; proxy_pass http://backend; }}\n\
                 location /stepup/ {{ auth_request /_auth_stepup;\n    auth_request_set $authHeader0 $upstream_http_x_auth_request_user;\n    proxy_set_header 'X-Auth-Request-User' $authHeader0;\n    proxy_set_header Connection \"\";\n    proxy_pass http://backend; }}\n\
                 location /stepup-noka/ {{ auth_request /_auth_stepup_noka;\n    auth_request_set $authHeader0 $upstream_http_x_auth_request_user;\n    proxy_set_header 'X-Auth-Request-User' $authHeader0;\n    proxy_set_header Connection \"\";\n    proxy_pass http://backend; }}\n\
                 }}\n\
                 server {{\n  listen 127.0.0.1:{backend};\n  keepalive_requests 100000;\n  location / {{ return 200 \"ok $http_x_auth_request_user\\n\"; }}\n}}\n"
            )
        },
        false,
    );
    let bearer = format!("Bearer {token}");
    // Sanity: every protected scenario really allows with this token.
    for path in ["/stepup/x", "/stepup-noka/x"] {
        let r = nginx::raw(
            ngx.port,
            "GET",
            "shop.test",
            path,
            &[("Authorization", &bearer)],
        );
        assert!(
            r.status == 200 && r.body == "ok alice\n",
            "{path}: {r:?}\n{}",
            ngx.error_log()
        );
        let r = nginx::raw(ngx.port, "GET", "shop.test", path, &[]);
        assert_eq!(r.status, 401, "{path} without a token");
    }
    let rss_idle = rss_kib(stepup.0.id());
    let host = [("Host", "shop.test"), ("Authorization", bearer.as_str())];
    let url = |p: &str| format!("http://127.0.0.1:{}{p}", ngx.port);
    let mut rows: Vec<(&str, Load)> = Vec::new();
    for (name, path) in [
        ("no-auth", "/no-auth/x"),
        ("floor-inline", "/floor-inline/x"),
        ("floor-proxied", "/floor-proxied/x"),
        ("stepup", "/stepup/x"),
        ("stepup-noka", "/stepup-noka/x"),
    ] {
        rows.push((name, wrk(&url(path), &host, secs, conns)));
    }
    let direct = wrk(
        &format!("http://127.0.0.1:{port}/auth?level=authenticated&rule=default"),
        &[
            ("X-Original-URL", "https://shop.test/account/orders"),
            ("X-Original-Method", "GET"),
            ("Authorization", &bearer),
        ],
        secs,
        conns,
    );
    let rss_load = rss_kib(stepup.0.id());
    rows.push(("direct /auth", direct));
    // Latency without queueing: one connection, so p99 is what one request
    // pays, not what it waits behind others.
    let mut lat: Vec<(&str, Load)> = Vec::new();
    for (name, path) in [
        ("no-auth", "/no-auth/x"),
        ("floor-proxied", "/floor-proxied/x"),
        ("stepup", "/stepup/x"),
    ] {
        lat.push((name, wrk(&url(path), &host, secs, 1)));
    }

    println!(
        "runtime benchmark: {secs}s per scenario, {conns} connections, wrk -t1, nginx 1 worker, {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<15} {:>10} {:>9} {:>9} {:>7} {:>7}",
        "scenario", "req/s", "p50 ms", "p99 ms", "errors", "non2xx"
    );
    for (n, l) in &rows {
        println!(
            "{n:<15} {:>10.0} {:>9.3} {:>9.3} {:>7} {:>7}",
            l.rps, l.p50_ms, l.p99_ms, l.errors, l.non2xx
        );
    }
    let get = |n: &str| rows.iter().find(|r| r.0 == n).map(|r| r.1.clone()).unwrap();
    let (st, fi, fp, na) = (
        get("stepup"),
        get("floor-inline"),
        get("floor-proxied"),
        get("no-auth"),
    );
    println!(
        "stepup / floor-inline throughput: {:.1}%   stepup / floor-proxied: {:.1}%",
        100.0 * st.rps / fi.rps,
        100.0 * st.rps / fp.rps
    );
    println!(
        "p99 added by stepup vs no-auth: {:.3} ms   vs floor-proxied: {:.3} ms",
        st.p99_ms - na.p99_ms,
        st.p99_ms - fp.p99_ms
    );
    println!("one connection (latency without queueing):");
    for (n, l) in &lat {
        println!(
            "{n:<15} {:>10.0} {:>9.3} {:>9.3} {:>7} {:>7}",
            l.rps, l.p50_ms, l.p99_ms, l.errors, l.non2xx
        );
    }
    println!(
        "one connection, added by stepup vs no-auth: p50 {:.3} ms, p99 {:.3} ms; vs floor-proxied: p50 {:.3} ms, p99 {:.3} ms",
        lat[2].1.p50_ms - lat[0].1.p50_ms,
        lat[2].1.p99_ms - lat[0].1.p99_ms,
        lat[2].1.p50_ms - lat[1].1.p50_ms,
        lat[2].1.p99_ms - lat[1].1.p99_ms
    );
    println!("stepup RSS: {rss_idle} KiB idle, {rss_load} KiB after load");
    drop(idp);
}
