//! Path globs and host patterns of policy rules.
//!
//! Path globs match the path **after** nginx normalisation (see
//! [`crate::controllers::ingress_nginx::routing::normalize`]), segment by segment:
//! - a literal segment matches itself (`/admin`);
//! - `*` as a whole segment matches exactly one segment, possibly empty
//!   (`/api/*/admin`; `/api/*` matches `/api/` and `/api/v1`);
//! - `*` inside a segment matches any run of non-`/` bytes (`/files/*.pdf`);
//! - `**` as a whole segment matches zero or more whole segments, also as
//!   the last one (SPEC §1): `/admin/**` covers `/admin`, `/admin/` and
//!   everything below it.
//!
//! Matching is a walk over the path's segments with the set of glob
//! positions reached so far, so it costs O(path length × glob length)
//! whatever the glob (issue 15: backtracking over several `**` took 11.6 s
//! on a 4 KB path).
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

    /// Whether some path that starts with `prefix` (an absolute path, or
    /// the part of one before an unknown continuation) matches the glob:
    /// `/admin/**` may match under `/adm` and `/admin/`, not under `/api/`.
    /// Lint uses it to bound where a `rewrite-target` with captures can send
    /// a request (issue 15).
    pub fn may_match_under(&self, prefix: &[u8], fold: bool) -> bool {
        let Some(parts) = split_path(prefix) else {
            return true;
        };
        let Some((partial, complete)) = parts.split_last() else {
            return true;
        };
        reach(&self.segs, complete, fold)
            .into_iter()
            .any(|j| match self.segs.get(j) {
                // The glob ended, but the path goes on with a segment.
                None => false,
                Some(Seg::Deep | Seg::Any) => true,
                Some(Seg::Lit(l)) => {
                    l.len() >= partial.len() && eq(&l[..partial.len()], partial, fold)
                }
                Some(Seg::Wild(pieces)) => pieces.first().is_none_or(|first| {
                    let n = first.len().min(partial.len());
                    eq(&first[..n], &partial[..n], fold)
                }),
            })
    }

    /// Whether the glob matches *every* path that starts with `prefix`
    /// (compared exactly): `/static/**` covers `/static/` and `/static/js`,
    /// not `/static`. Sound, not complete: a `**` before the last segment
    /// counts as covering nothing.
    pub fn covers_all_under(&self, prefix: &[u8]) -> bool {
        let Some(parts) = split_path(prefix) else {
            return false;
        };
        let Some((_, complete)) = parts.split_last() else {
            return false;
        };
        for (i, seg) in self.segs.iter().enumerate() {
            let last = i + 1 == self.segs.len();
            match (seg, complete.get(i)) {
                (Seg::Deep, _) => return last,
                (_, None) => return false,
                (seg, Some(part)) => {
                    if !seg_matches(seg, part, false) {
                        return false;
                    }
                }
            }
        }
        false
    }

    /// Whether this glob matches every path `other` matches (under either
    /// case mode: folding only widens both alike). Decided on the segment
    /// language (`**` any run of segments, `*` one segment, `a*b` one
    /// segment of that shape): sound, not complete, since an inner-`*`
    /// segment is only known to cover literals it matches and itself.
    pub fn covers(&self, other: &PathGlob) -> bool {
        let (a, b) = (&self.segs, &other.segs);
        // ok[i][j]: a[i..] matches every path b[j..] matches.
        let mut ok = vec![vec![false; b.len() + 1]; a.len() + 1];
        for i in (0..=a.len()).rev() {
            for j in (0..=b.len()).rev() {
                ok[i][j] = match (a.get(i), b.get(j)) {
                    (None, None) => true,
                    // `**` matches nothing here, or swallows b's first
                    // segment (or b's own `**`) and goes on.
                    (Some(Seg::Deep), bj) => ok[i + 1][j] || (bj.is_some() && ok[i][j + 1]),
                    (None, Some(_)) | (Some(_), None) | (Some(_), Some(Seg::Deep)) => false,
                    (Some(x), Some(y)) => seg_covers(x, y) && ok[i + 1][j + 1],
                };
            }
        }
        ok[0][0]
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

/// Pattern positions kept in a stack bitset before the walk allocates one:
/// 128 positions, far more than any written glob has segments.
const INLINE_WORDS: usize = 2;

/// Whether the glob matches the path's segments: a walk of the glob's
/// segment-level automaton over `parts`, keeping the *set* of pattern
/// positions reached so far (position `j`: the first `j` glob segments have
/// matched the parts read). Each part is read once and each position is
/// visited at most once per part, so the cost is O(parts × glob segments),
/// never exponential, whatever the number of `**`.
fn match_segs(pat: &[Seg], parts: &[&[u8]], fold: bool) -> bool {
    let words = (pat.len() + 1).div_ceil(64);
    if words <= INLINE_WORDS {
        let (mut cur, mut next) = ([0u64; INLINE_WORDS], [0u64; INLINE_WORDS]);
        walk(pat, parts, fold, &mut cur[..words], &mut next[..words])
    } else {
        let (mut cur, mut next) = (vec![0u64; words], vec![0u64; words]);
        walk(pat, parts, fold, &mut cur, &mut next)
    }
}

/// The state-set walk of [`match_segs`] on two zeroed bitsets of
/// `pat.len() + 1` positions.
fn walk<'b>(
    pat: &[Seg],
    parts: &[&[u8]],
    fold: bool,
    mut cur: &'b mut [u64],
    mut next: &'b mut [u64],
) -> bool {
    set(cur, 0);
    close(pat, cur);
    for part in parts {
        next.fill(0);
        let mut any = false;
        for j in Ones::new(cur) {
            any |= step(pat, j, part, fold, next);
        }
        if !any {
            return false;
        }
        close(pat, next);
        std::mem::swap(&mut cur, &mut next);
    }
    get(cur, pat.len())
}

