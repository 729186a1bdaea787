//! `stepup lint`, rule by rule, on the fixtures in `testdata/lint/`.
//!
//! Every registered rule SU0NN has a directory `testdata/lint/SU0NN/` with
//!
//! - `fires.yaml`: realistic manifests on which the rule must fire. Each
//!   expected finding is marked on the line it must point at (the object's
//!   `apiVersion` line, or the `- path:` line of the path concerned):
//!   `# expect: SU0NN <severity>`. A marker `# known-bug: SU0NN <severity>`
//!   names a finding stepup should report but does not yet; the table-driven
//!   test skips it and an `#[ignore]`d test below asserts it.
//! - `quiet.yaml` (and optional `quiet-*.yaml` variants): the fixed version,
//!   on which `stepup lint` must report nothing at all, of any rule.
//!
//! All of them are linted against `testdata/lint/policy.yaml` by the real
//! binary (`-o json --fail-on never`), as a user or CI would run it; a
//! fixture `NAME.yaml` with a `NAME.policy.yaml` beside it is linted against
//! that policy instead, whose own `# expect:` markers (rules about the
//! policy, SU029) are checked too. A finding about an annotation points at
//! the annotation's line.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const LINT_DIR: &str = "testdata/lint";
const POLICY: &str = "testdata/lint/policy.yaml";

/// Quiet files on which stepup reports a finding it should not (file
/// relative to `testdata/lint`, the rule that wrongly fires). Empty: every
/// quiet file must be fully quiet. Kept so a future known bug can be listed
/// while the table-driven test still checks every other rule.
const KNOWN_FALSE_POSITIVES: &[(&str, &str)] = &[];

// === helpers ===

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run `stepup` in the crate root, so that file names in findings are the
/// relative paths given on the command line.
fn stepup(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stepup"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run stepup")
}

/// Fixtures of input that cannot be read: `stepup lint` reports each
/// problem (SU023) and exits 2 after the report, whatever `--fail-on` says.
const UNREADABLE_FIXTURES: &[&str] = &["testdata/lint/SU023/fires.yaml"];

/// Rules about the input whose findings point at the field concerned (a
/// path's pathType, an annotation, a host holding a variable), not at the
/// object's first line or a `- path:` line.
const FIELD_LINE_RULES: &[&str] = &["SU023", "SU027"];

/// The policy a fixture is linted against: `NAME.policy.yaml` next to
/// `NAME.yaml` when there is one (rules about the policy itself, SU029),
/// else the shared `testdata/lint/policy.yaml`.
fn policy_for(file: &str) -> String {
    let own = format!("{}.policy.yaml", file.trim_end_matches(".yaml"));
    if root().join(&own).is_file() {
        own
    } else {
        POLICY.to_string()
    }
}

/// `stepup lint -p POLICY FILE -o json --fail-on never`, checked for the
/// JSON contract (SPEC §3); returns the findings.
fn lint(file: &str) -> Vec<Finding> {
    let policy = policy_for(file);
    let out = stepup(&[
        "lint",
        "-p",
        &policy,
        file,
        "-o",
        "json",
        "--fail-on",
        "never",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = if UNREADABLE_FIXTURES.contains(&file) {
        2
    } else {
        0
    };
    assert_eq!(
        out.status.code(),
        Some(expected),
        "stepup lint {file} with --fail-on never: exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status.code()
    );
    let v: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stepup lint {file}: output is not JSON ({e}):\n{stdout}"));
    let list = v["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("{file}: no findings array in {v}"));
    let findings: Vec<Finding> = list.iter().map(|f| Finding::from_json(file, f)).collect();
    let count = |sev: &str| findings.iter().filter(|f| f.severity == sev).count() as u64;
    assert_eq!(
        v["summary"]["errors"].as_u64(),
        Some(count("error")),
        "{file}: summary.errors\n{v}"
    );
    assert_eq!(
        v["summary"]["warnings"].as_u64(),
        Some(count("warning")),
        "{file}: summary.warnings\n{v}"
    );
    assert!(
        v["summary"]["ingresses"].as_u64().is_some_and(|n| n > 0),
        "{file}: summary.ingresses\n{v}"
    );
    findings
}

/// One finding of the JSON output (every contract field).
#[derive(Debug, Clone)]
struct Finding {
    rule: String,
    severity: String,
    message: String,
    file: String,
    line: u64,
    namespace: String,
    ingress: String,
    host: String,
    path: String,
    fix: String,
}

impl Finding {
    fn from_json(file: &str, f: &Value) -> Finding {
        let s = |k: &str| {
            f[k].as_str()
                .unwrap_or_else(|| panic!("{file}: finding without string field {k:?}: {f}"))
                .to_string()
        };
        let found = Finding {
            rule: s("rule"),
            severity: s("severity"),
            message: s("message"),
            file: s("file"),
            line: f["line"]
                .as_u64()
                .unwrap_or_else(|| panic!("{file}: finding without numeric line: {f}")),
            namespace: s("namespace"),
            ingress: s("ingress"),
            host: s("host"),
            path: s("path"),
            fix: s("fix"),
        };
        assert!(
            !found.message.is_empty() && !found.fix.is_empty(),
            "{file}: finding without message or fix: {f}"
        );
        found
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}[{}] {}/{} host={:?} path={:?}: {}",
            self.file,
            self.line,
            self.severity,
            self.rule,
            self.namespace,
            self.ingress,
            self.host,
            self.path,
            self.message
        )
    }
}

/// A `# expect: SU0NN severity` or `# known-bug: SU0NN severity` comment.
#[derive(Debug, Clone)]
struct Marker {
    line: u64,
    rule: String,
    severity: String,
    known_bug: bool,
}

fn markers(text: &str) -> Vec<Marker> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        for (tag, known_bug) in [("# expect:", false), ("# known-bug:", true)] {
            let Some((_, rest)) = l.split_once(tag) else {
                continue;
            };
            for item in rest.split(',') {
                let mut words = item.split_whitespace();
                let (Some(rule), Some(severity), None) = (words.next(), words.next(), words.next())
                else {
                    panic!("bad marker on line {}: {l:?}", i + 1);
                };
                out.push(Marker {
                    line: i as u64 + 1,
                    rule: rule.to_string(),
                    severity: severity.to_string(),
                    known_bug,
                });
            }
        }
    }
    out
}

