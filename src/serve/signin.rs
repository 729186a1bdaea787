//! Browser sign-in under the policy's `signinPath` on each application host
//! (SPEC §2 routes `<signinPath>` of every protected host to stepup).
//!
//! - `GET <signinPath>/signin?level=L&rd=URL` (where ingress-nginx's
//!   `auth-signin` sends a browser after a 401): checks `level` and `rd`,
//!   then starts an OpenID Connect authorization-code flow with PKCE
//!   (S256), `state` and `nonce`, asking for the level: `acr_values` from
//!   its `acr`, `max_age` from its `maxAge` (for a `human` level without
//!   one, `claims` asking for `auth_time` as essential), and `prompt=login` when the
//!   current session is older than that `maxAge` (freshness is the reason
//!   for this sign-in, and some IdPs ignore `max_age`). The flow's secrets
//!   live in a sealed cookie named after the state
//!   (`__Host-stepup-flow-<state>`, 10 minutes), so sign-ins started in
//!   several tabs do not overwrite each other. Requests a browser marks as
//!   not being a page navigation (`Sec-Fetch-Mode` other than `navigate`:
//!   images, `fetch`) get a 401 page and no cookie, so a page full of
//!   protected images cannot pile up flow cookies. A session that already
//!   meets the level goes straight back to `rd`.
//! - `GET <signinPath>/callback?code&state`: the flow cookie must exist
//!   (it is deleted on every outcome, so a replayed `state` fails), match
//!   the state, be unexpired and belong to this host. The code is
//!   exchanged at the token endpoint (client secret if configured, PKCE
//!   verifier), the ID token verified (signature with the IdP's keys,
//!   `iss`, `aud`/`azp` = client id, `exp`, `iat`, and `nonce` = the
//!   flow's), and its `acr`/`amr`/`auth_time`/claims checked against the
//!   level with the same decision core as `/auth` — URL parameters are the
//!   user's to edit, the ID token is not. A different `sub` than the
//!   current session's is refused (a step-up keeps the identity).
//! - The session cookie (`__Host-stepup`, `Secure`, `HttpOnly`,
//!   `SameSite=Lax`, `--session-ttl`) holds the claims `/auth` needs, sealed
//!   with the session keys ([`super::session`]).
//! - When the IdP delivers less than the level asks (`acr` too weak, or
//!   `error=unmet_authentication_requirements`), the login is kept as the
//!   session, a page says what was missing, and a sealed
//!   `__Host-stepup-denied` cookie makes `/auth` answer 403 instead of 401
//!   for that level for `--step-up-cooldown`: ingress-nginx does not send
//!   the browser to sign-in again, so there is no 401 → sign-in → 401 loop.
//!   Following the page's "try again" link starts a fresh sign-in and
//!   clears it.
//! - `GET|POST <signinPath>/signout?rd=URL`: deletes stepup's cookies, then
//!   goes to `rd` when it passes the same check, else shows a page. The
//!   IdP's own session is not ended (a later sign-in may be silent).
//! - `rd` is checked by [`super::redirect::check_rd`]: only this host or a
//!   host a policy rule names.
//!
//! Errors are short HTML pages a person can act on, with the reason and a
//! link; they are served with `Cache-Control: no-store`, a CSP that allows
//! no scripts, `Referrer-Policy: no-referrer` (the callback URL carries the
//! code) and `X-Frame-Options: DENY`.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::{Value, json};

use crate::claims::Claims;
use crate::decision::{Check, check};
use crate::policy::{Level, Need, Policy};

use super::AppState;
use super::redirect::check_rd;
use super::session::{COOKIE_NAME, HOST_CLAIM, SessionKeys, foreign_host, request_cookie};

/// Prefix of the flow cookies' names (the state follows).
pub const FLOW_COOKIE_PREFIX: &str = "__Host-stepup-flow-";
/// Name of the cookie that remembers a level the IdP did not deliver.
pub const DENIED_COOKIE: &str = "__Host-stepup-denied";
/// How long a sign-in may take, from `/signin` to `/callback`.
pub const FLOW_TTL_SECS: i64 = 600;
/// Largest token endpoint answer read.
const MAX_TOKEN_RESPONSE: usize = 256 * 1024;

