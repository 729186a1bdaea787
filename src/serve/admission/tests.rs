//! Unit tests of the pure parts: parsing, patch building, key escaping,
//! messages, and the decisions with a pre-filled store.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::message::{self, MAX_WARNING_CHARS, MAX_WARNINGS, Stage};
use super::patch::{annotation_pointer, annotations_patch};
use super::review::{self, Request};
use super::store::IngressStore;
use super::{MAX_BODY, parse, to_wire};
use crate::lint::{Finding, Severity};
use crate::policy::Policy;

const POLICY: &str = include_str!("../../../testdata/admission/policy.yaml");
const CREATE: &str = include_str!("../../../testdata/admission/ingress-create-validating.json");

fn policy() -> Policy {
    crate::policy::parse("policy.yaml", POLICY).expect("test policy")
}

fn request(review: &Value) -> Request {
    parse(
        Some("application/json"),
        &serde_json::to_vec(review).expect("json"),
    )
    .expect("a review")
}

/// A CREATE review of `object` (the capture's envelope, a new uid).
fn review_of(object: Value) -> Value {
    let mut r: Value = serde_json::from_str(CREATE).expect("capture");
    r["request"]["uid"] = json!("0000-test");
    r["request"]["name"] = object["metadata"]["name"].clone();
    r["request"]["namespace"] = object["metadata"]["namespace"].clone();
    r["request"]["object"] = object;
    r
}

fn ingress(ns: &str, name: &str, host: &str, path: &str, annotations: Value, tls: bool) -> Value {
    let mut v = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations,
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
            {"path": path, "pathType": "Prefix",
             "backend": {"service": {"name": name, "port": {"number": 80}}}}]}}]}
    });
    if tls {
        v["spec"]["tls"] = json!([{"hosts": [host], "secretName": "tls"}]);
    }
    v
}

fn stepup_auth(level: &str, rule: &str) -> Value {
    json!({
        "nginx.ingress.kubernetes.io/auth-url": format!("http://stepup.stepup-system.svc.cluster.local:8080/auth?level={level}&rule={rule}"),
        "nginx.ingress.kubernetes.io/auth-signin": format!("https://$host/.stepup/signin?level={level}"),
        "nginx.ingress.kubernetes.io/auth-response-headers": "X-Auth-Request-User,X-Auth-Request-Email,X-Auth-Request-Groups,X-Auth-Request-Acr",
    })
}

fn finding(rule: &'static str, host: &str, path: &str) -> Finding {
    Finding {
        rule,
        severity: Severity::Error,
        message: format!("{host}{path} reaches web:80 with no auth"),
        file: "(admission)".into(),
        line: 1,
        namespace: "team-a".into(),
        ingress: "web".into(),
        host: host.into(),
        path: path.into(),
        fix: "Add stepup's auth-url".into(),
    }
}

/// Annotation keys are RFC 6901 tokens: `/` is `~1`, `~` is `~0`.
#[test]
fn annotation_keys_are_escaped() {
    assert_eq!(
        annotation_pointer("nginx.ingress.kubernetes.io/auth-url").to_string(),
        "/metadata/annotations/nginx.ingress.kubernetes.io~1auth-url"
    );
    assert_eq!(
        annotation_pointer("a~b/c").to_string(),
        "/metadata/annotations/a~0b~1c"
    );
}

/// Without `metadata.annotations` the patch adds the whole map (a pointer
/// into a missing map would fail the patch).
#[test]
fn patch_creates_the_annotations_map() {
    let wanted = json!({"stepup.dev/level": "mfa", "x/y": "1"});
    let p = annotations_patch(None, wanted.as_object().expect("map"));
    let v = serde_json::to_value(&p).expect("json");
    assert_eq!(
        v,
        json!([{"op": "add", "path": "/metadata/annotations", "value": {"stepup.dev/level": "mfa", "x/y": "1"}}])
    );
    let mut doc = json!({"metadata": {"name": "a"}});
    json_patch::patch(&mut doc, &p).expect("applies");
    assert_eq!(doc["metadata"]["annotations"]["x/y"], "1");
}

