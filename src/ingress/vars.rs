//! GitOps variables: Flux's post-build substitution (`${var}`,
//! `${var:-default}`, `${var:=default}`, `$${var}` for a literal `${var}`),
//! applied to an Ingress object before it is built.
//!
//! Flux substitutes the variables of a `kustomize.toolkit.fluxcd.io`
//! Kustomization's `spec.postBuild.substitute` (and of the ConfigMaps and
//! Secrets of `substituteFrom`) in the built manifests; an undefined
//! variable without a default becomes the empty string, or fails the build
//! with `StrictPostBuildSubstitutions` (fluxcd.io, "Kustomization",
//! "Post build variable substitution"). stepup takes the values of `--var
//! NAME=VALUE` and of every such Kustomization found among the inputs
//! (`substituteFrom` is not read: a note says so). A variable without a
//! value is not guessed: hosts and paths get a stand-in that cannot be a
//! real name (`var-<name>`, hosts under `.invalid`), other fields keep the
//! text as written, and lint reports it (SU027).
//!
//! Cost: a file is only walked when its text contains `${` (one byte scan
//! per file), and then only strings holding `${` are rewritten.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// Annotation or label with which Flux skips substitution of an object.
const DISABLE: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// Variable values by name.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: HashMap<String, String>,
    /// Substitution is on for every field: a value was given, or a Flux
    /// Kustomization with `postBuild` is among the inputs (Flux substitutes
    /// nothing without one). Otherwise only hosts and paths, which cannot
    /// hold `${` as written, are substituted; an annotation's `${host}` is
    /// then nginx's own variable syntax and stays.
    active: bool,
}

impl Vars {
    /// The values given (later ones win).
    pub fn new(values: impl IntoIterator<Item = (String, String)>) -> Vars {
        let values: HashMap<String, String> = values.into_iter().collect();
        Vars {
            active: !values.is_empty(),
            values,
        }
    }

    /// Substitute in every field (a Flux `postBuild` was found).
    pub fn activate(&mut self) {
        self.active = true;
    }

    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Add `values` for the names not set yet.
    pub fn add_missing(&mut self, values: BTreeMap<String, String>) {
        for (k, v) in values {
            self.values.entry(k).or_insert(v);
        }
    }
}

/// The field a stand-in was written into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// A rule's host (or a `spec.tls` host).
    Host,
    /// A rule path.
    Path,
}

/// A host or path that holds a variable without a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// Host or path.
    pub field: Field,
    /// What stepup models instead (hosts lower-cased, as routing sees them).
    pub stand_in: String,
    /// The text as written.
    pub original: String,
    /// The expressions without a value (`${domain}`).
    pub expressions: Vec<String>,
}

/// What substituting one object found.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    /// Hosts and paths that kept a variable.
    pub placeholders: Vec<Placeholder>,
    /// Each expression without a value, with the pointer of its first use
    /// and the text it was found in.
    pub unresolved: Vec<(String, String, String)>,
}

/// Substitute the variables in every string of `value` (an Ingress).
pub(super) fn substitute(value: &mut Value, vars: &Vars) -> Outcome {
    let mut out = Outcome::default();
    let disabled = ["annotations", "labels"].iter().any(|k| {
        value
            .get("metadata")
            .and_then(|m| m.get(k))
            .and_then(|m| m.get(DISABLE))
            .and_then(Value::as_str)
            == Some("disabled")
    });
    if !disabled {
        walk(value, &mut Vec::new(), vars, &mut out);
    }
    out
}

/// One step of the path to a value (kept as borrowed keys; the JSON
/// pointer is only built for a string that holds `${`).
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn pointer_of(path: &[Seg<'_>]) -> String {
    let mut p = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                p.push('/');
                p.push_str(&crate::source::escape_token(k));
            }
            Seg::Index(i) => p.push_str(&format!("/{i}")),
        }
    }
    p
}

