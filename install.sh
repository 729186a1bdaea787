#!/usr/bin/env bash
# Build and install `stepup` and `kubectl-stepup`, then run the example on
# testdata/shop. Installs into $PREFIX/bin (default /usr/local as root,
# ~/.local otherwise). Needs only cargo.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" = 0 ]; then default_prefix=/usr/local; else default_prefix="$HOME/.local"; fi
PREFIX="${PREFIX:-$default_prefix}"

echo "==> building and installing stepup into $PREFIX/bin"
cargo install --locked --quiet --path . --root "$PREFIX" --force
export PATH="$PREFIX/bin:$PATH"
stepup --version
if command -v kubectl >/dev/null 2>&1; then
  kubectl plugin list 2>/dev/null | grep -q kubectl-stepup && echo "kubectl sees the plugin: kubectl stepup"
fi

echo
echo "==> example: the shop's admin console, reached through a second Ingress"
echo "    stepup simulate -p testdata/shop/policy.yaml -f testdata/shop/ingresses -v https://admin.shop.example/admin/reports"
stepup simulate -p testdata/shop/policy.yaml -f testdata/shop/ingresses -v https://admin.shop.example/admin/reports

echo
echo "==> example: the shop's request table"
echo "    stepup test -p testdata/shop/policy.yaml -f testdata/shop/ingresses testdata/shop/cases.yaml -q"
stepup test -p testdata/shop/policy.yaml -f testdata/shop/ingresses testdata/shop/cases.yaml -q