/// Existing maps get add/replace per key; only stepup's own keys are ever
/// removed; an unchanged map gives an empty patch (idempotent mutation).
#[test]
fn patch_adds_replaces_and_removes_only_owned_keys() {
    let current: BTreeMap<String, String> = [
        ("keep/me", "1"),
        ("stepup.dev/level", "authenticated"),
        ("stepup.dev/rule", "old"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let wanted = json!({"keep/me": "1", "stepup.dev/level": "mfa", "nginx.ingress.kubernetes.io/auth-url": "u"});
    let p = annotations_patch(Some(&current), wanted.as_object().expect("map"));
    let v = serde_json::to_value(&p).expect("json");
    assert_eq!(
        v,
        json!([
            {"op": "add", "path": "/metadata/annotations/nginx.ingress.kubernetes.io~1auth-url", "value": "u"},
            {"op": "replace", "path": "/metadata/annotations/stepup.dev~1level", "value": "mfa"},
            {"op": "remove", "path": "/metadata/annotations/stepup.dev~1rule"},
        ])
    );
    // A key the user wrote is never removed, even when `wanted` lacks it.
    let p = annotations_patch(Some(&current), json!({}).as_object().expect("map"));
    assert!(
        serde_json::to_string(&p)
            .expect("json")
            .contains("stepup.dev~1rule")
    );
    assert!(
        !serde_json::to_string(&p)
            .expect("json")
            .contains("keep~1me")
    );
    let same: serde_json::Map<String, Value> = current
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    assert!(annotations_patch(Some(&current), &same).0.is_empty());
}

/// The deny message names the rule, where, the fix and the generate
/// command, on one line; extra errors are numbered, more than three counted.
#[test]
fn deny_message_is_actionable() {
    let f = finding("SU001", "web.example.com", "/");
    let cmd = message::generate_command("/etc/stepup/policy.yaml", "team-a", "web", Stage::Create);
    assert_eq!(
        cmd,
        "stepup generate -p policy.yaml <manifest of team-a/web> | kubectl apply -f -"
    );
    let m = message::deny_message(&[&f], &cmd);
    assert!(m.starts_with("SU001: web.example.com/ reaches"), "{m}");
    assert!(m.contains("Fix: Add stepup's auth-url."), "{m}");
    assert!(m.contains(&cmd), "{m}");
    assert!(!m.contains('\n'));
    let mut g = finding("SU013", "web.example.com", "");
    g.message = "protected host has no TLS".into();
    let many = [&f, &g, &f, &g, &f];
    let m = message::deny_message(&many, &cmd);
    assert!(m.starts_with("5 errors. [1] SU001"), "{m}");
    assert!(
        m.contains("[2] SU013 at host web.example.com: protected host"),
        "{m}"
    );
    assert!(m.contains("And 2 more (SU013, SU001)"), "{m}");
    let upd = message::generate_command("policy.yaml", "team-a", "web", Stage::Update);
    assert!(upd.starts_with("kubectl get ingress web -n team-a -o yaml | stepup generate"));
}

/// Warnings stay under the API server's 120 characters and their number
/// is bounded, the last one counting the rest.
#[test]
fn warnings_are_short_and_few() {
    let mut f = finding("SU007", "very-long-host-name.example.com", "/admin");
    f.message = "x".repeat(400);
    let list: Vec<&Finding> = std::iter::repeat_n(&f, 20).collect();
    let w = message::warnings(&list);
    assert_eq!(w.len(), MAX_WARNINGS);
    assert!(w.iter().all(|x| x.chars().count() <= MAX_WARNING_CHARS));
    assert!(w[0].ends_with('…'));
    assert!(w[MAX_WARNINGS - 1].contains("15 more"), "{w:?}");
    assert_eq!(message::clip("ça va", 5), "ça va");
    assert_eq!(message::clip("ça va bien", 5), "ça v…");
}

/// The patch goes on the wire as base64, like the captured response.
#[test]
fn wire_patch_is_base64() {
    let req = request(&serde_json::from_str(CREATE).expect("capture"));
    let p = annotations_patch(None, json!({"a": "b"}).as_object().expect("map"));
    let resp = kube_core::admission::AdmissionResponse::from(&req)
        .with_patch(p)
        .expect("patch");
    let v = to_wire(resp).expect("wire");
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    assert_eq!(v["response"]["patchType"], "JSONPatch");
    assert_eq!(
        v["response"]["patch"],
        "W3sib3AiOiJhZGQiLCJwYXRoIjoiL21ldGFkYXRhL2Fubm90YXRpb25zIiwidmFsdWUiOnsiYSI6ImIifX1d"
    );
}

/// Bodies that are not a review are refused with the status and a reason.
#[test]
fn parse_refuses_what_is_not_a_review() {
    let code = |ct: Option<&str>, body: &[u8]| parse(ct, body).map(|_| ()).map_err(|r| r.status);
    assert_eq!(
        code(Some("text/plain"), CREATE.as_bytes()),
        Err(StatusCode::UNSUPPORTED_MEDIA_TYPE)
    );
    assert_eq!(
        code(
            Some("application/json"),
            &CREATE.as_bytes()[..CREATE.len() / 2]
        ),
        Err(StatusCode::BAD_REQUEST)
    );
    assert_eq!(
        code(None, &vec![b' '; MAX_BODY + 1]),
        Err(StatusCode::PAYLOAD_TOO_LARGE)
    );
    let mut v: Value = serde_json::from_str(CREATE).expect("capture");
    assert!(code(Some("application/json; charset=utf-8"), CREATE.as_bytes()).is_ok());
    v["request"].as_object_mut().expect("request").remove("uid");
    let e = parse(None, &serde_json::to_vec(&v).expect("json")).expect_err("no uid");
    assert!(e.reason.contains("uid"), "{}", e.reason);
    let mut v: Value = serde_json::from_str(CREATE).expect("capture");
    v.as_object_mut().expect("review").remove("request");
    let e = parse(None, &serde_json::to_vec(&v).expect("json")).expect_err("no request");
    assert!(e.reason.contains("no request"), "{}", e.reason);
    let mut v: Value = serde_json::from_str(CREATE).expect("capture");
    v["apiVersion"] = json!("admission.k8s.io/v1beta1");
    assert_eq!(
        code(None, &serde_json::to_vec(&v).expect("json")),
        Err(StatusCode::BAD_REQUEST)
    );
    let mut v: Value = serde_json::from_str(CREATE).expect("capture");
    v["request"]["object"] = Value::Null;
    let e = parse(None, &serde_json::to_vec(&v).expect("json")).expect_err("no object");
    assert!(e.reason.contains("request.object"), "{}", e.reason);
    assert_eq!(code(None, b"[]"), Err(StatusCode::BAD_REQUEST));
}

/// A new Ingress that serves part of a protected path without auth is
/// denied as shadowing (SU006) when the store knows the protected one.
#[test]
fn shadowing_is_denied_with_a_filled_store() {
    let p = policy();
    let store = IngressStore::new();
    let console = ingress(
        "shop",
        "console",
        "admin.example.com",
        "/admin",
        stepup_auth("admin", "admin-console"),
        true,
    );
    store.upsert(console).expect("stored");
    assert_eq!(store.len(), 1);
    let sneaky = ingress(
        "team-x",
        "reports",
        "admin.example.com",
        "/admin/reports",
        json!({}),
        true,
    );
    let req = request(&review_of(sneaky.clone()));
    let v = review::validate(&p, &store, &req);
    assert!(!v.response.allowed);
    assert!(
        v.rules.contains(&"SU006"),
        "{:?}",
        v.response.result.message
    );
    assert!(
        v.response
            .result
            .message
            .contains("admin.example.com/admin"),
        "{}",
        v.response.result.message
    );
    assert_eq!(v.response.uid, "0000-test");
    // Forgetting the console: the newcomer is still unprotected, but no
    // longer shadows anything the cluster holds.
    assert!(store.remove("shop", "console"));
    let v = review::validate(&p, &store, &req);
    assert!(!v.response.allowed);
    assert!(!v.rules.contains(&"SU006"), "{:?}", v.rules);
}

/// Ingresses of other hosts are not consulted; the object's own key is
/// never taken from the store (an UPDATE replaces it).
#[test]
fn store_related_is_per_host() {
    let store = IngressStore::new();
    let bad = store.replace_all(vec![
        ingress("a", "one", "a.example.com", "/", json!({}), false),
        ingress("b", "two", "b.example.com", "/", json!({}), false),
        json!({"kind": "Ingress", "apiVersion": "networking.k8s.io/v1", "metadata": {}}),
    ]);
    assert_eq!((store.len(), bad.len()), (2, 1));
    let me = crate::ingress::load_object(
        "t",
        &ingress("a", "one", "a.example.com", "/x", json!({}), false),
    )
    .expect("ingress");
    assert!(store.related(&me).is_empty());
    let other = crate::ingress::load_object(
        "t",
        &ingress("c", "three", "a.example.com", "/x", json!({}), false),
    )
    .expect("ingress");
    let r = store.related(&other);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].ingress.key(), "a/one");
}

