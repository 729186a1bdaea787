//! `stepup install`: everything needed to run `stepup serve` in a cluster,
//! as multi-document YAML (docs/install.md says what each object is for).
//!
//! Pure: [`manifests`] takes the options, the policy (parsed, and its text
//! for the ConfigMap) and the generated [`Material`], and returns the
//! objects in a fixed order with fixed content. The randomness (CA, serving
//! certificate, session keys) is made at the edge by [`pki::generate`], or
//! replaced by [`Material::placeholder`] for the kustomize base in
//! `webhook/`, which a test keeps identical to this output.
//!
//! Objects are built with k8s-openapi's types (so every field name is the
//! API's) and serialised through serde_json (k8s-openapi writes fields in
//! the API's order and skips unset ones) to YAML with serde_yaml.

mod objects;
pub mod pki;

#[cfg(test)]
mod tests;

use crate::policy::Policy;

pub use crate::label::{DEFAULT_EXEMPT_LABEL, Label};

/// Where the container reads what the Deployment mounts. Paths of the
/// policy's own files (`clientSecretFile`, `caFile`) may not fall under it.
pub const MOUNT_ROOT: &str = "/etc/stepup";

/// The port `stepup serve` listens on in the pod (TLS).
pub const CONTAINER_PORT: i32 = 8443;

/// Name of the Secret (key `client-secret`) the Deployment reads the OIDC
/// client secret from, when the policy asks for one.
pub const IDP_SECRET: &str = "stepup-idp";

/// Name of the ConfigMap (key `ca.crt`) holding the IdP's CA bundle, when
/// the policy names a `caFile`.
pub const IDP_CA_CONFIGMAP: &str = "stepup-idp-ca";

/// Options of `stepup install` (flags are documented in the CLI).
#[derive(Debug, Clone)]
pub struct Options {
    /// Namespace of everything namespaced.
    pub namespace: String,
    /// Container image.
    pub image: String,
    /// Namespaces carrying this label are never sent to the webhooks.
    pub exempt_label: Label,
}

/// The default image: the crate version's release on GHCR.
pub fn default_image() -> String {
    format!("ghcr.io/stepup-dev/stepup:v{}", env!("CARGO_PKG_VERSION"))
}

/// The generated secrets: PEM texts and the session-keys file.
#[derive(Clone, PartialEq, Eq)]
pub struct Material {
    /// The CA certificate (the `caBundle`).
    pub ca_pem: String,
    /// The serving certificate, signed by the CA.
    pub cert_pem: String,
    /// The serving certificate's private key.
    pub key_pem: String,
    /// The `--session-keys` file (`<kid> <base64>` lines).
    pub session_keys: String,
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Material")
            .field("ca_pem", &self.ca_pem)
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// Text of every placeholder: says what it is and where the real value comes from.
pub const PLACEHOLDER: &str =
    "PLACEHOLDER: replace with the output of `stepup install` (webhook/README.md)";

impl Material {
    /// Fixed, obviously unusable material (`--placeholder-secrets`): a pod
    /// started with it fails at start-up saying the PEM files are not PEM,
    /// and the API server cannot call a webhook whose `caBundle` is not a
    /// certificate — it fails closed.
    pub fn placeholder() -> Material {
        Material {
            ca_pem: format!("{PLACEHOLDER}\n"),
            cert_pem: format!("{PLACEHOLDER}\n"),
            key_pem: format!("{PLACEHOLDER}\n"),
            session_keys: format!("# {PLACEHOLDER}\n"),
        }
    }
}

/// The objects and the notes for the person installing.
#[derive(Debug, Clone)]
pub struct Installation {
    /// The objects, in apply order.
    pub objects: Vec<serde_json::Value>,
    /// What the output cannot do by itself (stderr).
    pub notes: Vec<String>,
}

/// What the Deployment must provide for the policy's own file and
/// environment references.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IdpNeeds {
    pub client_secret_file: Option<String>,
    pub client_secret_env: Option<String>,
    pub ca_file: Option<String>,
}

