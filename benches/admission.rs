//! Admission benchmark: `stepup serve` answering `/validate` over TLS with
//! a 10,000-Ingress view of the cluster, against the same server with an
//! empty view, in one run (the ratio holds on a noisy machine).
//!
//! `cargo bench --bench admission` (release build of the binary). It:
//! 1. generates the lint benchmark's corpus (`bench/gen_corpus.py N`,
//!    deterministic) and its policy;
//! 2. starts two servers with a fresh CA and serving certificate:
//!    `--ingresses-from all.yaml` (the store a watch would hold) and none;
//! 3. builds AdmissionReviews from the captured CREATE review
//!    (testdata/admission/ingress-create-validating.json) with the objects
//!    of the corpus as new Ingresses (renamed, so each is judged with the
//!    other Ingresses of its host);
//! 4. per server: an open-loop run at a fixed rate (default 1,000 reviews/s
//!    for 10 s; latency measured from the scheduled send time, so a stall
//!    is not hidden), then a closed-loop run (16 in flight, 5 s) for the
//!    maximum rate;
//! 5. reads each server's peak RSS (`VmHWM`) and prints a table.
//!
//! Environment: `BENCH_N` (10000), `BENCH_RATE` (1000), `BENCH_SECS` (10),
//! `BENCH_CONC` (16). Everything is on 127.0.0.1 and every loop is bounded
//! by a count and a deadline.

#[path = "../tests/support/certs.rs"]
mod certs;
#[path = "../tests/support/proc.rs"]
mod proc;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

struct Certs {
    ca_der: Vec<u8>,
    cert: PathBuf,
    key: PathBuf,
}

fn certs(dir: &Path) -> Certs {
    let issued = certs::issue("stepup admission bench");
    let (cert, key) = issued.write(dir);
    Certs {
        ca_der: issued.ca_der,
        cert,
        key,
    }
}

fn start(policy: &Path, certs: &Certs, extra: &[&Path]) -> (Proc, u16) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepup"));
    cmd.arg("serve")
        .arg("-p")
        .arg(policy)
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&certs.cert)
        .arg("--tls-key")
        .arg(&certs.key)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for p in extra {
        cmd.arg("--ingresses-from").arg(p);
    }
    let mut child = cmd.spawn().expect("start stepup serve");
    let mut line = String::new();
    let out = child.stdout.take().expect("stdout");
    BufReader::new(out).read_line(&mut line).expect("read");
    let port = proc::listening_port(&line)
        .unwrap_or_else(|| panic!("stepup serve did not start: {line:?}"));
    (Proc(child), port)
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Run {
    sent: usize,
    ok: usize,
    errors: usize,
    denied: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    rate: f64,
}

async fn one(client: &reqwest::Client, url: &str, body: &Arc<Vec<u8>>) -> Result<bool, String> {
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.as_ref().clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("HTTP {}", r.status()));
    }
    let v: Value = r.json().await.map_err(|e| e.to_string())?;
    Ok(v["response"]["allowed"] == false)
}

/// Open loop: request i is due at start + i/rate; latency counts from then.
async fn open_loop(
    client: &reqwest::Client,
    url: &str,
    bodies: &[Arc<Vec<u8>>],
    rate: u64,
    secs: u64,
) -> Run {
    let n = (rate * secs) as usize;
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let due = start + Duration::from_nanos(i as u64 * 1_000_000_000 / rate);
        let (client, url, body) = (
            client.clone(),
            url.to_string(),
            bodies[i % bodies.len()].clone(),
        );
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            let r = tokio::time::timeout(Duration::from_secs(5), one(&client, &url, &body)).await;
            (
                due.elapsed(),
                r.map_err(|_| "timeout".to_string()).and_then(|x| x),
            )
        }));
    }
    collect(tasks, start).await
}

/// Closed loop: `conc` workers, each sending as soon as its last answer came.
async fn closed_loop(
    client: &reqwest::Client,
    url: &str,
    bodies: &[Arc<Vec<u8>>],
    conc: usize,
    secs: u64,
) -> Run {
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let mut workers = Vec::new();
    for w in 0..conc {
        let (client, url) = (client.clone(), url.to_string());
        let bodies: Vec<Arc<Vec<u8>>> = bodies.to_vec();
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut i = w;
            // Bounded by time and by a count.
            while Instant::now() < end && out.len() < 1_000_000 {
                let t = Instant::now();
                let r = tokio::time::timeout(
                    Duration::from_secs(5),
                    one(&client, &url, &bodies[i % bodies.len()]),
                )
                .await;
                out.push((
                    t.elapsed(),
                    r.map_err(|_| "timeout".to_string()).and_then(|x| x),
                ));
                i += conc;
            }
            out
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap_or_default());
    }
    summarize(all, start.elapsed())
}

async fn collect(
    tasks: Vec<tokio::task::JoinHandle<(Duration, Result<bool, String>)>>,
    start: Instant,
) -> Run {
    let mut all = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(x) = t.await {
            all.push(x);
        }
    }
    summarize(all, start.elapsed())
}

