//! Bearer-token verification against the IdP's published keys.
//!
//! - **Discovery**: `{issuer}/.well-known/openid-configuration` gives
//!   `jwks_uri`; the document's `issuer` must equal the configured one
//!   (OpenID Connect Discovery §4.3).
//! - **JWKS cache**: keys are fetched at start (in the background: the
//!   server starts and `/readyz` says 503 while the IdP is unreachable),
//!   refreshed periodically, and refreshed when a token names an unknown
//!   `kid`, at most once per `--jwks-min-refresh` interval (one refresh in
//!   flight at a time; requests that waited on it re-check the new keys).
//!   A failed refresh keeps the old keys: the IdP being down never turns
//!   into an allow, and tokens signed with keys already known keep working.
//! - **Algorithms**: RS256/384/512, PS256/384/512, ES256/384, EdDSA. `none`
//!   and every HS* are refused before any cryptography (HS* with an RSA
//!   public key as the HMAC secret is the classic confusion attack; the
//!   JOSE crate would not even survive it). The header's `alg` must match
//!   the key's family and curve, and the JWK's own `alg` when it has one.
//!   JWKs with `use: enc` and symmetric (`oct`) keys are ignored.
//! - **Claims**: `iss` exact, `aud` one of the policy's audiences, `exp`,
//!   `nbf` with [`LEEWAY_SECS`] (`iat` and `auth_time` in the future are the
//!   decision core's check, with the same leeway); `exp`, `iss`, `aud` and `sub` are required.
//!   Tokens larger than [`MAX_TOKEN_BYTES`] are refused unparsed.
//! - **`crit`** (RFC 7515 §4.1.11): stepup understands no JWS extension, so a
//!   protected header with `crit` (any value, malformed included) is refused.
//!
//! The JOSE work is done by the `jsonwebtoken` crate (ring backend).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use prometheus_client::metrics::counter::Counter;
use serde_json::Value;

use crate::claims::{Claims, MAX_TOKEN_BYTES};
use crate::decision::LEEWAY_SECS;

use super::cache::{TokenCache, Verified};

/// Largest discovery or JWKS document read.
const MAX_DOC_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    P256,
    P384,
    Ed25519,
}

fn family_of(alg: Algorithm) -> Option<Family> {
    use Algorithm::*;
    match alg {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Some(Family::Rsa),
        ES256 => Some(Family::P256),
        ES384 => Some(Family::P384),
        EdDSA => Some(Family::Ed25519),
        HS256 | HS384 | HS512 => None,
    }
}

struct Key {
    kid: Option<String>,
    family: Family,
    /// The JWK's own `alg`, serialised (`"RS256"`), when it names one.
    alg: Option<String>,
    key: DecodingKey,
}

/// Parse a JWKS document into usable verification keys; returns the keys
/// and how many entries were skipped (and why, for the log).
fn parse_jwks(doc: &Value) -> Result<(Vec<Key>, Vec<String>), String> {
    let list = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("JWKS has no \"keys\" array")?;
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let jwk: Jwk = match serde_json::from_value(v.clone()) {
            Ok(j) => j,
            Err(e) => {
                skipped.push(format!("keys[{i}]: {e}"));
                continue;
            }
        };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            skipped.push(format!("keys[{i}]: use=enc"));
            continue;
        }
        let family = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Family::Rsa,
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => Family::P256,
                EllipticCurve::P384 => Family::P384,
                _ => {
                    skipped.push(format!("keys[{i}]: unsupported curve"));
                    continue;
                }
            },
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                Family::Ed25519
            }
            AlgorithmParameters::OctetKeyPair(_) => {
                skipped.push(format!("keys[{i}]: unsupported OKP curve"));
                continue;
            }
            AlgorithmParameters::OctetKey(_) => {
                skipped.push(format!("keys[{i}]: symmetric key ignored"));
                continue;
            }
        };
        let key = match DecodingKey::from_jwk(&jwk) {
            Ok(k) => k,
            Err(e) => {
                skipped.push(format!("keys[{i}]: {e}"));
                continue;
            }
        };
        let alg = jwk
            .common
            .key_algorithm
            .and_then(|a| serde_json::to_value(a).ok())
            .and_then(|v| v.as_str().map(str::to_string));
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            family,
            alg,
            key,
        });
    }
    Ok((keys, skipped))
}

/// Counters the verifier bumps (owned by the metrics registry).
#[derive(Clone, Default)]
pub struct RefreshCounters {
    /// Successful JWKS loads.
    pub ok: Counter,
    /// Failed loads (IdP down, bad document).
    pub error: Counter,
    /// Refreshes refused by the minimum interval.
    pub rate_limited: Counter,
}