/// Build the installation for `policy` (whose file text is `policy_text`).
/// Fails with the reason when the result could not run: a policy
/// `stepup serve` would refuse, a policy file path the Deployment cannot
/// provide, a bad namespace or image.
pub fn manifests(
    opts: &Options,
    policy: &Policy,
    policy_text: &str,
    material: &Material,
) -> Result<Installation, String> {
    crate::label::check_dns_label(&opts.namespace).map_err(|e| format!("--namespace: {e}"))?;
    if opts.image.trim().is_empty() || opts.image.chars().any(char::is_whitespace) {
        return Err(format!(
            "--image {:?}: an image reference has no whitespace and is not empty",
            opts.image
        ));
    }
    let idp = crate::serve::check_idp(policy).map_err(|e| format!("{}: {e}", policy.file))?;
    let needs = IdpNeeds {
        client_secret_file: idp.client_secret_file.clone(),
        client_secret_env: idp.client_secret_env.clone(),
        ca_file: idp.ca_file.clone(),
    };
    for (field, path) in [
        ("spec.idp.clientSecretFile", &needs.client_secret_file),
        ("spec.idp.caFile", &needs.ca_file),
    ] {
        if let Some(p) = path {
            check_mount_path(p).map_err(|e| format!("{}: {field} {p:?} {e}", policy.file))?;
        }
    }
    let mut notes = Vec::new();
    let service = format!("https://stepup.{}.svc.cluster.local", opts.namespace);
    match &policy.auth_service {
        Some(a) if a.url.trim_end_matches('/') == service => {}
        Some(a) => notes.push(format!(
            "spec.authService.url is {}, but the installed server answers at {service} \
             (port 443, TLS): set it there so `stepup generate` writes auth-urls that reach it",
            a.url
        )),
        None => notes.push(format!(
            "the policy has no spec.authService: set url: {service} so `stepup generate` can write auth-urls"
        )),
    }
    if needs.client_secret_file.is_some() || needs.client_secret_env.is_some() {
        notes.push(format!(
            "the policy reads the OIDC client secret: create it before the pods can start: \
             kubectl -n {} create secret generic {IDP_SECRET} --from-file=client-secret=FILE",
            opts.namespace
        ));
    }
    if needs.ca_file.is_some() {
        notes.push(format!(
            "the policy names an IdP caFile: create it before the pods can start: \
             kubectl -n {} create configmap {IDP_CA_CONFIGMAP} --from-file=ca.crt=FILE",
            opts.namespace
        ));
    }
    let objects = objects::all(opts, policy_text, material, &needs)?;
    Ok(Installation { objects, notes })
}

/// A policy file path the Deployment mounts a single file at: absolute,
/// normal, and not inside one of the directories it mounts itself.
fn check_mount_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err("must be an absolute path (the pod's working directory is /)".into());
    }
    if p.ends_with('/') || p.split('/').any(|s| s == "." || s == "..") || p.contains("//") {
        return Err("must be a plain file path (no `.`, `..`, `//` or trailing `/`)".into());
    }
    for dir in objects::MOUNT_DIRS {
        if p == dir || p.starts_with(&format!("{dir}/")) {
            return Err(format!(
                "is inside {dir}, which `stepup install` mounts: use another path (e.g. {MOUNT_ROOT}/client-secret)"
            ));
        }
    }
    Ok(())
}

/// The objects as multi-document YAML (`---` between documents).
pub fn to_yaml(objects: &[serde_json::Value]) -> Result<String, String> {
    let mut out = String::new();
    for o in objects {
        let doc = serde_yaml::to_string(o).map_err(|e| format!("YAML output: {e}"))?;
        out.push_str("---\n");
        out.push_str(&doc);
    }
    Ok(out)
}
