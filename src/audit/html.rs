//! The HTML report: one self-contained page (inline CSS, no scripts, no
//! external assets) with the summary counts, a route map per host and the
//! findings. Every piece of text that comes from the cluster, the policy or
//! a finding goes through [`escape`].

use std::io::{self, Write};

use super::{Audit, Status};
use crate::lint::Severity;

/// Where the audit's data came from, for the page header.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// `context kind-prod (https://…), all namespaces` or `file dump.json`.
    pub source: String,
    /// The policy (`policy.yaml`, or the built-in starter policy).
    pub policy: String,
    /// Notes of the run (a restarted list, the starter policy…).
    pub notes: Vec<String>,
}

/// HTML-escape text for element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    crate::render::escape_html(s)
}

const CSS: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--err:#b42318;--errbg:#fef3f2;--warn:#9a6700;--warnbg:#fff8c5;--ok:#1a7f37;--okbg:#dafbe1}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:24px 32px;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:20px 0 6px;font-family:ui-monospace,monospace}
.meta{color:var(--muted);margin:0}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:20px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:130px}
.card .n{font-size:28px;font-weight:600;display:block}.card .l{color:var(--muted)}
.card.error{border-color:var(--err);background:var(--errbg)}.card.error .n{color:var(--err)}
.card.warning{border-color:var(--warn);background:var(--warnbg)}.card.warning .n{color:var(--warn)}
table{border-collapse:collapse;width:100%;margin:4px 0 8px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
td.mono{font-family:ui-monospace,monospace;font-size:13px;overflow-wrap:anywhere}
.st{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600}
.st.error{color:var(--err);background:var(--errbg)}.st.warning{color:var(--warn);background:var(--warnbg)}
.st.ok{color:var(--ok);background:var(--okbg)}.st.public{color:var(--muted);background:#f6f8fa}
tr.error td:first-child{box-shadow:inset 3px 0 var(--err)}tr.warning td:first-child{box-shadow:inset 3px 0 var(--warn)}
.notes li{color:var(--muted)}
.fix{color:var(--muted)}
"#;

fn status_badge(s: Status, rules: &[&str]) -> String {
    let text = if rules.is_empty() {
        s.as_str().to_string()
    } else {
        format!("{} {}", s.as_str(), rules.join(", "))
    };
    format!(
        r#"<span class="st {}">{}</span>"#,
        s.as_str(),
        escape(&text)
    )
}

/// Render the whole page.
pub fn render(out: &mut impl Write, a: &Audit, meta: &Meta) -> io::Result<()> {
    let r = &a.report;
    let errors = r.count(Severity::Error);
    let warnings = r.count(Severity::Warning);
    let routes: usize = a.hosts.iter().map(|h| h.routes.len()).sum();
    let exposed = a.routes_with(Status::Error);
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>stepup audit: {errors} error(s), {warnings} warning(s)</title>\n<style>{CSS}</style>\n</head>\n<body>"
    )?;
    writeln!(out, "<h1>stepup audit</h1>")?;
    writeln!(out, "<p class=\"meta\">{}</p>", escape(&meta.source))?;
    writeln!(
        out,
        "<p class=\"meta\">policy: {}</p>",
        escape(&meta.policy)
    )?;
    writeln!(out, "<div class=\"cards\" id=\"summary\">")?;
    let card = |out: &mut dyn Write, id: &str, class: &str, n: usize, label: &str| {
        writeln!(
            out,
            "<div class=\"card {class}\" id=\"{id}\"><span class=\"n\">{n}</span><span class=\"l\">{label}</span></div>"
        )
    };
    card(
        out,
        "count-errors",
        if errors > 0 { "error" } else { "" },
        errors,
        "errors",
    )?;
    card(
        out,
        "count-warnings",
        if warnings > 0 { "warning" } else { "" },
        warnings,
        "warnings",
    )?;
    card(
        out,
        "count-exposed",
        if exposed > 0 { "error" } else { "" },
        exposed,
        "routes with errors",
    )?;
    card(out, "count-routes", "", routes, "routes")?;
    card(out, "count-hosts", "", a.hosts.len(), "hosts")?;
    card(out, "count-ingresses", "", r.ingresses, "Ingresses")?;
    writeln!(out, "</div>")?;
    if !meta.notes.is_empty() || r.suppressed > 0 {
        writeln!(out, "<ul class=\"notes\">")?;
        for n in &meta.notes {
            writeln!(out, "<li>{}</li>", escape(n))?;
        }
        if r.suppressed > 0 {
            writeln!(
                out,
                "<li>{} finding(s) suppressed by <code>stepup.dev/ignore</code></li>",
                r.suppressed
            )?;
        }
        writeln!(out, "</ul>")?;
    }

    writeln!(out, "<h2>Route map</h2>")?;
    if a.hosts.is_empty() {
        writeln!(out, "<p class=\"meta\">No routes.</p>")?;
    }
    for h in &a.hosts {
        writeln!(
            out,
            "<section class=\"host\">\n<h3>{}</h3>",
            escape(&h.name)
        )?;
        writeln!(
            out,
            "<table><thead><tr><th>Path</th><th>Type</th><th>Ingress</th><th>Backend</th>\
             <th>Required</th><th>Enforced</th><th>Status</th></tr></thead><tbody>"
        )?;
        for rt in &h.routes {
            writeln!(
                out,
                "<tr class=\"{}\"><td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{}</td>\
                 <td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
                rt.status.as_str(),
                escape(&rt.path),
                escape(rt.path_type),
                escape(&rt.ingress),
                escape(&rt.backend),
                escape(&rt.required),
                escape(&rt.enforced),
                status_badge(rt.status, &rt.rules)
            )?;
        }
        writeln!(out, "</tbody></table>\n</section>")?;
    }

    writeln!(out, "<h2>Findings</h2>")?;
    if r.findings.is_empty() {
        writeln!(out, "<p class=\"meta\">No findings.</p>")?;
    } else {
        writeln!(
            out,
            "<table id=\"findings\"><thead><tr><th>Rule</th><th>Severity</th><th>Ingress</th>\
             <th>Host</th><th>Path</th><th>Finding</th></tr></thead><tbody>"
        )?;
        for f in &r.findings {
            let sev = match f.severity {
                Severity::Error => Status::Error,
                Severity::Warning | Severity::Note => Status::Warning,
            };
            writeln!(
                out,
                "<tr class=\"{}\"><td class=\"mono\">{}</td><td><span class=\"st {}\">{}</span></td>\
                 <td class=\"mono\">{}/{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td>\
                 <td>{}<div class=\"fix\">Fix: {}</div></td></tr>",
                sev.as_str(),
                escape(f.rule),
                sev.as_str(),
                escape(f.severity.as_str()),
                escape(&f.namespace),
                escape(&f.ingress),
                escape(&f.host),
                escape(&f.path),
                escape(&f.message),
                escape(&f.fix)
            )?;
        }
        writeln!(out, "</tbody></table>")?;
    }
    writeln!(
        out,
        "<p class=\"meta\">{errors} error(s), {warnings} warning(s) in {} Ingress(es). \
         <code>stepup explain RULE</code> says what each rule catches and how to fix it.</p>",
        r.ingresses
    )?;
    writeln!(out, "</body>\n</html>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }
}
