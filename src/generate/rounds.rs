//! The fixed point: rounds of routing, needs and carving until every part's
//! level settles, and the documents of the last round.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{
    Acc, Carved, Controller, Gen, Item, MAX_ROUNDS, Round, emit, item_path, typed_part,
    written_floor,
};
use crate::controllers::ingress_nginx::routing::RouteTable;
use crate::error::InputError;
use crate::ingress::{Ingress, Loaded, load_text};
use crate::policy::Need;

impl<'a> Gen<'a> {
    /// Plan until the plan is stable on its own output, then assemble.
    pub(super) fn run(&mut self) -> Result<Vec<Value>, InputError> {
        let (round, _) = self.settle(&[])?;
        Ok(self.assemble(&round))
    }

    /// Plan until the plan is stable on its own output: the final round and
    /// each item's need. `floors` raise the needs of a source's items to at
    /// least the given need from the start (`(source index, need)`), and so
    /// does the level of stepup's auth-url a source already carries
    /// ([`written_floor`]): generate raises a level, never lowers one.
    pub(super) fn settle(
        &mut self,
        floors: &[(usize, Need)],
    ) -> Result<(Round, Vec<Vec<Need>>), InputError> {
        let written: Vec<(usize, Need)> = self
            .srcs
            .iter()
            .enumerate()
            .filter_map(|(i, s)| written_floor(self.policy, s).map(|n| (i, n)))
            .collect();
        let mut floor = vec![Need::Public; self.srcs.len()];
        for (si, f) in floors.iter().chain(&written) {
            if let Some(x) = floor.get_mut(*si) {
                *x = x.and(f);
            }
        }
        let mut needs: Vec<Vec<Need>> = self
            .srcs
            .iter()
            .zip(&floor)
            .map(|(s, f)| vec![f.clone(); s.items.len()])
            .collect();
        let mut accs: Vec<Vec<Acc>> = self
            .srcs
            .iter()
            .map(|s| vec![Acc::default(); s.items.len()])
            .collect();
        let mut converged = false;
        for _ in 0..MAX_ROUNDS {
            let round = self.round(&needs, &accs, &mut Vec::new())?;
            accs = round.accs;
            let grew = self.opts.split && self.carve_round(&accs, &floor);
            let next = self.next_needs(&accs, &floor);
            if !grew && next == needs {
                converged = true;
                break;
            }
            needs = next;
            for (si, s) in self.srcs.iter().enumerate() {
                accs[si].resize(s.items.len(), Acc::default());
            }
        }
        let mut notes = Vec::new();
        for s in &self.srcs {
            if let Some(why) = &s.skip {
                notes.push(format!("{}: left unchanged ({why})", s.typed.key()));
            }
        }
        if !converged {
            notes.push(format!(
                "the plan did not settle after {MAX_ROUNDS} rounds; run `stepup lint` on the output"
            ));
        }
        let round = self.round(&needs, &accs, &mut notes)?;
        self.fallback_notes(&round, &mut notes);
        self.host_rule_notes(&mut notes);
        self.kept_level_notes(&round, &written, &mut notes);
        let mut seen = BTreeSet::new();
        notes.retain(|n| seen.insert(n.clone()));
        self.notes = notes;
        Ok((round, needs))
    }

    /// Each item's need from what reached it, with its source's floor.
    pub(super) fn next_needs(&self, accs: &[Vec<Acc>], floor: &[Need]) -> Vec<Vec<Need>> {
        self.srcs
            .iter()
            .enumerate()
            .map(|(si, s)| {
                (0..s.items.len())
                    .map(|ii| match accs[si].get(ii) {
                        Some(a) => self.assess(s, ii, a).need.and(&floor[si]),
                        None => floor[si].clone(),
                    })
                    .collect()
            })
            .collect()
    }