/// Sign-in settings (present when the sign-in is configured).
#[derive(Debug, Clone)]
pub struct Config {
    /// OAuth client id.
    pub client_id: String,
    /// Client secret (`client_secret_basic`); a public client without it.
    pub client_secret: Option<String>,
    /// Scopes of the authorization request.
    pub scopes: String,
    /// Session cookie lifetime, seconds.
    pub session_ttl: i64,
    /// Seconds `/auth` answers 403 for a level the IdP did not deliver.
    pub cooldown: i64,
}

/// Build the sign-in configuration from the policy; `Ok(Err(why))` when
/// the sign-in is simply not configured (the endpoints then answer 503 with
/// that reason), `Err` when it is configured but broken (start-up fails).
pub fn config(
    policy: &Policy,
    sessions: Option<&SessionKeys>,
    scopes: &str,
    session_ttl: i64,
    cooldown: i64,
) -> Result<Result<Config, String>, String> {
    let Some(idp) = &policy.idp else {
        return Ok(Err("the policy has no spec.idp".into()));
    };
    let Some(client_id) = idp.client_id.clone().filter(|c| !c.is_empty()) else {
        return Ok(Err("spec.idp.clientID is not set".into()));
    };
    let client_secret = match (&idp.client_secret_file, &idp.client_secret_env) {
        (Some(f), _) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| format!("spec.idp.clientSecretFile {f}: {e}"))?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        ),
        (None, Some(v)) => Some(std::env::var(v).map_err(|_| {
            format!("spec.idp.clientSecretEnv: environment variable {v} is not set")
        })?),
        (None, None) => None,
    };
    if client_secret.as_deref() == Some("") {
        return Err("the client secret is empty".into());
    }
    if sessions.is_none() {
        return Ok(Err(
            "--session-keys is not set: sign-in needs keys to seal its cookies".into(),
        ));
    }
    if !scopes.split(' ').any(|s| s == "openid") {
        return Err(format!("--signin-scopes {scopes:?} must include openid"));
    }
    Ok(Ok(Config {
        client_id,
        client_secret,
        scopes: scopes.to_string(),
        session_ttl,
        cooldown,
    }))
}

/// A response and what to log and count about it.
struct Outcome {
    resp: Response,
    outcome: &'static str,
    level: String,
    sub: String,
    reason: String,
}

impl Outcome {
    fn new(resp: Response, outcome: &'static str) -> Outcome {
        Outcome {
            resp,
            outcome,
            level: String::new(),
            sub: String::new(),
            reason: String::new(),
        }
    }

    fn level(mut self, level: &str) -> Outcome {
        self.level = level.to_string();
        self
    }

    fn sub(mut self, sub: &str) -> Outcome {
        self.sub = sub.to_string();
        self
    }

    fn reason(mut self, reason: impl Into<String>) -> Outcome {
        self.reason = reason.into();
        self
    }
}

/// A "Sign-in failed" page for `level` with a "Try again" link to `retry`.
fn failed(
    status: StatusCode,
    text: &str,
    retry: Option<&str>,
    outcome: &'static str,
    level: &str,
) -> Outcome {
    Outcome::new(
        page(
            status,
            "Sign-in failed",
            &[text],
            retry.map(|r| (r, "Try again")),
        ),
        outcome,
    )
    .level(level)
}

/// Answer a request under the sign-in path, or `None` when the path is not
/// one of the sign-in endpoints.
pub async fn handle(
    st: &AppState,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    now: i64,
) -> Option<Response> {
    let rest = path.strip_prefix(st.signin_prefix.as_str())?;
    let step: &'static str = match rest {
        "/signin" => "signin",
        "/callback" => "callback",
        "/signout" => "signout",
        _ => return None,
    };
    let allowed = match step {
        "signout" => method == Method::GET || method == Method::POST,
        _ => method == Method::GET || method == Method::HEAD,
    };
    let out = if !allowed {
        Outcome::new(
            page(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                &[&format!("{method} is not used here.")],
                None,
            ),
            "bad_request",
        )
    } else {
        match (&st.signin, &st.sessions) {
            (Ok(cfg), Some(keys)) => {
                let cx = Cx {
                    st,
                    cfg,
                    keys,
                    headers,
                    now,
                    query: query.unwrap_or(""),
                };
                match step {
                    "signin" => cx.signin().await,
                    "callback" => cx.callback().await,
                    _ => cx.signout(),
                }
            }
            _ => {
                let why = match &st.signin {
                    Err(w) => w.clone(),
                    Ok(_) => "no session keys".into(),
                };
                Outcome::new(
                    page(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Sign-in is not available",
                        &["This site's sign-in is not configured. Please tell its operators."],
                        None,
                    ),
                    "unavailable",
                )
                .reason(why)
            }
        }
    };
    st.metrics.signin(step, out.outcome);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    tracing::info!(step, outcome = out.outcome, status = out.resp.status().as_u16(),
        host = %host.chars().take(255).collect::<String>(), level = %out.level, sub = %out.sub,
        reason = %out.reason, "signin");
    Some(out.resp)
}

