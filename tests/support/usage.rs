//! What a process uses while a test loads it: resident set size (`VmRSS`
//! of `/proc/<pid>/status`) and CPU time (`utime + stime` of
//! `/proc/<pid>/stat`), sampled in the background at a fixed interval.
//!
//! Use from a test file with `#[path = "support/usage.rs"] mod usage;`.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`: 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// One sample.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Since the sampler started.
    pub at: Duration,
    pub rss_kib: u64,
    /// User + system CPU time so far, in clock ticks.
    pub cpu_ticks: u64,
}

/// Resident set size of a process, KiB (`None` once it has exited).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU time of a process, clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces;
    // utime and stime are fields 14 and 15, the 12th and 13th after it.
    let rest = &s[s.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Samples taken in the background.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Sample>>,
}

/// Sample `pid` every `every` until [`Sampler::finish`] (or until it exits).
pub fn sample(pid: u32, every: Duration) -> Sampler {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let t0 = Instant::now();
        let mut out = Vec::new();
        while !flag.load(Ordering::Relaxed) {
            let (Some(rss_kib), Some(cpu_ticks)) = (rss_kib(pid), cpu_ticks(pid)) else {
                break;
            };
            out.push(Sample {
                at: t0.elapsed(),
                rss_kib,
                cpu_ticks,
            });
            std::thread::sleep(every);
        }
        out
    });
    Sampler { stop, thread }
}

impl Sampler {
    /// Stop sampling; the samples.
    pub fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// RSS (KiB) of the sample nearest to a fraction (0..=1) of the span.
pub fn rss_at(samples: &[Sample], fraction: f64) -> u64 {
    let Some(last) = samples.last() else { return 0 };
    let t = last.at.mul_f64(fraction);
    samples
        .iter()
        .min_by_key(|s| s.at.abs_diff(t))
        .map_or(0, |s| s.rss_kib)
}

/// CPU seconds used between the first and the last sample, and that as a
/// share of one core over the span.
pub fn cpu(samples: &[Sample]) -> (f64, f64) {
    let (Some(a), Some(b)) = (samples.first(), samples.last()) else {
        return (0.0, 0.0);
    };
    let secs = (b.cpu_ticks - a.cpu_ticks) as f64 / TICKS_PER_SEC;
    let span = (b.at - a.at).as_secs_f64();
    (secs, if span > 0.0 { secs / span } else { 0.0 })
}
