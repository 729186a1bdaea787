//! The session cookie: what the browser sign-in issues and `/auth` accepts.
//!
//! Format (version 1), one cookie named [`COOKIE_NAME`]:
//!
//! ```text
//! v1.<kid>.<base64url(nonce[24] || XChaCha20-Poly1305(claims JSON) || tag[16])>
//! ```
//!
//! - The plaintext is the JSON claims object `/auth` needs (`sub`, `email`,
//!   `groups`, `acr`, `amr`, `auth_time`, `iss`, `iat`, `exp`); the decision
//!   core checks it exactly like a verified token's claims, `exp` included.
//! - [`HOST_CLAIM`] binds a session to the host it was signed in on: the
//!   `__Host-` prefix keeps browsers from sending the cookie elsewhere, but
//!   a copied value would open on every host behind the same stepup (one
//!   set of keys). `/auth` treats a session for another host (or bound to
//!   none) as no session ([`foreign_host`]), so sessions are per host.
//! - The associated data binds the ciphertext to the format version, the key
//!   id and the cookie name, so a value cannot be replayed under another
//!   cookie name or re-labelled with another key id.
//! - Nonces are 24 random bytes (XChaCha20's extended nonce makes random
//!   nonces safe for any realistic number of cookies per key).
//!
//! Keys come from a file (a mounted Secret), one key per line:
//! `<kid> <base64 of 32 random bytes>`; `#` starts a comment. The **first**
//! key seals new cookies; every listed key opens. Rotation: prepend a new
//! key, roll the pods, and drop the old key once sessions sealed with it
//! have expired. `stepup serve --session-keys FILE` loads it; a key id may
//! not repeat and every key must be exactly 32 bytes.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::claims::Claims;

/// Name of the session cookie. The `__Host-` prefix makes browsers accept it
/// only with `Secure`, `Path=/` and no `Domain`: it stays on the app host.
pub const COOKIE_NAME: &str = "__Host-stepup";

/// The session claim naming the host (as nginx routes it: lower case, no
/// port, no trailing dot) the session was signed in on.
pub const HOST_CLAIM: &str = "stepup_host";

/// Why session `claims` do not belong to `host` (the host nginx routed
/// on, or the sign-in request's), or `None` when they do. Hosts compare as
/// nginx selects servers ([`crate::controllers::ingress_nginx::routing::normalize_host`]).
pub fn foreign_host(claims: &Claims, host: &str) -> Option<String> {
    let want = crate::controllers::ingress_nginx::routing::normalize_host(host);
    match claims.get(HOST_CLAIM).and_then(serde_json::Value::as_str) {
        Some(h) if crate::controllers::ingress_nginx::routing::normalize_host(h) == want => None,
        Some(h) => Some(format!(
            "session cookie was issued for host {h:?}, not {want:?}; ignored (sessions are per host)"
        )),
        None => Some(
            "session cookie names no host (issued before sessions were bound to hosts); ignored"
                .into(),
        ),
    }
}

/// Largest cookie value opened (browsers cap a cookie near 4 KiB anyway).
pub const MAX_COOKIE_BYTES: usize = 4096;

const VERSION: &str = "v1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// One sealing key.
#[derive(Clone)]
struct Key {
    id: String,
    aead: XChaCha20Poly1305,
}

/// The keys of a session-keys file.
#[derive(Clone)]
pub struct SessionKeys {
    keys: Vec<Key>,
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("SessionKeys").field("ids", &ids).finish()
    }
}

/// Why a cookie was not accepted (logged; the client just sees a 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    /// Longer than [`MAX_COOKIE_BYTES`].
    #[error("session cookie is too large ({0} bytes)")]
    TooLarge(usize),
    /// Not `v1.<kid>.<data>`.
    #[error("session cookie is malformed")]
    Malformed,
    /// Sealed with a key id this server does not have.
    #[error("session cookie was sealed with unknown key {0:?}")]
    UnknownKey(String),
    /// Authentication failed: tampered, truncated or wrong key.
    #[error("session cookie failed authentication (tampered or foreign)")]
    Forged,
    /// Decrypted but not a JSON object.
    #[error("session cookie payload is not a claims object")]
    BadPayload,
}