fn walk<'a>(v: &'a mut Value, path: &mut Vec<Seg<'a>>, vars: &Vars, out: &mut Outcome) {
    match v {
        Value::String(s) if s.contains("${") => {
            let pointer = pointer_of(path);
            let field = field_of(&pointer);
            if field.is_none() && !vars.active {
                return;
            }
            let e = expand(s, vars, field);
            for (expr, _) in &e.unresolved {
                if !out.unresolved.iter().any(|(x, _, _)| x == expr) {
                    out.unresolved
                        .push((expr.clone(), pointer.clone(), s.clone()));
                }
            }
            if let (Some(field), false) = (field, e.unresolved.is_empty()) {
                let stand_in = match field {
                    Field::Host => e.text.to_ascii_lowercase(),
                    Field::Path => e.text.clone(),
                };
                out.placeholders.push(Placeholder {
                    field,
                    stand_in,
                    original: s.clone(),
                    expressions: e.unresolved.into_iter().map(|(x, _)| x).collect(),
                });
            }
            *s = e.text;
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                walk(item, path, vars, out);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                path.push(Seg::Key(k));
                walk(item, path, vars, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Whether the string at `pointer` is a host or a path of the Ingress.
fn field_of(pointer: &str) -> Option<Field> {
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    let index = |s: &str| s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty();
    match parts.as_slice() {
        ["spec", "rules", i, "host"] if index(i) => Some(Field::Host),
        ["spec", "tls", i, "hosts", j] if index(i) && index(j) => Some(Field::Host),
        ["spec", "rules", i, "http", "paths", j, "path"] if index(i) && index(j) => {
            Some(Field::Path)
        }
        _ => None,
    }
}

/// A string with its variables substituted.
struct Expanded {
    text: String,
    /// `(expression as written, variable name)` of each one without a value.
    unresolved: Vec<(String, String)>,
}

/// Substitute every `${…}` of `s`. Without a value, a host or path gets
/// the stand-in `var-<name>` (a host then ends in `.invalid`), any other
/// field keeps the expression as written.
fn expand(s: &str, vars: &Vars, field: Option<Field>) -> Expanded {
    let mut e = Expanded {
        text: String::with_capacity(s.len()),
        unresolved: Vec::new(),
    };
    expand_into(s, vars, field, &mut e);
    if field == Some(Field::Host) && !e.unresolved.is_empty() {
        e.text.push_str(".invalid");
    }
    e
}

fn expand_into(s: &str, vars: &Vars, field: Option<Field>, e: &mut Expanded) {
    let mut i = 0;
    while let Some(k) = s[i..].find('$') {
        let at = i + k;
        e.text.push_str(&s[i..at]);
        let rest = &s[at..];
        if rest.starts_with("$${") {
            // Flux's escape: `$${var}` is the literal `${var}`.
            e.text.push_str("${");
            i = at + 3;
        } else if rest.starts_with("${") {
            let Some(end) = close(s, at + 2) else {
                e.text.push_str(rest);
                return;
            };
            evaluate(&s[at..=end], &s[at + 2..end], vars, field, e);
            i = end + 1;
        } else {
            e.text.push('$');
            i = at + 1;
        }
    }
    e.text.push_str(&s[i..]);
}

/// The index of the `}` closing the `${` whose body starts at `from`.
fn close(s: &str, from: usize) -> Option<usize> {
    let b = s.as_bytes();
    let (mut depth, mut i) = (1usize, from);
    while i < b.len() {
        if b[i] == b'$' && b.get(i + 1) == Some(&b'{') {
            depth += 1;
            i += 2;
            continue;
        }
        if b[i] == b'}' {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

/// One `${body}` (`whole` as written).
fn evaluate(whole: &str, body: &str, vars: &Vars, field: Option<Field>, e: &mut Expanded) {
    let name_len = body
        .bytes()
        .enumerate()
        .take_while(|&(i, b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()))
        .count();
    let (name, op) = body.split_at(name_len);
    let value = vars.get(name).filter(|_| !name.is_empty());
    let default = match op {
        "" => None,
        _ if op.starts_with(":-") || op.starts_with(":=") => {
            match value.filter(|v| !v.is_empty()) {
                Some(v) => return e.text.push_str(v),
                None => Some(&op[2..]),
            }
        }
        _ if op.starts_with('-') || op.starts_with('=') => match value {
            Some(v) => return e.text.push_str(v),
            None => Some(&op[1..]),
        },
        // `${var:offset}`, `${var/a/b}`, …: not evaluated.
        _ => return unresolved(whole, name, field, e),
    };
    match (value, default) {
        (Some(v), None) => e.text.push_str(v),
        (_, Some(d)) => expand_into(d, vars, field, e),
        (None, None) => unresolved(whole, name, field, e),
    }
}

fn unresolved(whole: &str, name: &str, field: Option<Field>, e: &mut Expanded) {
    match field {
        Some(_) => e.text.push_str(&stand_in(name)),
        None => e.text.push_str(whole),
    }
    e.unresolved.push((whole.to_string(), name.to_string()));
}

/// `var-<name>` as one DNS label (lower case, `_` as `-`, at most 63 bytes).
fn stand_in(name: &str) -> String {
    let mut s = String::from("var-");
    s.extend(name.chars().map(|c| match c {
        'a'..='z' | '0'..='9' => c,
        'A'..='Z' => c.to_ascii_lowercase(),
        _ => '-',
    }));
    let mut s = s.trim_end_matches('-').to_string();
    s.truncate(63);
    s
}

/// The `spec.postBuild.substitute` values of the Flux Kustomizations in
/// `files` (only files naming `kustomize.toolkit.fluxcd.io` are parsed),
/// and notes: each `substituteFrom` not read, each conflicting value.
pub fn from_flux(files: &[(String, String)]) -> Flux {
    let mut flux = Flux::default();
    for (file, text) in files {
        if !text.contains("kustomize.toolkit.fluxcd.io") {
            continue;
        }
        // A file that does not parse is reported by the main pass.
        let Ok(docs) = crate::source::parse_documents(text) else {
            continue;
        };
        for d in docs {
            flux_kustomization(file, &d, &mut flux);
        }
    }
    flux
}

/// What the Flux Kustomizations among the inputs say.
#[derive(Debug, Default)]
pub struct Flux {
    /// `spec.postBuild.substitute` values (the first of each name).
    pub values: BTreeMap<String, String>,
    /// What was not read, and conflicting values.
    pub notes: Vec<String>,
    /// A Kustomization has `spec.postBuild`: Flux substitutes.
    pub active: bool,
}

fn flux_kustomization(file: &str, d: &crate::source::Document, flux: &mut Flux) {
    let v = &d.value;
    let api = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if v.get("kind").and_then(Value::as_str) != Some("Kustomization")
        || !api.starts_with("kustomize.toolkit.fluxcd.io/")
    {
        return;
    }
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    flux.active |= v.pointer("/spec/postBuild").is_some();
    let at = format!("{file}:{}", d.line);
    if let Some(from) = v
        .pointer("/spec/postBuild/substituteFrom")
        .and_then(Value::as_array)
    {
        let refs: Vec<String> = from
            .iter()
            .map(|r| {
                let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("?");
                format!("{} {}", s("kind"), s("name"))
            })
            .collect();
        flux.notes.push(format!(
            "{at}: Flux Kustomization {name}: spec.postBuild.substituteFrom ({}) is not read; give those values with --var NAME=VALUE",
            refs.join(", ")
        ));
    }
    let Some(map) = v
        .pointer("/spec/postBuild/substitute")
        .and_then(Value::as_object)
    else {
        return;
    };
    for (k, val) in map {
        let val = match val {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match flux.values.get(k) {
            Some(prev) if *prev != val => flux.notes.push(format!(
                "{at}: Flux Kustomization {name} sets {k}={val:?}, another one {prev:?}: stepup uses the first (pass --var {k}=VALUE to choose)"
            )),
            Some(_) => {}
            None => {
                flux.values.insert(k.clone(), val);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn text(s: &str, v: &Vars, field: Option<Field>) -> (String, usize) {
        let e = expand(s, v, field);
        (e.text, e.unresolved.len())
    }

    #[test]
    fn forms_of_substitution() {
        let v = vars(&[("domain", "example.com"), ("empty", "")]);
        assert_eq!(
            text("app.${domain}", &v, None),
            ("app.example.com".into(), 0)
        );
        assert_eq!(text("${nope:-d.io}", &v, None), ("d.io".into(), 0));
        assert_eq!(text("${nope:=d.io}", &v, None), ("d.io".into(), 0));
        assert_eq!(text("${empty:-d}", &v, None), ("d".into(), 0));
        assert_eq!(text("${empty-d}", &v, None), ("".into(), 0));
        assert_eq!(
            text("${nope:-${domain}}", &v, None),
            ("example.com".into(), 0)
        );
        assert_eq!(text("$${domain} $x", &v, None), ("${domain} $x".into(), 0));
        assert_eq!(text("${nope}", &v, None), ("${nope}".into(), 1));
        // Not active (no value given, no Flux postBuild): other fields stay.
        let mut plain = Value::from("${host}");
        walk(
            &mut plain,
            &mut Vec::new(),
            &Vars::default(),
            &mut Outcome::default(),
        );
        assert_eq!(plain, "${host}");
        assert_eq!(text("${domain:0:3}", &v, None), ("${domain:0:3}".into(), 1));
        assert_eq!(
            text("unterminated ${x", &v, None),
            ("unterminated ${x".into(), 0)
        );
    }

    #[test]
    fn hosts_and_paths_get_stand_ins() {
        let v = Vars::default();
        assert_eq!(
            text("app.${Base_Domain}", &v, Some(Field::Host)),
            ("app.var-base-domain.invalid".into(), 1)
        );
        assert_eq!(
            text("${sub}.example.com", &v, Some(Field::Host)),
            ("var-sub.example.com.invalid".into(), 1)
        );
        assert_eq!(
            text("/${prefix}/admin", &v, Some(Field::Path)),
            ("/var-prefix/admin".into(), 1)
        );
    }

    #[test]
    fn fields_are_recognised() {
        assert_eq!(field_of("/spec/rules/0/host"), Some(Field::Host));
        assert_eq!(field_of("/spec/tls/1/hosts/0"), Some(Field::Host));
        assert_eq!(
            field_of("/spec/rules/2/http/paths/3/path"),
            Some(Field::Path)
        );
        assert_eq!(field_of("/metadata/annotations/x"), None);
    }
}
