//! `cargo bench --bench glob`: path glob matching on long paths with the
//! worst globs we could write (issue 15: the backtracking matcher took
//! 11.6 s on a 4 KB path with several `**`).
//!
//! Paths of 1, 2, 4 and 8 KB (`GLOB_SIZES`, bytes, comma-separated), in two
//! shapes: `short`, many one-byte segments (`/a/a/a/…`), and `long`, eight
//! segments of `a`s. None of the globs matches, so every match reads the
//! whole path. The floor, measured in the same run on the same paths, is
//! `split_path` alone, which every `PathGlob::matches` does first; figures
//! read as a ratio to it, and as the ratio of the 8 KB time to the 1 KB one
//! (8 or less: linear). BENCHMARKS.md records the figures.
//!
//! Everything is generated here (no files, no clock, no randomness).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use stepup::glob::{PathGlob, split_path};

/// The globs: name, source.
const GLOBS: &[(&str, &str)] = &[
    // Five `**` each followed by a literal every segment matches but the last.
    ("deep5", "/**/a/**/a/**/a/**/a/**/b"),
    // Inner `*`s, with a final piece no segment ends with.
    ("wild_end", "/**/*a*a*a*b/**"),
    // Inner `*`s, with a middle piece searched along the whole segment.
    ("wild_scan", "/**/*a*a*a*b*/**"),
    // Sixteen `**` in a row, then a literal that never comes.
    (
        "deep16",
        "/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/c",
    ),
];

/// Path sizes in bytes: `GLOB_SIZES` or 1, 2, 4, 8 KB.
fn sizes() -> Vec<usize> {
    std::env::var("GLOB_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1024, 2048, 4096, 8192])
}

/// A path of exactly `bytes` bytes (`bytes` even, ≥ 16) of the given shape.
fn path(shape: &str, bytes: usize) -> String {
    match shape {
        "short" => "/a".repeat(bytes / 2),
        _ => {
            let seg = format!("/{}", "a".repeat(bytes / 8 - 1));
            seg.repeat(8)
        }
    }
}

fn bench_glob(c: &mut Criterion) {
    let sizes = sizes();
    let globs: Vec<(&str, PathGlob)> = GLOBS
        .iter()
        .map(|(name, src)| (*name, PathGlob::parse(src).expect("bench glob")))
        .collect();
    for shape in ["short", "long"] {
        let mut g = c.benchmark_group(format!("glob_{shape}"));
        g.sample_size(30)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        for &n in &sizes {
            let p = path(shape, n);
            assert_eq!(p.len(), n, "{shape} path of {n} bytes");
            g.throughput(Throughput::Bytes(n as u64));
            g.bench_function(format!("floor_split_{n}"), |b| {
                b.iter(|| split_path(black_box(p.as_bytes())).map(|v| v.len()))
            });
            for (name, glob) in &globs {
                assert!(!glob.matches(p.as_bytes(), false), "{name} on {shape}");
                g.bench_function(format!("{name}_{n}"), |b| {
                    b.iter(|| glob.matches(black_box(p.as_bytes()), false))
                });
            }
        }
        g.finish();
    }
}

criterion_group!(benches, bench_glob);
criterion_main!(benches);