impl SessionKeys {
    /// Parse a key file's text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<SessionKeys, String> {
        let mut keys: Vec<Key> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let at = format!("{file}:{}", n + 1);
            let mut parts = line.split_whitespace();
            let (Some(id), Some(b64), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("{at}: expected `<kid> <base64 key>`"));
            };
            if !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!("{at}: key id {id:?} may use only A-Z a-z 0-9 - _"));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(format!("{at}: key id {id:?} repeats"));
            }
            let bytes = STANDARD
                .decode(b64)
                .or_else(|_| URL_SAFE_NO_PAD.decode(b64))
                .map_err(|e| format!("{at}: key {id:?} is not base64: {e}"))?;
            let aead = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| {
                format!("{at}: key {id:?} must be 32 bytes, it has {}", bytes.len())
            })?;
            keys.push(Key {
                id: id.to_string(),
                aead,
            });
        }
        if keys.is_empty() {
            return Err(format!(
                "{file}: no keys (expected `<kid> <base64 key>` lines)"
            ));
        }
        Ok(SessionKeys { keys })
    }

    /// A fresh key line for a key file (`stepup install`, tests).
    pub fn generate_line(id: &str) -> String {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        format!("{id} {}", STANDARD.encode(k))
    }

    /// Id of the sealing key.
    pub fn current_id(&self) -> &str {
        self.keys.first().map_or("", |k| k.id.as_str())
    }

    fn aad(kid: &str, name: &str) -> Vec<u8> {
        format!("stepup-session|{VERSION}|{kid}|{name}").into_bytes()
    }

    /// Seal claims into a session cookie value with the current key.
    pub fn seal(&self, claims: &Claims) -> Result<String, String> {
        self.seal_as(COOKIE_NAME, claims)
    }

    /// Open a session cookie value.
    pub fn open(&self, value: &str) -> Result<Claims, CookieError> {
        self.open_as(COOKIE_NAME, value)
    }

    /// Seal a JSON object for the cookie `name` (the name is bound into the
    /// associated data: the value opens under that name only). The sign-in
    /// flow's own cookies use this with their names.
    pub fn seal_as(&self, name: &str, claims: &Claims) -> Result<String, String> {
        let key = self.keys.first().ok_or("no session key")?;
        let plain = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = Self::aad(&key.id, name);
        let sealed = key
            .aead
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .map_err(|_| "session cookie encryption failed".to_string())?;
        let mut data = Vec::with_capacity(NONCE_LEN + sealed.len());
        data.extend_from_slice(&nonce);
        data.extend_from_slice(&sealed);
        let value = format!("{VERSION}.{}.{}", key.id, URL_SAFE_NO_PAD.encode(data));
        if value.len() > MAX_COOKIE_BYTES {
            return Err(format!(
                "session would be {} bytes, more than a cookie holds ({MAX_COOKIE_BYTES})",
                value.len()
            ));
        }
        Ok(value)
    }

    /// Open a value sealed for the cookie `name`: authenticated decryption
    /// with the key its id names.
    pub fn open_as(&self, name: &str, value: &str) -> Result<Claims, CookieError> {
        if value.len() > MAX_COOKIE_BYTES {
            return Err(CookieError::TooLarge(value.len()));
        }
        let mut parts = value.splitn(3, '.');
        let (Some(VERSION), Some(kid), Some(data)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CookieError::Malformed);
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id == kid)
            .ok_or_else(|| CookieError::UnknownKey(kid.chars().take(40).collect()))?;
        let data = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| CookieError::Malformed)?;
        if data.len() < NONCE_LEN + TAG_LEN {
            return Err(CookieError::Malformed);
        }
        let (nonce, sealed) = data.split_at(NONCE_LEN);
        let aad = Self::aad(kid, name);
        let plain = key
            .aead
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| CookieError::Forged)?;
        match serde_json::from_slice::<serde_json::Value>(&plain) {
            Ok(serde_json::Value::Object(m)) => Ok(m),
            _ => Err(CookieError::BadPayload),
        }
    }
}

