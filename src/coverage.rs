//! The coverage model shared by `lint` and `generate`: which request paths
//! to probe on a server, and what the policy requires for each.
//!
//! Probes are each location's own path (a regex path at its literal start),
//! every policy rule's paths (a sample below each `/**`), the built-in
//! sensitive paths of SPEC §1 and `spec.sensitive.paths`, and `/` on
//! sensitive hosts. A path no rule covers that looks sensitive (by path, by
//! host, or because its Ingress is labelled or annotated
//! `stepup.dev/sensitive: "true"`) needs at least `authenticated`.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::controllers::ingress_nginx::routing::{
    CATCH_ALL, Location, Modifier, Outcome, RouteTable, Server,
};
use crate::ingress::Ingress;
use crate::policy::{AUTHENTICATED, Need, Policy};

/// Label or annotation marking an Ingress sensitive.
pub const SENSITIVE_MARK: &str = "stepup.dev/sensitive";

/// Whether an Ingress is marked sensitive by label or annotation.
pub fn marked_sensitive(ing: &Ingress) -> bool {
    ing.labels
        .get(SENSITIVE_MARK)
        .or_else(|| ing.annotations.get(SENSITIVE_MARK))
        .is_some_and(|v| v == "true")
}

pub(crate) const SENSITIVE_PATHS: &[&str] = &[
    "/admin",
    "/internal",
    "/actuator",
    "/debug",
    "/metrics",
    "/console",
    "/manage",
    "/api/v1/admin",
    "/payments",
    "/billing",
    "/settings/security",
];

pub(crate) const SENSITIVE_HOSTS: &[&str] = &[
    "grafana.",
    "kibana.",
    "argocd.",
    "jenkins.",
    "prometheus.",
    "alertmanager.",
];

pub(crate) fn sensitive_host(policy: &Policy, host: &str) -> bool {
    SENSITIVE_HOSTS.iter().any(|p| host.starts_with(p))
        || policy.sensitive.hosts.iter().any(|p| {
            if let Some(pre) = p.strip_suffix('*') {
                host.starts_with(pre)
            } else if let Some(suf) = p.strip_prefix("*.") {
                host.ends_with(&format!(".{suf}"))
            } else {
                host == p
            }
        })
}

pub(crate) fn sensitive_path(policy: &Policy, path: &[u8]) -> bool {
    let segs: Vec<&[u8]> = path
        .split(|b| *b == b'/')
        .filter(|s| !s.is_empty())
        .collect();
    let first = segs.first().copied().unwrap_or(b"");
    [
        "admin", "internal", "actuator", "debug", "metrics", "console", "manage", "payments",
        "billing",
    ]
    .iter()
    .any(|b| first.eq_ignore_ascii_case(b.as_bytes()))
        || (segs.len() >= 3 && segs[0] == b"api" && segs[2].eq_ignore_ascii_case(b"admin"))
        || path.starts_with(b"/settings/security")
        || policy
            .sensitive
            .paths
            .iter()
            .any(|g| g.matches(path, false))
}

pub(crate) fn probe_host(s: &Server) -> String {
    if s.name == CATCH_ALL {
        "stepup-probe.invalid".into()
    } else if let Some(rest) = s.name.strip_prefix("*.") {
        format!("stepup-probe.{rest}")
    } else {
        s.name.clone()
    }
}

pub(crate) fn probe_host_of(host: Option<&str>) -> String {
    match host {
        None => "stepup-probe.invalid".into(),
        Some(h) => match h.strip_prefix("*.") {
            Some(rest) => format!("stepup-probe.{rest}"),
            None => h.to_string(),
        },
    }
}

pub(crate) fn glob_sample(g: &crate::glob::PathGlob) -> String {
    let sample = match g.literal() {
        Some(l) => return l.to_string(),
        None => {
            let p = g.literal_prefix();
            if p == "/" {
                "/stepup-probe".into()
            } else {
                format!("{p}/stepup-probe")
            }
        }
    };
    if g.matches(sample.as_bytes(), false) {
        return sample;
    }
    // A wildcard before the end (`/api/*/admin`, `/*/secret/**`): the
    // literal start plus a segment is not matched, so probing it would
    // never see what the rule protects. Fill every wildcard instead.
    let filled: Vec<String> = g
        .as_str()
        .split('/')
        .map(|seg| match seg {
            "*" | "**" => "stepup-probe".to_string(),
            s => s.replace('*', "x"),
        })
        .collect();
    let filled = filled.join("/");
    if g.matches(filled.as_bytes(), false) {
        filled
    } else {
        sample
    }
}

/// An Ingress path as a request path (`None` for regular expressions).
pub(crate) fn literal_sample(p: &str) -> Option<String> {
    if p.is_empty() {
        return Some("/".into());
    }
    if p.bytes().any(|b| b"^$()[]{}*+?|\\".contains(&b)) {
        return None;
    }
    Some(p.to_string())
}

