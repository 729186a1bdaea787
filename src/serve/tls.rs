//! TLS with certificate hot reload.
//!
//! A Kubernetes Secret mounted as a volume is updated by the kubelet
//! writing a new timestamped directory and atomically swapping the
//! `..data` symlink that `tls.crt` and `tls.key` point through. The
//! resolver stats both paths (following symlinks) on every handshake — two
//! `stat` calls, noise next to a handshake — and reloads when the device,
//! inode, size or mtime of either changed. No watcher thread, no polling
//! interval: the first handshake after the swap gets the new certificate.
//! A pair that fails to load (half-written, key does not match) is logged
//! and the previous certificate keeps serving; it is retried when the files
//! change again.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

fn stamp(p: &Path) -> Option<FileStamp> {
    let m = std::fs::metadata(p).ok()?;
    Some(FileStamp {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime: m.mtime(),
        mtime_nsec: m.mtime_nsec(),
    })
}

type Stamps = (Option<FileStamp>, Option<FileStamp>);

#[derive(Debug)]
struct Current {
    stamps: Stamps,
    key: Arc<CertifiedKey>,
}

/// A certificate resolver that follows the files it was loaded from.
#[derive(Debug)]
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<Current>,
}

fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no PEM certificate", cert.display()));
    }
    let pk = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    CertifiedKey::from_der(chain, pk, provider)
        .map_err(|e| format!("{} and {}: {e}", cert.display(), key.display()))
}

impl ReloadingCert {
    /// Load the pair now (an error here stops start-up).
    pub fn new(cert: &Path, key: &Path, provider: Arc<CryptoProvider>) -> Result<Self, String> {
        let stamps = (stamp(cert), stamp(key));
        let ck = load(cert, key, &provider)?;
        Ok(ReloadingCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            current: Mutex::new(Current {
                stamps,
                key: Arc::new(ck),
            }),
        })
    }

    fn current(&self) -> Option<Arc<CertifiedKey>> {
        let now = (stamp(&self.cert), stamp(&self.key));
        let mut cur = self.current.lock().ok()?;
        if now != cur.stamps {
            cur.stamps = now;
            match load(&self.cert, &self.key, &self.provider) {
                Ok(ck) => {
                    cur.key = Arc::new(ck);
                    tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TLS certificate reload failed; serving the previous one")
                }
            }
        }
        Some(cur.key.clone())
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}

/// A rustls server config serving the (reloading) pair, HTTP/1.1 only.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = ReloadingCert::new(cert, key, provider.clone())?;
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
