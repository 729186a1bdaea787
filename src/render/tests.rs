//! The streamed JSON and SARIF renderers write what serialising a whole
//! `serde_json::Value` document wrote before they streamed (byte for byte:
//! CI diffs and code scanning read these).

use serde_json::{Value, json};

use super::*;

fn finding(i: usize, message: &str) -> Finding {
    Finding {
        rule: if i % 2 == 0 { "SU001" } else { "SU013" },
        severity: if i % 2 == 0 {
            Severity::Error
        } else {
            Severity::Warning
        },
        message: message.into(),
        file: format!("dir {}/a\"b.yaml", i % 3),
        line: u32::try_from(i).unwrap_or(u32::MAX),
        namespace: "team-a".into(),
        ingress: format!("app-{i}"),
        host: if i % 3 == 0 {
            String::new()
        } else {
            "ünï.example".into()
        },
        path: "/admin".into(),
        fix: "Add `auth-url`\n\t(\\ \u{1} <&>)".into(),
    }
}

fn report(n: usize) -> Report {
    Report {
        findings: (0..n)
            .map(|i| finding(i, &format!("\"quoted\" {i} \u{7f} é")))
            .collect(),
        suppressed: 2,
        ingresses: 7,
        grant_uses: Vec::new(),
    }
}

/// The JSON document as it was built before streaming: a `json!` tree.
fn json_tree(r: &Report) -> Value {
    let findings: Vec<_> = r
        .findings
        .iter()
        .map(|f| {
            json!({
                "rule": f.rule, "severity": f.severity.as_str(), "message": f.message, "file": f.file,
                "line": f.line, "namespace": f.namespace, "ingress": f.ingress, "host": f.host,
                "path": f.path, "fix": f.fix,
            })
        })
        .collect();
    json!({
        "findings": findings,
        "summary": {"errors": r.count(Severity::Error), "warnings": r.count(Severity::Warning), "notes": r.count(Severity::Note), "ingresses": r.ingresses, "suppressed": r.suppressed},
    })
}

fn rendered(f: fn(&mut Vec<u8>, &Report) -> io::Result<()>, r: &Report) -> String {
    let mut out = Vec::new();
    f(&mut out, r).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn regression_streamed_json_is_the_bytes_of_the_value_tree() {
    for n in [0, 1, 5] {
        let r = report(n);
        let mut want = serde_json::to_string_pretty(&json_tree(&r)).unwrap();
        want.push('\n');
        assert_eq!(rendered(json, &r), want, "{n} findings");
        assert_eq!(json_value(&r), json_tree(&r));
    }
}

#[test]
fn regression_streamed_sarif_is_pretty_json_in_document_order() {
    // Re-serialising the parsed output through an order-preserving Value
    // gives the same bytes only if the stream wrote serde_json's pretty
    // format; the key order of a result is the one it always had.
    for n in [0, 1, 5] {
        let text = rendered(sarif, &report(n));
        let v: Value = serde_json::from_str(&text).unwrap();
        let mut again = serde_json::to_string_pretty(&v).unwrap();
        again.push('\n');
        assert_eq!(text, again, "{n} findings");
        let results = v["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), n);
        if let Some(first) = results.first() {
            let keys: Vec<&str> = first
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.as_str())
                .collect();
            assert_eq!(
                keys,
                [
                    "ruleId",
                    "ruleIndex",
                    "level",
                    "message",
                    "locations",
                    "partialFingerprints",
                    "properties"
                ]
            );
        }
        let top: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(top, ["$schema", "version", "runs"]);
    }
}

#[test]
fn regression_sarif_fingerprints_are_linear_in_findings() {
    // A scan of every finding per finding took minutes at this size.
    let n = 200_000;
    let mut findings: Vec<Finding> = (0..n).map(|i| finding(i, "m")).collect();
    // Two twins (same rule, Ingress, host and path; other messages).
    findings.push(finding(7, "twin a"));
    findings.push(finding(7, "twin b"));
    let start = std::time::Instant::now();
    let prints = sarif::fingerprints(&findings);
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(prints.len(), n + 2);
    // The three findings of Ingress app-7 hash their messages too, so all
    // differ; a finding without a twin keeps its line-independent identity.
    assert_ne!(prints[7], prints[n]);
    assert_ne!(prints[n], prints[n + 1]);
    assert_eq!(prints[8], sarif::fingerprints(&findings[8..9])[0]);
}
