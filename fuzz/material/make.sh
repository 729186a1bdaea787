#!/usr/bin/env bash
# Regenerates the fuzz targets' test material: TEST-ONLY keys (never used
# anywhere but the fuzz targets), the public JWKS the `jwt` target installs,
# and the signed/sealed seeds (fuzz/examples/make_seeds.rs). The results are
# committed; run this only to change them (the seeds must then be
# re-committed too, and corpus/jwt, corpus/cookie are rewritten).
set -euo pipefail
cd "$(dirname "$0")"
[ -f rsa-test-key.pem ] || openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa-test-key.pem
[ -f ec-test-key.pem ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec-test-key.pem
[ -f session-keys.txt ] || {
  echo "# TEST-ONLY session keys of the cookie fuzz target (k2 seals, k1 opens)"
  echo "k2 $(head -c 32 /dev/urandom | base64)"
  echo "k1 $(head -c 32 /dev/urandom | base64)"
} >session-keys.txt
# Public halves as JWKs: the RSA modulus and the EC point, base64url.
n_hex=$(openssl rsa -in rsa-test-key.pem -noout -modulus | cut -d= -f2)
ec_point=$(openssl pkey -in ec-test-key.pem -pubout -outform DER | tail -c 65 | od -An -v -tx1 | tr -d ' \n')
python3 - "$n_hex" "$ec_point" >jwks.json <<'PY'
import base64, json, sys
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
n = bytes.fromhex(sys.argv[1])
point = bytes.fromhex(sys.argv[2])
assert len(point) == 65 and point[0] == 4
keys = [
    # No `alg`: RS256 and PS256 both verify with it.
    {"kty": "RSA", "kid": "rsa-1", "use": "sig", "n": b64(n), "e": "AQAB"},
    {"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256",
     "x": b64(point[1:33]), "y": b64(point[33:])},
    # Skipped by the verifier: an encryption key and a symmetric one.
    {"kty": "RSA", "kid": "rsa-enc", "use": "enc", "n": b64(n), "e": "AQAB"},
    {"kty": "oct", "kid": "hmac", "k": b64(b"not a signing key for tokens")},
]
json.dump({"keys": keys}, sys.stdout, indent=1)
print()
PY
cd ..
cargo run --quiet --example make_seeds
