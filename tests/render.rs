//! `stepup lint -o sarif|junit|github`, run through the real binary.
//!
//! Fixtures: `testdata/shop` (one SU006 error) and `testdata/render`
//! (`ingresses.yaml`: errors and warnings, one message quoting
//! `< > & ' " %`; `clean.yaml`: no findings). Every renderer is checked
//! against `-o json` of the same run, so a field that goes missing or gets
//! mangled in one format shows up as a difference.
//!
//! SARIF is validated by two independent validators, both required (a
//! missing one FAILS the test; `./test.sh` installs them):
//! - the SARIF 2.1.0 JSON schema (`testdata/render/sarif-schema-2.1.0.json`,
//!   as shipped in the npm package `@microsoft/sarif-multitool-linux@5.7.0`)
//!   with Python's `jsonschema` (Draft 2020-12): the strict structural check;
//! - Microsoft's SARIF Multitool (`validate --rule-kind "Sarif;Gh"`, the same
//!   npm package): the SARIF spec rules and GitHub code scanning's ingestion
//!   rules. Its own schema pass misses enum and minimum violations (see
//!   `validators_reject_broken_sarif`), hence both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_stepup");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run `stepup` in `dir` (the crate root unless given).
fn stepup_in(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run stepup");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn stepup(args: &[&str]) -> Run {
    stepup_in(root(), args)
}

const SHOP: &[&str] = &["-p", "testdata/shop/policy.yaml", "testdata/shop/ingresses"];
const FIXTURE: &[&str] = &[
    "-p",
    "testdata/render/policy.yaml",
    "testdata/render/ingresses.yaml",
];
const CLEAN: &[&str] = &[
    "-p",
    "testdata/render/policy.yaml",
    "testdata/render/clean.yaml",
];

