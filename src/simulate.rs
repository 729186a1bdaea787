//! `simulate` and `test`: requests against a policy and a set of Ingresses.
//!
//! Both go through the same path: parse the URL, route it with the
//! ingress-nginx model (unless no Ingresses were given: policy-only mode),
//! and [`decide`](crate::decision::decide). `test` adds a table of cases
//! with expectations.

pub mod canary;

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::claims::{self, Claims};
use crate::controllers::ingress_nginx::routing::RouteTable;
use crate::decision::{self, Client, Kind, Request, Route, Verdict};
use crate::error::InputError;
use crate::policy::Policy;
pub use canary::{CanaryView, Sent};

/// A URL split the way nginx sees the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: String,
    /// Host header (with port, if given).
    pub host: String,
    /// Raw request target (path and query), exactly as it will be sent.
    pub target: String,
}

/// Split `https://host[:port]/raw/path?q`. The path is kept raw: no
/// normalisation or decoding happens here, that is nginx's job.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not an absolute http(s) URL"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("{url:?}: scheme must be http or https"));
    }
    let (host, target) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if host.is_empty() || host.contains('@') {
        return Err(format!("{url:?}: the URL needs a host (and no user info)"));
    }
    let target = if target.starts_with('?') {
        format!("/{target}")
    } else {
        target.to_string()
    };
    if target.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(format!(
            "{url:?}: spaces and control characters cannot be sent on a request line; percent-encode them"
        ));
    }
    Ok(Target {
        scheme,
        host: host.to_string(),
        target,
    })
}

/// How claims were obtained, for the report.
#[derive(Debug, Clone, Default)]
pub struct ClaimsInput {
    /// The claims (relative times resolved).
    pub claims: Option<Claims>,
    /// Decoded from a JWT without verifying it.
    pub unverified_token: bool,
}

/// What the request carries besides its method, URL and claims.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// Client address and basic credentials.
    pub client: Client,
    /// Headers and cookies (canary selection).
    pub sent: Sent,
}

impl Extras {
    /// Parse `-H 'Name: value'`, `--cookie name=value` (or `a=1; b=2`),
    /// `--client-ip` and `--basic-auth user:password`.
    pub fn parse(
        headers: &[String],
        cookies: &[String],
        client_ip: Option<&str>,
        basic_auth: Option<&str>,
    ) -> Result<Extras, String> {
        let mut x = Extras::default();
        for h in headers {
            let (k, v) = h
                .split_once(':')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| format!("header {h:?}: write it as 'Name: value'"))?;
            if k.eq_ignore_ascii_case("cookie") {
                x.sent.cookies.extend(cookie_pairs(v)?);
            } else {
                x.sent
                    .headers
                    .push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        for c in cookies {
            x.sent.cookies.extend(cookie_pairs(c)?);
        }
        x.client.ip = client_ip
            .map(|ip| {
                ip.trim()
                    .parse::<IpAddr>()
                    .map_err(|_| format!("client IP {ip:?} is not an IPv4 or IPv6 address"))
            })
            .transpose()?;
        if let Some(b) = basic_auth {
            if !b.contains(':') {
                return Err(format!("basic auth {b:?}: write it as user:password"));
            }
            x.client.basic_auth = Some(b.to_string());
        }
        Ok(x)
    }
}

fn cookie_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    s.split(';')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| format!("cookie {p:?}: write it as name=value"))
        })
        .collect()
}

/// Everything `simulate` reports.
#[derive(Debug, Clone)]
pub struct Report {
    /// Method used.
    pub method: String,
    /// URL as given.
    pub url: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The chosen route, if an Ingress path matched.
    pub route: Option<RouteView>,
    /// The nginx location directive, if any.
    pub location: Option<String>,
    /// The server chosen.
    pub server: Option<String>,
    /// `$uri`.
    pub uri: String,
    /// Claims were decoded without verification.
    pub unverified_token: bool,
    /// Claims were given.
    pub had_claims: bool,
    /// `--client-ip`, when given.
    pub client_ip: Option<IpAddr>,
    /// A canary merged into the chosen location's backend.
    pub canary: Option<CanaryView>,
}

