//! The decision core: what happens to one request.
//!
//! Two layers, both pure (time is a parameter, no I/O):
//! - [`check`] is what stepup's `/auth` endpoint answers for a need and a set
//!   of claims: allow, unauthenticated, step-up (RFC 9470) or forbidden. The
//!   runtime server calls it after verifying the token.
//! - [`decide`] is what the *client* sees through ingress-nginx: routing
//!   outcome (400, 301, default backend), the location's auth annotations
//!   (none, stepup at some level, a foreign auth service), the policy rule for
//!   the normalised path, `auth-signin` turning a 401 into a 302, and the
//!   HTTP answer. `simulate` and `test` print it. Before auth, nginx's
//!   access phase (`decision/access.rs`: `allow`/`deny` from the source ranges, basic
//!   and digest auth) for a [`Client`] known beyond its URL
//!   ([`decide_for`]); what the client did not say becomes a
//!   [`Verdict::conditions`] entry instead of a guess.
//!
//! The need is the stricter of the auth-url's `level` and the policy rule
//! matched by the path as nginx normalised it (case-folded on regex-mode
//! hosts), so an Ingress annotated with a weaker level than its path needs
//! still gets the stronger check at runtime.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::claims::Claims;
use crate::controllers::ingress_nginx::annotations::{
    AuthRef, Enforcement, EnforcementRef, at_location, auth_ref,
};
use crate::controllers::ingress_nginx::routing::{Answer, Location, Outcome, Routed};
use crate::ingress::{Backend, Ingress};
use crate::policy::{Need, Policy};

mod access;
pub use access::Client;

/// Clock skew tolerated for `exp`, `nbf`, `iat` and `auth_time`, seconds.
pub const LEEWAY_SECS: i64 = 60;

/// The decision classes of SPEC §3 (plus `redirect` and `bad_request` for
/// what nginx answers before any auth runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reaches the backend.
    Allow,
    /// Needs a stronger or fresher login.
    StepUp,
    /// No or invalid credentials.
    Unauthenticated,
    /// Will not be allowed with any login here.
    Forbidden,
    /// The default backend answers (no Ingress path matched).
    NotFound,
    /// nginx's automatic 301 to the path with a trailing slash.
    Redirect,
    /// nginx rejects the request target.
    BadRequest,
    /// nginx answers 503 before auth (a location the controller denied).
    Unavailable,
}