/// The test policy with `grants` (YAML list items, indented for `spec`)
/// as its `spec.exemptions`.
fn policy_with(grants: &str) -> Policy {
    let text = format!("{POLICY}  exemptions:\n{grants}");
    crate::policy::parse("policy.yaml", &text).expect("test policy with grants")
}

/// An Ingress of `team-a` on app.example.com (needs mfa) without auth:
/// SU001 unless something exempts it.
fn exposed(annotations: Value, labels: Value) -> Request {
    let mut v = ingress(
        "team-a",
        "status",
        "app.example.com",
        "/",
        annotations,
        true,
    );
    v["metadata"]["labels"] = labels;
    request(&review_of(v))
}

/// `stepup.dev/exempt` needs a reason, and then a grant; with both, the
/// object is let through unchecked and the verdict carries the reason and
/// the grant for the log and the counter.
#[test]
fn exemption_needs_a_reason() {
    let p = policy_with("    - {names: [team-a/status], reason: \"status page, SEC-1\"}\n");
    let store = IngressStore::new();
    let mk = |reason: &str| exposed(json!({"stepup.dev/exempt": reason}), json!({}));
    let v = review::validate(&p, &store, &mk("public status page, SEC-1"));
    assert!(v.response.allowed);
    assert_eq!(v.outcome, "exempt");
    assert_eq!(v.exempt.as_deref(), Some("public status page, SEC-1"));
    assert_eq!(v.uses.len(), 1);
    assert_eq!(v.uses[0].outcome.as_str(), "granted");
    assert!(
        v.uses[0].detail.contains("spec.exemptions[0]"),
        "{:?}",
        v.uses
    );
    let v = review::validate(&p, &store, &mk("  "));
    assert!(!v.response.allowed);
    assert!(
        v.response.result.message.contains("gives no reason"),
        "{}",
        v.response.result.message
    );
    // mutate leaves exempt Ingresses alone either way.
    let m = review::mutate(&p, &store, &mk("reason"));
    assert!(m.response.patch.is_none());
}