/// The glob positions reached after reading `parts` (the walk of
/// [`walk`], returning its state set instead of whether it ended).
fn reach(pat: &[Seg], parts: &[&[u8]], fold: bool) -> Vec<usize> {
    let words = (pat.len() + 1).div_ceil(64);
    let (mut cur, mut next) = (vec![0u64; words], vec![0u64; words]);
    set(&mut cur, 0);
    close(pat, &mut cur);
    for part in parts {
        next.fill(0);
        for j in Ones::new(&cur) {
            step(pat, j, part, fold, &mut next);
        }
        close(pat, &mut next);
        std::mem::swap(&mut cur, &mut next);
    }
    Ones::new(&cur).collect()
}

/// From position `j`, read `part`: mark in `next` the positions it leads to;
/// whether it led anywhere. The end position `pat.len()` reads nothing
/// (a trailing `**` keeps the walk there by looping on its own position).
fn step(pat: &[Seg], j: usize, part: &[u8], fold: bool, next: &mut [u64]) -> bool {
    #[cfg(test)]
    steps::count();
    match pat.get(j) {
        None => false,
        Some(Seg::Deep) => {
            // `**` swallows the part and may go on swallowing (stay at `j`)
            // or stop here (go to `j + 1`).
            set(next, j);
            set(next, j + 1);
            true
        }
        Some(seg) => {
            let hit = seg_matches(seg, part, fold);
            if hit {
                set(next, j + 1);
            }
            hit
        }
    }
}

/// Add to `states` the positions reachable without reading a part: past
/// every `**` that may match zero segments. Ascending, so `**/**` chains.
fn close(pat: &[Seg], states: &mut [u64]) {
    for (j, seg) in pat.iter().enumerate() {
        if matches!(seg, Seg::Deep) && deep_may_be_empty(j, pat.len()) && get(states, j) {
            set(states, j + 1);
        }
    }
}

/// Whether the `**` at position `j` of a glob of `len` segments may match
/// zero segments: always (SPEC §1: `/admin/**` covers `/admin`). Kept as a
/// function so the rule has one place.
fn deep_may_be_empty(_j: usize, _len: usize) -> bool {
    true
}

fn get(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

fn set(bits: &mut [u64], i: usize) {
    if let Some(w) = bits.get_mut(i / 64) {
        *w |= 1 << (i % 64);
    }
}

/// The set positions of a bitset, ascending.
struct Ones<'a> {
    bits: &'a [u64],
    word: usize,
    rest: u64,
}

