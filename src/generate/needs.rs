//! What each source's routes need: the policy's probes routed through the round's table.

use std::collections::BTreeMap;

use super::{Acc, Gen, Part, Source, Src, carve, item_path, serves};
use crate::controllers::ingress_nginx::routing::{Outcome, RouteTable};
use crate::coverage::{Probe, literal_sample, probe_host, probe_host_of, probes, required};
use crate::ingress::{Backend, PathType};
use crate::policy::Need;

impl<'a> Gen<'a> {
    /// Each item's own need, whether or not it is rendered this round: its
    /// path as a request (`base`) and, for a prefix, a path below it
    /// (`own`); in the regex mode of the server it is on.
    pub(super) fn own_needs(&self, t: &RouteTable, group: &str, accs: &mut [Vec<Acc>]) {
        for (si, s) in self.srcs.iter().enumerate() {
            if s.skip.is_some() || self.group_of(&s.typed) != group {
                continue;
            }
            for (ii, &it) in s.items.iter().enumerate() {
                let Some((rule, raw, ty)) = item_path(s, it) else {
                    continue;
                };
                let host = probe_host_of(s.typed.rules[rule].host.as_deref());
                let fold = t.servers[t.server_for(&host)].regex_mode;
                let acc = &mut accs[si][ii];
                acc.fold = fold;
                let Some(sample) = literal_sample(raw) else {
                    continue;
                };
                if ty != PathType::Exact {
                    acc.own = Some(self.own_source(&host, carve::below(&sample), fold, s));
                }
                acc.base = Some(self.own_source(&host, sample, fold, s));
            }
        }
    }

    /// A request path's need for `GET`, and for the first other method that
    /// needs more (a rule for `POST` only).
    pub(super) fn own_source(&self, host: &str, path: String, fold: bool, s: &Src) -> Source {
        let need = |m: &str| required(self.policy, host, m, path.as_bytes(), fold, s.sensitive);
        let (get, get_rule, _) = need("GET");
        let (method, (meth, meth_rule, _)) = ["POST", "PUT", "PATCH", "DELETE"]
            .into_iter()
            .map(|m| (m, need(m)))
            .find(|(_, n)| n.0 != Need::Public)
            .unwrap_or(("GET", (get.clone(), get_rule, false)));
        Source {
            shown: path.clone(),
            path,
            method,
            get,
            get_rule,
            meth,
            meth_rule,
        }
    }

    /// Route lint's probe paths through `t` and record, per item of ours,
    /// which request paths reach it.
    pub(super) fn probe(
        &self,
        t: &RouteTable,
        group: &str,
        parts: &[Vec<Part>],
        owner: &BTreeMap<String, (usize, usize)>,
        accs: &mut [Vec<Acc>],
    ) {
        let policy = self.policy;
        self.own_needs(t, group, accs);
        for s in &t.servers {
            let host = probe_host(s);
            for Probe {
                path,
                shown,
                method,
                at,
            } in probes(policy, s, &host)
            {
                let routed = t.route(&host, path.as_bytes());
                let (li, uri) = match (at, &routed.outcome) {
                    (Some(i), _) => (i, path.as_bytes().to_vec()),
                    (None, Outcome::Location(i)) => (*i, routed.uri.clone()),
                    _ => continue,
                };
                let l = &s.locations[li];
                let Some(ing) = l.ingress.and_then(|i| t.ingresses.get(i)) else {
                    continue;
                };
                if l.backend == Backend::Default {
                    continue;
                }
                let Some(&(si, pi)) = owner.get(&ing.key()) else {
                    continue;
                };
                let src = &self.srcs[si];
                let sens = src.sensitive;
                let (meth, meth_rule, _) =
                    required(policy, &host, method, &uri, s.regex_mode, sens);
                let (get, get_rule, _) = required(policy, &host, "GET", &uri, s.regex_mode, sens);
                let source = Source {
                    path: path.to_string(),
                    shown: shown.to_string(),
                    method,
                    get,
                    get_rule,
                    meth,
                    meth_rule,
                };
                for &ii in &parts[si][pi].items {
                    if serves(src, src.items[ii], s, l) {
                        accs[si][ii].probes.push(source.clone());
                    }
                }
            }
        }
    }

    // === rendering ===
}
