//! Audit output: the human route table, JSON (lint's shape plus the route
//! map) and `wgpolicyk8s.io/v1alpha2` PolicyReports. SARIF is lint's
//! renderer as is. Nothing here reads the clock or the environment; colour
//! follows `colored`'s global switch, which the CLI sets.

use std::collections::BTreeMap;
use std::io::{self, Write};

use colored::{ColoredString, Colorize};
use serde_json::{Value, json};

use super::{Audit, Status};
use crate::lint::Severity;

fn status_cell(s: Status, width: usize, text: &str) -> ColoredString {
    let padded = format!("{text:<width$}");
    match s {
        Status::Error => padded.red().bold(),
        Status::Warning => padded.yellow().bold(),
        Status::Ok => padded.green(),
        Status::Public => padded.dimmed(),
    }
}

fn status_text(r: &super::Route) -> String {
    if r.rules.is_empty() {
        r.status.as_str().to_string()
    } else {
        format!("{} {}", r.status.as_str(), r.rules.join(","))
    }
}

/// A table per host (path, Ingress, level required, level enforced,
/// status), then lint's findings and the summary. `quiet` keeps only the
/// hosts with an error and the error findings.
pub fn human(out: &mut impl Write, a: &Audit, quiet: bool) -> io::Result<()> {
    const HEAD: [&str; 6] = ["PATH", "TYPE", "INGRESS", "REQUIRED", "ENFORCED", "STATUS"];
    for h in &a.hosts {
        if quiet && !h.routes.iter().any(|r| r.status == Status::Error) {
            continue;
        }
        let rows: Vec<[String; 6]> = h
            .routes
            .iter()
            .map(|r| {
                [
                    r.path.clone(),
                    r.path_type.to_string(),
                    r.ingress.clone(),
                    r.required.clone(),
                    shorten(&r.enforced, 48),
                    status_text(r),
                ]
            })
            .collect();
        let mut w = HEAD.map(str::len);
        for row in &rows {
            for (i, c) in row.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        writeln!(out, "{}", h.name.bold())?;
        writeln!(
            out,
            "  {}",
            format!(
                "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {:<w4$}  {}",
                HEAD[0],
                HEAD[1],
                HEAD[2],
                HEAD[3],
                HEAD[4],
                HEAD[5],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3],
                w4 = w[4],
            )
            .dimmed()
        )?;
        for (r, row) in h.routes.iter().zip(&rows) {
            writeln!(
                out,
                "  {:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {:<w4$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                status_cell(r.status, 0, &row[5]),
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3],
                w4 = w[4],
            )?;
        }
        writeln!(out)?;
    }
    crate::render::human(out, &a.report, quiet)
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// lint's JSON (SPEC §3: `findings`, `summary`) plus `hosts`, the route map.
pub fn json_value(a: &Audit) -> Value {
    let mut v = crate::render::json_value(&a.report);
    let hosts: Vec<Value> = a
        .hosts
        .iter()
        .map(|h| {
            json!({
                "host": h.name,
                "routes": h.routes.iter().map(|r| json!({
                    "path": r.path, "pathType": r.path_type, "ingress": r.ingress,
                    "backend": r.backend, "required": r.required, "enforced": r.enforced,
                    "status": r.status.as_str(), "rules": r.rules,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    if let Some(m) = v.as_object_mut() {
        m.insert("hosts".into(), Value::from(hosts));
        if let Some(s) = m.get_mut("summary").and_then(Value::as_object_mut) {
            s.insert("hosts".into(), json!(a.hosts.len()));
            s.insert(
                "routes".into(),
                json!(a.hosts.iter().map(|h| h.routes.len()).sum::<usize>()),
            );
            s.insert("exposedRoutes".into(), json!(a.routes_with(Status::Error)));
        }
    }
    v
}

/// Write [`json_value`].
pub fn json(out: &mut impl Write, a: &Audit) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &json_value(a)).map_err(io::Error::from)?;
    writeln!(out)
}

/// One `wgpolicyk8s.io/v1alpha2` PolicyReport per namespace (YAML
/// documents, namespaces sorted): a `fail`/`warn` result per finding and a
/// `pass` result per Ingress without findings. `ingresses` lists every
/// audited Ingress as (namespace, name).
pub fn policy_reports(
    out: &mut impl Write,
    a: &Audit,
    ingresses: &[(String, String)],
) -> io::Result<()> {
    let mut by_ns: BTreeMap<&str, (Vec<Value>, [usize; 3])> = BTreeMap::new();
    for (ns, _) in ingresses {
        by_ns.entry(ns).or_default();
    }
    let resource = |ns: &str, name: &str| json!([{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "namespace": ns, "name": name}]);
    for f in &a.report.findings {
        let e = by_ns.entry(f.namespace.as_str()).or_default();
        let (result, severity, slot) = match f.severity {
            Severity::Error => ("fail", "high", 1),
            Severity::Warning => ("warn", "medium", 2),
            Severity::Note => ("warn", "info", 2),
        };
        e.1[slot] += 1;
        e.0.push(json!({
            "policy": "stepup",
            "rule": f.rule,
            "category": "auth coverage",
            "result": result,
            "severity": severity,
            "message": f.message,
            "source": "stepup",
            "scored": true,
            "resources": resource(&f.namespace, &f.ingress),
            "properties": {"host": f.host, "path": f.path, "fix": f.fix},
        }));
    }
    let with_findings: std::collections::HashSet<(&str, &str)> = a
        .report
        .findings
        .iter()
        .map(|f| (f.namespace.as_str(), f.ingress.as_str()))
        .collect();
    for (ns, name) in ingresses {
        if with_findings.contains(&(ns.as_str(), name.as_str())) {
            continue;
        }
        let e = by_ns.entry(ns).or_default();
        e.1[0] += 1;
        e.0.push(json!({
            "policy": "stepup",
            "rule": "auth-coverage",
            "category": "auth coverage",
            "result": "pass",
            "message": "no finding",
            "source": "stepup",
            "scored": true,
            "resources": resource(ns, name),
        }));
    }
    for (ns, (results, [pass, fail, warn])) in by_ns {
        let doc = json!({
            "apiVersion": "wgpolicyk8s.io/v1alpha2",
            "kind": "PolicyReport",
            "metadata": {
                "name": "stepup-audit",
                "namespace": ns,
                "labels": {"app.kubernetes.io/managed-by": "stepup"},
            },
            "summary": {"pass": pass, "fail": fail, "warn": warn, "error": 0, "skip": 0},
            "results": results,
        });
        writeln!(out, "---")?;
        let y = serde_yaml::to_string(&doc).map_err(io::Error::other)?;
        out.write_all(y.as_bytes())?;
    }
    Ok(())
}