/// The route part of the JSON contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteView {
    /// `namespace/name`.
    pub ingress: String,
    /// Server host (`_` for the catch-all).
    pub host: String,
    /// Path as written in the Ingress.
    pub path: String,
    /// pathType as written.
    pub path_type: String,
    /// `service:port`.
    pub backend: String,
}

/// Simulate one request.
pub fn run(
    policy: &Policy,
    table: Option<&RouteTable>,
    method: &str,
    url: &str,
    claims: &ClaimsInput,
    extras: &Extras,
    now: i64,
) -> Result<Report, String> {
    let t = parse_url(url)?;
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "method {method:?} must be an upper-case HTTP method"
        ));
    }
    let req = Request {
        method,
        scheme: &t.scheme,
        host: &t.host,
        target: &t.target,
    };
    let mut report = Report {
        method: method.to_string(),
        url: url.to_string(),
        // Filled below; policy-only mode decides here, cluster mode after routing.
        verdict: match table {
            None => decision::decide_for(
                policy,
                None,
                &req,
                &extras.client,
                claims.claims.as_ref(),
                now,
            ),
            Some(_) => Verdict::default(),
        },
        route: None,
        location: None,
        server: None,
        uri: String::new(),
        unverified_token: claims.unverified_token,
        had_claims: claims.claims.is_some(),
        client_ip: extras.client.ip,
        canary: None,
    };
    match table {
        None => {
            report.uri = crate::controllers::ingress_nginx::routing::normalize(t.target.as_bytes())
                .map(|(u, _)| String::from_utf8_lossy(&u).into_owned())
                .unwrap_or_default();
        }
        Some(table) => {
            let routed = table.route(&t.host, t.target.as_bytes());
            let loc = routed.location();
            let ingress = loc
                .and_then(|l| l.ingress)
                .and_then(|i| table.ingresses.get(i));
            let route = Route {
                routed: &routed,
                ingress,
            };
            report.verdict = decision::decide_for(
                policy,
                Some(&route),
                &req,
                &extras.client,
                claims.claims.as_ref(),
                now,
            );
            report.server = Some(routed.server.name.clone());
            report.uri = String::from_utf8_lossy(&routed.uri).into_owned();
            if let Some(l) = loc {
                report.location = Some(l.directive());
                if !l.is_default || l.backend != crate::ingress::Backend::Default {
                    if let Some(ing) = ingress {
                        report.canary = canary::at_location(table, l, ing, &extras.sent);
                        let backend = match &report.canary {
                            Some(c) if c.selected == Some(true) => c.backend.clone(),
                            _ => l.backend.to_string(),
                        };
                        report.route = Some(RouteView {
                            ingress: ing.key(),
                            host: routed.server.name.clone(),
                            path: l.ingress_path.clone(),
                            path_type: l.written_type.as_str().to_string(),
                            backend,
                        });
                    }
                }
            }
        }
    }
    Ok(report)
}

/// The JSON shape of SPEC §3 (plus extra fields).
pub fn report_json(r: &Report) -> Value {
    let v = &r.verdict;
    json!({
        "request": {"method": r.method, "url": r.url},
        "route": r.route.as_ref().map(|x| json!({
            "ingress": x.ingress, "host": x.host, "path": x.path, "pathType": x.path_type, "backend": x.backend,
        })),
        "server": r.server,
        "location": r.location,
        "normalizedPath": r.uri,
        "rule": v.rule,
        "level": v.required.label(),
        "enforced": v.enforced.label(),
        "effectiveLevel": v.effective.label(),
        "decision": v.kind.as_str(),
        "status": v.status,
        "authStatus": v.auth_status,
        "headers": v.headers,
        "exposed": v.exposed,
        "claimsVerified": if r.had_claims { Value::Bool(!r.unverified_token) } else { Value::Null },
        "trace": v.trace,
        "clientIP": r.client_ip.map(|ip| ip.to_string()),
        "conditions": v.conditions,
        "canary": r.canary.as_ref().map(|c| json!({
            "ingress": c.ingress, "backend": c.backend, "primaryBackend": c.primary,
            "condition": c.condition, "selected": c.selected, "probability": c.probability,
            "authNote": c.auth_note,
        })),
    })
}

