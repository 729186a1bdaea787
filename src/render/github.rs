//! GitHub Actions workflow commands: one `::error` / `::warning` /
//! `::notice` line per finding, escaped as GitHub's runner unescapes them
//! (`%`, `\r`, `\n` in the message; additionally `:` and `,` in property
//! values).

use std::io::{self, Write};

use super::full_text;
use crate::lint::{Report, Severity, rule};

pub(super) fn render(out: &mut impl Write, r: &Report) -> io::Result<()> {
    for f in &r.findings {
        let command = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "notice",
        };
        let title = match rule(f.rule) {
            Some(info) => format!("{} {}", f.rule, info.name),
            None => f.rule.to_string(),
        };
        writeln!(
            out,
            "::{command} file={},line={},title={}::{}",
            property(&f.file),
            f.line.max(1),
            property(&title),
            data(&full_text(f))
        )?;
    }
    Ok(())
}

/// Escape a command's message (GitHub's `escapeData`).
pub(super) fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a property value (GitHub's `escapeProperty`).
pub(super) fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(data("50% a\r\nb::c,d"), "50%25 a%0D%0Ab::c,d");
        assert_eq!(property("50% a\r\nb::c,d"), "50%25 a%0D%0Ab%3A%3Ac%2Cd");
        // `%` first: an already-escaped sequence is escaped again, not kept.
        assert_eq!(data("%0A"), "%250A");
    }
}
