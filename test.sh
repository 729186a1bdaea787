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

# The SARIF test (tests/render.rs) needs two validators and fails without
# them: Python's jsonschema (PyPI) for the SARIF 2.1.0 JSON schema in
# testdata/render, and Microsoft's SARIF Multitool (npm; the package ships a
# self-contained Linux binary, which the test runs directly).
if ! python3 -c 'import jsonschema; jsonschema.Draft202012Validator' >/dev/null 2>&1; then
  echo "==> installing jsonschema (PyPI)"
  python3 -m pip install -q 'jsonschema>=4.18' ||
    python3 -m pip install -q --break-system-packages 'jsonschema>=4.18'
fi
SARIF_MULTITOOL_PKG=@microsoft/sarif-multitool-linux@5.7.0
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is missing: install Node.js 20 with npm and retry" >&2
  exit 2
fi
multitool="$(npm root -g 2>/dev/null || true)/@microsoft/sarif-multitool-linux/Sarif.Multitool"
if [ ! -f "$multitool" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing $SARIF_MULTITOOL_PKG (npm)"
    npm install -g --no-fund --no-audit --loglevel=error "$SARIF_MULTITOOL_PKG"
  else
    echo "the SARIF Multitool is missing: run 'sudo npm install -g $SARIF_MULTITOOL_PKG' and retry" >&2
    exit 2
  fi
fi
# npm 11 skips the package's postinstall `chmod u+x`.
[ -x "$multitool" ] || chmod +x "$multitool"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "==> cargo test --doc"
cargo test --locked --doc
echo "==> cargo test (unit, CLI, nginx differential; benches in test mode)"
cargo test --locked --all-targets
