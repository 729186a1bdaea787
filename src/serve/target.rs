//! Which request `/auth` is deciding: method, host and raw target, read from
//! the headers the ingress controller adds to its auth subrequest.
//!
//! Two sources, never mixed:
//! - **ingress-nginx** (and NGINX-style controllers): `X-Original-URL`
//!   (`$scheme://$http_host$request_uri`, the raw target) and
//!   `X-Original-Method`. nginx sets both with `proxy_set_header`, which
//!   replaces anything the client sent.
//! - **Traefik** (ForwardAuth, and its NGINX-annotation provider):
//!   `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`, read **only** when the
//!   peer address is in `--trusted-proxy` (Traefik drops client-sent
//!   `X-Forwarded-*` and sets its own; anyone else can forge them).
//!
//! A trusted peer must send the `X-Forwarded-*` set: `X-Original-URL` from a
//! trusted proxy is ignored, because Traefik passes client headers through
//! to the auth service and a client could send a harmless-looking
//! `X-Original-URL`. Conversely, ingress-nginx passes client headers through
//! too, so its pods must not be listed as trusted proxies. Anything missing
//! or ambiguous is an error, which `/auth` turns into a 403 with the reason.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

use crate::controllers::ingress_nginx::subrequest;
use crate::controllers::traefik::forward_auth;

/// The request being authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    /// Method (`GET`, …).
    pub method: &'a str,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// Host as the client sent it (may carry a port).
    pub host: &'a str,
    /// Raw request target: path and query, not normalised.
    pub raw: &'a str,
    /// Which headers it came from.
    pub via: Via,
}

/// Where [`Target`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `X-Original-URL` / `X-Original-Method` (ingress-nginx).
    Original,
    /// `X-Forwarded-*` from a trusted proxy (Traefik).
    Forwarded,
}

/// Read the target from `headers` sent by `peer`: from a trusted proxy,
/// Traefik's forwardAuth headers; from anyone else, ingress-nginx's.
pub fn extract<'a>(
    headers: &'a HeaderMap,
    peer: IpAddr,
    trusted: &[IpNet],
) -> Result<Target<'a>, String> {
    let (o, via) = if trusted.iter().any(|n| n.contains(&peer)) {
        (forward_auth::original(headers, peer)?, Via::Forwarded)
    } else {
        (subrequest::original(headers, peer)?, Via::Original)
    };
    Ok(Target {
        method: o.method,
        scheme: o.scheme,
        host: o.host,
        raw: o.raw,
        via,
    })
}

/// Parse `--trusted-proxy` values: CIDRs or single addresses.
pub fn parse_trusted(values: &[String]) -> Result<Vec<IpNet>, String> {
    values
        .iter()
        .map(|v| {
            v.parse::<IpNet>()
                .or_else(|_| v.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("--trusted-proxy {v:?} is not an address or CIDR"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    const LOCAL: &str = "10.0.0.5";

    fn peer(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ingress_nginx_headers() {
        let m = h(&[
            (
                "x-original-url",
                "https://Shop.example.com:8443/a/../admin?x=1",
            ),
            ("x-original-method", "POST"),
        ]);
        let t = extract(&m, peer(LOCAL), &[]).unwrap();
        assert_eq!(
            t,
            Target {
                method: "POST",
                scheme: "https",
                host: "Shop.example.com:8443",
                raw: "/a/../admin?x=1",
                via: Via::Original
            }
        );
        // A Host with `?` (nginx accepts it) does not end the host early.
        let m = h(&[
            ("x-original-url", "http://a.com?x/admin"),
            ("x-original-method", "GET"),
        ]);
        let t = extract(&m, peer(LOCAL), &[]).unwrap();
        assert_eq!((t.host, t.raw), ("a.com?x", "/admin"));
    }

    #[test]
    fn forged_forwarded_headers_from_untrusted_peer() {
        // Only X-Forwarded-*: refused with the reason.
        let m = h(&[
            ("x-forwarded-uri", "/public"),
            ("x-forwarded-host", "shop.example.com"),
            ("x-forwarded-method", "GET"),
        ]);
        let e = extract(&m, peer(LOCAL), &[]).unwrap_err();
        assert!(e.contains("not a trusted proxy"), "{e}");
        // With X-Original-URL too: the forged ones are ignored.
        let mut m = m;
        m.insert(
            "x-original-url",
            HeaderValue::from_static("https://shop/admin"),
        );
        m.insert("x-original-method", HeaderValue::from_static("GET"));
        let t = extract(&m, peer(LOCAL), &[]).unwrap();
        assert_eq!((t.raw, t.via), ("/admin", Via::Original));
    }

    #[test]
    fn trusted_proxy_uses_forwarded_only() {
        let trusted = parse_trusted(&["10.0.0.0/24".into()]).unwrap();
        let m = h(&[
            ("x-forwarded-uri", "/admin"),
            ("x-forwarded-host", "shop.example.com"),
            ("x-forwarded-method", "DELETE"),
            ("x-forwarded-proto", "https"),
            // A client-sent X-Original-URL passed through by Traefik.
            ("x-original-url", "https://shop.example.com/public"),
            ("x-original-method", "GET"),
        ]);
        let t = extract(&m, peer(LOCAL), &trusted).unwrap();
        assert_eq!(
            (t.method, t.host, t.raw, t.via),
            ("DELETE", "shop.example.com", "/admin", Via::Forwarded)
        );
        // A trusted peer without the X-Forwarded set is an error, not a
        // fallback to X-Original-URL.
        let m = h(&[
            ("x-original-url", "https://shop.example.com/public"),
            ("x-original-method", "GET"),
        ]);
        let e = extract(&m, peer(LOCAL), &trusted).unwrap_err();
        assert!(e.contains("sent no x-forwarded-method"), "{e}");
    }

    #[test]
    fn malformed() {
        let trusted = parse_trusted(&["10.0.0.5".into()]).unwrap();
        for (pairs, want, tr) in [
            (vec![], "no X-Original-URL", false),
            (
                vec![("x-original-url", "https://a/")],
                "no X-Original-Method",
                false,
            ),
            (
                vec![("x-original-url", "ftp://a/"), ("x-original-method", "GET")],
                "not an http(s) URL",
                false,
            ),
            (
                vec![
                    ("x-original-url", "https://a"),
                    ("x-original-method", "GET"),
                ],
                "no path",
                false,
            ),
            (
                vec![
                    ("x-original-url", "https://a/"),
                    ("x-original-method", "G T"),
                ],
                "not a method",
                false,
            ),
            (
                vec![
                    ("x-original-url", "https://a/"),
                    ("x-original-url", "https://a/x"),
                    ("x-original-method", "GET"),
                ],
                "more than once",
                false,
            ),
            (
                vec![
                    ("x-forwarded-uri", "admin"),
                    ("x-forwarded-host", "a"),
                    ("x-forwarded-method", "GET"),
                ],
                "does not start with /",
                true,
            ),
            (
                vec![
                    ("x-forwarded-uri", "/"),
                    ("x-forwarded-host", "a"),
                    ("x-forwarded-method", "GET"),
                    ("x-forwarded-proto", "gopher"),
                ],
                "not http or https",
                true,
            ),
        ] {
            let m = h(&pairs);
            let t: &[IpNet] = if tr { &trusted } else { &[] };
            let e = extract(&m, peer(LOCAL), t).unwrap_err();
            assert!(e.contains(want), "{pairs:?}: {e}");
        }
        assert!(parse_trusted(&["nope".into()]).is_err());
    }
}
