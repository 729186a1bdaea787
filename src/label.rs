//! `KEY=VALUE` label arguments (`--exempt-namespace-label`) and the
//! Kubernetes name rules they and `--namespace` must follow.
//!
//! The rules are the API server's (apimachinery `validation.IsQualifiedName`,
//! `IsValidLabelValue`, `IsDNS1123Label`): a value it would refuse is
//! refused here, with the reason, before anything is printed.

use std::fmt;

/// One label, `key=value`, as a namespace selector term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// `prefix/name` or `name`.
    pub key: String,
    /// The value (non-empty).
    pub value: String,
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

impl std::str::FromStr for Label {
    type Err = String;

    fn from_str(s: &str) -> Result<Label, String> {
        parse(s)
    }
}

/// The default namespace exemption label.
pub const DEFAULT_EXEMPT_LABEL: &str = "stepup.dev/exempt=true";

/// Parse `KEY=VALUE`.
pub fn parse(s: &str) -> Result<Label, String> {
    let Some((key, value)) = s.split_once('=') else {
        return Err(format!(
            "{s:?}: expected KEY=VALUE (e.g. {DEFAULT_EXEMPT_LABEL})"
        ));
    };
    check_key(key).map_err(|e| format!("{s:?}: label key {key:?} {e}"))?;
    if value.is_empty() {
        return Err(format!(
            "{s:?}: the value is empty; give one (e.g. {key}=true) so that only namespaces labelled on purpose are exempt"
        ));
    }
    check_name(value, 63).map_err(|e| format!("{s:?}: label value {value:?} {e}"))?;
    Ok(Label {
        key: key.to_string(),
        value: value.to_string(),
    })
}

/// A label key: `[prefix/]name`, the prefix a DNS subdomain.
fn check_key(key: &str) -> Result<(), String> {
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            check_subdomain(prefix).map_err(|e| format!("has a prefix that {e}"))?;
            name
        }
        None => key,
    };
    if name.is_empty() {
        return Err("has no name part".into());
    }
    check_name(name, 63)
}

/// A label name or value: at most `max` of `A-Z a-z 0-9 - _ .`, starting
/// and ending with a letter or digit.
fn check_name(s: &str, max: usize) -> Result<(), String> {
    if s.len() > max {
        return Err(format!("is longer than {max} characters"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("may use only A-Z a-z 0-9 - _ .".into());
    }
    let edge = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !edge(s.bytes().next()) || !edge(s.bytes().last()) {
        return Err("must start and end with a letter or digit".into());
    }
    Ok(())
}

/// A DNS subdomain (RFC 1123): dot-separated labels, at most 253.
fn check_subdomain(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 {
        return Err("must be 1 to 253 characters".into());
    }
    s.split('.').try_for_each(check_dns_label)
}

/// A DNS label (RFC 1123), as namespace names are: at most 63 of
/// `a-z 0-9 -`, starting and ending with a letter or digit.
pub fn check_dns_label(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err(format!("{s:?} must be 1 to 63 characters"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("{s:?} may use only a-z 0-9 -"));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(format!("{s:?} must start and end with a letter or digit"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_labels() {
        for (s, k, v) in [
            ("stepup.dev/exempt=true", "stepup.dev/exempt", "true"),
            ("exempt=yes", "exempt", "yes"),
            ("a.b-c.example/x_y.z=A-1", "a.b-c.example/x_y.z", "A-1"),
        ] {
            let l = parse(s).unwrap();
            assert_eq!((l.key.as_str(), l.value.as_str()), (k, v), "{s}");
            assert_eq!(l.to_string(), s);
        }
    }

    #[test]
    fn bad_labels_say_why() {
        for (s, why) in [
            ("stepup.dev/exempt", "expected KEY=VALUE"),
            ("stepup.dev/exempt=", "the value is empty"),
            ("=true", "has no name part"),
            ("Bad_Prefix/x=true", "prefix"),
            ("stepup.dev/=true", "no name part"),
            ("k=has space", "may use only"),
            ("k=-x", "must start and end"),
            (&format!("k={}", "v".repeat(64)), "longer than 63"),
            (&format!("{}=v", "k".repeat(64)), "longer than 63"),
            ("a/b/c=v", "may use only"),
        ] {
            let e = parse(s).unwrap_err();
            assert!(e.contains(why), "{s:?}: {e}");
            assert!(e.starts_with(&format!("{s:?}")), "{e}");
        }
    }

    #[test]
    fn namespaces() {
        assert!(check_dns_label("stepup-system").is_ok());
        for bad in ["", "Stepup", "-a", "a-", "a.b", &"a".repeat(64)] {
            assert!(check_dns_label(bad).is_err(), "{bad:?}");
        }
    }
}