impl Kind {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Allow => "allow",
            Kind::StepUp => "step_up",
            Kind::Unauthenticated => "unauthenticated",
            Kind::Forbidden => "forbidden",
            Kind::NotFound => "not_found",
            Kind::Redirect => "redirect",
            Kind::BadRequest => "bad_request",
            Kind::Unavailable => "unavailable",
        }
    }

    /// Parse the JSON spelling.
    pub fn parse(s: &str) -> Option<Kind> {
        [
            Kind::Allow,
            Kind::StepUp,
            Kind::Unauthenticated,
            Kind::Forbidden,
            Kind::NotFound,
            Kind::Redirect,
            Kind::BadRequest,
            Kind::Unavailable,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// What stepup's `/auth` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// 200, with identity headers for the backend.
    Allow(Vec<(&'static str, String)>),
    /// 401; `Some(reason)` when a token was presented but is not acceptable.
    Unauthenticated(Option<String>),
    /// 401 with an RFC 9470 challenge.
    StepUp {
        /// Space-separated `acr_values`, if the need names acr values.
        acr_values: Option<String>,
        /// `max_age` in seconds, if the need bounds freshness.
        max_age: Option<u64>,
        /// Why (for `error_description` and logs).
        reason: String,
    },
    /// 403.
    Forbidden(String),
}

impl Check {
    /// HTTP status of the `/auth` answer.
    pub fn status(&self) -> u16 {
        match self {
            Check::Allow(_) => 200,
            Check::Unauthenticated(_) | Check::StepUp { .. } => 401,
            Check::Forbidden(_) => 403,
        }
    }

    /// `WWW-Authenticate` for a 401.
    pub fn www_authenticate(&self) -> Option<String> {
        match self {
            Check::Unauthenticated(None) => Some("Bearer realm=\"stepup\"".into()),
            Check::Unauthenticated(Some(r)) => Some(format!(
                "Bearer realm=\"stepup\", error=\"invalid_token\", error_description=\"{}\"",
                quote_safe(r)
            )),
            Check::StepUp {
                acr_values,
                max_age,
                reason,
            } => {
                let mut h = format!(
                    "Bearer realm=\"stepup\", error=\"insufficient_user_authentication\", error_description=\"{}\"",
                    quote_safe(reason)
                );
                if let Some(a) = acr_values {
                    h.push_str(&format!(", acr_values=\"{}\"", quote_safe(a)));
                }
                if let Some(m) = max_age {
                    h.push_str(&format!(", max_age={m}"));
                }
                Some(h)
            }
            _ => None,
        }
    }

    /// The decision class.
    pub fn kind(&self) -> Kind {
        match self {
            Check::Allow(_) => Kind::Allow,
            Check::Unauthenticated(_) => Kind::Unauthenticated,
            Check::StepUp { .. } => Kind::StepUp,
            Check::Forbidden(_) => Kind::Forbidden,
        }
    }
}

/// Keep a header parameter inside its quotes: printable ASCII minus `"` and `\`.
fn quote_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn num(c: &Claims, k: &str) -> Result<Option<i64>, String> {
    match c.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| format!("{k} is not a usable number")),
        Some(_) => Err(format!("{k} must be a number of seconds")),
    }
}

fn values(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The `/auth` answer for `need` given (already verified) `claims` at `now`.
pub fn check(need: &Need, claims: Option<&Claims>, now: i64) -> Check {
    let req = match need {
        Need::Public => return Check::Allow(Vec::new()),
        Need::Deny => return Check::Forbidden("the policy denies this route to everyone".into()),
        Need::Auth { req, .. } => req,
    };
    let Some(c) = claims else {
        return Check::Unauthenticated(None);
    };
    // Token hygiene first: these make the token unusable.
    let (exp, nbf, auth_time) = match (num(c, "exp"), num(c, "nbf"), num(c, "auth_time")) {
        (Ok(e), Ok(n), Ok(a)) => (e, n, a),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return Check::Unauthenticated(Some(e)),
    };
    // A token issued later than now (beyond the skew) comes from a clock
    // that is wrong, or was minted ahead to outlive a key or a policy.
    match num(c, "iat") {
        Err(e) => return Check::Unauthenticated(Some(e)),
        Ok(Some(iat)) if iat > now.saturating_add(LEEWAY_SECS) => {
            return Check::Unauthenticated(Some(format!(
                "iat is in the future ({}s ahead)",
                iat.saturating_sub(now)
            )));
        }
        Ok(_) => {}
    }
    if let Some(exp) = exp {
        if now > exp.saturating_add(LEEWAY_SECS) {
            return Check::Unauthenticated(Some(format!("token expired {}s ago", now - exp)));
        }
    }
    if let Some(nbf) = nbf {
        if nbf > now.saturating_add(LEEWAY_SECS) {
            return Check::Unauthenticated(Some("token is not valid yet (nbf)".into()));
        }
    }
    if let Some(at) = auth_time {
        if at > now.saturating_add(LEEWAY_SECS) {
            return Check::Unauthenticated(Some("auth_time is in the future".into()));
        }
    }
    let sub = match c.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        Some(_) => return Check::Unauthenticated(Some("sub must be a non-empty string".into())),
        None => return Check::Unauthenticated(Some("token has no sub".into())),
    };
    let acr = match c.get("acr") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Check::Unauthenticated(Some("acr must be a string".into())),
    };
    let amr: Vec<&str> = match c.get("amr") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            a.iter().filter_map(Value::as_str).collect()
        }
        Some(_) => return Check::Unauthenticated(Some("amr must be an array of strings".into())),
    };

    // Claims no new login can change: forbidden, not a step-up loop.
    for (k, want) in &req.claims {
        if want.is_empty() {
            return Check::Forbidden(format!(
                "the combined levels leave no acceptable value for claim {k}"
            ));
        }
        let has = match c.get(k) {
            Some(Value::String(v)) => want.contains(v.as_str()),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).any(|v| want.contains(v)),
            _ => false,
        };
        if !has {
            let list: Vec<&str> = want.iter().map(String::as_str).collect();
            return Check::Forbidden(format!(
                "claim {k} does not contain one of [{}]",
                list.join(", ")
            ));
        }
    }
    if req.acr.as_ref().is_some_and(|a| a.is_empty()) {
        return Check::Forbidden("the combined levels leave no acceptable acr".into());
    }

    let mut unmet = Vec::new();
    if let Some(want) = &req.acr {
        match acr {
            Some(a) if want.contains(a) => {}
            Some(a) => unmet.push(format!("acr {a} is not one of the required values")),
            None => unmet.push("token has no acr".into()),
        }
    }
    if let Some(alts) = &req.amr {
        if !alts
            .iter()
            .any(|alt| alt.iter().all(|m| amr.contains(&m.as_str())))
        {
            unmet.push("amr lacks a required method".into());
        }
    }
    if let Some(max) = req.max_age {
        match auth_time {
            None => unmet.push("token has no auth_time".into()),
            Some(at) if now.saturating_sub(at) > i64::try_from(max).unwrap_or(i64::MAX) => unmet
                .push(format!(
                    "authentication is {}s old, at most {max}s allowed",
                    now - at
                )),
            Some(_) => {}
        }
    }
    if req.human {
        // A person's interactive login leaves auth_time (OpenID Connect
        // Core §2); a client acting for itself (client credentials) has
        // none, and its sub is its own client id (RFC 9068 §2.2). A new
        // login by a person can meet this, so it is a step-up.
        if auth_time.is_none() && req.max_age.is_none() {
            unmet.push("token shows no interactive login (no auth_time)".into());
        }
        let own_client = ["client_id", "azp"]
            .iter()
            .any(|k| c.get(*k).and_then(Value::as_str) == Some(sub));
        if own_client {
            unmet.push("token's sub is its own client (no user)".into());
        }
    }
    if !unmet.is_empty() {
        return Check::StepUp {
            acr_values: req
                .acr
                .as_ref()
                .map(|a| a.iter().cloned().collect::<Vec<_>>().join(" ")),
            max_age: req.max_age,
            reason: unmet.join("; "),
        };
    }
    let mut h = Vec::with_capacity(4);
    h.push(("X-Auth-Request-User", sub.to_string()));
    if let Some(Value::String(e)) = c.get("email") {
        h.push(("X-Auth-Request-Email", e.clone()));
    }
    if let Some(g) = c.get("groups") {
        h.push(("X-Auth-Request-Groups", values(g).join(",")));
    }
    if let Some(a) = acr {
        h.push(("X-Auth-Request-Acr", a.to_string()));
    }
    Check::Allow(h)
}

