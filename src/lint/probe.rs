//! Route rules: probe each host with request paths through the routing
//! model and compare what serves them with what the policy requires.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::coverage::{marked_sensitive, probe_host, probes, regex_literal_prefix, required};

use super::Finding;
use super::rules::finding;
use crate::annotations::{AuthRef, EnforcementRef, at_location, auth_ref};
use crate::ingress::{Backend, Ingress};
use crate::policy::{Need, Policy};
use crate::routing::pcre::Pattern;
use crate::routing::{CATCH_ALL, Location, Modifier, Outcome, RouteTable, Server};

/// Whether a regex-mode location also matches its literal part plus `x`
/// (no end anchor): `/admin` leaks to `/adminx`; `/admin/` and `/admin(/|$)`
/// do not.
fn leaks(l: &Location) -> bool {
    let lp = regex_literal_prefix(&l.name);
    !lp.ends_with('/')
        && Pattern::new(&l.name)
            .is_ok_and(|re| re.is_match(format!("{lp}x").as_bytes()) == Ok(true))
}

fn ingress_of<'a>(t: &'a RouteTable, l: &Location) -> Option<&'a Ingress> {
    l.ingress.and_then(|i| t.ingresses.get(i))
}

/// What a route rule run reads: the policy, the table, and each routed
/// Ingress's auth annotations (read once, by index into `t.ingresses`).
struct Cx<'a> {
    policy: &'a Policy,
    t: &'a RouteTable,
    auths: Vec<AuthRef<'a>>,
}

impl Cx<'_> {
    fn auth(&self, i: usize) -> AuthRef<'_> {
        self.auths.get(i).copied().unwrap_or(AuthRef {
            enforcement: EnforcementRef::None,
            signin: None,
            response_headers: None,
        })
    }
}

/// What each Ingress path's location must enforce: the combination of the
/// needs of every probe it serves (keyed by Ingress index and path as
/// written; Ingress keys are unique, so this is keying by namespace/name).
type LocationNeeds<'a> = HashMap<(usize, &'a str), Need>;

/// Servers below this count are probed on one thread.
const PARALLEL_MIN_SERVERS: usize = 256;

/// Run every route rule.
pub(super) fn routes(policy: &Policy, t: &RouteTable, out: &mut Vec<Finding>) {
    let cx = Cx {
        policy,
        t,
        auths: t
            .ingresses
            .iter()
            .map(|i| auth_ref(i, Some(policy)))
            .collect(),
    };
    // Servers are independent: probe them in chunks (in parallel on large
    // tables) and concatenate in server order, so the findings and the
    // order in which needs combine are those of one sequential pass.
    let parts = super::par_chunks(&t.servers, PARALLEL_MIN_SERVERS, |chunk| {
        let mut found = Vec::new();
        let mut needs = Vec::new();
        for s in chunk {
            // Aggregated per server, so one server's probe findings (a
            // dozen per location) are alive at a time, not the cluster's.
            // Same result as aggregating all at once: every key holds the
            // server's host, and servers are disjoint.
            let mut one = Vec::new();
            server(&cx, s, &mut needs, &mut one);
            found.extend(super::aggregate(one));
        }
        (found, needs)
    });
    // Sized by its growth, not by the probes: a dozen probes share a key.
    let mut needs = LocationNeeds::new();
    for (found, part) in parts {
        out.extend(found);
        for (key, need) in part {
            match needs.entry(key) {
                Entry::Occupied(mut o) => {
                    let n = o.get().and(&need);
                    o.insert(n);
                }
                Entry::Vacant(v) => {
                    v.insert(need);
                }
            }
        }
    }
    mixed_levels(&cx, &needs, out);
    signin(&cx, out);
}