impl<'a> Ones<'a> {
    fn new(bits: &'a [u64]) -> Ones<'a> {
        Ones {
            bits,
            word: 0,
            rest: bits.first().copied().unwrap_or(0),
        }
    }
}

impl Iterator for Ones<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.rest == 0 {
            self.word += 1;
            self.rest = *self.bits.get(self.word)?;
        }
        let bit = self.rest.trailing_zeros() as usize;
        self.rest &= self.rest - 1;
        Some(self.word * 64 + bit)
    }
}

/// A count of automaton steps ([`step`] calls) on this thread, so tests can
/// bound the matcher's work without timing it.
#[cfg(test)]
mod steps {
    use std::cell::Cell;

    thread_local!(static STEPS: Cell<u64> = const { Cell::new(0) });

    pub(super) fn count() {
        STEPS.with(|s| s.set(s.get() + 1));
    }

    /// The steps counted since the last call.
    pub(super) fn take() -> u64 {
        STEPS.with(|s| s.replace(0))
    }
}

/// The backtracking matcher this module used before the state-set walk
/// (exponential in the number of `**`): the property test's reference.
#[cfg(test)]
fn reference(pat: &[Seg], parts: &[&[u8]], fold: bool) -> bool {
    let Some((first, rest)) = pat.split_first() else {
        return parts.is_empty();
    };
    match first {
        Seg::Deep => {
            // SPEC §1: zero or more segments, also as the last one.
            (0..=parts.len()).any(|skip| reference(rest, &parts[skip..], fold))
        }
        _ => {
            let Some((p, prest)) = parts.split_first() else {
                return false;
            };
            seg_matches(first, p, fold) && reference(rest, prest, fold)
        }
    }
}