struct RefreshState {
    last_attempt: Option<Instant>,
    jwks_uri: Option<String>,
}

/// The endpoints of the IdP that the browser sign-in uses, from discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `authorization_endpoint`.
    pub authorization: String,
    /// `token_endpoint`.
    pub token: String,
}

/// Verifier settings.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// Expected `iss` and discovery base.
    pub issuer: String,
    /// Accepted `aud` values.
    pub audiences: Vec<String>,
    /// Minimum time between two JWKS fetches triggered by unknown `kid`s.
    pub min_refresh: Duration,
    /// Verified-token cache size.
    pub cache_size: usize,
    /// Extra CA certificates (PEM) for the IdP's TLS.
    pub ca_pem: Option<Vec<u8>>,
    /// Timeout of one discovery/JWKS request.
    pub fetch_timeout: Duration,
}

/// Verifies bearer tokens; shared by all requests.
pub struct Verifier {
    cfg: VerifierConfig,
    http: reqwest::Client,
    keys: RwLock<Arc<Vec<Key>>>,
    endpoints: RwLock<Option<Arc<Endpoints>>>,
    loaded: AtomicBool,
    state: tokio::sync::Mutex<RefreshState>,
    cache: TokenCache,
    counters: RefreshCounters,
}

impl Verifier {
    /// A verifier with no keys yet (call [`Verifier::refresh`]).
    pub fn new(cfg: VerifierConfig, counters: RefreshCounters) -> Result<Verifier, String> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(cfg.fetch_timeout)
            .timeout(cfg.fetch_timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("stepup/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &cfg.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("idp.caFile: {e}"))?;
            if certs.is_empty() {
                return Err("idp.caFile holds no PEM certificate".into());
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let http = b.build().map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Verifier {
            cache: TokenCache::new(cfg.cache_size),
            cfg,
            http,
            keys: RwLock::new(Arc::new(Vec::new())),
            endpoints: RwLock::new(None),
            loaded: AtomicBool::new(false),
            state: tokio::sync::Mutex::new(RefreshState {
                last_attempt: None,
                jwks_uri: None,
            }),
            counters,
        })
    }

    /// Whether keys have been loaded at least once.
    pub fn ready(&self) -> bool {
        self.loaded.load(Ordering::Relaxed)
    }

    /// Number of usable keys held.
    pub fn key_count(&self) -> usize {
        self.keys.read().map_or(0, |k| k.len())
    }

    /// Tokens in the verified-token cache.
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }

