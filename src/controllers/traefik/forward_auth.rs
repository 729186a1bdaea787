//! How Traefik's forwardAuth middleware tells the auth service the
//! original request (`pkg/middlewares/auth/forward.go`, `writeHeader`):
//! `X-Forwarded-Method`, `-Proto`, `-Host` and `-Uri`, which it sets itself
//! (dropping what the client sent unless `trustForwardHeader` is on). Only
//! a peer the operator lists as a trusted proxy may speak this way; any
//! other client could forge the headers.

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::controllers::headers::{Original, method_ok, one};

/// The original request of a forwardAuth call from the trusted `peer`.
pub fn original(headers: &HeaderMap, peer: IpAddr) -> Result<Original<'_>, String> {
    let need = |name: &str| {
        one(headers, name)?.ok_or_else(|| format!("trusted proxy {peer} sent no {name}"))
    };
    let method = need("x-forwarded-method")?;
    let host = need("x-forwarded-host")?;
    let raw = need("x-forwarded-uri")?;
    let scheme = match one(headers, "x-forwarded-proto")? {
        Some(p @ ("http" | "https")) => p,
        Some(p) => return Err(format!("X-Forwarded-Proto {p:?} is not http or https")),
        None => "https",
    };
    if !method_ok(method) {
        return Err(format!("X-Forwarded-Method {method:?} is not a method"));
    }
    if !raw.starts_with('/') {
        return Err("X-Forwarded-Uri does not start with /".into());
    }
    Ok(Original {
        method,
        scheme,
        host,
        raw,
    })
}
