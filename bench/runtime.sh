#!/usr/bin/env bash
# Runtime benchmark: nginx + stepup serve + backend on loopback, load from
# wrk, every scenario in one run (see benches/runtime.rs for the scenarios).
# Usage: bash bench/runtime.sh            (BENCH_SECS=10 BENCH_CONNS=32)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 2; }
[ -d tests/idp/node_modules/oidc-provider ] || npm ci --prefix tests/idp --no-fund --no-audit --loglevel=error
cargo build --release --quiet --bin stepup
cargo bench --quiet --bench runtime
