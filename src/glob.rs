//! Path globs and host patterns of policy rules.
//!
//! Path globs match the path **after** nginx normalisation (see
//! [`crate::routing::normalize`]), segment by segment:
//! - a literal segment matches itself (`/admin`);
//! - `*` as a whole segment matches exactly one segment, possibly empty
//!   (`/api/*/admin`; `/api/*` matches `/api/` and `/api/v1`);
//! - `*` inside a segment matches any run of non-`/` bytes (`/files/*.pdf`);
//! - `**` as a whole segment matches any number of segments; as the **last**
//!   segment it matches one or more, so `/admin/**` covers `/admin/` and
//!   everything below it but not `/admin` itself (write both, as the starter
//!   policy does).
//!
//! Host patterns are an exact name or `*.` plus a suffix, where `*` is one
//! DNS label (the Kubernetes Ingress rule), compared case-insensitively.

use std::fmt;

/// A compiled path glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGlob {
    source: String,
    segs: Vec<Seg>,
    /// Whether `source` has ASCII upper-case letters (so case folding can
    /// change what it matches); computed once here, read per request.
    upper: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(Vec<u8>),
    /// `*` alone: one segment.
    Any,
    /// A segment with inner `*`: literal pieces between stars.
    Wild(Vec<Vec<u8>>),
    /// `**`.
    Deep,
}

impl PathGlob {
    /// Compile a glob; the error says what is wrong with it.
    pub fn parse(s: &str) -> Result<PathGlob, String> {
        if !s.starts_with('/') {
            return Err(format!("path glob {s:?} must start with `/`"));
        }
        if let Some(c) = s.chars().find(|c| {
            matches!(c, '?' | '[' | ']' | '{' | '}' | '\\' | '%' | '#')
                || c.is_control()
                || c.is_whitespace()
        }) {
            return Err(format!(
                "path glob {s:?} contains {c:?}; globs match the decoded path and support only `*` and `**`"
            ));
        }
        let mut segs = Vec::new();
        let parts: Vec<&str> = s[1..].split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if part.is_empty() && !last {
                return Err(format!(
                    "path glob {s:?} has an empty segment (`//`); nginx merges slashes"
                ));
            }
            if *part == "." || *part == ".." {
                return Err(format!(
                    "path glob {s:?} has a `{part}` segment; nginx resolves those before matching"
                ));
            }
            let seg = if *part == "**" {
                Seg::Deep
            } else if part.contains("**") {
                return Err(format!("path glob {s:?}: `**` must be a whole segment"));
            } else if *part == "*" {
                Seg::Any
            } else if part.contains('*') {
                Seg::Wild(part.split('*').map(|p| p.as_bytes().to_vec()).collect())
            } else {
                Seg::Lit(part.as_bytes().to_vec())
            };
            segs.push(seg);
        }
        Ok(PathGlob {
            source: s.to_string(),
            segs,
            upper: s.bytes().any(|b| b.is_ascii_uppercase()),
        })
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the glob has ASCII upper-case letters.
    pub fn has_upper_case(&self) -> bool {
        self.upper
    }

    /// Whether the normalised `path` matches; `fold` compares ASCII
    /// case-insensitively (hosts in ingress-nginx regex mode).
    pub fn matches(&self, path: &[u8], fold: bool) -> bool {
        split_path(path).is_some_and(|parts| self.matches_split(&parts, fold))
    }

    /// [`matches`](Self::matches) on a path already split by [`split_path`].
    pub fn matches_split(&self, parts: &[&[u8]], fold: bool) -> bool {
        match_segs(&self.segs, parts, fold)
    }

    /// A literal glob (no wildcard) — its one path.
    pub fn literal(&self) -> Option<&str> {
        self.segs
            .iter()
            .all(|s| matches!(s, Seg::Lit(_)))
            .then_some(self.source.as_str())
    }

    /// The literal part before the first wildcard segment (`/admin/**` →
    /// `/admin`), used by lint to pick a sample path.
    pub fn literal_prefix(&self) -> String {
        let mut out = String::new();
        for s in &self.segs {
            match s {
                Seg::Lit(l) => {
                    out.push('/');
                    out.push_str(&String::from_utf8_lossy(l));
                }
                _ => break,
            }
        }
        if out.is_empty() { "/".to_string() } else { out }
    }
}

impl fmt::Display for PathGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Split an absolute path into its segments (`/a/b/` → `a`, `b`, ``);
/// `None` when it does not start with `/`.
pub fn split_path(path: &[u8]) -> Option<Vec<&[u8]>> {
    let rest = path.strip_prefix(b"/")?;
    Some(rest.split(|b| *b == b'/').collect())
}

