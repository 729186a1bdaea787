//! The controller's own settings: its ConfigMap and the flags it runs with.
//!
//! Which Ingresses ingress-nginx drops, which locations it exempts from auth
//! and which auth it adds everywhere depend on settings outside the
//! Ingresses. [`Settings`] holds the ones the model uses, with the
//! controller's defaults (v1.15.1: `internal/ingress/controller/config/
//! config.go` `NewDefault`, `pkg/flags/flags.go` `ParseFlags`), read from
//! the ConfigMap as users have it (`--controller-config FILE`) or from the
//! policy's `spec.controller`. Keys the model does not use are listed in
//! [`Settings::unmodelled`], so a run can say they were not looked at.

use std::collections::BTreeMap;

use crate::error::InputError;
use crate::policy::ControllerSection;

/// ingress-nginx's default annotation prefix (`parser.DefaultAnnotationsPrefix`).
pub const DEFAULT_PREFIX: &str = "nginx.ingress.kubernetes.io";

/// Go's `strconv.ParseBool`, which ingress-nginx uses for every boolean
/// annotation (`parser.GetBoolAnnotation`) and ConfigMap key (`ReadConfig`,
/// mapstructure's weakly typed input).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// An annotation's risk (`parser.AnnotationRisk`), lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Risk {
    /// `Low`.
    Low,
    /// `Medium`.
    Medium,
    /// `High`.
    High,
    /// `Critical`.
    Critical,
}

impl Risk {
    /// `parser.StringRiskToRisk` (`annotations/parser/main.go`): matched
    /// case-insensitively (`strings.ToLower`); an unknown name counts as
    /// `Low`, which rejects every annotation above Low (a misspelt
    /// `Critical` drops every Ingress with an auth-url).
    pub fn from_name(s: &str) -> Risk {
        match s.to_lowercase().as_str() {
            "critical" => Risk::Critical,
            "high" => Risk::High,
            "medium" => Risk::Medium,
            _ => Risk::Low,
        }
    }

    /// `Low`, `Medium`, `High`, `Critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "Low",
            Risk::Medium => "Medium",
            Risk::High => "High",
            Risk::Critical => "Critical",
        }
    }
}

/// The ConfigMap's `global-auth-*` keys (`GlobalExternalAuth`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalAuth {
    /// `global-auth-url`.
    pub url: String,
    /// `global-auth-signin`.
    pub signin: Option<String>,
    /// `global-auth-response-headers`.
    pub response_headers: Option<String>,
    /// `global-auth-method`.
    pub method: Option<String>,
    /// `global-auth-snippet` (Critical risk on the Ingress side; here it is
    /// the platform's own).
    pub snippet: Option<String>,
}

/// The controller settings the model uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `annotations-risk-level` (default `High`).
    pub risk_level: Risk,
    /// `allow-snippet-annotations` (default false).
    pub allow_snippets: bool,
    /// `annotation-value-word-blocklist` as `store.go`
    /// `checkBadAnnotationValue` splits it: `strings.Split(strings.
    /// TrimSpace(v), ",")`, the words untrimmed and empty ones kept (an
    /// empty word is in every value); no words when the value is empty.
    pub word_blocklist: Vec<String>,
    /// `allow-cross-namespace-resources` (default false).
    pub allow_cross_namespace: bool,
    /// `no-auth-locations`, split on `,` (default
    /// `/.well-known/acme-challenge`).
    pub no_auth_locations: Vec<String>,
    /// `no-tls-redirect-locations`, split on `,` (default
    /// `/.well-known/acme-challenge`).
    pub no_tls_redirect_locations: Vec<String>,
    /// `global-auth-url` and friends, when set.
    pub global_auth: Option<GlobalAuth>,
    /// `strict-validate-path-type` (default true).
    pub strict_validate_path_type: bool,
    /// `ssl-redirect` (default true).
    pub ssl_redirect: bool,
    /// `force-ssl-redirect` (default false).
    pub force_ssl_redirect: bool,
    /// `--enable-annotation-validation` (default true).
    pub validate_annotations: bool,
    /// `--watch-ingress-without-class` (default false).
    pub watch_without_class: bool,
    /// `--annotations-prefix` (default `nginx.ingress.kubernetes.io`).
    pub annotations_prefix: String,
    /// `--disable-catch-all` (default false).
    pub disable_catch_all: bool,
    /// `--deep-inspect` (default true).
    pub deep_inspect: bool,
    /// ConfigMap keys read but not modelled, with their lines.
    pub unmodelled: Vec<(String, u32)>,
    /// Where the settings came from (`defaults` when from nowhere).
    pub source: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            risk_level: Risk::High,
            allow_snippets: false,
            word_blocklist: Vec::new(),
            allow_cross_namespace: false,
            no_auth_locations: vec!["/.well-known/acme-challenge".into()],
            no_tls_redirect_locations: vec!["/.well-known/acme-challenge".into()],
            global_auth: None,
            strict_validate_path_type: true,
            ssl_redirect: true,
            force_ssl_redirect: false,
            validate_annotations: true,
            watch_without_class: false,
            annotations_prefix: DEFAULT_PREFIX.into(),
            disable_catch_all: false,
            deep_inspect: true,
            unmodelled: Vec::new(),
            source: "ingress-nginx defaults".into(),
        }
    }
}