/// The request being decided.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// `https` or `http`.
    pub scheme: &'a str,
    /// Host header as sent.
    pub host: &'a str,
    /// Raw request target (path and query).
    pub target: &'a str,
}

/// What routing found, for [`decide`]. `None` routes mean "policy only":
/// the request is judged as stepup's `/auth` would judge it for the rule,
/// as if `stepup generate` had annotated the Ingresses.
#[derive(Debug, Clone)]
pub struct Route<'a> {
    /// Routing result.
    pub routed: &'a Routed<'a>,
    /// The Ingress whose annotations apply to the location.
    pub ingress: Option<&'a Ingress>,
}

/// Everything decided about one request.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The decision.
    pub kind: Kind,
    /// HTTP status the client sees.
    pub status: u16,
    /// Response headers the client sees (or, on allow, the identity headers
    /// the backend receives).
    pub headers: BTreeMap<String, String>,
    /// Policy rule that matched the path, if any.
    pub rule: Option<String>,
    /// What the policy requires for the path.
    pub required: Need,
    /// What the location enforces.
    pub enforced: Enforcement,
    /// What is checked (stricter of the two when stepup enforces).
    pub effective: Need,
    /// `/auth`'s own status, when stepup's check ran.
    pub auth_status: Option<u16>,
    /// Policy needs auth but the route has none (or a foreign service).
    pub exposed: bool,
    /// Why, step by step.
    pub trace: Vec<String>,
    /// What the answer depends on that the request did not say (the
    /// client address, basic credentials), each with the other answer.
    pub conditions: Vec<String>,
}

impl Default for Verdict {
    /// The default backend's 404, nothing matched, nothing required.
    fn default() -> Self {
        Verdict {
            kind: Kind::NotFound,
            status: 404,
            headers: BTreeMap::new(),
            rule: None,
            required: Need::Public,
            enforced: Enforcement::None,
            effective: Need::Public,
            auth_status: None,
            exposed: false,
            trace: Vec::new(),
            conditions: Vec::new(),
        }
    }
}

