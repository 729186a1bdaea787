//! The module graph has no cycles (issue 18, "no module imports another in a
//! circle"): every `crate::…` and `super::…` path in non-test code of
//! `src/` is an edge from its file's module to the module it names; a
//! child naming its own ancestor (`super::Finding`) is structure, not an
//! edge. A cycle is reported with the file and line of each edge in it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// module path (`lint::probe`) → (module it names → first `file:line`).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// A file's module path: `src/lint/probe.rs` → `lint::probe`,
/// `src/lint/mod.rs` → `lint`, `src/lib.rs` → ``.
fn module_of(rel: &str) -> String {
    let rel = rel.trim_end_matches(".rs");
    let mut parts: Vec<&str> = rel.split('/').collect();
    if parts.last() == Some(&"mod") {
        parts.pop();
    }
    if parts == ["lib"] {
        parts.clear();
    }
    parts.join("::")
}

/// The longest module of `mods` that `path` starts with.
fn resolve(mods: &BTreeSet<String>, path: &[&str]) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|k| path[..k].join("::"))
        .find(|m| mods.contains(m))
}

fn related(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"))
}

/// The paths after `prefix` in `code` (`crate::lint::probe::x` →
/// `["lint", "probe", "x"]`).
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(k) = rest.find(prefix) {
        let before = rest[..k].chars().last();
        let tail = &rest[k + prefix.len()..];
        let end = tail
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            let segs: Vec<&str> = tail[..end].split("::").filter(|s| !s.is_empty()).collect();
            out.push(segs);
        }
        rest = &tail[end..];
    }
    out
}

/// The graph of `files` (path relative to `src/`, text).
fn graph(files: &[(String, String)]) -> Graph {
    let mods: BTreeSet<String> = files.iter().map(|(p, _)| module_of(p)).collect();
    let mut g = Graph::new();
    for (rel, text) in files {
        let me = module_of(rel);
        if me.ends_with("tests") || me.split("::").any(|s| s.ends_with("_tests")) {
            continue;
        }
        let mine: Vec<&str> = if me.is_empty() {
            Vec::new()
        } else {
            me.split("::").collect()
        };
        for (n, line) in text.lines().enumerate() {
            if line.contains("#[cfg(test)]") {
                break;
            }
            let code = line.split("//").next().unwrap_or("");
            let mut named: Vec<Option<String>> = paths_after(code, "crate::")
                .iter()
                .map(|p| resolve(&mods, p))
                .collect();
            for p in paths_after(code, "super::") {
                let mut full: Vec<&str> = mine[..mine.len().saturating_sub(1)].to_vec();
                full.extend(p);
                named.push(resolve(&mods, &full));
            }
            for t in named.into_iter().flatten() {
                if !related(&me, &t) {
                    g.entry(me.clone())
                        .or_default()
                        .entry(t)
                        .or_insert_with(|| format!("src/{rel}:{}", n + 1));
                }
            }
        }
    }
    g
}

/// `g` with each module merged into its top-level module (`lint::probe`
/// into `lint`): a parent contains its children, so `policy` depends on
/// what `policy::exemptions` names.
fn top_level(g: &Graph) -> Graph {
    let top = |m: &str| m.split("::").next().unwrap_or("").to_string();
    let mut out = Graph::new();
    for (m, edges) in g {
        for (t, at) in edges {
            if top(m) != top(t) {
                out.entry(top(m))
                    .or_default()
                    .entry(top(t))
                    .or_insert_with(|| at.clone());
            }
        }
    }
    out
}

/// One cycle of `g`, as the edges in it, if there is one.
fn cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(
        g: &Graph,
        m: &str,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(m.to_string(), 1);
        stack.push(m.to_string());
        for t in g.get(m).into_iter().flat_map(|e| e.keys()) {
            match state.get(t.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|s| s == t).unwrap_or(0);
                    let mut ring: Vec<String> = stack[from..].to_vec();
                    ring.push(t.clone());
                    return Some(
                        ring.windows(2)
                            .map(|w| format!("{} -> {} ({})", w[0], w[1], g[&w[0]][&w[1]]))
                            .collect(),
                    );
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(g, t, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(m.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in g.keys() {
        if !state.contains_key(m) {
            if let Some(c) = visit(g, m, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn read_tree(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            read_tree(&p, root, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.push((rel, std::fs::read_to_string(&p).unwrap()));
        }
    }
}

#[test]
fn the_module_graph_has_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_tree(&src, &src, &mut files);
    assert!(files.len() > 50, "read only {} files of src/", files.len());
    let g = graph(&files);
    // The graph is real: the edges every layer has are there.
    assert!(g["lint"].contains_key("policy"), "{g:?}");
    assert!(g["policy::exemptions"].contains_key("findings"), "{g:?}");
    // Sibling modules (`lint::probe` and `lint::grouped`), and top-level
    // modules with their children merged in.
    for g in [&g, &top_level(&g)] {
        if let Some(c) = cycle(g) {
            panic!(
                "modules import each other in a circle:\n  {}",
                c.join("\n  ")
            );
        }
    }
}

/// The checker finds a cycle of top-level modules, and one of siblings
/// through `super::`, with the line of each edge; test code does not count.
#[test]
fn regression_a_cycle_is_found_with_its_lines() {
    let f = |p: &str, t: &str| (p.to_string(), t.to_string());
    let g = graph(&[
        f("lib.rs", "pub mod a;\npub mod b;\n"),
        f("a.rs", "use crate::b::X;\n"),
        f(
            "b.rs",
            "// crate::a in a comment\nfn f() { crate::a::y() }\n",
        ),
    ]);
    let c = cycle(&g).expect("a <-> b");
    assert!(c.iter().any(|e| e.contains("src/a.rs:1")), "{c:?}");
    assert!(c.iter().any(|e| e.contains("src/b.rs:2")), "{c:?}");

    let g = graph(&[
        f("lib.rs", "pub mod l;\n"),
        f("l/mod.rs", "mod p;\nmod q;\nuse p::A;\n"),
        f("l/p.rs", "use super::q::B;\nuse super::Finding;\n"),
        f("l/q.rs", "use super::p::A;\n"),
    ]);
    assert!(cycle(&g).is_some(), "{g:?}");

    // Through a child: `a` → `b`, `b::c` → `a`.
    let g = graph(&[
        f("lib.rs", "pub mod a;\npub mod b;\n"),
        f("a.rs", "use crate::b::X;\n"),
        f("b.rs", "mod c;\n"),
        f("b/c.rs", "use crate::a::Y;\n"),
    ]);
    assert_eq!(cycle(&g), None, "{g:?}");
    assert!(cycle(&top_level(&g)).is_some(), "{g:?}");

    let g = graph(&[
        f("lib.rs", "pub mod a;\npub mod b;\n"),
        f("a.rs", "use crate::b::X;\n"),
        f("b.rs", "#[cfg(test)]\nmod tests { use crate::a::Y; }\n"),
        f("b/tests.rs", "use crate::a::Z;\n"),
    ]);
    assert_eq!(cycle(&g), None, "{g:?}");
}
