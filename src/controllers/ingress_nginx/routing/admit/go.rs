//! The few Go library functions the annotation parsers call on values:
//! `net/url` `Parse` (as `parser.StringToURL` and `redirect.isValidURL`
//! use it), client-go's `cache.SplitMetaNamespaceKey` and ingress-nginx's
//! `k8s.ParseNameNS`. Each follows the Go source closely enough to give
//! the same error or success on the values the validators let through
//! (and on the others, when validation is off), with Go's wording.

/// What `url.Parse` yields that the parsers look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Lower-cased scheme (`""` when none).
    pub scheme: String,
    /// `host[:port]` of the authority (`""` when none).
    pub host: String,
}

/// `url.Parse(raw)`, reduced to scheme and host; the error as Go prints a
/// `*url.Error` (`parse "<raw>": <reason>`).
pub fn url_parse(raw: &str) -> Result<Url, String> {
    parse(raw).map_err(|e| format!("parse {raw:?}: {e}"))
}

fn parse(raw: &str) -> Result<Url, String> {
    let (raw, frag) = raw.split_once('#').unwrap_or((raw, ""));
    unescape(frag, false)?;
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    if raw == "*" {
        return Ok(Url {
            scheme: String::new(),
            host: String::new(),
        });
    }
    let (scheme, rest) = scheme(raw)?;
    let rest = match rest.strip_suffix('?') {
        Some(r) if !r.contains('?') => r,
        _ => rest.split_once('?').map_or(rest, |(r, _)| r),
    };
    let scheme = scheme.to_ascii_lowercase();
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            // Opaque (`http:x`): no host.
            return Ok(Url {
                scheme,
                host: String::new(),
            });
        }
        let segment = rest.split('/').next().unwrap_or("");
        if segment.contains(':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    let mut host = String::new();
    let mut path = rest;
    if let Some(after) = rest.strip_prefix("//") {
        if !scheme.is_empty() || !rest.starts_with("///") {
            let (authority, p) = after.find('/').map_or((after, ""), |i| after.split_at(i));
            host = authority_host(authority)?;
            path = p;
        }
    }
    unescape(path, false)?;
    Ok(Url { scheme, host })
}

/// `getScheme`.
fn scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// `parseAuthority`: the host of `[userinfo@]host[:port]`.
fn authority_host(authority: &str) -> Result<String, String> {
    let host = match authority.rfind('@') {
        None => authority,
        Some(i) => {
            let user = &authority[..i];
            if !user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b))
            {
                return Err("net/url: invalid userinfo".into());
            }
            unescape(user, false)?;
            &authority[i + 1..]
        }
    };
    parse_host(host)
}

/// `parseHost`: the port, if any, is digits; no character that must be
/// escaped in a host name.
fn parse_host(host: &str) -> Result<String, String> {
    let port = if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err("missing ']' in host".into());
        };
        &host[i + 1..]
    } else {
        host.rfind(':').map_or("", |i| &host[i..])
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if !port_ok {
        return Err(format!("invalid port {port:?} after host"));
    }
    unescape(host, true)?;
    Ok(host.to_string())
}

/// `unescape`: every `%` starts two hex digits; in a host, `%`-escapes
/// only of non-ASCII bytes (or `%25`), and no ASCII byte that must be
/// escaped there (`shouldEscape(c, encodeHost)`).
fn unescape(s: &str, host: bool) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let esc = b.get(i..i + 3).unwrap_or(&b[i..]);
            let hex = |x: Option<&u8>| x.is_some_and(u8::is_ascii_hexdigit);
            if !hex(b.get(i + 1)) || !hex(b.get(i + 2)) {
                return Err(format!(
                    "invalid URL escape {:?}",
                    String::from_utf8_lossy(esc)
                ));
            }
            if host && b[i + 1] < b'8' && esc != b"%25" {
                return Err(format!(
                    "invalid URL escape {:?}",
                    String::from_utf8_lossy(esc)
                ));
            }
            i += 3;
            continue;
        }
        if host && b[i] < 0x80 && host_must_escape(b[i]) {
            return Err(format!(
                "invalid character {:?} in host name",
                char::from(b[i]).to_string()
            ));
        }
        i += 1;
    }
    Ok(())
}

/// `shouldEscape(c, encodeHost)` for an ASCII byte.
fn host_must_escape(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || b"!$&'()*+,;=:[]<>\"-_.~".contains(&c))
}

/// `parser.StringToURL` (`annotations/parser/main.go`): `url.Parse`, then
/// a scheme, a host, and no `..` in the host.
pub fn string_to_url(input: &str) -> Result<Url, String> {
    let u = url_parse(input).map_err(|e| format!("{input} is not a valid URL: {e}"))?;
    if u.scheme.is_empty() {
        return Err("url scheme is empty".into());
    }
    if u.host.is_empty() {
        return Err("url host is empty".into());
    }
    if u.host.contains("..") {
        return Err("invalid url host".into());
    }
    Ok(u)
}

/// client-go `cache.SplitMetaNamespaceKey`: `name` or `namespace/name`.
pub fn split_meta_namespace_key(key: &str) -> Result<(&str, &str), String> {
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        [name] => Ok(("", name)),
        [ns, name] => Ok((ns, name)),
        _ => Err(format!("unexpected key format: {key:?}")),
    }
}

/// ingress-nginx `k8s.ParseNameNS` (`internal/k8s/main.go`): exactly
/// `namespace/name`.
pub fn parse_name_ns(input: &str) -> Result<(&str, &str), String> {
    match input.split('/').collect::<Vec<_>>().as_slice() {
        [ns, name] => Ok((ns, name)),
        _ => Err(format!(
            "invalid format (namespace/name) found in '{input}'"
        )),
    }
}
