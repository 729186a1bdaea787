//! `GET /auth?level=L&rule=R`: the answer to one auth subrequest.
//!
//! 1. `level` names the need the location was annotated with; a missing or
//!    unknown level fails closed (403: a configuration error no login fixes).
//! 2. The request (method, host, raw target) comes from [`super::target`].
//! 3. The raw target is normalised exactly as nginx normalises `$uri`
//!    ([`crate::controllers::ingress_nginx::routing::normalize`]); a target nginx itself would reject
//!    never gets here, and one our normaliser rejects is refused (403).
//! 4. The policy rule for the normalised path. The runtime does not know
//!    which hosts ingress-nginx runs in regex mode (where locations match
//!    case-insensitively), so a path with upper-case letters (any path,
//!    when a rule's glob has upper-case letters) is also matched
//!    case-folded and the stricter need of the two applies. That also
//!    covers backends that route case-insensitively.
//! 5. The need is the stricter of (1) and (4); public needs no credentials.
//! 6. Credentials: `Authorization: Bearer` (verified, cached), else the
//!    session cookie. A bad token is a 401 with `error="invalid_token"`; a
//!    bad cookie, or a session signed in on another host than the one
//!    nginx routed on, is logged and treated as no credentials (plain 401,
//!    so a browser goes to sign-in).
//! 7. The decision core's [`check`] gives the answer: 200 with identity
//!    headers, 401 (plain, `invalid_token`, or RFC 9470
//!    `insufficient_user_authentication`), 403. Never 3xx or 5xx: nginx
//!    would turn those into a 500.
//! 8. A step-up answer becomes 403 while the browser carries the sign-in's
//!    "level not delivered" cookie for that level ([`cooldown`]).

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::controllers::ingress_nginx::annotations::AuthQuery;
use crate::controllers::ingress_nginx::routing::{normalize, normalize_host, validate_host};
use crate::decision::{Check, check};
use crate::glob::PathGlob;
use crate::policy::Need;

use super::AppState;
use super::session::{COOKIE_NAME, foreign_host, request_cookie};
use super::signin::cooldown;
use super::target::extract;

/// What `/auth` decided, with what the log and metrics need.
#[derive(Debug)]
pub struct Answer {
    /// The decision.
    pub check: Check,
    /// Index of the policy rule that applied.
    pub rule: Option<usize>,
    /// Metrics index of the requested level.
    pub level: usize,
    /// Why, when it is not an allow (or why credentials were ignored).
    pub reason: Option<String>,
    /// `host` + normalised path, for the log.
    pub target: String,
    /// Method, for the log.
    pub method: String,
    /// The `sub` that was allowed or judged.
    pub sub: Option<String>,
}

impl Answer {
    fn refuse(level: usize, reason: String) -> Answer {
        Answer {
            check: Check::Forbidden(reason.clone()),
            rule: None,
            level,
            reason: Some(reason),
            target: String::new(),
            method: String::new(),
            sub: None,
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.as_bytes();
    let rest = v
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case(b"bearer "))
        .map(|_| &v[7..])?;
    // UTF-8 validation is vectorised; a JWT is ASCII, and anything else
    // fails verification with a reason anyway.
    std::str::from_utf8(rest).ok().map(str::trim)
}

/// Steps 4 and 5's policy half: the rule and need for a normalised `path`
/// on `host` (already [`normalize_host`]d). The sign-in path is public; the
/// case-folded rule's need also applies whenever folding can change the
/// match: the path or a rule's glob has upper-case letters (`/admin` on a
/// case-insensitive backend reaches what a `/Admin/**` rule protects).
pub fn path_need(
    policy: &crate::policy::Policy,
    host: &str,
    method: &str,
    path: &[u8],
) -> (Option<usize>, Need) {
    if policy.is_signin_path(path) {
        return (None, Need::Public);
    }
    let rm = policy.rule_for(host, method, path, false);
    let folds = path.iter().any(u8::is_ascii_uppercase)
        || policy
            .rules
            .iter()
            .any(|r| r.paths.iter().any(PathGlob::has_upper_case));
    if folds {
        let folded = policy.rule_for(host, method, path, true);
        if rm.need.satisfies(&folded.need) {
            (rm.rule, rm.need)
        } else {
            (folded.rule, rm.need.and(&folded.need))
        }
    } else {
        (rm.rule, rm.need)
    }
}

/// The host nginx routed on. `host=$host` in the auth-url is nginx's own
/// `$host`: the host of an absolute-form request line when there is one,
/// else the Host header, validated. Without it, the host of
/// `X-Original-URL` (`$http_host`, what the client claims), parsed as nginx
/// parses a Host header; one nginx would refuse with a 400 is refused.
fn routed_host<'a>(
    q: &AuthQuery<'a>,
    t: &super::target::Target<'a>,
) -> Result<std::borrow::Cow<'a, str>, String> {
    use super::target::Via;
    if let Some(h) = q.host.filter(|_| t.via == Via::Original) {
        let ok = h.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        });
        return match validate_host(h) {
            Ok(v) if ok => Ok(v),
            _ => Err(format!("auth-url host {h:?} is not a host name")),
        };
    }
    match t.via {
        Via::Original => validate_host(t.host)
            .map_err(|e| format!("Host {:?} is one nginx refuses (400): {e}", t.host)),
        Via::Forwarded => Ok(normalize_host(t.host)),
    }
}

