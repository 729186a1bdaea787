//! nginx's regular expressions, compiled and run as nginx does: PCRE2.
//!
//! ingress-nginx writes a regex-mode location as `location ~* "^<path>"`
//! and a rewrite as `rewrite "(?i)<path>" <target> break;`. What nginx
//! compiles is that quoted string as its configuration parser reads it
//! (`ngx_conf_read_token` in `ngx_conf_file.c`: `\"`, `\'` and `\\` lose
//! the backslash, `\t`, `\r` and `\n` become the control character, any
//! other `\x` stays as written), handed to `pcre2_compile` by
//! `ngx_regex_compile` (`src/core/ngx_regex.c`) with `PCRE2_CASELESS` for
//! `~*` (`ngx_http_core_regex_location`, `ngx_http_core_module.c`) and no
//! other option: no UTF, no UCP, the library's default character tables
//! (case folding and `\w`/`\d`/`\s` are ASCII only, any other byte is
//! itself), `.` not matching `\n`, `$` also matching before a final `\n`.
//! Matching is `pcre2_match` on `$uri`'s bytes from offset 0 with no
//! options and the default match context.
//!
//! PCRE2's JIT is used when the library has it: it finds the same matches
//! as the interpreter. What differs between the two is only where a
//! runaway pattern gives up (the JIT's 32 KiB default stack is smaller
//! than what the interpreter may use), and nginx runs the interpreter
//! unless `pcre_jit on` is set. So a JIT that gives up hands the subject to
//! the interpreter, and only the interpreter's failure (a match, depth or
//! heap limit) is a [`MatchError`]: nginx answers 500 then
//! (`ngx_http_core_find_location` returns `NGX_ERROR` and no later location
//! is tried).

use std::fmt;
use std::sync::OnceLock;

use pcre2::bytes::{Regex, RegexBuilder};

/// A compiled nginx regex (a location's or a rewrite's).
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The JIT-compiled regex (the interpreter where there is no JIT).
    re: Regex,
    /// The pattern nginx compiles and whether it is caseless, for the
    /// interpreter fallback.
    pattern: String,
    caseless: bool,
    /// The interpreter's compilation, made the first time the JIT gives up.
    interpreter: OnceLock<Option<Regex>>,
}

/// Why nginx would not load a regex: PCRE2's message, or the quoting
/// problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError(pub String);

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// PCRE2 gave up matching (a match, depth or heap limit): nginx
/// stops looking for a location and answers 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchError(pub String);

impl Pattern {
    /// The regex of `location ~* "^<path>"`, as nginx compiles it.
    pub fn new(path: &str) -> Result<Pattern, CompileError> {
        Pattern::build(&format!("^{path}"), true)
    }

    /// The regex of ingress-nginx's `rewrite "(?i)<path>" ...` (no
    /// caseless option: the `(?i)` is in the pattern).
    pub fn rewrite(path: &str) -> Result<Pattern, CompileError> {
        Pattern::build(&format!("(?i){path}"), false)
    }

    /// The regex of `server_name ~<regex>` (nginx compiles it caseless, as
    /// written: `ngx_http_core_server_name`).
    pub fn server_name(regex: &str) -> Result<Pattern, CompileError> {
        Pattern::build(regex, true)
    }

    fn build(quoted: &str, caseless: bool) -> Result<Pattern, CompileError> {
        let pattern = unquote(quoted)?;
        let re = RegexBuilder::new()
            .caseless(caseless)
            .jit_if_available(true)
            .build(&pattern)
            .map_err(|e| CompileError(e.to_string()))?;
        Ok(Pattern {
            re,
            pattern,
            caseless,
            interpreter: OnceLock::new(),
        })
    }

    /// Whether the regex matches `subject` (nginx's `$uri`) somewhere, or
    /// the error nginx's `pcre2_match` gives up with.
    pub fn is_match(&self, subject: &[u8]) -> Result<bool, MatchError> {
        let jit = match self.re.is_match(subject) {
            Ok(m) => return Ok(m),
            Err(e) => e,
        };
        let interpreter = self.interpreter.get_or_init(|| {
            RegexBuilder::new()
                .caseless(self.caseless)
                .jit(false)
                .build(&self.pattern)
                .ok()
        });
        match interpreter {
            Some(re) => re.is_match(subject).map_err(|e| MatchError(e.to_string())),
            None => Err(MatchError(jit.to_string())),
        }
    }

    /// Number of capture groups (`$1`… a rewrite target can use).
    pub fn captures(&self) -> usize {
        self.re.captures_len().saturating_sub(1)
    }
}