/// Whether glob segment `x` matches every segment `y` matches (neither
/// is `**`).
fn seg_covers(x: &Seg, y: &Seg) -> bool {
    match (x, y) {
        (Seg::Any, _) => true,
        (Seg::Lit(l), Seg::Lit(m)) => l == m,
        (Seg::Wild(p), Seg::Lit(m)) => wild(p, m, false),
        (Seg::Wild(p), Seg::Wild(q)) => p == q,
        _ => false,
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
/// the end, the middle ones are found left to right (greedy-safe for `*`:
/// the leftmost occurrence of a piece leaves the most room for the rest).
/// No backtracking: each piece is searched once, from where the previous
/// one ended, so the cost is O(`s.len()` × the glob segment's length).
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

/// The first position of `needle` in `hay`: O(`hay.len()` × `needle.len()`),
/// where `needle` is a piece of the glob, so linear in the path.
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

impl HostPattern {
    /// Whether this pattern matches every host `other` matches.
    pub fn covers(&self, other: &HostPattern) -> bool {
        match (self, other) {
            (HostPattern::Wildcard(_), HostPattern::Exact(h)) => self.matches(h),
            _ => self == other,
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

    /// SPEC §1 (changed): `/admin/**` covers `/admin` too, so a policy that
    /// lists only `/admin/**` does not leave the console's own page open.
    #[test]
    fn regression_a_trailing_deep_glob_covers_its_base() {
        assert!(m("/admin/**", "/admin"));
        assert!(m("/admin/**", "/admin/"));
        assert!(m("/api/**/**", "/api"));
        assert!(!m("/admin/**", "/adminx"));
        let g = PathGlob::parse("/admin/**").unwrap();
        assert!(g.covers_all_under(b"/admin/"));
    }

    #[test]
    fn literal_and_deep() {
        assert!(m("/admin", "/admin"));
        assert!(!m("/admin", "/admin/"));
        assert!(!m("/admin", "/adminx"));
        assert!(m("/admin/**", "/admin/"));
        assert!(m("/admin/**", "/admin/a/b"));
        // SPEC §1: a trailing `**` is zero or more segments.
        assert!(m("/admin/**", "/admin"));
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

    /// A deterministic pseudo-random generator (SplitMix64), so a failure
    /// reproduces from the printed case.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.below(from.len())]
        }
    }

    /// A random valid glob of up to 7 segments over `a`, `b`, `A` (an empty
    /// segment only last, as the parser allows).
    fn random_glob(r: &mut Rng) -> String {
        const SEGS: &[&str] = &[
            "**", "**", "**", "*", "*", "a", "b", "A", "ab", "*a*", "a*b", "*b", "a*", "*a*a*b",
        ];
        let n = r.below(7);
        let mut g: String = (0..n).map(|_| format!("/{}", r.pick(SEGS))).collect();
        if g.is_empty() || r.below(6) == 0 {
            g.push('/');
        }
        g
    }

    /// A random normalised path of up to 9 segments.
    fn random_path(r: &mut Rng) -> String {
        const SEGS: &[&str] = &["a", "a", "b", "A", "", "ab", "aab", "aabab", "B"];
        let n = 1 + r.below(7);
        (0..n).map(|_| format!("/{}", r.pick(SEGS))).collect()
    }

    #[test]
    fn state_set_walk_agrees_with_the_backtracking_reference() {
        let mut r = Rng(15);
        let mut matched = 0;
        for case in 0..40_000 {
            let (g, p) = (random_glob(&mut r), random_path(&mut r));
            let glob = PathGlob::parse(&g).unwrap_or_else(|e| panic!("case {case}: {e}"));
            let parts = split_path(p.as_bytes()).unwrap();
            for fold in [false, true] {
                let want = reference(&glob.segs, &parts, fold);
                let got = glob.matches(p.as_bytes(), fold);
                assert_eq!(got, want, "case {case}: {g} on {p}, fold {fold}");
                matched += usize::from(got);
            }
        }
        // Both answers occur often enough for the comparison to mean something.
        assert!(
            (4_000..76_000).contains(&matched),
            "{matched} matches of 80000"
        );
    }

    #[test]
    fn glob_many_double_stars_on_long_path_is_linear() {
        // Issue 15: this kind of glob took the backtracking matcher 11.6 s on
        // a 4 KB path. Count the walk's steps instead of timing it.
        let glob = PathGlob::parse("/**/a/**/a/**/a/**/a/**/b/**/**/**/**").unwrap();
        let bound = |parts: usize| (parts * (glob.segs.len() + 1)) as u64;
        for n in [16, 512, 2048, 4096] {
            let miss = "/a".repeat(n);
            let hit = format!("{miss}/b/c");
            steps::take();
            assert!(!glob.matches(miss.as_bytes(), false), "{n}");
            let miss_steps = steps::take();
            assert!(glob.matches(hit.as_bytes(), true), "{n}");
            let hit_steps = steps::take();
            assert!(miss_steps >= n as u64, "{n}: {miss_steps} steps");
            assert!(miss_steps <= bound(n), "{n}: {miss_steps} > {}", bound(n));
            assert!(
                hit_steps <= bound(n + 2),
                "{n}: {hit_steps} > {}",
                bound(n + 2)
            );
        }
        // The reference does far more than the bound even on a short path,
        // so the bound is what tells the two apart.
        let short = "/a".repeat(24);
        let parts = split_path(short.as_bytes()).unwrap();
        let calls = reference_calls(&glob.segs, &parts);
        assert!(calls > 100 * bound(parts.len()), "{calls}");
    }

    /// How many times the backtracking reference recurses on `parts`.
    fn reference_calls(pat: &[Seg], parts: &[&[u8]]) -> u64 {
        let Some((first, rest)) = pat.split_first() else {
            return 1;
        };
        1 + match first {
            Seg::Deep => {
                // Zero or more, as in `reference`.
                (0..=parts.len())
                    .map(|skip| reference_calls(rest, &parts[skip..]))
                    .sum()
            }
            _ => match parts.split_first() {
                Some((p, prest)) if seg_matches(first, p, false) => reference_calls(rest, prest),
                _ => 0,
            },
        }
    }

    #[test]
    fn wide_globs_use_a_heap_bitset() {
        // More than 128 positions: the walk's bitsets leave the stack.
        let g = format!("{}/b", "/**/a".repeat(80));
        let glob = PathGlob::parse(&g).unwrap();
        assert!(glob.segs.len() + 1 > 64 * INLINE_WORDS);
        let path = format!("{}/b", "/x/a".repeat(80));
        assert!(glob.matches(path.as_bytes(), false));
        assert!(!glob.matches(&path.as_bytes()[..path.len() - 2], false));
        let parts = split_path(path.as_bytes()).unwrap();
        assert!(reference(&glob.segs, &parts, false));
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

/// Where a `rewrite-target` prefix can land (issue 15).
#[cfg(test)]
mod under_tests {
    use super::PathGlob;

    fn may(g: &str, p: &str) -> bool {
        PathGlob::parse(g)
            .unwrap()
            .may_match_under(p.as_bytes(), false)
    }

    fn covers(g: &str, p: &str) -> bool {
        PathGlob::parse(g).unwrap().covers_all_under(p.as_bytes())
    }

    #[test]
    fn may_match_under_a_prefix() {
        assert!(may("/admin/**", "/admin/"));
        assert!(may("/admin/**", "/adm"));
        assert!(may("/admin", "/adm"));
        assert!(may("/admin/**", "/"));
        assert!(may("/admin/**", "/admin/x/y"));
        assert!(!may("/admin/**", "/api/"));
        assert!(!may("/admin", "/admin/"));
        assert!(!may("/admin/**", "/reports-v2/"));
        assert!(may("/api/*/admin", "/api/v1/"));
        assert!(!may("/api/*/admin", "/api/v1/x/"));
        assert!(may("/**/secret", "/a/b/"));
        assert!(may("/files/*.pdf", "/files/re"));
        assert!(may("/files/rep*.pdf", "/files/r"));
        assert!(!may("/files/rep*.pdf", "/files/x"));
        assert!(
            PathGlob::parse("/Admin/**")
                .unwrap()
                .may_match_under(b"/admin/", true)
        );
    }

    #[test]
    fn covers_all_under_a_prefix() {
        assert!(covers("/static/**", "/static/"));
        assert!(covers("/static/**", "/static/js/"));
        assert!(covers("/**", "/"));
        assert!(covers("/*/**", "/a/"));
        assert!(!covers("/static/**", "/static"));
        assert!(!covers("/static/**", "/"));
        assert!(!covers("/static", "/static/"));
        assert!(!covers("/a/**/b", "/a/"));
    }
}

#[cfg(test)]
mod covers_tests {
    use super::{HostPattern, PathGlob};

    fn covers(a: &str, b: &str) -> bool {
        PathGlob::parse(a)
            .unwrap()
            .covers(&PathGlob::parse(b).unwrap())
    }

    /// SU029 reports only what is certain: `covers` must never claim a
    /// glob covers one with a path it does not match.
    #[test]
    fn covers_is_sound_on_samples() {
        let globs = [
            "/",
            "/**",
            "/*",
            "/admin",
            "/admin/**",
            "/admin/*",
            "/admin/*/x",
            "/api/**",
            "/api/payments/**",
            "/api/*/admin",
            "/files/*.pdf",
            "/files/**",
            "/a/**/b",
            "/**/b",
            "/admin/",
            "/*.pdf",
        ];
        let paths = [
            "/",
            "/admin",
            "/admin/",
            "/admin/x",
            "/admin/x/y",
            "/admin/y/x",
            "/api/payments",
            "/api/payments/1",
            "/api/v1/admin",
            "/files/a.pdf",
            "/files/a.txt",
            "/a/b",
            "/a/c/b",
            "/b",
            "/x.pdf",
            "/api",
        ];
        for a in globs {
            for b in globs {
                if !covers(a, b) {
                    continue;
                }
                let (ga, gb) = (PathGlob::parse(a).unwrap(), PathGlob::parse(b).unwrap());
                for p in paths {
                    assert!(
                        !gb.matches(p.as_bytes(), false) || ga.matches(p.as_bytes(), false),
                        "{a} said to cover {b}, but {p} matches only {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn covers_decides_the_usual_cases() {
        assert!(covers("/**", "/admin/**"));
        assert!(covers("/api/**", "/api/payments/**"));
        assert!(covers("/admin/**", "/admin"));
        assert!(covers("/api/*", "/api/v1"));
        assert!(covers("/files/*.pdf", "/files/a.pdf"));
        assert!(covers("/a/**/b", "/a/b"));
        assert!(!covers("/api/payments/**", "/api/**"));
        assert!(!covers("/admin", "/admin/**"));
        assert!(!covers("/admin/*", "/admin/**"));
        assert!(covers("/*", "/"));
        assert!(covers("/*", "/x"));
    }

    #[test]
    fn host_covers() {
        let h = |s: &str| HostPattern::parse(s).unwrap();
        assert!(h("*.example.com").covers(&h("a.example.com")));
        assert!(!h("*.example.com").covers(&h("a.b.example.com")));
        assert!(!h("a.example.com").covers(&h("*.example.com")));
        assert!(h("*.example.com").covers(&h("*.example.com")));
    }
}
