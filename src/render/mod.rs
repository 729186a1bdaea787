//! Lint report renderers: human, JSON (SPEC §3 shape), SARIF 2.1.0, JUnit
//! XML and GitHub workflow annotations. Each writes to any `Write`; none
//! reads the clock or the environment.

use std::io::{self, Write};

use colored::Colorize;
use serde_json::json;

use crate::lint::{Report, Severity};

/// Human output: grouped by file, `file:line` first, then a summary.
pub fn human(out: &mut impl Write, r: &Report, quiet: bool) -> io::Result<()> {
    let mut last_file = "";
    for f in &r.findings {
        if quiet && f.severity < Severity::Error {
            continue;
        }
        if f.file != last_file {
            if !last_file.is_empty() {
                writeln!(out)?;
            }
            writeln!(out, "{}", f.file.bold())?;
            last_file = &f.file;
        }
        let sev = match f.severity {
            Severity::Error => "error".red().bold(),
            Severity::Warning => "warning".yellow().bold(),
            Severity::Note => "note".blue().bold(),
        };
        writeln!(
            out,
            "{}:{}: {sev}[{}] {}",
            f.file, f.line, f.rule, f.message
        )?;
        writeln!(
            out,
            "    {} {}/{}{}{}",
            "at".dimmed(),
            f.namespace,
            f.ingress,
            if f.host.is_empty() {
                String::new()
            } else {
                format!("  host {}", f.host)
            },
            if f.path.is_empty() {
                String::new()
            } else {
                format!("  path {}", f.path)
            }
        )?;
        writeln!(out, "    {} {}", "fix".dimmed(), f.fix)?;
    }
    if !r.findings.is_empty() {
        writeln!(out)?;
    }
    writeln!(
        out,
        "{} error(s), {} warning(s) in {} Ingress(es){}",
        r.count(Severity::Error),
        r.count(Severity::Warning),
        r.ingresses,
        if r.suppressed > 0 {
            format!(", {} suppressed", r.suppressed)
        } else {
            String::new()
        }
    )
}

/// JSON: `{"findings":[…],"summary":{"errors","warnings","ingresses"}}`.
pub fn json(out: &mut impl Write, r: &Report) -> io::Result<()> {
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
    let v = json!({
        "findings": findings,
        "summary": {"errors": r.count(Severity::Error), "warnings": r.count(Severity::Warning), "notes": r.count(Severity::Note), "ingresses": r.ingresses, "suppressed": r.suppressed},
    });
    serde_json::to_writer_pretty(&mut *out, &v).map_err(io::Error::from)?;
    writeln!(out)
}

/// SARIF 2.1.0 (not yet implemented: reported as an error, never faked).
pub fn sarif(_out: &mut impl Write, _r: &Report) -> io::Result<()> {
    Err(io::Error::other("SARIF output is not implemented yet"))
}

/// JUnit XML (not yet implemented).
pub fn junit(_out: &mut impl Write, _r: &Report) -> io::Result<()> {
    Err(io::Error::other("JUnit output is not implemented yet"))
}

/// GitHub workflow annotations (not yet implemented).
pub fn github(_out: &mut impl Write, _r: &Report) -> io::Result<()> {
    Err(io::Error::other("GitHub output is not implemented yet"))
}
