//! The paths a policy names public, served without another auth service's
//! login (`--split`).
//!
//! generate leaves an Ingress with another auth service's `auth-url`
//! unchanged (its login is not stepup's to rewrite). When that auth covers
//! paths a `public` policy rule names — a load balancer's `/healthz`, the
//! `/static/**` assets — the site is over-protected (lint's SU028): the
//! health check gets a 401 and the pods leave rotation. With `--split`,
//! those paths are written as paths of their own on a sibling Ingress
//! `<name>-public` without the auth annotations, the same host and backend,
//! which ingress-nginx prefers over the enclosing path (`Exact` wins over
//! every prefix; a longer prefix over a shorter: see `carve.rs`). Without
//! `--split` a note names them.
//!
//! Only what is certain is carved: a rule for every method (a `GET`-only
//! public rule leaves the other methods to the auth), a literal pattern
//! (`/healthz` → `Exact`) or `/x/**` (→ `Prefix /x`) with no stricter
//! earlier rule reaching below it, inside a literal Prefix or
//! ImplementationSpecific path of the Ingress, on a host that is not in
//! regex mode (`use-regex`/`rewrite-target` make every path a regex).

use serde_json::{Map, Value, json};

use super::carve::{self, Cut};
use super::{Gen, Src, part_name, rename};
use crate::controllers::ingress_nginx::routing::RouteTable;
use crate::coverage::{literal_sample, probe_host_of, required};
use crate::ingress::{NGINX, PathType};
use crate::policy::Need;

/// One public path to serve on its own: host, cut, the Ingress path it is
/// carved from (rule and path index) and the policy rule naming it.
struct PublicCut {
    host: Option<String>,
    cut: Cut,
    rule: usize,
    path: usize,
    policy_rule: usize,
}

