//! Fixtures and oracles shared by the fuzz targets in `fuzz_targets/`
//! (docs/fuzzing.md says what each target checks).
//!
//! Fixtures are compiled in (`include_str!`), so a target runs the same
//! from any directory and a reproducer needs nothing but its input file.

use serde_json::{Value, json};
use stepup::claims::Claims;
use stepup::decision::{Check, check};
use stepup::policy::{Need, Policy, strip_path_params};
use stepup::serve::auth::path_need;

/// The clock every target runs at (2027-01-15): fixed, so a crash
/// reproduces whenever it is replayed, and the committed seed tokens and
/// cookies stay valid.
pub const NOW: i64 = 1_800_000_000;

/// testdata/shop/policy.yaml: levels with acr/amr/maxAge/claims, host-bound
/// rules, method rules, a sign-in path.
pub const SHOP_POLICY: &str = include_str!("../../testdata/shop/policy.yaml");
/// testdata/lint/policy.yaml: host-less rules, `**` globs, methods.
pub const LINT_POLICY: &str = include_str!("../../testdata/lint/policy.yaml");
/// testdata/admission/policy.yaml: what the admission captures are judged by.
pub const ADMISSION_POLICY: &str = include_str!("../../testdata/admission/policy.yaml");

/// Issuer of the `jwt` target's verifier and tokens: a loopback port
/// nothing listens on, so a JWKS refresh fails at once, offline.
pub const JWT_ISSUER: &str = "http://127.0.0.1:9/fuzz-idp";
/// Audience of the `jwt` target's verifier.
pub const JWT_AUDIENCE: &str = "shop";
/// The public JWKS the `jwt` target installs (material/README.md).
pub const JWKS: &str = include_str!("../material/jwks.json");
/// Seed tokens that verify, one per line.
pub const VALID_TOKENS: &str = include_str!("../material/valid-tokens.txt");
/// The `cookie` target's session key file (test keys).
pub const SESSION_KEYS: &str = include_str!("../material/session-keys.txt");
/// `<cookie name> <value>` sealed with [`SESSION_KEYS`], one per line.
pub const SEALED_COOKIES: &str = include_str!("../material/sealed-cookies.txt");
/// Names the server seals and opens values under.
pub const COOKIE_NAMES: [&str; 3] = [
    stepup::serve::session::COOKIE_NAME,
    stepup::serve::signin::DENIED_COOKIE,
    "__Host-stepup-flow-fuzzstate",
];

/// Parse a committed policy (a fixture, so a failure is a broken checkout).
pub fn fixture_policy(name: &str, text: &str) -> Policy {
    match stepup::policy::parse(name, text) {
        Ok(p) => p,
        Err(e) => panic!("fixture policy {name} does not parse: {e}"),
    }
}

/// An identity made to pass `need`: its first acceptable `acr`, its first
/// `amr` alternative, the first acceptable value of every claim, a login
/// `age` seconds old. (Public and deny give a plain login.)
pub fn identity(need: &Need, age: i64) -> Claims {
    let mut c = json!({
        "sub": "alice", "iss": "https://idp.example", "aud": "shop",
        "exp": NOW + 600, "iat": NOW - age, "auth_time": NOW - age,
    });
    if let Need::Auth { req, .. } = need {
        if let Some(a) = req.acr.as_ref().and_then(|a| a.iter().next()) {
            c["acr"] = Value::from(a.as_str());
        }
        if let Some(alt) = req.amr.as_ref().and_then(|a| a.first()) {
            c["amr"] = Value::from(alt.iter().map(String::as_str).collect::<Vec<_>>());
        }
        for (k, vals) in &req.claims {
            if let Some(v) = vals.iter().next() {
                c[k.as_str()] = Value::from(vec![v.as_str()]);
            }
        }
    }
    match c {
        Value::Object(m) => m,
        _ => Claims::new(),
    }
}

/// Identities that tell a policy's levels apart: a plain login, and for
/// every level one made to pass it, fresh and 10 minutes old.
pub fn witnesses(policy: &Policy) -> Vec<Claims> {
    let mut out = vec![identity(&Need::Public, 0)];
    for l in &policy.levels {
        out.push(identity(&l.need, 0));
        out.push(identity(&l.need, 600));
    }
    out
}

/// Whether `need` lets `claims` through.
pub fn allows(need: &Need, claims: &Claims) -> bool {
    matches!(check(need, Some(claims), NOW), Check::Allow(_))
}

/// Evidence that `stricter` is not at least as strict as `looser`: an
/// identity that `stricter` lets through and `looser` refuses. Tried: one
/// made to pass `stricter`, then each of `ids`.
pub fn counterexample(stricter: &Need, looser: &Need, ids: &[Claims]) -> Option<Claims> {
    if stricter == looser {
        return None;
    }
    std::iter::once(identity(stricter, 0))
        .chain(ids.iter().cloned())
        .find(|c| allows(stricter, c) && !allows(looser, c))
}

/// The last line a YAML position in `text` can be on: lines as YAML counts
/// them (a line break is CR LF, CR or LF), plus one when the text does not
/// end with a line break (yaml-rust2 puts the end of such a stream, and an
/// empty value just before it, on the line after the last).
pub fn last_line(text: &str) -> usize {
    let b = text.as_bytes();
    let breaks = b
        .iter()
        .enumerate()
        .filter(|&(i, &c)| c == b'\n' || (c == b'\r' && b.get(i + 1) != Some(&b'\n')))
        .count();
    let open_end = !matches!(b.last(), None | Some(b'\n' | b'\r'));
    breaks + 1 + usize::from(open_end)
}

/// Whether an error message is located in `file`: `<file>:<n>:` with
/// `1 <= n <= lines`.
pub fn located(msg: &str, file: &str, lines: usize) -> bool {
    let Some(rest) = msg.strip_prefix(file).and_then(|r| r.strip_prefix(':')) else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest[digits..].starts_with(':')
        && rest[..digits]
            .parse::<usize>()
            .is_ok_and(|n| (1..=lines).contains(&n))
}

/// The runtime's policy lookup for a normalised `path` on a normalised
/// `host` (`serve::auth::path_need`): deterministic, a rule that exists,
/// and (off the sign-in path) never weaker than the plain, case-folded or
/// `;`-stripped path's need, for any identity in `ids` or made to pass it.
/// Panics with the counterexample.
pub fn check_path_need(p: &Policy, host: &str, method: &str, path: &[u8], ids: &[Claims]) {
    let (rule, need) = path_need(p, host, method, path);
    assert_eq!(
        (rule, &need),
        (
            path_need(p, host, method, path).0,
            &path_need(p, host, method, path).1
        )
    );
    assert!(
        rule.is_none_or(|i| i < p.rules.len()),
        "rule {rule:?} does not exist"
    );
    if p.is_signin_path(path) {
        return;
    }
    let rm = p.rule_for(host, method, path, false);
    assert!(rm.rule.is_none_or(|i| i < p.rules.len()));
    assert_eq!(rm, p.rule_for(host, method, path, false));
    let folded = p.rule_for(host, method, path, true).need;
    let stripped = p
        .rule_for(host, method, &strip_path_params(path), false)
        .need;
    for (what, looser) in [
        ("the path's", &rm.need),
        ("the case-folded path's", &folded),
        ("the path without ; parameters", &stripped),
    ] {
        if let Some(c) = counterexample(&need, looser, ids) {
            panic!(
                "{host}{}: {method} needs {} at runtime, weaker than {what} {} (policy {}; passes: {c:?})",
                String::from_utf8_lossy(path),
                need.label(),
                looser.label(),
                p.name
            );
        }
    }
}
