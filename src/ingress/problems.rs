//! What the loader reports instead of stopping: every file or object it
//! cannot read, every reused name, every converted removed API and every
//! GitOps variable without a value, each located at `file:line`.
//!
//! `stepup lint` turns each into a finding (SU023, SU024, SU026, SU027) so
//! that it appears in every output format; the other commands print them
//! and refuse to answer on partial input ([`super::Loaded::strict`]).

use std::path::Path;

use super::Origin;
use crate::error::InputError;

/// What kind of problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// A file or object that cannot be read (lint: SU023, an error).
    Unreadable,
    /// An Ingress `namespace/name` defined again (lint: SU024): the later
    /// object is not modelled. `kustomize` is the nearest directory above
    /// either occurrence holding a kustomization file.
    Duplicate {
        /// Where the name was first defined.
        first: Origin,
        /// A kustomize root above either occurrence.
        kustomize: Option<String>,
    },
    /// An Ingress of a removed API version, converted to
    /// `networking.k8s.io/v1` in memory (lint: SU026).
    RemovedApi,
    /// A GitOps `${var}` with no value and no default (lint: SU027).
    Unresolved {
        /// The expression as written (`${domain}`).
        expression: String,
    },
}

/// One problem with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// Where (line 0: the whole file).
    pub origin: Origin,
    /// The column, for a syntax error.
    pub column: Option<u32>,
    /// Namespace of the object, when known (`""` otherwise).
    pub namespace: String,
    /// Name of the object, when known (`""` otherwise).
    pub name: String,
    /// What is wrong, without the `file:line:` prefix.
    pub message: String,
    /// What to do about it (may be empty).
    pub hint: String,
}

impl Problem {
    /// A problem that makes the run's answer incomplete (unreadable input,
    /// an object not modelled because its name is taken).
    pub fn is_error(&self) -> bool {
        matches!(
            self.kind,
            ProblemKind::Unreadable | ProblemKind::Duplicate { .. }
        )
    }

    /// `file:line: message (hint)`, as printed on stderr.
    pub fn to_line(&self) -> String {
        let at = match (self.origin.line, self.column) {
            (0, _) => self.origin.file.to_string(),
            (_, Some(c)) => format!("{}:{c}", self.origin),
            (_, None) => self.origin.to_string(),
        };
        if self.hint.is_empty() {
            format!("{at}: {}", self.message)
        } else {
            format!("{at}: {} ({})", self.message, self.hint)
        }
    }

    /// Unreadable input from a located error of the loader; `file` is the
    /// name the error was made with, so its `file:line:` prefix is split
    /// off exactly. Each of the error's messages is one problem.
    pub fn unreadable(file: &str, e: &InputError, namespace: &str, name: &str) -> Vec<Problem> {
        e.messages()
            .map(|m| {
                let (line, column, message) = split_located(file, m);
                Problem {
                    kind: ProblemKind::Unreadable,
                    origin: Origin {
                        file: file.into(),
                        line,
                    },
                    column,
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    message,
                    hint: String::new(),
                }
            })
            .collect()
    }
}

/// `file:12: msg` → `(12, None, "msg")`; `file:3:7: msg` (a syntax
/// error) → `(3, Some(7), "msg")`; `file: msg` → `(0, None, "msg")`.
/// Anything else is kept whole at line 0.
fn split_located(file: &str, m: &str) -> (u32, Option<u32>, String) {
    let Some(rest) = m.strip_prefix(file).and_then(|r| r.strip_prefix(':')) else {
        return (0, None, m.to_string());
    };
    let number = |s: &str| -> Option<(u32, String)> {
        let (n, tail) = s.split_once(':')?;
        let n: u32 = n.parse().ok()?;
        Some((n, tail.trim_start().to_string()))
    };
    match number(rest) {
        Some((line, tail)) => match number(&tail) {
            Some((col, msg)) => (line, Some(col), msg),
            None => (line, None, tail),
        },
        None => (0, None, rest.trim_start().to_string()),
    }
}

/// The hint for unreadable input of a file that holds `{{`: a Helm
/// template, which is not a manifest until rendered.
pub const HELM_HINT: &str = "The file holds `{{`: if it is a Helm template, render it first, \
`helm template RELEASE CHART | stepup lint -p POLICY -`";

/// Names of a kustomize root's file (`kubectl kustomize` looks for these).
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The nearest directory above `file` (a path as given; `-` has none)
/// that holds a kustomization file.
pub fn kustomize_root(file: &str) -> Option<String> {
    if file == "-" || file.starts_with('(') {
        return None;
    }
    Path::new(file)
        .ancestors()
        .skip(1)
        .filter(|d| !d.as_os_str().is_empty())
        .find(|d| KUSTOMIZATION_FILES.iter().any(|k| d.join(k).is_file()))
        .map(|d| d.display().to_string())
}

/// The SU024 problem for a second definition of `key` at `at`.
pub fn duplicate(key: &str, namespace: &str, name: &str, at: Origin, first: Origin) -> Problem {
    let kustomize = kustomize_root(&at.file).or_else(|| kustomize_root(&first.file));
    let hint = match &kustomize {
        Some(dir) => format!(
            "{dir} is a kustomize root: lint what it builds, `kubectl kustomize {dir} | stepup lint -p POLICY -`."
        ),
        None => "Pass each object once, or lint each file as its own cluster with `--each-file`."
            .to_string(),
    };
    Problem {
        message: format!(
            "Ingress {key} is defined again (first at {first}): only one object of that name can exist in a cluster, so this one is not modelled and its routes are not checked"
        ),
        kind: ProblemKind::Duplicate { first, kustomize },
        origin: at,
        column: None,
        namespace: namespace.to_string(),
        name: name.to_string(),
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn located_messages_are_split_exactly() {
        assert_eq!(
            split_located("a:b.yaml", "a:b.yaml:12: Ingress x: bad"),
            (12, None, "Ingress x: bad".to_string())
        );
        assert_eq!(
            split_located("f.yaml", "f.yaml:3:7: invalid YAML/JSON: oops"),
            (3, Some(7), "invalid YAML/JSON: oops".to_string())
        );
        assert_eq!(
            split_located("f.yaml", "f.yaml: cannot read: denied"),
            (0, None, "cannot read: denied".to_string())
        );
        assert_eq!(split_located("f", "other"), (0, None, "other".to_string()));
        // Printed back exactly as the error was.
        let e = InputError::at("f.yaml", 3, "x");
        assert_eq!(
            Problem::unreadable("f.yaml", &e, "", "")[0].to_line(),
            "f.yaml:3: x"
        );
        let e = InputError {
            primary: "f.yaml:3:7: invalid YAML/JSON: oops".into(),
            extra: Vec::new(),
        };
        assert_eq!(
            Problem::unreadable("f.yaml", &e, "", "")[0].to_line(),
            "f.yaml:3:7: invalid YAML/JSON: oops"
        );
    }
}