/// `(namespace, name)` of the object (YAML document) that holds 1-based
/// `line`. Fixtures are multi-document files with block-style metadata.
fn object_at(text: &str, line: u64) -> (String, String) {
    let lines: Vec<&str> = text.lines().collect();
    let idx = line as usize - 1;
    let start = lines[..idx]
        .iter()
        .rposition(|l| *l == "---")
        .map_or(0, |p| p + 1);
    let end = lines[idx..]
        .iter()
        .position(|l| *l == "---")
        .map_or(lines.len(), |p| idx + p);
    let (mut ns, mut name) = ("default".to_string(), None);
    let mut in_meta = false;
    for l in &lines[start..end] {
        if !l.starts_with(' ') && !l.starts_with('#') {
            in_meta = l.trim_end() == "metadata:";
            continue;
        }
        if in_meta {
            let value = |k: &str| {
                l.strip_prefix(&format!("  {k}: "))
                    .map(|v| v.split(" #").next().unwrap_or(v).trim().to_string())
            };
            if let Some(v) = value("name") {
                name = Some(v);
            } else if let Some(v) = value("namespace") {
                ns = v;
            }
        }
    }
    (
        ns,
        name.unwrap_or_else(|| panic!("no metadata.name around line {line}")),
    )
}

/// An annotation's line (`    nginx.ingress.kubernetes.io/auth-url: ...`):
/// annotation findings point at the annotation they are about.
fn is_annotation_line(line: &str) -> bool {
    line.starts_with("    ")
        && line
            .trim_start()
            .split_once(':')
            .is_some_and(|(k, _)| k.contains('/') && !k.contains(' '))
}

/// Problems with one marker, or `None` when a finding matches it exactly.
fn check_marker(file: &str, text: &str, m: &Marker, findings: &[Finding]) -> Option<String> {
    let at_line: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.rule == m.rule && f.line == m.line && f.file == file)
        .collect();
    let Some(f) = at_line.first() else {
        let same_rule: Vec<String> = findings
            .iter()
            .filter(|f| f.rule == m.rule)
            .map(|f| format!("    {f}"))
            .collect();
        return Some(format!(
            "{file}:{}: expected {} {} here, got none (findings of {} elsewhere:{}{})",
            m.line,
            m.rule,
            m.severity,
            m.rule,
            if same_rule.is_empty() { " none" } else { "\n" },
            same_rule.join("\n")
        ));
    };
    let mut errs = Vec::new();
    if f.severity != m.severity {
        errs.push(format!("severity {} (expected {})", f.severity, m.severity));
    }
    if file.ends_with(".policy.yaml") {
        // A finding about the policy names no Ingress, host or path.
        if !(f.namespace.is_empty() && f.ingress.is_empty() && f.path.is_empty()) {
            errs.push("a policy finding should name no Ingress or path".to_string());
        }
        return (!errs.is_empty())
            .then(|| format!("{file}:{}: {}\n    {f}", m.line, errs.join("; ")));
    }
    let (ns, name) = object_at(text, m.line);
    if (f.namespace.as_str(), f.ingress.as_str()) != (ns.as_str(), name.as_str()) {
        errs.push(format!(
            "Ingress {}/{} (expected {ns}/{name}, the object at that line)",
            f.namespace, f.ingress
        ));
    }
    let line_text = text.lines().nth(m.line as usize - 1).unwrap_or("");
    if FIELD_LINE_RULES.contains(&f.rule.as_str()) {
        // The finding's line is the marker's (checked above): the field.
    } else if f.path.is_empty() {
        if !line_text
            .trim_start_matches(['-', ' '])
            .starts_with("apiVersion:")
            && !is_annotation_line(line_text)
        {
            errs.push(format!(
                "no path, so the line should be the object's start or an annotation's, not {line_text:?}"
            ));
        }
    } else if !line_text.contains(&format!("path: {}", f.path)) {
        errs.push(format!(
            "path {:?} but line {} reads {line_text:?}",
            f.path, m.line
        ));
    }
    if !f.host.is_empty() && !text.contains(&f.host) && f.host != "*" {
        errs.push(format!("host {:?} appears nowhere in the file", f.host));
    }
    (!errs.is_empty()).then(|| format!("{file}:{}: {}\n    {f}", m.line, errs.join("; ")))
}

