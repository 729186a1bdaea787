//! Which level each part of a source gets: one for the whole Ingress, or one
//! per part with `--split`, and the notes that say why.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    Acc, Controller, Gen, Item, Lvl, Part, Round, Src, is_browser, is_catch_all, item_label,
    part_name, written_floor,
};
use crate::error::InputError;
use crate::policy::{DENY, Need};

impl<'a> Gen<'a> {
    pub(super) fn plan(
        &self,
        s: &Src,
        needs: &[Need],
        accs: &[Acc],
        notes: &mut Vec<String>,
    ) -> Result<Vec<Part>, InputError> {
        if s.skip.is_some() {
            return Ok(vec![self.whole(s, None)]);
        }
        let mut parts = if self.opts.split {
            self.split_parts(s, needs, notes)?
        } else {
            vec![self.whole(s, self.single_level(s, needs, accs, notes))]
        };
        for p in &mut parts {
            if let Some(l) = &p.level {
                p.rule = self.rule_of(p, l, accs);
                p.signin =
                    self.opts.controller == Controller::Nginx && l.name != DENY && is_browser(s, p);
            }
        }
        Ok(parts)
    }

    /// The source as one part.
    pub(super) fn whole(&self, s: &Src, level: Option<Lvl>) -> Part {
        Part {
            name: s.typed.name.clone(),
            renamed: false,
            items: (0..s.items.len()).collect(),
            primary: true,
            level,
            rule: None,
            signin: false,
        }
    }

    /// Without `--split`: one level for the whole Ingress. A path that
    /// serves sub-paths of other levels, a public catch-all that the other
    /// paths would raise, or levels no policy level meets together leave
    /// the level unchanged (what the Ingress already asks for, if anything),
    /// with a note; otherwise the strictest of its paths' levels.
    pub(super) fn single_level(
        &self,
        s: &Src,
        needs: &[Need],
        accs: &[Acc],
        notes: &mut Vec<String>,
    ) -> Option<Lvl> {
        let key = s.typed.key();
        let all = needs.iter().fold(Need::Public, |a, n| a.and(n));
        let unchanged =
            || written_floor(self.policy, s).and_then(|f| self.resolve(&f, &key, &mut Vec::new()));
        let mut mixed = Vec::new();
        for (ii, acc) in accs.iter().enumerate().take(s.items.len()) {
            let v = self.assess(s, ii, acc);
            let mut subs: Vec<String> = Vec::new();
            for (cut, need, _) in &v.cuts {
                let l = self.resolve(need, "", &mut Vec::new());
                let ty = if cut.exact { "Exact" } else { "Prefix" };
                let d = format!(
                    "{} {ty} {}",
                    cut.path,
                    l.map_or("public".to_string(), |l| l.name)
                );
                if !subs.contains(&d) {
                    subs.push(d);
                }
            }
            if !subs.is_empty() {
                let own = self.resolve(&v.own, "", &mut Vec::new());
                mixed.push(format!(
                    "path {} is {} but serves {}",
                    item_label(s, s.items[ii]),
                    own.map_or("public".to_string(), |l| l.name),
                    subs.join(", ")
                ));
            }
        }
        if !mixed.is_empty() {
            let l = unchanged();
            notes.push(format!(
                "{key}: {}; one auth annotation covers every path of an Ingress, so its level is left {} (neither deny nor the strictest); pass --split to write each sub-path as a path of its own at its level",
                mixed.join("; "),
                l.as_ref().map_or("unset (public)".to_string(), |l| format!("at {}", l.name))
            ));
            return l;
        }
        let raises_catch_all = (0..s.items.len())
            .any(|ii| is_catch_all(s, s.items[ii]) && needs[ii] == Need::Public)
            && all != Need::Public;
        if raises_catch_all || !self.satisfiable(&all) {
            let l = unchanged();
            self.mixed_note(s, needs, l.as_ref(), notes);
            return l;
        }
        let level = self.resolve(&all, &key, notes);
        let labels: BTreeSet<Option<String>> = needs
            .iter()
            .map(|n| self.resolve(n, &key, &mut Vec::new()).map(|l| l.name))
            .collect();
        if labels.len() > 1 {
            self.mixed_note(s, needs, level.as_ref(), notes);
        }
        level
    }