/// The text between the double quotes of a quoted nginx.conf token, as the
/// configuration parser hands it on; an error where nginx.conf would not
/// parse as one token (an unescaped `"` ends it early, a final `\` escapes
/// the closing quote).
pub(crate) fn unquote(s: &str) -> Result<String, CompileError> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                return Err(CompileError(
                    "an unescaped '\"' ends ingress-nginx's quoted regex early".into(),
                ));
            }
            '\\' => match chars.next() {
                Some(q @ ('"' | '\'' | '\\')) => out.push(q),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('n') => out.push('\n'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => {
                    return Err(CompileError(
                        "a final '\\' escapes the closing quote of ingress-nginx's quoted regex"
                            .into(),
                    ));
                }
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(path: &str, uri: &[u8]) -> bool {
        Pattern::new(path).unwrap().is_match(uri).unwrap()
    }

    /// PCRE semantics Rust's regex crate does not share.
    #[test]
    fn pcre_semantics() {
        // `$` also matches before a final newline.
        assert!(m("/id/[0-9]+$", b"/id/123\n"));
        assert!(!m("/id/[0-9]+$", b"/id/123\nx"));
        assert!(!m("/id/[0-9]+\\z", b"/id/123\n"));
        // Lookaround, backreferences, possessive quantifiers, \Q..\E.
        assert!(m("/api/(?!public)", b"/api/private"));
        assert!(!m("/api/(?!public)", b"/API/Public/x"));
        assert!(m("/rep/(a|b)\\1", b"/rep/aa"));
        assert!(!m("/rep/(a|b)\\1", b"/rep/ab"));
        assert!(!m("/pos/a++a", b"/pos/aaa"));
        assert!(m("/q/\\Qa.b\\E$", b"/Q/A.B"));
        assert!(!m("/q/\\Qa.b\\E$", b"/q/axb"));
        // `.` is not `\n`; case folding and classes are ASCII only.
        assert!(m("/dot/.", b"/dot/\r"));
        assert!(!m("/dot/.", b"/dot/\n"));
        assert!(m("/caf\u{e9}", "/CAF\u{e9}".as_bytes()));
        assert!(!m("/caf\u{e9}", "/caf\u{c9}".as_bytes()));
        assert!(!m("/w/\\w", "/w/\u{e9}".as_bytes()));
        assert!(!m("/w/\\w", b"/w/\xe9"));
        // Invalid UTF-8 in `$uri` is just bytes.
        assert!(m("/b/.x", b"/b/\xffx"));
    }

    /// nginx.conf's quoting applies before PCRE2 sees the pattern.
    #[test]
    fn quoting_is_nginx_conf_quoting() {
        assert_eq!(unquote(r"/a\\.b").unwrap(), r"/a\.b");
        assert_eq!(unquote(r"/a\d\n").unwrap(), "/a\\d\n");
        assert_eq!(unquote(r#"/a\"b"#).unwrap(), "/a\"b");
        assert!(unquote("/a\"b").is_err());
        assert!(unquote("/a\\").is_err());
        // `\\.` in the Ingress is `\.` to PCRE2: a literal dot.
        assert!(m(r"/bs/a\\.b", b"/bs/a.b"));
        assert!(!m(r"/bs/a\\.b", b"/bs/a\\xb"));
    }

    /// Where the JIT runs out of stack, the interpreter (what nginx runs
    /// without `pcre_jit on`) decides.
    #[test]
    fn jit_stack_limit_falls_back_to_the_interpreter() {
        // The subject of tests/nginx_routing.rs's regex_match_limits_match_real_nginx.
        let p = Pattern::new("/jit/(a|b)*c").unwrap();
        let mut s = b"/jit/".to_vec();
        for _ in 0..1000 {
            s.extend_from_slice(b"ab");
        }
        s.push(b'c');
        if pcre2::is_jit_available() {
            assert!(p.re.is_match(&s).is_err(), "the JIT should give up here");
        }
        assert_eq!(p.is_match(&s), Ok(true));
    }

    #[test]
    fn errors() {
        assert!(Pattern::new("/a(").is_err());
        assert!(Pattern::new("/a\"").is_err());
        assert_eq!(Pattern::rewrite("/r(/|$)(.*)").unwrap().captures(), 2);
        let host = Pattern::server_name("^(?<sub>[\\w-]+)\\.example\\.com$").unwrap();
        assert_eq!(host.is_match(b"Shop.EXAMPLE.com"), Ok(true));
        assert_eq!(host.is_match(b"a.b.example.com"), Ok(false));
        // A runaway pattern gives up (PCRE2's match limit): nginx's 500.
        let p = Pattern::new("/(a+)+$").unwrap();
        let mut s = b"/".to_vec();
        s.extend(std::iter::repeat_n(b'a', 64));
        s.push(b'!');
        assert!(p.is_match(&s).is_err());
    }
}
