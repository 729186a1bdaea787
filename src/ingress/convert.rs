//! `extensions/v1beta1` and `networking.k8s.io/v1beta1` Ingresses (removed
//! in Kubernetes 1.22), converted in memory to `networking.k8s.io/v1` as the
//! API server converts them:
//!
//! - a backend's `serviceName`/`servicePort` become `service.name` and
//!   `service.port.number` (an integer port) or `service.port.name` (a
//!   string port); `resource` backends are kept as they are
//!   (kubernetes `pkg/apis/networking/v1beta1/conversion.go` and
//!   `pkg/apis/extensions/v1beta1/conversion.go`,
//!   `Convert_v1beta1_IngressBackend_To_networking_IngressBackend`);
//! - `spec.backend` becomes `spec.defaultBackend`
//!   (`Convert_v1beta1_IngressSpec_To_networking_IngressSpec`);
//! - a path without `pathType` gets `ImplementationSpecific`, the v1beta1
//!   default (`defaults.go` `SetDefaults_HTTPIngressPath`).
//!
//! Only the shape changes; the object keeps its pointers' lines for every
//! field the conversion does not rename.

use serde_json::{Map, Value};

/// Whether `api` is a removed Ingress API version stepup converts.
pub fn is_removed(api: &str) -> bool {
    matches!(api, "extensions/v1beta1" | "networking.k8s.io/v1beta1")
}

/// Convert a removed-API Ingress object to the v1 shape, in place.
pub fn to_v1(obj: &mut Map<String, Value>) {
    obj.insert("apiVersion".into(), Value::from("networking.k8s.io/v1"));
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(mut b) = spec.remove("backend") {
        backend(&mut b);
        spec.entry("defaultBackend").or_insert(b);
    }
    let Some(rules) = spec.get_mut("rules").and_then(Value::as_array_mut) else {
        return;
    };
    for rule in rules {
        let paths = rule
            .pointer_mut("/http/paths")
            .and_then(Value::as_array_mut);
        for p in paths.into_iter().flatten() {
            let Some(p) = p.as_object_mut() else {
                continue;
            };
            if p.get("pathType").is_none_or(Value::is_null) {
                p.insert("pathType".into(), Value::from("ImplementationSpecific"));
            }
            if let Some(b) = p.get_mut("backend") {
                backend(b);
            }
        }
    }
}

/// `{serviceName, servicePort}` → `{service: {name, port: {number|name}}}`.
fn backend(b: &mut Value) {
    let Some(b) = b.as_object_mut() else {
        return;
    };
    let name = b.remove("serviceName");
    let port = b.remove("servicePort");
    if name.is_none() && port.is_none() {
        return;
    }
    let mut service = Map::new();
    service.insert("name".into(), name.unwrap_or_else(|| Value::from("")));
    match port {
        Some(Value::Number(n)) => {
            service.insert("port".into(), serde_json::json!({ "number": n }));
        }
        Some(Value::String(s)) => {
            service.insert("port".into(), serde_json::json!({ "name": s }));
        }
        _ => {}
    }
    b.insert("service".into(), Value::Object(service));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn backends_paths_and_default_backend_are_converted() {
        let mut v = json!({
            "apiVersion": "extensions/v1beta1", "kind": "Ingress",
            "metadata": {"name": "old"},
            "spec": {
                "backend": {"serviceName": "fallback", "servicePort": 8080},
                "rules": [{"host": "a.example.com", "http": {"paths": [
                    {"path": "/", "backend": {"serviceName": "web", "servicePort": "http"}},
                    {"path": "/x", "pathType": "Prefix", "backend": {"serviceName": "x", "servicePort": 80}},
                    {"path": "/r", "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "b"}}}
                ]}}]
            }
        });
        to_v1(v.as_object_mut().unwrap());
        assert_eq!(v["apiVersion"], "networking.k8s.io/v1");
        assert_eq!(
            v["spec"]["defaultBackend"],
            json!({"service": {"name": "fallback", "port": {"number": 8080}}})
        );
        assert!(v["spec"].get("backend").is_none());
        let paths = &v["spec"]["rules"][0]["http"]["paths"];
        assert_eq!(paths[0]["pathType"], "ImplementationSpecific");
        assert_eq!(
            paths[0]["backend"],
            json!({"service": {"name": "web", "port": {"name": "http"}}})
        );
        assert_eq!(paths[1]["pathType"], "Prefix");
        assert_eq!(paths[1]["backend"]["service"]["port"]["number"], 80);
        assert_eq!(paths[2]["backend"]["resource"]["kind"], "Bucket");
    }
}