/// ingress-nginx's `buildAuthSignURL` plus variable expansion: append
/// `rd=$scheme://$host$escaped_request_uri` unless an `rd` is present.
pub fn signin_location(signin: &str, req: &Request<'_>) -> String {
    let host = req.host;
    let expanded = signin
        .replace("$escaped_request_uri", &escape_uri(req.target))
        .replace("$request_uri", req.target)
        .replace("$pass_access_scheme", req.scheme)
        .replace("$scheme", req.scheme)
        .replace("$http_host", host)
        .replace(
            "$host",
            &crate::controllers::ingress_nginx::routing::normalize_host(host),
        );
    if crate::controllers::ingress_nginx::annotations::query_param(&expanded, "rd").is_some() {
        return expanded;
    }
    let sep = if expanded.contains('?') { '&' } else { '?' };
    format!(
        "{expanded}{sep}rd={}://{host}{}",
        req.scheme,
        escape_uri(req.target)
    )
}

/// `set_escape_uri`: everything but unreserved characters percent-encoded.
pub fn escape_uri(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A decision trace that costs nothing when off: lines are formatted only
/// when it is on (`simulate`, `test`, logs at debug level).
struct Trace(Option<Vec<String>>);

impl Trace {
    fn add(&mut self, line: impl FnOnce() -> String) {
        if let Some(v) = self.0.as_mut() {
            v.push(line());
        }
    }
}

/// Decide a request (see the module docs), with a trace of what matched and
/// why. `route` is `None` in policy-only mode. `claims` are taken as
/// verified; `now` is seconds since the epoch.
pub fn decide(
    policy: &Policy,
    route: Option<&Route<'_>>,
    req: &Request<'_>,
    claims: Option<&Claims>,
    now: i64,
) -> Verdict {
    decide_traced(policy, route, req, &Client::default(), claims, now, true)
}

/// [`decide`] for a client known beyond its URL and claims: its address
/// (the source ranges) and basic credentials ([`Client`]).
pub fn decide_for(
    policy: &Policy,
    route: Option<&Route<'_>>,
    req: &Request<'_>,
    client: &Client,
    claims: Option<&Claims>,
    now: i64,
) -> Verdict {
    decide_traced(policy, route, req, client, claims, now, true)
}

/// [`decide`] without the trace: the per-request path.
pub fn decide_fast(
    policy: &Policy,
    route: Option<&Route<'_>>,
    req: &Request<'_>,
    claims: Option<&Claims>,
    now: i64,
) -> Verdict {
    decide_traced(policy, route, req, &Client::default(), claims, now, false)
}

fn decide_traced(
    policy: &Policy,
    route: Option<&Route<'_>>,
    req: &Request<'_>,
    client: &Client,
    claims: Option<&Claims>,
    now: i64,
    traced: bool,
) -> Verdict {
    let mut trace = Trace(traced.then(Vec::new));
    let host = crate::controllers::ingress_nginx::routing::normalize_host(req.host);
    let mut v = Verdict::default();

    // 1. What nginx does before auth, and the path it matches on.
    let normalized;
    let (uri, fold, location, ingress): (&[u8], bool, Option<&Location>, Option<&Ingress>) =
        match route {
            None => {
                match crate::controllers::ingress_nginx::routing::normalize(req.target.as_bytes()) {
                    Ok((u, _)) => {
                        trace.add(|| "policy-only mode: judged as stepup's /auth would, as if the Ingresses carried `stepup generate`'s annotations".into());
                        normalized = u;
                        (normalized.as_slice(), false, None, None)
                    }
                    Err(e) => return bad_request(v, e, trace),
                }
            }
            Some(r) => {
                let s = r.routed.server;
                trace.add(|| {
                    format!(
                        "host {host} → server {}{}",
                        s.name,
                        if s.regex_mode {
                            " (regex mode: every location is a case-insensitive regex)"
                        } else {
                            ""
                        }
                    )
                });
                match &r.routed.outcome {
                    Outcome::BadRequest(e) => return bad_request(v, *e, trace),
                    Outcome::Redirect(loc) => {
                        trace.add(|| format!("nginx redirects to {loc} (auto_redirect of a prefix location ending in /), before auth"));
                        v.kind = Kind::Redirect;
                        v.status = 301;
                        v.headers.insert("Location".into(), loc.clone());
                        v.trace = trace.0.unwrap_or_default();
                        return v;
                    }
                    Outcome::Answer { answer, .. } => return answered(v, answer, req, trace),
                    Outcome::Location(_)
                        if req.scheme == "http"
                            && r.routed.location().is_some_and(|l| l.https_redirect) =>
                    {
                        return to_https(v, req, trace);
                    }
                    Outcome::NoLocation => {
                        trace.add(|| "no location matches; nginx answers 404".into());
                        v.trace = trace.0.unwrap_or_default();
                        return v;
                    }
                    Outcome::Location(_) => {
                        let l = r.routed.location();
                        if let Some(l) = l {
                            trace.add(|| {
                                format!(
                                    "$uri {} → location {}{}",
                                    String::from_utf8_lossy(&r.routed.uri),
                                    l.directive(),
                                    r.ingress
                                        .map(|i| format!(" of Ingress {}", i.key()))
                                        .unwrap_or_default()
                                )
                            });
                        }
                        (r.routed.uri.as_slice(), s.regex_mode, l, r.ingress)
                    }
                }
            }
        };

    // 2. The policy rule for the normalised path.
    let rm = rule_match(policy, &host, req.method, uri, fold, &mut trace);
    v.rule = rm.rule.map(|i| policy.rules[i].name.clone());

    // 3. What the location enforces.
    let policy_only_level;
    let auth: AuthRef<'_> = match (route, ingress) {
        (None, _) => {
            policy_only_level = rm.need.label();
            AuthRef {
                enforcement: EnforcementRef::Stepup {
                    level: &policy_only_level,
                    rule: rm.rule.map(|i| policy.rules[i].name.as_str()),
                    host: None,
                    fault: None,
                },
                signin: None,
                response_headers: None,
            }
        }
        (Some(_), Some(ing)) => match location {
            Some(l) => at_location(auth_ref(ing, Some(policy)), l, Some(policy)),
            None => auth_ref(ing, Some(policy)),
        },
        (Some(_), None) => AuthRef {
            enforcement: EnforcementRef::None,
            signin: None,
            response_headers: None,
        },
    };
    v.enforced = auth.enforcement.to_owned();
    let default_backend = route.is_some() && location.is_none_or(|l| l.backend == Backend::Default);

    // 4. nginx's access phase: allow/deny first (decision/access.rs).
    let basic = auth.enforcement == EnforcementRef::Basic;
    let has_auth = auth.enforcement != EnforcementRef::None;
    let skip_auth = match (location, ingress) {
        (Some(_), Some(ing)) => {
            match access_phase(ing, (has_auth, basic), client, &mut v, &mut trace) {
                Some(skip) => skip,
                None => {
                    v.required = rm.need;
                    v.trace = trace.0.unwrap_or_default();
                    return v;
                }
            }
        }
        _ => false,
    };
    let enforcement = if skip_auth {
        EnforcementRef::None
    } else {
        auth.enforcement
    };

    let result = match enforcement {
        EnforcementRef::None => {
            if rm.need != Need::Public {
                v.exposed = true;
                trace.add(|| {
                    format!(
                        "the location has no auth annotation, but the policy requires {}: EXPOSED",
                        rm.need.label()
                    )
                });
            } else {
                trace.add(|| "the location has no auth annotation; none is required".into());
            }
            None
        }
        EnforcementRef::Basic => match basic_auth(ingress, client, &rm.need, &mut v, &mut trace) {
            Some(check) => check,
            None => {
                v.required = rm.need;
                v.trace = trace.0.unwrap_or_default();
                return v;
            }
        },
        EnforcementRef::External(_) => {
            // A foreign check is taken to accept any valid login: it cannot
            // know stepup's levels, so anything above "authenticated" is exposed.
            v.exposed = rm.need == Need::Deny
                || (rm.need != Need::Public && !authenticated().satisfies(&rm.need));
            trace.add(|| {
                format!(
                    "auth by {}: assumed to accept any valid login; it cannot enforce {}",
                    auth.enforcement.to_owned().label(),
                    rm.need.label()
                )
            });
            Some(match claims {
                None => Check::Unauthenticated(None),
                Some(_) => Check::Allow(Vec::new()),
            })
        }
        EnforcementRef::RequestChosen(url) => {
            v.exposed = rm.need != Need::Public;
            trace.add(|| {
                format!(
                    "auth-url {url} is chosen in part by the request: its sender picks what answers; {}",
                    if v.exposed { "EXPOSED" } else { "none is required" }
                )
            });
            None
        }
        EnforcementRef::Stepup {
            level,
            rule,
            host: pinned,
            fault,
        } => {
            let asked = StepupAsk {
                level,
                rule,
                pinned,
                fault,
            };
            let at: (&str, &str, &[u8], bool) = (&host, req.method, uri, fold);
            match stepup_check(policy, &asked, &rm, at, claims, now, &mut v, &mut trace) {
                Ok(c) => Some(c),
                Err(e) => {
                    v.required = rm.need;
                    v.effective = Need::Deny;
                    return finish(v, Check::Forbidden(e), &auth, req, default_backend, trace);
                }
            }
        }
    };
    v.required = rm.need;
    match result {
        None => {
            v.effective = Need::Public;
            let open = AuthRef {
                enforcement: EnforcementRef::None,
                ..auth
            };
            finish(
                v,
                Check::Allow(Vec::new()),
                &open,
                req,
                default_backend,
                trace,
            )
        }
        Some(c) => finish(v, c, &auth, req, default_backend, trace),
    }
}

