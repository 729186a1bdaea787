//! Route rules: probe each host with request paths through the routing
//! model and compare what serves them with what the policy requires.

use std::collections::{BTreeMap, BTreeSet};

use crate::coverage::{marked_sensitive, probe_host, probes, regex_literal_prefix, required};

use super::Finding;
use super::rules::finding;
use crate::annotations::{Enforcement, auth_of};
use crate::ingress::{Backend, Ingress};
use crate::policy::{Need, Policy};
use crate::routing::{CATCH_ALL, Location, Modifier, Outcome, RouteTable, Server};

/// Whether a regex-mode location also matches its literal part plus `x`
/// (no end anchor): `/admin` leaks to `/adminx`; `/admin/` and `/admin(/|$)`
/// do not.
fn leaks(l: &Location) -> bool {
    let lp = regex_literal_prefix(&l.name);
    !lp.ends_with('/')
        && regex::bytes::Regex::new(&format!("(?i-u)^{}", l.name))
            .is_ok_and(|re| re.is_match(format!("{lp}x").as_bytes()))
}

fn ingress_of<'a>(t: &'a RouteTable, l: &Location) -> Option<&'a Ingress> {
    l.ingress.and_then(|i| t.ingresses.get(i))
}

fn enforced_need(policy: &Policy, e: &Enforcement) -> Option<Need> {
    match e {
        Enforcement::Stepup { level, .. } => policy.need_of(level),
        _ => None,
    }
}

/// Run every route rule.
/// What each Ingress path's location must enforce: the combination of the
/// needs of every probe it serves (keyed by Ingress and path as written).
type LocationNeeds = BTreeMap<(String, String), Need>;

/// Run every route rule.
pub(super) fn routes(policy: &Policy, t: &RouteTable, out: &mut Vec<Finding>) {
    let mut needs = LocationNeeds::new();
    for s in &t.servers {
        server(policy, t, s, &mut needs, out);
    }
    mixed_levels(policy, t, &needs, out);
    signin(policy, t, out);
}