/// `stepup.dev/exempt` that no grant covers is judged as if it were
/// absent: denied for the exposed route, the message saying it is not
/// granted and where grants live; a grant of another namespace, one
/// limited to some rules, an expired one, or one whose expiry cannot be
/// checked (no clock) does not cover it.
#[test]
fn exemption_annotation_without_a_grant_is_denied() {
    let store = IngressStore::new();
    let req = exposed(json!({"stepup.dev/exempt": "trust me"}), json!({}));
    let denied = |p: &Policy, now: Option<u64>, want: &str, outcome: &str| {
        let v = review::validate_at(p, &store, &req, now);
        let msg = &v.response.result.message;
        assert!(!v.response.allowed, "{want}: allowed");
        assert_eq!(v.outcome, "denied");
        assert!(msg.contains("SU001"), "{msg}");
        assert!(
            msg.contains("stepup.dev/exempt on Ingress team-a/status is"),
            "{msg}"
        );
        assert!(msg.contains(want), "{want}: {msg}");
        assert_eq!(v.uses.len(), 1, "{:?}", v.uses);
        assert_eq!(v.uses[0].outcome.as_str(), outcome);
        assert_eq!(v.uses[0].rule, None);
    };
    let now = crate::policy::exemptions::now();
    let none = policy();
    denied(&none, now, "not granted by the policy", "denied");
    denied(&none, now, "under spec.exemptions in policy.yaml", "denied");
    let other_ns = policy_with("    - {namespaces: [team-b], reason: \"their status page\"}\n");
    denied(&other_ns, now, "no grant covers team-a/status", "denied");
    let only_rules =
        policy_with("    - {namespaces: [team-a], rules: [SU013], reason: \"TLS at the LB\"}\n");
    denied(&only_rules, now, "not granted by the policy", "denied");
    let expired =
        policy_with("    - {names: [team-a/status], reason: \"old\", expires: 2020-01-01}\n");
    denied(&expired, now, "expired on 2020-01-01", "expired");
    let later =
        policy_with("    - {names: [team-a/status], reason: \"until\", expires: 2999-12-31}\n");
    denied(&later, None, "the clock cannot be read", "denied");
    // With a readable clock the same grant applies.
    let v = review::validate_at(&later, &store, &req, now);
    assert_eq!(v.outcome, "exempt", "{}", v.response.result.message);
    // A date grants through that day (UTC), not after.
    let dated =
        policy_with("    - {names: [team-a/status], reason: \"dated\", expires: 2027-03-01}\n");
    let at = |t: &str| {
        let t = humantime::parse_rfc3339(t).expect("time");
        t.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
    };
    let v = review::validate_at(&dated, &store, &req, at("2027-03-01T23:59:59Z"));
    assert_eq!(v.outcome, "exempt");
    denied(
        &dated,
        at("2027-03-02T00:00:00Z"),
        "expired on 2027-03-01",
        "expired",
    );
}