/// Split a comma-separated ConfigMap value, trimming each part and dropping
/// empty ones (`strings.Split` plus the controller's `TrimSpace`).
fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl Settings {
    /// The settings of a ConfigMap's `data` (`key → (value, line)`), on top
    /// of the defaults. Every bad value is reported, with its line.
    pub fn from_data(
        file: &str,
        data: &BTreeMap<String, (String, u32)>,
    ) -> Result<Settings, InputError> {
        let mut s = Settings {
            source: file.to_string(),
            ..Settings::default()
        };
        let mut errors: Vec<InputError> = Vec::new();
        let mut global = GlobalAuth::default();
        for (key, (value, line)) in data {
            let mut flag = |slot: &mut bool| match parse_bool(value.trim()) {
                Some(b) => *slot = b,
                None => errors.push(InputError::at(
                    file,
                    *line,
                    format!("{key}: {value:?} is not a boolean (true, false, 1, 0, t, f)"),
                )),
            };
            match key.as_str() {
                "annotations-risk-level" => s.risk_level = Risk::from_name(value.trim()),
                "allow-snippet-annotations" => flag(&mut s.allow_snippets),
                "strict-validate-path-type" => flag(&mut s.strict_validate_path_type),
                "ssl-redirect" => flag(&mut s.ssl_redirect),
                "force-ssl-redirect" => flag(&mut s.force_ssl_redirect),
                "annotation-value-word-blocklist" => s.word_blocklist = blocklist(value),
                "allow-cross-namespace-resources" => flag(&mut s.allow_cross_namespace),
                "no-auth-locations" => s.no_auth_locations = list(value),
                "no-tls-redirect-locations" => s.no_tls_redirect_locations = list(value),
                "global-auth-url" => global.url = value.trim().to_string(),
                "global-auth-signin" => global.signin = Some(value.trim().to_string()),
                "global-auth-response-headers" => {
                    global.response_headers = Some(value.trim().to_string())
                }
                "global-auth-method" => global.method = Some(value.trim().to_string()),
                "global-auth-snippet" => global.snippet = Some(value.clone()),
                _ => s.unmodelled.push((key.clone(), *line)),
            }
        }
        if !global.url.is_empty() {
            s.global_auth = Some(global);
        }
        InputError::merge(errors).map_or(Ok(s), Err)
    }

    /// Read a ConfigMap manifest (YAML or JSON): its `data`, on top of the
    /// defaults. A file with no ConfigMap, or several, is an error.
    pub fn from_configmap(file: &str, text: &str) -> Result<Settings, InputError> {
        let docs =
            crate::source::parse_documents(text).map_err(|e| InputError::syntax(file, &e))?;
        let mut found = None;
        for doc in &docs {
            let kind = doc.value.get("kind").and_then(|k| k.as_str());
            if kind != Some("ConfigMap") {
                continue;
            }
            if found.is_some() {
                return Err(InputError::at(
                    file,
                    doc.line,
                    "a second ConfigMap: --controller-config takes the controller's one ConfigMap",
                ));
            }
            found = Some(doc);
        }
        let Some(doc) = found else {
            return Err(InputError::file(
                file,
                "no ConfigMap in this file: --controller-config takes the ingress-nginx controller's ConfigMap (kind: ConfigMap, its settings under data)",
            ));
        };
        let mut data = BTreeMap::new();
        if let Some(map) = doc.value.get("data").and_then(|d| d.as_object()) {
            for (k, v) in map {
                let line = doc
                    .lines
                    .line_of(&format!("/data/{}", crate::source::escape_token(k)))
                    .unwrap_or(doc.line);
                let Some(value) = crate::source::scalar_text(v) else {
                    return Err(InputError::at(
                        file,
                        line,
                        format!("data.{k}: a ConfigMap value must be a string"),
                    ));
                };
                data.insert(k.clone(), (value, line));
            }
        }
        Settings::from_data(file, &data)
    }

    /// A policy's `spec.controller` as settings: `config` as the
    /// ConfigMap's `data`, then each of `flags`. Every error of the
    /// section at once (the first, the rest as its extra lines).
    pub fn from_section(sec: &ControllerSection) -> Result<Settings, InputError> {
        Settings::read_section(sec).map_err(|errors| {
            InputError::merge(errors)
                .unwrap_or_else(|| InputError::file(&sec.file, "spec.controller"))
        })
    }

    /// The errors of a policy's `spec.controller`, for
    /// [`crate::policy::parse_checked`]: reported with the policy's own.
    pub fn check_section(sec: &ControllerSection) -> Vec<InputError> {
        Settings::read_section(sec).err().unwrap_or_default()
    }

    /// The settings of `sec`, or every error in it (never an empty list).
    fn read_section(sec: &ControllerSection) -> Result<Settings, Vec<InputError>> {
        let mut s = Settings::from_data(&sec.file, &sec.config).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        for f in &sec.flags {
            if let Err(e) = s.set_flag(&f.name, &f.value) {
                errors.push(InputError::at(
                    &sec.file,
                    f.line,
                    format!("{}: {e}", f.field),
                ));
            }
        }
        if errors.is_empty() {
            Ok(s)
        } else {
            Err(errors)
        }
    }

    /// Set one of the controller's flags by its name (`watch-ingress-
    /// without-class`, `annotations-prefix`, `disable-catch-all`,
    /// `enable-annotation-validation`, `deep-inspect`).
    pub fn set_flag(&mut self, name: &str, value: &str) -> Result<(), String> {
        let b = || parse_bool(value.trim()).ok_or_else(|| format!("{value:?} is not a boolean"));
        match name.trim_start_matches('-') {
            "watch-ingress-without-class" => self.watch_without_class = b()?,
            "disable-catch-all" => self.disable_catch_all = b()?,
            "enable-annotation-validation" => self.validate_annotations = b()?,
            "deep-inspect" => self.deep_inspect = b()?,
            "annotations-prefix" => {
                let p = value.trim().trim_end_matches('/');
                if p.is_empty() {
                    return Err("the annotation prefix is empty".into());
                }
                self.annotations_prefix = p.to_string();
            }
            other => {
                return Err(format!(
                    "flag {other:?} is not modelled (known: watch-ingress-without-class, annotations-prefix, disable-catch-all, enable-annotation-validation, deep-inspect)"
                ));
            }
        }
        Ok(())
    }

    /// `<prefix>/`, the start of every annotation the controller reads.
    pub fn prefix(&self) -> String {
        format!("{}/", self.annotations_prefix)
    }

    /// One line per unmodelled ConfigMap key, for notes.
    pub fn notes(&self) -> Vec<String> {
        self.unmodelled
            .iter()
            .map(|(k, line)| {
                format!(
                    "{}:{line}: controller setting {k} is not modelled; what it changes is not in these results",
                    self.source
                )
            })
            .collect()
    }
}