fn server(
    policy: &Policy,
    t: &RouteTable,
    s: &Server,
    needs: &mut LocationNeeds,
    out: &mut Vec<Finding>,
) {
    let host = probe_host(s);
    let report_host = if s.name == CATCH_ALL {
        "*".to_string()
    } else {
        s.name.clone()
    };
    let probes = probes(policy, s, &host);
    let mut regex_protected = None;
    for pr in probes {
        let routed = t.route(&host, pr.path.as_bytes());
        let (li, uri) = match (pr.at, &routed.outcome) {
            (Some(i), _) => (i, pr.path.as_bytes().to_vec()),
            (None, Outcome::Location(i)) => (*i, routed.uri.clone()),
            _ => continue,
        };
        let l = &s.locations[li];
        let marked = ingress_of(t, l).is_some_and(marked_sensitive);
        let (need, rule, heuristic) =
            required(policy, &host, pr.method, &uri, s.regex_mode, marked);
        if let Some(ing) =
            ingress_of(t, l).filter(|_| !l.is_default && l.backend != Backend::Default)
        {
            needs
                .entry((ing.key(), l.ingress_path.clone()))
                .and_modify(|n| *n = n.and(&need))
                .or_insert_with(|| need.clone());
        }
        if need == Need::Public {
            continue;
        }
        let Some(ing) = ingress_of(t, l) else {
            // The catch-all's default root: 404 from the default backend.
            continue;
        };
        if l.backend == Backend::Default {
            // The default backend answers 404: nothing is exposed.
            continue;
        }
        let path = pr.path.as_str();
        let auth = auth_of(ing, Some(policy));
        let why = match (rule, heuristic) {
            (Some(i), _) => format!(
                "policy rule {} requires {}",
                policy.rules[i].name,
                need.label()
            ),
            (None, true) => "it looks sensitive and no policy rule covers it".to_string(),
            (None, false) => format!("the policy default requires {}", need.label()),
        };
        let ing_path = if l.is_default {
            "/".to_string()
        } else {
            l.ingress_path.clone()
        };
        match &auth.enforcement {
            Enforcement::None => {
                let shadow = shadowed_by(policy, t, s, l, path, &need);
                let (rule_id, msg, fix) = match shadow {
                    Some(owner) => (
                        "SU006",
                        format!(
                            "{report_host}{path} is served by Ingress {} ({}) without auth, shadowing Ingress {} which protects it; {why}",
                            ing.key(),
                            l.directive(),
                            owner
                        ),
                        format!(
                            "Protect Ingress {} at level {} or remove its path {ing_path}.",
                            ing.key(),
                            need.label()
                        ),
                    ),
                    None => (
                        "SU001",
                        format!(
                            "{report_host}{path} reaches {} through Ingress {} with no auth; {why}",
                            l.backend,
                            ing.key()
                        ),
                        format!(
                            "Run `stepup generate` and apply it, or add stepup's auth-url with level={} to Ingress {}.",
                            need.label(),
                            ing.key()
                        ),
                    ),
                };
                out.push(finding(rule_id, ing, &report_host, &ing_path, msg, fix));
            }
            Enforcement::External(url) => {
                let auth_only = policy
                    .need_of(crate::policy::AUTHENTICATED)
                    .unwrap_or(Need::Public);
                if !auth_only.satisfies(&need) {
                    out.push(finding(
                        "SU003",
                        ing,
                        &report_host,
                        &ing_path,
                        format!("{report_host}{path} is checked by {url}, not stepup, which cannot enforce {}; {why}", need.label()),
                        "Replace the auth-url with stepup's (`stepup generate`).".into(),
                    ));
                }
                if let Some(f) = out.last_mut().filter(|f| f.rule == "SU003") {
                    f.severity = super::Severity::Warning;
                }
            }
            Enforcement::Basic => {
                let auth_only = policy
                    .need_of(crate::policy::AUTHENTICATED)
                    .unwrap_or(Need::Public);
                if !auth_only.satisfies(&need) {
                    let mut f = finding(
                        "SU003",
                        ing,
                        &report_host,
                        &ing_path,
                        format!(
                            "{report_host}{path} uses basic auth, which cannot enforce {}; {why}",
                            need.label()
                        ),
                        "Replace basic auth with stepup's auth-url (`stepup generate`).".into(),
                    );
                    f.severity = super::Severity::Warning;
                    out.push(f);
                }
            }
            Enforcement::Stepup { level, .. } => {
                // The level is what the sign-in flow asks for, so it must meet
                // what a GET of the path needs; stricter per-method needs
                // (POST on payments) are enforced by the runtime from the policy.
                let (get_need, _, _) = required(policy, &host, "GET", &uri, s.regex_mode, marked);
                if let Some(have) = enforced_need(policy, &auth.enforcement) {
                    if !have.satisfies(&get_need) {
                        out.push(finding(
                            "SU002",
                            ing,
                            &report_host,
                            &ing_path,
                            format!("{report_host}{path}: auth-url level {level} does not satisfy {}, which the policy requires for GET", get_need.label()),
                            format!("Set level={} in the auth-url (or `stepup generate --split`).", get_need.label()),
                        ));
                    }
                }
                if auth.signin.is_none() && is_browser_route(&report_host, path) {
                    out.push(finding(
                        "SU005",
                        ing,
                        &report_host,
                        &ing_path,
                        format!("{report_host}{path} is protected but has no auth-signin: browsers get a bare 401"),
                        format!("Add nginx.ingress.kubernetes.io/auth-signin: https://$host{}/signin?level={level}", signin_path(policy)),
                    ));
                }
            }
        }
        if s.regex_mode {
            regex_protected.get_or_insert((ing, ing_path.clone()));
            if l.modifier == Modifier::Regex && !l.is_default && leaks(l) {
                out.push(finding(
                    "SU007",
                    ing,
                    &report_host,
                    &ing_path,
                    format!("location {} on {report_host} is an unanchored prefix: {}x matches it too", l.directive(), regex_literal_prefix(&l.name)),
                    format!("End the path with `/` or `(/|$)`, or take use-regex/rewrite-target off {report_host}."),
                ));
            }
        }
    }
    if let Some((ing, path)) = regex_protected {
        let turner = s
            .locations
            .iter()
            .filter_map(|l| ingress_of(t, l))
            .find(|i| i.nginx("use-regex") == Some("true") || i.nginx("rewrite-target").is_some())
            .unwrap_or(ing);
        out.push(finding(
            "SU008",
            turner,
            &report_host,
            if turner.key() == ing.key() { &path } else { "" },
            format!("host {report_host} is in regex mode (use-regex or rewrite-target on Ingress {}): protected paths match case-insensitively and unanchored", turner.key()),
            format!("Move regex paths off {report_host}, or drop use-regex/rewrite-target."),
        ));
    }
}

fn signin_path(policy: &Policy) -> String {
    policy
        .auth_service
        .as_ref()
        .map_or_else(|| "/.stepup".to_string(), |a| a.signin_path.clone())
}

/// API routes expect a 401, not a sign-in redirect.
fn is_browser_route(host: &str, path: &str) -> bool {
    !(host.starts_with("api.")
        || path.starts_with("/api/")
        || path == "/api"
        || path.starts_with("/v1/")
        || path.starts_with("/v2/"))
}