/// One request's context.
struct Cx<'a> {
    st: &'a AppState,
    cfg: &'a Config,
    keys: &'a SessionKeys,
    headers: &'a HeaderMap,
    now: i64,
    query: &'a str,
}

/// The first value of `name` in a query string (form-decoded).
fn param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Random bytes as base64url.
fn random(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// PKCE S256 code challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// The request's host if it is a plain `host[:port]` (what ingress-nginx
/// passes as `Host`), lower-cased.
pub fn request_host(headers: &HeaderMap) -> Result<String, String> {
    let h = headers
        .get(header::HOST)
        .ok_or("the request has no Host header")?
        .to_str()
        .map_err(|_| "the Host header is not ASCII".to_string())?;
    let (name, port) = match h.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (h, None),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if !name_ok || !port_ok {
        return Err(format!(
            "Host {:?} is not a host name",
            h.chars().take(80).collect::<String>()
        ));
    }
    Ok(h.to_ascii_lowercase())
}

/// `acr_values` of a level: its acceptable `acr` values, space-separated.
fn acr_values(level: &Level) -> Option<String> {
    level
        .req
        .acr
        .as_ref()
        .filter(|a| !a.is_empty())
        .map(|a| a.iter().cloned().collect::<Vec<_>>().join(" "))
}

/// The authorization request URL (OpenID Connect Core §3.1.2.1).
#[allow(clippy::too_many_arguments)]
pub fn authorization_url(
    endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    scopes: &str,
    state: &str,
    nonce: &str,
    challenge: &str,
    level: &Level,
    prompt_login: bool,
) -> Result<String, String> {
    let mut u = url::Url::parse(endpoint)
        .map_err(|e| format!("authorization_endpoint {endpoint:?}: {e}"))?;
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", scopes)
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(a) = acr_values(level) {
            q.append_pair("acr_values", &a);
        }
        if let Some(m) = level.req.max_age {
            q.append_pair("max_age", &m.to_string());
        } else if level.req.human {
            // auth_time is the evidence `human` needs; an IdP must send it
            // when max_age is asked, otherwise when requested as essential
            // (OpenID Connect Core §2, §5.5.1).
            q.append_pair("claims", r#"{"id_token":{"auth_time":{"essential":true}}}"#);
        }
        if prompt_login {
            q.append_pair("prompt", "login");
        }
    }
    Ok(u.into())
}

/// A `Set-Cookie` value for one of stepup's `__Host-` cookies.
fn set_cookie(name: &str, value: &str, max_age: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Lax"
    ))
    .ok()
}

/// A `Set-Cookie` that deletes cookie `name`.
fn clear_cookie(name: &str) -> Option<HeaderValue> {
    set_cookie(name, "", 0)
}

/// Escape text for HTML; control characters (a newline in an IdP's
/// error description) become spaces.
pub fn escape_html(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    crate::render::escape_html(&flat)
}

/// A small accessible HTML page: title, paragraphs, an optional link.
pub fn page(
    status: StatusCode,
    title: &str,
    paras: &[&str],
    link: Option<(&str, &str)>,
) -> Response {
    let mut body = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>body{{font-family:system-ui,sans-serif;max-width:36rem;\
         margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}}\
         a{{color:#0b57d0}}</style>\n</head>\n<body>\n<main>\n<h1>{t}</h1>\n",
        t = escape_html(title)
    );
    for p in paras {
        body.push_str(&format!("<p>{}</p>\n", escape_html(p)));
    }
    if let Some((href, text)) = link {
        body.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>\n",
            escape_html(href),
            escape_html(text)
        ));
    }
    body.push_str("</main>\n</body>\n</html>\n");
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(h);
    r
}