/// An ungranted `stepup.dev/exempt` on an Ingress that passes anyway is
/// allowed, with a warning that the annotation is not honoured.
#[test]
fn exemption_annotation_without_a_grant_warns_when_compliant() {
    let p = policy();
    let store = IngressStore::new();
    let v = ingress(
        "team-b",
        "modern",
        "modern.example.com",
        "/",
        json!({"stepup.dev/exempt": "public anyway"}),
        true,
    );
    let v = review::validate(&p, &store, &request(&review_of(v)));
    assert!(v.response.allowed, "{}", v.response.result.message);
    assert_eq!(v.outcome, "allowed");
    let w = v.response.warnings.unwrap_or_default();
    assert!(
        w.iter().any(|w| w.contains("not granted by the policy")),
        "{w:?}"
    );
    assert_eq!(v.uses[0].outcome.as_str(), "denied");
}

/// `stepup.dev/ignore` of an error finding is honoured at admission only
/// with a grant for the Ingress (by namespace, name or labels) and the
/// rule; otherwise the finding denies and its message says why.
#[test]
fn ignore_of_an_error_needs_a_grant() {
    let store = IngressStore::new();
    let ignore = json!({"stepup.dev/ignore": "SU001: internal only"});
    let sre = json!({"team": "sre"});
    let judge = |p: &Policy, labels: &Value| {
        review::validate(p, &store, &exposed(ignore.clone(), labels.clone()))
    };
    let v = judge(&policy(), &sre);
    let msg = &v.response.result.message;
    assert!(!v.response.allowed, "no grant: allowed");
    assert!(msg.contains("SU001"), "{msg}");
    assert!(
        msg.contains("stepup.dev/ignore names SU001, but it is not granted by the policy"),
        "{msg}"
    );
    assert!(msg.contains("rules: [SU001]"), "{msg}");
    assert_eq!(v.uses.len(), 1, "{:?}", v.uses);
    assert_eq!(v.uses[0].rule, Some("SU001"));
    assert_eq!(v.uses[0].outcome.as_str(), "denied");

    let by_label = policy_with(
        "    - {selector: {matchLabels: {team: sre}}, rules: [SU001], reason: \"sre tools, SEC-9\"}\n",
    );
    let v = judge(&by_label, &sre);
    assert!(v.response.allowed, "{}", v.response.result.message);
    assert_eq!(v.outcome, "allowed");
    assert_eq!(v.uses[0].outcome.as_str(), "granted");
    assert!(v.uses[0].detail.contains("SEC-9"), "{:?}", v.uses);
    // The same grant does not cover an Ingress without the label.
    let v = judge(&by_label, &json!({"team": "web"}));
    assert!(!v.response.allowed);

    let by_expression = policy_with(
        "    - {namespaces: [team-a], selector: {matchExpressions: [{key: team, operator: In, values: [sre, ops]}]}, rules: [SU001], reason: \"ops\"}\n",
    );
    assert!(judge(&by_expression, &sre).response.allowed);
    assert!(!judge(&by_expression, &json!({})).response.allowed);

    let other_rule = policy_with("    - {namespaces: [team-a], rules: [SU013], reason: \"LB\"}\n");
    assert!(!judge(&other_rule, &sre).response.allowed);

    let expired = policy_with(
        "    - {namespaces: [team-a], rules: [SU001], reason: \"old\", expires: 2020-01-01}\n",
    );
    let v = judge(&expired, &sre);
    assert!(!v.response.allowed);
    assert!(
        v.response.result.message.contains("expired on 2020-01-01"),
        "{}",
        v.response.result.message
    );
    assert_eq!(v.uses[0].outcome.as_str(), "expired");

    let whole = policy_with("    - {names: [team-a/status], reason: \"all of it\"}\n");
    assert!(
        judge(&whole, &sre).response.allowed,
        "a grant without rules covers every rule"
    );
}

