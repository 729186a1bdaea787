//! Lint report renderers: human, JSON (SPEC §3 shape), SARIF 2.1.0, JUnit
//! XML and GitHub workflow annotations. Each writes to any `Write`; none
//! reads the clock or the environment.

use std::io::{self, Write};

use colored::Colorize;
use serde_json::json;

use crate::lint::{Finding, Report, Severity};

mod github;
mod junit;
mod sarif;

/// HTML-escape text for element content and quoted attribute values
/// (audit's report and serve's sign-in pages).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

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
        // Findings about the policy itself (SU029) or a whole input file (SU023)
        // name no Ingress.
        let object = if f.ingress.is_empty() {
            String::new()
        } else {
            format!(" {}/{}", f.namespace, f.ingress)
        };
        let host = if f.host.is_empty() {
            String::new()
        } else {
            format!("  host {}", f.host)
        };
        let path = if f.path.is_empty() {
            String::new()
        } else {
            format!("  path {}", f.path)
        };
        if !(object.is_empty() && host.is_empty() && path.is_empty()) {
            writeln!(out, "    {}{object}{host}{path}", "at".dimmed())?;
        }
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
    serde_json::to_writer_pretty(&mut *out, &json_value(r)).map_err(io::Error::from)?;
    writeln!(out)
}

/// The JSON of [`json`] as a value (audit adds its route map to it).
pub fn json_value(r: &Report) -> serde_json::Value {
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

/// SARIF 2.1.0 for GitHub code scanning: one run, the whole rule registry
/// as `tool.driver.rules`, one result per finding with a `%SRCROOT%`-relative
/// location, a line-independent `partialFingerprints` entry and the Ingress
/// coordinates as properties.
pub fn sarif(out: &mut impl Write, r: &Report) -> io::Result<()> {
    sarif::render(out, r)
}

/// JUnit XML: one `<testsuite name="stepup lint">`, one `<testcase>` per
/// finding (`<failure>` for errors and warnings), or a single passing case.
pub fn junit(out: &mut impl Write, r: &Report) -> io::Result<()> {
    junit::render(out, r)
}

/// GitHub workflow annotations: one `::error`/`::warning`/`::notice` line
/// per finding.
pub fn github(out: &mut impl Write, r: &Report) -> io::Result<()> {
    github::render(out, r)
}

/// A finding's message and fix as one text: `message. Fix: fix`.
fn full_text(f: &Finding) -> String {
    let msg = f.message.trim_end();
    let stop = if msg.ends_with(['.', '!', '?']) {
        ""
    } else {
        "."
    };
    if f.fix.trim().is_empty() {
        format!("{msg}{stop}")
    } else {
        format!("{msg}{stop} Fix: {}", f.fix.trim())
    }
}
