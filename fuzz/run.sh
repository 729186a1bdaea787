#!/usr/bin/env bash
# Runs every cargo-fuzz (libFuzzer) target of this crate for a bounded
# time on a temporary copy of its committed seed corpus (fuzz/corpus/<t>/,
# which stays untouched), and fails if any target finds a crash or an
# oracle failure. docs/fuzzing.md says what each target checks.
#
#   fuzz/run.sh                     every target, FUZZ_SECS (60) s each
#   FUZZ_SECS=300 fuzz/run.sh jwt   one target, 5 minutes
#
# A failing input is kept in fuzz/artifacts/<target>/ (git-ignored); the
# script prints the command that replays it.
set -euo pipefail
cd "$(dirname "$0")"

FUZZ_SECS="${FUZZ_SECS:-60}"
ALL_TARGETS="policy manifests route jwt cookie admission"
TARGETS="${*:-$ALL_TARGETS}"
CARGO_FUZZ_VERSION=0.13.2

# Longest input per target: the largest seeds fit, inputs past the
# targets' own caps are reached (a cookie over 4096 bytes), and no time is
# spent on megabyte-sized inputs.
max_len() {
  case "$1" in
    policy) echo 8192 ;;
    manifests | admission) echo 16384 ;;
    route) echo 1024 ;;
    jwt | cookie) echo 5000 ;;
    *) echo 4096 ;;
  esac
}

# libfuzzer-sys compiles libFuzzer (C++) with the system compiler.
if ! command -v c++ >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing g++ (apt; libFuzzer is C++)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
  else
    echo "no C++ compiler: run 'sudo apt-get install -y g++' and retry" >&2
    exit 2
  fi
fi

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "==> installing cargo-fuzz $CARGO_FUZZ_VERSION (crates.io)"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# The committed fuzz/Cargo.lock must be current (as `--locked` checks for
# the main crate); cargo fuzz itself has no --locked flag.
cargo fetch --locked --quiet

# Sanitizer: none by default. stepup forbids unsafe code, so
# AddressSanitizer would only watch the C and assembly of dependencies (ring,
# libFuzzer) at 2-3x the build and run time; panics, overflows (debug
# assertions are on) and the targets' oracles are what find bugs here.
# Without a sanitizer every flag cargo-fuzz passes to rustc (`-Cpasses=
# sancov-module`, `-Cllvm-args=-sanitizer-coverage-*`, `--cfg fuzzing`) is
# accepted by the stable toolchain this machine and CI have (no nightly can
# be fetched). FUZZ_SANITIZER=address needs `-Zsanitizer=address`, which
# only nightly accepts: RUSTC_BOOTSTRAP=1 makes the stable rustc take it
# (the same compiler, unstable flags unlocked; a different RUSTC_BOOTSTRAP
# also means a full rebuild of the fuzz target dir).
FUZZ_SANITIZER="${FUZZ_SANITIZER:-none}"
if [ "$FUZZ_SANITIZER" != none ]; then
  export RUSTC_BOOTSTRAP=1
fi
FUZZ_FLAGS=(--sanitizer "$FUZZ_SANITIZER")

echo "==> cargo fuzz build (all targets)"
start=$SECONDS
cargo fuzz build "${FUZZ_FLAGS[@]}"
echo "    built in $((SECONDS - start)) s"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=""
for t in $TARGETS; do
  if [ ! -d "corpus/$t" ]; then
    echo "unknown target $t (targets: $ALL_TARGETS)" >&2
    exit 2
  fi
  mkdir -p "$work/$t" "artifacts/$t"
  cp -R "corpus/$t/." "$work/$t/"
  echo "==> fuzz $t for ${FUZZ_SECS}s (seeds: $(ls "corpus/$t" | wc -l))"
  log="$work/$t.log"
  if cargo fuzz run "${FUZZ_FLAGS[@]}" "$t" "$work/$t" -- \
    -max_total_time="$FUZZ_SECS" -max_len="$(max_len "$t")" \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" | sed 's/^/    /' || true
  else
    failed="$failed $t"
    tail -n 60 "$log"
    echo "!!! $(grep -m1 -A1 'panicked at' "$log" | tail -n 1 | cut -c1-2000)"
    crash="$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -n 1 | sed 's/Test unit written to //')"
    echo "!!! $t failed; reproducer: ${crash:-none written (see the log above)}"
    echo "!!! replay: cargo fuzz run --sanitizer $FUZZ_SANITIZER $t ${crash:-<file>}"
    echo "!!!   (in the repository root; the input also goes into fuzz/corpus/$t/ with the fix)"
  fi
done

total=$(echo $TARGETS | wc -w)
nfailed=$(echo $failed | wc -w)
echo "fuzz (${FUZZ_SECS} s per target): $((total - nfailed)) passed, $nfailed failed"
if [ -n "$failed" ]; then
  echo "fuzzing found failures in:$failed" >&2
  exit 1
fi
