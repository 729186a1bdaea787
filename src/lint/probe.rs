//! Route rules: probe each host with request paths through the routing
//! model and compare what serves them with what the policy requires.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use crate::coverage::{
    Hit as Routed, Memo, marked_sensitive, probe_host, regex_literal_prefix, required,
};

use super::Finding;
use super::grouped::{
    Groups, Hit, Lists, Over, auth_words, group_finding, over_protected, shown_path, why_text,
};
use super::rules::finding;
use crate::controllers::ingress_nginx::annotations::{
    AuthRef, EnforcementRef, at_location, auth_ref,
};
use crate::controllers::ingress_nginx::routing::pcre::Pattern;
use crate::controllers::ingress_nginx::routing::{
    CATCH_ALL, Location, Modifier, Outcome, RouteTable, Server,
};
use crate::ingress::{Backend, Ingress};
use crate::policy::{Need, Policy};

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
type LocationNeeds<'a> = crate::FastMap<(usize, &'a str), Need>;

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
    let parts = crate::par::chunks(&t.servers, PARALLEL_MIN_SERVERS, |chunk| {
        let mut found = Vec::new();
        let mut needs = Vec::new();
        let mut memo = Memo::default();
        let mut lists = Lists::default();
        for s in chunk {
            // Aggregated per server, so one server's probe findings (a
            // dozen per location) are alive at a time, not the cluster's.
            // Same result as aggregating all at once: every key holds the
            // server's host, and servers are disjoint.
            let mut one = Vec::new();
            server(&cx, s, (&mut memo, &mut lists), &mut needs, &mut one);
            found.extend(super::aggregate(one));
        }
        (found, needs)
    });
    // Sized by its growth, not by the probes: a dozen probes share a key.
    let mut needs = LocationNeeds::default();
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
    let from = out.len();
    mixed_levels(&cx, &needs, out);
    // An Ingress SU002 already says mixes levels (public ones included)
    // gets no SU028 too: its fix, `--split`, is the same.
    let mixed: BTreeSet<(String, String)> = out[from..]
        .iter()
        .map(|f| (f.namespace.clone(), f.ingress.clone()))
        .collect();
    let mut tail = out.split_off(from);
    out.retain(|f| f.rule != "SU028" || !mixed.contains(&(f.namespace.clone(), f.ingress.clone())));
    signin(&cx, &mut tail);
    // The servers' findings are aggregated already (per server, and no
    // key spans two servers); these have keys of their own (SU002 per
    // Ingress, SU016), so aggregating them alone gives what one pass over
    // everything would.
    out.extend(super::aggregate(tail));
}

/// For each location of `s`, the first location of the same Ingress path:
/// a location as a person reads it (a Prefix path builds two nginx
/// locations, `= /p` and `/p/`; they are one line of the manifest).
fn path_keys(s: &Server) -> Vec<usize> {
    let mut first: crate::FastMap<(Option<usize>, &str, bool), usize> = Default::default();
    s.locations
        .iter()
        .enumerate()
        .map(|(li, l)| {
            *first
                .entry((l.ingress, l.ingress_path.as_str(), l.is_default))
                .or_insert(li)
        })
        .collect()
}

/// Locations of `s` that serve another auth proxy's sign-in path: the path
/// of an `auth-signin` URL on the same host (`$host` or the server's name),
/// served by a location of its own (not `/`), e.g. oauth2-proxy's
/// `/oauth2/start` by `/oauth2`. ingress-nginx sends browsers there to log
/// in (`authreq` `SigninURL`, nginx.tmpl's `error_page 401`), so it is
/// public by design.
fn foreign_signin_locations(
    cx: &Cx<'_>,
    s: &Server,
    host: &str,
    keys: &[usize],
) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    let owners: BTreeSet<usize> = s.locations.iter().filter_map(|l| l.ingress).collect();
    for i in owners {
        let Some(url) = cx.auth(i).signin else {
            continue;
        };
        let Some(rest) = url.split_once("://").map(|(_, r)| r) else {
            continue;
        };
        let (url_host, path) = rest.find('/').map_or((rest, "/"), |k| rest.split_at(k));
        let path = path.split(['?', '#']).next().unwrap_or("/");
        let same_host = matches!(url_host, "$host" | "$http_host" | "$server_name")
            || url_host.eq_ignore_ascii_case(&s.name);
        if !same_host || path == "/" || cx.policy.is_signin_path(path.as_bytes()) {
            continue;
        }
        let routed = cx.t.route(host, path.as_bytes());
        let Some(li) = (match routed.outcome {
            Outcome::Location(li) | Outcome::Answer { at: Some(li), .. } => Some(li),
            _ => None,
        }) else {
            continue;
        };
        let own = s.locations.get(li).is_some_and(|l| {
            !l.is_default
                && !regex_literal_prefix(&l.ingress_path)
                    .trim_matches('/')
                    .is_empty()
        });
        if own {
            out.insert(keys.get(li).copied().unwrap_or(li));
        }
    }
    out
}

