//! nginx's `$uri` normalisation, byte for byte.
//!
//! nginx matches locations against the *normalised* URI, which it computes
//! from the raw request target in `ngx_http_parse_complex_uri` (Linux build,
//! `merge_slashes on`, the default that ingress-nginx keeps):
//!
//! - `%XX` is decoded; a bad escape or `%00` is a 400. The decoded byte is
//!   then processed as if it had been written literally (so `%2F` is a
//!   slash and `%2e%2e` a `..` segment), except `%25` (`%`), `%23` (`#`) and
//!   `%3F` (`?`), which stay literal characters of the path.
//! - `//` collapses to `/`.
//! - `/./` is dropped and `/../` removes the previous segment; climbing above
//!   the root is a 400. A trailing `/.` or `/..` is resolved the same way.
//! - A literal `?` starts the query and a literal `#` ends the URI.
//! - `;`, `\`, case and everything else are left as they are.
//!
//! The differential test (`tests/nginx_routing.rs`) runs a corpus of raw
//! paths through the Debian nginx binary and checks that `$uri` equals this
//! function's output for every one.

use std::fmt;

/// Why nginx answers 400 instead of routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormError {
    /// `%` not followed by two hex digits.
    BadEscape,
    /// `%00`.
    Nul,
    /// `..` above the root.
    AboveRoot,
    /// The target does not start with `/`.
    NotAbsolute,
}

impl fmt::Display for NormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NormError::BadEscape => "invalid percent-encoding",
            NormError::Nul => "encoded NUL byte (%00)",
            NormError::AboveRoot => "`..` climbs above the root",
            NormError::NotAbsolute => "the path does not start with `/`",
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum St {
    Usual,
    Slash,
    Dot,
    DotDot,
    Quoted,
    QuotedSecond,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Remove the last segment after a `/..`: `u` ends with `/..`.
fn climb(u: &mut Vec<u8>) -> Result<(), NormError> {
    let mut k = u.len() as isize - 4;
    loop {
        if k < 0 {
            return Err(NormError::AboveRoot);
        }
        if u[k as usize] == b'/' {
            u.truncate(k as usize + 1);
            return Ok(());
        }
        k -= 1;
    }
}

/// Split a raw request target into its normalised path and its raw query.
pub fn normalize(raw: &[u8]) -> Result<(Vec<u8>, Option<Vec<u8>>), NormError> {
    if raw.first() != Some(&b'/') {
        return Err(NormError::NotAbsolute);
    }
    let mut u: Vec<u8> = Vec::with_capacity(raw.len());
    let mut state = St::Usual;
    let mut quoted_state = St::Usual;
    let mut decoded = 0u8;
    let mut i = 0;
    let mut pending: Option<u8> = None;
    // Where the query starts (index in `raw`), if a literal `?` ended the path.
    let mut args_at: Option<usize> = None;
    let finished_early;
    loop {
        let ch = match pending.take() {
            Some(c) => c,
            None => {
                let Some(&c) = raw.get(i) else {
                    finished_early = false;
                    break;
                };
                i += 1;
                c
            }
        };
        match state {
            St::Usual => match ch {
                b'/' => {
                    state = St::Slash;
                    u.push(ch);
                }
                b'%' => {
                    quoted_state = state;
                    state = St::Quoted;
                }
                b'?' => {
                    args_at = Some(i);
                    finished_early = true;
                    break;
                }
                b'#' => {
                    finished_early = true;
                    break;
                }
                _ => u.push(ch),
            },
            St::Slash => match ch {
                b'/' => {}
                b'.' => {
                    state = St::Dot;
                    u.push(ch);
                }
                b'%' => {
                    quoted_state = state;
                    state = St::Quoted;
                }
                b'?' | b'#' => {
                    if ch == b'?' {
                        args_at = Some(i);
                    }
                    finished_early = true;
                    break;
                }
                _ => {
                    state = St::Usual;
                    u.push(ch);
                }
            },
            St::Dot => match ch {
                b'/' => {
                    state = St::Slash;
                    u.pop();
                }
                b'.' => {
                    state = St::DotDot;
                    u.push(ch);
                }
                b'%' => {
                    quoted_state = state;
                    state = St::Quoted;
                }
                b'?' | b'#' => {
                    u.pop();
                    if ch == b'?' {
                        args_at = Some(i);
                    }
                    finished_early = true;
                    break;
                }
                _ => {
                    state = St::Usual;
                    u.push(ch);
                }
            },
            St::DotDot => match ch {
                b'/' | b'?' | b'#' => {
                    climb(&mut u)?;
                    if ch == b'/' {
                        state = St::Slash;
                    } else {
                        if ch == b'?' {
                            args_at = Some(i);
                        }
                        finished_early = true;
                        break;
                    }
                }
                b'%' => {
                    quoted_state = state;
                    state = St::Quoted;
                }
                _ => {
                    state = St::Usual;
                    u.push(ch);
                }
            },
            St::Quoted => match hex(ch) {
                Some(v) => {
                    decoded = v;
                    state = St::QuotedSecond;
                }
                None => return Err(NormError::BadEscape),
            },
            St::QuotedSecond => {
                let Some(v) = hex(ch) else {
                    return Err(NormError::BadEscape);
                };
                let c = (decoded << 4) | v;
                let digit = ch.is_ascii_digit();
                if digit && (c == b'%' || c == b'#') || !digit && c == b'?' {
                    state = St::Usual;
                    u.push(c);
                } else if c == 0 {
                    return Err(NormError::Nul);
                } else {
                    state = quoted_state;
                    pending = Some(c);
                }
            }
        }
    }
    if !finished_early {
        match state {
            St::Quoted | St::QuotedSecond => return Err(NormError::BadEscape),
            St::Dot => {
                u.pop();
            }
            St::DotDot => {
                climb(&mut u)?;
            }
            _ => {}
        }
    }
    let args = args_at.map(|at| {
        let rest = &raw[at..];
        let end = rest.iter().position(|b| *b == b'#').unwrap_or(rest.len());
        rest[..end].to_vec()
    });
    Ok((u, args))
}

/// Why nginx answers 400 to a host (`ngx_http_validate_host` in
/// src/http/ngx_http_request.c, for the Host header and for the host of an
/// absolute-form request line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostError {
    /// Nothing left once the port and a trailing dot are cut.
    Empty,
    /// Two dots in a row (`a..b`).
    DoubleDot,
    /// A `/`, NUL, space, control character or DEL.
    BadByte(u8),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Empty => f.write_str("empty host"),
            HostError::DoubleDot => f.write_str("two dots in a row"),
            HostError::BadByte(b) => write!(f, "byte 0x{b:02x} is not allowed in a host"),
        }
    }
}