fn summarize(all: Vec<(Duration, Result<bool, String>)>, took: Duration) -> Run {
    let mut lat: Vec<Duration> = Vec::new();
    let (mut ok, mut errors, mut denied) = (0, 0, 0);
    let mut first_error = None;
    for (d, r) in &all {
        match r {
            Ok(deny) => {
                ok += 1;
                denied += usize::from(*deny);
                lat.push(*d);
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e.clone());
            }
        }
    }
    if let Some(e) = first_error {
        eprintln!("  first error: {e}");
    }
    lat.sort_unstable();
    Run {
        sent: all.len(),
        ok,
        errors,
        denied,
        p50: percentile(&lat, 0.50),
        p99: percentile(&lat, 0.99),
        max: lat.last().copied().unwrap_or_default(),
        rate: ok as f64 / took.as_secs_f64(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs benches in test mode: nothing to do.
        return;
    }
    let n: usize = env_or("BENCH_N", 10_000);
    let rate: u64 = env_or("BENCH_RATE", 1_000);
    let secs: u64 = env_or("BENCH_SECS", 10);
    let conc: usize = env_or("BENCH_CONC", 16);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new("python3")
        .arg(root.join("bench/gen_corpus.py"))
        .arg(n.to_string())
        .arg(dir.path())
        .output()
        .expect("python3 bench/gen_corpus.py");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // The corpus policy names a client-secret file that does not exist here;
    // admission does not need it.
    let policy_text = std::fs::read_to_string(dir.path().join("policy.yaml"))
        .unwrap()
        .lines()
        .filter(|l| !l.contains("clientSecretFile"))
        .collect::<Vec<_>>()
        .join("\n");
    let policy = dir.path().join("policy-serve.yaml");
    std::fs::write(&policy, policy_text).unwrap();
    let corpus = dir.path().join("all.yaml");

    // Reviews: the captured CREATE with corpus objects as new Ingresses.
    let text = std::fs::read_to_string(&corpus).unwrap();
    let docs = stepup::source::parse_documents(&text).unwrap();
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("testdata/admission/ingress-create-validating.json"))
            .unwrap(),
    )
    .unwrap();
    // 500 objects spread over the corpus with a stride coprime to its five
    // Ingresses per host, so every kind (public, protected, exposed, weak,
    // snippet) is reviewed.
    let bodies: Vec<Arc<Vec<u8>>> = (0..500.min(docs.len()))
        .map(|i| (i, &docs[(i * 37) % docs.len()]))
        .map(|(i, d)| {
            let mut obj = d.value.clone();
            let name = format!("bench-new-{i}");
            obj["metadata"]["name"] = json!(name);
            let mut r = template.clone();
            r["request"]["uid"] = json!(format!("bench-{i}"));
            r["request"]["name"] = json!(name);
            r["request"]["namespace"] = obj["metadata"]["namespace"].clone();
            r["request"]["object"] = obj;
            Arc::new(serde_json::to_vec(&r).unwrap())
        })
        .collect();

    let certs = certs(dir.path());
    let (full, full_port) = start(&policy, &certs, &[&corpus]);
    let (empty, empty_port) = start(&policy, &certs, &[]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_der(&certs.ca_der).unwrap())
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    println!(
        "admission bench: {n} Ingresses in the store, {} distinct reviews ({} bytes each on average), TLS, 1 client thread",
        bodies.len(),
        bodies.iter().map(|b| b.len()).sum::<usize>() / bodies.len().max(1)
    );
    println!();
    println!("| store | mode | sent | ok | errors | denied | rate/s | p50 ms | p99 ms | max ms |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut p99s = Vec::new();
    let mut maxes = Vec::new();
    for (label, port) in [("10k", full_port), ("empty", empty_port)] {
        let url = format!("https://localhost:{port}/validate");
        rt.block_on(async {
            // Warm-up: connections and the first reviews.
            let _ = closed_loop(&client, &url, &bodies, conc, 1).await;
            let o = open_loop(&client, &url, &bodies, rate, secs).await;
            println!(
                "| {label} | open loop {rate}/s | {} | {} | {} | {} | {:.0} | {} | {} | {} |",
                o.sent, o.ok, o.errors, o.denied, o.rate, ms(o.p50), ms(o.p99), ms(o.max)
            );
            let c = closed_loop(&client, &url, &bodies, conc, 5).await;
            println!(
                "| {label} | closed loop {conc} in flight | {} | {} | {} | {} | {:.0} | {} | {} | {} |",
                c.sent, c.ok, c.errors, c.denied, c.rate, ms(c.p50), ms(c.p99), ms(c.max)
            );
            p99s.push(o.p99);
            maxes.push(c.rate);
        });
    }
    println!();
    let (fp, ep) = (full.0.id(), empty.0.id());
    println!(
        "peak RSS: 10k store {} MiB (now {} MiB), empty store {} MiB",
        rss_kib(fp, "VmHWM:") / 1024,
        rss_kib(fp, "VmRSS:") / 1024,
        rss_kib(ep, "VmHWM:") / 1024
    );
    if let ([a, b], [ra, rb]) = (p99s.as_slice(), maxes.as_slice()) {
        println!(
            "10k store / empty store: p99 at {rate}/s {:.2}x, max rate {:.2}x",
            a.as_secs_f64() / b.as_secs_f64().max(1e-9),
            ra / rb.max(1e-9)
        );
    }
}
