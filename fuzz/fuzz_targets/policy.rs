//! Policy parsing (`stepup::policy::parse`) of arbitrary text.
//!
//! Oracles:
//! - never panics;
//! - every error message is located: `p.yaml:<line>:`, the line within the
//!   file;
//! - a policy that parses re-validates: the same document written as JSON
//!   parses to the same policy (line numbers aside);
//! - its level order is sound: when level A `satisfies` B, no identity
//!   passes A and fails B; an identity passing `A and B` passes both;
//! - rule lookup never panics, is deterministic, names a rule that exists,
//!   and the runtime's need for a path (`serve::auth::path_need`) is never
//!   weaker than the plain, case-folded or `;`-stripped path's (what
//!   `Policy::rule_for` and the runtime's case folding promise).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepup::policy::{self, Policy};
use stepup::controllers::ingress_nginx::routing::normalize_host;
use stepup_fuzz::{
    allows, check_path_need, counterexample, identity, last_line, located, witnesses,
};

const FILE: &str = "p.yaml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let p = match policy::parse(FILE, text) {
        Ok(p) => p,
        Err(e) => {
            let lines = last_line(text);
            for m in e.messages() {
                assert!(
                    located(m, FILE, lines),
                    "error without a line in the file: {m}"
                );
            }
            return;
        }
    };
    revalidates(&p, text);
    order_is_sound(&p);
    lookups(&p);
});

/// The policy without what depends on the text's layout.
fn comparable(p: &Policy) -> String {
    let mut p = p.clone();
    p.file.clear();
    for r in &mut p.rules {
        r.line = 0;
    }
    for l in &mut p.levels {
        l.line = 0;
    }
    format!("{p:?}")
}

fn revalidates(p: &Policy, text: &str) {
    let docs = match stepup::source::parse_documents(text) {
        Ok(d) => d,
        Err(e) => panic!("policy parsed but its text does not: {e}"),
    };
    assert_eq!(
        docs.len(),
        1,
        "a policy parsed from {} documents",
        docs.len()
    );
    let json = docs[0].value.to_string();
    match policy::parse("p.json", &json) {
        Ok(again) => assert_eq!(
            comparable(p),
            comparable(&again),
            "the policy differs when written as JSON:\n{json}"
        ),
        Err(e) => panic!("a parsed policy does not re-validate as JSON: {e}\n{json}"),
    }
}

fn order_is_sound(p: &Policy) {
    let levels: Vec<_> = p.levels.iter().take(5).collect();
    let mut ids = witnesses(p);
    ids.truncate(11);
    for a in &levels {
        for b in &levels {
            if a.need.satisfies(&b.need)
                && let Some(c) = counterexample(&a.need, &b.need, &ids)
            {
                panic!(
                    "{} satisfies {} but {c:?} passes only the first",
                    a.name, b.name
                );
            }
            let both = a.need.and(&b.need);
            let mut tried = ids.clone();
            tried.push(identity(&both, 0));
            for c in &tried {
                if allows(&both, c) {
                    assert!(
                        allows(&a.need, c) && allows(&b.need, c),
                        "{c:?} passes {} and {} combined but not each",
                        a.name,
                        b.name
                    );
                }
            }
        }
    }
}

/// Paths and hosts worth asking about: each glob's literal part and
/// variants (upper case, `;` parameters, a trailing segment).
fn lookups(p: &Policy) {
    let mut hosts = vec!["example.com".to_string()];
    let mut paths: Vec<String> = vec!["/".into()];
    for r in p.rules.iter().take(8) {
        hosts.extend(r.hosts.iter().take(2).map(|h| {
            let h = h.to_string();
            h.strip_prefix('*').map_or(h.clone(), |s| format!("x{s}"))
        }));
        for g in r.paths.iter().take(2) {
            let lit = g.literal_prefix();
            paths.push(format!("{}/x", lit.trim_end_matches('/')));
            paths.push(lit.to_ascii_uppercase());
            paths.push(format!("{lit};x"));
            paths.push(lit);
        }
    }
    let ids = witnesses(p);
    for host in &hosts {
        let host = normalize_host(host);
        for path in &paths {
            for method in ["GET", "POST"] {
                check_path_need(p, &host, method, path.as_bytes(), &ids);
            }
        }
    }
}
