//! Lint report renderers: human, JSON (SPEC §3 shape), SARIF 2.1.0, JUnit
//! XML and GitHub workflow annotations. Each writes to any `Write`; none
//! reads the clock or the environment.

use std::io::{self, Write};

use colored::Colorize;
use serde::{Serialize, Serializer};

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
/// Streamed: each finding is serialised straight to `out` (pass a buffered
/// writer), with no document tree in memory; the bytes are those of
/// `serde_json::to_writer_pretty(&json_value(r))`.
pub fn json(out: &mut impl Write, r: &Report) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &JsonReport::of(r)).map_err(io::Error::from)?;
    writeln!(out)
}

/// The JSON of [`json`] as a value (audit adds its route map to it).
pub fn json_value(r: &Report) -> serde_json::Value {
    // Serialising these plain structs cannot fail; `Null` is unreachable.
    serde_json::to_value(JsonReport::of(r)).unwrap_or_default()
}

/// The SPEC §3 report shape, borrowing from the report (field order is the
/// output's key order).
#[derive(Serialize)]
struct JsonReport<'a> {
    findings: Seq<'a, Finding, JsonFinding<'a>>,
    summary: JsonSummary,
}

#[derive(Serialize)]
struct JsonSummary {
    errors: usize,
    warnings: usize,
    notes: usize,
    ingresses: usize,
    suppressed: usize,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: &'a str,
    severity: &'a str,
    message: &'a str,
    file: &'a str,
    line: u32,
    namespace: &'a str,
    ingress: &'a str,
    host: &'a str,
    path: &'a str,
    fix: &'a str,
}

impl<'a> JsonReport<'a> {
    fn of(r: &'a Report) -> Self {
        JsonReport {
            findings: Seq(&r.findings, JsonFinding::of),
            summary: JsonSummary {
                errors: r.count(Severity::Error),
                warnings: r.count(Severity::Warning),
                notes: r.count(Severity::Note),
                ingresses: r.ingresses,
                suppressed: r.suppressed,
            },
        }
    }
}

impl<'a> JsonFinding<'a> {
    fn of(f: &'a Finding) -> Self {
        JsonFinding {
            rule: f.rule,
            severity: f.severity.as_str(),
            message: &f.message,
            file: &f.file,
            line: f.line,
            namespace: &f.namespace,
            ingress: &f.ingress,
            host: &f.host,
            path: &f.path,
            fix: &f.fix,
        }
    }
}

/// A JSON array of `items`, each mapped by the function as it is written
/// (so at most one mapped item exists at a time).
pub(crate) struct Seq<'a, T, V>(pub &'a [T], pub fn(&'a T) -> V);

impl<'a, T, V: Serialize> Serialize for Seq<'a, T, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(self.1))
    }
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

#[cfg(test)]
mod tests;