    /// Install keys from a JWKS document (tests, and every fetch).
    pub fn install(&self, jwks: &Value) -> Result<usize, String> {
        let (keys, skipped) = parse_jwks(jwks)?;
        for s in &skipped {
            tracing::warn!(reason = %s, "JWKS entry skipped");
        }
        if keys.is_empty() {
            return Err("JWKS has no usable signing key".into());
        }
        let n = keys.len();
        if let Ok(mut k) = self.keys.write() {
            *k = Arc::new(keys);
        }
        self.loaded.store(true, Ordering::Relaxed);
        Ok(n)
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let mut resp = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", resp.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| format!("GET {url}: {e}"))? {
            if body.len() + chunk.len() > MAX_DOC_BYTES {
                return Err(format!(
                    "GET {url}: document larger than {MAX_DOC_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not JSON: {e}"))
    }

    async fn fetch(&self, st: &mut RefreshState) -> Result<usize, String> {
        let jwks_uri = match &st.jwks_uri {
            Some(u) => u.clone(),
            None => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.cfg.issuer.trim_end_matches('/')
                );
                let doc = self.get_json(&url).await?;
                let iss = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
                if iss != self.cfg.issuer {
                    return Err(format!(
                        "discovery issuer {iss:?} differs from the policy's {:?}",
                        self.cfg.issuer
                    ));
                }
                let u = doc
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or("discovery document has no jwks_uri")?
                    .to_string();
                let endpoint = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
                if let (Some(authorization), Some(token)) = (
                    endpoint("authorization_endpoint"),
                    endpoint("token_endpoint"),
                ) {
                    if let Ok(mut e) = self.endpoints.write() {
                        *e = Some(Arc::new(Endpoints {
                            authorization,
                            token,
                        }));
                    }
                }
                st.jwks_uri = Some(u.clone());
                u
            }
        };
        match self.get_json(&jwks_uri).await {
            Ok(doc) => self.install(&doc),
            Err(e) => {
                // Re-discover next time: the IdP may have moved its keys.
                st.jwks_uri = None;
                Err(e)
            }
        }
    }

    /// Fetch the keys now unless a fetch ended within the minimum
    /// interval (`force` ignores the interval: start-up and the periodic
    /// refresh).
    pub async fn refresh(&self, force: bool) -> Result<usize, String> {
        let mut st = self.state.lock().await;
        self.refresh_locked(&mut st, force).await
    }

    async fn refresh_locked(&self, st: &mut RefreshState, force: bool) -> Result<usize, String> {
        if !force {
            if let Some(t) = st.last_attempt {
                if t.elapsed() < self.cfg.min_refresh {
                    self.counters.rate_limited.inc();
                    return Err("JWKS refresh rate-limited".into());
                }
            }
        }
        st.last_attempt = Some(Instant::now());
        let result = self.fetch(st).await;
        // The interval counts from the end of the attempt: requests that
        // queued behind a slow fetch (up to the fetch timeout) are
        // rate-limited instead of each starting another one in turn.
        st.last_attempt = Some(Instant::now());
        match result {
            Ok(n) => {
                self.counters.ok.inc();
                tracing::info!(keys = n, "JWKS loaded");
                Ok(n)
            }
            Err(e) => {
                self.counters.error.inc();
                tracing::warn!(error = %e, "JWKS fetch failed; keeping the keys held");
                Err(e)
            }
        }
    }

    fn find(&self, kid: Option<&str>, family: Family) -> Result<Option<KeyRef>, String> {
        let keys = self
            .keys
            .read()
            .map_err(|_| "key store unavailable".to_string())?
            .clone();
        let idx = match kid {
            Some(k) => keys.iter().position(|x| x.kid.as_deref() == Some(k)),
            None => {
                let mut same = keys.iter().enumerate().filter(|(_, x)| x.family == family);
                match (same.next(), same.next()) {
                    (Some((i, _)), None) => Some(i),
                    (Some(_), Some(_)) => {
                        return Err("token has no kid and several keys could match".into());
                    }
                    _ => None,
                }
            }
        };
        Ok(idx.map(|i| KeyRef { keys, i }))
    }

    /// The IdP's authorization and token endpoints (from discovery; a
    /// discovery is attempted, rate-limited, when none is known yet).
    pub async fn endpoints(&self) -> Result<Arc<Endpoints>, String> {
        let known = |v: &Self| v.endpoints.read().ok().and_then(|e| e.clone());
        if let Some(e) = known(self) {
            return Ok(e);
        }
        let why = match self.refresh(false).await {
            Ok(_) => {
                "its discovery document has no authorization_endpoint or token_endpoint".to_string()
            }
            Err(e) => e,
        };
        known(self).ok_or_else(|| format!("identity provider not available: {why}"))
    }

    /// The HTTP client used for the IdP (timeouts and CA as configured).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Verify a bearer token; cached until `exp` once verified.
    pub async fn verify(&self, token: &str, now: i64) -> Result<Verified, String> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(format!("token larger than {MAX_TOKEN_BYTES} bytes"));
        }
        if let Some(c) = self.cache.get(token, now) {
            return Ok(c);
        }
        let claims = Arc::new(
            self.decode(token, &self.cfg.audiences, &["exp", "iss", "aud", "sub"])
                .await?,
        );
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(now);
        self.cache.put(token, claims.clone(), exp, now);
        Ok(claims)
    }

    /// Verify an ID token from the token endpoint (OpenID Connect Core
    /// §3.1.3.7): signature with the IdP's keys, `iss`, `aud` containing
    /// `client_id` (and `azp` equal to it when there are several
    /// audiences), `exp`/`iat` present, `iat` not later than `now` plus
    /// [`LEEWAY_SECS`]. The nonce is the caller's check.
    /// Never cached.
    pub async fn verify_id_token(
        &self,
        token: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Claims, String> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(format!("ID token larger than {MAX_TOKEN_BYTES} bytes"));
        }
        let claims = self
            .decode(
                token,
                &[client_id.to_string()],
                &["exp", "iss", "aud", "sub"],
            )
            .await?;
        match claims.get("iat").and_then(Value::as_f64) {
            None => return Err("ID token has no iat".into()),
            Some(iat) if iat > now.saturating_add(LEEWAY_SECS) as f64 => {
                return Err("ID token iat is in the future".into());
            }
            Some(_) => {}
        }
        if let Some(Value::Array(auds)) = claims.get("aud") {
            if auds.len() > 1 && claims.get("azp").and_then(Value::as_str) != Some(client_id) {
                return Err("ID token has several audiences and azp is not this client".into());
            }
        }
        if let Some(azp) = claims.get("azp") {
            if azp.as_str() != Some(client_id) {
                return Err("ID token azp is not this client".into());
            }
        }
        Ok(claims)
    }

    async fn decode(
        &self,
        token: &str,
        audiences: &[String],
        required: &[&str],
    ) -> Result<Claims, String> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| format!("malformed token: {e}"))?;
        refuse_crit(token)?;
        let alg = header.alg;
        let family = family_of(alg)
            .ok_or_else(|| format!("algorithm {alg:?} is not accepted (asymmetric only)"))?;
        let kid = header.kid.as_deref();
        if kid.is_some_and(|k| k.len() > 256) {
            return Err("kid too long".into());
        }
        let found = match self.find(kid, family)? {
            Some(k) => k,
            None => {
                // Unknown kid: one rate-limited refresh, then decide.
                let mut st = self.state.lock().await;
                match self.find(kid, family)? {
                    Some(k) => k,
                    None => {
                        let why = match self.refresh_locked(&mut st, false).await {
                            Ok(_) => String::new(),
                            Err(e) => format!(" ({e})"),
                        };
                        drop(st);
                        self.find(kid, family)?.ok_or_else(|| match kid {
                            Some(k) => format!("unknown signing key kid={k}{why}"),
                            None => format!("no signing key for {alg:?}{why}"),
                        })?
                    }
                }
            }
        };
        let key = found.key();
        if key.family != family {
            return Err(format!(
                "algorithm {alg:?} does not match the key {} ({:?})",
                key.kid.as_deref().unwrap_or("?"),
                key.family
            ));
        }
        if let Some(ka) = &key.alg {
            let ha = serde_json::to_value(alg).ok();
            if ha.as_ref().and_then(Value::as_str) != Some(ka.as_str()) {
                return Err(format!("algorithm {alg:?} differs from the key's alg {ka}"));
            }
        }
        let mut v = Validation::new(alg);
        v.set_issuer(&[self.cfg.issuer.as_str()]);
        v.set_audience(audiences);
        v.leeway = LEEWAY_SECS.unsigned_abs();
        v.validate_nbf = true;
        v.set_required_spec_claims(required);
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &v).map_err(describe)?;
        Ok(data.claims)
    }
}

