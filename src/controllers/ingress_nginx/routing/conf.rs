//! Render a [`RouteTable`] as nginx.conf, the way ingress-nginx lays out its
//! `server` and `location` blocks (`server_name`, wildcard regexes,
//! `location` modifiers and order, `proxy_pass` in every location).
//!
//! It exists to prove the model against the real nginx binary: each location
//! forwards to a probe upstream with its identity (`server:location`) and
//! `$uri` in headers, so a test can compare nginx's choice and
//! normalisation with [`RouteTable::route`] for any raw request. `$uri` is
//! percent-escaped first (`set_escape_uri`, from the ndk and set-misc
//! modules, which the nginx must load), so that a decoded `%0A` survives a
//! header and the probe's answer; a test percent-decodes it. A location
//! with a `rewrite-target` rewrites as ingress-nginx's `buildProxyPass`
//! does, and the probe upstream answers the path it received in
//! `X-Stepup-Backend-Uri`, so a test can see what a backend is sent.

use std::fmt::Write;

use super::{Answer, CATCH_ALL, Modifier, RouteTable};

/// A location's identity in probe responses.
pub fn location_id(server: usize, location: usize) -> String {
    format!("{server}:{location}")
}

/// Why a table cannot be rendered (a path nginx.conf cannot quote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrenderable(pub String);

fn server_name(name: &str) -> String {
    match name.strip_prefix("*.") {
        // buildServerName in ingress-nginx's template.go
        Some(rest) => format!(
            "\"~^(?<subdomain>[\\w-]+)\\.{}$\"",
            rest.replace('.', "\\.")
        ),
        None => name.to_string(),
    }
}

/// `server-alias` names after the host, as `nginx.tmpl` writes them.
fn aliases(list: &[String]) -> Result<String, Unrenderable> {
    let mut out = String::new();
    for a in list {
        if a.bytes()
            .any(|b| matches!(b, b'"' | b';' | b'{' | b'}' | b' ') || b.is_ascii_control())
        {
            return Err(Unrenderable(format!("alias {a:?} needs quoting")));
        }
        out.push(' ');
        out.push_str(a);
    }
    Ok(out)
}

/// Whether `s` can stand verbatim between double quotes in nginx.conf and
/// mean one token (control characters are refused too, to keep the file
/// readable).
fn quotable(s: &str) -> bool {
    super::pcre::unquote(s).is_ok() && !s.bytes().any(|b| b.is_ascii_control())
}

fn needs_quoting(s: &str) -> bool {
    s.bytes().any(|b| {
        matches!(b, b'"' | b'{' | b'}' | b';' | b'\\' | b' ' | b'\'') || b.is_ascii_control()
    })
}

/// The `http {}` body: one server per table server on `listen`, each location
/// proxying to `127.0.0.1:upstream`, plus the probe upstream server that
/// answers `<location id> <$uri>`.
pub fn render(table: &RouteTable, listen: u16, upstream: u16) -> Result<String, Unrenderable> {
    let mut out = String::new();
    for (si, s) in table.servers.iter().enumerate() {
        let default = if s.name == CATCH_ALL {
            " default_server"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "server {{\n    listen 127.0.0.1:{listen}{default};\n    server_name {}{};",
            server_name(&s.name),
            aliases(&s.aliases)?
        );
        // nginx.tmpl: `app-root` is a server-level `if`, before locations.
        if let Some(root) = &s.app_root {
            if needs_quoting(root) {
                return Err(Unrenderable(format!("app-root {root:?} needs quoting")));
            }
            let _ = writeln!(
                out,
                "    if ($uri = /) {{\n        return 302 $scheme://$http_host{root};\n    }}"
            );
        }
        for (li, l) in s.locations.iter().enumerate() {
            // A regex location is written inside double quotes, verbatim, as
            // ingress-nginx writes it (nginx's parser then unescapes it).
            let unrenderable = match l.modifier {
                Modifier::Regex => !quotable(&l.name),
                Modifier::Exact | Modifier::Prefix => needs_quoting(&l.name),
            };
            if unrenderable {
                return Err(Unrenderable(format!(
                    "path {:?} needs quoting this renderer does not do",
                    l.name
                )));
            }
            let directive = match l.modifier {
                Modifier::Exact => format!("= {}", l.name),
                Modifier::Prefix => l.name.clone(),
                Modifier::Regex => format!("~* \"^{}\"", l.name),
            };
            // buildProxyPass: `rewrite "(?i)<path>" <target> break;` before
            // proxy_pass. `$uri` is kept from before it (the location's view),
            // escaped so that control characters survive the header.
            let rewrite = match l.rewrite_target() {
                Some(t) if needs_quoting(t) => {
                    return Err(Unrenderable(format!(
                        "rewrite-target {t:?} needs quoting this renderer does not do"
                    )));
                }
                Some(t) => format!("        rewrite \"(?i){}\" {t} break;\n", l.name),
                None => String::new(),
            };
            // `return` of a redirect annotation, or of a denied location.
            let answer = match &l.answer {
                Some(Answer::Redirect { url, .. }) if needs_quoting(url) => {
                    return Err(Unrenderable(format!("redirect {url:?} needs quoting")));
                }
                Some(Answer::Redirect { code, url, .. }) => {
                    format!("        return {code} {url};\n")
                }
                Some(Answer::Unavailable(_)) => "        return 503;\n".to_string(),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "    location {directive} {{\n        set_escape_uri $stepup_uri $uri;\n{answer}{rewrite}        proxy_set_header X-Stepup-Location \"{}\";\n        proxy_set_header X-Stepup-Uri $stepup_uri;\n        proxy_pass http://127.0.0.1:{upstream};\n    }}",
                location_id(si, li)
            );
        }
        out.push_str("}\n");
    }
    let _ = writeln!(
        out,
        "server {{\n    listen 127.0.0.1:{upstream};\n    location / {{\n        default_type text/plain;\n        add_header X-Stepup-Backend-Uri $request_uri always;\n        return 200 \"$http_x_stepup_location $http_x_stepup_uri\";\n    }}\n}}"
    );
    Ok(out)
}
