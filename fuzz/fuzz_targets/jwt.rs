//! JWT parsing and verification with the runtime's verifier
//! (`stepup::serve::keys::Verifier`: `install(jwks)`, then `verify` and
//! `verify_id_token`) against the committed TEST-ONLY JWKS
//! (fuzz/material/), at the fixed clock `NOW`.
//!
//! Input: the token text (the seeds are tokens signed with the test keys,
//! valid and invalid: expired, wrong aud/iss, `alg: none`, HS256 with the
//! RSA key as secret, mismatched alg and key, mutated signatures, …).
//!
//! Oracles:
//! - never panics;
//! - an accepted token was signed by us: its signing input and its decoded
//!   signature bytes are those of one of the valid seed tokens (so a token
//!   whose signature bytes were mutated is never accepted);
//! - an accepted token's claims have the configured `iss`, an `aud` that is
//!   (or contains) the audience, a `sub` and an `exp` not past (by the wall
//!   clock, which is what jsonwebtoken checks it against).
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use stepup::claims::Claims;
use stepup::decision::LEEWAY_SECS;
use stepup::serve::keys::{RefreshCounters, Verifier, VerifierConfig};
use stepup_fuzz::{JWKS, JWT_AUDIENCE, JWT_ISSUER, NOW, VALID_TOKENS};

struct Fixture {
    rt: tokio::runtime::Runtime,
    verifier: Verifier,
    /// Signing input and signature bytes of each valid seed token.
    signed: Vec<(&'static str, Vec<u8>)>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime: {e}"),
    };
    let cfg = VerifierConfig {
        issuer: JWT_ISSUER.into(),
        audiences: vec![JWT_AUDIENCE.into()],
        // One refresh attempt (below), then none: an unknown kid never
        // reaches the network while fuzzing.
        min_refresh: Duration::from_secs(100 * 365 * 86400),
        // No cache: every input is verified from scratch.
        cache_size: 0,
        ca_pem: None,
        fetch_timeout: Duration::from_millis(200),
    };
    let verifier = match Verifier::new(cfg, RefreshCounters::default()) {
        Ok(v) => v,
        Err(e) => panic!("verifier: {e}"),
    };
    // The issuer is a closed loopback port: this fails at once and starts
    // the refresh interval.
    let _ = rt.block_on(verifier.refresh(true));
    let jwks: Value = match serde_json::from_str(JWKS) {
        Ok(v) => v,
        Err(e) => panic!("material/jwks.json: {e}"),
    };
    if let Err(e) = verifier.install(&jwks) {
        panic!("material/jwks.json: {e}");
    }
    let signed = VALID_TOKENS
        .lines()
        .filter_map(|t| t.rsplit_once('.'))
        .filter_map(|(msg, sig)| Some((msg, URL_SAFE_NO_PAD.decode(sig).ok()?)))
        .collect();
    Fixture {
        rt,
        verifier,
        signed,
    }
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let f = &*FIXTURE;
    if let Ok(claims) = f.rt.block_on(f.verifier.verify(token, NOW)) {
        accepted(f, token, &claims, "verify");
    }
    if let Ok(claims) =
        f.rt.block_on(f.verifier.verify_id_token(token, JWT_AUDIENCE, NOW))
    {
        accepted(f, token, &claims, "verify_id_token");
    }
});

fn accepted(f: &Fixture, token: &str, claims: &Claims, by: &str) {
    let signed_by_us = token.rsplit_once('.').is_some_and(|(msg, sig)| {
        let sig = URL_SAFE_NO_PAD.decode(sig.trim_end_matches('='));
        f.signed
            .iter()
            .any(|(m, s)| *m == msg && sig.as_ref().is_ok_and(|sig| sig == s))
    });
    assert!(
        signed_by_us,
        "{by} accepted a token that is not one of the signed seeds: {token:?}"
    );
    assert_eq!(
        claims.get("iss").and_then(Value::as_str),
        Some(JWT_ISSUER),
        "{by}: {token}"
    );
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == JWT_AUDIENCE,
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(JWT_AUDIENCE)),
        _ => false,
    };
    assert!(aud_ok, "{by} accepted aud {:?}", claims.get("aud"));
    assert!(
        claims.contains_key("sub"),
        "{by} accepted a token without sub"
    );
    // jsonwebtoken judges exp by the wall clock, not by `verify`'s `now`
    // (the decision core checks it again with `now`).
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    assert!(
        claims
            .get("exp")
            .and_then(Value::as_i64)
            .is_some_and(|e| e + LEEWAY_SECS >= wall),
        "{by} accepted exp {:?}",
        claims.get("exp")
    );
}