/// RFC 7515 §4.1.11: a recipient must reject a JWS whose `crit` names an
/// extension it does not understand. stepup understands none, and the JOSE
/// crate ignores `crit` (its header type has no such field), so any `crit`
/// in the protected header, well-formed or not, is refused here, before a
/// signature is checked.
fn refuse_crit(token: &str) -> Result<(), String> {
    use base64::Engine;
    let segment = token.split('.').next().unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| "malformed token: header is not base64url".to_string())?;
    let header: serde_json::Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|_| "malformed token: header is not a JSON object".to_string())?;
    match header.get("crit") {
        None => Ok(()),
        Some(Value::Array(names))
            if !names.is_empty()
                && names
                    .iter()
                    .all(|n| n.as_str().is_some_and(|s| !s.is_empty())) =>
        {
            let list: Vec<String> = names
                .iter()
                .filter_map(Value::as_str)
                .take(8)
                .map(|n| n.chars().take(40).collect())
                .collect();
            Err(format!(
                "token header crit names extensions stepup does not understand: {} (RFC 7515 §4.1.11)",
                list.join(", ")
            ))
        }
        Some(_) => Err(
            "token header crit is malformed (must be a non-empty array of names; RFC 7515 §4.1.11)"
                .into(),
        ),
    }
}

struct KeyRef {
    keys: Arc<Vec<Key>>,
    i: usize,
}

impl KeyRef {
    fn key(&self) -> &Key {
        &self.keys[self.i]
    }
}

fn describe(e: jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature => "signature does not verify".into(),
        K::ExpiredSignature => "token expired".into(),
        K::ImmatureSignature => "token is not valid yet (nbf)".into(),
        K::InvalidIssuer => "wrong issuer (iss)".into(),
        K::InvalidAudience => "wrong audience (aud)".into(),
        K::MissingRequiredClaim(c) => format!("token has no {c}"),
        K::InvalidAlgorithm => "algorithm does not match the key".into(),
        K::Base64(_) => "token is not base64url".into(),
        K::Json(_) | K::Utf8(_) => "token payload is not a JSON object".into(),
        _ => format!("token rejected: {e}"),
    }
}

#[cfg(test)]
mod tests;