impl Gen<'_> {
    /// The sibling Ingress serving `s`'s public paths without its auth, for
    /// a source left unchanged because another auth service protects it.
    /// Notes say what was carved, or (without `--split`) what could be.
    pub(super) fn public_sibling(
        &self,
        s: &Src,
        t: &RouteTable,
        notes: &mut Vec<String>,
    ) -> Option<Value> {
        if !s.foreign_auth {
            return None;
        }
        let cuts = self.public_cuts(s, t);
        if cuts.is_empty() {
            return None;
        }
        let key = s.typed.key();
        let shown: Vec<String> = cuts.iter().map(|c| c.cut.pattern.clone()).collect();
        let mut rules: Vec<&str> = cuts
            .iter()
            .filter_map(|c| self.policy.rules.get(c.policy_rule))
            .map(|r| r.name.as_str())
            .collect();
        rules.dedup();
        let name = part_name(&s.typed.name, "public");
        if !self.opts.split {
            notes.push(format!(
                "{key}: its auth service also covers {} (public by policy rule {}); --split serves them from an Ingress {name} without that auth",
                shown.join(", "),
                rules.join(", ")
            ));
            return None;
        }
        if self.keys.contains(&format!("{}/{name}", s.typed.namespace)) {
            notes.push(format!(
                "{key}: {} are public by policy but an Ingress {name} exists already: not carved out of the other auth service's paths",
                shown.join(", ")
            ));
            return None;
        }
        notes.push(format!(
            "{key}: {} (public by policy rule {}) served from {name} without the other auth service's annotations; its other paths keep that auth",
            shown.join(", "),
            rules.join(", ")
        ));
        Some(self.sibling_value(s, &name, &cuts))
    }

    /// Every public path of the policy that an Ingress path of `s` serves
    /// and can be written below it, on hosts `t` does not route in regex
    /// mode (there every path is a regex, and `^/healthz` would match
    /// `/healthzx` too).
    fn public_cuts(&self, s: &Src, t: &RouteTable) -> Vec<PublicCut> {
        let mut out: Vec<PublicCut> = Vec::new();
        for (ri, r) in s.typed.rules.iter().enumerate() {
            let host = probe_host_of(r.host.as_deref());
            let regex_mode = t
                .servers
                .get(t.server_for(&host))
                .is_none_or(|srv| srv.regex_mode);
            if regex_mode {
                continue;
            }
            for (pi, p) in r.paths.iter().enumerate() {
                if p.path_type == PathType::Exact || literal_sample(&p.path).is_none() {
                    continue;
                }
                for (idx, cut) in self.public_globs(&host, s.sensitive) {
                    let dup = out.iter().any(|c| c.host == r.host && c.cut == cut);
                    if !dup && carve::inside(&p.path, p.path_type, None, false, &cut) {
                        out.push(PublicCut {
                            host: r.host.clone(),
                            cut,
                            rule: ri,
                            path: pi,
                            policy_rule: idx,
                        });
                    }
                }
            }
        }
        out
    }

    /// The policy's public patterns on `host` that decide what they name:
    /// (rule index, cut).
    fn public_globs(&self, host: &str, sensitive: bool) -> Vec<(usize, Cut)> {
        let policy = self.policy;
        let mut out = Vec::new();
        for (idx, rule) in policy.rules.iter().enumerate() {
            if rule.need != Need::Public || rule.methods.is_some() {
                continue;
            }
            for g in &rule.paths {
                let cut = carve::of_glob(g);
                if cut.narrowed {
                    continue;
                }
                let mut samples = vec![cut.path.clone()];
                if !cut.exact {
                    samples.push(carve::below(&cut.path));
                }
                let decided = samples.iter().all(|p| {
                    let (need, by, _) =
                        required(policy, host, "GET", p.as_bytes(), false, sensitive);
                    need == Need::Public && by == Some(idx)
                });
                let stricter_below = !cut.exact && {
                    let under = format!("{}/", cut.path.trim_end_matches('/'));
                    policy.rules[..idx].iter().any(|e| {
                        e.need != Need::Public
                            && (e.hosts.is_empty() || e.hosts.iter().any(|h| h.matches(host)))
                            && e.paths
                                .iter()
                                .any(|eg| eg.may_match_under(under.as_bytes(), false))
                    })
                };
                if decided && !stricter_below {
                    out.push((idx, cut));
                }
            }
        }
        out
    }

    /// `<name>-public`: the source's metadata and class, no auth
    /// annotations, and one rule per host with the carved paths.
    fn sibling_value(&self, s: &Src, name: &str, cuts: &[PublicCut]) -> Value {
        let mut v = s.raw.clone();
        rename(&mut v, name);
        strip_auth(&mut v);
        let mut rules: Vec<(Option<String>, Vec<Value>)> = Vec::new();
        for c in cuts {
            let Some(src) = s
                .raw
                .pointer(&format!("/spec/rules/{}/http/paths/{}", c.rule, c.path))
            else {
                continue;
            };
            let mut p = src.clone();
            if let Some(m) = p.as_object_mut() {
                m.insert("path".into(), Value::from(c.cut.path.clone()));
                let ty = if c.cut.exact { "Exact" } else { "Prefix" };
                m.insert("pathType".into(), Value::from(ty));
            }
            match rules.iter_mut().find(|(h, _)| *h == c.host) {
                Some((_, ps)) => ps.push(p),
                None => rules.push((c.host.clone(), vec![p])),
            }
        }
        let rules: Vec<Value> = rules
            .into_iter()
            .map(|(h, paths)| {
                let mut r = Map::new();
                if let Some(h) = h {
                    r.insert("host".into(), Value::from(h));
                }
                r.insert("http".into(), json!({ "paths": paths }));
                Value::Object(r)
            })
            .collect();
        if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
            spec.shift_remove("defaultBackend");
            spec.shift_remove("backend");
            spec.insert("rules".into(), Value::Array(rules));
        }
        v
    }
}

/// Remove ingress-nginx's auth annotations (`auth-*`, `enable-global-auth`
/// stays as written: global auth is the controller's, and lint reports it).
fn strip_auth(v: &mut Value) {
    let Some(a) = v
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let auth = format!("{NGINX}auth-");
    a.retain(|k, _| !k.starts_with(&auth));
}