fn secure_headers(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// A 302 to `location`.
fn redirect(location: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    secure_headers(h);
    r
}

fn add_cookie(r: &mut Response, v: Option<HeaderValue>) {
    if let Some(v) = v {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The claims the session keeps from an ID token: identity, the login's
/// strength, and every claim a level of the policy checks; bound to `host`
/// ([`HOST_CLAIM`]), the host the sign-in ran on.
pub fn session_claims(
    id: &Claims,
    policy: &Policy,
    issuer: &str,
    host: &str,
    now: i64,
    ttl: i64,
) -> Claims {
    let mut keep: Vec<&str> = vec![
        "sub",
        "email",
        "email_verified",
        "preferred_username",
        "name",
        "groups",
        "acr",
        "amr",
        "auth_time",
    ];
    for l in &policy.levels {
        keep.extend(l.req.claims.keys().map(String::as_str));
    }
    let mut out = Claims::new();
    for k in keep {
        if let Some(v) = id.get(k) {
            out.insert(k.to_string(), v.clone());
        }
    }
    out.insert("iss".into(), Value::from(issuer));
    out.insert(
        HOST_CLAIM.into(),
        Value::from(crate::controllers::ingress_nginx::routing::normalize_host(host).as_ref()),
    );
    out.insert("iat".into(), Value::from(now));
    out.insert("exp".into(), Value::from(now.saturating_add(ttl)));
    out
}

/// Whether the denied cookie in `headers` covers `need` for `sub` at `now`;
/// `Some(reason)` when `/auth` should answer 403 instead of a step-up.
pub fn cooldown(
    keys: &SessionKeys,
    headers: &HeaderMap,
    need: &Need,
    sub: Option<&str>,
    now: i64,
) -> Option<String> {
    let Need::Auth { levels, .. } = need else {
        return None;
    };
    let value = request_cookie(headers, DENIED_COOKIE)?;
    let c = keys.open_as(DENIED_COOKIE, value).ok()?;
    let level = c.get("level").and_then(Value::as_str)?;
    let until = c.get("exp").and_then(Value::as_i64)?;
    let for_sub = c.get("sub").and_then(Value::as_str);
    if until < now || !levels.iter().any(|l| l == level) {
        return None;
    }
    if for_sub.is_some() && for_sub != sub {
        return None;
    }
    Some(format!(
        "the identity provider did not deliver level {level} at the last sign-in; \
         not asking again for {}s",
        until - now
    ))
}

impl Cx<'_> {
    fn policy(&self) -> &Policy {
        &self.st.policy
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        request_cookie(self.headers, name)
    }

    /// The current session's claims, if a valid unexpired one for this
    /// host is present.
    fn session(&self) -> Option<Claims> {
        let c = self.keys.open(self.cookie(COOKIE_NAME)?).ok()?;
        let host = request_host(self.headers).ok()?;
        if foreign_host(&c, &host).is_some() {
            return None;
        }
        let exp = c.get("exp").and_then(Value::as_i64)?;
        (exp >= self.now).then_some(c)
    }

    fn bad(&self, title: &str, text: &str, outcome: &'static str, home: Option<&str>) -> Outcome {
        Outcome::new(
            page(
                StatusCode::BAD_REQUEST,
                title,
                &[text],
                home.map(|h| (h, "Go back to the site")),
            ),
            outcome,
        )
        .reason(text)
    }

    async fn signin(&self) -> Outcome {
        let host = match request_host(self.headers) {
            Ok(h) => h,
            Err(e) => return self.bad("Bad sign-in request", &e, "bad_request", None),
        };
        let home = format!("https://{host}/");
        let level_name = param(self.query, "level").unwrap_or_default();
        let Some(level) = self.policy().level(&level_name).cloned() else {
            let text = if level_name.is_empty() {
                "The sign-in link names no level.".to_string()
            } else {
                format!(
                    "The sign-in link asks for level {:?}, which this site does not define.",
                    level_name.chars().take(64).collect::<String>()
                )
            };
            return self.bad("Bad sign-in request", &text, "bad_request", Some(&home));
        };
        let rd = match param(self.query, "rd") {
            None => home.clone(),
            Some(rd) => match check_rd(&rd, "https", &host, self.policy()) {
                Ok(u) => u,
                Err(e) => {
                    return self
                        .bad(
                            "Bad sign-in request",
                            &format!("The page to return to after sign-in is not allowed: {e}."),
                            "bad_request",
                            Some(&home),
                        )
                        .level(&level.name);
                }
            },
        };
        let session = self.session();
        if let Some(s) = &session {
            if matches!(check(&level.need, Some(s), self.now), Check::Allow(_)) {
                let sub = s.get("sub").and_then(Value::as_str).unwrap_or("");
                return Outcome::new(redirect(&rd), "ok")
                    .level(&level.name)
                    .sub(sub)
                    .reason("session already meets the level");
            }
        }
        let mode = self
            .headers
            .get("sec-fetch-mode")
            .and_then(|v| v.to_str().ok());
        if mode.is_some_and(|m| m != "navigate") {
            let mut r = page(
                StatusCode::UNAUTHORIZED,
                "Sign-in required",
                &["Open the page itself to sign in."],
                Some((&rd, "Open the page")),
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"stepup\""),
            );
            return Outcome::new(r, "bad_request")
                .level(&level.name)
                .reason("not a page navigation (Sec-Fetch-Mode); no flow started");
        }
        let endpoints = match self.st.verifier.endpoints().await {
            Ok(e) => e,
            Err(e) => {
                return Outcome::new(
                    page(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Sign-in is unavailable",
                        &["The identity provider cannot be reached right now. Please try again in a minute."],
                        Some((&rd, "Try again")),
                    ),
                    "unavailable",
                )
                .level(&level.name)
                .reason(e);
            }
        };
        let state = random(16);
        let nonce = random(16);
        let verifier = random(32);
        let prompt_login = match (level.req.max_age, &session) {
            (Some(max), Some(s)) => s.get("auth_time").and_then(Value::as_i64).is_none_or(|t| {
                self.now.saturating_sub(t) > i64::try_from(max).unwrap_or(i64::MAX)
            }),
            _ => false,
        };
        let redirect_uri = format!("https://{host}{}/callback", self.st.signin_prefix);
        let url = match authorization_url(
            &endpoints.authorization,
            &self.cfg.client_id,
            &redirect_uri,
            &self.cfg.scopes,
            &state,
            &nonce,
            &pkce_challenge(&verifier),
            &level,
            prompt_login,
        ) {
            Ok(u) => u,
            Err(e) => {
                return Outcome::new(
                    page(
                        StatusCode::BAD_GATEWAY,
                        "Sign-in is unavailable",
                        &["The identity provider's configuration is not usable. Please tell this site's operators."],
                        None,
                    ),
                    "idp_error",
                )
                .reason(e);
            }
        };
        let flow = json!({
            "state": state, "nonce": nonce, "verifier": verifier, "level": level.name,
            "rd": rd, "host": host, "exp": self.now + FLOW_TTL_SECS,
        });
        let name = format!("{FLOW_COOKIE_PREFIX}{state}");
        let sealed = match flow
            .as_object()
            .ok_or_else(|| "flow is not an object".to_string())
            .and_then(|f| self.keys.seal_as(&name, f))
        {
            Ok(s) => s,
            Err(e) => {
                return self.bad(
                    "Bad sign-in request",
                    &format!("The sign-in cannot start: {e}."),
                    "bad_request",
                    Some(&home),
                );
            }
        };
        let mut r = redirect(&url);
        add_cookie(&mut r, set_cookie(&name, &sealed, FLOW_TTL_SECS));
        // An explicit sign-in clears a cool-down: the person asked again.
        if self.cookie(DENIED_COOKIE).is_some() {
            add_cookie(&mut r, clear_cookie(DENIED_COOKIE));
        }
        let sub = session
            .as_ref()
            .and_then(|s| s.get("sub"))
            .and_then(Value::as_str)
            .unwrap_or("");
        Outcome::new(r, "redirect")
            .level(&level.name)
            .sub(sub)
            .reason(if prompt_login {
                "prompt=login (session older than maxAge)"
            } else {
                ""
            })
    }

    async fn callback(&self) -> Outcome {
        let host = match request_host(self.headers) {
            Ok(h) => h,
            Err(e) => return self.bad("Bad sign-in response", &e, "bad_request", None),
        };
        let home = format!("https://{host}/");
        let again = "Start again from the page you wanted to open.";
        let state = param(self.query, "state").unwrap_or_default();
        if state.is_empty()
            || state.len() > 64
            || !state
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return self.bad(
                "Sign-in link incomplete",
                &format!("This sign-in response has no usable state. {again}"),
                "bad_request",
                Some(&home),
            );
        }
        let name = format!("{FLOW_COOKIE_PREFIX}{state}");
        // Whatever happens next, this flow is over.
        let mut out = self.callback_flow(&host, &home, &state, &name).await;
        if self.cookie(&name).is_some() {
            add_cookie(&mut out.resp, clear_cookie(&name));
        }
        out
    }

    async fn callback_flow(&self, host: &str, home: &str, state: &str, name: &str) -> Outcome {
        let again = "Start again from the page you wanted to open.";
        let expired = |text: &str, outcome| {
            self.bad(
                "Sign-in expired",
                &format!("{text} {again}"),
                outcome,
                Some(home),
            )
        };
        let Some(value) = self.cookie(name) else {
            return expired(
                "This sign-in was already completed, has expired, or was started in another browser.",
                "expired",
            );
        };
        let flow = match self.keys.open_as(name, value) {
            Ok(f) => f,
            Err(e) => {
                return expired("This sign-in cannot be completed.", "rejected")
                    .reason(format!("flow cookie: {e}"));
            }
        };
        let get = |k: &str| flow.get(k).and_then(Value::as_str).unwrap_or("");
        let (level_name, rd) = (get("level"), get("rd"));
        if !constant_time_eq(get("state").as_bytes(), state.as_bytes()) {
            return expired("This sign-in cannot be completed.", "rejected")
                .reason("state does not match the flow cookie");
        }
        if flow
            .get("exp")
            .and_then(Value::as_i64)
            .is_none_or(|e| e < self.now)
        {
            return expired("The sign-in took too long.", "expired").level(level_name);
        }
        if get("host") != host {
            return expired("This sign-in was started on another site.", "rejected")
                .reason("flow cookie is for another host");
        }
        let Some(level) = self.policy().level(level_name).cloned() else {
            return expired("This sign-in cannot be completed.", "rejected").reason(format!(
                "flow level {level_name:?} is no longer in the policy"
            ));
        };
        let retry = format!(
            "https://{host}{}/signin?level={}&rd={}",
            self.st.signin_prefix,
            url::form_urlencoded::byte_serialize(level.name.as_bytes()).collect::<String>(),
            url::form_urlencoded::byte_serialize(rd.as_bytes()).collect::<String>()
        );
        if let Some(error) = param(self.query, "error") {
            let desc = param(self.query, "error_description").unwrap_or_default();
            let desc: String = desc.chars().take(300).collect();
            let error: String = error.chars().take(64).collect();
            let reason = format!("IdP error {error}: {desc}");
            return match error.as_str() {
                "unmet_authentication_requirements" => {
                    let mut o = Outcome::new(
                        page(
                            StatusCode::FORBIDDEN,
                            "Stronger sign-in not completed",
                            &[
                                &format!("This page needs the sign-in level “{}”, and the identity provider could not complete it.", level.name),
                                "If your account has no second factor set up, ask for one to be set up, then try again.",
                            ],
                            Some((&retry, "Try again")),
                        ),
                        "level_not_met",
                    )
                    .level(&level.name)
                    .reason(reason);
                    add_cookie(&mut o.resp, self.denied_cookie(&level.name, None));
                    o
                }
                "access_denied"
                | "login_required"
                | "interaction_required"
                | "consent_required" => Outcome::new(
                    page(
                        StatusCode::FORBIDDEN,
                        "Sign-in not completed",
                        &[&format!(
                            "The identity provider ended the sign-in ({error}). {desc}"
                        )],
                        Some((&retry, "Try again")),
                    ),
                    "idp_error",
                )
                .level(&level.name)
                .reason(reason),
                _ => failed(
                    StatusCode::BAD_GATEWAY,
                    &format!("The identity provider reported an error ({error}). {desc}"),
                    Some(retry.as_str()),
                    "idp_error",
                    &level.name,
                )
                .reason(reason),
            };
        }
        let Some(code) = param(self.query, "code").filter(|c| !c.is_empty() && c.len() <= 2048)
        else {
            return self
                .bad(
                    "Sign-in link incomplete",
                    &format!("This sign-in response has no code. {again}"),
                    "bad_request",
                    Some(home),
                )
                .level(&level.name);
        };
        let redirect_uri = format!("https://{host}{}/callback", self.st.signin_prefix);
        let id_token = match self.exchange(&code, &redirect_uri, get("verifier")).await {
            Ok(t) => t,
            Err(e) => {
                return failed(StatusCode::BAD_GATEWAY, "The identity provider did not complete the sign-in. This can happen when a sign-in link is used twice.", Some(retry.as_str()), "idp_error", &level.name)
                .reason(e);
            }
        };
        let idc = match self
            .st
            .verifier
            .verify_id_token(&id_token, &self.cfg.client_id, self.now)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                return failed(StatusCode::BAD_GATEWAY, "The identity provider's answer could not be verified, so you are not signed in.", Some(retry.as_str()), "rejected", &level.name)
                .reason(format!("ID token: {e}"));
            }
        };
        let sub = idc
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !constant_time_eq(
            idc.get("nonce")
                .and_then(Value::as_str)
                .unwrap_or("")
                .as_bytes(),
            get("nonce").as_bytes(),
        ) || get("nonce").is_empty()
        {
            return failed(StatusCode::BAD_REQUEST, "The identity provider's answer does not belong to this sign-in, so you are not signed in.", Some(retry.as_str()), "rejected", &level.name)
            .sub(&sub)
            .reason("ID token nonce does not match the flow");
        }
        if let Some(current) = self.session() {
            let was = current.get("sub").and_then(Value::as_str).unwrap_or("");
            if was != sub {
                return Outcome::new(
                    page(
                        StatusCode::FORBIDDEN,
                        "Signed in as someone else",
                        &[
                            "You signed in at the identity provider as a different user than the one already signed in here, so nothing changed.",
                            "To switch users, sign out first.",
                        ],
                        Some((&format!("https://{host}{}/signout", self.st.signin_prefix), "Sign out")),
                    ),
                    "other_user",
                )
                .level(&level.name)
                .sub(&sub)
                .reason(format!("step-up returned sub {sub:?}, session has {was:?}"));
            }
        }
        let issuer = self.policy().idp.as_ref().map_or("", |i| i.issuer.as_str());
        let claims = session_claims(
            &idc,
            self.policy(),
            issuer,
            host,
            self.now,
            self.cfg.session_ttl,
        );
        let sealed = match self.keys.seal(&claims) {
            Ok(s) => s,
            Err(e) => {
                return failed(StatusCode::BAD_GATEWAY, "Your account's sign-in data is too large to keep in a cookie. Please tell this site's operators.", None, "rejected", &level.name)
                .sub(&sub)
                .reason(e);
            }
        };
        let session_cookie = set_cookie(COOKIE_NAME, &sealed, self.cfg.session_ttl);
        match check(&level.need, Some(&claims), self.now) {
            Check::Allow(_) => {
                let mut r = redirect(rd);
                add_cookie(&mut r, session_cookie);
                if self.cookie(DENIED_COOKIE).is_some() {
                    add_cookie(&mut r, clear_cookie(DENIED_COOKIE));
                }
                Outcome::new(r, "ok").level(&level.name).sub(&sub)
            }
            Check::StepUp { reason, .. } => {
                let mut r = page(
                    StatusCode::FORBIDDEN,
                    "Stronger sign-in needed",
                    &[
                        &format!(
                            "You are signed in, but this page needs the sign-in level “{}”, and the sign-in that just happened did not reach it: {reason}.",
                            level.name
                        ),
                        "Try again and complete every step the identity provider asks for (for example a one-time code).",
                    ],
                    Some((&retry, "Try again")),
                );
                add_cookie(&mut r, session_cookie);
                add_cookie(&mut r, self.denied_cookie(&level.name, Some(&sub)));
                Outcome::new(r, "level_not_met")
                    .level(&level.name)
                    .sub(&sub)
                    .reason(reason)
            }
            Check::Forbidden(reason) => {
                let mut r = page(
                    StatusCode::FORBIDDEN,
                    "Access not allowed",
                    &[&format!(
                        "You are signed in, but your account may not open this page ({reason}). Ask for access if you need it."
                    )],
                    Some((home, "Go back to the site")),
                );
                add_cookie(&mut r, session_cookie);
                Outcome::new(r, "forbidden")
                    .level(&level.name)
                    .sub(&sub)
                    .reason(reason)
            }
            Check::Unauthenticated(reason) => {
                let reason = reason.unwrap_or_else(|| "not usable".into());
                failed(
                    StatusCode::BAD_GATEWAY,
                    "The identity provider's answer is not usable, so you are not signed in.",
                    Some(retry.as_str()),
                    "rejected",
                    &level.name,
                )
                .sub(&sub)
                .reason(format!("ID token: {reason}"))
            }
        }
    }

    /// The denied cookie for `level` (and `sub`, when known).
    fn denied_cookie(&self, level: &str, sub: Option<&str>) -> Option<HeaderValue> {
        let until = self.now + self.cfg.cooldown;
        let mut c = json!({"level": level, "exp": until});
        if let (Some(s), Some(m)) = (sub, c.as_object_mut()) {
            m.insert("sub".into(), Value::from(s));
        }
        let sealed = self.keys.seal_as(DENIED_COOKIE, c.as_object()?).ok()?;
        set_cookie(DENIED_COOKIE, &sealed, self.cfg.cooldown)
    }

    /// Exchange the code for tokens; the ID token.
    async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<String, String> {
        let endpoints = self.st.verifier.endpoints().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let mut req = self.st.verifier.http().post(&endpoints.token);
        match &self.cfg.client_secret {
            Some(secret) => {
                // RFC 6749 §2.3.1: both parts form-encoded, then Basic.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                req = req.basic_auth(enc(&self.cfg.client_id), Some(enc(secret)));
            }
            None => form.push(("client_id", self.cfg.client_id.as_str())),
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut resp = req
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("token endpoint: {e}"))?;
        let status = resp.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("token endpoint: {e}"))?
        {
            if bytes.len() + chunk.len() > MAX_TOKEN_RESPONSE {
                return Err("token endpoint answer too large".into());
            }
            bytes.extend_from_slice(&chunk);
        }
        let doc: Value = serde_json::from_slice(&bytes)
            .map_err(|_| format!("token endpoint: HTTP {status}, not JSON"))?;
        if !status.is_success() {
            let e = doc.get("error").and_then(Value::as_str).unwrap_or("?");
            let d = doc
                .get("error_description")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(format!("token endpoint: HTTP {status}: {e} {d}")
                .trim()
                .to_string());
        }
        doc.get("id_token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                "token endpoint answer has no id_token (is openid in the scopes?)".into()
            })
    }

    fn signout(&self) -> Outcome {
        let host = request_host(self.headers).ok();
        let sub = self
            .session()
            .and_then(|s| s.get("sub").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let checked = match (&host, param(self.query, "rd")) {
            (Some(h), Some(rd)) => Some(check_rd(&rd, "https", h, self.policy())),
            _ => None,
        };
        let (target, refused) = match checked {
            Some(Ok(t)) => (Some(t), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        let home = host.as_ref().map(|h| format!("https://{h}/"));
        let mut r = match &target {
            Some(t) => redirect(t),
            None => page(
                StatusCode::OK,
                "Signed out",
                &[
                    "You are signed out of this site. Your identity provider may still remember you.",
                ],
                home.as_deref().map(|h| (h, "Go back to the site")),
            ),
        };
        add_cookie(&mut r, clear_cookie(COOKIE_NAME));
        add_cookie(&mut r, clear_cookie(DENIED_COOKIE));
        // Signed out either way; the log says why `rd` was not followed.
        let out = Outcome::new(r, "ok").sub(&sub);
        match refused {
            Some(e) => out.reason(format!("rd refused: {e}")),
            None => out,
        }
    }
}

/// Byte equality without an early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
