//! Verification against locally generated keys (no network): every JWT
//! class of SPEC §6 that is decided before the policy is consulted. The
//! same classes run end to end against oidc-provider in tests/serve.rs.

use super::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

const ISS: &str = "http://127.0.0.1:9/idp";

struct Signer {
    kid: String,
    enc: EncodingKey,
    jwk: Value,
}

fn p256(kid: &str) -> Signer {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let raw = kp.public_key_raw();
    assert_eq!(raw.len(), 65);
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(&raw[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&raw[33..65]),
    });
    Signer {
        kid: kid.into(),
        enc: EncodingKey::from_ec_pem(kp.serialize_pem().as_bytes()).unwrap(),
        jwk,
    }
}

fn verifier(keys: &[&Signer]) -> Verifier {
    let v = Verifier::new(
        VerifierConfig {
            issuer: ISS.into(),
            audiences: vec!["shop".into()],
            min_refresh: Duration::from_secs(3600),
            cache_size: 100,
            ca_pem: None,
            fetch_timeout: Duration::from_millis(500),
        },
        RefreshCounters::default(),
    )
    .unwrap();
    let jwks = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
    v.install(&jwks).unwrap();
    v
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": "shop", "sub": "alice", "exp": now() + 600, "iat": now(),
           "acr": "urn:stepup:mfa"})
}

fn sign(s: &Signer, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(s.kid.clone());
    jsonwebtoken::encode(&h, claims, &s.enc).unwrap()
}

fn raw_token(header: &Value, claims: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

async fn err(v: &Verifier, token: &str) -> String {
    v.verify(token, now()).await.unwrap_err()
}

#[tokio::test]
async fn valid_token_verifies_and_is_cached() {
    let k = p256("k1");
    let v = verifier(&[&k]);
    let t = sign(&k, &claims());
    let c = v.verify(&t, now()).await.unwrap();
    assert_eq!(c["sub"], "alice");
    assert_eq!(v.cached_tokens(), 1);
    // A second verification is a cache hit (same Arc).
    let c2 = v.verify(&t, now()).await.unwrap();
    assert!(Arc::ptr_eq(&c, &c2));
    // Not after exp.
    assert!(v.cache.get(&t, now() + 10_000).is_none());
}

#[tokio::test]
async fn alg_none_and_hs256_are_refused() {
    let k = p256("k1");
    let v = verifier(&[&k]);
    let none = raw_token(&json!({"alg": "none", "kid": "k1"}), &claims(), b"");
    assert!(err(&v, &none).await.contains("malformed token"));
    // HS256 "signed" with the public key material as the HMAC secret.
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("k1".into());
    let secret = k.jwk.to_string();
    let hs =
        jsonwebtoken::encode(&h, &claims(), &EncodingKey::from_secret(secret.as_bytes())).unwrap();
    assert!(
        err(&v, &hs)
            .await
            .contains("HS256 is not accepted (asymmetric only)")
    );
}

#[tokio::test]
async fn wrong_family_and_jwk_alg_mismatch() {
    let k = p256("k1");
    let v = verifier(&[&k]);
    // Header claims ES384 for a P-256 key.
    let t = sign(&k, &claims());
    let parts: Vec<&str> = t.split('.').collect();
    let h384 = URL_SAFE_NO_PAD.encode(json!({"alg": "ES384", "kid": "k1"}).to_string());
    let forged = format!("{h384}.{}.{}", parts[1], parts[2]);
    assert!(err(&v, &forged).await.contains("does not match the key"));
    // RS256 header against the EC key.
    let hrs = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "kid": "k1"}).to_string());
    let forged = format!("{hrs}.{}.{}", parts[1], parts[2]);
    assert!(err(&v, &forged).await.contains("does not match the key"));
}

#[tokio::test]
async fn signature_and_payload_tampering() {
    let k = p256("k1");
    let other = p256("k1");
    let v = verifier(&[&k]);
    // Same kid, another key.
    assert_eq!(
        err(&v, &sign(&other, &claims())).await,
        "signature does not verify"
    );
    // Payload swapped after signing.
    let t = sign(&k, &claims());
    let parts: Vec<&str> = t.split('.').collect();
    let mut c = claims();
    c["sub"] = json!("mallory");
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(c.to_string()),
        parts[2]
    );
    assert_eq!(err(&v, &swapped).await, "signature does not verify");
    // Bad base64 in each segment.
    for i in 0..3 {
        let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
        p[i] = "***".into();
        let e = err(&v, &p.join(".")).await;
        assert!(
            e.contains("malformed") || e.contains("base64") || e.contains("signature"),
            "segment {i}: {e}"
        );
    }
    for junk in ["", "a", "a.b", "a.b.c.d", "...."] {
        assert!(v.verify(junk, now()).await.is_err(), "{junk:?}");
    }
}

