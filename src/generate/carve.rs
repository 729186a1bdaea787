//! `--split` by path: which sub-paths of an Ingress path the policy gives
//! another level, and how each is written as an Ingress path of its own.
//!
//! A location serves more than the path that wrote it: a `Prefix /` serves
//! `/admin/x` when no other location of the host is longer. When the
//! request paths that reach a path need another level than the path's
//! own, the policy pattern behind each is *carved out*: written as its own
//! Ingress path (same host and backend), which ingress-nginx then prefers
//! over the enclosing one:
//!
//! - an exact pattern (`/healthz`) becomes `Exact` (`location = /healthz`
//!   wins over every prefix: nginx `ngx_http_core_find_location`);
//! - `/x/**` becomes `Prefix /x`, which covers `/x` and `/x/…` as `/x/**`
//!   does (SPEC §1), and not `/xy`: ingress-nginx writes `location /x/`
//!   plus `location = /x` (`location.go` `updateServerLocations`), and
//!   the longer prefix wins over `/`;
//! - in regex mode (use-regex or rewrite-target on the host) every location
//!   is `~* "^path"` (`template.go` `buildLocation`), tried in the order
//!   `controller.go` `getBackendServers` sorts them, longest path first: a
//!   carved path is longer than the path it is carved from, so it is tried
//!   first. `Exact /x` and `Prefix /x` are then the same regex, so no exact
//!   cut is made beside its own prefix. A carved `Prefix /admin` there also
//!   matches `/adminx` (lint's SU007 warning), as every regex-mode prefix
//!   does.
//!
//! That the carved path wins is not assumed: generate routes its own
//! output through [`crate::controllers::ingress_nginx::routing::RouteTable`] and a request that still
//! reaches the enclosing path falls back (below).
//!
//! Patterns that cannot be written as an Ingress path (a `*` before the
//! last segment, `/x/*`, `/**/y`) are carved at their literal start
//! (`/api/*/admin` → `Prefix /api`) at the stricter level, which
//! over-protects the rest of that prefix (a note says so). When even that
//! is not below the enclosing path, the enclosing path is protected at the
//! stricter level, unless its own level is public: then it stays public
//! and a note says which sub-path is exposed (lint reports it as SU001). A
//! public page behind a login takes the site down for everyone; the exposed
//! sub-path is one the note and lint name.

use crate::coverage::SENSITIVE_PATHS;
use crate::glob::PathGlob;
use crate::ingress::PathType;
use crate::policy::{Need, Policy};

/// Segment appended to a prefix to sample "anything else below it", the
/// same one lint samples a `/**` rule with.
pub(super) const BELOW: &str = "stepup-probe";

/// A request path below every path `p` covers as a prefix (`/api` →
/// `/api/stepup-probe`, `/` → `/stepup-probe`).
pub(super) fn below(p: &str) -> String {
    if p.ends_with('/') {
        format!("{p}{BELOW}")
    } else {
        format!("{p}/{BELOW}")
    }
}

/// An Ingress path to write for a policy pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cut {
    /// The path.
    pub(super) path: String,
    /// `Exact` (else `Prefix`).
    pub(super) exact: bool,
    /// The pattern was wider than one path and narrower than this prefix
    /// (`/api/*/admin` → `/api`): the cut over-protects.
    pub(super) narrowed: bool,
    /// The pattern, for notes.
    pub(super) pattern: String,
}

/// The cut that writes glob `g`.
pub(super) fn of_glob(g: &PathGlob) -> Cut {
    let pattern = g.as_str().to_string();
    if let Some(l) = g.literal() {
        return Cut {
            path: l.to_string(),
            exact: true,
            narrowed: false,
            pattern,
        };
    }
    let lp = g.literal_prefix();
    let whole = if lp == "/" {
        g.as_str() == "/**"
    } else {
        g.as_str() == format!("{lp}/**")
    };
    Cut {
        path: lp,
        exact: false,
        narrowed: !whole,
        pattern,
    }
}