pub(crate) fn method_of(policy: &Policy, rule: usize) -> &'static str {
    match policy.rules[rule].methods.as_deref() {
        Some([m, ..]) => match m.as_str() {
            "POST" => "POST",
            "PUT" => "PUT",
            "PATCH" => "PATCH",
            "DELETE" => "DELETE",
            _ => "GET",
        },
        _ => "GET",
    }
}

/// The literal start of a regex path (`/admin/report[s]?/.*` → `/admin/report`).
pub(crate) fn regex_literal_prefix(p: &str) -> &str {
    let end = p
        .find(|c: char| "^$()[]{}*+?|\\.".contains(c))
        .unwrap_or(p.len());
    &p[..end]
}

/// One request lint sends to a server.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    /// Shared text (a probe set is copied per server; an `Arc` clone is a
    /// count, not an allocation).
    pub(crate) path: Arc<str>,
    /// What the probe stands for in messages: the location's path, the
    /// policy's glob (`/admin/**`) or the sensitive path, never the
    /// invented sample below a glob (`/admin/stepup-probe`).
    pub(crate) shown: Arc<str>,
    pub(crate) method: &'static str,
    /// Judge this location directly (a regex location whose literal start
    /// the regex itself may not match), instead of routing the path.
    pub(crate) at: Option<usize>,
}

/// lint's probe set for a server, deduplicated, in order.
pub(crate) fn probes(policy: &Policy, s: &Server, host: &str) -> Vec<Probe> {
    Memo::default().probes(policy, s, host)
}

fn probe(path: String, shown: &str, method: &'static str, at: Option<usize>) -> Probe {
    Probe {
        path: path.into(),
        shown: shown.into(),
        method,
        at,
    }
}

/// Each location's own path (a regex one at its literal start, judged at
/// the location).
fn location_probes(s: &Server, out: &mut Vec<Probe>) {
    for (i, l) in s.locations.iter().enumerate() {
        let shown = if l.ingress_path.is_empty() {
            "/"
        } else {
            l.ingress_path.as_str()
        };
        if let Some(p) = literal_sample(&l.ingress_path) {
            out.push(probe(p, shown, "GET", None));
        } else if l.modifier == Modifier::Regex && !l.is_default {
            let lp = regex_literal_prefix(&l.ingress_path);
            let lp = if lp.is_empty() { "/" } else { lp };
            out.push(probe(lp.to_string(), shown, "GET", Some(i)));
        }
    }
}

/// The policy's probes for `host`: its rules' paths (those of rules whose
/// `hosts` match), the sensitive paths, `/` on a sensitive host.
fn policy_probes(policy: &Policy, host: &str) -> Vec<Probe> {
    let mut out = Vec::new();
    for (i, r) in policy.rules.iter().enumerate() {
        if !r.hosts.is_empty() && !r.hosts.iter().any(|h| h.matches(host)) {
            continue;
        }
        for g in &r.paths {
            out.push(probe(
                glob_sample(g),
                g.as_str(),
                method_of(policy, i),
                None,
            ));
        }
    }
    for p in SENSITIVE_PATHS {
        out.push(probe((*p).to_string(), p, "GET", None));
    }
    for g in &policy.sensitive.paths {
        out.push(probe(glob_sample(g), g.as_str(), "GET", None));
    }
    if sensitive_host(policy, host) {
        out.push(probe("/".into(), "/", "GET", None));
    }
    out
}

use crate::FastMap;

/// What a run over many servers computes once per *host class* instead of
/// once per probe: [`required`] and the policy's probes read the host only
/// through which rules' `hosts` match it and whether it looks sensitive
/// ([`sensitive_host`]), so servers of one class share the answers
/// exactly. One per thread; each answer is what the plain function gives.
#[derive(Default)]
pub(crate) struct Memo {
    /// The last host asked about, and its class.
    host: String,
    class: Vec<u8>,
    required: FastMap<Vec<u8>, (Need, Option<usize>, bool)>,
    policy_probes: FastMap<Vec<u8>, Vec<Probe>>,
    key: Vec<u8>,
    /// The last host routed, and the server it selects.
    routed: Option<(String, usize)>,
    /// Probe results per server shape ([`Memo::probed`]).
    shapes: FastMap<Vec<u8>, Rc<[Probed]>>,
}

/// Shapes remembered per thread, at most: a cluster of all-different
/// servers then costs a bounded cache, not a copy of every probe.
const SHAPES_MAX: usize = 4096;

/// One probe of a server and where it lands ([`Memo::probe_hit`]).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Probed {
    pub(crate) probe: Probe,
    pub(crate) hit: Option<Hit>,
}