/// The host nginx selects a server by, exactly as `ngx_http_validate_host`
/// computes it: the name ends at the first `:` (outside a `[…]` literal,
/// whatever follows it: `a.b:1:2` and `a.b:x` are `a.b`), one trailing dot
/// is dropped, and the rest is lower-cased. Two dots in a row, `/`, NUL,
/// space, control characters and DEL are a 400, and so is a host that is
/// empty once cut. Borrows when nothing needs changing.
pub fn validate_host(host: &str) -> Result<std::borrow::Cow<'_, str>, HostError> {
    #[derive(PartialEq)]
    enum St {
        Usual,
        Literal,
        Rest,
    }
    let b = host.as_bytes();
    let (mut dot_pos, mut host_len, mut st) = (None, b.len(), St::Usual);
    for (i, &ch) in b.iter().enumerate() {
        match ch {
            b'.' => {
                if i > 0 && dot_pos == Some(i - 1) {
                    return Err(HostError::DoubleDot);
                }
                dot_pos = Some(i);
            }
            b':' if st == St::Usual => {
                host_len = i;
                st = St::Rest;
            }
            b'[' if i == 0 => st = St::Literal,
            b']' if st == St::Literal => {
                host_len = i + 1;
                st = St::Rest;
            }
            b'/' | 0..=0x20 | 0x7f => return Err(HostError::BadByte(ch)),
            _ => {}
        }
    }
    if host_len > 0 && dot_pos == Some(host_len - 1) {
        host_len -= 1;
    }
    if host_len == 0 {
        return Err(HostError::Empty);
    }
    let h = &host[..host_len];
    Ok(if h.bytes().any(|c| c.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(h.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(h)
    })
}

