//! The per-Ingress annotation rules (the registry is [`crate::findings`]).

use super::{Finding, Severity};
use crate::controllers::ingress_nginx::annotations::{
    AuthQuery, Enforcement, HOST_PARAM, Owner, QueryFault, auth_of, is_nginx_url_char,
    looks_like_stepup, owner,
};
use crate::ingress::{Ingress, NGINX};
use crate::policy::Policy;
use std::collections::{HashMap, HashSet};

use crate::controllers::ingress_nginx::routing::RouteTable;
use crate::controllers::ingress_nginx::routing::admit::{Check, Dropped};

/// The SU019 sentence about updates; `/validate` replaces it with one
/// that fits the operation.
pub const PREVIOUS_STAYS: &str = "if this is an update of an Ingress already in the cluster, the previous version stays live (the controller keeps the last good one)";

/// The SU019 sentence about updates under `--disable-catch-all`.
pub const PREVIOUS_DELETED: &str = "if this is an update of an Ingress already in the cluster, the controller deletes the previous version too";

/// SU019 for an Ingress the controller drops before routing.
pub(super) fn dropped(d: &Dropped) -> Finding {
    let ing = &d.ingress;
    let previous = if d.keeps_previous() {
        PREVIOUS_STAYS
    } else {
        PREVIOUS_DELETED
    };
    let fix = match d.reasons.first().map(|r| r.check) {
        Some(Check::Risk) => {
            "Remove the annotation (express a snippet's need with regular annotations), or have the platform raise annotations-risk-level."
        }
        Some(Check::Validation) => {
            "Use only characters the annotation's validator accepts (`stepup explain SU019`); `stepup generate` writes auth annotations the controller accepts."
        }
        Some(Check::WordBlocklist) => "Remove the word from the annotation's value.",
        Some(Check::DeepInspect) => {
            "Change the path or host so it holds no nginx directive or system path."
        }
        Some(Check::CatchAll) | None => {
            "Remove spec.defaultBackend (the controller runs with --disable-catch-all)."
        }
    };
    let f = finding(
        "SU019",
        ing,
        &first_host(ing),
        "",
        format!(
            "ingress-nginx drops Ingress {} before routing: {}. Its paths fall to whatever else serves them; {previous}",
            ing.key(),
            d.summary()
        ),
        fix.into(),
    );
    match d.reasons.iter().find_map(|r| r.annotation.as_deref()) {
        Some(k) => at_annotation(f, ing, k),
        None => f,
    }
}

/// SU025 for an Ingress the modelled controller does not serve: every
/// route rule skipped it, so it is said, with the flag that includes it.
pub(super) fn not_served(ing: &Ingress, why: &str) -> Finding {
    let fix = match &ing.class {
        Some(c) => format!(
            "If an ingress-nginx serves class {c:?}, lint with `--ingress-class {c}` (repeatable; add `--ingress-class nginx` to keep the default class); otherwise another controller serves it and stepup cannot check it."
        ),
        None => "If the controller runs with --watch-ingress-without-class (or a default IngressClass exists), lint with `--watch-ingress-without-class`; otherwise set spec.ingressClassName.".into(),
    };
    finding(
        "SU025",
        ing,
        &first_host(ing),
        "",
        format!(
            "Ingress {} is not routed: {why}; every route check (SU001-SU008, SU016, SU018, SU028) was skipped for it",
            ing.key()
        ),
        fix,
    )
}

/// SU020 for an admitted Ingress the controller serves otherwise than
/// written.
pub(super) fn changed(ing: &Ingress) -> Option<Finding> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(d) = &ing.denied {
        parts.push(format!("every location answers 503 ({d})"));
    }
    parts.extend(
        ing.changes
            .iter()
            .map(|c| format!("{}: {}", c.annotation, c.what)),
    );
    if parts.is_empty() {
        return None;
    }
    let f = finding(
        "SU020",
        ing,
        &first_host(ing),
        "",
        format!(
            "ingress-nginx serves Ingress {} otherwise than written: {}",
            ing.key(),
            parts.join("; ")
        ),
        "Correct or remove the annotations named.".into(),
    );
    // A 503 for every location is about the Ingress; else the first change.
    Some(match ing.changes.first().filter(|_| ing.denied.is_none()) {
        Some(c) => at_annotation(f, ing, &c.annotation),
        None => f,
    })
}

