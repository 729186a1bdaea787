#!/usr/bin/env bash
# Run every check and test: formatting, clippy, unit and integration tests
# (including the differential test against the real nginx binary), and a
# compile check of the benchmarks. Installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")"

# The nginx tests need Debian's nginx (auth_request included) and, for the
# ingress-nginx-style auth config of tests/serve.rs (`set_escape_uri` in the
# sign-in redirect, as ingress-nginx renders it), the ndk and set-misc modules.
NGINX_PKGS="nginx-light libnginx-mod-http-ndk libnginx-mod-http-set-misc"
# The browser sign-in tests (tests/signin.rs) drive a headless Chromium
# through chromedriver (WebDriver).
BROWSER_PKGS="chromium chromium-driver"
missing=""
for pkg in $NGINX_PKGS $BROWSER_PKGS; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing$missing (apt)"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "missing Debian packages:$missing; run 'sudo apt-get install -y$missing' and retry" >&2
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

# The runtime tests (tests/serve.rs, tests/idp.rs) run a real OpenID
# provider: the npm package oidc-provider, pinned in tests/idp/package-lock.json.
if [ ! -d tests/idp/node_modules/oidc-provider ]; then
  echo "==> installing the test IdP (npm ci --prefix tests/idp)"
  npm ci --prefix tests/idp --no-fund --no-audit --loglevel=error
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
# The fuzz crate has its own lock file, which a dependency change of the
# main crate makes stale; check it here rather than after the long tests.
echo "==> fuzz/Cargo.lock is current"
cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null
echo "==> cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "==> cargo test --doc"
cargo test --locked --doc
echo "==> cargo test (unit, CLI, nginx differential; benches in test mode)"
cargo test --locked --all-targets

# Load and fault tests (tests/reliability.rs, RELIABILITY.md): release
# build, one scenario at a time, each with its own hard deadline (~3 min).
echo "==> reliability (load and fault tests, release build)"
cargo test --locked --release --test reliability -- --ignored --test-threads=1

# Fuzzing (docs/fuzzing.md): every cargo-fuzz target for FUZZ_SECS (45 s
# here, to keep the whole run well under 40 minutes on 2 cores: the fuzz
# build alone takes about 6 minutes) on a temporary copy of its committed
# seed corpus; installs cargo-fuzz from crates.io when missing.
export FUZZ_SECS="${FUZZ_SECS:-45}"
echo "==> fuzz (cargo-fuzz, $FUZZ_SECS s per target)"
bash fuzz/run.sh