fn eq(a: &[u8], b: &[u8], fold: bool) -> bool {
    if fold {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn match_segs(pat: &[Seg], parts: &[&[u8]], fold: bool) -> bool {
    let Some((first, rest)) = pat.split_first() else {
        return parts.is_empty();
    };
    match first {
        Seg::Deep => {
            let min = usize::from(rest.is_empty());
            (min..=parts.len()).any(|skip| match_segs(rest, &parts[skip..], fold))
        }
        _ => {
            let Some((p, prest)) = parts.split_first() else {
                return false;
            };
            seg_matches(first, p, fold) && match_segs(rest, prest, fold)
        }
    }
}

fn seg_matches(seg: &Seg, part: &[u8], fold: bool) -> bool {
    match seg {
        Seg::Lit(l) => eq(l, part, fold),
        Seg::Any => true,
        Seg::Deep => true,
        Seg::Wild(pieces) => wild(pieces, part, fold),
    }
}

/// `pieces` are the literal runs around `*`s: first anchors the start, last
/// the end, the middle ones are found left to right (greedy-safe for `*`).
fn wild(pieces: &[Vec<u8>], s: &[u8], fold: bool) -> bool {
    let (Some(first), Some(last)) = (pieces.first(), pieces.last()) else {
        return true;
    };
    if s.len() < first.len() || !eq(&s[..first.len()], first, fold) {
        return false;
    }
    let mut pos = first.len();
    let end_min = s.len().saturating_sub(last.len());
    for mid in &pieces[1..pieces.len() - 1] {
        let Some(i) = find(&s[pos..], mid, fold) else {
            return false;
        };
        pos += i + mid.len();
    }
    pos <= end_min && s.len() >= last.len() && eq(&s[s.len() - last.len()..], last, fold)
}

fn find(hay: &[u8], needle: &[u8], fold: bool) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| eq(w, needle, fold))
}

/// An exact host or a `*.suffix` one-label wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// `admin.example.com`
    Exact(String),
    /// `*.shop.example.com` (stores `shop.example.com`)
    Wildcard(String),
}

impl HostPattern {
    /// Parse and lowercase a host pattern.
    pub fn parse(s: &str) -> Result<HostPattern, String> {
        let lower = s.to_ascii_lowercase();
        let (wild, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        let valid_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if name.is_empty() || !name.split('.').all(valid_label) {
            return Err(format!(
                "host {s:?} is not a DNS name or a `*.` wildcard of one (the `*` must be the whole first label)"
            ));
        }
        Ok(if wild {
            HostPattern::Wildcard(name.to_string())
        } else {
            HostPattern::Exact(name.to_string())
        })
    }

    /// Whether the (lowercase, port-less) `host` matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => h == host,
            HostPattern::Wildcard(suffix) => match host.split_once('.') {
                Some((label, rest)) => !label.is_empty() && rest == suffix,
                None => false,
            },
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Wildcard(s) => write!(f, "*.{s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(g: &str, p: &str) -> bool {
        PathGlob::parse(g).unwrap().matches(p.as_bytes(), false)
    }

    #[test]
    fn literal_and_deep() {
        assert!(m("/admin", "/admin"));
        assert!(!m("/admin", "/admin/"));
        assert!(!m("/admin", "/adminx"));
        assert!(m("/admin/**", "/admin/"));
        assert!(m("/admin/**", "/admin/a/b"));
        assert!(!m("/admin/**", "/admin"));
        assert!(!m("/admin/**", "/adminx/y"));
        assert!(m("/**", "/"));
        assert!(m("/**", "/anything/at/all"));
        assert!(m("/", "/"));
        assert!(!m("/", "/x"));
    }

    #[test]
    fn deep_in_the_middle_matches_zero_or_more() {
        assert!(m("/a/**/b", "/a/b"));
        assert!(m("/a/**/b", "/a/x/y/b"));
        assert!(!m("/a/**/b", "/a/x/y/c"));
    }

    #[test]
    fn one_segment_star() {
        assert!(m("/api/*/admin", "/api/v1/admin"));
        assert!(!m("/api/*/admin", "/api/v1/v2/admin"));
        assert!(m("/api/*", "/api/"));
        assert!(m("/files/*.pdf", "/files/a.pdf"));
        assert!(!m("/files/*.pdf", "/files/a.pdfx"));
        assert!(m("/x/a*b*c", "/x/abbbc"));
        assert!(!m("/x/a*b*c", "/x/ac"));
    }

    #[test]
    fn case_folding_only_when_asked() {
        let g = PathGlob::parse("/admin/**").unwrap();
        assert!(!g.matches(b"/ADMIN/x", false));
        assert!(g.matches(b"/ADMIN/x", true));
    }

    #[test]
    fn invalid_globs_are_rejected() {
        for bad in [
            "admin", "/a**", "/a/**b", "/a//b", "/a/../b", "/a?", "/%2e", "/a b",
        ] {
            assert!(PathGlob::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts() {
        let w = HostPattern::parse("*.Shop.example.com").unwrap();
        assert!(w.matches("a.shop.example.com"));
        assert!(!w.matches("a.b.shop.example.com"));
        assert!(!w.matches("shop.example.com"));
        assert!(HostPattern::parse("a.*.com").is_err());
        assert!(HostPattern::parse("*").is_err());
        assert!(HostPattern::parse("bad_host.com").is_err());
    }
}
