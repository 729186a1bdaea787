//! The generated material of `stepup install`: a CA, the webhook's serving
//! certificate signed by it, and the session keys. This is the only
//! randomness (and the only clock read) of `install`; [`super::manifests`]
//! takes the result as a value so tests can pass fixed material.
//!
//! - The CA is self-signed, constrained to be a CA of path length 0 (it
//!   signs the serving certificate and nothing else: its key is never
//!   written anywhere, so nothing else can ever be signed with it). Its
//!   certificate is the webhook configurations' `caBundle`.
//! - The serving certificate names the Service's DNS names
//!   ([`service_dns_names`]) — the API server calls
//!   `stepup.<namespace>.svc` — with `serverAuth` only.
//! - Keys are ECDSA P-256 (rcgen's default with ring), which the API server
//!   and every TLS stack accept.
//! - Both are valid from one hour before now (clock skew between the
//!   machine running `install` and the cluster) for [`VALIDITY_DAYS`].

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::serve::session::SessionKeys;

use super::Material;

/// Lifetime of the generated CA and serving certificate.
pub const VALIDITY_DAYS: u64 = 365;

/// The names the API server (and anything in the cluster) uses for the
/// Service `stepup` in `namespace`.
pub fn service_dns_names(namespace: &str) -> Vec<String> {
    vec![
        format!("stepup.{namespace}.svc"),
        format!("stepup.{namespace}.svc.cluster.local"),
        format!("stepup.{namespace}"),
    ]
}

/// Generate fresh material for `namespace`, valid from `now`.
pub fn generate(namespace: &str, now: SystemTime) -> Result<Material, String> {
    let err = |what: &str, e: rcgen::Error| format!("cannot generate the {what}: {e}");
    let not_before = now
        .checked_sub(Duration::from_secs(3600))
        .ok_or("the clock is before 1970")?;
    let not_after = now
        .checked_add(Duration::from_secs(VALIDITY_DAYS * 86_400))
        .ok_or("the clock is too far in the future")?;

    let ca_key = KeyPair::generate().map_err(|e| err("CA key", e))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| err("CA", e))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("stepup webhook CA ({namespace})"),
    );
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before.into();
    ca.not_after = not_after.into();
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| err("CA", e))?;

    let key = KeyPair::generate().map_err(|e| err("serving key", e))?;
    let names = service_dns_names(namespace);
    let mut leaf =
        CertificateParams::new(names.clone()).map_err(|e| err("serving certificate", e))?;
    leaf.distinguished_name
        .push(DnType::CommonName, names[0].clone());
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before.into();
    leaf.not_after = not_after.into();
    let cert = leaf
        .signed_by(&key, &ca_cert, &ca_key)
        .map_err(|e| err("serving certificate", e))?;

    Ok(Material {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        session_keys: format!("{}\n", SessionKeys::generate_line("k1")),
    })
}
