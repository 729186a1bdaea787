//! The written documents: names of the parts, annotations and TLS entries
//! of a value, the Service an auth URL names, and the YAML output.

use serde_json::{Map, Value, json};

use super::{DEFAULT_NAMESPACE, DEFAULT_PORT, MAX_NAME};
use crate::error::InputError;

pub(super) fn rename(v: &mut Value, name: &str) {
    if let Some(m) = v.as_object_mut() {
        m.shift_remove("status");
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("name".into(), Value::from(name));
            for k in [
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "managedFields",
                "selfLink",
            ] {
                meta.shift_remove(k);
            }
            if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                a.shift_remove("kubectl.kubernetes.io/last-applied-configuration");
            }
        }
    }
}

pub(super) fn with_annotations(v: &mut Value, f: impl FnOnce(&mut Map<String, Value>)) {
    let Some(obj) = v.as_object_mut() else { return };
    let meta = obj.entry("metadata").or_insert_with(|| json!({}));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let had = meta.get("annotations").is_some_and(Value::is_object);
    let mut a = match meta.get("annotations") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    f(&mut a);
    if had || !a.is_empty() {
        meta.insert("annotations".into(), Value::Object(a));
    }
}

/// `(hosts, secretName)` of each `spec.tls` entry.
pub(super) fn tls_entries(v: &Value) -> Vec<(Vec<String>, Option<String>)> {
    v.get("spec")
        .and_then(|s| s.get("tls"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|t| {
                    let hosts = t
                        .get("hosts")
                        .and_then(Value::as_array)
                        .map(|hs| {
                            hs.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_ascii_lowercase)
                                .collect()
                        })
                        .unwrap_or_default();
                    let secret = t
                        .get("secretName")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string);
                    (hosts, secret)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether TLS host `t` covers host `h` (as lint checks it).
pub(super) enum ClassRef {
    Spec(String),
    Annotation(String),
    None,
}

pub(super) fn class_ref(raw: &Value) -> ClassRef {
    if let Some(c) = raw
        .get("spec")
        .and_then(|s| s.get("ingressClassName"))
        .and_then(Value::as_str)
    {
        return ClassRef::Spec(c.to_string());
    }
    match raw
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get("kubernetes.io/ingress.class"))
        .and_then(Value::as_str)
    {
        Some(c) => ClassRef::Annotation(c.to_string()),
        None => ClassRef::None,
    }
}

/// Service name, namespace and port of `authService.url`:
/// `http://<svc>.<ns>.svc…:<port>` or `http://<svc>:<port>`.
pub(super) fn service_of(url: &str) -> (String, String, u16) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let hostport = rest.split(['/', '?']).next().unwrap_or("");
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, p.parse::<u16>().ok()),
        _ => (hostport, None),
    };
    let labels: Vec<&str> = host.split('.').collect();
    let default_port = if scheme == "https" { 443 } else { 80 };
    let cluster = match labels.as_slice() {
        [svc] => Some((*svc, DEFAULT_NAMESPACE)),
        [svc, ns] => Some((*svc, *ns)),
        [svc, ns, "svc", ..] => Some((*svc, *ns)),
        _ => None,
    };
    match cluster {
        Some((svc, ns)) if !svc.is_empty() && !ns.is_empty() => (
            svc.to_string(),
            ns.to_string(),
            port.unwrap_or(default_port),
        ),
        _ => (
            "stepup".into(),
            DEFAULT_NAMESPACE.into(),
            port.unwrap_or(DEFAULT_PORT),
        ),
    }
}

/// A level name as part of an object name.
pub(super) fn dns_label(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_string()
}

pub(super) fn part_name(name: &str, level: &str) -> String {
    fit_name(&format!("{name}-{}", dns_label(level)))
}

