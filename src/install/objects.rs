//! The objects of `stepup install`, one builder per object (pure).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ServiceReference,
    ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, KeyToPath, Namespace, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, Secret, SecretKeySelector, SecretVolumeSource,
    SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec, TopologySpreadConstraint,
    Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::{CONTAINER_PORT, IDP_CA_CONFIGMAP, IDP_SECRET, IdpNeeds, Material, Options};

/// Name of every object (and of the Service the API server calls).
pub const NAME: &str = "stepup";
const POLICY_CONFIGMAP: &str = "stepup-policy";
const TLS_SECRET: &str = "stepup-tls";
const SESSION_SECRET: &str = "stepup-session-keys";
const POLICY_DIR: &str = "/etc/stepup/policy";
const TLS_DIR: &str = "/etc/stepup/tls";
const SESSION_DIR: &str = "/etc/stepup/session";
/// The directories the Deployment mounts volumes at.
pub const MOUNT_DIRS: [&str; 3] = [POLICY_DIR, TLS_DIR, SESSION_DIR];
/// The distroless `nonroot` user.
const USER: i64 = 65532;
/// The apiserver's call timeout for both webhooks.
pub const WEBHOOK_TIMEOUT_SECONDS: i32 = 5;

/// Every object, in apply order.
pub fn all(
    opts: &Options,
    policy_text: &str,
    material: &Material,
    needs: &IdpNeeds,
) -> Result<Vec<serde_json::Value>, String> {
    let ns = opts.namespace.as_str();
    let mut out = Vec::new();
    let mut push = |v: Result<serde_json::Value, serde_json::Error>| -> Result<(), String> {
        out.push(v.map_err(|e| format!("cannot serialise an object: {e}"))?);
        Ok(())
    };
    push(json(&namespace(ns)))?;
    push(json(&service_account(ns)))?;
    push(json(&cluster_role()))?;
    push(json(&cluster_role_binding(ns)))?;
    push(json(&policy_config_map(ns, policy_text)))?;
    push(json(&tls_secret(ns, material)))?;
    push(json(&session_secret(ns, material)))?;
    push(json(&service(ns)))?;
    push(json(&deployment(opts, policy_text, needs)))?;
    push(json(&pod_disruption_budget(ns)))?;
    push(json(&validating(opts, material)))?;
    push(json(&mutating(opts, material)))?;
    Ok(out)
}

fn json<T: Serialize>(o: &T) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(o)
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/name".to_string(), NAME.to_string())])
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        labels: Some(labels()),
        ..ObjectMeta::default()
    }
}

fn selector() -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels()),
        ..LabelSelector::default()
    }
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

fn namespace(ns: &str) -> Namespace {
    Namespace {
        metadata: meta(ns, None),
        ..Namespace::default()
    }
}

fn service_account(ns: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(NAME, Some(ns)),
        ..ServiceAccount::default()
    }
}

/// Read-only, and only what the admission watch needs: the Ingresses (to
/// judge one with the others of its hosts) and the IngressClasses (to know
/// which Ingresses ingress-nginx serves). No get: the watch lists.
fn cluster_role() -> ClusterRole {
    ClusterRole {
        metadata: meta(NAME, None),
        rules: Some(vec![PolicyRule {
            api_groups: Some(strings(&["networking.k8s.io"])),
            resources: Some(strings(&["ingresses", "ingressclasses"])),
            verbs: strings(&["list", "watch"]),
            ..PolicyRule::default()
        }]),
        ..ClusterRole::default()
    }
}

fn cluster_role_binding(ns: &str) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(NAME, None),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: NAME.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: NAME.into(),
            namespace: Some(ns.into()),
            ..Subject::default()
        }]),
    }
}

fn policy_config_map(ns: &str, policy_text: &str) -> ConfigMap {
    ConfigMap {
        metadata: meta(POLICY_CONFIGMAP, Some(ns)),
        data: Some(BTreeMap::from([(
            "policy.yaml".to_string(),
            policy_text.to_string(),
        )])),
        ..ConfigMap::default()
    }
}

fn tls_secret(ns: &str, m: &Material) -> Secret {
    Secret {
        metadata: meta(TLS_SECRET, Some(ns)),
        type_: Some("kubernetes.io/tls".into()),
        string_data: Some(BTreeMap::from([
            ("ca.crt".to_string(), m.ca_pem.clone()),
            ("tls.crt".to_string(), m.cert_pem.clone()),
            ("tls.key".to_string(), m.key_pem.clone()),
        ])),
        ..Secret::default()
    }
}

fn session_secret(ns: &str, m: &Material) -> Secret {
    Secret {
        metadata: meta(SESSION_SECRET, Some(ns)),
        type_: Some("Opaque".into()),
        string_data: Some(BTreeMap::from([(
            "session-keys".to_string(),
            m.session_keys.clone(),
        )])),
        ..Secret::default()
    }
}