/// Whether the deciding policy rule names `uri` itself: a literal glob,
/// or one with a literal start other than `/` (`/oauth2/**`, not `/**`,
/// which is a default in all but name).
fn names_explicitly(policy: &Policy, rule: Option<usize>, uri: &[u8]) -> bool {
    rule.and_then(|i| policy.rules.get(i)).is_some_and(|r| {
        r.paths
            .iter()
            .any(|g| (g.literal().is_some() || g.literal_prefix() != "/") && g.matches(uri, false))
    })
}

/// One server's probes: what each location serves, and the route rules'
/// findings, one per location and rule.
fn server<'a>(
    cx: &Cx<'a>,
    s: &'a Server,
    (memo, lists): (&mut Memo, &mut Lists),
    needs: &mut Vec<((usize, &'a str), Need)>,
    out: &mut Vec<Finding>,
) {
    let (policy, t) = (cx.policy, cx.t);
    let host = probe_host(s);
    let report_host = super::report_host(&s.name).to_string();
    let keys = path_keys(s);
    let signin_locs = foreign_signin_locations(cx, s, &host, &keys);
    let mut groups = Groups::default();
    let mut over: BTreeMap<usize, Over> = BTreeMap::new();
    let mut protected: BTreeSet<usize> = BTreeSet::new();
    let mut regex_protected = None;
    let mut leaked = BTreeSet::new();
    // This server's needs, combined per key before they join the chunk's
    // (in first-seen order, which is the order `and` would see them).
    let mut mine: Vec<((usize, &'a str), Need)> = Vec::new();
    // Shared with audit's REQUIRED column (coverage::Memo::probe_hit),
    // remembered per server shape.
    let probed = memo.probed(policy, t, s, &host);
    for p in probed.iter() {
        let pr = &p.probe;
        let Some(Routed {
            at: li,
            uri,
            need,
            rule,
            heuristic,
        }) = p.hit.as_ref()
        else {
            continue;
        };
        let (li, uri, rule, heuristic) = (*li, uri.as_slice(), *rule, *heuristic);
        let (Some(l), Some(&key)) = (s.locations.get(li), keys.get(li)) else {
            continue;
        };
        if let Some(i) = l
            .ingress
            .filter(|&i| i < t.ingresses.len() && !l.is_default && l.backend != Backend::Default)
        {
            let key = (i, l.ingress_path.as_str());
            match mine.iter_mut().find(|(k, _)| *k == key) {
                // Meeting `n` meets `need` too: `and` would give `n`.
                Some((_, n)) if n.satisfies(need) => {}
                Some((_, n)) => *n = n.and(need),
                None => mine.push((key, need.clone())),
            }
        }
        // The catch-all's default root (no Ingress), and the default
        // backend's 404: nothing is exposed.
        let (Some(ing), Some(ii)) = (ingress_of(t, l), l.ingress) else {
            continue;
        };
        if l.backend == Backend::Default {
            continue;
        }
        let auth = at_location(cx.auth(ii), l, Some(policy));
        let hit = Hit {
            // A rule of some methods only (payments: POST, PUT, …) is
            // probed with its first; say so.
            shown: if pr.method == "GET" {
                pr.shown.clone()
            } else {
                format!("{} {}", pr.method, pr.shown).into()
            },
            need: need.clone(),
            why: why_text(rule, heuristic),
        };
        if *need == Need::Public {
            let enforced = !matches!(
                auth.enforcement,
                EnforcementRef::None | EnforcementRef::RequestChosen(_)
            );
            if enforced && !policy.is_signin_path(uri) {
                let o = over.entry(key).or_default();
                o.what = auth_words(&auth.enforcement, &l.gate);
                o.hits.push((hit, names_explicitly(policy, rule, uri)));
            }
            continue;
        }
        if signin_locs.contains(&key) && !names_explicitly(policy, rule, uri) {
            // Another auth proxy's sign-in: public by design.
            continue;
        }
        protected.insert(key);
        judge(cx, memo, s, l, key, ing, &auth, pr, uri, hit, &mut groups);
        if s.regex_mode {
            regex_protected.get_or_insert((ing, shown_path(l)));
            // Once per location, however many probes it serves.
            if l.modifier == Modifier::Regex && !l.is_default && leaked.insert(li) && leaks(l) {
                out.push(finding(
                    "SU007",
                    ing,
                    &report_host,
                    shown_path(l),
                    format!("location {} on {report_host} is an unanchored prefix: {}x matches it too", l.directive(), regex_literal_prefix(&l.name)),
                    format!("End the path with `/` or `(/|$)`, or take use-regex/rewrite-target off {report_host}."),
                ));
            }
        }
    }
    needs.extend(mine);
    for g in &groups.list {
        out.push(group_finding(policy, s, &report_host, g, lists));
    }
    for (li, o) in &over {
        if let Some(f) = over_protected(policy, s, t, &report_host, *li, o, protected.contains(li))
        {
            out.push(f);
        }
    }
    if let Some((ing, path)) = regex_protected {
        out.push(regex_mode(t, s, &report_host, ing, path));
    }
}

/// The rules that judge a protected probe by the auth of its location.
#[allow(clippy::too_many_arguments)]
fn judge<'a>(
    cx: &Cx<'a>,
    memo: &mut Memo,
    s: &Server,
    l: &Location,
    li: usize,
    ing: &'a Ingress,
    auth: &AuthRef<'_>,
    pr: &crate::coverage::Probe,
    uri: &[u8],
    hit: Hit,
    groups: &mut Groups<'a>,
) {
    let policy = cx.policy;
    let host = probe_host(s);
    let auth_only = || {
        policy
            .need_of(crate::policy::AUTHENTICATED)
            .unwrap_or(Need::Public)
    };
    match auth.enforcement {
        EnforcementRef::None => {
            if opted_out(ing, l).is_some() {
                let opt = Hit {
                    shown: hit.shown.clone(),
                    need: hit.need.clone(),
                    why: hit.why,
                };
                groups.add("SU014", usize::MAX, ing, "", opt);
            }
            match shadowed_by(cx, s, l, &pr.path, &hit.need) {
                Some(owner) => groups.add("SU006", li, ing, &owner, hit),
                None => groups.add("SU001", li, ing, "", hit),
            }
        }
        // SU003 (an error whatever the path needs) reports it per Ingress.
        EnforcementRef::RequestChosen(_) => {}
        EnforcementRef::External(url) => {
            if !auth_only().satisfies(&hit.need) {
                groups.add("SU003", li, ing, url, hit);
            }
        }
        EnforcementRef::Basic => {
            if !auth_only().satisfies(&hit.need) {
                groups.add("SU003", li, ing, "basic auth", hit);
            }
        }
        EnforcementRef::Stepup { level, .. } => {
            // The level is what the sign-in flow asks for, so it must meet
            // what a GET of the path needs; stricter per-method needs
            // (POST on payments) are enforced by the runtime from the policy.
            let marked = marked_sensitive(ing);
            let (get_need, get_rule, heuristic) =
                memo.required(policy, &host, "GET", uri, s.regex_mode, marked);
            if policy
                .need_of(level)
                .is_some_and(|have| !have.satisfies(&get_need))
            {
                let get = Hit {
                    shown: pr.shown.clone(),
                    need: get_need,
                    why: why_text(get_rule, heuristic),
                };
                groups.add("SU002", li, ing, level, get);
            }
            let report_host = super::report_host(&s.name);
            if auth.signin.is_none() && is_browser_route(report_host, &pr.path) {
                groups.add("SU005", li, ing, level, hit);
            }
        }
    }
}

/// The ConfigMap's global auth URL a location opted out of with
/// `enable-global-auth: "false"`; `Some("")` when the Ingress opts out but
/// no global-auth-url is modelled (the cluster's controller may have one).
fn opted_out<'l>(ing: &Ingress, l: &'l Location) -> Option<&'l str> {
    match &l.gate {
        crate::controllers::ingress_nginx::routing::Gate::OptedOut(url) => Some(url),
        crate::controllers::ingress_nginx::routing::Gate::Ingress => {
            let off = ing
                .nginx("enable-global-auth")
                .and_then(crate::controllers::ingress_nginx::routing::settings::parse_bool)
                == Some(false);
            (off && ing.nginx("auth-url").is_none_or(|u| u.trim().is_empty())).then_some("")
        }
        _ => None,
    }
}

/// SU008 for a host in regex mode that serves protected paths.
fn regex_mode(t: &RouteTable, s: &Server, host: &str, ing: &Ingress, path: &str) -> Finding {
    let turner = s
        .locations
        .iter()
        .filter_map(|l| ingress_of(t, l))
        .find(|i| i.nginx("use-regex") == Some("true") || i.nginx("rewrite-target").is_some())
        .unwrap_or(ing);
    finding(
        "SU008",
        turner,
        host,
        if turner.key() == ing.key() { path } else { "" },
        format!(
            "host {host} is in regex mode (use-regex or rewrite-target on Ingress {}): protected paths match case-insensitively and unanchored",
            turner.key()
        ),
        format!("Move regex paths off {host}, or drop use-regex/rewrite-target."),
    )
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