/// Decide one `/auth` request.
pub async fn decide(
    st: &AppState,
    peer: IpAddr,
    query: Option<&str>,
    headers: &HeaderMap,
    now: i64,
) -> Answer {
    let policy = &st.policy;
    let q = match AuthQuery::parse(query.unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return Answer::refuse(st.metrics.level_index(None), e.to_string()),
    };
    let level = st.metrics.level_index(q.level);
    let Some(level_name) = q.level else {
        return Answer::refuse(level, "auth-url has no level parameter".into());
    };
    let Some(level_need) = policy.need_of(level_name) else {
        return Answer::refuse(
            level,
            format!("auth-url level {level_name:?} is not a level of the policy"),
        );
    };
    let floor = match q.rule.map(|r| policy.rule_floor(r)).transpose() {
        Ok(f) => f,
        Err(e) => return Answer::refuse(level, e),
    };
    let t = match extract(headers, peer, &st.trusted) {
        Ok(t) => t,
        Err(e) => return Answer::refuse(level, e),
    };
    let path = match normalize(t.raw.as_bytes()) {
        Ok((p, _)) => p,
        Err(e) => return Answer::refuse(level, format!("request target rejected: {e}")),
    };
    let host = match routed_host(&q, &t) {
        Ok(h) => h,
        Err(e) => return Answer::refuse(level, e),
    };
    let target = format!("{host}{}", String::from_utf8_lossy(&path));
    let (mut rule, rule_need) = path_need(policy, &host, t.method, &path);
    let mut need = level_need.and(&rule_need);
    // Each further need that asks more names the rule in the log.
    let mut raise = |r: Option<usize>, n: &Need| {
        if !need.satisfies(n) {
            rule = r.or(rule);
            need = need.and(n);
        }
    };
    if let Some((r, f)) = &floor {
        raise(*r, f);
    }
    // A Java backend resolves `..;` and `.;` segments nginx kept: the path
    // it serves decides too (`/static/..;/admin` is its `/admin`).
    match crate::policy::backend_path(t.raw.as_bytes()) {
        Ok(Some(b)) if b != path => {
            let (r2, n2) = path_need(policy, &host, t.method, &b);
            raise(r2, &n2);
        }
        Ok(_) => {}
        Err(e) => return Answer::refuse(level, e),
    }
    let mut answer = Answer {
        check: Check::Allow(Vec::new()),
        rule,
        level,
        reason: None,
        target,
        method: t.method.to_string(),
        sub: None,
    };
    if need == Need::Public {
        return answer;
    }
    let claims = if let Some(token) = bearer(headers) {
        match st.verifier.verify(token, now).await {
            Ok(c) => Some(c),
            Err(e) => {
                answer.check = Check::Unauthenticated(Some(e.clone()));
                answer.reason = Some(e);
                return answer;
            }
        }
    } else {
        let cookie = request_cookie(headers, COOKIE_NAME);
        match (cookie, &st.sessions) {
            (Some(v), Some(keys)) => match keys.open(v) {
                // A session signed in on another host is no session here.
                Ok(c) => match foreign_host(&c, &host) {
                    Some(why) => {
                        answer.reason = Some(why);
                        None
                    }
                    None => Some(std::sync::Arc::new(c)),
                },
                Err(e) => {
                    answer.reason = Some(e.to_string());
                    None
                }
            },
            _ => None,
        }
    };
    answer.sub = claims
        .as_ref()
        .and_then(|c| c.get("sub"))
        .and_then(|s| s.as_str())
        .map(str::to_string);
    answer.check = check(&need, claims.as_deref(), now);
    // The IdP just failed to deliver this level at sign-in: 403, so that
    // ingress-nginx shows an error instead of sending the browser to
    // sign-in again (no 401 → sign-in → 401 loop).
    if let (Check::StepUp { .. }, Some(keys)) = (&answer.check, &st.sessions) {
        if let Some(reason) = cooldown(keys, headers, &need, answer.sub.as_deref(), now) {
            answer.check = Check::Forbidden(reason);
        }
    }
    match &answer.check {
        Check::Allow(_) => {}
        Check::Unauthenticated(r) => {
            if answer.reason.is_none() {
                answer.reason = Some(r.clone().unwrap_or_else(|| "no credentials".into()));
            }
        }
        Check::StepUp { reason, .. } | Check::Forbidden(reason) => {
            answer.reason = Some(reason.clone());
        }
    }
    answer
}

