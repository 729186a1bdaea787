#!/usr/bin/env bash
# stepup audit on 10,000 Ingresses served by the fake API server of the
# audit tests, release build, wall time end to end (see benches/audit.rs).
# AUDIT_N and AUDIT_RUNS override the size and the number of runs.
set -euo pipefail
cd "$(dirname "$0")/.."
nproc_out="$(nproc)"
echo "machine: ${nproc_out} cores, $(uname -sr)"
cargo bench --bench audit
