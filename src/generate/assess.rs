//! What one Ingress path (an item) needs, from the request paths that reach
//! it: its own level, the sub-paths `--split` writes as paths of their own
//! ([`super::carve`]), and what cannot be carved (the fallback there).

use super::carve::{self, Cut};
use super::{Acc, Gen, Item, Source, Src, item_path};
use crate::coverage::{literal_sample, regex_literal_prefix};
use crate::policy::{DENY, Need};

/// What an uncarved request that needs another level than its item gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fallback {
    /// The item is protected at the stricter level: the rest of it is
    /// over-protected.
    Tightened,
    /// The item needs more than the request: the request is over-protected.
    Over,
    /// The item stays at its level (public, or no level meets both): the
    /// request is exposed.
    Exposed,
}

/// The assessment of one item.
#[derive(Debug, Clone)]
pub(super) struct Verdict {
    /// Its need (own level, tightened by fallbacks).
    pub(super) need: Need,
    /// Its own level: what a path below it that no narrower pattern names
    /// needs.
    pub(super) own: Need,
    /// Sub-paths to write as paths of their own: the cut, its need, and the
    /// request that showed it.
    pub(super) cuts: Vec<(Cut, Need, String)>,
    /// Requests of another level that no cut serves.
    pub(super) fallbacks: Vec<(String, Need, Fallback)>,
}

/// `/admin` and `/admin/**` of one rule: `Prefix /admin` covers both, so
/// the `Exact /admin` of the same need is not written.
fn drop_covered_exact(cuts: &mut Vec<(Cut, Need, String)>) {
    let prefixes: Vec<(String, Need)> = cuts
        .iter()
        .filter(|(c, _, _)| !c.exact)
        .map(|(c, n, _)| (c.path.clone(), n.clone()))
        .collect();
    cuts.retain(|(c, n, _)| {
        !c.exact
            || !prefixes
                .iter()
                .any(|(p, m)| *p == c.path && carve::same(m, n))
    });
}

/// What a request needs of a location: its `GET` need, or, when `GET` is
/// public, another method's (nginx cannot tell methods apart per location;
/// once a location has stepup's auth the runtime applies per-method needs).
fn effective(s: &Source) -> (&Need, Option<usize>) {
    if s.get == Need::Public {
        (&s.meth, s.meth_rule)
    } else {
        (&s.get, s.get_rule)
    }
}

impl Gen<'_> {
    /// Whether an auth-url can name a level that meets `n` (deny only when
    /// the policy itself says deny).
    pub(super) fn satisfiable(&self, n: &Need) -> bool {
        match n {
            Need::Public | Need::Deny => true,
            Need::Auth { levels, .. } if levels.len() == 1 => true,
            Need::Auth { .. } => self
                .resolve(n, "", &mut Vec::new())
                .is_some_and(|l| l.name != DENY),
        }
    }

    /// Assess item `ii` of `s` from what reached it.
    pub(super) fn assess(&self, s: &Src, ii: usize, acc: &Acc) -> Verdict {
        let it = s.items[ii];
        let own_src = acc
            .own
            .as_ref()
            .or(acc.base.as_ref())
            .or(acc.probes.first());
        let mut own = own_src.map_or(Need::Public, |o| effective(o).0.clone());
        if let Item::Carve { carve } = it {
            if let Some(c) = s.carves.get(carve) {
                own = own.and(&c.floor);
            }
        }
        let mut v = Verdict {
            need: own.clone(),
            own: own.clone(),
            cuts: Vec::new(),
            fallbacks: Vec::new(),
        };
        for src in acc.all() {
            let (e, rule) = effective(src);
            if carve::same(e, &own) {
                continue;
            }
            match self.cut_of(s, it, acc, src, rule, e, &own) {
                Some(c) => v.cuts.push((c, e.clone(), src.shown.clone())),
                None => self.fall_back(&mut v, src, e, it == Item::DefaultBackend),
            }
        }
        drop_covered_exact(&mut v.cuts);
        v
    }

    /// The path to write for request `src` (need `e`, from policy rule
    /// `rule`) that reaches item `it` of level `own`, if one can serve it:
    /// below the item, not made already (then it did not win), and for a
    /// narrowed pattern only when it is stricter (it over-protects).
    #[allow(clippy::too_many_arguments)]
    fn cut_of(
        &self,
        s: &Src,
        it: Item,
        acc: &Acc,
        src: &Source,
        rule: Option<usize>,
        e: &Need,
        own: &Need,
    ) -> Option<Cut> {
        let (r, p, ty) = item_path(s, it)?;
        let lit = literal_sample(p).is_none().then(|| regex_literal_prefix(p));
        let is_base = acc.base.as_ref().is_some_and(|b| b.path == src.path);
        let c = if is_base {
            // The prefix's own path, which an exact rule (or the default,
            // when a pattern covers only what is below) gives another
            // level: `Exact` wins over the prefix.
            Cut {
                path: p.to_string(),
                exact: true,
                narrowed: false,
                pattern: src.path.clone(),
            }
        } else {
            carve::cut_for(self.policy, &src.path, rule, acc.fold)?
        };
        let made = s
            .carves
            .iter()
            .any(|k| k.rule == r && k.cut.path == c.path && k.cut.exact == c.exact);
        let ok =
            carve::inside(p, ty, lit, acc.fold, &c) && !made && (!c.narrowed || e.satisfies(own));
        ok.then_some(c)
    }

    /// A request of another level that no path of its own can serve: the
    /// safe side, except that a public path is never raised (that takes
    /// every public page behind it down) and no combination becomes deny.
    /// A defaultBackend has no path to carve below, and what it serves is
    /// the paths nothing else names: it is raised (`raise_public`).
    fn fall_back(&self, v: &mut Verdict, src: &Source, e: &Need, raise_public: bool) {
        let how = if v.own.satisfies(e) {
            Fallback::Over
        } else {
            let tight = v.need.and(e);
            if (v.own == Need::Public && !raise_public) || !self.satisfiable(&tight) {
                Fallback::Exposed
            } else {
                v.need = tight;
                Fallback::Tightened
            }
        };
        let req = if src.get == Need::Public && src.method != "GET" {
            format!("{} {}", src.method, src.shown)
        } else {
            src.shown.clone()
        };
        let entry = (req, e.clone(), how);
        if !v.fallbacks.iter().any(|f| f.0 == entry.0 && f.2 == entry.2) {
            v.fallbacks.push(entry);
        }
    }

    /// Notes for what could not be carved, and for narrowed cuts.
    pub(super) fn verdict_notes(&self, s: &Src, ii: usize, v: &Verdict, notes: &mut Vec<String>) {
        let what = super::item_label(s, s.items[ii]);
        let key = s.typed.key();
        let level = |n: &Need| {
            self.resolve(n, "", &mut Vec::new())
                .map_or_else(|| "public".to_string(), |l| l.name)
        };
        for (path, e, how) in &v.fallbacks {
            let msg = match how {
                Fallback::Tightened => format!(
                    "{key}: {path} needs {} but cannot be written as a path of its own below {what}, so the whole path is protected at {} (over-protecting the rest of it)",
                    level(e),
                    level(&v.need)
                ),
                Fallback::Over if *e == Need::Public => format!(
                    "{key}: GET {path} needs nothing, but {what} is protected at {} for another method's rule there (nginx cannot tell methods apart per location): GET is over-protected",
                    level(&v.need)
                ),
                Fallback::Over => format!(
                    "{key}: {path} needs only {} but cannot be written as a path of its own below {what}: it is over-protected at {}",
                    level(e),
                    level(&v.need)
                ),
                Fallback::Exposed => format!(
                    "{key}: {path} needs {} but cannot be written as a path of its own below {what}, which stays {} (raising it would put its other paths behind that level): {path} is exposed; lint reports it",
                    level(e),
                    level(&v.need)
                ),
            };
            notes.push(msg);
        }
        if let Item::Carve { carve } = s.items[ii] {
            if let Some(c) = s.carves.get(carve).filter(|c| c.cut.narrowed) {
                notes.push(format!(
                    "{key}: pattern {} cannot be written as an Ingress path; its literal start {} (Prefix) is protected at {}, over-protecting the rest of {}",
                    c.cut.pattern,
                    c.cut.path,
                    level(&v.need),
                    c.cut.path
                ));
            }
        }
    }
}