/// Build a finding located at the Ingress (or one of its paths).
pub(super) fn finding(
    rule: &'static str,
    ing: &Ingress,
    host: &str,
    path: &str,
    message: String,
    fix: String,
) -> Finding {
    let severity = super::rule(rule).map_or(Severity::Error, |r| r.severity);
    let line = ing
        .rules
        .iter()
        .flat_map(|r| r.paths.iter())
        .find(|p| !path.is_empty() && p.path == path)
        .map_or(ing.origin.line, |p| p.origin.line);
    Finding {
        rule,
        severity,
        message,
        file: ing.origin.file.to_string(),
        line,
        namespace: ing.namespace.clone(),
        ingress: ing.name.clone(),
        host: host.to_string(),
        path: path.to_string(),
        fix,
    }
}

/// `f`, moved to the line of annotation `key` (a full key, or the short
/// name of an ingress-nginx one) when the Ingress was read from a file.
pub(super) fn at_annotation(mut f: Finding, ing: &Ingress, key: &str) -> Finding {
    let line = ing
        .annotation_lines
        .get(key)
        .or_else(|| ing.annotation_lines.get(&format!("{NGINX}{key}")));
    if let Some(l) = line {
        f.line = *l;
    }
    f
}

/// The first `nginx.ingress.kubernetes.io/auth-*` annotation's key.
fn first_auth_key(ing: &Ingress) -> Option<&str> {
    ing.annotations
        .keys()
        .map(String::as_str)
        .find(|k| k.starts_with(NGINX) && k[NGINX.len()..].starts_with("auth-"))
}

fn first_host(ing: &Ingress) -> String {
    ing.rules
        .iter()
        .find_map(|r| r.host.clone())
        .unwrap_or_default()
}

/// What the per-Ingress rules need to know about the whole cluster,
/// indexed once per lint run.
pub(super) struct Context<'a> {
    /// Hosts named in a `spec.tls` of a served Ingress (`*.x` kept as is).
    tls: HashSet<&'a str>,
    /// Ingresses the modelled controller does not serve, with the reason.
    ignored: HashMap<(&'a str, &'a str), &'a str>,
}