/// The identity header names, parsed once.
fn identity_header(name: &str) -> Option<HeaderName> {
    const NAMES: [HeaderName; 4] = [
        HeaderName::from_static("x-auth-request-user"),
        HeaderName::from_static("x-auth-request-email"),
        HeaderName::from_static("x-auth-request-groups"),
        HeaderName::from_static("x-auth-request-acr"),
    ];
    NAMES
        .iter()
        .find(|n| n.as_str().eq_ignore_ascii_case(name))
        .cloned()
}

/// The HTTP response for an answer.
pub fn respond(a: &Answer) -> Response {
    let status = StatusCode::from_u16(a.check.status()).unwrap_or(StatusCode::FORBIDDEN);
    let mut r = status.into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(w) = a.check.www_authenticate() {
        if let Ok(v) = HeaderValue::from_str(&w) {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
    }
    if let Check::Allow(ids) = &a.check {
        for (name, value) in ids {
            // A claim with control characters cannot be a header value: the
            // backend gets no such header rather than a broken one.
            if let (Some(n), Ok(v)) = (identity_header(name), HeaderValue::from_str(value)) {
                h.insert(n, v);
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rules: &str) -> crate::policy::Policy {
        let text = format!(
            "apiVersion: stepup.dev/v1alpha1\nkind: StepUpPolicy\nspec:\n  \
             levels: [{{name: admin, acr: [urn:stepup:admin]}}]\n  rules:\n{rules}  default: public\n"
        );
        crate::policy::parse("p.yaml", &text).unwrap()
    }

    /// Found by the `policy` fuzz target: with a rule for `/aDmin`, the
    /// lower-case `/admin` (which a case-insensitive backend, or a regex-mode
    /// ingress-nginx host, serves from the same handler) was public, because
    /// only paths with upper-case letters were matched case-folded.
    #[test]
    fn upper_case_globs_also_match_lower_case_paths() {
        let p = policy("    - {name: console, paths: [/aDmin, /Admin/**], level: admin}\n");
        for path in [
            "/admin",
            "/admin;x",
            "/admin/users",
            "/ADMIN/users",
            "/aDmin",
        ] {
            let (rule, need) = path_need(&p, "h", "GET", path.as_bytes());
            assert_eq!(rule, Some(0), "{path}");
            assert_eq!(need.label(), "admin", "{path}");
        }
        let (rule, need) = path_need(&p, "h", "GET", b"/other");
        assert_eq!((rule, need), (None, Need::Public));
        // Lower-case globs: a lower-case path is matched as sent only.
        let p = policy("    - {name: console, paths: [/admin], level: admin}\n");
        assert_eq!(path_need(&p, "h", "GET", b"/admin").0, Some(0));
        assert_eq!(path_need(&p, "h", "GET", b"/ADMIN").1.label(), "admin");
    }

    /// Issue 15: `level=&level=public` applied `public`; every parameter
    /// that says two things (or nothing) now fails closed.
    #[test]
    fn ambiguous_auth_url_parameters_fail_closed() {
        for q in [
            "level=&level=public",
            "level=admin&level=public",
            "level=admin&rule=a&rule=b",
            "level=admin&host=a&host=b",
            "level=admin&host=",
            "rule=",
        ] {
            assert!(AuthQuery::parse(q).is_err(), "{q}");
        }
        let q = AuthQuery::parse("level=admin&rule=console&host=a.b&x=1").unwrap();
        assert_eq!(
            q,
            AuthQuery {
                level: Some("admin"),
                rule: Some("console"),
                host: Some("a.b")
            }
        );
    }

    /// Issue 15: `;` parameters were cut but the dot segments they hid
    /// were not resolved, so `/static/..;/admin` (a Java backend's
    /// `/admin`) got the `/static` rule.
    #[test]
    fn servlet_path_parameters_resolve_dot_segments() {
        let b = |raw: &str| {
            crate::policy::backend_path(raw.as_bytes())
                .map(|o| o.map(|v| String::from_utf8(v).unwrap()))
        };
        assert_eq!(b("/static/..;/admin"), Ok(Some("/admin".into())));
        assert_eq!(b("/x/..;/admin"), Ok(Some("/admin".into())));
        assert_eq!(b("/static/.;/../admin"), Ok(Some("/admin".into())));
        assert_eq!(
            b("/static/%2e%2e;/admin/x?y=1"),
            Ok(Some("/admin/x".into()))
        );
        assert_eq!(b("/a;jsessionid=1/b/"), Ok(Some("/a/b/".into())));
        assert_eq!(b("/plain/path"), Ok(None));
        assert!(b("/..;/..;/etc").is_err());
    }
}