impl Gen<'_> {
    /// Policy rules bound to hosts that a catch-all or wildcard Ingress host
    /// serves among others (`hosts: [admin.example.com]`, an Ingress for
    /// `*.example.com`): an Ingress path cannot say "only on this host", so
    /// generate cannot apply them there, and the probes (which use one
    /// sample host per server) do not see them. Not silent: a note names
    /// the rule and the fix (an Ingress rule for that host, which generate
    /// then protects like any other).
    pub(super) fn host_rule_notes(&self, notes: &mut Vec<String>) {
        let named: std::collections::BTreeSet<&str> = self
            .srcs
            .iter()
            .flat_map(|s| s.typed.rules.iter().filter_map(|r| r.host.as_deref()))
            .filter(|h| !h.starts_with("*."))
            .collect();
        for s in self.srcs.iter().filter(|s| s.skip.is_none()) {
            for r in &s.typed.rules {
                let suffix = match r.host.as_deref() {
                    None => None,
                    Some(h) => match h.strip_prefix("*.") {
                        Some(rest) => Some(rest),
                        None => continue,
                    },
                };
                let probe = crate::coverage::probe_host_of(r.host.as_deref());
                for rule in self.policy.rules.iter().filter(|x| !x.hosts.is_empty()) {
                    if rule.hosts.iter().any(|h| h.matches(&probe)) {
                        continue;
                    }
                    let reached: Vec<String> = rule
                        .hosts
                        .iter()
                        .filter(|h| serves_host(suffix, h, &named))
                        .map(ToString::to_string)
                        .collect();
                    if reached.is_empty() {
                        continue;
                    }
                    notes.push(format!(
                        "{}: host {} also serves {} where policy rule {} applies (level {}); a host pattern cannot be written as an Ingress path, so it is not applied there: those requests get the level of the path that serves them; give {} an Ingress rule of its own",
                        s.typed.key(),
                        r.host.as_deref().unwrap_or("* (catch-all)"),
                        reached.join(", "),
                        rule.name,
                        rule.level,
                        reached.join(", ")
                    ));
                }
            }
        }
    }
}

/// Whether the server of Ingress host `*.<suffix>` (`None`: the catch-all)
/// serves requests for policy host `h` that no exact Ingress host takes.
fn serves_host(
    suffix: Option<&str>,
    h: &crate::glob::HostPattern,
    named: &std::collections::BTreeSet<&str>,
) -> bool {
    use crate::glob::HostPattern;
    match (suffix, h) {
        (None, HostPattern::Exact(x)) => !named.contains(x.as_str()),
        (None, HostPattern::Wildcard(_)) => true,
        (Some(suf), HostPattern::Exact(x)) => {
            !named.contains(x.as_str())
                && x.split_once('.')
                    .is_some_and(|(l, rest)| !l.is_empty() && rest == suf)
        }
        (Some(suf), HostPattern::Wildcard(y)) => y == suf,
    }
}
