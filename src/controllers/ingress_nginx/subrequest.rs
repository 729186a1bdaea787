//! How ingress-nginx tells the auth service the original request: its
//! `auth_request` subrequest carries `X-Original-URL`
//! (`$scheme://$http_host$request_uri`, the raw target) and
//! `X-Original-Method`, set by `proxy_set_header` in the auth location
//! nginx.tmpl renders (`buildAuthLocation`), which replaces anything the
//! client sent. Client headers are passed through too, so an
//! `X-Forwarded-*` set here proves nothing.

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::controllers::headers::{Original, method_ok, one};

/// The original request of an ingress-nginx auth subrequest from `peer`.
pub fn original(headers: &HeaderMap, peer: IpAddr) -> Result<Original<'_>, String> {
    let Some(url) = one(headers, "x-original-url")? else {
        if headers.contains_key("x-forwarded-uri") || headers.contains_key("x-forwarded-host") {
            return Err(format!(
                "X-Forwarded-* from {peer}, which is not a trusted proxy, and no X-Original-URL"
            ));
        }
        return Err("no X-Original-URL (is this an ingress-nginx auth subrequest?)".into());
    };
    let method = one(headers, "x-original-method")?.ok_or("no X-Original-Method")?;
    if !method_ok(method) {
        return Err(format!("X-Original-Method {method:?} is not a method"));
    }
    let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
        ("https", r)
    } else if let Some(r) = url.strip_prefix("http://") {
        ("http", r)
    } else {
        return Err("X-Original-URL is not an http(s) URL".into());
    };
    // nginx refuses a Host with `/` (400), so the first `/` ends it.
    let cut = rest.find('/').ok_or("X-Original-URL has no path")?;
    let (host, raw) = rest.split_at(cut);
    Ok(Original {
        method,
        scheme,
        host,
        raw,
    })
}