/// The value of cookie `name` in a request's `Cookie` headers, if present.
/// Headers are read as bytes: another cookie's non-ASCII value (browsers
/// send what a script set, UTF-8 or not) does not hide this one.
pub fn request_cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .find_map(|v| find_cookie_in(v.as_bytes(), name))
}

/// The value of cookie `name` in a `Cookie` request header, if present.
pub fn find_cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    find_cookie_in(header.as_bytes(), name)
}

/// The first `name=value` pair of a `Cookie` header decides. Only ASCII
/// whitespace is trimmed: a cookie named `\u{a0}__Host-stepup` is another
/// cookie (one a sibling domain may set; the `__Host-` prefix does not
/// protect it).
fn find_cookie_in<'a>(header: &'a [u8], name: &str) -> Option<&'a str> {
    let value = header.split(|&b| b == b';').find_map(|pair| {
        let eq = pair.iter().position(|&b| b == b'=')?;
        (pair[..eq].trim_ascii() == name.as_bytes()).then(|| pair[eq + 1..].trim_ascii())
    })?;
    std::str::from_utf8(value).ok().map(|v| v.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(text: &str) -> SessionKeys {
        SessionKeys::parse("keys", text).unwrap()
    }

    fn claims() -> Claims {
        json!({"sub": "alice", "acr": "urn:stepup:mfa", "auth_time": 1_700_000_000})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn round_trip_and_rotation() {
        let old = SessionKeys::generate_line("k1");
        let new = SessionKeys::generate_line("k2");
        let before = keys(&old);
        let sealed = before.seal(&claims()).unwrap();
        assert!(sealed.starts_with("v1.k1."));
        // After rotation (new key first), old cookies still open and new
        // ones are sealed with the new key.
        let after = keys(&format!("{new}\n{old}\n"));
        assert_eq!(after.open(&sealed).unwrap(), claims());
        assert!(after.seal(&claims()).unwrap().starts_with("v1.k2."));
        // Once the old key is dropped, its cookies no longer open.
        let dropped = keys(&new);
        assert_eq!(
            dropped.open(&sealed),
            Err(CookieError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn tampering_is_detected() {
        let k = keys(&SessionKeys::generate_line("k1"));
        let sealed = k.seal(&claims()).unwrap();
        // Flip one bit in every position of the data part.
        let prefix = "v1.k1.".len();
        let data = URL_SAFE_NO_PAD.decode(&sealed[prefix..]).unwrap();
        for i in 0..data.len() {
            let mut d = data.clone();
            d[i] ^= 1;
            let forged = format!("v1.k1.{}", URL_SAFE_NO_PAD.encode(&d));
            assert_eq!(k.open(&forged), Err(CookieError::Forged), "byte {i}");
        }
        // Truncated.
        let short = format!("v1.k1.{}", URL_SAFE_NO_PAD.encode(&data[..data.len() - 1]));
        assert_eq!(k.open(&short), Err(CookieError::Forged));
        let tiny = format!("v1.k1.{}", URL_SAFE_NO_PAD.encode(&data[..10]));
        assert_eq!(k.open(&tiny), Err(CookieError::Malformed));
    }

    #[test]
    fn a_value_opens_only_under_its_cookie_name() {
        let k = keys(&SessionKeys::generate_line("a"));
        let flow = k.seal_as("__Host-stepup-flow-x", &claims()).unwrap();
        assert_eq!(k.open_as("__Host-stepup-flow-x", &flow), Ok(claims()));
        assert_eq!(k.open(&flow), Err(CookieError::Forged));
        assert_eq!(
            k.open_as("__Host-stepup-flow-y", &flow),
            Err(CookieError::Forged)
        );
        let session = k.seal(&claims()).unwrap();
        assert_eq!(
            k.open_as("__Host-stepup-denied", &session),
            Err(CookieError::Forged)
        );
    }

    #[test]
    fn relabelled_key_id_fails() {
        // Same key material under two ids: the kid is bound by the AAD.
        let line = SessionKeys::generate_line("a");
        let b64 = line.split(' ').nth(1).unwrap();
        let k = keys(&format!("a {b64}\nb {b64}"));
        let sealed = k.seal(&claims()).unwrap();
        let relabelled = sealed.replacen("v1.a.", "v1.b.", 1);
        assert_eq!(k.open(&relabelled), Err(CookieError::Forged));
    }

    #[test]
    fn foreign_key_and_garbage() {
        let a = keys(&SessionKeys::generate_line("k1"));
        let b = keys(&SessionKeys::generate_line("k1"));
        let sealed = a.seal(&claims()).unwrap();
        assert_eq!(b.open(&sealed), Err(CookieError::Forged));
        for bad in ["", "v1", "v1.k1", "v2.k1.AAAA", "v1.k1.!!!", "v1.k1.%%%"] {
            assert!(a.open(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            a.open(&"x".repeat(MAX_COOKIE_BYTES + 1)),
            Err(CookieError::TooLarge(_))
        ));
    }

    #[test]
    fn key_file_errors_name_the_line() {
        for (text, want) in [
            ("", "no keys"),
            ("k1", "keys:1: expected"),
            ("k1 AAAA", "keys:1: key \"k1\" must be 32 bytes, it has 3"),
            ("k1 @@@", "keys:1: key \"k1\" is not base64"),
            ("k/1 AAAA", "may use only"),
        ] {
            let e = SessionKeys::parse("keys", text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let line = SessionKeys::generate_line("k1");
        let e = SessionKeys::parse("keys", &format!("# c\n{line}\n{line}\n")).unwrap_err();
        assert!(e.starts_with("keys:3: key id \"k1\" repeats"), "{e}");
    }

    /// Found by the `cookie` fuzz target: a non-ASCII byte anywhere in the
    /// Cookie header (another cookie's value) hid the session cookie, so
    /// that browser could never sign in.
    #[test]
    fn a_non_ascii_cookie_does_not_hide_the_session() {
        use axum::http::{HeaderMap, HeaderValue, header::COOKIE};
        for other in [&b"x=caf\xc3\xa9"[..], b"x=caf\xe9", b"\xff=1"] {
            let mut value = other.to_vec();
            value.extend_from_slice(b"; __Host-stepup=v1.k.x");
            let mut headers = HeaderMap::new();
            headers.append(COOKIE, HeaderValue::from_bytes(&value).unwrap());
            assert_eq!(request_cookie(&headers, COOKIE_NAME), Some("v1.k.x"));
        }
    }

    #[test]
    fn only_ascii_whitespace_is_trimmed_from_names() {
        assert_eq!(find_cookie("\u{a0}__Host-stepup=x", COOKIE_NAME), None);
        assert_eq!(find_cookie(" \t__Host-stepup = x ", COOKIE_NAME), Some("x"));
        // The first pair with the name decides, even when its value is
        // unusable.
        let mut headers = axum::http::HeaderMap::new();
        headers.append(
            axum::http::header::COOKIE,
            axum::http::HeaderValue::from_bytes(b"a=\xff; a=2").unwrap(),
        );
        assert_eq!(request_cookie(&headers, "a"), None);
    }

    #[test]
    fn cookie_header_lookup() {
        let h = "a=1; __Host-stepup=v1.k.x; b=\"2\"";
        assert_eq!(find_cookie(h, COOKIE_NAME), Some("v1.k.x"));
        assert_eq!(find_cookie(h, "b"), Some("2"));
        assert_eq!(find_cookie(h, "c"), None);
        assert_eq!(find_cookie("", "a"), None);
    }
}
