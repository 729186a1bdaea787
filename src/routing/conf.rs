//! Render a [`RouteTable`] as nginx.conf, the way ingress-nginx lays out its
//! `server` and `location` blocks (`server_name`, wildcard regexes,
//! `location` modifiers and order, `proxy_pass` in every location).
//!
//! It exists to prove the model against the real nginx binary: each location
//! forwards to a probe upstream with its identity (`server:location`) and
//! `$uri` in headers, so a test can compare nginx's choice and
//! normalisation with [`RouteTable::route`] for any raw request.

use std::fmt::Write;

use super::{CATCH_ALL, Modifier, RouteTable};

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
            "server {{\n    listen 127.0.0.1:{listen}{default};\n    server_name {};",
            server_name(&s.name)
        );
        for (li, l) in s.locations.iter().enumerate() {
            if l.name.bytes().any(|b| {
                matches!(b, b'"' | b'{' | b'}' | b';' | b'\\' | b' ' | b'\'')
                    || b.is_ascii_control()
            }) {
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
            let _ = writeln!(
                out,
                "    location {directive} {{\n        proxy_set_header X-Stepup-Location \"{}\";\n        proxy_set_header X-Stepup-Uri $uri;\n        proxy_pass http://127.0.0.1:{upstream};\n    }}",
                location_id(si, li)
            );
        }
        out.push_str("}\n");
    }
    let _ = writeln!(
        out,
        "server {{\n    listen 127.0.0.1:{upstream};\n    location / {{\n        default_type text/plain;\n        return 200 \"$http_x_stepup_location $http_x_stepup_uri\";\n    }}\n}}"
    );
    Ok(out)
}
