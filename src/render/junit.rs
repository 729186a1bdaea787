//! JUnit XML: one `<testsuite name="stepup lint">` inside `<testsuites>`,
//! one `<testcase>` per finding (a `<failure>` for errors and warnings, a
//! passing case with `<system-out>` for notes), or one passing case when
//! there is nothing to report. All text goes through [`text`] / [`attr`].

use std::io::{self, Write};

use super::full_text;
use crate::lint::{Finding, Report, Severity};

pub(super) fn render(out: &mut impl Write, r: &Report) -> io::Result<()> {
    let failures = r
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .count();
    let tests = r.findings.len().max(1);
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="stepup" tests="{tests}" failures="{failures}" errors="0" skipped="0">"#
    )?;
    writeln!(
        out,
        r#"  <testsuite name="stepup lint" tests="{tests}" failures="{failures}" errors="0" skipped="0">"#
    )?;
    writeln!(out, "    <properties>")?;
    for (name, value) in [
        ("ingresses", r.ingresses),
        ("errors", r.count(Severity::Error)),
        ("warnings", r.count(Severity::Warning)),
        ("notes", r.count(Severity::Note)),
        ("suppressed", r.suppressed),
    ] {
        writeln!(out, r#"      <property name="{name}" value="{value}"/>"#)?;
    }
    writeln!(out, "    </properties>")?;
    if r.findings.is_empty() {
        writeln!(
            out,
            r#"    <testcase classname="stepup lint" name="{}"/>"#,
            attr(&format!("no findings in {} Ingress(es)", r.ingresses))
        )?;
    }
    for f in &r.findings {
        testcase(out, f)?;
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")
}

fn testcase(out: &mut impl Write, f: &Finding) -> io::Result<()> {
    writeln!(
        out,
        r#"    <testcase classname="{}" name="{}" file="{}" line="{}">"#,
        attr(&f.file),
        attr(&case_name(f)),
        attr(&f.file),
        f.line
    )?;
    let body = format!(
        "{} {} at {}:{}\n{}/{}{}{}\n\n{}\n\nFix: {}\n",
        f.severity.as_str(),
        f.rule,
        f.file,
        f.line,
        f.namespace,
        f.ingress,
        if f.host.is_empty() {
            String::new()
        } else {
            format!(" host {}", f.host)
        },
        if f.path.is_empty() {
            String::new()
        } else {
            format!(" path {}", f.path)
        },
        f.message,
        f.fix
    );
    if f.severity >= Severity::Warning {
        writeln!(
            out,
            r#"      <failure type="{}" message="{}">{}</failure>"#,
            attr(f.rule),
            attr(&f.message),
            text(&body)
        )?;
    } else {
        writeln!(
            out,
            "      <system-out>{}</system-out>",
            text(&full_text(f))
        )?;
    }
    writeln!(out, "    </testcase>")
}

/// `SU006 shop/legacy-admin admin.shop.example /admin/reports` (host and
/// path only when the finding has them).
fn case_name(f: &Finding) -> String {
    // A finding about the policy itself (SU029) names no Ingress.
    let mut s = if f.ingress.is_empty() {
        format!("{} {}:{}", f.rule, f.file, f.line)
    } else {
        format!("{} {}/{}", f.rule, f.namespace, f.ingress)
    };
    for part in [&f.host, &f.path] {
        if !part.is_empty() {
            s.push(' ');
            s.push_str(part);
        }
    }
    s
}

/// Escape for character data: markup characters become entities, `\r`
/// becomes a character reference (so line-end normalisation keeps it), and
/// characters XML 1.0 cannot carry at all (C0 controls other than tab,
/// newline and carriage return; U+FFFE, U+FFFF) become U+FFFD.
pub(super) fn text(s: &str) -> String {
    escape(s, false)
}

/// Escape for an attribute value in double or single quotes: as [`text`],
/// plus both quote characters, and tab/newline/carriage return as character
/// references so attribute-value normalisation does not turn them into
/// spaces.
pub(super) fn attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, in_attr: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' if in_attr => out.push_str("&#9;"),
            '\n' if in_attr => out.push_str("&#10;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            // Allowed but "discouraged" (XML 1.0 §2.2): keep them, visibly.
            c if ('\u{7F}'..='\u{9F}').contains(&c) => out.push_str(&format!("&#x{:X};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(attr(r#"a&b<c>d"e'f"#), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
        assert_eq!(
            text("]]></failure><x a='1'>"),
            "]]&gt;&lt;/failure&gt;&lt;x a=&apos;1&apos;&gt;"
        );
        // Entity-looking input is escaped, not passed through.
        assert_eq!(text("&amp; &#0; &#x1;"), "&amp;amp; &amp;#0; &amp;#x1;");
    }

    #[test]
    fn escapes_whitespace_and_controls() {
        assert_eq!(attr("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d");
        assert_eq!(text("a\tb\nc\rd"), "a\tb\nc&#13;d");
        assert_eq!(
            text("nul\0bel\u{7}esc\u{1b}"),
            "nul\u{FFFD}bel\u{FFFD}esc\u{FFFD}"
        );
        assert_eq!(attr("\u{FFFE}\u{FFFF}"), "\u{FFFD}\u{FFFD}");
        assert_eq!(text("del\u{7f}nel\u{85}"), "del&#x7F;nel&#x85;");
        // Everything else, including non-ASCII, is kept as is.
        assert_eq!(text("üñí €😀 /admin"), "üñí €😀 /admin");
    }

    #[test]
    fn hostile_strings_never_leave_markup() {
        let hostile = "\"/><!-- <![CDATA[ ]]> <?pi?> &lt; \u{0}\u{8}\u{b}\u{c}\r\n'";
        for s in [text(hostile), attr(hostile)] {
            assert!(
                !s.contains('<') && !s.contains('>') && !s.contains('"'),
                "{s}"
            );
            assert!(!s.contains('\''), "{s}");
            assert!(
                !s.chars()
                    .any(|c| (c as u32) < 0x20 && c != '\t' && c != '\n'),
                "{s}"
            );
            // Every & starts one of the entities we write.
            for (i, _) in s.match_indices('&') {
                let rest = &s[i..];
                assert!(
                    [
                        "&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#13;", "&#9;", "&#10;",
                        "&#x"
                    ]
                    .iter()
                    .any(|e| rest.starts_with(e)),
                    "{rest}"
                );
            }
        }
    }
}