/// Step 2 of [`decide_traced`]: the policy rule for the normalised path
/// `uri` (`fold`: matched case-insensitively, as in regex mode). stepup's
/// own sign-in path is public by construction (SPEC §2).
fn rule_match(
    policy: &Policy,
    host: &str,
    method: &str,
    uri: &[u8],
    fold: bool,
    trace: &mut Trace,
) -> crate::policy::RuleMatch {
    if policy.is_signin_path(uri) {
        trace.add(|| "stepup's own sign-in path: public by design".into());
        crate::policy::RuleMatch {
            rule: None,
            also: Vec::new(),
            need: Need::Public,
        }
    } else {
        let rm = policy.rule_for(host, method, uri, fold);
        match rm.rule {
            Some(i) => trace.add(|| {
                format!(
                    "policy rule {} (line {}) → {}",
                    policy.rules[i].name,
                    policy.rules[i].line,
                    rm.need.label()
                )
            }),
            None => trace.add(|| format!("no policy rule matches → default {}", policy.default)),
        }
        for &i in &rm.also {
            trace.add(|| {
                format!(
                    "`;` path parameters: rule {} also matched; the stricter need {} applies",
                    policy.rules[i].name,
                    rm.need.label()
                )
            });
        }
        rm
    }
}

/// Step 5 of [`decide_traced`] for stepup's own auth-url: the need its
/// `/auth` enforces for the request `at` (host, method, `$uri`, fold) and
/// its answer for `claims`; `Err` is why it refuses (it fails closed).
#[allow(clippy::too_many_arguments)]
fn stepup_check(
    policy: &Policy,
    asked: &StepupAsk<'_>,
    rm: &crate::policy::RuleMatch,
    at: (&str, &str, &[u8], bool),
    claims: Option<&Claims>,
    now: i64,
    v: &mut Verdict,
    trace: &mut Trace,
) -> Result<Check, String> {
    let (level, pinned) = (asked.level, asked.pinned);
    let eff = match asked.need(policy, rm, at) {
        Ok(eff) => eff,
        Err(e) => {
            trace.add(|| format!("{e}: stepup fails closed"));
            return Err(e);
        }
    };
    if !eff.satisfies(&rm.need) {
        v.exposed = true;
        trace.add(|| {
            format!(
                "auth-url host={} makes stepup judge another host's rules: it enforces {}, not {}: EXPOSED",
                pinned.unwrap_or_default(),
                eff.label(),
                rm.need.label()
            )
        });
    } else if policy.need_of(level).is_some_and(|l| l != eff) {
        trace.add(|| {
            format!(
                "auth-url level {level} is weaker than the rule's {}; stepup enforces {}",
                rm.need.label(),
                eff.label()
            )
        });
    }
    let c = check(&eff, claims, now);
    trace.add(|| format!("stepup /auth → {} ({})", c.status(), describe(&c)));
    v.effective = eff;
    Ok(c)
}