    /// With `--split`: one part per level. A carved sub-path of the same
    /// level as the path it was carved from is not written.
    pub(super) fn split_parts(
        &self,
        s: &Src,
        needs: &[Need],
        notes: &mut Vec<String>,
    ) -> Result<Vec<Part>, InputError> {
        let key = s.typed.key();
        let levels: Vec<Option<Lvl>> = needs.iter().map(|n| self.resolve(n, &key, notes)).collect();
        let name_of = |l: &Option<Lvl>| l.as_ref().map(|l| l.name.clone());
        let mut groups: BTreeMap<(usize, String), (Option<Lvl>, Vec<usize>)> = BTreeMap::new();
        for (ii, l) in levels.iter().enumerate() {
            if let Item::Carve { carve } = s.items[ii] {
                let parent = s.carves.get(carve).map(|c| c.parent);
                if parent.and_then(|pi| levels.get(pi)).map(name_of) == Some(name_of(l)) {
                    continue;
                }
            }
            let order = self.level_order(l.as_ref());
            let name = name_of(l).unwrap_or_default();
            groups
                .entry((order, name))
                .or_insert((l.clone(), Vec::new()))
                .1
                .push(ii);
        }
        if groups.len() <= 1 {
            let (level, items) = groups.into_values().next().unwrap_or((None, Vec::new()));
            let mut p = self.whole(s, level);
            if !s.carves.is_empty() {
                p.items = items;
            }
            return Ok(vec![p]);
        }
        let mut out = Vec::new();
        for (i, (level, items)) in groups.into_values().enumerate() {
            let name = match &level {
                None => s.typed.name.clone(),
                Some(l) => part_name(&s.typed.name, &l.name),
            };
            let renamed = name != s.typed.name;
            if renamed {
                let k = format!("{}/{name}", s.typed.namespace);
                if self.keys.contains(&k) {
                    return Err(InputError::at(
                        &s.typed.origin.file,
                        s.typed.origin.line,
                        format!(
                            "cannot split Ingress {key}: its part {k} would replace an existing Ingress of that name; rename one of them"
                        ),
                    ));
                }
            }
            out.push(Part {
                name,
                renamed,
                items,
                primary: i == 0,
                level,
                rule: None,
                signin: false,
            });
        }
        self.split_note(s, &out, notes);
        Ok(out)
    }

    pub(super) fn split_note(&self, s: &Src, out: &[Part], notes: &mut Vec<String>) {
        let key = s.typed.key();
        let names: Vec<String> = out
            .iter()
            .map(|p| {
                let l = p.level.as_ref().map_or("public", |l| l.name.as_str());
                let carved: Vec<String> = p
                    .items
                    .iter()
                    .filter(|&&ii| matches!(s.items[ii], Item::Carve { .. }))
                    .map(|&ii| item_label(s, s.items[ii]))
                    .collect();
                if carved.is_empty() {
                    format!("{}/{} ({l})", s.typed.namespace, p.name)
                } else {
                    format!(
                        "{}/{} ({l}; carved out: {})",
                        s.typed.namespace,
                        p.name,
                        carved.join(" ")
                    )
                }
            })
            .collect();
        let mut msg = format!("{key} split into {}", names.join(", "));
        if out.iter().all(|p| p.renamed) {
            msg.push_str(&format!(
                "; delete {key} when applying (or use kubectl apply --prune)"
            ));
        }
        notes.push(msg);
    }

    /// Sort key of a level: public, then policy order, then deny.
    pub(super) fn level_order(&self, l: Option<&Lvl>) -> usize {
        match l {
            None => 0,
            Some(l) if l.name == DENY => usize::MAX,
            Some(l) => {
                1 + self
                    .policy
                    .levels
                    .iter()
                    .position(|x| x.name == l.name)
                    .unwrap_or(self.policy.levels.len())
            }
        }
    }

    /// A need as a level an auth-url can name.
    pub(super) fn resolve(&self, need: &Need, key: &str, notes: &mut Vec<String>) -> Option<Lvl> {
        match need {
            Need::Public => None,
            Need::Deny => Some(Lvl {
                name: DENY.into(),
                need: Need::Deny,
            }),
            Need::Auth { levels, .. } if levels.len() == 1 => Some(Lvl {
                name: levels[0].clone(),
                need: need.clone(),
            }),
            Need::Auth { levels, .. } => {
                let cands: Vec<(String, Need)> = self
                    .policy
                    .levels
                    .iter()
                    .filter_map(|l| Some((l.name.clone(), self.policy.need_of(&l.name)?)))
                    .filter(|(_, n)| n.satisfies(need))
                    .collect();
                let best = cands
                    .iter()
                    .find(|(_, n)| cands.iter().all(|(_, m)| m.satisfies(n)))
                    .or_else(|| cands.first());
                match best {
                    Some((name, n)) => Some(Lvl {
                        name: name.clone(),
                        need: n.clone(),
                    }),
                    None => {
                        notes.push(format!(
                            "{key}: needs {} at once and no policy level satisfies all of them: denied (define a level that extends them)",
                            levels.join(" and ")
                        ));
                        Some(Lvl {
                            name: DENY.into(),
                            need: Need::Deny,
                        })
                    }
                }
            }
        }
    }