// === test cases ===

/// Kind of a case file.
pub const TESTS_KIND: &str = "StepUpTests";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCases {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    cases: Vec<RawCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    request: String,
    #[serde(default)]
    claims: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    at: Option<String>,
    /// The client address nginx sees (source ranges).
    #[serde(default, rename = "clientIP")]
    client_ip: Option<String>,
    /// `user:password` sent as basic credentials.
    #[serde(default, rename = "basicAuth")]
    basic_auth: Option<String>,
    /// Request headers (canary selection).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Request cookies (canary selection).
    #[serde(default)]
    cookies: BTreeMap<String, String>,
    expect: Expect,
}

/// What a case expects; unset fields are not checked.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Decision (`allow`, `step_up`, …).
    #[serde(default)]
    pub decision: Option<String>,
    /// Status the client sees.
    #[serde(default)]
    pub status: Option<u16>,
    /// Policy rule name (`none` for no rule).
    #[serde(default)]
    pub rule: Option<String>,
    /// Required level label.
    #[serde(default)]
    pub level: Option<String>,
    /// Ingress `namespace/name` (`none` for no route).
    #[serde(default)]
    pub ingress: Option<String>,
    /// Backend `service:port`.
    #[serde(default)]
    pub backend: Option<String>,
    /// Whether the route is exposed.
    #[serde(default)]
    pub exposed: Option<bool>,
    /// Headers that must be present with these values (substring match).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// One parsed case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Name.
    pub name: String,
    /// Line in the case file.
    pub line: u32,
    /// Method.
    pub method: String,
    /// URL.
    pub url: String,
    /// Claims input.
    pub claims: ClaimsInput,
    /// Clock override for this case.
    pub at: Option<i64>,
    /// Client address, credentials, headers and cookies.
    pub extras: Extras,
    /// Expectations.
    pub expect: Expect,
}

/// Parse `--at`: RFC 3339 or seconds since the epoch.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("{s:?} is not RFC 3339 time or epoch seconds ({e})"))
        .and_then(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_err(|_| format!("{s:?} is before 1970"))
                .and_then(|d| {
                    i64::try_from(d.as_secs()).map_err(|_| format!("{s:?} is too far away"))
                })
        })
}