#[tokio::test]
async fn claim_checks() {
    let k = p256("k1");
    let v = verifier(&[&k]);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"iss": "https://evil.example"}), "wrong issuer (iss)"),
        (json!({"aud": "other"}), "wrong audience (aud)"),
        (json!({"aud": ["other", "x"]}), "wrong audience (aud)"),
        (json!({"exp": now() - 3600}), "token expired"),
        (json!({"nbf": now() + 3600}), "token is not valid yet (nbf)"),
        (json!({"exp": null}), "token has no exp"),
        (json!({"sub": null}), "token has no sub"),
        (json!({"iss": null}), "token has no iss"),
    ];
    for (patch, want) in cases {
        let mut c = claims();
        for (key, val) in patch.as_object().unwrap() {
            if val.is_null() {
                c.as_object_mut().unwrap().remove(key);
            } else {
                c[key] = val.clone();
            }
        }
        assert_eq!(err(&v, &sign(&k, &c)).await, want, "{patch}");
    }
    // aud as an array containing the audience is fine.
    let mut c = claims();
    c["aud"] = json!(["x", "shop"]);
    assert!(v.verify(&sign(&k, &c), now()).await.is_ok());
}

#[tokio::test]
async fn unknown_kid_with_idp_down_fails_closed() {
    let k = p256("k1");
    let v = verifier(&[&k]);
    let stranger = p256("k2");
    let e = err(&v, &sign(&stranger, &claims())).await;
    assert!(e.starts_with("unknown signing key kid=k2 "), "{e}");
    // The failed fetch counted, and a second try is rate-limited.
    assert_eq!(v.counters.error.get(), 1);
    let e = err(&v, &sign(&stranger, &claims())).await;
    assert!(e.contains("rate-limited"), "{e}");
    assert_eq!(v.counters.rate_limited.get(), 1);
    // Known keys keep working.
    assert!(v.verify(&sign(&k, &claims()), now()).await.is_ok());
}

/// An IdP that accepts connections and never answers: unknown-kid
/// requests that queue behind the hung fetch are rate-limited when it
/// times out, instead of each starting another fetch in turn (which made
/// the last of N wait N fetch timeouts).
#[tokio::test]
async fn requests_queued_behind_a_hung_fetch_do_not_fetch_again() {
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", hung.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = hung.accept().await {
            held.push(c);
        }
    });
    let v = Verifier::new(
        VerifierConfig {
            issuer,
            audiences: vec!["shop".into()],
            min_refresh: Duration::from_millis(100),
            cache_size: 100,
            ca_pem: None,
            fetch_timeout: Duration::from_millis(400),
        },
        RefreshCounters::default(),
    )
    .unwrap();
    let k = p256("k1");
    v.install(&json!({"keys": [k.jwk]})).unwrap();
    let stranger = p256("k2");
    let t = sign(&stranger, &claims());
    let started = Instant::now();
    let (a, b, c, d) = tokio::join!(err(&v, &t), err(&v, &t), err(&v, &t), err(&v, &t));
    let took = started.elapsed();
    for e in [a, b, c, d] {
        assert!(e.starts_with("unknown signing key kid=k2 "), "{e}");
    }
    assert_eq!(v.counters.error.get(), 1);
    assert_eq!(v.counters.rate_limited.get(), 3);
    assert!(took < Duration::from_millis(800), "{took:?}");
}

#[tokio::test]
async fn oversized_token() {
    let k = p256("k1");
    let v = verifier(&[&k]);
    let mut c = claims();
    c["pad"] = json!("x".repeat(MAX_TOKEN_BYTES));
    assert!(err(&v, &sign(&k, &c)).await.contains("larger than"));
}

#[test]
fn jwks_parsing_skips_what_cannot_verify() {
    let k = p256("k1");
    let doc = json!({"keys": [
        k.jwk,
        {"kty": "oct", "k": "c2VjcmV0", "kid": "h"},
        {"kty": "EC", "crv": "P-256", "use": "enc", "kid": "e",
         "x": k.jwk["x"], "y": k.jwk["y"]},
        {"kty": "RSA", "kid": "broken"},
        {"kty": "weird"},
    ]});
    let (keys, skipped) = parse_jwks(&doc).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid.as_deref(), Some("k1"));
    assert_eq!(skipped.len(), 4, "{skipped:?}");
    assert!(parse_jwks(&json!({})).is_err());
}

