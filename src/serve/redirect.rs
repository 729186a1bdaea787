//! Where the sign-in flow may send the browser back to (`rd`).
//!
//! After sign-in the browser goes to `rd` only if it is on a host the
//! policy protects: the host that served the sign-in request (stepup's
//! sign-in path lives on each application host) or a host named by a
//! policy rule. Everything else is refused, with the reason:
//! - other schemes (`javascript:`, `data:`, `vbscript:`, …); only `http`
//!   and `https` URLs and path-absolute references (`/orders?id=7`);
//! - scheme-relative and backslash tricks (`//evil.example`,
//!   `/\evil.example`, `https:\\evil.example`): browsers read `\` as `/`;
//! - control characters and whitespace (browsers strip tabs and newlines,
//!   turning `/\t/evil.example` into `//evil.example`);
//! - userinfo (`https://shop.example@evil.example`), empty hosts, ports
//!   that are not numbers, and values longer than 4 KiB.
//!
//! The browser sign-in endpoints (issue 5) call [`check_rd`]; it is pure.

use crate::controllers::ingress_nginx::routing::normalize_host;
use crate::policy::Policy;

/// Longest `rd` accepted.
pub const MAX_RD: usize = 4096;

/// Check `rd` for a sign-in served on `request_host`; returns the URL to
/// redirect to (path-absolute references are made absolute on
/// `request_host` with `scheme`).
pub fn check_rd(
    rd: &str,
    scheme: &str,
    request_host: &str,
    policy: &Policy,
) -> Result<String, String> {
    if rd.is_empty() {
        return Err("rd is empty".into());
    }
    if rd.len() > MAX_RD {
        return Err(format!("rd is longer than {MAX_RD} bytes"));
    }
    if rd
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\' || b >= 0x80)
    {
        return Err("rd contains a control character, space, backslash or non-ASCII byte".into());
    }
    if rd.starts_with("//") {
        return Err("rd is scheme-relative (//host): it could leave this site".into());
    }
    if rd.starts_with('/') {
        return Ok(format!("{scheme}://{request_host}{rd}"));
    }
    let rest = if let Some(r) = rd.strip_prefix("https://") {
        r
    } else if let Some(r) = rd.strip_prefix("http://") {
        r
    } else {
        let scheme = rd.split(':').next().unwrap_or("");
        return Err(format!(
            "rd scheme {:?} is not http or https",
            scheme.chars().take(20).collect::<String>()
        ));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err("rd carries userinfo (user@host)".into());
    }
    if authority.is_empty() {
        return Err("rd has no host".into());
    }
    if let Some((_, port)) = authority.rsplit_once(':') {
        if !authority.starts_with('[') && !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err("rd port is not a number".into());
        }
    }
    let host = normalize_host(authority);
    let own = normalize_host(request_host);
    let named = policy
        .rules
        .iter()
        .flat_map(|r| r.hosts.iter())
        .any(|p| p.matches(&host));
    if host != own && !named {
        return Err(format!(
            "rd host {host:?} is neither this host nor a host of the policy"
        ));
    }
    Ok(rd.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        crate::policy::parse(
            "p.yaml",
            r#"apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata: {name: t}
spec:
  levels: [{name: authenticated}]
  rules:
    - {name: admin, hosts: [admin.shop.example, "*.apps.example"], paths: ["/**"], level: authenticated}
  default: authenticated
"#,
        )
        .unwrap()
    }

    fn ok(rd: &str) -> String {
        check_rd(rd, "https", "shop.example", &policy()).unwrap_or_else(|e| panic!("{rd}: {e}"))
    }

    fn bad(rd: &str) -> String {
        check_rd(rd, "https", "shop.example", &policy())
            .map(|u| panic!("{rd:?} accepted as {u}"))
            .unwrap_err()
    }

    #[test]
    fn accepted() {
        assert_eq!(ok("/orders?id=7"), "https://shop.example/orders?id=7");
        assert_eq!(ok("https://shop.example/a"), "https://shop.example/a");
        assert_eq!(
            ok("https://SHOP.example:443/a"),
            "https://SHOP.example:443/a"
        );
        assert_eq!(ok("http://shop.example"), "http://shop.example");
        assert_eq!(
            ok("https://admin.shop.example/x"),
            "https://admin.shop.example/x"
        );
        assert_eq!(
            ok("https://billing.apps.example/x"),
            "https://billing.apps.example/x"
        );
    }

    #[test]
    fn refused() {
        for (rd, why) in [
            ("https://evil.example", "neither this host"),
            ("https://evil.example/shop.example", "neither this host"),
            ("https://shop.example.evil.example/", "neither this host"),
            ("//evil.example", "scheme-relative"),
            ("//evil.example/path", "scheme-relative"),
            ("/\\evil.example", "backslash"),
            ("https:\\\\evil.example", "backslash"),
            ("/\t/evil.example", "control character"),
            ("/\n/evil.example", "control character"),
            ("javascript:alert(1)", "scheme \"javascript\""),
            ("JavaScript:alert(1)", "scheme \"JavaScript\""),
            ("data:text/html,x", "scheme \"data\""),
            ("vbscript:x", "scheme \"vbscript\""),
            ("https://shop.example@evil.example/", "userinfo"),
            ("https://shop.example:x@evil.example/", "userinfo"),
            ("https:///path", "no host"),
            ("https://shop.example:80x/", "port"),
            ("", "empty"),
            ("shop.example/orders", "not http or https"),
            ("https://a.b.apps.example/", "neither this host"),
            ("https://évil.example/", "non-ASCII"),
        ] {
            let e = bad(rd);
            assert!(e.contains(why), "{rd:?}: {e}");
        }
        assert!(bad(&format!("/{}", "a".repeat(MAX_RD))).contains("longer"));
    }
}