    /// The one policy rule whose need decides the part's level, if there is
    /// exactly one.
    pub(super) fn rule_of(&self, p: &Part, l: &Lvl, accs: &[Acc]) -> Option<String> {
        let mut rules = BTreeSet::new();
        for &ii in &p.items {
            for s in accs.get(ii).into_iter().flat_map(Acc::all) {
                for (n, r) in [(&s.get, s.get_rule), (&s.meth, s.meth_rule)] {
                    if *n != Need::Public && n.satisfies(&l.need) {
                        rules.insert(r);
                    }
                }
            }
        }
        match (rules.len(), rules.into_iter().next()) {
            (1, Some(Some(r))) => Some(self.policy.rules[r].name.clone()),
            _ => None,
        }
    }

    pub(super) fn mixed_note(
        &self,
        s: &Src,
        needs: &[Need],
        level: Option<&Lvl>,
        notes: &mut Vec<String>,
    ) {
        let mut by: BTreeMap<(usize, String), Vec<String>> = BTreeMap::new();
        for (ii, n) in needs.iter().enumerate() {
            let l = self.resolve(n, "", &mut Vec::new());
            let name = l.as_ref().map_or("public".to_string(), |l| l.name.clone());
            by.entry((self.level_order(l.as_ref()), name))
                .or_default()
                .push(item_label(s, s.items[ii]));
        }
        let desc: Vec<String> = by
            .iter()
            .map(|((_, l), ps)| format!("{l}: {}", ps.join(" ")))
            .collect();
        let at = level.map_or("public", |l| l.name.as_str());
        let strictest = by.keys().next_back().map_or("public", |(_, l)| l.as_str());
        let mut msg = format!(
            "{} mixes levels ({}); one auth annotation covers every path of an Ingress",
            s.typed.key(),
            desc.join("; ")
        );
        if at == strictest {
            msg.push_str(&format!(", so all are protected at {at}"));
            if let Some(((0, _), ps)) = by.iter().next() {
                msg.push_str(&format!(
                    " and the public paths {} now require a login",
                    ps.join(" ")
                ));
            }
        } else {
            // A public catch-all, or levels no policy level meets at once.
            let exposed: Vec<&str> = by
                .iter()
                .filter(|((o, _), _)| *o > self.level_order(level))
                .flat_map(|(_, ps)| ps.iter().map(String::as_str))
                .collect();
            msg.push_str(&format!(
                "; its level is left {at} (neither deny nor the strictest, which would put its public catch-all behind a login or refuse every request), so {} are exposed",
                exposed.join(" ")
            ));
        }
        msg.push_str("; use --split for one Ingress per level");
        notes.push(msg);
    }

    /// A note for each Ingress whose written auth-url level is kept although
    /// the policy asks less of some of its paths.
    pub(super) fn kept_level_notes(
        &self,
        r: &Round,
        written: &[(usize, Need)],
        notes: &mut Vec<String>,
    ) {
        for (si, floor) in written {
            let s = &self.srcs[*si];
            let lower = r.accs[*si].iter().any(|a| !a.need().satisfies(floor));
            if lower {
                notes.push(format!(
                    "{}: keeps its auth-url level {}, stricter than the policy asks of some of its paths (generate raises a level, never lowers one)",
                    s.typed.key(),
                    floor.label()
                ));
            }
        }
    }

    /// Notes for the requests no carved path serves, per rendered item.
    pub(super) fn fallback_notes(&self, r: &Round, notes: &mut Vec<String>) {
        for (si, s) in self.srcs.iter().enumerate() {
            if s.skip.is_some() {
                continue;
            }
            for p in &r.parts[si] {
                for &ii in &p.items {
                    if let Some(acc) = r.accs[si].get(ii) {
                        let v = self.assess(s, ii, acc);
                        self.verdict_notes(s, ii, &v, notes);
                    }
                }
            }
        }
    }

    // === routing probes ===
}
