//! SARIF 2.1.0 for GitHub code scanning (and any other SARIF consumer).
//!
//! One run; `tool.driver.rules` is the whole registry (so a result's
//! `ruleIndex` is its position in [`crate::lint::rules`]), each result has
//! one physical location (file relative to `%SRCROOT%`, start line), a
//! `partialFingerprints` entry that survives line moves (a hash of rule,
//! Ingress, host and path) and the Ingress coordinates as properties.

use std::io::{self, Write};

use std::collections::HashMap;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::full_text;
use crate::lint::{Finding, Report, RuleInfo, Severity, rules};

/// Where the tool is documented.
const INFORMATION_URI: &str = "https://stepup.dev";

/// Key of our entry in `partialFingerprints` (versioned: a change of what is
/// hashed must change the key, or code scanning mixes old and new alerts).
pub(super) const FINGERPRINT_KEY: &str = "stepupFinding/v1";

/// Streamed: the rule registry is a small value tree, the results are
/// serialised one at a time straight to `out` (pass a buffered writer).
pub(super) fn render(out: &mut impl Write, r: &Report) -> io::Result<()> {
    let registry = rules();
    let driver_rules: Vec<Value> = registry.iter().map(rule).collect();
    let log = Log {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        version: "2.1.0",
        runs: [Run {
            tool: json!({
                "driver": {
                    "name": "stepup",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": INFORMATION_URI,
                    "rules": driver_rules,
                }
            }),
            column_kind: "unicodeCodePoints",
            results: Results {
                findings: &r.findings,
                prints: fingerprints(&r.findings),
                registry,
            },
        }],
    };
    serde_json::to_writer_pretty(&mut *out, &log).map_err(io::Error::from)?;
    writeln!(out)
}

/// The SARIF log (field order is the output's key order).
#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
struct Run<'a> {
    tool: Value,
    #[serde(rename = "columnKind")]
    column_kind: &'static str,
    results: Results<'a>,
}

/// `results`: each finding becomes its value only while it is written.
struct Results<'a> {
    findings: &'a [Finding],
    prints: Vec<String>,
    registry: &'static [RuleInfo],
}

impl Serialize for Results<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.findings
                .iter()
                .zip(&self.prints)
                .map(|(f, print)| result(f, self.registry, print)),
        )
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// GitHub's `security-severity` (0.0–10.0; ≥7 high, ≥4 medium, else low).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "8.0",
        Severity::Warning => "5.0",
        Severity::Note => "2.0",
    }
}

/// `no-auth` → `NoAuth` (SARIF tools and GitHub show `name` as an
/// identifier; the kebab-case name stays in the properties and the help).
fn pascal_case(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A sentence: capitalised, ending with a full stop.
fn sentence(s: &str) -> String {
    let s = s.trim();
    if s.is_empty() {
        return String::new();
    }
    let mut out: String = s
        .chars()
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + &s[c.len_utf8()..])
        .unwrap_or_default();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

fn rule(r: &RuleInfo) -> Value {
    let first_paragraph = r.explain.split("\n\n").next().unwrap_or(r.summary);
    json!({
        "id": r.id,
        "name": pascal_case(r.name),
        "shortDescription": {"text": sentence(r.summary)},
        "fullDescription": {"text": sentence(first_paragraph)},
        "help": {
            "text": r.explain,
            "markdown": format!(
                "**{} {}** ({})\n\n{}\n\n{}\n\nRun `stepup explain {}` for this text in a terminal.",
                r.id,
                r.name,
                r.severity.as_str(),
                sentence(r.summary),
                r.explain,
                r.id
            ),
        },
        "defaultConfiguration": {"level": level(r.severity)},
        "properties": {
            "tags": ["security", "kubernetes", "ingress"],
            "security-severity": security_severity(r.severity),
            "precision": "high",
            "problem.severity": match r.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Note => "recommendation",
            },
            "stepup-name": r.name,
        },
    })
}

fn result(f: &Finding, registry: &[RuleInfo], print: &str) -> Value {
    let (uri, relative) = file_uri(&f.file);
    let mut artifact = Map::new();
    artifact.insert("uri".into(), json!(uri));
    if relative {
        artifact.insert("uriBaseId".into(), json!("%SRCROOT%"));
    }
    let mut v = Map::new();
    v.insert("ruleId".into(), json!(f.rule));
    if let Some(i) = registry.iter().position(|r| r.id == f.rule) {
        v.insert("ruleIndex".into(), json!(i));
    }
    v.insert("level".into(), json!(level(f.severity)));
    v.insert("message".into(), json!({"text": full_text(f)}));
    let mut location = json!({
        "physicalLocation": {
            "artifactLocation": artifact,
            "region": {"startLine": f.line.max(1)},
        },
    });
    // A finding about the policy itself (SU029) names no Ingress.
    if !f.ingress.is_empty() {
        location["logicalLocations"] = json!([{
            "name": f.ingress,
            "fullyQualifiedName": format!("{}/{}", f.namespace, f.ingress),
            "kind": "resource",
        }]);
    }
    v.insert("locations".into(), json!([location]));
    v.insert(
        "partialFingerprints".into(),
        json!({FINGERPRINT_KEY: print}),
    );
    v.insert(
        "properties".into(),
        json!({
            "namespace": f.namespace,
            "ingress": f.ingress,
            "host": f.host,
            "path": f.path,
            "fix": f.fix,
        }),
    );
    Value::Object(v)
}