/// Cut a name to 253 characters, keeping it unique with a hash suffix.
pub(super) fn fit_name(name: &str) -> String {
    if name.len() <= MAX_NAME {
        return name.to_string();
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let keep = MAX_NAME - 9;
    let mut cut = name[..keep].trim_end_matches(['-', '.']).to_string();
    cut.push_str(&format!("-{:08x}", h as u32));
    cut
}

// === YAML ===

/// Strings a YAML 1.1 reader (kubectl's) would resolve to a bool, null,
/// number or timestamp when written plain. serde_yaml quotes by YAML 1.2
/// rules only, so these are wrapped in sentinels and quoted afterwards.
pub(super) fn yaml11_ambiguous(s: &str) -> bool {
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:+-~=<".contains(c))
    {
        return false;
    }
    let l = s.to_ascii_lowercase();
    matches!(
        l.as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~" | "=" | "<<"
    ) || s
        .trim_start_matches(['-', '+'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

pub(super) fn wrap(v: &Value, open: char, close: char) -> Value {
    let w = |s: &str| {
        if yaml11_ambiguous(s) {
            format!("{open}{s}{close}")
        } else {
            s.to_string()
        }
    };
    match v {
        Value::String(s) => Value::String(w(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| wrap(x, open, close)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (w(k), wrap(x, open, close)))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub(super) fn contains_char(v: &Value, c: char) -> bool {
    match v {
        Value::String(s) => s.contains(c),
        Value::Array(a) => a.iter().any(|x| contains_char(x, c)),
        Value::Object(m) => m.iter().any(|(k, x)| k.contains(c) || contains_char(x, c)),
        _ => false,
    }
}

/// Documents as one YAML stream.
pub(super) fn to_yaml(docs: &[Value]) -> Result<String, InputError> {
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        // Private-use sentinels that the document does not contain.
        let (open, close) = (0xE000u32..0xF8FE)
            .step_by(2)
            .filter_map(|c| Some((char::from_u32(c)?, char::from_u32(c + 1)?)))
            .find(|(a, b)| !contains_char(d, *a) && !contains_char(d, *b))
            .unwrap_or(('\u{E000}', '\u{E001}'));
        let text = serde_yaml::to_string(&wrap(d, open, close))
            .map_err(|e| InputError::file("generate", format!("cannot write YAML: {e}")))?;
        let mut fixed = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(a) = rest.find(open) {
            fixed.push_str(&rest[..a]);
            let after = &rest[a + open.len_utf8()..];
            let Some(b) = after.find(close) else {
                fixed.push(open);
                rest = after;
                continue;
            };
            fixed.push('\'');
            fixed.push_str(&after[..b]);
            fixed.push('\'');
            rest = &after[b + close.len_utf8()..];
        }
        fixed.push_str(rest);
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&fixed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml11_scalars_are_quoted() {
        let v =
            json!({"a": "on", "b": "yes", "c": "0755", "d": "2024-01-01", "e": "plain", "on": 1});
        let y = to_yaml(std::slice::from_ref(&v)).unwrap();
        assert!(y.contains("a: 'on'"), "{y}");
        assert!(y.contains("b: 'yes'"), "{y}");
        assert!(y.contains("c: '0755'"), "{y}");
        assert!(y.contains("d: '2024-01-01'"), "{y}");
        assert!(y.contains("e: plain"), "{y}");
        assert!(y.contains("'on': 1"), "{y}");
        let back = crate::source::parse_documents(&y).unwrap();
        assert_eq!(back[0].value, v);
    }

    #[test]
    fn service_from_url() {
        assert_eq!(
            service_of("http://stepup.auth.svc.cluster.local:8080"),
            ("stepup".into(), "auth".into(), 8080)
        );
        assert_eq!(
            service_of("http://stepup:9000"),
            ("stepup".into(), DEFAULT_NAMESPACE.into(), 9000)
        );
        assert_eq!(
            service_of("https://auth.example.com"),
            ("stepup".into(), DEFAULT_NAMESPACE.into(), DEFAULT_PORT)
        );
    }

    #[test]
    fn long_names_fit() {
        let n = fit_name(&format!("stepup-signin-{}", "a".repeat(300)));
        assert_eq!(n.len(), MAX_NAME);
        assert_ne!(n, fit_name(&format!("stepup-signin-{}", "a".repeat(301))));
        assert_eq!(dns_label("Admin_Plus"), "admin-plus");
    }
}
