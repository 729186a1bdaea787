//! Findings and the rule catalog: the one diagnostic type every command
//! reports (`lint`, `audit`, `/validate`) and every renderer writes, and
//! the stable rule IDs (`SU001`…) the policy's exemptions and
//! `stepup.dev/ignore` name. A leaf of the module graph: it depends on
//! nothing of stepup, so the policy can check a rule ID without depending
//! on the rules that produce findings.

mod catalog;

use std::fmt;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Informational.
    Note,
    /// Should be fixed.
    Warning,
    /// Exposes or breaks a protected route.
    Error,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lint rule's fixed description.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    /// Stable ID, `SU001`.
    pub id: &'static str,
    /// Short kebab-case name.
    pub name: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// One line: what it catches.
    pub summary: &'static str,
    /// `stepup explain` text: what, why (CVE or incident), how to fix.
    pub explain: &'static str,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Rule ID.
    pub rule: &'static str,
    /// Severity.
    pub severity: Severity,
    /// What is wrong, in a sentence.
    pub message: String,
    /// File.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// Namespace of the Ingress.
    pub namespace: String,
    /// Name of the Ingress.
    pub ingress: String,
    /// Host concerned (`""` when none).
    pub host: String,
    /// Path concerned (`""` when none).
    pub path: String,
    /// How to fix it.
    pub fix: String,
}

/// Every rule, in ID order.
pub fn rules() -> &'static [RuleInfo] {
    catalog::RULES
}

/// A rule by ID (case-insensitive) or name.
pub fn rule(id: &str) -> Option<&'static RuleInfo> {
    catalog::RULES
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(id) || r.name == id)
}