/// The request host as nginx compares it to `server_name`
/// ([`validate_host`]), for callers that have no 400 to give: a host nginx
/// rejects is returned lower-cased and otherwise whole. A `[…]` literal
/// loses its brackets (`[::1]:80` → `::1`), as policy hosts are written.
pub fn normalize_host(host: &str) -> std::borrow::Cow<'_, str> {
    match validate_host(host) {
        Ok(h) if h.starts_with('[') => {
            let inner = h.trim_start_matches('[').trim_end_matches(']');
            std::borrow::Cow::Owned(inner.to_string())
        }
        Ok(h) => h,
        Err(_) if host.bytes().any(|c| c.is_ascii_uppercase()) => {
            std::borrow::Cow::Owned(host.to_ascii_lowercase())
        }
        Err(_) => std::borrow::Cow::Borrowed(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Result<String, NormError> {
        normalize(s.as_bytes()).map(|(p, _)| String::from_utf8_lossy(&p).into_owned())
    }

    #[test]
    fn plain_paths_are_unchanged() {
        assert_eq!(n("/admin").unwrap(), "/admin");
        assert_eq!(n("/admin;x").unwrap(), "/admin;x");
        assert_eq!(n("/a\\b").unwrap(), "/a\\b");
        assert_eq!(n("/ADMIN").unwrap(), "/ADMIN");
    }

    #[test]
    fn slashes_and_dots() {
        assert_eq!(n("//admin").unwrap(), "/admin");
        assert_eq!(n("/a//b///c").unwrap(), "/a/b/c");
        assert_eq!(n("/a/./b").unwrap(), "/a/b");
        assert_eq!(n("/a/../admin").unwrap(), "/admin");
        assert_eq!(n("/a/b/..").unwrap(), "/a/");
        assert_eq!(n("/a/.").unwrap(), "/a/");
        assert_eq!(n("/a..b").unwrap(), "/a..b");
        assert_eq!(n("/..").unwrap_err(), NormError::AboveRoot);
        assert_eq!(n("/a/../../b").unwrap_err(), NormError::AboveRoot);
    }

    #[test]
    fn percent_decoding_feeds_back() {
        assert_eq!(n("/%61dmin").unwrap(), "/admin");
        assert_eq!(n("/admin%2Fx").unwrap(), "/admin/x");
        assert_eq!(n("/x/%2e%2e/admin").unwrap(), "/admin");
        assert_eq!(n("/x/.%2E/admin").unwrap(), "/admin");
        assert_eq!(n("/a%2f%2fb").unwrap(), "/a/b");
        assert_eq!(n("/a%3Fb").unwrap(), "/a?b");
        assert_eq!(n("/a%25b").unwrap(), "/a%b");
        assert_eq!(n("/a%23b").unwrap(), "/a#b");
        assert_eq!(n("/a%zz").unwrap_err(), NormError::BadEscape);
        assert_eq!(n("/a%2").unwrap_err(), NormError::BadEscape);
        assert_eq!(n("/a%00").unwrap_err(), NormError::Nul);
    }

    #[test]
    fn query_and_fragment() {
        let (p, q) = normalize(b"/a/./b?x=/../y#f").unwrap();
        assert_eq!(p, b"/a/b");
        assert_eq!(q.unwrap(), b"x=/../y");
        let (p, q) = normalize(b"/a/..?x").unwrap();
        assert_eq!(p, b"/");
        assert_eq!(q.unwrap(), b"x");
        assert_eq!(normalize(b"/a#x").unwrap().0, b"/a");
    }

    #[test]
    fn normalisation_is_idempotent_on_safe_output() {
        for s in ["/a//b/./c/../d", "/%61/%2e/b", "/x/y/"] {
            let once = n(s).unwrap();
            assert_eq!(n(&once).unwrap(), once);
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(normalize_host("Shop.Example.com:8443"), "shop.example.com");
        assert_eq!(normalize_host("shop.example.com."), "shop.example.com");
        assert_eq!(normalize_host("[::1]:80"), "::1");
    }

    /// Issue 15: nginx ends the host at the first `:` whatever follows, and
    /// drops a trailing dot before a port; stepup cut only an all-digit
    /// port, so `admin.example.com:x` skipped the rules of
    /// `admin.example.com` that nginx served.
    #[test]
    fn host_ends_at_the_first_colon_as_in_nginx() {
        for (raw, want) in [
            ("admin.example.com:1:2", "admin.example.com"),
            ("admin.example.com:x", "admin.example.com"),
            ("admin.example.com.:443", "admin.example.com"),
            ("Admin.Example.COM:", "admin.example.com"),
            ("admin.example.com.", "admin.example.com"),
            ("[::1]:80", "[::1]"),
            (".lead.dot", ".lead.dot"),
            ("a:1..2", "?"),
        ] {
            let got = validate_host(raw).map(|h| h.into_owned());
            if want == "?" {
                assert_eq!(got, Err(HostError::DoubleDot), "{raw}");
            } else {
                assert_eq!(got.as_deref(), Ok(want), "{raw}");
            }
        }
        for bad in [
            "", ":80", ".", ".:1", "a..b", "a/b", "a b", "a\tb", "a\u{7f}",
        ] {
            assert!(validate_host(bad).is_err(), "{bad:?} is a 400 in nginx");
        }
    }
}
