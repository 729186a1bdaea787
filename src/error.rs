//! Input errors: "could not do the job" (unreadable file, YAML syntax,
//! invalid policy), as opposed to findings and decisions, which are values.
//! Every error names the file and line; the CLI maps them to exit code 2.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::source::{Document, SyntaxError};

/// A problem with an input file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The first problem, `file:line: message`.
    pub primary: String,
    /// Further problems found in the same pass.
    pub extra: Vec<String>,
}

impl InputError {
    /// An error at `file:line`.
    pub fn at(file: &str, line: u32, msg: impl fmt::Display) -> InputError {
        InputError {
            primary: format!("{file}:{line}: {msg}"),
            extra: Vec::new(),
        }
    }

    /// An error about a whole file (unreadable, too large).
    pub fn file(file: &str, msg: impl fmt::Display) -> InputError {
        InputError {
            primary: format!("{file}: {msg}"),
            extra: Vec::new(),
        }
    }

    /// A YAML/JSON syntax error.
    pub fn syntax(file: &str, e: &SyntaxError) -> InputError {
        InputError {
            primary: format!(
                "{file}:{}:{}: invalid YAML/JSON: {}",
                e.line, e.column, e.message
            ),
            extra: Vec::new(),
        }
    }

    /// Many errors as one: the first is primary, every line of the
    /// others (their own extra lines too) follows; `None` for none.
    pub fn merge(errors: impl IntoIterator<Item = InputError>) -> Option<InputError> {
        let mut it = errors.into_iter();
        let mut first = it.next()?;
        for e in it {
            first.extra.extend(e.messages().map(str::to_string));
        }
        Some(first)
    }

    /// All messages, first one first.
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.primary.as_str()).chain(self.extra.iter().map(String::as_str))
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.primary)?;
        for e in &self.extra {
            write!(f, "\n{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

/// `/spec/rules/1/level` → `spec.rules[1].level`.
pub fn pointer_to_field(pointer: &str) -> String {
    let mut out = String::new();
    for tok in pointer.split('/').skip(1) {
        let tok = tok.replace("~1", "/").replace("~0", "~");
        if !tok.is_empty() && tok.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{tok}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&tok);
        }
    }
    out
}

/// Deserialize a document into `T`; a type error names the field and the
/// line it is on.
pub fn deserialize<T: DeserializeOwned>(file: &str, doc: &Document) -> Result<T, InputError> {
    serde_path_to_error::deserialize(&doc.value).map_err(|e| {
        let mut pointer = String::new();
        for seg in e.path().iter() {
            use serde_path_to_error::Segment;
            match seg {
                Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
                Segment::Map { key } => {
                    pointer.push('/');
                    pointer.push_str(&crate::source::escape_token(key));
                }
                Segment::Enum { .. } | Segment::Unknown => {}
            }
        }
        let line = doc.lines.line_of(&pointer).unwrap_or(doc.line);
        let field = pointer_to_field(&pointer);
        let inner = e.inner().to_string();
        if field.is_empty() {
            InputError::at(file, line, inner)
        } else {
            InputError::at(file, line, format!("{field}: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(
            pointer_to_field("/spec/rules/1/level"),
            "spec.rules[1].level"
        );
        assert_eq!(
            pointer_to_field("/metadata/annotations/nginx.ingress.kubernetes.io~1use-regex"),
            "metadata.annotations.nginx.ingress.kubernetes.io/use-regex"
        );
    }
}
