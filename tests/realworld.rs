//! `stepup lint` on real repositories: the five public repositories in
//! `testdata/realworld/` (manifests copied unchanged, with their licenses),
//! linted by the real binary against `testdata/realworld-policy.yaml`.
//!
//! The expected findings are in `testdata/realworld-expected.txt`, one per
//! line: `SU0NN FILE:LINE  # why this is right`. Each was reviewed by hand
//! against the manifest and the policy; the reason says what a reviewer
//! would check. The test asserts the exact set (rule, file, line) per
//! repository, so a finding that appears or disappears fails it with the
//! difference, and the exit code the findings imply.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const POLICY: &str = "testdata/realworld-policy.yaml";
const CORPUS: &str = "testdata/realworld";
const EXPECTED: &str = "testdata/realworld-expected.txt";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One finding as (rule, file, line).
type Key = (String, String, u64);

/// The reviewed findings, with the reason of each.
fn expected() -> Vec<(Key, String)> {
    let text = std::fs::read_to_string(root().join(EXPECTED)).expect("read expected findings");
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (entry, why) = line
            .split_once('#')
            .unwrap_or_else(|| panic!("{EXPECTED}:{}: every entry needs `# why`", n + 1));
        assert!(
            why.trim().len() >= 10,
            "{EXPECTED}:{}: the reason must say what was reviewed",
            n + 1
        );
        let mut parts = entry.split_whitespace();
        let (Some(rule), Some(at), None) = (parts.next(), parts.next(), parts.next()) else {
            panic!("{EXPECTED}:{}: expected `SU0NN FILE:LINE  # why`", n + 1);
        };
        let (file, l) = at
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{EXPECTED}:{}: FILE:LINE", n + 1));
        let l: u64 = l
            .parse()
            .unwrap_or_else(|_| panic!("{EXPECTED}:{}: bad line", n + 1));
        out.push((
            (rule.to_string(), file.to_string(), l),
            why.trim().to_string(),
        ));
    }
    out
}

/// `stepup lint` of one repository folder: its findings and exit code.
fn lint(repo: &str) -> (BTreeSet<Key>, bool, Option<i32>) {
    let dir = format!("{CORPUS}/{repo}");
    let out = Command::new(env!("CARGO_BIN_EXE_stepup"))
        .args(["lint", "-p", POLICY, &dir, "-o", "json"])
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run stepup");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "lint {dir}: not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings = v["findings"].as_array().expect("findings array");
    let errors = findings.iter().any(|f| f["severity"] == "error");
    let keys = findings
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or("").to_string(),
                f["file"].as_str().unwrap_or("").to_string(),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    (keys, errors, out.status.code())
}

fn repos() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join(CORPUS))
        .expect("corpus")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn the_corpus_has_the_five_repositories() {
    assert_eq!(repos().len(), 5, "{:?}", repos());
}

#[test]
fn lint_finds_exactly_the_reviewed_findings_on_each_repository() {
    let expected = expected();
    let mut problems = String::new();
    for repo in repos() {
        let prefix = format!("{CORPUS}/{repo}/");
        let want: BTreeSet<Key> = expected
            .iter()
            .filter(|(k, _)| k.1.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        let (got, errors, code) = lint(&repo);
        for k in want.difference(&got) {
            problems.push_str(&format!("missing  {} {}:{}\n", k.0, k.1, k.2));
        }
        for k in got.difference(&want) {
            problems.push_str(&format!("extra    {} {}:{}\n", k.0, k.1, k.2));
        }
        let want_code = if got.iter().any(|k| k.0 == "SU023") {
            2
        } else if errors {
            1
        } else {
            0
        };
        if code != Some(want_code) {
            problems.push_str(&format!("{repo}: exit {code:?}, expected {want_code}\n"));
        }
    }
    assert!(
        problems.is_empty(),
        "lint on the corpus differs from {EXPECTED}:\n{problems}"
    );
}

#[test]
fn every_reviewed_entry_names_a_corpus_file_and_line() {
    for ((rule, file, line), _) in expected() {
        assert!(rule.starts_with("SU"), "{rule}");
        let text =
            std::fs::read_to_string(root().join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            (line as usize) <= text.lines().count() && line > 0,
            "{file}:{line} is past the end"
        );
    }
}