fn service(ns: &str) -> Service {
    Service {
        metadata: meta(NAME, Some(ns)),
        spec: Some(ServiceSpec {
            selector: Some(labels()),
            ports: Some(vec![ServicePort {
                name: Some("https".into()),
                port: 443,
                target_port: Some(IntOrString::String("https".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn probe(path: &str, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("https".into()),
            scheme: Some("HTTPS".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

fn quantities(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity(cpu.into())),
        ("memory".to_string(), Quantity(memory.into())),
    ])
}

fn secret_volume(name: &str, secret: &str) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            // Readable by the pod's group (fsGroup) only.
            default_mode: Some(0o440),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn mount(name: &str, path: &str, sub_path: Option<&str>) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(true),
        sub_path: sub_path.map(str::to_string),
        ..VolumeMount::default()
    }
}

/// The pod's volumes, mounts and extra environment for the policy's own
/// files (`clientSecretFile`, `caFile`) and variables (`clientSecretEnv`).
fn idp_wiring(needs: &IdpNeeds) -> (Vec<Volume>, Vec<VolumeMount>, Vec<EnvVar>) {
    let (mut volumes, mut mounts, mut env) = (Vec::new(), Vec::new(), Vec::new());
    if needs.client_secret_file.is_some() || needs.client_secret_env.is_some() {
        volumes.push(Volume {
            name: "idp-client-secret".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(IDP_SECRET.into()),
                default_mode: Some(0o440),
                items: Some(vec![KeyToPath {
                    key: "client-secret".into(),
                    path: "client-secret".into(),
                    ..KeyToPath::default()
                }]),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    if let Some(p) = &needs.client_secret_file {
        mounts.push(mount("idp-client-secret", p, Some("client-secret")));
    }
    if let Some(var) = &needs.client_secret_env {
        env.push(EnvVar {
            name: var.clone(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: IDP_SECRET.into(),
                    key: "client-secret".into(),
                    ..SecretKeySelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        });
    }
    if let Some(p) = &needs.ca_file {
        volumes.push(Volume {
            name: "idp-ca".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: IDP_CA_CONFIGMAP.into(),
                items: Some(vec![KeyToPath {
                    key: "ca.crt".into(),
                    path: "ca.crt".into(),
                    ..KeyToPath::default()
                }]),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
        mounts.push(mount("idp-ca", p, Some("ca.crt")));
    }
    (volumes, mounts, env)
}

/// The `stepup serve` arguments the Deployment runs.
pub fn serve_args(opts: &Options) -> Vec<String> {
    vec![
        "serve".into(),
        "--policy".into(),
        format!("{POLICY_DIR}/policy.yaml"),
        "--listen".into(),
        format!("0.0.0.0:{CONTAINER_PORT}"),
        "--tls-cert".into(),
        format!("{TLS_DIR}/tls.crt"),
        "--tls-key".into(),
        format!("{TLS_DIR}/tls.key"),
        "--session-keys".into(),
        format!("{SESSION_DIR}/session-keys"),
        "--exempt-namespace-label".into(),
        opts.exempt_label.to_string(),
        // The admission webhook judges each Ingress with the others of its
        // hosts (shadowing): watch them with the ServiceAccount's RBAC.
        "--watch-ingresses".into(),
    ]
}

fn deployment(opts: &Options, policy_text: &str, needs: &IdpNeeds) -> Deployment {
    let ns = opts.namespace.as_str();
    let (idp_volumes, idp_mounts, env) = idp_wiring(needs);
    let mut volumes = vec![
        Volume {
            name: "policy".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: POLICY_CONFIGMAP.into(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        secret_volume("tls", TLS_SECRET),
        secret_volume("session-keys", SESSION_SECRET),
    ];
    volumes.extend(idp_volumes);
    let mut mounts = vec![
        mount("policy", POLICY_DIR, None),
        mount("tls", TLS_DIR, None),
        mount("session-keys", SESSION_DIR, None),
    ];
    mounts.extend(idp_mounts);
    // The policy is read at start-up: a changed policy changes this
    // annotation, so applying it again rolls the pods.
    let digest = ring::digest::digest(&ring::digest::SHA256, policy_text.as_bytes());
    let policy_sha: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let container = Container {
        name: NAME.into(),
        image: Some(opts.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(strings(&["/usr/local/bin/stepup"])),
        args: Some(serve_args(opts)),
        env: (!env.is_empty()).then_some(env),
        ports: Some(vec![ContainerPort {
            name: Some("https".into()),
            container_port: CONTAINER_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        liveness_probe: Some(probe("/healthz", 10)),
        readiness_probe: Some(probe("/readyz", 5)),
        resources: Some(ResourceRequirements {
            requests: Some(quantities("50m", "64Mi")),
            limits: Some(quantities("1", "256Mi")),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(strings(&["ALL"])),
                ..Capabilities::default()
            }),
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_group: Some(USER),
            run_as_non_root: Some(true),
            run_as_user: Some(USER),
            seccomp_profile: Some(runtime_default()),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(mounts),
        ..Container::default()
    };
    let mut template_meta = meta(NAME, None);
    template_meta.name = None;
    template_meta.annotations = Some(BTreeMap::from([(
        "stepup.dev/policy-sha256".to_string(),
        policy_sha,
    )]));
    Deployment {
        metadata: meta(NAME, Some(ns)),
        spec: Some(DeploymentSpec {
            replicas: Some(2),
            selector: selector(),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(template_meta),
                spec: Some(PodSpec {
                    service_account_name: Some(NAME.into()),
                    security_context: Some(PodSecurityContext {
                        fs_group: Some(USER),
                        run_as_group: Some(USER),
                        run_as_non_root: Some(true),
                        run_as_user: Some(USER),
                        seccomp_profile: Some(runtime_default()),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![container],
                    volumes: Some(volumes),
                    topology_spread_constraints: Some(vec![TopologySpreadConstraint {
                        max_skew: 1,
                        topology_key: "kubernetes.io/hostname".into(),
                        when_unsatisfiable: "ScheduleAnyway".into(),
                        label_selector: Some(selector()),
                        ..TopologySpreadConstraint::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        ..SeccompProfile::default()
    }
}

fn pod_disruption_budget(ns: &str) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(NAME, Some(ns)),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            selector: Some(selector()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

/// Which namespaces the API server sends reviews for: not stepup's own
/// (its pods must start even when the webhook is down), not kube-system,
/// not those carrying the exemption label.
pub fn namespace_selector(opts: &Options) -> LabelSelector {
    let mut names = vec![opts.namespace.clone()];
    if opts.namespace != "kube-system" {
        names.push("kube-system".into());
    }
    LabelSelector {
        match_expressions: Some(vec![
            LabelSelectorRequirement {
                key: "kubernetes.io/metadata.name".into(),
                operator: "NotIn".into(),
                values: Some(names),
            },
            LabelSelectorRequirement {
                key: opts.exempt_label.key.clone(),
                operator: "NotIn".into(),
                values: Some(vec![opts.exempt_label.value.clone()]),
            },
        ]),
        ..LabelSelector::default()
    }
}

/// CREATE and UPDATE of `networking.k8s.io/v1` Ingresses. Not DELETE: a
/// deletion is always allowed (docs/admission.md), so sending it would only
/// add a way for a webhook outage to block it.
fn rules() -> Vec<RuleWithOperations> {
    vec![RuleWithOperations {
        api_groups: Some(strings(&["networking.k8s.io"])),
        api_versions: Some(strings(&["v1"])),
        operations: Some(strings(&["CREATE", "UPDATE"])),
        resources: Some(strings(&["ingresses"])),
        scope: Some("Namespaced".into()),
    }]
}

fn client_config(ns: &str, path: &str, m: &Material) -> WebhookClientConfig {
    WebhookClientConfig {
        ca_bundle: Some(ByteString(m.ca_pem.as_bytes().to_vec())),
        service: Some(ServiceReference {
            name: NAME.into(),
            namespace: ns.into(),
            path: Some(path.into()),
            port: Some(443),
        }),
        url: None,
    }
}

fn validating(opts: &Options, m: &Material) -> ValidatingWebhookConfiguration {
    ValidatingWebhookConfiguration {
        metadata: meta(NAME, None),
        webhooks: Some(vec![ValidatingWebhook {
            name: "validate.stepup.dev".into(),
            admission_review_versions: strings(&["v1"]),
            client_config: client_config(&opts.namespace, "/validate", m),
            failure_policy: Some("Fail".into()),
            match_policy: Some("Equivalent".into()),
            namespace_selector: Some(namespace_selector(opts)),
            rules: Some(rules()),
            side_effects: "None".into(),
            timeout_seconds: Some(WEBHOOK_TIMEOUT_SECONDS),
            ..ValidatingWebhook::default()
        }]),
    }
}

fn mutating(opts: &Options, m: &Material) -> MutatingWebhookConfiguration {
    MutatingWebhookConfiguration {
        metadata: meta(NAME, None),
        webhooks: Some(vec![MutatingWebhook {
            name: "mutate.stepup.dev".into(),
            admission_review_versions: strings(&["v1"]),
            client_config: client_config(&opts.namespace, "/mutate", m),
            failure_policy: Some("Fail".into()),
            match_policy: Some("Equivalent".into()),
            namespace_selector: Some(namespace_selector(opts)),
            // The patch is idempotent (an empty patch when nothing
            // changes): being called again after another webhook changed
            // the Ingress is safe and re-protects what it changed.
            reinvocation_policy: Some("IfNeeded".into()),
            rules: Some(rules()),
            side_effects: "None".into(),
            timeout_seconds: Some(WEBHOOK_TIMEOUT_SECONDS),
            ..MutatingWebhook::default()
        }]),
    }
}