fn server<'a>(
    cx: &Cx<'a>,
    s: &'a Server,
    needs: &mut Vec<((usize, &'a str), Need)>,
    out: &mut Vec<Finding>,
) {
    let (policy, t) = (cx.policy, cx.t);
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
        let Some(l) = s.locations.get(li) else {
            continue;
        };
        let marked = ingress_of(t, l).is_some_and(marked_sensitive);
        let (need, rule, heuristic) =
            required(policy, &host, pr.method, &uri, s.regex_mode, marked);
        if let Some(i) = l
            .ingress
            .filter(|&i| i < t.ingresses.len() && !l.is_default && l.backend != Backend::Default)
        {
            needs.push(((i, l.ingress_path.as_str()), need.clone()));
        }
        if need == Need::Public {
            continue;
        }
        let (Some(ing), Some(ii)) = (ingress_of(t, l), l.ingress) else {
            // The catch-all's default root: 404 from the default backend.
            continue;
        };
        if l.backend == Backend::Default {
            // The default backend answers 404: nothing is exposed.
            continue;
        }
        let path = pr.path.as_str();
        let auth = at_location(cx.auth(ii), l, Some(policy));
        let why = || match (rule, heuristic) {
            (Some(i), _) => format!(
                "policy rule {} requires {}",
                policy.rules[i].name,
                need.label()
            ),
            (None, true) => "it looks sensitive and no policy rule covers it".to_string(),
            (None, false) => format!("the policy default requires {}", need.label()),
        };
        let ing_path = if l.is_default {
            "/"
        } else {
            l.ingress_path.as_str()
        };
        match auth.enforcement {
            EnforcementRef::None => {
                let why = why();
                let shadow = shadowed_by(cx, s, l, path, &need);
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
                out.push(finding(rule_id, ing, &report_host, ing_path, msg, fix));
            }
            // SU003 (an error whatever the path needs) reports it per Ingress.
            EnforcementRef::RequestChosen(_) => {}
            EnforcementRef::External(url) => {
                let auth_only = policy
                    .need_of(crate::policy::AUTHENTICATED)
                    .unwrap_or(Need::Public);
                if !auth_only.satisfies(&need) {
                    out.push(finding(
                        "SU003",
                        ing,
                        &report_host,
                        ing_path,
                        format!("{report_host}{path} is checked by {url}, not stepup, which cannot enforce {}; {}", need.label(), why()),
                        "Replace the auth-url with stepup's (`stepup generate`).".into(),
                    ));
                }
                if let Some(f) = out.last_mut().filter(|f| f.rule == "SU003") {
                    f.severity = super::Severity::Warning;
                }
            }
            EnforcementRef::Basic => {
                let auth_only = policy
                    .need_of(crate::policy::AUTHENTICATED)
                    .unwrap_or(Need::Public);
                if !auth_only.satisfies(&need) {
                    let mut f = finding(
                        "SU003",
                        ing,
                        &report_host,
                        ing_path,
                        format!(
                            "{report_host}{path} uses basic auth, which cannot enforce {}; {}",
                            need.label(),
                            why()
                        ),
                        "Replace basic auth with stepup's auth-url (`stepup generate`).".into(),
                    );
                    f.severity = super::Severity::Warning;
                    out.push(f);
                }
            }
            EnforcementRef::Stepup { level, .. } => {
                // The level is what the sign-in flow asks for, so it must meet
                // what a GET of the path needs; stricter per-method needs
                // (POST on payments) are enforced by the runtime from the policy.
                let (get_need, _, _) = required(policy, &host, "GET", &uri, s.regex_mode, marked);
                if let Some(have) = policy.need_of(level) {
                    if !have.satisfies(&get_need) {
                        out.push(finding(
                            "SU002",
                            ing,
                            &report_host,
                            ing_path,
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
                        ing_path,
                        format!("{report_host}{path} is protected but has no auth-signin: browsers get a bare 401"),
                        format!("Add nginx.ingress.kubernetes.io/auth-signin: https://$host{}/signin?level={level}", signin_path(policy)),
                    ));
                }
            }
        }
        if s.regex_mode {
            regex_protected.get_or_insert((ing, ing_path));
            if l.modifier == Modifier::Regex && !l.is_default && leaks(l) {
                out.push(finding(
                    "SU007",
                    ing,
                    &report_host,
                    ing_path,
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
            if turner.key() == ing.key() { path } else { "" },
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
    cx: &Cx<'_>,
    s: &Server,
    serving: &Location,
    path: &str,
    _need: &Need,
) -> Option<String> {
    let t = cx.t;
    let me = serving.ingress;
    let host = if s.name == CATCH_ALL {
        None
    } else {
        Some(s.name.as_str())
    };
    let on_host = t.ingresses_on(host);
    on_host.iter().find_map(|&i| {
        let ing = &t.ingresses[i];
        if Some(i) == me || matches!(cx.auth(i).enforcement, EnforcementRef::None) {
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
fn mixed_levels(cx: &Cx<'_>, loc_needs: &LocationNeeds<'_>, out: &mut Vec<Finding>) {
    let (policy, t) = (cx.policy, cx.t);
    for (ii, ing) in t.ingresses.iter().enumerate() {
        if !matches!(cx.auth(ii).enforcement, EnforcementRef::Stepup { .. }) {
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
                let need = match loc_needs.get(&(ii, p.path.as_str())) {
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
fn signin(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let (policy, t) = (cx.policy, cx.t);
    let Some(svc) = policy.auth_service.as_ref() else {
        return;
    };
    let mut done = BTreeSet::new();
    for (ii, ing) in t.ingresses.iter().enumerate() {
        let auth = cx.auth(ii);
        if auth.signin.is_none() || !matches!(auth.enforcement, EnforcementRef::Stepup { .. }) {
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
                (Some(l), Some(o)) if ok_path => {
                    let protected = l.ingress.is_some_and(|oi| {
                        at_location(cx.auth(oi), l, Some(policy)).enforcement
                            != EnforcementRef::None
                    });
                    if protected {
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
