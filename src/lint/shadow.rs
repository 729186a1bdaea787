//! SU029: policy rules that never decide. Rules are ordered and the first
//! match wins (SPEC §1, `Policy::rule_for`), so a rule whose every host,
//! path glob and method an earlier rule already matches is dead. Coverage
//! is decided on the glob model ([`crate::glob::PathGlob::covers`]) and is
//! conservative: only a certain shadow is reported.

use super::{Finding, Severity};
use crate::policy::{Policy, Rule};

/// Whether `e` matches every host `r` matches.
fn hosts_cover(e: &Rule, r: &Rule) -> bool {
    e.hosts.is_empty()
        || (!r.hosts.is_empty()
            && r.hosts
                .iter()
                .all(|h| e.hosts.iter().any(|eh| eh.covers(h))))
}

/// Whether `e` matches every method `r` matches (`GET` also covers `HEAD`,
/// in both rules: `Rule::matches_split`).
fn methods_cover(e: &Rule, r: &Rule) -> bool {
    let Some(em) = &e.methods else {
        return true;
    };
    let has = |m: &str| em.iter().any(|x| x == m);
    r.methods
        .as_ref()
        .is_some_and(|rm| rm.iter().all(|m| has(m) || (m == "HEAD" && has("GET"))))
}

/// The earlier rules that together shadow rule `k` (each of its globs is
/// covered by one earlier rule that also covers its hosts and methods);
/// `None` when some glob is not certainly covered.
fn shadowers(policy: &Policy, k: usize) -> Option<Vec<&Rule>> {
    let r = policy.rules.get(k)?;
    let earlier = policy.rules.get(..k)?;
    let mut by: Vec<&Rule> = Vec::new();
    for g in &r.paths {
        let e = earlier.iter().find(|e| {
            hosts_cover(e, r) && methods_cover(e, r) && e.paths.iter().any(|eg| eg.covers(g))
        })?;
        if !by.iter().any(|b| b.name == e.name) {
            by.push(e);
        }
    }
    (!by.is_empty()).then_some(by)
}

/// SU029 for every shadowed rule, at its line of the policy file.
pub(super) fn check(policy: &Policy, out: &mut Vec<Finding>) {
    for (k, r) in policy.rules.iter().enumerate() {
        let Some(by) = shadowers(policy, k) else {
            continue;
        };
        let names: Vec<String> = by
            .iter()
            .map(|e| format!("{} (line {})", e.name, e.line))
            .collect();
        let globs: Vec<&str> = r.paths.iter().map(|g| g.as_str()).collect();
        out.push(Finding {
            rule: "SU029",
            severity: Severity::Warning,
            message: format!(
                "policy rule {} (level {}, paths {}) never decides: earlier rule(s) {} match every host, path and method it matches, and the first match wins",
                r.name,
                r.level,
                globs.join(" "),
                names.join(", ")
            ),
            file: policy.file.clone(),
            line: r.line,
            namespace: String::new(),
            ingress: String::new(),
            host: String::new(),
            path: String::new(),
            fix: format!(
                "Move rule {} above {}, narrow the earlier rule, or delete rule {}.",
                r.name,
                by.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", "),
                r.name
            ),
        });
    }
}