impl Memo {
    /// The class of `host`: one byte per policy rule (its `hosts` admit the
    /// host), then whether the host looks sensitive.
    fn class(&mut self, policy: &Policy, host: &str) -> &[u8] {
        if self.host != host || self.class.is_empty() {
            self.host.clear();
            self.host.push_str(host);
            self.class.clear();
            self.class.extend(
                policy.rules.iter().map(|r| {
                    u8::from(r.hosts.is_empty() || r.hosts.iter().any(|h| h.matches(host)))
                }),
            );
            self.class.push(u8::from(sensitive_host(policy, host)));
        }
        &self.class
    }

    /// [`required`], remembered per host class.
    pub(crate) fn required(
        &mut self,
        policy: &Policy,
        host: &str,
        method: &str,
        uri: &[u8],
        fold: bool,
        sensitive_ing: bool,
    ) -> (Need, Option<usize>, bool) {
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        key.extend_from_slice(self.class(policy, host));
        key.extend([u8::from(fold), u8::from(sensitive_ing)]);
        key.extend_from_slice(method.as_bytes());
        key.push(b' ');
        key.extend_from_slice(uri);
        let got = match self.required.get(key.as_slice()) {
            Some(hit) => hit.clone(),
            None => {
                let r = required(policy, host, method, uri, fold, sensitive_ing);
                self.required.insert(key.clone(), r.clone());
                r
            }
        };
        self.key = key;
        got
    }

    /// lint's probe set for a server, deduplicated, in order.
    pub(crate) fn probes(&mut self, policy: &Policy, s: &Server, host: &str) -> Vec<Probe> {
        let mut out: Vec<Probe> = Vec::new();
        location_probes(s, &mut out);
        let class = self.class(policy, host).to_vec();
        let theirs = self
            .policy_probes
            .entry(class)
            .or_insert_with(|| policy_probes(policy, host));
        out.extend(theirs.iter().cloned());
        let mut seen: crate::FastSet<(&str, &str, Option<usize>)> = Default::default();
        let keep: Vec<bool> = out
            .iter()
            .map(|p| seen.insert((&*p.path, p.method, p.at)))
            .collect();
        let mut k = keep.into_iter();
        out.retain(|_| k.next().unwrap_or(false));
        out
    }
}

/// What the policy requires, with lint's sensitive heuristics (and the
/// `stepup.dev/sensitive` marking of the serving Ingress).
pub(crate) fn required(
    policy: &Policy,
    host: &str,
    method: &str,
    uri: &[u8],
    fold: bool,
    sensitive_ing: bool,
) -> (Need, Option<usize>, bool) {
    if policy.is_signin_path(uri) {
        return (Need::Public, None, false);
    }
    let m = policy.rule_for(host, method, uri, fold);
    let heuristic = m.rule.is_none()
        && m.need == Need::Public
        && (sensitive_path(policy, uri) || sensitive_host(policy, host) || sensitive_ing);
    if heuristic {
        let need = policy.need_of(AUTHENTICATED).unwrap_or(Need::Deny);
        return (need, None, true);
    }
    (m.need, m.rule, false)
}

/// Whether the Ingress that owns location `l` is marked sensitive.
fn location_marked(t: &RouteTable, l: &Location) -> bool {
    l.ingress
        .and_then(|i| t.ingresses.get(i))
        .is_some_and(marked_sensitive)
}

/// Where one probe lands and what it requires there.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    /// Index of the location in the server's `locations`.
    pub(crate) at: usize,
    /// `$uri` the location sees.
    pub(crate) uri: Vec<u8>,
    /// What the policy requires ([`required`]).
    pub(crate) need: Need,
    /// The policy rule that decided it.
    pub(crate) rule: Option<usize>,
    /// Decided by the sensitive heuristics, not a rule.
    pub(crate) heuristic: bool,
}

impl Memo {
    /// Route one probe on server `s` (probed as `host`) and judge it: the one
    /// computation lint's route rules and audit's REQUIRED column share, so
    /// they cannot disagree. `None` when no location serves it (a redirect,
    /// a 400, no match). [`required`] is remembered.
    pub(crate) fn probe_hit(
        &mut self,
        policy: &Policy,
        t: &RouteTable,
        s: &Server,
        host: &str,
        pr: &Probe,
    ) -> Option<Hit> {
        let si = self.server_index(t, host);
        let routed = t.route_on(si, host, pr.path.as_bytes());
        let (at, uri) = match (pr.at, routed.outcome) {
            (Some(i), _) => (i, pr.path.as_bytes().to_vec()),
            (None, Outcome::Location(i)) => (i, routed.uri),
            _ => return None,
        };
        let l = s.locations.get(at)?;
        let marked = location_marked(t, l);
        let (need, rule, heuristic) =
            self.required(policy, host, pr.method, &uri, s.regex_mode, marked);
        Some(Hit {
            at,
            uri,
            need,
            rule,
            heuristic,
        })
    }
}