impl<'a> Context<'a> {
    pub(super) fn new(table: &'a RouteTable) -> Context<'a> {
        Context {
            // createServers skips canaries when it assigns certificates.
            tls: table
                .ingresses
                .iter()
                .filter(|i| !i.is_canary())
                .flat_map(|i| i.tls_hosts.iter().map(String::as_str))
                .collect(),
            ignored: table
                .ignored
                .iter()
                .map(|(i, why)| ((i.namespace.as_str(), i.name.as_str()), why.as_str()))
                .collect(),
        }
    }

    /// ingress-nginx configures TLS per server: any served Ingress naming
    /// the host (or a `*.` wildcard over it) in spec.tls covers all of it.
    fn tls_covers(&self, host: &str) -> bool {
        self.tls.contains(host)
            || host
                .split_once('.')
                .is_some_and(|(_, rest)| self.tls.contains(format!("*.{rest}").as_str()))
    }
}

/// In-cluster service host: a bare name, `*.svc`, `*.cluster.local`, loopback.
pub(super) fn is_cluster_host(host: &str) -> bool {
    let h = host.split(':').next().unwrap_or(host);
    let h = h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase();
    let h = h.as_str();
    !h.contains('$')
        && (!h.contains('.')
            || h.ends_with(".svc")
            || h.ends_with(".cluster.local")
            || h.ends_with(".svc.cluster.local")
            || h == "localhost"
            || h.starts_with("127."))
}

/// SU003: whose check the auth-url is, and whether stepup's says one
/// thing. Only `spec.authService.url` (in any in-cluster spelling) is
/// stepup; a look-alike elsewhere is an impersonation, and a URL the request
/// picks part of is no check at all.
fn auth_url_identity(
    policy: &Policy,
    ing: &Ingress,
    host: &str,
    url: &str,
    out: &mut Vec<Finding>,
) {
    let base = policy
        .auth_service
        .as_ref()
        .map_or("http://stepup.stepup-system.svc.cluster.local", |a| {
            a.url.as_str()
        });
    let err = |msg: String, fix: String| finding("SU003", ing, host, "", msg, fix);
    match owner(url, Some(policy)) {
        Owner::RequestChosen(what) => out.push(err(
            format!("auth-url {url:?}: an nginx variable lets the request pick {what}, so whoever sends it chooses what answers the auth check"),
            format!("Write a fixed URL, {base}/auth?level=… (`stepup generate`); the only variable stepup's auth-url carries is host=$host."),
        )),
        Owner::Foreign if looks_like_stepup(url) => out.push(err(
            format!("auth-url {url:?} looks like stepup's but is not spec.authService.url ({base}): it is a foreign service, not trusted to enforce its level="),
            format!("Point auth-url at {base}/auth (`stepup generate`), or set spec.authService.url if stepup really answers there."),
        )),
        Owner::Foreign => {}
        Owner::Stepup => {
            let query = AuthQuery::parse(url.split_once('?').map_or("", |(_, q)| q));
            for (msg, fix) in stepup_query_faults(policy, &query) {
                out.push(err(msg, fix));
            }
            // A canary's auth annotations are ignored (SU011 says so).
            if !ing.is_canary() && query.is_ok_and(|q| q.host.is_none()) {
                let mut f = finding(
                    "SU003",
                    ing,
                    host,
                    "",
                    "stepup auth-url has no host=$host: /auth then judges the Host header the client sent, which an absolute-form request line (GET http://other-host/...) makes differ from the host nginx routed on".into(),
                    "Add &host=$host to the auth-url (`stepup generate` writes it).".into(),
                );
                f.severity = Severity::Warning;
                out.push(f);
            }
        }
    }
}

/// Why a stepup auth-url's query fails closed at `/auth`, with the fix.
fn stepup_query_faults(
    policy: &Policy,
    query: &Result<AuthQuery<'_>, QueryFault>,
) -> Vec<(String, String)> {
    let regen = "Write the auth-url with `stepup generate`.".to_string();
    let q = match query {
        Ok(q) => q,
        Err(f) => {
            return vec![(
                format!("stepup auth-url: {f}; the check fails closed"),
                regen,
            )];
        }
    };
    let mut out = Vec::new();
    match q.level {
        None => out.push((
            "stepup auth-url names no level=; the check fails closed".into(),
            "Add level=<level> (`stepup generate` does).".into(),
        )),
        Some(l) if policy.need_of(l).is_none() => out.push((
            format!("auth-url names level {l:?}, which the policy does not define; the check fails closed"),
            format!("Use one of: {}.", policy.known_levels().join(", ")),
        )),
        Some(_) => {}
    }
    if let Some(Err(e)) = q.rule.map(|r| policy.rule_floor(r)) {
        out.push((format!("{e}; the check fails closed"), regen.clone()));
    }
    if let Some(h) = q.host.filter(|h| *h != HOST_PARAM) {
        out.push((
            format!("auth-url host={h}: /auth would judge the rules of host {h}, not of the host nginx routed on"),
            "Write host=$host (`stepup generate` does).".into(),
        ));
    }
    out
}

const INJECTION_WORDS: &[&str] = &[
    "load_module",
    "lua_package",
    "_by_lua",
    "proxy_pass",
    "serviceaccount",
    "/var/run/secrets",
    "ssl_engine",
    "include ",
];

/// The per-Ingress annotation rules.
pub(super) fn annotations(
    policy: &Policy,
    ctx: &Context<'_>,
    ing: &Ingress,
    out: &mut Vec<Finding>,
) {
    let host = first_host(ing);
    let auth = auth_of(ing, Some(policy));
    let has_auth = auth.enforcement != Enforcement::None;

    for (k, v) in &ing.annotations {
        // SU009 snippets (any controller's prefix).
        if k.ends_with("-snippet") || k.ends_with("-snippets") {
            out.push(at_annotation(
                finding(
                    "SU009",
                    ing,
                    &host,
                    "",
                    format!("annotation {k} injects raw nginx configuration"),
                    format!("Remove {k}."),
                ),
                ing,
                k,
            ));
            continue;
        }
        // SU010 injection characters in ingress-nginx values.
        if let Some(short) = k.strip_prefix(NGINX) {
            let bad_char = v
                .chars()
                .find(|c| matches!(c, '{' | '}' | ';' | '\'' | '"' | '\n' | '\r' | '\\' | '`'));
            let lower = v.to_ascii_lowercase();
            let bad_word = INJECTION_WORDS.iter().find(|w| lower.contains(*w));
            let msg = match (bad_char, bad_word) {
                (Some(c), _) => Some((
                    format!(
                        "annotation {short} contains {c:?}, a configuration injection character"
                    ),
                    "Remove the character.",
                )),
                (None, Some(w)) => Some((
                    format!("annotation {short} contains {w:?}, a configuration injection word"),
                    "Remove it.",
                )),
                (None, None) => None,
            };
            if let Some((msg, fix)) = msg {
                let f = finding("SU010", ing, &host, "", msg, fix.into());
                out.push(at_annotation(f, ing, k));
            }
        }
        // SU015 F5 NGINX prefixes.
        if k.starts_with("nginx.org/") || k.starts_with("nginx.com/") {
            let f = finding(
                "SU015",
                ing,
                &host,
                "",
                format!(
                    "annotation {k} is for F5's NGINX Ingress Controller; ingress-nginx ignores it"
                ),
                format!("Use the nginx.ingress.kubernetes.io/ equivalent of {k}."),
            );
            out.push(at_annotation(f, ing, k));
        }
    }

    // SU003 malformed auth-url / SU004 plain http outside the cluster.
    for key in ["auth-url", "auth-signin"] {
        let Some(url) = ing.nginx(key) else { continue };
        let from = out.len();
        url_rules(policy, ing, &host, key, url, out);
        for f in &mut out[from..] {
            *f = at_annotation(f.clone(), ing, key);
        }
    }
    annotation_rules_rest(policy, ctx, ing, &host, has_auth, out);
}

/// SU003 and SU004 for the URL of `key` (`auth-url` or `auth-signin`).
fn url_rules(
    policy: &Policy,
    ing: &Ingress,
    host: &str,
    key: &str,
    url: &str,
    out: &mut Vec<Finding>,
) {
    if let Some(c) = url.chars().find(|c| !is_nginx_url_char(*c)) {
        out.push(finding(
            "SU003",
            ing,
            host,
            "",
            format!("{key} contains {c:?}, which ingress-nginx's annotation validation rejects: the Ingress will not be configured"),
            "Write the URL with letters, digits and - . _ ~ / : , ? & = $ only (`stepup generate` does).".into(),
        ));
        return;
    }
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    if !scheme_ok {
        out.push(finding(
            "SU003",
            ing,
            host,
            "",
            format!("{key} {url:?} is not an absolute http(s) URL"),
            "Use an absolute URL.".into(),
        ));
        return;
    }
    if key == "auth-url" {
        let url_host = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split(['/', '?']).next())
            .unwrap_or("");
        if url.starts_with("http://") && !is_cluster_host(url_host) {
            out.push(finding(
                "SU004",
                ing,
                host,
                "",
                format!(
                    "auth-url sends credentials over plain http to {url_host}, outside the cluster"
                ),
                "Point auth-url at the in-cluster stepup Service, or use https.".into(),
            ));
        }
        auth_url_identity(policy, ing, host, url, out);
    }
}