/// `allow`/`deny` at a location of `ing`: `Some(skip_auth)` to go on
/// (`satisfy any` with a matching `allow` skips auth), `None` when nginx
/// answers 403 (set on `v`). `has_auth`: the location has auth; `basic`:
/// basic or digest auth.
fn access_phase(
    ing: &Ingress,
    (has_auth, basic): (bool, bool),
    client: &Client,
    v: &mut Verdict,
    trace: &mut Trace,
) -> Option<bool> {
    match access::source_gate(&access::Ranges::of(ing), client.ip) {
        access::Gate::Continue => Some(false),
        access::Gate::Allowed { skip_auth } => {
            trace.add(|| {
                format!(
                    "client address is in the allowlist-source-range{}",
                    if skip_auth {
                        "; satisfy: any, so no auth is asked"
                    } else {
                        ""
                    }
                )
            });
            Some(skip_auth)
        }
        access::Gate::Denied(why) if has_auth && satisfy_any(ing) => {
            trace.add(|| format!("{why}; satisfy: any, so the auth decides"));
            Some(false)
        }
        access::Gate::Denied(why) if basic && access::digest_first(Some(ing), client) => {
            trace.add(|| format!("{why}, but the digest module (loaded with load_module) asks for credentials first"));
            v.conditions
                .push(format!("with credentials, nginx then answers 403: {why}"));
            Some(false)
        }
        access::Gate::Denied(why) => {
            trace.add(|| format!("{why}: nginx answers 403, before auth"));
            v.kind = Kind::Forbidden;
            v.status = 403;
            None
        }
        access::Gate::Unknown(cond) => {
            v.conditions.push(cond);
            Some(false)
        }
    }
}