/// An Ingress whose paths need different levels is not patched: one
/// auth-url would over- or under-protect some of them.
#[test]
fn mixed_levels_are_not_patched() {
    let p = policy();
    let mut v = ingress(
        "shop",
        "mixed",
        "admin.example.com",
        "/admin",
        json!({}),
        true,
    );
    v["spec"]["rules"][0]["http"]["paths"]
        .as_array_mut()
        .expect("paths")
        .push(json!({"path": "/healthz", "pathType": "Exact",
                     "backend": {"service": {"name": "h", "port": {"number": 80}}}}));
    let m = review::mutate(&p, &IngressStore::new(), &request(&review_of(v)));
    assert!(m.response.patch.is_none(), "{:?}", m.response.warnings);
    let w = m.response.warnings.unwrap_or_default().join(" ");
    assert!(
        w.contains("different levels") && w.contains("--split"),
        "{w}"
    );
}

/// A declared `stepup.dev/level` raises the level (a public path declared
/// mfa is protected at mfa); an unknown one is not patched.
#[test]
fn declared_level_is_a_floor() {
    let p = policy();
    let store = IngressStore::new();
    let v = ingress(
        "team-b",
        "site",
        "modern.example.com",
        "/",
        json!({"stepup.dev/level": "mfa"}),
        true,
    );
    let m = review::mutate(&p, &store, &request(&review_of(v)));
    assert_eq!(m.level.as_deref(), Some("mfa"), "{:?}", m.response.warnings);
    let v = ingress(
        "team-b",
        "site",
        "modern.example.com",
        "/",
        json!({"stepup.dev/level": "mfaa"}),
        true,
    );
    let m = review::mutate(&p, &store, &request(&review_of(v)));
    assert!(m.response.patch.is_none());
    let w = m.response.warnings.unwrap_or_default().join(" ");
    assert!(w.contains("unknown level \"mfaa\""), "{w}");
}