impl Memo {
    /// Every probe of server `s` (probed as `host`) with where it lands:
    /// [`Memo::probes`], each through [`Memo::probe_hit`]. Remembered per
    /// *shape*: what those two read of the server, which is the host's
    /// class, regex mode, whether it has an `app-root`, and per location
    /// its name, Ingress path, modifier, default flag, whether it answers
    /// by itself, and whether its Ingress is marked sensitive. Servers of
    /// one shape route every probe path alike (nginx's location choice
    /// reads only those) and need alike, so the answer is exact. A server
    /// that `host` does not select is not remembered.
    pub(crate) fn probed(
        &mut self,
        policy: &Policy,
        t: &RouteTable,
        s: &Server,
        host: &str,
    ) -> Rc<[Probed]> {
        let si = self.server_index(t, host);
        let own = t.servers.get(si).is_some_and(|x| std::ptr::eq(x, s));
        let key = own.then(|| self.shape_key(policy, t, s, host));
        if let Some(hit) = key.as_ref().and_then(|k| self.shapes.get(k)) {
            let hit = hit.clone();
            #[cfg(debug_assertions)]
            {
                let fresh = self.probed_fresh(policy, t, s, host);
                assert!(
                    *fresh == *hit,
                    "coverage shape memo differs from the per-server probes on {}",
                    s.name
                );
            }
            return hit;
        }
        let fresh = self.probed_fresh(policy, t, s, host);
        if let Some(k) = key.filter(|_| self.shapes.len() < SHAPES_MAX) {
            self.shapes.insert(k, fresh.clone());
        }
        fresh
    }

    fn probed_fresh(
        &mut self,
        policy: &Policy,
        t: &RouteTable,
        s: &Server,
        host: &str,
    ) -> Rc<[Probed]> {
        let probes = self.probes(policy, s, host);
        probes
            .into_iter()
            .map(|probe| {
                let hit = self.probe_hit(policy, t, s, host, &probe);
                Probed { probe, hit }
            })
            .collect()
    }

    /// The server `host` selects, remembered for the last host.
    fn server_index(&mut self, t: &RouteTable, host: &str) -> usize {
        match &self.routed {
            Some((h, i)) if h == host => *i,
            _ => {
                let i = t.server_for(host);
                self.routed = Some((host.to_string(), i));
                i
            }
        }
    }

    /// What [`Memo::probed`] reads of a server, as bytes (fields are
    /// separated by a 0 byte, which no name or path holds).
    fn shape_key(&mut self, policy: &Policy, t: &RouteTable, s: &Server, host: &str) -> Vec<u8> {
        let mut k = self.class(policy, host).to_vec();
        k.extend([u8::from(s.regex_mode), u8::from(s.app_root.is_some())]);
        if let Some(root) = &s.app_root {
            k.extend_from_slice(root.as_bytes());
            k.push(0);
        }
        for l in &s.locations {
            let marked = location_marked(t, l);
            k.extend_from_slice(l.name.as_bytes());
            k.push(0);
            k.extend_from_slice(l.ingress_path.as_bytes());
            k.push(0);
            k.extend([
                l.modifier as u8,
                u8::from(l.is_default),
                u8::from(l.answer.is_some()),
                u8::from(marked),
            ]);
        }
        k
    }
}

/// The Ingress path a location's findings are filed under: `/` for a
/// server's root default (a `spec.defaultBackend`), else the path as
/// written.
pub(crate) fn route_path(l: &Location) -> &str {
    if l.is_default { "/" } else { &l.ingress_path }
}

/// What each route of server `s` must enforce, keyed by (Ingress index,
/// [`route_path`]): the strictest need of every probe that lands on any of
/// its locations (a `Prefix /p` renders two, `/p/` and `= /p`), which is
/// how lint judges it. Routes no probe reaches are absent (public).
pub(crate) fn route_needs(
    policy: &Policy,
    t: &RouteTable,
    s: &Server,
) -> HashMap<(usize, String), Need> {
    let host = probe_host(s);
    let mut needs: HashMap<(usize, String), Need> = HashMap::new();
    let probed = Memo::default().probed_fresh(policy, t, s, &host);
    for hit in probed.iter().filter_map(|p| p.hit.as_ref()) {
        let Some(l) = s.locations.get(hit.at) else {
            continue;
        };
        let Some(i) = l.ingress else { continue };
        let e = needs
            .entry((i, route_path(l).to_string()))
            .or_insert(Need::Public);
        *e = e.and(&hit.need);
    }
    needs
}

#[cfg(test)]
mod tests;