fn rule_dirs() -> BTreeMap<String, PathBuf> {
    std::fs::read_dir(root().join(LINT_DIR))
        .expect("testdata/lint exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect()
}

/// `testdata/lint/<rule>/<name>` as given on the command line.
fn rel(rule: &str, name: &str) -> String {
    format!("{LINT_DIR}/{rule}/{name}")
}

fn read(rel_path: &str) -> String {
    std::fs::read_to_string(root().join(rel_path))
        .unwrap_or_else(|e| panic!("read {rel_path}: {e}"))
}

fn quiet_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n == "quiet.yaml" || (n.starts_with("quiet-") && n.ends_with(".yaml")))
        .collect();
    names.sort();
    names
}

fn registered() -> Vec<&'static str> {
    stepup::lint::rules().iter().map(|r| r.id).collect()
}

fn fail_if_any(what: &str, failures: &[String]) {
    if !failures.is_empty() {
        let mut msg = format!("{} {what}:\n", failures.len());
        for f in failures {
            let _ = writeln!(msg, "- {f}");
        }
        panic!("{msg}");
    }
}

/// Assert that the markers of `rule`'s fires.yaml on the object named
/// `ingress` are reported (the regression tests of former known bugs).
fn assert_known_bug_fires(rule: &str, ingress: &str) {
    let file = rel(rule, "fires.yaml");
    let text = read(&file);
    let findings = lint(&file);
    let ms: Vec<Marker> = markers(&text)
        .into_iter()
        .filter(|m| object_at(&text, m.line).1 == ingress)
        .collect();
    assert!(!ms.is_empty(), "{file}: no marker on {ingress}");
    let failures: Vec<String> = ms
        .iter()
        .filter_map(|m| check_marker(&file, &text, m, &findings))
        .collect();
    fail_if_any("known-bug expectations still unmet", &failures);
}

/// Assert that a quiet file yields no finding at all.
fn assert_fully_quiet(rule: &str, name: &str) {
    let file = rel(rule, name);
    let findings = lint(&file);
    let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
    fail_if_any(&format!("finding(s) on {file}"), &lines);
}

// === the table-driven tests ===

/// Every registered rule has a fixture directory with fires.yaml and
/// quiet.yaml, and every fixture directory is a registered rule.
#[test]
fn every_rule_has_fixtures() {
    let ids = registered();
    assert!(ids.len() >= 17, "rules registered: {ids:?}");
    let dirs = rule_dirs();
    let mut failures = Vec::new();
    for id in &ids {
        match dirs.get(*id) {
            None => failures.push(format!("rule {id} has no directory {LINT_DIR}/{id}/")),
            Some(d) => {
                for f in ["fires.yaml", "quiet.yaml"] {
                    if !d.join(f).is_file() {
                        failures.push(format!("rule {id} has no {LINT_DIR}/{id}/{f}"));
                    }
                }
            }
        }
    }
    for d in dirs.keys() {
        if !ids.contains(&d.as_str()) {
            failures.push(format!("{LINT_DIR}/{d}/ is not a registered rule"));
        }
    }
    // `stepup explain` lists the same rules.
    let out = stepup(&["--color", "never", "explain"]);
    assert_eq!(out.status.code(), Some(0));
    let listed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    if listed != ids {
        failures.push(format!(
            "`stepup explain` lists {listed:?}, registry has {ids:?}"
        ));
    }
    fail_if_any("fixture coverage problem(s)", &failures);
}

/// Each fires.yaml yields every `# expect:` finding (rule, severity, file,
/// line, Ingress, path), and its rule fires nowhere else.
#[test]
fn fires_files_fire_where_marked() {
    let mut failures = Vec::new();
    for id in registered() {
        let file = rel(id, "fires.yaml");
        if !root().join(&file).is_file() {
            continue; // every_rule_has_fixtures reports it
        }
        let findings = lint(&file);
        // The fixture and, when it has one, its own policy (SU029).
        let mut marked: BTreeSet<(String, u64)> = BTreeSet::new();
        let mut any_own = false;
        let policy = policy_for(&file);
        let sources = if policy == POLICY {
            vec![file.clone()]
        } else {
            vec![file.clone(), policy]
        };
        for src in &sources {
            let text = read(src);
            let ms = markers(&text);
            any_own |= ms.iter().any(|m| m.rule == id && !m.known_bug);
            for m in ms.iter().filter(|m| !m.known_bug) {
                if let Some(e) = check_marker(src, &text, m, &findings) {
                    failures.push(e);
                }
            }
            marked.extend(
                ms.iter()
                    .filter(|m| m.rule == id)
                    .map(|m| (src.clone(), m.line)),
            );
        }
        if !any_own {
            failures.push(format!("{file}: no `# expect: {id} <severity>` marker"));
        }
        for f in findings.iter().filter(|f| f.rule == id) {
            if !marked.contains(&(f.file.clone(), f.line)) {
                failures.push(format!(
                    "{file}:{}: unexpected {id} finding\n    {f}",
                    f.line
                ));
            }
        }
    }
    fail_if_any("fires.yaml expectation(s) unmet", &failures);
}

