//! TLS: the serving certificate and key are read from PEM files and read
//! again whenever the files change, without a restart. The resolver hands
//! rustls the current pair from an `Arc` swapped under a lock, so a new
//! handshake sees the new pair while connections already open keep theirs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// What can be wrong with the certificate files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a PEM certificate chain: {source}", path.display())]
    Certificate {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("{}: holds no certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: not a PEM private key: {source}", path.display())]
    Key {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("{} and {}: {source}", cert.display(), key.display())]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// The certificate and key files.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files' contents as last read, to tell when they change.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl CertFiles {
    fn read(&self) -> Result<Contents, TlsError> {
        Ok(Contents {
            cert: read(&self.cert)?,
            key: read(&self.key)?,
        })
    }

    fn parse(
        &self,
        contents: &Contents,
        provider: &CryptoProvider,
    ) -> Result<CertifiedKey, TlsError> {
        let chain = CertificateDer::pem_slice_iter(&contents.cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TlsError::Certificate {
                path: self.cert.clone(),
                source,
            })?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                path: self.cert.clone(),
            });
        }
        let key = PrivateKeyDer::from_pem_slice(&contents.key).map_err(|source| TlsError::Key {
            path: self.key.clone(),
            source,
        })?;
        // Also checks that the key is the certificate's.
        CertifiedKey::from_der(chain, key, provider).map_err(|source| TlsError::Pair {
            cert: self.cert.clone(),
            key: self.key.clone(),
            source,
        })
    }
}

/// The certificate resolver: always the pair read last.
#[derive(Debug)]
pub struct ReloadingCert {
    files: CertFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<(Arc<CertifiedKey>, Contents)>,
}

impl ReloadingCert {
    /// Reads the pair; fails when either file is missing or wrong.
    pub fn load(files: CertFiles) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let contents = files.read()?;
        let key = files.parse(&contents, &provider)?;
        Ok(Self {
            files,
            provider,
            current: RwLock::new((Arc::new(key), contents)),
        })
    }

    /// Reads the files again and swaps the pair in when they changed.
    /// Returns whether it did; on an error (a file half written, a key
    /// not matching yet) the pair in use stays.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let contents = self.files.read()?;
        if self
            .current
            .read()
            .is_ok_and(|current| current.1 == contents)
        {
            return Ok(false);
        }
        let key = self.files.parse(&contents, &self.provider)?;
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = (Arc::new(key), contents);
        Ok(true)
    }

    /// Calls [`Self::reload`] every `interval`, forever; logs what changed.
    pub async fn watch(self: Arc<Self>, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.reload() {
                Ok(true) => {
                    tracing::info!(cert = %self.files.cert.display(), "serving certificate reloaded")
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "serving certificate not reloaded; keeping the current one")
                }
            }
        }
    }

    /// The pair in use.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(&current.0)
    }

    /// The rustls configuration serving with this resolver: TLS 1.2 and
    /// 1.3 only, HTTP/2 and HTTP/1.1 by ALPN.
    pub fn server_config(self: &Arc<Self>) -> Result<ServerConfig, rustls::Error> {
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}
