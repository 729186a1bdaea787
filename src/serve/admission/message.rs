//! What a person reads: the deny message and the warnings.
//!
//! The API server prefixes a deny with `admission webhook "<name>" denied
//! the request: ` and kubectl with `Error from server (Forbidden): error
//! when creating "<file>": ` (testdata/admission/kubectl-deny-output.txt),
//! so the message starts with what is wrong: rule ID, where (host and
//! path), what, the fix, and the `stepup generate` command that writes the
//! fix. Warnings are shown by kubectl as `Warning: <text>`, one per line;
//! the API server advises at most 120 characters each and truncates long
//! or many ones, so each is clipped and their number bounded.

use crate::lint::Finding;

/// Longest warning, in characters (the API server's advice).
pub const MAX_WARNING_CHARS: usize = 120;
/// Most warnings per response; the last one says how many were left out.
pub const MAX_WARNINGS: usize = 6;
/// Errors spelled out in a deny message; the rest are counted.
pub const MAX_DENY_FINDINGS: usize = 3;

/// Whether the object exists yet (the `generate` command differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// CREATE: the manifest is on the user's side.
    Create,
    /// UPDATE: the object is in the cluster.
    Update,
}

/// `host/path`, `host`, or the Ingress when the finding has neither.
pub fn place(f: &Finding) -> String {
    match (f.host.as_str(), f.path.as_str()) {
        ("", "") => format!("Ingress {}/{}", f.namespace, f.ingress),
        (h, "") => format!("host {h}"),
        ("", p) => format!("path {p}"),
        (h, p) => format!("{h}{p}"),
    }
}

/// The `stepup generate` command that writes the fix for Ingress
/// `namespace/name`, with the policy file's name.
pub fn generate_command(policy_file: &str, namespace: &str, name: &str, stage: Stage) -> String {
    let policy = std::path::Path::new(policy_file)
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .unwrap_or("policy.yaml");
    match stage {
        Stage::Create => {
            format!(
                "stepup generate -p {policy} <manifest of {namespace}/{name}> | kubectl apply -f -"
            )
        }
        Stage::Update => format!(
            "kubectl get ingress {name} -n {namespace} -o yaml | stepup generate -p {policy} - | kubectl apply -f -"
        ),
    }
}

/// One deny message for the error findings (at least one), on one line.
pub fn deny_message(errors: &[&Finding], generate: &str) -> String {
    let mut out = String::new();
    if errors.len() > 1 {
        out.push_str(&format!("{} errors. ", errors.len()));
    }
    for (i, f) in errors.iter().take(MAX_DENY_FINDINGS).enumerate() {
        if errors.len() > 1 {
            out.push_str(&format!("[{}] ", i + 1));
        }
        // Lint's messages name the host (and path) themselves.
        let at = if !f.host.is_empty() && f.message.contains(&f.host) {
            String::new()
        } else {
            format!(" at {}", place(f))
        };
        out.push_str(&format!(
            "{}{at}: {}. Fix: {} ",
            f.rule,
            f.message.trim().trim_end_matches('.'),
            sentence(&f.fix)
        ));
    }
    if errors.len() > MAX_DENY_FINDINGS {
        let rest: Vec<&str> = errors[MAX_DENY_FINDINGS..].iter().map(|f| f.rule).collect();
        out.push_str(&format!("And {} more ({}). ", rest.len(), rest.join(", ")));
    }
    let rules: Vec<&str> = {
        let mut r: Vec<&str> = errors.iter().map(|f| f.rule).collect();
        r.dedup();
        r
    };
    out.push_str(&format!(
        "To fix: {generate}; `stepup lint` lists every finding, `stepup explain {}` says why.",
        rules.first().copied().unwrap_or("SU001")
    ));
    out
}

/// `s` trimmed, ending in a full stop.
fn sentence(s: &str) -> String {
    let s = s.trim();
    if s.ends_with(['.', '!', '?']) {
        s.to_string()
    } else {
        format!("{s}.")
    }
}

/// Clip `s` to `max` characters, ending in `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Warnings for findings, each `RULE place: message` clipped, at most
/// [`MAX_WARNINGS`] (the last then counts the rest).
pub fn warnings(findings: &[&Finding]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        if i + 1 == MAX_WARNINGS && findings.len() > MAX_WARNINGS {
            out.push(format!(
                "stepup: {} more warning(s); `stepup lint` lists them",
                findings.len() - i
            ));
            break;
        }
        let text = if !f.host.is_empty() && f.message.contains(&f.host) {
            format!("{}: {}", f.rule, f.message)
        } else {
            format!("{} {}: {}", f.rule, place(f), f.message)
        };
        out.push(clip(&text, MAX_WARNING_CHARS));
    }
    out
}
