#!/usr/bin/env bash
# Run every check and test: formatting, clippy, unit and integration tests
# (including the differential test against the real nginx binary), and a
# compile check of the benchmarks. Installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")"

# The nginx differential test needs Debian's nginx (auth_request included).
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing nginx-light"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
  else
    echo "nginx is missing: run 'sudo apt-get install -y nginx-light' and retry" >&2
    exit 2
  fi
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "==> cargo test --doc"
cargo test --locked --doc
echo "==> cargo test (unit, CLI, nginx differential; benches in test mode)"
cargo test --locked --all-targets
