//! `stepup audit` end to end on 10,000 Ingresses: the fake API server of
//! the audit tests (tests/support/apiserver.rs: TLS, bearer token, pages of
//! 500) serves generated Ingresses; the release `stepup` binary lists every
//! page, lints the whole cluster and writes its report. Wall time per run,
//! process start to exit, for each output format.
//!
//! Run with `bash bench/audit.sh` or `cargo bench --bench audit`.
//! Environment: `AUDIT_N` (default 10000), `AUDIT_RUNS` (default 5).

#[path = "../tests/support/apiserver.rs"]
mod apiserver;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    // `cargo test --all-targets` runs benches in test mode without `--bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: usize = std::env::var("AUDIT_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let runs: usize = std::env::var("AUDIT_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let server = apiserver::ApiServer::start(apiserver::Data::Generated(n), apiserver::Fault::None);
    let dir = tempfile::tempdir().unwrap();
    let kc = server.kubeconfig(dir.path(), "bench");
    let bin = env!("CARGO_BIN_EXE_stepup");
    println!(
        "stepup audit: {n} Ingresses from a fake API server (TLS, pages of 500), {runs} runs each"
    );
    for format in ["json", "human", "sarif", "html"] {
        let mut times: Vec<Duration> = Vec::new();
        let mut bytes = 0usize;
        for _ in 0..runs {
            let t = Instant::now();
            let out = Command::new(bin)
                .args(["audit", "--kubeconfig"])
                .arg(&kc)
                .args(["-o", format, "--color", "never"])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .unwrap();
            times.push(t.elapsed());
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "stepup audit failed: {:?}",
                out.status
            );
            bytes = out.stdout.len();
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "  -o {format:<6} min {:>7.1} ms  median {:>7.1} ms  max {:>7.1} ms  ({:.1} MB out)  {}",
            ms(times[0]),
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1]),
            bytes as f64 / 1e6,
            if times[times.len() / 2] < Duration::from_secs(5) {
                "under the 5 s target"
            } else {
                "OVER the 5 s target"
            }
        );
    }
}