/// The annotation rules after the URL checks (SU011-SU015).
fn annotation_rules_rest(
    policy: &Policy,
    ctx: &Context<'_>,
    ing: &Ingress,
    host: &str,
    has_auth: bool,
    out: &mut Vec<Finding>,
) {
    // SU011 auth on canaries.
    if let Some(k) = first_auth_key(ing).filter(|_| ing.is_canary()) {
        let f = finding(
            "SU011",
            ing,
            host,
            "",
            "auth annotations on a canary Ingress do not govern the traffic it gets as a canary: the main Ingress's annotations do (unless it shares a Service with an older Ingress and so builds locations of its own, SU022)".into(),
            "Move the auth annotations to the main Ingress.".into(),
        );
        out.push(at_annotation(f, ing, k));
    }
    let from = out.len();

    // SU012 auth cache.
    if let Some(key) = ing.nginx("auth-cache-key") {
        if !key.contains("$request_uri") && !key.contains("$uri") {
            out.push(finding(
                "SU012",
                ing,
                host,
                "",
                format!("auth-cache-key {key:?} omits the path: one cached answer serves every path of the location"),
                "Include $request_uri in auth-cache-key.".into(),
            ));
        }
        let credential = [
            "$http_authorization",
            "$cookie_",
            "$remote_user",
            "$http_cookie",
        ]
        .iter()
        .any(|c| key.contains(c));
        if !credential {
            out.push(finding(
                "SU012",
                ing,
                host,
                "",
                format!("auth-cache-key {key:?} omits the credential: one user's cached 200 answers for every client"),
                "Include $http_authorization and the session cookie ($cookie___Host-stepup) in auth-cache-key.".into(),
            ));
        }
        if ing.nginx("auth-cache-duration").is_none() {
            out.push(finding(
                "SU012",
                ing,
                host,
                "",
                "auth-cache-key without auth-cache-duration uses ingress-nginx's default \"200 202 401 5m\", which caches 401 answers".into(),
                "Set auth-cache-duration: \"200 202 5m\".".into(),
            ));
        }
    }
    for f in &mut out[from..] {
        *f = at_annotation(f.clone(), ing, "auth-cache-key");
    }
    if let Some(d) = ing.nginx("auth-cache-duration") {
        if d.split([' ', ',']).any(|t| t == "401" || t == "any") {
            let f = finding(
                "SU012",
                ing,
                host,
                "",
                format!(
                    "auth-cache-duration {d:?} caches 401 answers: users stay challenged after stepping up"
                ),
                "Cache 200 and 202 only, e.g. \"200 202 5m\".".into(),
            );
            out.push(at_annotation(f, ing, "auth-cache-duration"));
        }
    }

    // SU013 TLS on protected hosts.
    if has_auth {
        for r in &ing.rules {
            let Some(h) = &r.host else { continue };
            // ingress-nginx configures TLS per server: any served Ingress
            // naming the host in spec.tls covers every location of it.
            let own = ing
                .tls_hosts
                .iter()
                .any(|t| crate::ingress::tls_covers(t, h));
            if !own && !ctx.tls_covers(h) {
                out.push(finding("SU013", ing, h, "", format!("protected host {h} has no TLS section in any Ingress: tokens and cookies would travel in clear text"), format!("Add spec.tls with hosts: [{h}].")));
            }
        }
    }

    // SU014 opt-outs.
    let sensitive_ing = ing.rules.iter().any(|r| {
        r.host
            .as_deref()
            .is_some_and(|h| crate::coverage::sensitive_host(policy, h))
            || r.paths.iter().any(|p| {
                crate::coverage::sensitive_path(policy, p.path.as_bytes())
                    || policy
                        .rule_for(
                            r.host.as_deref().unwrap_or(""),
                            "GET",
                            p.path.as_bytes(),
                            false,
                        )
                        .need
                        != crate::policy::Need::Public
            })
    });
    // (enable-global-auth: "false" is judged per location, with what each
    // serves: probe.rs `global_opt_outs`.)
    if sensitive_ing {
        let allowlist = ["allowlist-source-range", "whitelist-source-range"]
            .iter()
            .any(|k| ing.nginx(k).is_some());
        if ing.nginx("satisfy") == Some("any") && allowlist && has_auth {
            let f = finding(
                "SU014",
                ing,
                host,
                "",
                "satisfy: any lets allowlisted addresses skip auth on a sensitive route".into(),
                "Use satisfy: all (the default).".into(),
            );
            out.push(at_annotation(f, ing, "satisfy"));
        }
    }

    // SU015 auth annotations on an Ingress the modelled controller does not serve.
    if let Some(why) = ctx
        .ignored
        .get(&(ing.namespace.as_str(), ing.name.as_str()))
    {
        if let Some(k) = first_auth_key(ing).filter(|_| !ing.is_canary()) {
            let f = finding(
                "SU015",
                ing,
                host,
                "",
                format!("ingress-nginx auth annotations on an Ingress it does not serve ({why})"),
                "Set ingressClassName to the ingress-nginx class, or lint with --ingress-class."
                    .into(),
            );
            out.push(at_annotation(f, ing, k));
        }
    }
}
