//! rubra's own TLS ends (rustls, ring provider, as in rubra-server): the client side of
//! its connections to the nodes of a `rubra up --tls` cluster, and the panel's HTTPS
//! listener. Certificates come from [`crate::tlsgen`].

use crate::tlsgen::CertFiles;
use anyhow::{anyhow, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A client that has not finished its HTTPS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates in a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("read {path:?}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("{path:?}: {e}"))?;
    if certs.is_empty() {
        return Err(anyhow!("{path:?}: no certificate"));
    }
    Ok(certs)
}

/// A trust store holding the certificates of `ca`.
pub fn roots(ca: &Path) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for c in load_certs(ca)? {
        roots.add(c).map_err(|e| anyhow!("{ca:?}: {e}"))?;
    }
    Ok(roots)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| anyhow!("{path:?}: no usable private key ({e})"))
}

/// How rubra connects to TLS nodes: their certificate must chain to `ca` and name the
/// address dialled (node certificates name loopback and the announced address), and we
/// present `client` since nodes require a client certificate (`tls-auth-clients yes`).
pub fn client_config(ca: &Path, client: Option<&CertFiles>) -> Result<Arc<rustls::ClientConfig>> {
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots(ca)?);
    let cfg = match client {
        Some(c) => b
            .with_client_auth_cert(load_certs(&c.cert)?, key(&c.key)?)
            .context("client certificate")?,
        None => b.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

/// The panel's HTTPS configuration: its certificate, no client certificate asked (people
/// log in with the password). HTTP/1.1 only, as the API serves.
pub fn panel_server_config(files: &CertFiles) -> Result<Arc<rustls::ServerConfig>> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(load_certs(&files.cert)?, key(&files.key)?)
        .context("panel certificate")?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The host part of `host:port` (IPv6 brackets removed): the name a node's certificate
/// must carry.
pub fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':')
        .map_or(addr, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
}

/// A node connection: plain TCP, or TLS over it.
pub enum Stream {
    /// Plain TCP.
    Plain(std::net::TcpStream),
    /// TLS (the handshake runs on the first read or write).
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>>),
}

impl Stream {
    /// Wraps a connected socket in TLS to `host` when `tls` is given.
    pub fn new(
        tcp: std::net::TcpStream,
        host: &str,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Result<Stream> {
        let Some(cfg) = tls else {
            return Ok(Stream::Plain(tcp));
        };
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| anyhow!("TLS: bad host name {host}: {e}"))?;
        let conn = rustls::ClientConnection::new(cfg.clone(), name)
            .map_err(|e| anyhow!("TLS to {host}: {e}"))?;
        Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
    }
}

impl std::io::Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl std::io::Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// An HTTPS listener for axum: handshakes run in their own tasks (a slow or silent client
/// holds up nobody), and only finished ones are handed to the server.
pub struct HttpsListener {
    rx: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    local: SocketAddr,
}

impl HttpsListener {
    /// Serves TLS with `cfg` on `tcp`.
    pub fn new(tcp: tokio::net::TcpListener, cfg: Arc<rustls::ServerConfig>) -> Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        tokio::spawn(async move {
            loop {
                let (sock, peer) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(_) => {
                        // Out of descriptors and the like: back off, as axum does.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    if let Ok(Ok(s)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(sock)).await
                    {
                        let _ = tx.send((s, peer)).await;
                    }
                });
            }
        });
        Ok(HttpsListener { rx, local })
    }
}

impl axum::serve::Listener for HttpsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The accept task never ends while we hold the receiver.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
