//! Writes the signed and sealed seeds of the `jwt` and `cookie` targets
//! with the committed TEST-ONLY keys (material/README.md):
//! material/valid-tokens.txt, material/sealed-cookies.txt, corpus/jwt/ and
//! the sealed part of corpus/cookie/. Run by material/make.sh.

use std::fs;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use stepup::serve::session::SessionKeys;
use stepup_fuzz::{COOKIE_NAMES, JWT_AUDIENCE, JWT_ISSUER, NOW};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    jwt(root);
    cookies(root);
}

fn claims() -> Value {
    json!({
        "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "alice",
        "iat": NOW - 60, "auth_time": NOW - 60, "exp": NOW + 10 * 365 * 86400,
        "acr": "urn:stepup:mfa", "amr": ["pwd", "otp"], "groups": ["shop-admins"],
    })
}

fn with(mut c: Value, k: &str, v: Value) -> Value {
    if v.is_null() {
        c.as_object_mut().map(|m| m.remove(k));
    } else {
        c[k] = v;
    }
    c
}

fn header(alg: Algorithm, kid: Option<&str>) -> Header {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_string);
    h
}

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

fn jwt(root: &Path) {
    let rsa_pem = fs::read(root.join("material/rsa-test-key.pem")).expect("rsa key");
    let ec_pem = fs::read(root.join("material/ec-test-key.pem")).expect("ec key");
    let rsa = EncodingKey::from_rsa_pem(&rsa_pem).expect("rsa key");
    let ec = EncodingKey::from_ec_pem(&ec_pem).expect("ec key");
    let sign = |h: Header, c: &Value, k: &EncodingKey| encode(&h, c, k).expect("sign");

    let valid = [
        (
            "rs256",
            sign(header(Algorithm::RS256, Some("rsa-1")), &claims(), &rsa),
        ),
        (
            "es256",
            sign(header(Algorithm::ES256, Some("ec-1")), &claims(), &ec),
        ),
        (
            "ps256",
            sign(header(Algorithm::PS256, Some("rsa-1")), &claims(), &rsa),
        ),
        (
            "rs512-no-kid",
            sign(header(Algorithm::RS512, None), &claims(), &rsa),
        ),
        (
            "es256-aud-list",
            sign(
                header(Algorithm::ES256, None),
                &with(claims(), "aud", json!(["other", JWT_AUDIENCE])),
                &ec,
            ),
        ),
    ];
    let rs = |c: Value| sign(header(Algorithm::RS256, Some("rsa-1")), &c, &rsa);
    let first = valid[0].1.clone();
    let (msg, sig) = first.rsplit_once('.').expect("three parts");
    let mut flipped = URL_SAFE_NO_PAD.decode(sig).expect("signature");
    flipped[10] ^= 1;
    // HS256 with the RSA key's public modulus as the HMAC secret: the
    // algorithm confusion attack.
    let jwks: Value = serde_json::from_str(stepup_fuzz::JWKS).expect("jwks");
    let hmac_secret = jwks["keys"][0]["n"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let invalid = [
        // jsonwebtoken checks exp and nbf against the wall clock, so these
        // are far enough in the past and future to hold for decades.
        ("expired", rs(with(claims(), "exp", json!(1_600_000_000)))),
        ("wrong-aud", rs(with(claims(), "aud", json!("other")))),
        (
            "wrong-iss",
            rs(with(claims(), "iss", json!("https://evil.example"))),
        ),
        (
            "nbf-future",
            rs(with(claims(), "nbf", json!(4_000_000_000i64))),
        ),
        ("no-sub", rs(with(claims(), "sub", Value::Null))),
        ("no-exp", rs(with(claims(), "exp", Value::Null))),
        (
            "alg-none",
            format!(
                "{}.{}.",
                b64(br#"{"alg":"none","typ":"JWT"}"#),
                b64(claims().to_string().as_bytes())
            ),
        ),
        (
            "hs256-confusion",
            sign(
                header(Algorithm::HS256, Some("rsa-1")),
                &claims(),
                &EncodingKey::from_secret(hmac_secret.as_bytes()),
            ),
        ),
        (
            "es256-header-rsa-kid",
            sign(header(Algorithm::ES256, Some("rsa-1")), &claims(), &ec),
        ),
        (
            "unknown-kid",
            sign(header(Algorithm::RS256, Some("rsa-9")), &claims(), &rsa),
        ),
        (
            "enc-key-kid",
            sign(header(Algorithm::RS256, Some("rsa-enc")), &claims(), &rsa),
        ),
        ("flipped-signature", format!("{msg}.{}", b64(&flipped))),
        (
            "swapped-signature",
            format!("{msg}.{}", valid[2].1.rsplit_once('.').expect("parts").1),
        ),
        ("garbage", "a.b.c".to_string()),
    ];
    let dir = root.join("corpus/jwt");
    fs::create_dir_all(&dir).expect("corpus dir");
    let mut list = String::new();
    for (name, t) in &valid {
        fs::write(dir.join(format!("valid-{name}")), t).expect("write");
        list.push_str(t);
        list.push('\n');
    }
    for (name, t) in &invalid {
        fs::write(dir.join(format!("invalid-{name}")), t).expect("write");
    }
    fs::write(root.join("material/valid-tokens.txt"), list).expect("write");
}

fn cookies(root: &Path) {
    let keys = SessionKeys::parse("session-keys.txt", stepup_fuzz::SESSION_KEYS).expect("keys");
    // The rotated-out key alone, to seal a value under `k1`.
    let old_line = stepup_fuzz::SESSION_KEYS
        .lines()
        .find(|l| l.starts_with("k1 "))
        .expect("k1");
    let old = SessionKeys::parse("k1", old_line).expect("k1");
    let claims = claims();
    let claims = claims.as_object().expect("object");
    let mut list = String::new();
    let dir = root.join("corpus/cookie");
    fs::create_dir_all(&dir).expect("corpus dir");
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, name) in COOKIE_NAMES.iter().enumerate() {
        let sealed = keys.seal_as(name, claims).expect("seal");
        list.push_str(&format!("{name} {sealed}\n"));
        // Mode 0 of the target: the value, opened under each name.
        seeds.push((
            format!("open-{i}"),
            [&[0u8][..], sealed.as_bytes()].concat(),
        ));
        // Mode 2: the value in a Cookie header among others.
        let header = format!("a=1; {name}={sealed}; b=\"x\"");
        seeds.push((
            format!("header-{i}"),
            [&[2u8][..], header.as_bytes()].concat(),
        ));
    }
    let sealed_old = old.seal(claims).expect("seal");
    list.push_str(&format!("{} {sealed_old}\n", COOKIE_NAMES[0]));
    seeds.push((
        "open-old-key".into(),
        [&[0u8][..], sealed_old.as_bytes()].concat(),
    ));
    fs::write(root.join("material/sealed-cookies.txt"), list).expect("write");
    for (name, bytes) in seeds {
        fs::write(dir.join(name), bytes).expect("write");
    }
}
