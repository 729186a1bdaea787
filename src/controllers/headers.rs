//! What a controller's auth subrequest says the original request was, and
//! the header rules every controller's reader shares.

use axum::http::HeaderMap;

/// The original request, as a controller's auth subrequest tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Original<'a> {
    /// Method (`GET`, …).
    pub method: &'a str,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// Host as the client sent it (may carry a port).
    pub host: &'a str,
    /// Raw request target: path and query, not normalised.
    pub raw: &'a str,
}

/// The one value of header `name`: none, or an error when it is repeated
/// or not visible ASCII (two values are two claims about one request).
pub fn one<'a>(h: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, String> {
    let mut it = h.get_all(name).iter();
    let Some(first) = it.next() else {
        return Ok(None);
    };
    if it.next().is_some() {
        return Err(format!("{name} appears more than once"));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| format!("{name} is not visible ASCII"))
}

/// Whether `m` looks like an HTTP method token as controllers pass it.
pub fn method_ok(m: &str) -> bool {
    !m.is_empty() && m.len() <= 32 && m.bytes().all(|b| b.is_ascii_uppercase() || b == b'-')
}