/// The stable identity of each finding across runs: rule, Ingress, host and
/// path (not the line, so an edit above it does not open a new alert),
/// hashed with 64-bit FNV-1a. Findings of one report that share all four
/// (two bad suppressions of one Ingress, say) also hash their message, so
/// code scanning does not merge them into one alert.
pub(super) fn fingerprints(findings: &[Finding]) -> Vec<String> {
    let base = |f: &Finding| {
        let mut h = Fnv1a::new();
        for part in [f.rule, &f.namespace, &f.ingress, &f.host, &f.path] {
            h.write(part.as_bytes());
            h.write(&[0]);
        }
        h
    };
    let bases: Vec<u64> = findings.iter().map(|f| base(f).finish()).collect();
    // How many findings share each base (a map, not a scan per finding:
    // that was quadratic, minutes at 100,000 findings).
    let mut shares: HashMap<u64, usize> = HashMap::with_capacity(bases.len());
    for b in &bases {
        *shares.entry(*b).or_default() += 1;
    }
    findings
        .iter()
        .zip(&bases)
        .map(|(f, b)| {
            let shared = shares.get(b).is_some_and(|n| *n > 1);
            let h = if shared {
                let mut h = base(f);
                h.write(f.message.as_bytes());
                h.finish()
            } else {
                *b
            };
            format!("{h:016x}")
        })
        .collect()
}

/// 64-bit FNV-1a (deterministic across platforms and releases, unlike
/// `std`'s `DefaultHasher`).
pub(super) struct Fnv1a(u64);

impl Fnv1a {
    pub(super) fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
    pub(super) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub(super) fn finish(&self) -> u64 {
        self.0
    }
}

/// An artifact URI for a file name as the user gave it, and whether it is
/// relative (to `%SRCROOT%`). Backslashes become slashes, a leading `./` is
/// dropped, and everything outside RFC 3986's unreserved set and `/` is
/// percent-encoded (so `:` in a first segment cannot read as a scheme).
pub(super) fn file_uri(file: &str) -> (String, bool) {
    let mut p = file.replace('\\', "/");
    while let Some(rest) = p.strip_prefix("./") {
        p = rest.to_string();
    }
    let windows_drive = p.len() >= 3
        && p.as_bytes()[0].is_ascii_alphabetic()
        && p.as_bytes()[1] == b':'
        && p.as_bytes()[2] == b'/';
    if p.starts_with('/') {
        (format!("file://{}", encode_path(&p)), false)
    } else if windows_drive {
        (
            format!("file:///{}:{}", &p[..1], encode_path(&p[2..])),
            false,
        )
    } else {
        (encode_path(&p), true)
    }
}

fn encode_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for &b in p.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_known_vectors() {
        // Reference values of 64-bit FNV-1a.
        let h = |s: &str| {
            let mut f = Fnv1a::new();
            f.write(s.as_bytes());
            f.finish()
        };
        assert_eq!(h(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(h("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(h("foobar"), 0x8594_4171_f739_67e8);
    }

    fn finding(rule: &'static str, line: u32, message: &str) -> Finding {
        Finding {
            rule,
            severity: Severity::Warning,
            message: message.into(),
            file: "a.yaml".into(),
            line,
            namespace: "web".into(),
            ingress: "app".into(),
            host: "app.example".into(),
            path: "/".into(),
            fix: "Fix it.".into(),
        }
    }

    #[test]
    fn fingerprints_ignore_lines_and_separate_twins() {
        let one = fingerprints(&[finding("SU013", 3, "a")]);
        // Moving the Ingress or rewording the message keeps the identity.
        assert_eq!(one, fingerprints(&[finding("SU013", 40, "b")]));
        assert_ne!(one, fingerprints(&[finding("SU009", 3, "a")]));
        assert_eq!(one[0].len(), 16);
        // Two findings of one rule on one Ingress/host/path stay two alerts.
        let twins = fingerprints(&[finding("SU017", 3, "x"), finding("SU017", 3, "y")]);
        assert_ne!(twins[0], twins[1]);
        // Fixed value: a change here changes every alert in code scanning,
        // which needs a new FINGERPRINT_KEY.
        assert_eq!(one[0], {
            let mut h = Fnv1a::new();
            h.write(b"SU013\0web\0app\0app.example\0/\0");
            format!("{:016x}", h.finish())
        });
    }

    #[test]
    fn uris() {
        assert_eq!(file_uri("a/b.yaml"), ("a/b.yaml".into(), true));
        assert_eq!(file_uri("./a/b.yaml"), ("a/b.yaml".into(), true));
        assert_eq!(file_uri("a\\b c.yaml"), ("a/b%20c.yaml".into(), true));
        assert_eq!(file_uri("c:x.yaml"), ("c%3Ax.yaml".into(), true));
        assert_eq!(
            file_uri("/abs/x%.yaml"),
            ("file:///abs/x%25.yaml".into(), false)
        );
        assert_eq!(
            file_uri("C:\\k8s\\x.yaml"),
            ("file:///C:/k8s/x.yaml".into(), false)
        );
        assert_eq!(file_uri("-"), ("-".into(), true));
        assert_eq!(file_uri("ü.yaml"), ("%C3%BC.yaml".into(), true));
    }

    #[test]
    fn names_and_sentences() {
        assert_eq!(
            pascal_case("foreign-or-malformed-auth-url"),
            "ForeignOrMalformedAuthUrl"
        );
        assert_eq!(
            sentence("a *-snippet annotation"),
            "A *-snippet annotation."
        );
        assert_eq!(sentence("Done."), "Done.");
        assert_eq!(sentence(" "), "");
    }
}