/// The cut for request `path`, whose need came from policy rule `rule`
/// (`None`: the default, or lint's sensitive heuristics).
pub(super) fn cut_for(policy: &Policy, path: &str, rule: Option<usize>, fold: bool) -> Option<Cut> {
    if let Some(r) = rule {
        let g = policy
            .rules
            .get(r)?
            .paths
            .iter()
            .find(|g| g.matches(path.as_bytes(), fold))?;
        return Some(of_glob(g));
    }
    if let Some(g) = policy
        .sensitive
        .paths
        .iter()
        .find(|g| g.matches(path.as_bytes(), fold))
    {
        return Some(of_glob(g));
    }
    // The built-in sensitive paths (coverage::sensitive_path): a first
    // segment, `/api/*/admin`, and `/settings/security`.
    let first = path.split('/').find(|s| !s.is_empty()).unwrap_or("");
    let by_first = SENSITIVE_PATHS
        .iter()
        .find(|p| p.trim_start_matches('/').eq_ignore_ascii_case(first));
    if let Some(p) = by_first.filter(|p| p.matches('/').count() == 1) {
        return Some(Cut {
            path: (*p).to_string(),
            exact: false,
            narrowed: false,
            pattern: format!("{p}/** (sensitive)"),
        });
    }
    if path.starts_with("/settings/security") {
        return Some(Cut {
            path: "/settings/security".into(),
            exact: false,
            narrowed: false,
            pattern: "/settings/security (sensitive)".into(),
        });
    }
    if path.starts_with("/api/") {
        return Some(Cut {
            path: "/api".into(),
            exact: false,
            narrowed: true,
            pattern: "/api/*/admin (sensitive)".into(),
        });
    }
    None
}

/// Whether the cut is strictly inside the Ingress path `p` of type `ty`
/// (a prefix, or a regex starting with literal `lit`): only then can it be
/// a path of its own that wins over `p`.
pub(super) fn inside(
    p: &str,
    ty: PathType,
    regex_literal: Option<&str>,
    regex_mode: bool,
    c: &Cut,
) -> bool {
    if ty == PathType::Exact {
        return false;
    }
    let p = if p.is_empty() { "/" } else { p };
    if let Some(lit) = regex_literal {
        return c.path.len() > lit.len() && c.path.starts_with(lit);
    }
    if c.path == p {
        // `Exact /x` beside `Prefix /x`: ingress-nginx keeps both (a
        // different pathType is a different location), and nginx's `=`
        // location wins. In regex mode both are `~* "^/x"`: the same
        // location, the older wins.
        return c.exact && !regex_mode;
    }
    let base = p.trim_end_matches('/');
    c.path
        .strip_prefix(base)
        .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
}

/// Both needs ask the same.
pub(super) fn same(a: &Need, b: &Need) -> bool {
    a.satisfies(b) && b.satisfies(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> PathGlob {
        PathGlob::parse(s).unwrap()
    }

    #[test]
    fn globs_become_exact_prefix_or_narrowed_paths() {
        let c = of_glob(&g("/healthz"));
        assert_eq!(
            (c.path.as_str(), c.exact, c.narrowed),
            ("/healthz", true, false)
        );
        let c = of_glob(&g("/admin/**"));
        assert_eq!(
            (c.path.as_str(), c.exact, c.narrowed),
            ("/admin", false, false)
        );
        let c = of_glob(&g("/api/*/admin"));
        assert_eq!(
            (c.path.as_str(), c.exact, c.narrowed),
            ("/api", false, true)
        );
        let c = of_glob(&g("/**"));
        assert_eq!((c.path.as_str(), c.narrowed), ("/", false));
    }

    #[test]
    fn cuts_must_be_below_the_enclosing_path() {
        let cut = |p: &str, exact| Cut {
            path: p.into(),
            exact,
            narrowed: false,
            pattern: String::new(),
        };
        let pre = PathType::Prefix;
        assert!(inside("/", pre, None, false, &cut("/admin", false)));
        assert!(inside(
            "/api",
            pre,
            None,
            false,
            &cut("/api/payments", false)
        ));
        assert!(!inside("/api", pre, None, false, &cut("/apix", false)));
        assert!(!inside("/api", pre, None, false, &cut("/api", false)));
        assert!(inside("/api", pre, None, false, &cut("/api", true)));
        assert!(!inside("/", pre, None, false, &cut("/", false)));
        assert!(inside("/", pre, None, false, &cut("/", true)));
        assert!(!inside("/", pre, None, true, &cut("/", true)));
        assert!(!inside(
            "/x",
            PathType::Exact,
            None,
            false,
            &cut("/x/y", false)
        ));
        assert!(inside(
            "/(.*)",
            pre,
            Some("/"),
            false,
            &cut("/admin", false)
        ));
        assert_eq!(below("/"), "/stepup-probe");
        assert_eq!(below("/api"), "/api/stepup-probe");
    }
}