    /// `--split`: add the sub-paths the round's verdicts ask for as items
    /// of their own. Whether each serves what it was cut for shows in the
    /// next round's routing. True when an item was added.
    pub(super) fn carve_round(&mut self, accs: &[Vec<Acc>], floor: &[Need]) -> bool {
        let mut add: Vec<(usize, Carved)> = Vec::new();
        for (si, s) in self.srcs.iter().enumerate() {
            if s.skip.is_some() {
                continue;
            }
            for (ii, acc) in accs[si].iter().enumerate().take(s.items.len()) {
                let Some((rule, _, _)) = item_path(s, s.items[ii]) else {
                    continue;
                };
                let path = match s.items[ii] {
                    Item::Path { path, .. } => path,
                    Item::Carve { carve } => s.carves[carve].path,
                    Item::DefaultBackend => continue,
                };
                for (cut, need, _) in self.assess(s, ii, acc).cuts {
                    let floor = if cut.narrowed {
                        need.and(&floor[si])
                    } else {
                        floor[si].clone()
                    };
                    let dup = add.iter_mut().find(|(i, c)| {
                        *i == si
                            && c.rule == rule
                            && c.cut.path == cut.path
                            && c.cut.exact == cut.exact
                    });
                    match dup {
                        Some((_, c)) => c.floor = c.floor.and(&floor),
                        None => add.push((
                            si,
                            Carved {
                                rule,
                                path,
                                parent: ii,
                                cut,
                                floor,
                            },
                        )),
                    }
                }
            }
        }
        let grew = !add.is_empty();
        for (si, c) in add {
            let s = &mut self.srcs[si];
            s.carves.push(c);
            s.items.push(Item::Carve {
                carve: s.carves.len() - 1,
            });
        }
        grew
    }

    /// One round: plan with `needs`, render, route, and collect what reaches
    /// each item.
    pub(super) fn round(
        &self,
        needs: &[Vec<Need>],
        accs: &[Vec<Acc>],
        notes: &mut Vec<String>,
    ) -> Result<Round, InputError> {
        let mut parts = Vec::new();
        for (i, s) in self.srcs.iter().enumerate() {
            parts.push(self.plan(s, &needs[i], &accs[i], notes)?);
        }
        let mut values = Vec::new();
        for (i, ps) in parts.iter().enumerate() {
            let mut vs = Vec::new();
            for p in ps {
                vs.push(self.render(&self.srcs[i], p, notes)?);
            }
            values.push(vs);
        }

        // Typed output Ingresses, per class group.
        let mut groups: BTreeMap<String, Vec<Ingress>> = BTreeMap::new();
        let mut owner: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (i, vs) in values.iter().enumerate() {
            for (pi, v) in vs.iter().enumerate() {
                let ing = typed_part(&self.srcs[i], &parts[i][pi], v);
                if self.srcs[i].skip.is_none() {
                    owner.insert(ing.key(), (i, pi));
                }
                groups.entry(self.group_of(&ing)).or_default().push(ing);
            }
        }
        let mut tables = BTreeMap::new();
        for (g, list) in &groups {
            tables.insert(
                g.clone(),
                RouteTable::build(list.clone(), &self.classes(g).into())?,
            );
        }
        let signins = self.signins(&parts, &values, &tables, notes)?;
        for v in &signins {
            let ing = self.reload(v)?;
            groups.entry(self.group_of(&ing)).or_default().push(ing);
        }
        // Public paths out of another auth service's Ingress, judged on
        // this round's routing (a host in regex mode is left alone). After
        // the parts: `values[i]` beyond `parts[i]` are emitted, not planned.
        for (i, vs) in values.iter_mut().enumerate() {
            let s = &self.srcs[i];
            let Some(t) = tables.get(&self.group_of(&s.typed)) else {
                continue;
            };
            if let Some(v) = self.public_sibling(s, t, notes) {
                let ing = self.reload(&v)?;
                groups.entry(self.group_of(&ing)).or_default().push(ing);
                vs.push(v);
            }
        }
        let mut accs: Vec<Vec<Acc>> = self
            .srcs
            .iter()
            .map(|s| vec![Acc::default(); s.items.len()])
            .collect();
        for (g, list) in groups {
            let t = RouteTable::build(list, &self.classes(&g).into())?;
            self.probe(&t, &g, &parts, &owner, &mut accs);
        }
        Ok(Round {
            parts,
            values,
            signins,
            accs,
        })
    }

    /// A generated object as loaded (for the sign-in Ingresses).
    pub(super) fn reload(&self, v: &Value) -> Result<Ingress, InputError> {
        let text = serde_json::to_string(&v)
            .map_err(|e| InputError::file("generate", format!("internal error: {e}")))?;
        let mut loaded = Loaded::default();
        load_text("(generated)", &text, &mut loaded, &mut HashMap::new())?;
        loaded
            .ingresses
            .pop()
            .ok_or_else(|| InputError::file("generate", "internal error: Ingress lost"))
    }

    // === planning ===

    pub(super) fn assemble(&self, r: &Round) -> Vec<Value> {
        let mut docs = Vec::new();
        for file in &self.files {
            for n in file {
                emit(n, r, &mut docs);
            }
        }
        docs.extend(r.signins.iter().cloned());
        if self.opts.controller == Controller::Traefik {
            docs.extend(self.middlewares(r));
        }
        docs
    }
}
