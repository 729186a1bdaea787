//! Token claims as the decision core sees them.
//!
//! `simulate` and `test` take claims as JSON (`--claims`) or from a JWT whose
//! payload is decoded **without verifying the signature** (`--token`; the
//! output says so). The runtime server verifies tokens first and hands the
//! same map to the same core. Times may be written relative to the
//! simulation's clock: `"auth_time": "-10m"`, `"exp": "+1h"`, `"now"`.

use base64::Engine;
use serde_json::{Map, Value};

/// Largest token accepted (header + payload + signature), as the runtime does.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A claims object.
pub type Claims = Map<String, Value>;

/// Claims whose value is a time in seconds since the epoch.
pub const TIME_CLAIMS: [&str; 4] = ["auth_time", "exp", "nbf", "iat"];

/// Parse claims JSON (an object).
pub fn parse_json(text: &str) -> Result<Claims, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!(
            "claims must be a JSON object, found {}",
            kind(&other)
        )),
        Err(e) => Err(format!("claims are not valid JSON: {e}")),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Decode a compact JWS's payload without checking its signature.
pub fn decode_unverified(token: &str) -> Result<Claims, String> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(format!(
            "token is {} bytes; the limit is {MAX_TOKEN_BYTES}",
            token.len()
        ));
    }
    let parts: Vec<&str> = token.trim().split('.').collect();
    if parts.len() != 3 {
        return Err(format!(
            "a JWT has 3 dot-separated parts, this has {}",
            parts.len()
        ));
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64
        .decode(parts[0].trim_end_matches('='))
        .map_err(|e| format!("JWT header is not base64url: {e}"))?;
    let header: Value =
        serde_json::from_slice(&header).map_err(|e| format!("JWT header is not JSON: {e}"))?;
    if !header.is_object() {
        return Err("JWT header is not a JSON object".into());
    }
    let payload = b64
        .decode(parts[1].trim_end_matches('='))
        .map_err(|e| format!("JWT payload is not base64url: {e}"))?;
    let text = std::str::from_utf8(&payload).map_err(|_| "JWT payload is not UTF-8".to_string())?;
    parse_json(text)
}

/// Replace relative times (`"-10m"`, `"+1h"`, `"now"`) by absolute seconds.
pub fn resolve_relative(claims: &mut Claims, now: i64) -> Result<(), String> {
    for key in TIME_CLAIMS {
        let Some(Value::String(s)) = claims.get(key) else {
            continue;
        };
        let s = s.trim();
        let t = if s == "now" {
            now
        } else if let Some(rest) = s.strip_prefix('-').or_else(|| s.strip_prefix('+')) {
            let d = humantime::parse_duration(rest)
                .map_err(|e| format!("{key}: {s:?} is not a relative time like -10m ({e})"))?;
            let secs =
                i64::try_from(d.as_secs()).map_err(|_| format!("{key}: {s:?} is too large"))?;
            if s.starts_with('-') {
                now - secs
            } else {
                now + secs
            }
        } else {
            continue; // a non-numeric string stays, and the core rejects it
        };
        claims.insert(key.to_string(), Value::from(t));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        let mut c = parse_json(r#"{"auth_time":"-10m","exp":"+1h","iat":"now","nbf":5}"#).unwrap();
        resolve_relative(&mut c, 10_000).unwrap();
        assert_eq!(c["auth_time"], 9_400);
        assert_eq!(c["exp"], 13_600);
        assert_eq!(c["iat"], 10_000);
        assert_eq!(c["nbf"], 5);
        let mut bad = parse_json(r#"{"auth_time":"-10 parsecs"}"#).unwrap();
        assert!(resolve_relative(&mut bad, 0).is_err());
    }

    #[test]
    fn jwt_payload_decodes_and_bad_input_is_explained() {
        // {"alg":"none"} . {"sub":"a","acr":"mfa"} . (empty)
        let t = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIiwiYWNyIjoibWZhIn0.";
        let c = decode_unverified(t).unwrap();
        assert_eq!(c["acr"], "mfa");
        assert!(
            decode_unverified("a.b")
                .unwrap_err()
                .contains("3 dot-separated")
        );
        assert!(
            decode_unverified("!!.e30.x")
                .unwrap_err()
                .contains("base64url")
        );
        assert!(
            decode_unverified(&"a".repeat(20_000))
                .unwrap_err()
                .contains("limit")
        );
        assert!(parse_json("[1]").unwrap_err().contains("object"));
    }
}
