//! AdmissionReview handling (`stepup::serve::admission`): `parse` of the
//! body, then `review::validate` and `review::mutate` with
//! testdata/admission/policy.yaml and a store that knows a protected admin
//! console, as `/validate` and `/mutate` run them.
//!
//! Input: a body. One that starts with `{` is sent as it is (the seeds are
//! the real API-server captures of testdata/admission/); anything else
//! drives structured edits (`arbitrary`) of one of those captures: its
//! annotations, hosts, paths, path types, TLS, class, operation, uid, kind,
//! sub-resource, name and namespace.
//!
//! Oracles:
//! - never panics; a body that is not a review is refused with 400, 413 or
//!   415;
//! - both answers echo the request's `uid` (typed and on the wire);
//! - mutate answers with a patch exactly when it says `patched`; the patch
//!   only touches `/metadata/annotations`, applies (json-patch) to the
//!   object, and the patched object is allowed by validate and needs no
//!   further patch.
#![no_main]

use std::sync::LazyLock;

use arbitrary::Unstructured;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube_core::admission::AdmissionResponse;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use stepup::policy::Policy;
use stepup::serve::admission::review::{self, Request};
use stepup::serve::admission::store::IngressStore;
use stepup::serve::admission::{parse, to_wire};
use stepup_fuzz::{ADMISSION_POLICY, fixture_policy};

macro_rules! captures {
    ($($f:literal),* $(,)?) => {
        [$(include_str!(concat!("../../testdata/admission/", $f))),*]
    };
}

const CAPTURES: [&str; 10] = captures![
    "ingress-create-validating.json",
    "ingress-create-mutating.json",
    "ingress-create-after-mutation-validating.json",
    "ingress-create-class-mismatch-mutating.json",
    "ingress-create-legacy-class-annotation-validating.json",
    "ingress-create-multihost-nginx-auth-validating.json",
    "ingress-create-nonadmin-validating.json",
    "ingress-update-validating.json",
    "ingress-update-server-side-apply-validating.json",
    "ingress-delete-validating.json",
];

struct Fixture {
    policy: Policy,
    store: IngressStore,
    captures: Vec<Value>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let policy = fixture_policy("policy.yaml", ADMISSION_POLICY);
    let captures: Vec<Value> = CAPTURES
        .iter()
        .map(|c| serde_json::from_str(c).unwrap_or_else(|e| panic!("capture: {e}")))
        .collect();
    let store = IngressStore::new();
    let console = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "console", "namespace": "shop",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {
                "nginx.ingress.kubernetes.io/auth-url": "http://stepup.stepup-system.svc.cluster.local:8080/auth?level=admin&rule=admin-console",
                "nginx.ingress.kubernetes.io/auth-signin": "https://$host/.stepup/signin?rd=$escaped_request_uri&level=admin"}},
        "spec": {"ingressClassName": "nginx",
            "tls": [{"hosts": ["admin.example.com"], "secretName": "tls"}],
            "rules": [{"host": "admin.example.com", "http": {"paths": [
                {"path": "/admin", "pathType": "Prefix",
                 "backend": {"service": {"name": "console", "port": {"number": 80}}}}]}}]}
    });
    let old = captures[7]["request"]["oldObject"].clone();
    for obj in [console, old] {
        if let Err(e) = store.upsert(obj) {
            panic!("store fixture: {e}");
        }
    }
    Fixture {
        policy,
        store,
        captures,
    }
});

fuzz_target!(|data: &[u8]| {
    let body = if data.first() == Some(&b'{') {
        data.to_vec()
    } else {
        match edited(&mut Unstructured::new(data)) {
            Ok(v) => v.to_string().into_bytes(),
            Err(_) => return,
        }
    };
    let req = match parse(Some("application/json"), &body) {
        Ok(r) => r,
        Err(r) => {
            assert!(
                matches!(r.status.as_u16(), 400 | 413 | 415),
                "refused with {}",
                r.status
            );
            return;
        }
    };
    judge(&req);
});

const ANNOTATIONS: [&str; 9] = [
    "nginx.ingress.kubernetes.io/auth-url",
    "nginx.ingress.kubernetes.io/auth-signin",
    "nginx.ingress.kubernetes.io/use-regex",
    "nginx.ingress.kubernetes.io/rewrite-target",
    "nginx.ingress.kubernetes.io/canary",
    "nginx.ingress.kubernetes.io/auth-snippet",
    "kubernetes.io/ingress.class",
    "stepup.dev/exempt",
    "stepup.dev/level",
];
const VALUES: [&str; 12] = [
    "http://stepup.stepup-system.svc.cluster.local:8080/auth?level=mfa&rule=apps",
    "http://stepup.stepup-system.svc.cluster.local:8080/auth?level=admin&rule=admin-console",
    "https://$host/.stepup/signin?rd=$escaped_request_uri&level=mfa",
    "http://other-auth.example/verify",
    "true",
    "false",
    "nginx",
    "mfa",
    "admin",
    "public",
    "",
    "/$1",
];
const HOSTS: [&str; 6] = [
    "app.example.com",
    "admin.example.com",
    "web.example.com",
    "modern.example.com",
    "*.apps.example.com",
    "unknown.example.org",
];
const PATHS: [&str; 8] = [
    "/",
    "/admin",
    "/admin/x",
    "/healthz",
    "/ADMIN",
    "/api(/|$)(.*)",
    "/.stepup",
    "/a/../admin",
];