/// The auth-url level `/mutate` ends up with (the patch applied).
fn mutated_level(p: &Policy, v: Value) -> (Option<String>, Option<String>) {
    let req = request(&review_of(v.clone()));
    let m = review::mutate(p, &IngressStore::new(), &req);
    let mut obj = v;
    if let Some(bytes) = &m.response.patch {
        let patch: json_patch::Patch = serde_json::from_slice(bytes).expect("a JSON Patch");
        json_patch::patch(&mut obj, &patch).expect("the patch applies");
    }
    let url = obj["metadata"]["annotations"]["nginx.ingress.kubernetes.io/auth-url"]
        .as_str()
        .map(str::to_string);
    let level = url
        .as_deref()
        .and_then(|u| crate::controllers::ingress_nginx::annotations::query_param(u, "level"))
        .map(str::to_string);
    (level, m.level)
}

/// `/mutate` never lowers an explicit level: stepup's auth-url asking for
/// admin on a host the policy protects at mfa keeps admin; one asking for
/// less than the policy is raised.
#[test]
fn mutate_keeps_a_stronger_level_and_raises_a_weaker_one() {
    let p = policy();
    // Without auth-signin: the host has no sign-in route in this store.
    let mk = |level: &str| {
        let mut a = stepup_auth(level, "apps");
        a.as_object_mut()
            .map(|m| m.remove("nginx.ingress.kubernetes.io/auth-signin"));
        ingress("team-a", "app", "app.example.com", "/", a, true)
    };
    let (url, planned) = mutated_level(&p, mk("admin"));
    assert_eq!(url.as_deref(), Some("admin"), "lowered to {url:?}");
    assert_eq!(planned.as_deref(), Some("admin"));
    let (url, planned) = mutated_level(&p, mk("authenticated"));
    assert_eq!(url.as_deref(), Some("mfa"));
    assert_eq!(planned.as_deref(), Some("mfa"));
    let (url, _) = mutated_level(&p, mk("mfa"));
    assert_eq!(url.as_deref(), Some("mfa"));
}

/// auth-signin is written once the host routes the sign-in path to stepup
/// (the store knows the sign-in Ingress); until then it is left out, with
/// a warning, because it would loop (SU016).
#[test]
fn auth_signin_waits_for_the_signin_route() {
    let p = policy();
    let store = IngressStore::new();
    let web = ingress("team-a", "web", "web.example.com", "/", json!({}), true);
    let req = request(&review_of(web));
    let signin = "nginx.ingress.kubernetes.io/auth-signin";
    let patched = |m: &review::Mutated| -> Value {
        let mut doc = req
            .object
            .as_ref()
            .map_or(Value::Null, |o| serde_json::to_value(o).expect("json"));
        let patch: json_patch::Patch =
            serde_json::from_slice(m.response.patch.as_deref().expect("a patch")).expect("patch");
        json_patch::patch(&mut doc, &patch).expect("applies");
        doc
    };
    let m = review::mutate(&p, &store, &req);
    assert!(patched(&m)["metadata"]["annotations"].get(signin).is_none());
    assert!(
        m.response
            .warnings
            .unwrap_or_default()
            .join(" ")
            .contains("no sign-in route on web.example.com")
    );
    let mut route = ingress(
        "stepup-system",
        "stepup-signin-web-example-com",
        "web.example.com",
        "/.stepup",
        json!({}),
        true,
    );
    route["spec"]["rules"][0]["http"]["paths"][0]["backend"] =
        json!({"service": {"name": "stepup", "port": {"number": 8080}}});
    store.upsert(route).expect("stored");
    let m = review::mutate(&p, &store, &req);
    assert_eq!(
        patched(&m)["metadata"]["annotations"][signin],
        "https://$host/.stepup/signin?level=mfa"
    );
}
