#!/usr/bin/env bash
# Load and fault tests of `stepup serve` (tests/reliability.rs): builds the
# test and the binary in release mode, runs every scenario one after the
# other (about 3 minutes; each has a hard deadline), then prints the table
# RELIABILITY.md records, from target/test-output/reliability/*.json.
# Usage: bash bench/reliability.sh [SCENARIO_FILTER...]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d tests/idp/node_modules/oidc-provider ] || npm ci --prefix tests/idp --no-fund --no-audit --loglevel=error
out="${CARGO_TARGET_DIR:-target}/test-output/reliability"
rm -f "$out"/*.json
cargo test --release --test reliability -- --ignored --test-threads=1 "$@"
python3 - "$out" <<'PY'
import json, pathlib, sys
rows = [json.loads(p.read_text()) for p in sorted(pathlib.Path(sys.argv[1]).glob("*.json"))]
order = ["sustained", "idp_killed", "idp_slow", "tls_rotation", "sigterm_drain", "slowloris"]
rows.sort(key=lambda r: order.index(r["scenario"]) if r["scenario"] in order else 99)
mib = lambda k: f"{k / 1024:.1f}"
print()
print("| scenario | requests | errors | p50 ms | p99 ms | max ms | RSS start → end MiB |")
print("|---|---:|---:|---:|---:|---:|---|")
for r in rows:
    print(f"| {r['scenario']} | {r['requests']:,} | {r['errors']} | {r['p50_ms']:.2f} | "
          f"{r['p99_ms']:.2f} | {r['max_ms']:.1f} | {mib(r['rss_start_kib'])} → {mib(r['rss_end_kib'])} |")
if rows:
    m = rows[0]["machine"]
    print(f"\n{m['cpus']} CPUs, load average at the end of the first scenario: {m['loadavg']}")
PY