fn satisfy_any(ing: &Ingress) -> bool {
    ing.nginx("satisfy").map(str::trim) == Some("any")
}

/// `auth_basic`/`auth_digest` (decision/access.rs): `Some(check)` to go
/// on (`Some(None)`: `auth_basic off`), `None` when nginx answers the 401
/// challenge (set on `v`).
fn basic_auth(
    ingress: Option<&Ingress>,
    client: &Client,
    need: &Need,
    v: &mut Verdict,
    trace: &mut Trace,
) -> Option<Option<Check>> {
    v.exposed = *need == Need::Deny || (*need != Need::Public && !authenticated().satisfies(need));
    let (answer, why) = access::basic(ingress, client);
    trace.add(|| why.clone());
    if answer != access::Basic::Off && v.exposed {
        trace.add(|| {
            format!(
                "basic auth accepts any user of its Secret; it cannot enforce {}",
                need.label()
            )
        });
    }
    match answer {
        access::Basic::Off => {
            v.exposed = *need != Need::Public;
            Some(None)
        }
        access::Basic::Assumed => {
            v.conditions.push(why);
            Some(Some(Check::Allow(Vec::new())))
        }
        access::Basic::Challenge(header) => {
            v.conditions.push(why);
            v.kind = Kind::Unauthenticated;
            v.status = 401;
            v.auth_status = Some(401);
            v.headers.insert("WWW-Authenticate".into(), header);
            None
        }
    }
}

/// What a stepup auth-url asks of `/auth`.
struct StepupAsk<'a> {
    level: &'a str,
    rule: Option<&'a str>,
    pinned: Option<&'a str>,
    fault: Option<crate::controllers::ingress_nginx::annotations::QueryFault>,
}

impl StepupAsk<'_> {
    /// The need the runtime's `/auth` enforces for this auth-url on the
    /// request `(host, method, path, fold)` whose rule match is `rm`: the
    /// level, the policy rule at the host it judges (`host=` when it is not
    /// `$host`, else the routed host), and the `rule=` floor. `Err` is the
    /// reason it refuses (403), word for word the runtime's.
    fn need(
        &self,
        policy: &Policy,
        rm: &crate::policy::RuleMatch,
        (host, method, path, fold): (&str, &str, &[u8], bool),
    ) -> Result<Need, String> {
        if let Some(f) = self.fault {
            return Err(f.to_string());
        }
        if self.level.is_empty() {
            return Err("auth-url has no level parameter".into());
        }
        let level = policy.need_of(self.level).ok_or_else(|| {
            format!(
                "auth-url level {:?} is not a level of the policy",
                self.level
            )
        })?;
        let floor = match self.rule {
            Some(r) => policy.rule_floor(r)?.1,
            None => Need::Public,
        };
        let at_host = match self.pinned {
            Some(h)
                if h != crate::controllers::ingress_nginx::annotations::HOST_PARAM
                    && !h.eq_ignore_ascii_case(host) =>
            {
                policy.rule_for(h, method, path, fold).need
            }
            _ => rm.need.clone(),
        };
        Ok(level.and(&at_host).and(&floor))
    }
}

fn authenticated() -> Need {
    Need::Auth {
        levels: std::sync::Arc::from([crate::policy::AUTHENTICATED.to_string()]),
        req: Default::default(),
    }
}

