//! Test certificates and a Kubernetes-Secret-like certificate directory.
//!
//! [`issue`] makes a fresh CA and a serving certificate for `localhost`
//! signed by it (rcgen); [`publish`] writes a pair the way the kubelet
//! updates a mounted Secret (a new generation directory, then an atomic
//! swap of the `..data` symlink that `tls.crt` and `tls.key` point
//! through), which is what `stepup serve`'s certificate hot reload follows.
//! [`client_config`] is a rustls client trusting given CAs.
//!
//! Use from a test file with `#[path = "support/certs.rs"] mod certs;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A serving certificate for `localhost`, issued by a fresh CA.
pub struct Issued {
    pub ca_der: Vec<u8>,
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub key_pem: String,
}

/// A new CA (`<cn> CA`) and a `localhost` certificate (`CN=<cn>`) from it.
pub fn issue(cn: &str) -> Issued {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{cn} CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    Issued {
        ca_der: ca.der().to_vec(),
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key_pem: key.serialize_pem(),
    }
}

impl Issued {
    /// Write the pair as `tls.crt` and `tls.key` in `dir`; returns their
    /// paths (for `stepup serve --tls-cert/--tls-key`).
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }
}

/// Write a Secret-volume-like generation directory and point `..data` at
/// it atomically (what the kubelet does on a Secret update).
pub fn publish(dir: &Path, generation: &str, cert_pem: &str, key_pem: &str) {
    let g = dir.join(generation);
    std::fs::create_dir(&g).unwrap();
    std::fs::write(g.join("tls.crt"), cert_pem).unwrap();
    std::fs::write(g.join("tls.key"), key_pem).unwrap();
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(generation, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for f in ["tls.crt", "tls.key"] {
        let link = dir.join(f);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{f}"), &link).unwrap();
        }
    }
}

/// A rustls client configuration (ring) trusting these CA certificates
/// (DER).
pub fn client_config(roots: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store
            .add(rustls::pki_types::CertificateDer::from(r.to_vec()))
            .unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store)
    .with_no_client_auth();
    Arc::new(cfg)
}

/// As [`client_config`], with session resumption off: every connection
/// is a full handshake, so the server presents its current certificate.
pub fn client_config_full_handshakes(roots: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut cfg = (*client_config(roots)).clone();
    cfg.resumption = rustls::client::Resumption::disabled();
    Arc::new(cfg)
}