/// Each quiet*.yaml yields no finding at all (for the files of
/// KNOWN_FALSE_POSITIVES: none but the known wrong one).
#[test]
fn quiet_files_are_quiet() {
    let mut failures = Vec::new();
    let mut seen_known = BTreeSet::new();
    for (id, dir) in rule_dirs() {
        for name in quiet_files(&dir) {
            let key = format!("{id}/{name}");
            let file = rel(&id, &name);
            let known = KNOWN_FALSE_POSITIVES
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, r)| *r);
            if known.is_some() {
                seen_known.insert(key.clone());
            }
            for f in lint(&file) {
                if Some(f.rule.as_str()) != known {
                    failures.push(format!("{file}: {f}"));
                }
            }
        }
    }
    for (k, _) in KNOWN_FALSE_POSITIVES {
        assert!(
            seen_known.contains(*k),
            "KNOWN_FALSE_POSITIVES names missing file {k}"
        );
    }
    fail_if_any("finding(s) on quiet files", &failures);
}

// === exit codes and explain ===

/// An error finding fails the run by default (exit 1); `--fail-on never`
/// exits 0 with the same findings; `--fail-on` picks the threshold.
#[test]
fn lint_exit_codes() {
    let code = |args: &[&str]| {
        let o = stepup(args);
        assert_ne!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.status.code()
    };
    let errors = rel("SU001", "fires.yaml");
    let warnings_only = rel("SU005", "fires.yaml");
    let quiet = rel("SU001", "quiet.yaml");
    assert_eq!(code(&["lint", "-p", POLICY, &errors]), Some(1));
    assert_eq!(
        code(&["lint", "-p", POLICY, &errors, "-o", "json"]),
        Some(1)
    );
    assert_eq!(
        code(&["lint", "-p", POLICY, &errors, "--fail-on", "error"]),
        Some(1)
    );
    assert_eq!(
        code(&[
            "lint",
            "-p",
            POLICY,
            &errors,
            "-o",
            "json",
            "--fail-on",
            "never"
        ]),
        Some(0)
    );
    // A warning alone fails only with --fail-on warning.
    assert!(lint(&warnings_only).iter().all(|f| f.severity == "warning"));
    assert_eq!(code(&["lint", "-p", POLICY, &warnings_only]), Some(0));
    assert_eq!(
        code(&["lint", "-p", POLICY, &warnings_only, "--fail-on", "warning"]),
        Some(1)
    );
    // A fixed file passes even the strictest threshold.
    assert_eq!(
        code(&["lint", "-p", POLICY, &quiet, "--fail-on", "warning"]),
        Some(0)
    );
}

