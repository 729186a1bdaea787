//! `stepup audit`: what is exposed in a cluster right now.
//!
//! The analysis is lint's, unchanged: [`crate::lint::lint`] over one
//! [`RouteTable`] built from every listed Ingress at once (ingress-nginx
//! merges a host's Ingresses across namespaces, and so does the table), so
//! cluster-wide shadowing comes out of the same rules. On top of the
//! findings, [`analyze`] builds a per-host route map — each location, what
//! the policy requires there, what it enforces, and a status taken from the
//! findings — for the human table and the HTML report.
//!
//! Module map (I/O at the edges): [`kube`] lists Ingresses and
//! IngressClasses from the API server (kube client, paginated); this module
//! is pure; [`report`] renders the human table, JSON and PolicyReports;
//! [`html`] renders the self-contained HTML report.

pub mod html;
pub mod kube;
pub mod report;

use std::collections::HashMap;

use crate::controllers::ingress_nginx::annotations::{at_location, auth_ref};
use crate::controllers::ingress_nginx::routing::{CATCH_ALL, RouteTable};
use crate::coverage::{route_needs, route_path};
use crate::ingress::Backend;
use crate::lint::{self, Finding, Severity};
use crate::policy::{Need, Policy};

/// How a route stands, from the findings on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// The policy requires nothing here.
    Public,
    /// Auth required and no finding on the route.
    Ok,
    /// At least one warning finding on the route.
    Warning,
    /// At least one error finding on the route.
    Error,
}

impl Status {
    /// Lower-case label.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Public => "public",
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Error => "error",
        }
    }
}

/// One location of a host's route map.
#[derive(Debug, Clone)]
pub struct Route {
    /// The path as written in the Ingress.
    pub path: String,
    /// Its pathType as written.
    pub path_type: &'static str,
    /// `namespace/name` of the Ingress whose annotations apply.
    pub ingress: String,
    /// Namespace of that Ingress.
    pub namespace: String,
    /// Where traffic goes.
    pub backend: String,
    /// What the policy requires for the requests this location serves
    /// (all probes through it combined; lint's sensitive heuristics included).
    pub required: String,
    /// What the location enforces (`none`, `stepup:<level>`, `external:…`).
    pub enforced: String,
    /// Worst finding on it, or public/ok.
    pub status: Status,
    /// Rule IDs of the findings on it, sorted, unique.
    pub rules: Vec<&'static str>,
}

/// One host's routes.
#[derive(Debug, Clone)]
pub struct Host {
    /// Host name as reported in findings (`*` for the catch-all server).
    pub name: String,
    /// Locations in nginx order.
    pub routes: Vec<Route>,
}

/// The result of an audit.
#[derive(Debug, Clone)]
pub struct Audit {
    /// lint's report over the whole cluster.
    pub report: lint::Report,
    /// Route map per host, sorted by host name.
    pub hosts: Vec<Host>,
}

impl Audit {
    /// Routes of every host with this status.
    pub fn routes_with(&self, s: Status) -> usize {
        self.hosts
            .iter()
            .flat_map(|h| &h.routes)
            .filter(|r| r.status == s)
            .count()
    }
}

/// Lint the table and build the route map.
pub fn analyze(policy: &Policy, table: &RouteTable, opts: &lint::Options) -> Audit {
    let report = lint::lint(policy, table, opts);
    let hosts = route_map(policy, table, &report.findings);
    Audit { report, hosts }
}

/// Findings on a route: host as reported, Ingress, path as written.
type RouteKey<'a> = (&'a str, &'a str, &'a str, &'a str);

fn route_map(policy: &Policy, t: &RouteTable, findings: &[Finding]) -> Vec<Host> {
    let mut by_route: HashMap<RouteKey<'_>, Vec<&Finding>> = HashMap::new();
    for f in findings {
        by_route
            .entry((&f.host, &f.namespace, &f.ingress, &f.path))
            .or_default()
            .push(f);
    }
    let mut hosts = Vec::new();
    for s in &t.servers {
        let report_host = if s.name == CATCH_ALL {
            "*".to_string()
        } else {
            s.name.clone()
        };
        // What each route must enforce: lint's own computation
        // (coverage::route_needs, over coverage::Memo::probe_hit), keyed as lint
        // files its findings, so REQUIRED and STATUS cannot disagree.
        let needs = route_needs(policy, t, s);
        let mut routes = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for l in &s.locations {
            let Some(ing) = l.ingress.and_then(|i| t.ingresses.get(i)) else {
                continue;
            };
            if l.backend == Backend::Default {
                continue;
            }
            let path = route_path(l);
            // `Prefix /p` expands to two nginx locations; one row.
            if !seen.insert((l.ingress, path.to_string(), l.written_type)) {
                continue;
            }
            let need = l
                .ingress
                .and_then(|i| needs.get(&(i, route_path(l).to_string())))
                .cloned()
                .unwrap_or(Need::Public);
            let on = by_route
                .get(&(
                    report_host.as_str(),
                    ing.namespace.as_str(),
                    ing.name.as_str(),
                    path,
                ))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let mut rules: Vec<&'static str> = on.iter().map(|f| f.rule).collect();
            rules.sort_unstable();
            rules.dedup();
            let status = match on.iter().map(|f| f.severity).max() {
                Some(Severity::Error) => Status::Error,
                Some(Severity::Warning) => Status::Warning,
                _ if need == Need::Public => Status::Public,
                _ => Status::Ok,
            };
            routes.push(Route {
                path: path.to_string(),
                path_type: l.written_type.as_str(),
                ingress: ing.key(),
                namespace: ing.namespace.clone(),
                backend: l.backend.to_string(),
                required: need.label(),
                enforced: at_location(auth_ref(ing, Some(policy)), l, Some(policy))
                    .enforcement
                    .to_owned()
                    .label(),
                status,
                rules,
            });
        }
        if !routes.is_empty() {
            hosts.push(Host {
                name: report_host,
                routes,
            });
        }
    }
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    hosts
}

/// The IngressClass names ingress-nginx serves, from an IngressClass list
/// (`spec.controller: k8s.io/ingress-nginx`), sorted.
pub fn nginx_classes(list: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = list
        .get("items")
        .and_then(serde_json::Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|c| {
                    c.pointer("/spec/controller")
                        .and_then(serde_json::Value::as_str)
                        == Some(NGINX_CONTROLLER)
                })
                .filter_map(|c| c.pointer("/metadata/name")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// `spec.controller` of ingress-nginx's IngressClasses.
pub const NGINX_CONTROLLER: &str = "k8s.io/ingress-nginx";

#[cfg(test)]
mod tests;