/// Parse a case file.
pub fn parse_cases(file: &str, text: &str) -> Result<Vec<Case>, InputError> {
    let docs = crate::source::parse_documents(text).map_err(|e| InputError::syntax(file, &e))?;
    let [doc] = docs.as_slice() else {
        return Err(InputError::at(
            file,
            1,
            "a case file holds exactly one document",
        ));
    };
    let raw: RawCases = crate::error::deserialize(file, doc)?;
    if raw.api_version != crate::policy::API_VERSION || raw.kind != TESTS_KIND {
        return Err(InputError::at(
            file,
            doc.line,
            format!(
                "expected apiVersion {:?} and kind {TESTS_KIND:?}",
                crate::policy::API_VERSION
            ),
        ));
    }
    let mut out = Vec::new();
    for (i, c) in raw.cases.into_iter().enumerate() {
        let line = doc
            .lines
            .line_of(&format!("/cases/{i}"))
            .unwrap_or(doc.line);
        let err = |p: &str, m: String| {
            InputError::at(
                file,
                doc.lines.line_of(&format!("/cases/{i}{p}")).unwrap_or(line),
                format!("cases[{i}]{p}: {m}").replace("]/", "]."),
            )
        };
        let (method, url) = match c.request.trim().split_once(' ') {
            Some((m, u)) => (m.trim().to_string(), u.trim().to_string()),
            None => ("GET".to_string(), c.request.trim().to_string()),
        };
        parse_url(&url).map_err(|e| err("/request", e))?;
        if let Some(d) = &c.expect.decision {
            if Kind::parse(d).is_none() {
                return Err(err(
                    "/expect/decision",
                    format!(
                        "unknown decision {d:?} (allow, step_up, unauthenticated, forbidden, not_found, redirect, bad_request)"
                    ),
                ));
            }
        }
        let at =
            c.at.as_deref()
                .map(parse_time)
                .transpose()
                .map_err(|e| err("/at", e))?;
        let claims = match (c.claims, c.token) {
            (Some(_), Some(_)) => return Err(err("", "give claims or token, not both".into())),
            (Some(m), None) => ClaimsInput {
                claims: Some(m),
                unverified_token: false,
            },
            (None, Some(t)) => ClaimsInput {
                claims: Some(claims::decode_unverified(&t).map_err(|e| err("/token", e))?),
                unverified_token: true,
            },
            (None, None) => ClaimsInput::default(),
        };
        let headers: Vec<String> = c.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let cookies: Vec<String> = c.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let extras = Extras::parse(
            &headers,
            &cookies,
            c.client_ip.as_deref(),
            c.basic_auth.as_deref(),
        )
        .map_err(|e| err("", e))?;
        out.push(Case {
            extras,
            name: c.name,
            line,
            method,
            url,
            claims,
            at,
            expect: c.expect,
        });
    }
    Ok(out)
}

/// Compare a report with a case's expectations; the mismatches, if any.
pub fn mismatches(r: &Report, e: &Expect) -> Vec<String> {
    let v = &r.verdict;
    let mut out = Vec::new();
    let mut cmp = |what: &str, want: &str, got: &str| {
        if want != got {
            out.push(format!("{what}: expected {want}, got {got}"));
        }
    };
    if let Some(d) = &e.decision {
        cmp("decision", d, v.kind.as_str());
    }
    if let Some(s) = e.status {
        cmp("status", &s.to_string(), &v.status.to_string());
    }
    if let Some(rule) = &e.rule {
        cmp("rule", rule, v.rule.as_deref().unwrap_or("none"));
    }
    if let Some(l) = &e.level {
        cmp("level", l, &v.required.label());
    }
    if let Some(i) = &e.ingress {
        cmp(
            "ingress",
            i,
            r.route.as_ref().map_or("none", |x| x.ingress.as_str()),
        );
    }
    if let Some(b) = &e.backend {
        cmp(
            "backend",
            b,
            r.route.as_ref().map_or("none", |x| x.backend.as_str()),
        );
    }
    if let Some(x) = e.exposed {
        cmp("exposed", &x.to_string(), &v.exposed.to_string());
    }
    for (k, want) in &e.headers {
        match v.headers.iter().find(|(h, _)| h.eq_ignore_ascii_case(k)) {
            Some((_, got)) if got.contains(want.as_str()) => {}
            Some((_, got)) => out.push(format!(
                "header {k}: expected to contain {want:?}, got {got:?}"
            )),
            None => out.push(format!("header {k}: expected, but absent")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_their_raw_path() {
        let t = parse_url("https://Shop.example.com:8443/a/../%61dmin;x?q=1").unwrap();
        assert_eq!(t.host, "Shop.example.com:8443");
        assert_eq!(t.target, "/a/../%61dmin;x?q=1");
        assert_eq!(parse_url("http://h").unwrap().target, "/");
        assert_eq!(parse_url("http://h?x").unwrap().target, "/?x");
        assert!(parse_url("ftp://h/").is_err());
        assert!(parse_url("/relative").is_err());
        assert!(parse_url("http://u@h/").is_err());
        assert!(parse_url("http://h/a b").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(parse_time("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000);
        assert!(parse_time("yesterday").is_err());
    }
}