/// `stepup explain SU006` prints the rule's header, summary and explain text.
#[test]
fn explain_prints_the_rule_text() {
    let r = stepup::lint::rule("SU006").expect("SU006 registered");
    for arg in ["SU006", "su006", "shadowed"] {
        let out = stepup(&["--color", "never", "explain", arg]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "explain {arg}: {stdout}");
        assert!(
            stdout.starts_with("SU006 shadowed (error)"),
            "explain {arg}:\n{stdout}"
        );
        assert!(stdout.contains(r.summary), "explain {arg}:\n{stdout}");
        assert!(stdout.contains(r.explain), "explain {arg}:\n{stdout}");
        assert!(
            stdout.contains("older duplicate"),
            "explain {arg}:\n{stdout}"
        );
    }
    let out = stepup(&["--color", "never", "explain", "SU999"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SU999"));
}

// === known bugs: each asserts what stepup SHOULD do, and fails today ===

// Regression (was a known bug): SU006 misses the "older duplicate" case its explain text names.
// On staff.example.com the 2022 Ingress staff/staff-console-v1 (Prefix
// /admin, no auth) wins the duplicate host+path over the protected
// staff/staff-console (2024), but stepup reports SU001 ("reaches
// staff-console-v1:8080 ... with no auth") instead of SU006: the newer
// Ingress's location was dropped by the merge, so `shadowed_by` never sees
// the protecting Ingress. The finding neither names staff/staff-console nor
// tells that the protected Ingress is being overridden.
#[test]
fn su006_older_duplicate_is_shadowing() {
    assert_known_bug_fires("SU006", "staff-console-v1");
}

// Regression (was a known bug): SU006 (and every route rule) misses a regex-mode path that
// shadows a protected prefix, another case its explain text names. On
// ops.example.com, ops/ops-reports (use-regex, `/admin/report[s]?/.*`, no
// auth) serves /admin/reports/q3 without auth — `stepup simulate -p
// testdata/lint/policy.yaml https://ops.example.com/admin/reports/q3 -f
// testdata/lint/SU006/fires.yaml` answers "enforced none, allow → 200" —
// but lint reports only SU008 (a warning), so `stepup lint` exits 0. Probe
// paths never reach regex locations: `location_sample` skips regex paths
// and no policy or sensitive sample (`/admin`, `/admin/stepup-probe`)
// happens to match this one.
#[test]
fn su006_regex_path_is_shadowing() {
    assert_known_bug_fires("SU006", "ops-reports");
}

// Regression (was a known bug): SU007 fires on `/admin(/|$)`, the very fix its explain text
// recommends ("End the path with `/` or `(/|$)`"), with the message
// "location ~* \"^/admin(/|$)\" ... is an unanchored prefix: /admin(/|$)x
// matches it too". The check only accepts names ending in `/` or `$`.
#[test]
fn su007_anchored_regex_path_is_not_a_prefix_leak() {
    assert_fully_quiet("SU007", "quiet.yaml");
}

// Regression (was a known bug): SU012 does not fire on `auth-cache-key: "$request_uri"`, a key
// without any credential: one user's cached 200 is served to every client,
// even one without a token. The explain text's own fix asks for
// "$request_uri and the credential in the key".
#[test]
fn su012_cache_key_without_credential() {
    assert_known_bug_fires("SU012", "orders");
}

// Regression (was a known bug): SU012 does not fire when auth-cache-key is set without
// auth-cache-duration, although ingress-nginx then caches with its default
// "200 202 401 5m" (docs/user-guide/nginx-configuration/annotations.md),
// i.e. caches the 401 step-up challenge.
#[test]
fn su012_default_cache_duration_caches_401() {
    assert_known_bug_fires("SU012", "wishlist");
}

// Regression (was a known bug): SU014 fires on `enable-global-auth: "false"` even when the
// Ingress carries stepup's auth-url at the required level, although its own
// fix hint offers exactly that ("Remove enable-global-auth, or protect the
// Ingress with stepup's auth-url."). Either the check must look at the
// Ingress's own auth, or the hint must not offer that fix.
#[test]
fn su014_opt_out_protected_by_stepup_is_quiet() {
    assert_fully_quiet("SU014", "quiet-stepup-protected.yaml");
}

// Regression (was a known bug): `stepup.dev/ignore: "SU013: TLS ends at the cloud load
// balancer, see runbook LB-7"` yields SU017 `suppression "see runbook LB-7"
// gives no reason`: entries are split on every comma, so a reason cannot
// contain one (src/lint/tests.rs itself writes "SU001: reviewed, internal
// only"). Splitting only before `SU0NN:` would keep such reasons whole.
#[test]
fn su017_reason_with_a_comma_is_a_reason() {
    assert_fully_quiet("SU017", "quiet-comma-in-reason.yaml");
}

// Regression (was a known bug): for an unknown rule ID with a reason (`SU031: TLS ends at the
// cloud load balancer`), SU017 says `suppression "SU031: ..." gives no
// reason`, which is false and hides the actual problem (no rule SU031).
#[test]
fn su017_unknown_rule_message_names_the_rule() {
    let file = rel("SU017", "fires.yaml");
    let f = lint(&file)
        .into_iter()
        .find(|f| f.rule == "SU017" && f.ingress == "account")
        .expect("SU017 fires on shop/account");
    assert!(
        f.message.contains("SU031") && f.message.contains("unknown"),
        "message should say that rule SU031 is unknown: {f}"
    );
    assert!(!f.message.contains("gives no reason"), "{f}");
}

// === input findings (issue 17) ===

/// `stepup lint -o FORMAT` on a fixture: (stdout, exit code).
fn lint_as(file: &str, format: &str, extra: &[&str]) -> (String, Option<i32>) {
    let mut args = vec!["lint", "-p", POLICY, file, "-o", format];
    args.extend_from_slice(extra);
    let out = stepup(&args);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code(),
    )
}

// Regression (issue 17): an object that cannot be read stopped the whole
// run with one message on stderr, so CI formats (SARIF, JUnit, GitHub)
// showed nothing at all. Now every problem is an SU023 finding in every
// format, the rest is linted, and the run still exits 2 (even with
// --fail-on never) after the report.
#[test]
fn regression_input_errors_are_findings_in_every_format() {
    let file = rel("SU023", "fires.yaml");
    for (format, needles) in [
        (
            "human",
            vec![
                format!("{file}:36: error[SU023]"),
                format!("{file}:48: error[SU023]"),
            ],
        ),
        (
            "github",
            vec![
                format!("::error file={file},line=36,title=SU023 input-error::"),
                format!("::error file={file},line=48,title=SU023 input-error::"),
            ],
        ),
        (
            "junit",
            vec![
                format!("file=\"{file}\" line=\"36\""),
                format!("file=\"{file}\" line=\"48\""),
            ],
        ),
        (
            "sarif",
            vec![
                "\"startLine\": 36".to_string(),
                "\"startLine\": 48".to_string(),
            ],
        ),
        (
            "json",
            vec!["\"line\": 36".to_string(), "\"line\": 48".to_string()],
        ),
    ] {
        let (out, code) = lint_as(&file, format, &["--fail-on", "never"]);
        assert_eq!(code, Some(2), "-o {format}:\n{out}");
        for n in needles {
            assert!(out.contains(&n), "-o {format}: no {n:?} in\n{out}");
        }
    }
    // The valid Ingress of the file was linted.
    let (out, _) = lint_as(&file, "json", &[]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["ingresses"], 1, "{v}");
}

// Regression (issue 17): a GitOps `${domain}` in a host made the whole run
// fail ("not a valid DNS name"). Now the host gets a stand-in under
// .invalid, SU027 names the variable, and every other finding on that host
// says it depends on it; with --var the real host is linted.
#[test]
fn regression_findings_on_a_variable_host_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("admin.yaml");
    std::fs::write(
        &file,
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: console\n  namespace: shop\nspec:\n  ingressClassName: nginx\n  rules:\n    - host: admin.${domain}\n      http:\n        paths:\n          - path: /admin\n            pathType: Prefix\n            backend:\n              service: {name: console, port: {number: 80}}\n",
    )
    .unwrap();
    let file = file.display().to_string();
    let (out, code) = lint_as(&file, "json", &["--fail-on", "never"]);
    assert_eq!(code, Some(0), "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let list = v["findings"].as_array().unwrap();
    let su027 = list.iter().find(|f| f["rule"] == "SU027").expect("SU027");
    assert_eq!(su027["line"], 9, "{su027}");
    assert!(su027["message"].as_str().unwrap().contains("${domain}"));
    let su001 = list
        .iter()
        .find(|f| f["rule"] == "SU001")
        .expect("SU001 on /admin");
    assert_eq!(su001["host"], "admin.var-domain.invalid", "{su001}");
    assert!(
        su001["message"]
            .as_str()
            .unwrap()
            .contains("(depends on ${domain}: host written admin.${domain})"),
        "{su001}"
    );
    let (out, _) = lint_as(&file, "json", &["--var", "domain=example.com"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let list = v["findings"].as_array().unwrap();
    assert!(list.iter().all(|f| f["rule"] != "SU027"), "{v}");
    assert!(
        list.iter()
            .any(|f| f["rule"] == "SU001" && f["host"] == "admin.example.com"),
        "{v}"
    );
}

// === issue 17: findings a reviewer can act on ===

/// `stepup lint ARGS -o json --fail-on never` (file names as given).
fn lint_json(args: &[&str]) -> Vec<Finding> {
    let mut all = vec!["lint"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json", "--fail-on", "never"]);
    let out = stepup(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Exit 2 after the report when some input could not be modelled.
    let input_error = stdout.contains("\"SU023\"");
    assert_eq!(
        out.status.code(),
        Some(if input_error { 2 } else { 0 }),
        "{all:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| Finding::from_json("-", f))
        .collect()
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write");
    p.display().to_string()
}

/// An Ingress of a class the modelled controller does not serve was
/// skipped in silence: the run looked clean. SU025 says so in every output
/// format, and the flag it names makes the route rules see it.
#[test]
fn regression_unserved_class_is_said_in_every_format() {
    let file = rel("SU025", "fires.yaml");
    for format in ["human", "json", "sarif", "junit", "github"] {
        let out = stepup(&[
            "lint",
            "-p",
            POLICY,
            &file,
            "-o",
            format,
            "--fail-on",
            "never",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("SU025") && text.contains("--ingress-class modsec"),
            "-o {format}:\n{text}"
        );
        assert!(
            text.contains("--watch-ingress-without-class"),
            "-o {format}:\n{text}"
        );
    }
    let served = lint_json(&[
        "-p",
        POLICY,
        &file,
        "--ingress-class",
        "modsec",
        "--watch-ingress-without-class",
    ]);
    assert!(!served.iter().any(|f| f.rule == "SU025"), "{served:?}");
    // Its unprotected Prefix / is now judged.
    assert!(
        served
            .iter()
            .any(|f| f.rule == "SU001" && f.ingress == "fee-calculator"),
        "{served:?}"
    );
}

const ROOT_WITHOUT_AUTH: &str = "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  ingressClassName: nginx
  rules:
    - host: shop.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service: {name: web, port: {number: 80}}
";

/// A `Prefix /` without auth gave one SU001 per policy rule it covers,
/// each with another fix level, and named invented probe paths
/// (`/admin/stepup-probe`). Now: one SU001, the strictest level as the fix,
/// the policy's own paths per level.
#[test]
fn regression_prefix_root_gives_one_finding_with_the_strictest_level() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "web.yaml", ROOT_WITHOUT_AUTH);
    let found = lint_json(&["-p", POLICY, &file]);
    let su001: Vec<&Finding> = found.iter().filter(|f| f.rule == "SU001").collect();
    assert_eq!(su001.len(), 1, "{found:?}");
    let f = su001[0];
    assert_eq!((f.path.as_str(), f.line), ("/", 12), "{f}");
    assert!(f.fix.contains("level=admin"), "{f}: {}", f.fix);
    assert!(f.message.contains("/admin/** needs admin"), "{f}");
    assert!(
        f.message.contains("needs authenticated") || f.message.contains("need authenticated"),
        "{f}"
    );
    assert!(!f.message.contains("more probe path"), "{f}");
}

/// Messages and paths named probe samples that exist in no manifest and no
/// policy (`/api/payments/stepup-probe`, host `stepup-probe.…`).
#[test]
fn regression_messages_name_no_probe_paths() {
    let mut files: Vec<String> = rule_dirs()
        .keys()
        .map(|id| rel(id, "fires.yaml"))
        .filter(|f| root().join(f).is_file())
        .collect();
    files.push("testdata/shop/ingresses".into());
    let dir = tempfile::tempdir().expect("tempdir");
    files.push(write(dir.path(), "web.yaml", ROOT_WITHOUT_AUTH));
    for file in files {
        let policy = if file.starts_with("testdata/shop") {
            "testdata/shop/policy.yaml".to_string()
        } else {
            policy_for(&file)
        };
        for f in lint_json(&["-p", &policy, &file]) {
            for text in [&f.message, &f.path, &f.host, &f.fix] {
                assert!(!text.contains("stepup-probe"), "{file}: {f}");
            }
        }
    }
}

/// Annotation findings pointed at the Ingress's first line; now at the
/// annotation's own line, in human, JSON and SARIF output alike.
#[test]
fn regression_annotation_findings_point_at_the_annotation() {
    let file = rel("SU009", "fires.yaml");
    let text = read(&file);
    let key_line = text
        .lines()
        .position(|l| l.contains("configuration-snippet:"))
        .expect("snippet in fixture") as u64
        + 1;
    let json = lint(&file);
    assert!(
        json.iter().any(|f| f.rule == "SU009" && f.line == key_line),
        "{json:?}"
    );
    let human = stepup(&["lint", "-p", POLICY, &file, "--fail-on", "never"]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(
        human.contains(&format!("{file}:{key_line}: error[SU009]")),
        "{human}"
    );
    let sarif = stepup(&[
        "lint",
        "-p",
        POLICY,
        &file,
        "-o",
        "sarif",
        "--fail-on",
        "never",
    ]);
    let v: Value = serde_json::from_slice(&sarif.stdout).expect("sarif json");
    let lines: Vec<u64> = v["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["ruleId"] == "SU009")
        .filter_map(|r| r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64())
        .collect();
    assert!(lines.contains(&key_line), "{lines:?}");
}

/// oauth2-proxy's own Ingress (`/oauth2`, the path of the other Ingress's
/// `auth-signin: https://$host/oauth2/start`) was SU001 under a default
/// that requires a login: it is how a browser gets the login at all
/// (ingress-nginx docs/examples/auth/oauth-external-auth). Only that
/// location on that host is exempt, and a policy rule naming the path wins.
#[test]
fn regression_other_proxies_signin_path_is_public() {
    let src = read(
        "testdata/realworld/kubernetes__ingress-nginx/docs/examples/auth/oauth-external-auth/oauth2-proxy.yaml",
    )
    .replace("__INGRESS_HOST__", "dash.example.com")
    .replace("__INGRESS_SECRET__", "dash-tls");
    // The same proxy Ingress on a host where nothing signs in through it.
    let other = src
        .split("\n---")
        .find(|d| d.contains("name: oauth2-proxy") && d.contains("kind: Ingress"))
        .expect("proxy Ingress")
        .replace("name: oauth2-proxy\n", "name: oauth2-proxy-other\n")
        .replace("dash.example.com", "other.example.com");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "oauth2.yaml", &format!("{src}\n---\n{other}"));
    let found = lint_json(&["-p", POLICY, &file]);
    let su001 = |f: &&Finding| f.rule == "SU001";
    assert!(
        !found
            .iter()
            .filter(su001)
            .any(|f| f.ingress == "oauth2-proxy"),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .filter(su001)
            .any(|f| f.ingress == "oauth2-proxy-other"),
        "{found:?}"
    );
    // A policy that names /oauth2/** itself decides.
    let policy = read(POLICY).replace(
        "  rules:\n",
        "  rules:\n    - name: oauth2\n      paths: [/oauth2/**]\n      level: authenticated\n",
    );
    let policy = write(dir.path(), "policy.yaml", &policy);
    let found = lint_json(&["-p", &policy, &file]);
    assert!(
        found
            .iter()
            .filter(su001)
            .any(|f| f.ingress == "oauth2-proxy"),
        "{found:?}"
    );
}

/// `enable-global-auth: "False"` (Go ParseBool) on a `Prefix /` that serves
/// /admin/** was no SU014: the check read the Ingress path `/` as public.
/// With the controller's global-auth-url it names the URL; and a public
/// path behind that global auth is SU028.
#[test]
fn regression_global_auth_opt_out_on_prefix_root_is_su014() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cm = write(
        dir.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ingress-nginx-controller, namespace: ingress-nginx}\ndata:\n  global-auth-url: \"https://auth.example.com/check\"\n",
    );
    let root = ROOT_WITHOUT_AUTH.replace(
        "  namespace: shop\n",
        "  namespace: shop\n  annotations:\n    nginx.ingress.kubernetes.io/enable-global-auth: \"False\"\n",
    );
    let health = "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: health
  namespace: shop
spec:
  ingressClassName: nginx
  rules:
    - host: status.example.com
      http:
        paths:
          - path: /healthz
            pathType: Exact
            backend:
              service: {name: web, port: {number: 80}}
";
    let file = write(dir.path(), "web.yaml", &format!("{root}---\n{health}"));
    let found = lint_json(&["-p", POLICY, &file, "--controller-config", &cm]);
    let opt: Vec<&Finding> = found.iter().filter(|f| f.rule == "SU014").collect();
    assert_eq!(opt.len(), 1, "{found:?}");
    assert_eq!(opt[0].line, 7, "at the annotation: {}", opt[0]);
    assert!(
        opt[0].message.contains("https://auth.example.com/check"),
        "{}",
        opt[0]
    );
    assert!(opt[0].message.contains("/admin/**"), "{}", opt[0]);
    assert!(
        found.iter().any(|f| f.rule == "SU028"
            && f.ingress == "health"
            && f.message.contains("global-auth-url")),
        "{found:?}"
    );
    // Without a global-auth-url modelled, the opt-out still says so.
    let found = lint_json(&["-p", POLICY, &file]);
    assert!(
        found
            .iter()
            .any(|f| f.rule == "SU014" && f.message.contains("none is modelled")),
        "{found:?}"
    );
}

/// A finding about the policy (SU029) has no Ingress: SARIF gave it a
/// logical location `/` and JUnit a test case named `SU029 /`.
#[test]
fn regression_policy_findings_name_no_ingress() {
    let (file, policy) = (
        rel("SU029", "fires.yaml"),
        rel("SU029", "fires.policy.yaml"),
    );
    let run = |format: &str| {
        let out = stepup(&[
            "lint",
            "-p",
            &policy,
            &file,
            "-o",
            format,
            "--fail-on",
            "never",
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let sarif: Value = serde_json::from_str(&run("sarif")).expect("sarif json");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    let su029: Vec<&Value> = results.iter().filter(|r| r["ruleId"] == "SU029").collect();
    assert_eq!(su029.len(), 2, "{results:?}");
    for r in su029 {
        let loc = &r["locations"][0];
        assert!(loc.get("logicalLocations").is_none(), "{r}");
        assert_eq!(
            loc["physicalLocation"]["artifactLocation"]["uri"],
            policy.as_str()
        );
    }
    let junit = run("junit");
    assert!(
        junit.contains(&format!("name=\"SU029 {policy}:29\"")),
        "{junit}"
    );
    let human = run("human");
    assert!(!human.contains("    at \n"), "{human}");
}

/// SPEC §1 (issue 17): `**` is zero or more segments, so `/admin/**` covers
/// `/admin` itself. A policy that wrote only `/admin/**` left an exposed
/// `Exact /admin` at the default level (lint said it needed
/// `authenticated`, not `admin`), and a public `/static/**` flagged
/// `Exact /static`.
#[test]
fn regression_double_star_covers_the_directory_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = write(
        dir.path(),
        "p.yaml",
        "apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata: {name: t}
spec:
  authService: {url: 'http://stepup.stepup-system.svc.cluster.local:8080'}
  levels:
    - {name: authenticated}
    - {name: admin, claims: {groups: [admins]}}
  rules:
    - {name: admin, paths: ['/admin/**'], level: admin}
    - {name: assets, paths: ['/static/**'], level: public}
  default: authenticated
",
    );
    let ing = write(
        dir.path(),
        "i.yaml",
        "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: web}
spec:
  ingressClassName: nginx
  rules:
    - host: a.example
      http:
        paths:
          - {path: /admin, pathType: Exact, backend: {service: {name: admin, port: {number: 80}}}}
          - {path: /static, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
",
    );
    let found = lint_json(&["-p", &policy, &ing]);
    let su001: Vec<&Finding> = found.iter().filter(|f| f.rule == "SU001").collect();
    assert_eq!(su001.len(), 1, "{found:?}");
    assert_eq!(su001[0].path, "/admin", "{found:?}");
    assert!(
        su001[0].message.contains("needs admin (policy rule admin)"),
        "{}",
        su001[0].message
    );
}
