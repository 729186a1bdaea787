//! Routes whose auth the controller itself turns off or moves: SU021
//! (`no-auth-locations`) and SU022 (canaries that build locations, and
//! paths a canary's Service swallows). The routing model does the work
//! (`routing::build`); these rules say why in the words of the
//! controller's code.

use std::collections::HashSet;

use super::Finding;
use super::rules::finding;
use crate::controllers::ingress_nginx::annotations::{EnforcementRef, auth_ref};
use crate::controllers::ingress_nginx::routing::{Gate, RouteTable};
use crate::policy::Policy;

/// Run SU021 and SU022.
pub(super) fn check(policy: &Policy, t: &RouteTable, out: &mut Vec<Finding>) {
    no_auth_locations(policy, t, out);
    canaries(t, out);
}

/// SU021: a location of an Ingress with auth annotations under a
/// `no-auth-locations` entry.
fn no_auth_locations(policy: &Policy, t: &RouteTable, out: &mut Vec<Finding>) {
    let mut seen = HashSet::new();
    for s in &t.servers {
        for l in &s.locations {
            let (Gate::NoAuth(entry), Some(ii)) = (&l.gate, l.ingress) else {
                continue;
            };
            let Some(ing) = t.ingresses.get(ii) else {
                continue;
            };
            if auth_ref(ing, Some(policy)).enforcement == EnforcementRef::None
                || !seen.insert((ii, l.ingress_path.clone(), s.name.clone()))
            {
                continue;
            }
            out.push(finding(
                "SU021",
                ing,
                super::report_host(&s.name),
                &l.ingress_path,
                format!(
                    "the controller's no-auth-locations entry {entry:?} is a prefix of location {}: nginx renders no auth_request and no basic auth there, so the Ingress's auth does not apply",
                    l.directive()
                ),
                format!(
                    "Move the path out from under {entry:?}, or remove that entry from the controller ConfigMap's no-auth-locations."
                ),
            ));
        }
    }
}

/// SU022: a canary whose Service an older Ingress uses builds locations
/// with its own annotations; a path to a Service a canary used first
/// builds none.
fn canaries(t: &RouteTable, out: &mut Vec<Finding>) {
    let mut seen = HashSet::new();
    for s in &t.servers {
        for l in &s.locations {
            let Some(ing) = l.ingress.and_then(|i| t.ingresses.get(i)) else {
                continue;
            };
            if !ing.is_canary() || l.is_default || !seen.insert((ing.key(), l.ingress_path.clone()))
            {
                continue;
            }
            out.push(finding(
                "SU022",
                ing,
                super::report_host(&s.name),
                &l.ingress_path,
                format!(
                    "canary Ingress sends {} to {}, a Service an older Ingress already uses, so ingress-nginx builds a real location from it (server {}) with the canary's own annotations, not the primary Ingress's",
                    l.ingress_path, l.backend, s.name
                ),
                "Give the canary a Service of its own, or copy the primary Ingress's auth annotations onto the canary.".into(),
            ));
        }
    }
    let owned = t.canary_upstreams();
    if owned.is_empty() {
        return;
    }
    for ing in t.ingresses.iter().filter(|i| !i.is_canary()) {
        for r in &ing.rules {
            for p in &r.paths {
                let Some(u) = RouteTable::upstream_of(&ing.namespace, &p.backend) else {
                    continue;
                };
                if !owned.contains(&u) {
                    continue;
                }
                out.push(finding(
                    "SU022",
                    ing,
                    r.host.as_deref().unwrap_or("*"),
                    &p.path,
                    format!(
                        "path {} builds no location: an older canary Ingress first used Service {}, so the controller marks its upstream as the canary's (NoServer) and requests for the path fall to whatever else matches",
                        p.path, p.backend
                    ),
                    "Give the canary its own Service (the canary must be newer than the Ingress it shadows and use a different Service).".into(),
                ));
            }
        }
    }
}
