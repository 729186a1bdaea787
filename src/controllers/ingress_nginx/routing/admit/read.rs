//! How a parser reads one annotation: `parser.checkAnnotation` (alias,
//! validator) and then `parseBool`, `parseInt` or `parseString`
//! (`annotations/parser/main.go`, `validators.go`), with the errors of
//! `internal/ingress/errors`. The reader remembers, per annotation, the
//! value the parser got (canonical: `true`/`false`, the trimmed string) or
//! why it got none, so admission can rewrite the Ingress's map.

use std::collections::BTreeMap;

use super::super::annotations_table::{Kind, atoi, spec};
use super::super::settings::parse_bool;

/// An error of `parser.Get*Annotation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnErr {
    /// `errors.ErrMissingAnnotations`: not set (or the Ingress has none).
    Missing,
    /// `errors.ValidationError`: the validator rejected the value; the full
    /// annotation name.
    Validation(String),
    /// `errors.InvalidContentError` (not a boolean, not an integer, empty
    /// once trimmed); the controller's message.
    Content(String),
}

impl AnnErr {
    /// The controller's message (`Error()`).
    pub fn message(&self) -> String {
        match self {
            AnnErr::Missing => "ingress rule without annotations".into(),
            AnnErr::Validation(full) => format!("annotation {full} contains invalid value"),
            AnnErr::Content(m) => m.clone(),
        }
    }

    /// Whether it is a `ValidationError`.
    pub fn is_validation(&self) -> bool {
        matches!(self, AnnErr::Validation(_))
    }
}

/// The annotations of one Ingress as the parsers see them.
pub struct Reader<'a> {
    anns: &'a BTreeMap<String, String>,
    prefix: String,
    validate: bool,
    /// The Ingress's namespace.
    pub namespace: &'a str,
    /// `allow-cross-namespace-resources`.
    pub allow_cross: bool,
    /// Name after the prefix → the value the parser used (`Some`), or
    /// `None` with the reason in `unused`.
    pub values: BTreeMap<String, Option<String>>,
    /// Name after the prefix → why the controller does not use its value.
    pub unused: BTreeMap<String, String>,
}

/// `normalizeString`: every line trimmed.
pub fn normalize(v: &str) -> String {
    v.split('\n').map(str::trim).collect::<Vec<_>>().join("\n")
}

impl<'a> Reader<'a> {
    /// A reader of `anns` for annotations under `prefix` (`<p>/`).
    pub fn new(
        anns: &'a BTreeMap<String, String>,
        prefix: String,
        validate: bool,
        namespace: &'a str,
        allow_cross: bool,
    ) -> Reader<'a> {
        Reader {
            anns,
            prefix,
            validate,
            namespace,
            allow_cross,
            values: BTreeMap::new(),
            unused: BTreeMap::new(),
        }
    }

    /// `checkAnnotation`: the full name read (the alias's when the name's
    /// value is empty and the alias's is not), after the validator.
    fn check(&self, name: &str) -> Result<String, AnnErr> {
        if self.anns.is_empty() {
            return Err(AnnErr::Missing);
        }
        let Some(sp) = spec(name) else {
            return Err(AnnErr::Missing);
        };
        let mut full = format!("{}{name}", self.prefix);
        let mut value = self.anns.get(&full).map_or("", String::as_str);
        if value.is_empty() {
            if let Some(alias) = sp.alias {
                let af = format!("{}{alias}", self.prefix);
                if let Some(v) = self.anns.get(&af).filter(|v| !v.is_empty()) {
                    value = v;
                    full = af;
                }
            }
        }
        if self.validate && !value.is_empty() && !sp.validator.accepts(value) {
            return Err(AnnErr::Validation(full));
        }
        Ok(full)
    }

    /// Read `name` as its parser does (by the validator's kind): the value
    /// in canonical form. Records what the parser got.
    pub fn read(&mut self, name: &str) -> Result<String, AnnErr> {
        let kind = spec(name).map_or(Kind::Str, |s| s.validator.kind());
        let got = self.check(name).and_then(|full| {
            let raw = self.anns.get(&full).ok_or(AnnErr::Missing)?;
            let content = || {
                AnnErr::Content(format!(
                    "the annotation {full} does not contain a valid value ({raw})"
                ))
            };
            let v = match kind {
                Kind::Bool => parse_bool(raw).map(|b| b.to_string()).ok_or_else(content)?,
                Kind::Int => atoi(raw).map(|i| i.to_string()).ok_or_else(content)?,
                Kind::Str => Some(normalize(raw))
                    .filter(|s| !s.is_empty())
                    .ok_or_else(content)?,
            };
            Ok((full, v))
        });
        match got {
            Ok((full, v)) => {
                let short = full.strip_prefix(&self.prefix).unwrap_or(&full).to_string();
                self.values.insert(short, Some(v.clone()));
                Ok(v)
            }
            Err(e) => {
                if e != AnnErr::Missing {
                    self.reject(name, e.message());
                }
                Err(e)
            }
        }
    }

    /// `GetStringAnnotation`.
    pub fn str(&mut self, name: &str) -> Result<String, AnnErr> {
        self.read(name)
    }

    /// `GetBoolAnnotation`.
    pub fn bool(&mut self, name: &str) -> Result<bool, AnnErr> {
        self.read(name).map(|v| v == "true")
    }

    /// `GetIntAnnotation`.
    pub fn int(&mut self, name: &str) -> Result<i64, AnnErr> {
        self.read(name).map(|v| atoi(&v).unwrap_or(0))
    }

    /// Read and ignore the outcome (the parser falls back to a default).
    pub fn soft(&mut self, names: &[&str]) {
        for n in names {
            let _ = self.read(n);
        }
    }

    /// The parser does not use `name`'s value (falls back to its default).
    pub fn reject(&mut self, name: &str, why: String) {
        self.values.insert(name.to_string(), None);
        self.unused.insert(name.to_string(), why);
    }
}