/// Another Ingress on this host protects a path that a naive reading would
/// say covers `path` (a string prefix of it, or the same path) — whether its
/// location survived the merge or was dropped as a newer duplicate.
fn shadowed_by(
    policy: &Policy,
    t: &RouteTable,
    s: &Server,
    serving: &Location,
    path: &str,
    _need: &Need,
) -> Option<String> {
    let me = serving.ingress;
    let host = if s.name == CATCH_ALL {
        None
    } else {
        Some(s.name.as_str())
    };
    let on_host = t.ingresses_on(host);
    on_host.iter().find_map(|&i| {
        let ing = &t.ingresses[i];
        if Some(i) == me || matches!(auth_of(ing, Some(policy)).enforcement, Enforcement::None) {
            return None;
        }
        let covers = ing
            .rules
            .iter()
            .filter(|r| r.host.as_deref() == host)
            .flat_map(|r| r.paths.iter())
            .any(|p| {
                let base = p.path.trim_end_matches('/');
                !base.is_empty()
                    && (path == p.path
                        || path.as_bytes().starts_with(base.as_bytes())
                            && path.as_bytes().get(base.len()).is_none_or(|b| *b == b'/'))
            });
        covers.then(|| ing.key())
    })
}

/// SU002 warning: one stepup-protected Ingress whose paths need different levels.
fn mixed_levels(
    policy: &Policy,
    t: &RouteTable,
    loc_needs: &LocationNeeds,
    out: &mut Vec<Finding>,
) {
    for ing in &t.ingresses {
        if !matches!(
            auth_of(ing, Some(policy)).enforcement,
            Enforcement::Stepup { .. }
        ) {
            continue;
        }
        let mut needs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &ing.rules {
            let host = r.host.clone().unwrap_or_default();
            for p in &r.paths {
                let sample = if p.path.is_empty() {
                    "/"
                } else {
                    p.path.as_str()
                };
                if sample.bytes().any(|b| b"^$()[]{}*+?|\\".contains(&b)) {
                    continue;
                }
                let need = match loc_needs.get(&(ing.key(), p.path.clone())) {
                    Some(n) => n.clone(),
                    None => {
                        required(
                            policy,
                            &host,
                            "GET",
                            sample.as_bytes(),
                            false,
                            marked_sensitive(ing),
                        )
                        .0
                    }
                };
                needs
                    .entry(need.label())
                    .or_default()
                    .push(format!("{host}{sample}"));
            }
        }
        if needs.len() > 1 {
            let desc: Vec<String> = needs
                .iter()
                .map(|(lvl, ps)| format!("{lvl}: {}", ps.join(" ")))
                .collect();
            let mut f = finding(
                "SU002",
                ing,
                &ing.rules
                    .iter()
                    .find_map(|r| r.host.clone())
                    .unwrap_or_default(),
                "",
                format!(
                    "Ingress {} mixes levels in one auth annotation ({})",
                    ing.key(),
                    desc.join("; ")
                ),
                format!(
                    "Split it: `stepup generate --split -p {} <file>` writes one Ingress per level.",
                    policy.file
                ),
            );
            f.severity = super::Severity::Warning;
            out.push(f);
        }
    }
}

/// SU016: hosts whose Ingresses use auth-signin need the sign-in path routed
/// to stepup without auth.
fn signin(policy: &Policy, t: &RouteTable, out: &mut Vec<Finding>) {
    let Some(svc) = policy.auth_service.as_ref() else {
        return;
    };
    let mut done = BTreeSet::new();
    for ing in &t.ingresses {
        let auth = auth_of(ing, Some(policy));
        if auth.signin.is_none() || !matches!(auth.enforcement, Enforcement::Stepup { .. }) {
            continue;
        }
        for r in &ing.rules {
            let Some(host) = r.host.clone() else { continue };
            if !done.insert(host.clone()) {
                continue;
            }
            let probe_host = host
                .strip_prefix("*.")
                .map_or_else(|| host.clone(), |rest| format!("stepup-probe.{rest}"));
            let target = format!("{}/signin", svc.signin_path);
            let routed = t.route(&probe_host, target.as_bytes());
            let loc = routed.location();
            let owner = loc.and_then(|l| ingress_of(t, l));
            let ok_path =
                loc.is_some_and(|l| !l.is_default && l.ingress_path.starts_with(&svc.signin_path));
            match (loc, owner) {
                (Some(_), Some(o)) if ok_path => {
                    if auth_of(o, Some(policy)).enforcement != Enforcement::None {
                        out.push(finding(
                            "SU016",
                            o,
                            &host,
                            &svc.signin_path,
                            format!("{host}{} (stepup's sign-in) is itself behind auth: the sign-in redirect loops", svc.signin_path),
                            format!("Remove auth annotations from Ingress {}.", o.key()),
                        ));
                    }
                }
                _ => out.push(finding(
                    "SU016",
                    ing,
                    &host,
                    "",
                    format!(
                        "{host} uses auth-signin but no Ingress routes {} on it to stepup",
                        svc.signin_path
                    ),
                    format!("Apply the sign-in Ingress `stepup generate` writes for {host}."),
                )),
            }
        }
    }
}