fn pick(u: &mut Unstructured, list: &[&str]) -> arbitrary::Result<String> {
    Ok(if u.ratio(1, 4)? {
        u.arbitrary::<String>()?
    } else {
        (*u.choose(list)?).to_string()
    })
}

/// One of the captures, edited as the bytes say.
fn edited(u: &mut Unstructured) -> arbitrary::Result<Value> {
    let mut v = u.choose(&FIXTURE.captures)?.clone();
    for _ in 0..u.int_in_range(1..=6)? {
        let r = &mut v["request"];
        match u.int_in_range(0..=11)? {
            0 => {
                let k = pick(u, &ANNOTATIONS)?;
                r["object"]["metadata"]["annotations"][k] = Value::from(pick(u, &VALUES)?);
            }
            1 => {
                if let Some(a) = r["object"]["metadata"]["annotations"].as_object_mut() {
                    let k = pick(u, &ANNOTATIONS)?;
                    a.remove(&k);
                }
            }
            2 => {
                let rule = format!("/object/spec/rules/{}", u.int_in_range(0..=1)?);
                let host = Value::from(pick(u, &HOSTS)?);
                if let Some(o) = r.pointer_mut(&rule).and_then(Value::as_object_mut) {
                    o.insert("host".into(), host);
                }
            }
            3 => {
                let p = json!({"path": pick(u, &PATHS)?,
                    "pathType": pick(u, &["Prefix", "Exact", "ImplementationSpecific"])?,
                    "backend": {"service": {"name": "svc", "port": {"number": 80}}}});
                let paths = r.pointer_mut("/object/spec/rules/0/http/paths");
                if let Some(paths) = paths.and_then(Value::as_array_mut) {
                    paths.push(p);
                }
            }
            4 => {
                r["object"]["spec"]["tls"] = if u.arbitrary()? {
                    json!([{"hosts": [pick(u, &HOSTS)?], "secretName": "tls"}])
                } else {
                    json!([])
                };
            }
            5 => {
                r["object"]["spec"]["ingressClassName"] =
                    Value::from(pick(u, &["nginx", "other", ""])?);
            }
            6 => r["operation"] = Value::from(pick(u, &["CREATE", "UPDATE", "DELETE", "CONNECT"])?),
            7 => r["uid"] = Value::from(u.arbitrary::<String>()?),
            8 => r["kind"]["kind"] = Value::from(pick(u, &["Ingress", "Service"])?),
            9 => r["subResource"] = Value::from("status"),
            10 => {
                let f = pick(u, &["name", "namespace", "generateName"])?;
                r["object"]["metadata"][f] = Value::from(u.arbitrary::<String>()?);
            }
            _ => {
                if let Some(o) = r["object"].as_object_mut() {
                    let k = pick(u, &["spec", "metadata", "apiVersion", "status"])?;
                    o.remove(&k);
                }
            }
        }
    }
    Ok(v)
}

fn judge(req: &Request) {
    let f = &*FIXTURE;
    let v = review::validate(&f.policy, &f.store, req);
    assert_eq!(v.response.uid, req.uid, "validate's uid");
    on_wire(v.response.clone(), &req.uid);
    let m = review::mutate(&f.policy, &f.store, req);
    assert_eq!(m.response.uid, req.uid, "mutate's uid");
    let patch = m.response.patch.clone();
    assert_eq!(patch.is_some(), m.outcome == "patched", "{}", m.outcome);
    on_wire(m.response, &req.uid);
    let Some(bytes) = patch else {
        return;
    };
    let patch: json_patch::Patch = match serde_json::from_slice(&bytes) {
        Ok(p) => p,
        Err(e) => panic!("mutate's patch is not a JSON Patch: {e}"),
    };
    for op in &patch.0 {
        let path = serde_json::to_value(op).ok();
        let path = path.as_ref().and_then(|o| o["path"].as_str()).unwrap_or("");
        assert!(
            path == "/metadata/annotations" || path.starts_with("/metadata/annotations/"),
            "mutate patches {path}"
        );
    }
    let mut obj = match serde_json::to_value(&req.object) {
        Ok(o) => o,
        Err(e) => panic!("object: {e}"),
    };
    if let Err(e) = json_patch::patch(&mut obj, &patch) {
        panic!("mutate's patch does not apply: {e}");
    }
    let mut after = req.clone();
    after.object = match serde_json::from_value(obj) {
        Ok(o) => Some(o),
        Err(e) => panic!("patched object: {e}"),
    };
    let v = review::validate(&f.policy, &f.store, &after);
    assert!(
        v.response.allowed,
        "validate denies what mutate patched: {}",
        v.response.result.message
    );
    let again = review::mutate(&f.policy, &f.store, &after);
    assert!(
        again.response.patch.is_none(),
        "mutate patches its own result again ({})",
        again.outcome
    );
}

/// The review as sent: `response.uid` is the request's, a patch is base64.
fn on_wire(resp: AdmissionResponse, uid: &str) {
    let wire = match to_wire(resp) {
        Ok(w) => w,
        Err(e) => panic!("to_wire: {e}"),
    };
    assert_eq!(
        wire["response"]["uid"].as_str(),
        Some(uid),
        "uid on the wire"
    );
    if let Some(p) = wire["response"].get("patch") {
        let ok = p.as_str().is_some_and(|s| STANDARD.decode(s).is_ok());
        assert!(ok, "patch on the wire is not base64: {p}");
    }
}