fn describe(c: &Check) -> String {
    match c {
        Check::Allow(_) => "allow".into(),
        Check::Unauthenticated(None) => "no credentials".into(),
        Check::Unauthenticated(Some(r)) => format!("invalid token: {r}"),
        Check::StepUp { reason, .. } => format!("step-up: {reason}"),
        Check::Forbidden(r) => format!("forbidden: {r}"),
    }
}

/// `$scheme`, `$http_host`, `$host` and `$request_uri` of a redirect URL
/// nginx writes, from the request.
fn expand(url: &str, req: &Request<'_>) -> String {
    url.replace("$request_uri", req.target)
        .replace("$scheme", req.scheme)
        .replace("$http_host", req.host)
        .replace(
            "$host",
            &crate::controllers::ingress_nginx::routing::normalize_host(req.host),
        )
}

/// nginx answers before auth: a redirect or a 503.
fn answered(mut v: Verdict, answer: &Answer, req: &Request<'_>, mut trace: Trace) -> Verdict {
    match answer {
        Answer::Redirect { code, url, why } => {
            let to = expand(url, req);
            trace.add(|| format!("{why}: nginx answers {code} to {to}, before auth"));
            v.kind = Kind::Redirect;
            v.status = *code;
            v.headers.insert("Location".into(), to);
        }
        Answer::Unavailable(why) => {
            trace.add(|| {
                format!(
                    "the controller denied this location ({why}): nginx answers 503, before auth"
                )
            });
            v.kind = Kind::Unavailable;
            v.status = 503;
        }
    }
    v.trace = trace.0.unwrap_or_default();
    v
}

/// `lua_ingress.lua` `rewrite`: a plain-HTTP request to a location with
/// `ssl-redirect` (and a certificate for the host) or `force-ssl-redirect`
/// gets `http-redirect-code` (308) to HTTPS, before auth; a final `/` of
/// the request URI is dropped (`preserve-trailing-slash` off).
fn to_https(mut v: Verdict, req: &Request<'_>, mut trace: Trace) -> Verdict {
    let uri = req.target.strip_suffix('/').unwrap_or(req.target);
    let to = format!(
        "https://{}{uri}",
        crate::controllers::ingress_nginx::routing::normalize_host(req.host)
    );
    trace.add(|| format!("ssl-redirect: nginx answers 308 to {to}, before auth"));
    v.kind = Kind::Redirect;
    v.status = 308;
    v.headers.insert("Location".into(), to);
    v.trace = trace.0.unwrap_or_default();
    v
}

fn bad_request(
    mut v: Verdict,
    e: crate::controllers::ingress_nginx::routing::NormError,
    mut trace: Trace,
) -> Verdict {
    trace.add(|| format!("nginx rejects the request target: {e}"));
    v.kind = Kind::BadRequest;
    v.status = 400;
    v.trace = trace.0.unwrap_or_default();
    v
}

fn finish(
    mut v: Verdict,
    c: Check,
    auth: &AuthRef<'_>,
    req: &Request<'_>,
    default_backend: bool,
    mut trace: Trace,
) -> Verdict {
    if auth.enforcement != EnforcementRef::None {
        v.auth_status = Some(c.status());
    }
    match c {
        Check::Allow(h) => {
            if default_backend {
                trace.add(|| "the default backend answers 404".into());
                v.kind = Kind::NotFound;
                v.status = 404;
            } else {
                v.kind = Kind::Allow;
                v.status = 200;
                for (k, val) in h {
                    if auth.passes(k) {
                        v.headers.insert(k.to_string(), val);
                    }
                }
            }
        }
        Check::Unauthenticated(_) | Check::StepUp { .. } => {
            v.kind = c.kind();
            match auth.signin {
                Some(s) => {
                    let loc = signin_location(s, req);
                    trace.add(|| format!("auth-signin turns the 401 into a redirect to {loc}"));
                    v.status = 302;
                    v.headers.insert("Location".into(), loc);
                }
                None => {
                    v.status = 401;
                    if let Some(w) = c.www_authenticate() {
                        v.headers.insert("WWW-Authenticate".into(), w);
                    }
                }
            }
        }
        Check::Forbidden(_) => {
            v.kind = Kind::Forbidden;
            v.status = 403;
        }
    }
    v.trace = trace.0.unwrap_or_default();
    v
}

#[cfg(test)]
mod tests;
