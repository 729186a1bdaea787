//! Unit tests of the pure manifests (fixed material) and of the generated
//! certificates.

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::{Value, json};

use super::*;

const POLICY: &str = "\
apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata:
  name: t
spec:
  idp:
    issuer: https://idp.example.com
    audiences: [a]
  authService:
    url: https://stepup.stepup-system.svc.cluster.local
  levels:
    - name: mfa
      acr: [urn:mfa]
  rules:
    - name: all
      paths: [/**]
      level: mfa
";

fn policy(text: &str) -> Policy {
    crate::policy::parse("policy.yaml", text).unwrap()
}

fn opts() -> Options {
    Options {
        namespace: "stepup-system".into(),
        image: "example.com/stepup:1".into(),
        exempt_label: crate::label::parse(DEFAULT_EXEMPT_LABEL).unwrap(),
    }
}

fn fixed() -> Material {
    Material {
        ca_pem: "CA\n".into(),
        cert_pem: "CERT\n".into(),
        key_pem: "KEY\n".into(),
        session_keys: "k1 AAAA\n".into(),
    }
}

fn build(o: &Options, text: &str) -> Installation {
    manifests(o, &policy(text), text, &fixed()).unwrap()
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn container(objs: &[Value]) -> &Value {
    &find(objs, "Deployment", "stepup")["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn objects_in_apply_order_with_identity() {
    let inst = build(&opts(), POLICY);
    let kinds: Vec<&str> = inst
        .objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Secret",
            "Secret",
            "Service",
            "Deployment",
            "PodDisruptionBudget",
            "ValidatingWebhookConfiguration",
            "MutatingWebhookConfiguration",
        ]
    );
    let cluster_scoped = [
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ];
    for o in &inst.objects {
        assert!(o["apiVersion"].is_string(), "{o}");
        assert!(o["metadata"]["name"].is_string(), "{o}");
        let kind = o["kind"].as_str().unwrap();
        if cluster_scoped.contains(&kind) {
            assert!(o["metadata"].get("namespace").is_none(), "{o}");
        } else {
            assert_eq!(o["metadata"]["namespace"], "stepup-system", "{o}");
        }
    }
    // Matching authService: nothing to say.
    assert!(inst.notes.is_empty(), "{:?}", inst.notes);
}

#[test]
fn deterministic_for_fixed_material() {
    let a = to_yaml(&build(&opts(), POLICY).objects).unwrap();
    let b = to_yaml(&build(&opts(), POLICY).objects).unwrap();
    assert_eq!(a, b);
    assert!(
        a.starts_with("---\napiVersion: v1\nkind: Namespace\n"),
        "{a}"
    );
    assert_eq!(a.matches("\n---\n").count(), 11);
}

#[test]
fn rbac_reads_ingresses_and_classes_only() {
    let inst = build(&opts(), POLICY);
    let role = find(&inst.objects, "ClusterRole", "stepup");
    assert_eq!(
        role["rules"],
        json!([{
            "apiGroups": ["networking.k8s.io"],
            "resources": ["ingresses", "ingressclasses"],
            "verbs": ["list", "watch"],
        }])
    );
    let binding = find(&inst.objects, "ClusterRoleBinding", "stepup");
    assert_eq!(binding["roleRef"]["name"], "stepup");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "stepup", "namespace": "stepup-system"}])
    );
    assert_eq!(
        find(&inst.objects, "Deployment", "stepup")["spec"]["template"]["spec"]["serviceAccountName"],
        "stepup"
    );
}

#[test]
fn webhooks_exclude_own_namespace_kube_system_and_the_label() {
    let mut o = opts();
    o.namespace = "auth".into();
    o.exempt_label = crate::label::parse("example.com/no-stepup=yes").unwrap();
    let inst = build(&o, POLICY);
    for (kind, path) in [
        ("ValidatingWebhookConfiguration", "/validate"),
        ("MutatingWebhookConfiguration", "/mutate"),
    ] {
        let w = &find(&inst.objects, kind, "stepup")["webhooks"][0];
        assert_eq!(
            w["namespaceSelector"],
            json!({"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["auth", "kube-system"]},
                {"key": "example.com/no-stepup", "operator": "NotIn", "values": ["yes"]},
            ]}),
            "{kind}"
        );
        assert_eq!(
            w["clientConfig"]["service"],
            json!({"name": "stepup", "namespace": "auth", "path": path, "port": 443})
        );
        assert_eq!(w["failurePolicy"], "Fail");
        assert_eq!(w["sideEffects"], "None");
        assert_eq!(w["timeoutSeconds"], 5);
        assert_eq!(w["admissionReviewVersions"], json!(["v1"]));
        assert_eq!(
            w["rules"],
            json!([{
                "apiGroups": ["networking.k8s.io"],
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["ingresses"],
                "scope": "Namespaced",
            }])
        );
        let ca = STANDARD
            .decode(w["clientConfig"]["caBundle"].as_str().unwrap())
            .unwrap();
        assert_eq!(ca, b"CA\n");
    }
    assert_eq!(
        find(&inst.objects, "MutatingWebhookConfiguration", "stepup")["webhooks"][0]["reinvocationPolicy"],
        "IfNeeded"
    );
    // The serve flag reports the same label.
    let args = container(&inst.objects)["args"].as_array().unwrap();
    let i = args
        .iter()
        .position(|a| a == "--exempt-namespace-label")
        .unwrap();
    assert_eq!(args[i + 1], "example.com/no-stepup=yes");
}

#[test]
fn installing_into_kube_system_lists_it_once() {
    let mut o = opts();
    o.namespace = "kube-system".into();
    let inst = build(&o, POLICY);
    let sel = &find(&inst.objects, "ValidatingWebhookConfiguration", "stepup")["webhooks"][0]["namespaceSelector"]
        ["matchExpressions"][0]["values"];
    assert_eq!(sel, &json!(["kube-system"]));
}

#[test]
fn deployment_is_locked_down() {
    let inst = build(&opts(), POLICY);
    let d = find(&inst.objects, "Deployment", "stepup");
    assert_eq!(d["spec"]["replicas"], 2);
    let pod = &d["spec"]["template"]["spec"];
    let psc = &pod["securityContext"];
    assert_eq!(psc["runAsNonRoot"], true);
    assert_eq!(psc["runAsUser"], 65532);
    assert_eq!(psc["fsGroup"], 65532);
    assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault");
    let c = container(&inst.objects);
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["runAsUser"], 65532);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["privileged"], false);
    assert_eq!(sc["capabilities"], json!({"drop": ["ALL"]}));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(c["image"], "example.com/stepup:1");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(
            c[probe]["httpGet"],
            json!({"path": path, "port": "https", "scheme": "HTTPS"}),
            "{probe}"
        );
    }
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    let pdb = find(&inst.objects, "PodDisruptionBudget", "stepup");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(pdb["spec"]["selector"], d["spec"]["selector"]);
    let svc = find(&inst.objects, "Service", "stepup");
    assert_eq!(
        svc["spec"]["selector"],
        d["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}])
    );
    assert_eq!(c["ports"][0]["name"], "https");
}

/// Every flag path is under a mount of a volume that comes from an object
/// of the output, holding the key the flag names.
#[test]
fn serve_flags_read_what_the_volumes_hold() {
    let inst = build(&opts(), POLICY);
    let c = container(&inst.objects);
    let pod = &find(&inst.objects, "Deployment", "stepup")["spec"]["template"]["spec"];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "serve");
    for flag in ["--policy", "--tls-cert", "--tls-key", "--session-keys"] {
        let i = args.iter().position(|a| *a == flag).unwrap();
        let path = args[i + 1];
        let m = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| path.starts_with(&format!("{}/", m["mountPath"].as_str().unwrap())))
            .unwrap_or_else(|| panic!("{flag} {path}: no mount"));
        assert_eq!(m["readOnly"], true);
        let key = &path[m["mountPath"].as_str().unwrap().len() + 1..];
        let vol = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == m["name"])
            .unwrap();
        let (kind, name, field) = if vol["secret"].is_object() {
            ("Secret", &vol["secret"]["secretName"], "stringData")
        } else {
            ("ConfigMap", &vol["configMap"]["name"], "data")
        };
        let obj = find(&inst.objects, kind, name.as_str().unwrap());
        assert!(
            obj[field][key].is_string(),
            "{flag}: {kind} {name} has no {key}"
        );
    }
    let tls = find(&inst.objects, "Secret", "stepup-tls");
    assert_eq!(tls["type"], "kubernetes.io/tls");
    assert_eq!(tls["stringData"]["tls.crt"], "CERT\n");
    assert_eq!(tls["stringData"]["tls.key"], "KEY\n");
    assert_eq!(
        find(&inst.objects, "Secret", "stepup-session-keys")["stringData"]["session-keys"],
        "k1 AAAA\n"
    );
    assert_eq!(
        find(&inst.objects, "ConfigMap", "stepup-policy")["data"]["policy.yaml"],
        POLICY
    );
}

#[test]
fn a_changed_policy_rolls_the_pods() {
    let sha = |text: &str| {
        find(&build(&opts(), text).objects, "Deployment", "stepup")["spec"]["template"]["metadata"]
            ["annotations"]["stepup.dev/policy-sha256"]
            .clone()
    };
    let changed = POLICY.replace("name: t", "name: u");
    assert_ne!(sha(POLICY), sha(&changed));
    assert_eq!(sha(POLICY).as_str().unwrap().len(), 64);
}

#[test]
fn idp_files_and_env_come_from_named_objects() {
    let text = POLICY.replace(
        "    audiences: [a]\n",
        "    audiences: [a]\n    clientID: c\n    clientSecretEnv: OIDC_SECRET\n    caFile: /etc/stepup/idp-ca.crt\n",
    );
    let inst = build(&opts(), &text);
    let c = container(&inst.objects);
    assert_eq!(
        c["env"],
        json!([{"name": "OIDC_SECRET", "valueFrom": {"secretKeyRef": {"key": "client-secret", "name": IDP_SECRET}}}])
    );
    let mounts = c["volumeMounts"].as_array().unwrap();
    let ca = mounts
        .iter()
        .find(|m| m["mountPath"] == "/etc/stepup/idp-ca.crt")
        .unwrap();
    assert_eq!(ca["subPath"], "ca.crt");
    assert!(
        inst.notes.iter().any(|n| n.contains(IDP_SECRET)),
        "{:?}",
        inst.notes
    );
    assert!(
        inst.notes.iter().any(|n| n.contains(IDP_CA_CONFIGMAP)),
        "{:?}",
        inst.notes
    );

    let file = POLICY.replace(
        "    audiences: [a]\n",
        "    audiences: [a]\n    clientID: c\n    clientSecretFile: /var/run/secret\n",
    );
    let inst = build(&opts(), &file);
    let m = container(&inst.objects)["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/var/run/secret")
        .cloned()
        .unwrap();
    assert_eq!(m["subPath"], "client-secret");
    assert!(container(&inst.objects).get("env").is_none());
}

#[test]
fn refuses_what_could_not_run() {
    let run = |o: &Options, text: &str| manifests(o, &policy(text), text, &fixed()).unwrap_err();
    let no_idp = POLICY.replace(
        "  idp:\n    issuer: https://idp.example.com\n    audiences: [a]\n",
        "",
    );
    let e = run(&opts(), &no_idp);
    assert!(
        e.starts_with("policy.yaml: the policy has no spec.idp"),
        "{e}"
    );
    for (path, why) in [
        ("secret", "absolute"),
        ("/etc/stepup/tls/secret", "inside /etc/stepup/tls"),
        ("/etc/stepup/policy", "inside /etc/stepup/policy"),
        ("/etc/stepup/../x", "plain file path"),
    ] {
        let text = POLICY.replace(
            "    audiences: [a]\n",
            &format!("    audiences: [a]\n    clientID: c\n    clientSecretFile: {path}\n"),
        );
        let e = run(&opts(), &text);
        assert!(
            e.contains("spec.idp.clientSecretFile") && e.contains(why),
            "{path}: {e}"
        );
    }
    let mut o = opts();
    o.namespace = "Stepup".into();
    assert!(run(&o, POLICY).starts_with("--namespace: "));
    let mut o = opts();
    o.image = "a b".into();
    assert!(run(&o, POLICY).starts_with("--image "));
}

#[test]
fn auth_service_elsewhere_is_a_note() {
    let text = POLICY.replace(
        "https://stepup.stepup-system.svc.cluster.local",
        "http://stepup.stepup-system.svc.cluster.local:8080",
    );
    let inst = build(&opts(), &text);
    assert_eq!(inst.notes.len(), 1, "{:?}", inst.notes);
    assert!(inst.notes[0].contains("https://stepup.stepup-system.svc.cluster.local"));
}

#[test]
fn placeholder_material_says_what_it_is() {
    let m = Material::placeholder();
    for t in [&m.ca_pem, &m.cert_pem, &m.key_pem, &m.session_keys] {
        assert!(t.contains(PLACEHOLDER), "{t}");
    }
    // serve refuses it (fail closed): not a key file.
    assert!(crate::serve::session::SessionKeys::parse("k", &m.session_keys).is_err());
    assert!(!format!("{:?}", fixed()).contains("KEY"));
}

/// The generated CA verifies the serving certificate for exactly the
/// Service's DNS names, as a server certificate, now and within a year.
#[test]
fn generated_ca_verifies_the_serving_cert_for_the_service_names() {
    let now = SystemTime::now();
    let m = pki::generate("auth", now).unwrap();
    let ca = CertificateDer::from_pem_slice(m.ca_pem.as_bytes()).unwrap();
    let leaf = CertificateDer::from_pem_slice(m.cert_pem.as_bytes()).unwrap();
    let anchor = webpki::anchor_from_trusted_cert(&ca).unwrap();
    let ee = webpki::EndEntityCert::try_from(&leaf).unwrap();
    let verify = |at: SystemTime| {
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            std::slice::from_ref(&anchor),
            &[],
            UnixTime::since_unix_epoch(at.duration_since(SystemTime::UNIX_EPOCH).unwrap()),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map(|_| ())
    };
    verify(now).unwrap();
    verify(now + Duration::from_secs(364 * 86_400)).unwrap();
    assert!(verify(now + Duration::from_secs(366 * 86_400)).is_err());
    assert!(verify(now - Duration::from_secs(2 * 3600)).is_err());
    for name in [
        "stepup.auth.svc",
        "stepup.auth.svc.cluster.local",
        "stepup.auth",
    ] {
        let sn = ServerName::try_from(name).unwrap();
        ee.verify_is_valid_for_subject_name(&sn)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    for other in ["stepup.other.svc", "localhost", "stepup"] {
        let sn = ServerName::try_from(other).unwrap();
        assert!(ee.verify_is_valid_for_subject_name(&sn).is_err(), "{other}");
    }
    // Another run's CA does not verify this certificate.
    let other = pki::generate("auth", now).unwrap();
    let other_ca = CertificateDer::from_pem_slice(other.ca_pem.as_bytes()).unwrap();
    let other_anchor = webpki::anchor_from_trusted_cert(&other_ca).unwrap();
    assert!(
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[other_anchor],
            &[],
            UnixTime::now(),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .is_err()
    );
    // The session keys parse as serve reads them.
    let keys = crate::serve::session::SessionKeys::parse("k", &m.session_keys).unwrap();
    assert_eq!(keys.current_id(), "k1");
    assert_ne!(m.session_keys, other.session_keys);
}