/// `stepup lint <set> -o <format> [extra…]`, asserting the exit code.
fn lint(set: &[&str], format: &str, extra: &[&str], code: i32) -> String {
    let mut args = vec!["lint", "-o", format];
    args.extend_from_slice(extra);
    args.extend_from_slice(set);
    let r = stepup(&args);
    assert_eq!(
        r.code, code,
        "{args:?}\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
    r.stdout
}

/// The findings of `-o json` for the same inputs (the reference).
fn json_findings(set: &[&str]) -> Vec<Value> {
    let out = lint(set, "json", &["--fail-on", "never"], 0);
    let v: Value = serde_json::from_str(&out).expect("lint -o json");
    v["findings"].as_array().expect("findings").clone()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

/// `message. Fix: fix`, as SARIF and GitHub write it.
fn full_text(f: &Value) -> String {
    let msg = s(f, "message");
    let stop = if msg.ends_with(['.', '!', '?']) {
        ""
    } else {
        "."
    };
    format!("{msg}{stop} Fix: {}", s(f, "fix"))
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

// ---------------------------------------------------------------- exit codes

#[test]
fn exit_codes_follow_fail_on_in_every_format() {
    for format in ["sarif", "junit", "github"] {
        // shop: one error.
        let failing = lint(SHOP, format, &[], 1);
        assert!(!failing.is_empty(), "{format}: no output");
        let never = lint(SHOP, format, &["--fail-on", "never"], 0);
        assert_eq!(failing, never, "{format}: output depends on --fail-on");
        // Deterministic: a second run prints the same bytes.
        assert_eq!(
            failing,
            lint(SHOP, format, &[], 1),
            "{format}: not deterministic"
        );
        // Fixture: errors and warnings.
        lint(FIXTURE, format, &[], 1);
        lint(FIXTURE, format, &["--fail-on", "warning"], 1);
        lint(FIXTURE, format, &["--fail-on", "never"], 0);
        // Clean: nothing fails, whatever the threshold.
        lint(CLEAN, format, &[], 0);
        lint(CLEAN, format, &["--fail-on", "warning"], 0);
    }
}

#[test]
fn fixture_has_errors_warnings_and_hostile_text() {
    let f = json_findings(FIXTURE);
    let rules: Vec<&str> = f.iter().map(|f| s(f, "rule")).collect();
    for want in ["SU009", "SU011", "SU013", "SU017"] {
        assert!(rules.contains(&want), "{want} missing from {rules:?}");
    }
    assert!(f.iter().any(|f| s(f, "severity") == "error"));
    assert!(f.iter().any(|f| s(f, "severity") == "warning"));
    assert!(
        f.iter().any(|f| {
            let m = s(f, "message");
            ['<', '>', '&', '\'', '"', '%']
                .iter()
                .all(|c| m.contains(*c))
        }),
        "no message carries the hostile characters: {f:#?}"
    );
    assert!(json_findings(CLEAN).is_empty());
}

// --------------------------------------------------------------------- SARIF

fn sarif(set: &[&str]) -> Value {
    let out = lint(set, "sarif", &["--fail-on", "never"], 0);
    serde_json::from_str(&out).expect("SARIF is JSON")
}

/// Structure, and result by result the same content as `-o json`.
fn check_sarif(doc: &Value, findings: &[Value]) {
    assert_eq!(
        doc["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    assert_eq!(doc["version"], "2.1.0");
    let runs = doc["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "stepup");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert!(s(driver, "informationUri").starts_with("https://"));

    // The whole registry, in order, with GitHub's metadata.
    let registry = stepup::lint::rules();
    let rules = driver["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), registry.len());
    for (r, info) in rules.iter().zip(registry) {
        assert_eq!(r["id"], info.id);
        assert!(!s(r, "name").is_empty());
        assert!(!s(&r["shortDescription"], "text").is_empty());
        assert!(!s(&r["fullDescription"], "text").is_empty());
        assert_eq!(r["help"]["text"], info.explain);
        assert!(s(&r["help"], "markdown").contains(info.explain));
        assert_eq!(r["defaultConfiguration"]["level"], info.severity.as_str());
        let props = &r["properties"];
        assert!(
            props["tags"]
                .as_array()
                .expect("tags")
                .contains(&Value::from("security"))
        );
        let sev = s(props, "security-severity");
        let want = match info.severity {
            stepup::lint::Severity::Error => "8.0",
            stepup::lint::Severity::Warning => "5.0",
            stepup::lint::Severity::Note => "2.0",
        };
        assert_eq!(sev, want, "{}", info.id);
    }

    let results = runs[0]["results"].as_array().expect("results");
    assert_eq!(results.len(), findings.len());
    let mut prints = BTreeMap::new();
    for (r, f) in results.iter().zip(findings) {
        assert_eq!(r["ruleId"], f["rule"]);
        let i = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[i]["id"], f["rule"], "ruleIndex points elsewhere");
        assert_eq!(r["level"], f["severity"]);
        assert_eq!(s(&r["message"], "text"), full_text(f));
        let locs = r["locations"].as_array().expect("locations");
        assert_eq!(locs.len(), 1);
        let phys = &locs[0]["physicalLocation"];
        let file = s(f, "file");
        let art = &phys["artifactLocation"];
        if Path::new(file).is_relative() {
            assert_eq!(art["uriBaseId"], "%SRCROOT%");
        }
        assert_eq!(percent_decode(s(art, "uri")), file.trim_start_matches("./"));
        let line = phys["region"]["startLine"].as_u64().expect("startLine");
        assert!(line >= 1);
        assert_eq!(line, f["line"].as_u64().unwrap().max(1));
        let print = s(&r["partialFingerprints"], "stepupFinding/v1");
        assert_eq!(print.len(), 16);
        assert!(print.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(
            prints.insert(print.to_string(), r).is_none(),
            "fingerprint reused: {print}"
        );
        for key in ["namespace", "ingress", "host", "path"] {
            assert_eq!(r["properties"][key], f[key], "properties.{key}");
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("escape");
            out.push(u8::from_str_radix(hex, 16).expect("hex"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn sarif_shop_reports_the_shadowed_admin_path() {
    let doc = sarif(SHOP);
    let findings = json_findings(SHOP);
    check_sarif(&doc, &findings);
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["ruleId"] == "SU006"
        && r["level"] == "error"
        && r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            == "testdata/shop/ingresses/legacy-admin.yaml"
        && r["properties"]["path"] == "/admin/reports"));
}

#[test]
fn sarif_fixture_matches_json_findings() {
    let doc = sarif(FIXTURE);
    let findings = json_findings(FIXTURE);
    check_sarif(&doc, &findings);
    let levels: Vec<&str> = doc["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(r, "level"))
        .collect();
    assert!(
        levels.contains(&"error") && levels.contains(&"warning"),
        "{levels:?}"
    );
}

#[test]
fn sarif_clean_run_has_rules_and_no_results() {
    let doc = sarif(CLEAN);
    check_sarif(&doc, &[]);
    assert_eq!(doc["runs"][0]["results"], Value::Array(vec![]));
}

// ------------------------------------------------------- SARIF: validators

const SCHEMA: &str = "testdata/render/sarif-schema-2.1.0.json";

/// Validate with Python's jsonschema against the vendored schema. Returns
/// the error lines (empty when valid); panics when the validator itself is
/// missing or broken.
fn schema_errors(doc: &str) -> Vec<String> {
    const SCRIPT: &str = r#"
import json, sys
try:
    import jsonschema
except ImportError:
    sys.stderr.write("the Python module jsonschema is missing: run ./test.sh or pip install 'jsonschema>=4.18'\n")
    sys.exit(3)
schema = json.load(open(sys.argv[1], encoding="utf-8"))
cls = jsonschema.validators.validator_for(schema, default=None)
if cls is None:
    sys.stderr.write("this jsonschema does not know the schema's dialect %s\n" % schema.get("$schema"))
    sys.exit(3)
cls.check_schema(schema)
doc = json.load(open(sys.argv[2], encoding="utf-8"))
errors = sorted("/" + "/".join(str(p) for p in e.absolute_path) + ": " + e.message
                for e in cls(schema).iter_errors(doc))
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
"#;
    let dir = tempdir();
    let file = dir.path().join("doc.sarif");
    std::fs::write(&file, doc).unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(root().join(SCHEMA))
        .arg(&file)
        .output()
        .expect("python3 is required for the SARIF schema test (./test.sh checks it)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    match out.status.code() {
        Some(0) => Vec::new(),
        Some(1) => {
            let errors: Vec<String> = stdout.lines().map(str::to_string).collect();
            assert!(!errors.is_empty(), "jsonschema failed without errors");
            errors
        }
        _ => panic!(
            "SARIF schema validator unusable ({}):\n{}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The installed SARIF Multitool binary: `$SARIF_MULTITOOL`, else the one
/// `npm install -g @microsoft/sarif-multitool-linux` put under `npm root -g`.
/// (Its `bin.js` wrapper runs the binary through a shell, which would split
/// `Sarif;Gh`, so the binary is called directly.)
fn multitool() -> PathBuf {
    if let Some(p) = std::env::var_os("SARIF_MULTITOOL") {
        return p.into();
    }
    let out = Command::new("npm")
        .args(["root", "-g"])
        .output()
        .expect("npm is required to find the SARIF Multitool (./test.sh installs it)");
    let npm_root = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let p = Path::new(&npm_root).join("@microsoft/sarif-multitool-linux/Sarif.Multitool");
    assert!(
        p.is_file(),
        "SARIF Multitool not found at {}: run ./test.sh as root, or \
         `npm install -g @microsoft/sarif-multitool-linux@5.7.0`, or set SARIF_MULTITOOL",
        p.display()
    );
    p
}

/// Validate with the SARIF Multitool (SARIF and GitHub rule kinds). Returns
/// its error and warning results as `RULE: arguments` lines.
fn multitool_errors(doc: &str) -> Vec<String> {
    let dir = tempdir();
    let input = dir.path().join("input.sarif");
    let output = dir.path().join("validation.sarif");
    std::fs::write(&input, doc).unwrap();
    let out = Command::new(multitool())
        .args(["validate", "--rule-kind", "Sarif;Gh", "--output"])
        .arg(&output)
        .arg(&input)
        // No ICU on a minimal machine: .NET's invariant mode needs none.
        .env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")
        .output()
        .expect("run the SARIF Multitool");
    let console = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "Multitool failed ({}):\n{console}",
        out.status
    );
    let log: Value = serde_json::from_str(
        &std::fs::read_to_string(&output)
            .unwrap_or_else(|e| panic!("no Multitool log ({e}):\n{console}")),
    )
    .expect("Multitool log is JSON");
    let run = &log["runs"][0];
    assert_eq!(
        run["invocations"][0]["executionSuccessful"], true,
        "Multitool did not run cleanly:\n{console}"
    );
    run["results"]
        .as_array()
        .expect("Multitool results")
        .iter()
        // SARIF's default level is warning.
        .filter(|r| {
            matches!(
                r["level"].as_str().unwrap_or("warning"),
                "error" | "warning"
            )
        })
        .map(|r| format!("{}: {}", s(r, "ruleId"), r["message"]["arguments"]))
        .collect()
}

#[test]
fn sarif_validates_against_the_schema_and_the_multitool() {
    for set in [SHOP, FIXTURE, CLEAN] {
        let out = lint(set, "sarif", &["--fail-on", "never"], 0);
        let errors = schema_errors(&out);
        assert!(
            errors.is_empty(),
            "{set:?}: schema errors:\n{}",
            errors.join("\n")
        );
        let errors = multitool_errors(&out);
        assert!(
            errors.is_empty(),
            "{set:?}: Multitool errors:\n{}",
            errors.join("\n")
        );
    }
}

/// The validators are not rubber stamps: each broken variant of a valid
/// document is rejected.
#[test]
fn validators_reject_broken_sarif() {
    let good = sarif(FIXTURE);
    assert!(schema_errors(&good.to_string()).is_empty());
    type Break = fn(&mut Value);
    let broken: &[(&str, Break, bool)] = &[
        // (what, how, the Multitool catches it too)
        (
            "no version",
            |d| {
                d.as_object_mut().unwrap().remove("version");
            },
            true,
        ),
        (
            "unknown result property",
            |d| {
                d["runs"][0]["results"][0]["bogus"] = 1.into();
            },
            true,
        ),
        (
            "ruleIndex out of range",
            |d| {
                d["runs"][0]["results"][0]["ruleIndex"] = 999.into();
            },
            true,
        ),
        (
            "message without text or id",
            |d| {
                d["runs"][0]["results"][0]["message"] = serde_json::json!({});
            },
            true,
        ),
        (
            "version 2.0.0",
            |d| {
                d["version"] = "2.0.0".into();
            },
            true,
        ),
        // The Multitool's schema pass lets these two through; the schema
        // check does not.
        (
            "level outside the enum",
            |d| {
                d["runs"][0]["results"][0]["level"] = "fatal".into();
            },
            false,
        ),
        (
            "startLine 0",
            |d| {
                d["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
                    0.into();
            },
            false,
        ),
    ];
    for (what, how, multitool_too) in broken {
        let mut doc = good.clone();
        how(&mut doc);
        let text = serde_json::to_string_pretty(&doc).unwrap();
        if *what != "ruleIndex out of range" {
            let errors = schema_errors(&text);
            assert!(!errors.is_empty(), "schema accepted a document with {what}");
        }
        if *multitool_too {
            let errors = multitool_errors(&text);
            assert!(
                !errors.is_empty(),
                "Multitool accepted a document with {what}"
            );
        }
    }
}

// --------------------------------------------------------------------- JUnit

/// A parsed XML element.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn attr(&self, key: &str) -> &str {
        self.attrs
            .get(key)
            .unwrap_or_else(|| panic!("<{}> has no {key}", self.name))
    }
    fn all(&self, name: &str) -> Vec<&Element> {
        self.children.iter().filter(|c| c.name == name).collect()
    }
}

/// A small, strict XML 1.0 well-formedness checker and parser for what a
/// JUnit report may contain: an XML declaration, comments, elements,
/// attributes, character data with the five predefined entities and
/// character references. Everything else (DOCTYPE, CDATA, processing
/// instructions, stray `<` or `&`, characters XML cannot carry, mismatched
/// or duplicate names) is an error.
fn parse_xml(doc: &str) -> Result<Element, String> {
    let mut p = Parser { s: doc, i: 0 };
    if p.rest().starts_with("<?xml") {
        let end = p.rest().find("?>").ok_or("unterminated XML declaration")?;
        let decl = &p.rest()[..end];
        if !decl.contains(r#"version="1.0""#) || !decl.contains(r#"encoding="UTF-8""#) {
            return Err(format!("odd XML declaration {decl:?}"));
        }
        p.i += end + 2;
    }
    p.misc()?;
    let root = p.element()?;
    p.misc()?;
    if p.i != doc.len() {
        return Err(format!("content after the root element: {:?}", p.rest()));
    }
    Ok(root)
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn name_char(c: char, first: bool) -> bool {
    c.is_alphabetic()
        || c == '_'
        || c == ':'
        || (!first && (c.is_alphanumeric() || c == '-' || c == '.'))
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.i..]
    }
    fn err<T>(&self, what: &str) -> Result<T, String> {
        let line = self.s[..self.i].matches('\n').count() + 1;
        Err(format!(
            "line {line}: {what} at {:?}",
            &self.rest()[..self.rest().len().min(40)]
        ))
    }
    fn ws(&mut self) {
        let n = self.rest().len()
            - self
                .rest()
                .trim_start_matches([' ', '\t', '\n', '\r'])
                .len();
        self.i += n;
    }
    fn misc(&mut self) -> Result<(), String> {
        loop {
            self.ws();
            if self.rest().starts_with("<!--") {
                self.comment()?;
            } else {
                return Ok(());
            }
        }
    }
    fn comment(&mut self) -> Result<(), String> {
        let end = self.rest()[4..].find("-->").ok_or("unterminated comment")?;
        let body = &self.rest()[4..4 + end];
        if body.contains("--") || body.ends_with('-') || !body.chars().all(xml_char) {
            return self.err("bad comment");
        }
        self.i += 4 + end + 3;
        Ok(())
    }
    fn name(&mut self) -> Result<String, String> {
        let mut n = String::new();
        for c in self.rest().chars() {
            if name_char(c, n.is_empty()) {
                n.push(c);
            } else {
                break;
            }
        }
        if n.is_empty() {
            return self.err("expected a name");
        }
        self.i += n.len();
        Ok(n)
    }
    fn expect(&mut self, lit: &str) -> Result<(), String> {
        if self.rest().starts_with(lit) {
            self.i += lit.len();
            Ok(())
        } else {
            self.err(&format!("expected {lit:?}"))
        }
    }
    /// Character data up to `stop`, with references resolved.
    fn chars(&mut self, stop: &[char]) -> Result<String, String> {
        let mut out = String::new();
        while let Some(c) = self.rest().chars().next() {
            if stop.contains(&c) {
                break;
            }
            match c {
                '&' => {
                    let end = self.rest().find(';').ok_or("unterminated reference")?;
                    let r = &self.rest()[1..end];
                    let ch = match r {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => {
                            let code = if let Some(h) = r.strip_prefix("#x") {
                                u32::from_str_radix(h, 16).ok()
                            } else if let Some(d) = r.strip_prefix('#') {
                                d.parse().ok()
                            } else {
                                None
                            };
                            match code.and_then(char::from_u32).filter(|c| xml_char(*c)) {
                                Some(c) => c,
                                None => return self.err("bad reference"),
                            }
                        }
                    };
                    out.push(ch);
                    self.i += end + 1;
                }
                '<' => return self.err("'<' in character data"),
                c if !xml_char(c) => {
                    return self.err(&format!("character {c:?} not allowed in XML"));
                }
                c => {
                    if self.rest().starts_with("]]>") {
                        return self.err("']]>' in character data");
                    }
                    out.push(c);
                    self.i += c.len_utf8();
                }
            }
        }
        Ok(out)
    }
    fn element(&mut self) -> Result<Element, String> {
        self.expect("<")?;
        let name = self.name()?;
        let mut attrs = BTreeMap::new();
        loop {
            let before = self.i;
            self.ws();
            if self.rest().starts_with("/>") {
                self.i += 2;
                return Ok(Element {
                    name,
                    attrs,
                    children: Vec::new(),
                    text: String::new(),
                });
            }
            if self.rest().starts_with('>') {
                self.i += 1;
                break;
            }
            if self.i == before {
                return self.err("expected whitespace before an attribute");
            }
            let key = self.name()?;
            self.ws();
            self.expect("=")?;
            self.ws();
            let quote = match self.rest().chars().next() {
                Some(q @ ('"' | '\'')) => q,
                _ => return self.err("expected a quoted value"),
            };
            self.i += 1;
            let raw_start = self.i;
            let value = self.chars(&[quote])?;
            // A parser normalises literal tabs and newlines in attribute
            // values to spaces, so a writer must use character references.
            if self.s[raw_start..self.i].contains(['\t', '\n', '\r']) {
                return self.err("literal tab/newline in an attribute (normalised away)");
            }
            self.expect(&quote.to_string())?;
            if attrs.insert(key.clone(), value).is_some() {
                return self.err(&format!("duplicate attribute {key}"));
            }
        }
        let mut children = Vec::new();
        let mut text = String::new();
        loop {
            text.push_str(&self.chars(&['<'])?);
            if self.rest().is_empty() {
                return self.err(&format!("unclosed <{name}>"));
            }
            if self.rest().starts_with("</") {
                self.i += 2;
                let close = self.name()?;
                if close != name {
                    return self.err(&format!("</{close}> closes <{name}>"));
                }
                self.ws();
                self.expect(">")?;
                return Ok(Element {
                    name,
                    attrs,
                    children,
                    text,
                });
            }
            if self.rest().starts_with("<!--") {
                self.comment()?;
                continue;
            }
            if self.rest().starts_with("<!") || self.rest().starts_with("<?") {
                return self.err("unexpected markup declaration");
            }
            children.push(self.element()?);
        }
    }
}

#[test]
fn xml_checker_rejects_what_it_must() {
    assert!(
        parse_xml(r#"<?xml version="1.0" encoding="UTF-8"?><a x="1&amp;&#10;">t&lt;<b/></a>"#)
            .is_ok()
    );
    for bad in [
        "<a>",
        "<a></b>",
        "<a x=1/>",
        r#"<a x="1" x="2"/>"#,
        "<a>&foo;</a>",
        "<a>x & y</a>",
        "<a>x < y</a>",
        r#"<a x="<"/>"#,
        "<a>\u{1}</a>",
        "<a>&#1;</a>",
        "<a>]]></a>",
        "<a/><b/>",
        "<a x=\"1\ny\"/>",
        "<a>\u{FFFE}</a>",
    ] {
        assert!(parse_xml(bad).is_err(), "accepted {bad:?}");
    }
}

/// The JUnit document: well-formed by our checker and by Python's expat.
fn junit(set: &[&str]) -> Element {
    let out = lint(set, "junit", &["--fail-on", "never"], 0);
    let dir = tempdir();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, &out).unwrap();
    let expat = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])",
        ])
        .arg(&file)
        .output()
        .expect("python3");
    assert!(
        expat.status.success(),
        "expat rejects the JUnit XML: {}\n{out}",
        String::from_utf8_lossy(&expat.stderr)
    );
    parse_xml(&out).unwrap_or_else(|e| panic!("JUnit XML is not well-formed: {e}\n{out}"))
}

/// `testsuites > testsuite name="stepup lint"`, its counts, and one test
/// case per finding with the finding's own text after unescaping.
fn check_junit(root: &Element, findings: &[Value]) {
    assert_eq!(root.name, "testsuites");
    let suites = root.all("testsuite");
    assert_eq!(suites.len(), 1);
    let suite = suites[0];
    assert_eq!(suite.attr("name"), "stepup lint");
    let failing: Vec<&Value> = findings
        .iter()
        .filter(|f| matches!(s(f, "severity"), "error" | "warning"))
        .collect();
    let cases = suite.all("testcase");
    assert_eq!(cases.len(), findings.len().max(1));
    for e in [root, suite] {
        assert_eq!(e.attr("tests"), cases.len().to_string());
        assert_eq!(e.attr("failures"), failing.len().to_string());
        assert_eq!(e.attr("errors"), "0");
        assert_eq!(e.attr("skipped"), "0");
    }
    if findings.is_empty() {
        assert!(cases[0].children.is_empty(), "the clean case must pass");
        return;
    }
    for (case, f) in cases.iter().zip(findings) {
        assert_eq!(case.attr("classname"), s(f, "file"));
        let mut name = format!("{} {}/{}", s(f, "rule"), s(f, "namespace"), s(f, "ingress"));
        for key in ["host", "path"] {
            if !s(f, key).is_empty() {
                name = format!("{name} {}", s(f, key));
            }
        }
        assert_eq!(case.attr("name"), name);
        let failures = case.all("failure");
        if matches!(s(f, "severity"), "error" | "warning") {
            assert_eq!(failures.len(), 1, "{name}");
            assert_eq!(failures[0].attr("type"), s(f, "rule"));
            assert_eq!(failures[0].attr("message"), s(f, "message"));
            assert!(failures[0].text.contains(s(f, "message")));
            assert!(failures[0].text.contains(s(f, "fix")));
        } else {
            assert!(failures.is_empty(), "{name}");
        }
    }
}

#[test]
fn junit_shop() {
    let root = junit(SHOP);
    check_junit(&root, &json_findings(SHOP));
}

#[test]
fn junit_fixture_round_trips_hostile_messages() {
    let root = junit(FIXTURE);
    let findings = json_findings(FIXTURE);
    check_junit(&root, &findings);
    // The message with < > & ' " survived as an attribute value.
    let hostile = findings
        .iter()
        .map(|f| s(f, "message"))
        .find(|m| m.contains('<') && m.contains('"') && m.contains('\''))
        .expect("hostile message");
    let suite = &root.all("testsuite")[0];
    assert!(suite.all("testcase").iter().any(|c| {
        c.all("failure")
            .iter()
            .any(|f| f.attr("message") == hostile)
    }));
}

#[test]
fn junit_clean_has_one_passing_case() {
    let root = junit(CLEAN);
    check_junit(&root, &[]);
}

// -------------------------------------------------------------------- GitHub

/// One parsed `::level file=F,line=L,title=T::message` line, unescaped.
#[derive(Debug)]
struct Annotation {
    level: String,
    file: String,
    line: u64,
    title: String,
    message: String,
}

fn unescape(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

fn parse_annotation(line: &str) -> Annotation {
    let rest = line
        .strip_prefix("::")
        .unwrap_or_else(|| panic!("not a command: {line:?}"));
    let (head, message) = rest.split_once("::").expect("`::` before the message");
    let (level, props) = head.split_once(' ').expect("properties");
    assert!(matches!(level, "error" | "warning" | "notice"), "{level}");
    // Property values may not contain raw `,` `:` `%` `\r` `\n`; the message
    // no raw `%` `\r` `\n`.
    let mut map = BTreeMap::new();
    for kv in props.split(',') {
        let (k, v) = kv.split_once('=').expect("key=value");
        assert!(!v.contains(':'), "raw ':' in {k}: {line}");
        map.insert(k.to_string(), v.to_string());
    }
    assert_eq!(
        map.keys().map(String::as_str).collect::<Vec<_>>(),
        ["file", "line", "title"],
        "{line}"
    );
    for v in map.values().chain([&message.to_string()]) {
        for (i, _) in v.match_indices('%') {
            let esc = &v[i..(i + 3).min(v.len())];
            assert!(
                ["%25", "%0D", "%0A", "%3A", "%2C"].contains(&esc),
                "bad escape {esc} in {line}"
            );
        }
    }
    Annotation {
        level: level.to_string(),
        file: unescape(&map["file"]),
        line: map["line"].parse().expect("line number"),
        title: unescape(&map["title"]),
        message: unescape(message),
    }
}

fn check_github(out: &str, findings: &[Value]) {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), findings.len(), "{out}");
    for (line, f) in lines.iter().zip(findings) {
        let a = parse_annotation(line);
        let want_level = match s(f, "severity") {
            "error" => "error",
            "warning" => "warning",
            _ => "notice",
        };
        assert_eq!(a.level, want_level);
        assert_eq!(a.file, s(f, "file"));
        assert_eq!(a.line, f["line"].as_u64().unwrap().max(1));
        let rule = stepup::lint::rule(s(f, "rule")).expect("registered rule");
        assert_eq!(a.title, format!("{} {}", rule.id, rule.name));
        assert_eq!(a.message, full_text(f));
    }
}

#[test]
fn github_shop() {
    let out = lint(SHOP, "github", &["--fail-on", "never"], 0);
    check_github(&out, &json_findings(SHOP));
    assert!(out.starts_with(
        "::error file=testdata/shop/ingresses/legacy-admin.yaml,line=26,title=SU006 shadowed::"
    ));
}

#[test]
fn github_fixture_escapes_percent() {
    let out = lint(FIXTURE, "github", &["--fail-on", "never"], 0);
    check_github(&out, &json_findings(FIXTURE));
    assert!(out.contains("50%25"), "{out}");
    assert!(out.contains("::warning file=testdata/render/ingresses.yaml,line="));
}

#[test]
fn github_clean_prints_nothing() {
    assert_eq!(lint(CLEAN, "github", &[], 0), "");
}

// -------------------------------------------- hostile file names, all formats

/// A manifest whose file name carries `, : % & < > ' "` and a space, given
/// as a relative path: SARIF percent-encodes it (and stays valid), JUnit
/// escapes it, GitHub escapes `,` `:` `%` in the property.
#[test]
fn hostile_file_names() {
    let dir = tempdir();
    let sub = dir.path().join("odd dir");
    std::fs::create_dir(&sub).unwrap();
    let name = "a,b:c%d&e<f>g'h\"i.yaml";
    std::fs::copy(
        root().join("testdata/render/ingresses.yaml"),
        sub.join(name),
    )
    .unwrap();
    std::fs::copy(
        root().join("testdata/render/policy.yaml"),
        dir.path().join("policy.yaml"),
    )
    .unwrap();
    let rel = format!("odd dir/{name}");
    let run = |format: &str| {
        let r = stepup_in(
            dir.path(),
            &[
                "lint",
                "-o",
                format,
                "--fail-on",
                "never",
                "-p",
                "policy.yaml",
                &rel,
            ],
        );
        assert_eq!(r.code, 0, "{format}: {}", r.stderr);
        r.stdout
    };
    let findings: Vec<Value> = serde_json::from_str::<Value>(&run("json")).unwrap()["findings"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!findings.is_empty());
    assert!(findings.iter().all(|f| s(f, "file") == rel));

    let sarif_out = run("sarif");
    let doc: Value = serde_json::from_str(&sarif_out).unwrap();
    check_sarif(&doc, &findings);
    let uri = s(
        &doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"],
        "uri",
    );
    assert_eq!(uri, "odd%20dir/a%2Cb%3Ac%25d%26e%3Cf%3Eg%27h%22i.yaml");
    let errors = schema_errors(&sarif_out);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let errors = multitool_errors(&sarif_out);
    assert!(errors.is_empty(), "{}", errors.join("\n"));

    let out = run("junit");
    let root = parse_xml(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    check_junit(&root, &findings);

    let out = run("github");
    check_github(&out, &findings);
    assert!(
        out.contains("file=odd dir/a%2Cb%3Ac%25d&e<f>g'h\"i.yaml,line="),
        "{out}"
    );
}