#[tokio::test]
async fn id_tokens_are_for_this_client_only() {
    let k = p256("k1");
    let v = verifier(&[&k]);
    let id = |extra: Value| {
        let mut c = json!({"iss": ISS, "aud": "stepup", "sub": "alice", "exp": now() + 600,
                           "iat": now(), "nonce": "n"});
        if let (Some(m), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            for (key, val) in e {
                if val.is_null() {
                    m.remove(key);
                } else {
                    m.insert(key.clone(), val.clone());
                }
            }
        }
        sign(&k, &c)
    };
    let ok = v
        .verify_id_token(&id(json!({})), "stepup", now())
        .await
        .unwrap();
    assert_eq!(ok["nonce"], "n");
    // Several audiences need azp = this client; azp must be this client.
    assert!(
        v.verify_id_token(
            &id(json!({"aud": ["stepup", "other"], "azp": "stepup"})),
            "stepup",
            now()
        )
        .await
        .is_ok()
    );
    let e = v
        .verify_id_token(&id(json!({"aud": ["stepup", "other"]})), "stepup", now())
        .await
        .unwrap_err();
    assert!(e.contains("azp"), "{e}");
    let e = v
        .verify_id_token(&id(json!({"azp": "other"})), "stepup", now())
        .await
        .unwrap_err();
    assert!(e.contains("azp"), "{e}");
    // Another client's ID token, or an access token for the resource.
    let e = v
        .verify_id_token(&id(json!({"aud": "other"})), "stepup", now())
        .await
        .unwrap_err();
    assert_eq!(e, "wrong audience (aud)");
    assert_eq!(
        v.verify_id_token(&sign(&k, &claims()), "stepup", now())
            .await
            .unwrap_err(),
        "wrong audience (aud)"
    );
    // iat and exp are required; expiry and the issuer are checked.
    let e = v
        .verify_id_token(&id(json!({"iat": null})), "stepup", now())
        .await
        .unwrap_err();
    assert!(e.contains("iat"), "{e}");
    assert!(
        v.verify_id_token(&id(json!({"exp": null})), "stepup", now())
            .await
            .is_err()
    );
    let e = v
        .verify_id_token(&id(json!({"exp": now() - 3600})), "stepup", now())
        .await
        .unwrap_err();
    assert_eq!(e, "token expired");
    let e = v
        .verify_id_token(&id(json!({"iss": "https://evil.example"})), "stepup", now())
        .await
        .unwrap_err();
    assert_eq!(e, "wrong issuer (iss)");
    // Issue 15: an ID token issued in the future (beyond the leeway).
    let e = v
        .verify_id_token(&id(json!({"iat": now() + 3600})), "stepup", now())
        .await
        .unwrap_err();
    assert_eq!(e, "ID token iat is in the future");
    assert!(
        v.verify_id_token(&id(json!({"iat": now() + 30})), "stepup", now())
            .await
            .is_ok()
    );
    // An ID token is not a bearer token for the resource either.
    assert_eq!(err(&v, &id(json!({}))).await, "wrong audience (aud)");
}

/// Issue 15: a JWS whose protected header has `crit` must be refused
/// (RFC 7515 §4.1.11): stepup understands no extension. jsonwebtoken
/// ignores the member, so these verified before.
#[tokio::test]
async fn crit_in_the_header_is_refused() {
    let k = p256("k1");
    let v = verifier(&[&k]);
    let signed = |header: Value| {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let p = URL_SAFE_NO_PAD.encode(claims().to_string());
        let input = format!("{h}.{p}");
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &k.enc, Algorithm::ES256).unwrap();
        format!("{input}.{sig}")
    };
    let base = json!({"alg": "ES256", "kid": "k1", "typ": "JWT"});
    let with = |extra: Value| {
        let mut h = base.clone();
        for (key, val) in extra.as_object().unwrap() {
            h[key] = val.clone();
        }
        signed(h)
    };
    // The same construction without crit verifies.
    assert!(v.verify(&signed(base.clone()), now()).await.is_ok());
    assert!(v.verify(&with(json!({"x-other": 1})), now()).await.is_ok());
    let e = err(&v, &with(json!({"crit": ["b64"], "b64": false}))).await;
    assert_eq!(
        e,
        "token header crit names extensions stepup does not understand: b64 (RFC 7515 §4.1.11)"
    );
    let e = err(&v, &with(json!({"crit": ["exp", "urn:x"], "exp": 1}))).await;
    assert!(e.contains("exp, urn:x"), "{e}");
    for bad in [
        json!("b64"),
        json!([]),
        json!([1]),
        json!([""]),
        json!(null),
        json!({}),
        json!(true),
    ] {
        let e = err(&v, &with(json!({"crit": bad}))).await;
        assert!(
            e.starts_with("token header crit is malformed"),
            "{bad}: {e}"
        );
    }
    // ID tokens go through the same check.
    let mut c = claims();
    c["aud"] = json!("stepup");
    let h = URL_SAFE_NO_PAD
        .encode(json!({"alg": "ES256", "kid": "k1", "crit": ["x"], "x": 1}).to_string());
    let input = format!("{h}.{}", URL_SAFE_NO_PAD.encode(c.to_string()));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &k.enc, Algorithm::ES256).unwrap();
    let e = v
        .verify_id_token(&format!("{input}.{sig}"), "stepup", now())
        .await
        .unwrap_err();
    assert!(e.contains("crit"), "{e}");
}
