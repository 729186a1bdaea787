//! Findings about the input itself, from what the loader reported
//! ([`crate::ingress::Problem`]): SU023 (a file or object that cannot be
//! read, or no Ingress at all), SU024 (a name defined again), SU026 (a
//! removed API version, converted), SU027 (a GitOps variable without a
//! value). Findings that depend on such a variable's stand-in say so.
//!
//! These findings are not subject to `stepup.dev/ignore`: the object they
//! are about was not read, or not read as written.

use super::{Finding, Report, Severity};
use crate::ingress::{Field, Placeholder, Problem, ProblemKind};

/// The rule of a loader problem.
fn rule_of(kind: &ProblemKind) -> &'static str {
    match kind {
        ProblemKind::Unreadable => "SU023",
        ProblemKind::Duplicate { .. } => "SU024",
        ProblemKind::RemovedApi => "SU026",
        ProblemKind::Unresolved { .. } => "SU027",
    }
}

const UNREADABLE_FIX: &str = "Fix the file or object; everything else was linted without it, and \
stepup lint exits 2 while any input cannot be read.";

/// One finding per problem; `policy` fills the `-p POLICY` of the hints.
pub fn findings(problems: &[Problem], policy: &str) -> Vec<Finding> {
    problems
        .iter()
        .map(|p| {
            let rule = rule_of(&p.kind);
            let fix = if p.hint.is_empty() {
                UNREADABLE_FIX.to_string()
            } else {
                p.hint.replace("-p POLICY", &format!("-p {policy}"))
            };
            Finding {
                rule,
                severity: super::rule(rule).map_or(Severity::Error, |r| r.severity),
                message: match p.column {
                    Some(c) => format!("{} (column {c})", p.message),
                    None => p.message.clone(),
                },
                file: p.origin.file.to_string(),
                line: p.origin.line.max(1),
                namespace: p.namespace.clone(),
                ingress: p.name.clone(),
                host: String::new(),
                path: String::new(),
                fix,
            }
        })
        .collect()
}

/// The SU023 finding for a run that found no Ingress at all in `inputs`.
pub fn no_ingress(inputs: &[String], summary: &str) -> Finding {
    Finding {
        rule: "SU023",
        severity: Severity::Error,
        message: format!(
            "no Ingress found in {}: {summary}; nothing was linted",
            inputs.join(", ")
        ),
        file: inputs.first().cloned().unwrap_or_default(),
        line: 1,
        namespace: String::new(),
        ingress: String::new(),
        host: String::new(),
        path: String::new(),
        fix:
            "Point stepup at the manifests (render Helm charts and kustomize trees first), or pass \
--allow-empty when an input without Ingresses is expected."
                .to_string(),
    }
}

/// Append to each finding whose host or path is a variable's stand-in
/// which variables it depends on and the text as written.
pub fn mark_dependent(findings: &mut [Finding], placeholders: &[Placeholder]) {
    if placeholders.is_empty() {
        return;
    }
    for f in findings.iter_mut().filter(|f| f.rule != "SU027") {
        let hit: Vec<&Placeholder> = placeholders
            .iter()
            .filter(|p| match p.field {
                Field::Host => f.host == p.stand_in,
                Field::Path => {
                    f.path == p.stand_in
                        || f.path
                            .strip_prefix(p.stand_in.as_str())
                            .is_some_and(|rest| rest.starts_with('/'))
                }
            })
            .collect();
        let Some(first) = hit.first() else {
            continue;
        };
        let mut exprs: Vec<&str> = hit
            .iter()
            .flat_map(|p| p.expressions.iter().map(String::as_str))
            .collect();
        exprs.sort_unstable();
        exprs.dedup();
        let what = match first.field {
            Field::Host => "host",
            Field::Path => "path",
        };
        f.message.push_str(&format!(
            " (depends on {}: {what} written {})",
            exprs.join(", "),
            first.original
        ));
    }
}

/// Add the findings and counts of `other` to `into` (one report for
/// several clusters, `--each-file`).
pub fn merge(into: &mut Report, other: Report) {
    if into.findings.is_empty() {
        into.findings = other.findings;
    } else {
        into.findings.extend(other.findings);
    }
    into.suppressed += other.suppressed;
    into.ingresses += other.ingresses;
    into.grant_uses.extend(other.grant_uses);
}

/// Sort findings as [`super::lint`] does (file, line, rule, host, path).
pub fn sort(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.rule, &a.host, &a.path)
            .cmp(&(&b.file, b.line, b.rule, &b.host, &b.path))
    });
    findings.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(host: &str, path: &str) -> Finding {
        Finding {
            rule: "SU001",
            severity: Severity::Error,
            message: "open".into(),
            file: "f".into(),
            line: 1,
            namespace: "n".into(),
            ingress: "i".into(),
            host: host.into(),
            path: path.into(),
            fix: "x".into(),
        }
    }

    #[test]
    fn findings_on_stand_ins_name_the_variable() {
        let ph = [
            Placeholder {
                field: Field::Host,
                stand_in: "app.var-domain.invalid".into(),
                original: "app.${domain}".into(),
                expressions: vec!["${domain}".into()],
            },
            Placeholder {
                field: Field::Path,
                stand_in: "/var-prefix".into(),
                original: "/${prefix}".into(),
                expressions: vec!["${prefix}".into()],
            },
        ];
        let mut fs = vec![
            finding("app.var-domain.invalid", "/admin"),
            finding("other.example.com", "/var-prefix/admin"),
            finding("other.example.com", "/var-prefixes"),
        ];
        mark_dependent(&mut fs, &ph);
        assert!(
            fs[0]
                .message
                .ends_with("(depends on ${domain}: host written app.${domain})"),
            "{}",
            fs[0].message
        );
        assert!(fs[1].message.contains("depends on ${prefix}"));
        assert_eq!(fs[2].message, "open");
    }
}