/// `annotation-value-word-blocklist` split as `store.go`
/// `checkBadAnnotationValue` does (`syncIngress` skips the check when the
/// value is empty).
fn blocklist(v: &str) -> Vec<String> {
    if v.is_empty() {
        return Vec::new();
    }
    v.trim().split(',').map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_parse_like_go() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["yes", "on", "tRUE", " true", ""] {
            assert_eq!(parse_bool(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn configmap_keys_are_read_with_defaults_for_the_rest() {
        let s = Settings::from_configmap(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ingress-nginx-controller}\ndata:\n  \
             annotations-risk-level: Critical\n  allow-snippet-annotations: \"True\"\n  \
             no-auth-locations: \"/.well-known, /healthz\"\n  global-auth-url: http://auth/check\n  \
             proxy-body-size: 8m\n",
        )
        .unwrap();
        assert_eq!(s.risk_level, Risk::Critical);
        assert!(s.allow_snippets);
        assert_eq!(s.no_auth_locations, ["/.well-known", "/healthz"]);
        assert_eq!(
            s.global_auth.as_ref().map(|g| g.url.as_str()),
            Some("http://auth/check")
        );
        assert!(s.strict_validate_path_type);
        assert_eq!(s.unmodelled, [("proxy-body-size".to_string(), 9)]);
    }

    #[test]
    fn every_bad_value_is_reported_with_its_line() {
        let e = Settings::from_configmap(
            "cm.yaml",
            "kind: ConfigMap\ndata:\n  ssl-redirect: \"yes\"\n  allow-snippet-annotations: on\n",
        )
        .unwrap_err();
        let all: Vec<&str> = e.messages().collect();
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(all.iter().any(|m| m.starts_with("cm.yaml:3:")), "{all:?}");
        assert!(all.iter().any(|m| m.starts_with("cm.yaml:4:")), "{all:?}");
    }

    /// `parser.StringRiskToRisk` (`annotations/parser/main.go`): `default:
    /// return AnnotationRiskLow`.
    #[test]
    fn regression_an_unknown_risk_level_is_low() {
        assert_eq!(Risk::from_name("critcal"), Risk::Low);
        assert_eq!(Risk::from_name("CRITICAL"), Risk::Critical);
        assert_eq!(Risk::from_name("Medium"), Risk::Medium);
    }

    /// `store.go` `checkBadAnnotationValue`: `strings.Split(strings.
    /// TrimSpace(badwords), ",")`, words not trimmed, empty ones kept.
    #[test]
    fn the_word_blocklist_splits_as_the_store_does() {
        assert_eq!(blocklist(""), Vec::<String>::new());
        assert_eq!(blocklist(" a, b "), ["a", " b"]);
        assert_eq!(blocklist("a,"), ["a", ""]);
        assert_eq!(blocklist("  "), [""]);
    }

    #[test]
    fn a_file_without_a_configmap_is_an_error() {
        let e = Settings::from_configmap("x.yaml", "kind: Secret\n").unwrap_err();
        assert!(e.primary.contains("no ConfigMap"), "{}", e.primary);
    }
}
