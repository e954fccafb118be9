//! TLS on client connections (Redis's `tls-*` parameters) with rustls: building the server
//! configuration from the config, the TLS listeners' accept loop, and reloading certificates
//! when CONFIG SET changes a `tls-*` parameter (connections accepted afterwards use the new
//! configuration; established ones keep theirs, as in Redis).

use crate::config::Config;
use crate::server::Server;
use parking_lot::RwLock;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A client that has not finished its handshake by then is dropped, so a silent or
/// plain-text peer cannot hold a connection slot.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS configuration new connections get; replaced whole on reload. Shared by the
/// store (CONFIG SET) and the TLS accept loops, which never take the store lock for it.
#[derive(Clone, Default)]
pub(crate) struct Reloadable(Arc<RwLock<Option<TlsAcceptor>>>);

impl Reloadable {
    /// The acceptor for the next connection, if TLS is configured.
    pub(crate) fn current(&self) -> Option<TlsAcceptor> {
        self.0.read().clone()
    }

    /// Installs a configuration built from `config`.
    pub(crate) fn install(&self, config: Arc<ServerConfig>) {
        *self.0.write() = Some(TlsAcceptor::from(config));
    }
}

/// Whether the node uses TLS at all (Redis configures its TLS context only then).
pub(crate) fn enabled(config: &Config) -> bool {
    tls_port(config) != 0
        || config.get_value("tls-replication") == "yes"
        || config.get_value("tls-cluster") == "yes"
}

/// The `tls-port` value (0: no TLS listener).
pub(crate) fn tls_port(config: &Config) -> u16 {
    config.get_value("tls-port").parse().unwrap_or(0)
}

/// CONFIG SET apply step: when a `tls-*` parameter changed and TLS is in use, builds the
/// new configuration and installs it, or explains why it cannot (nothing is changed then).
pub(crate) fn reload_if_changed(
    holder: &Reloadable,
    old: &Config,
    new: &Config,
) -> Result<(), String> {
    const WATCHED: &[&str] = &[
        "tls-cert-file",
        "tls-key-file",
        "tls-key-file-pass",
        "tls-ca-cert-file",
        "tls-ca-cert-dir",
        "tls-auth-clients",
        "tls-protocols",
        "tls-ciphers",
        "tls-ciphersuites",
        "tls-session-caching",
        "tls-session-cache-size",
        "tls-port",
        "tls-replication",
        "tls-cluster",
    ];
    if !enabled(new) || WATCHED.iter().all(|p| old.get_value(p) == new.get_value(p)) {
        return Ok(());
    }
    holder.install(server_config(new)?);
    Ok(())
}

/// The rustls server configuration the `tls-*` parameters describe; every refusal names the
/// parameter and what rustls cannot do.
pub(crate) fn server_config(config: &Config) -> Result<Arc<ServerConfig>, String> {
    let value = |name: &str| config.get_value(name).to_string();
    if !value("tls-key-file-pass").is_empty() {
        return Err(
            "tls-key-file-pass: encrypted private keys are not supported; use an unencrypted \
             PEM key readable only by the server (mode 0600)"
                .into(),
        );
    }
    let cert_file = value("tls-cert-file");
    let key_file = value("tls-key-file");
    if cert_file.is_empty() || key_file.is_empty() {
        return Err("tls-cert-file and tls-key-file must both be set".into());
    }
    let certs = load_certs(Path::new(&cert_file)).map_err(|e| format!("tls-cert-file: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| format!("tls-key-file {key_file}: no usable private key ({e})"))?;
    let provider = Arc::new(provider(&value("tls-ciphers"), &value("tls-ciphersuites"))?);
    let versions = protocols(&value("tls-protocols"))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls-protocols/tls-ciphersuites: {e}"))?;
    let roots = load_roots(&value("tls-ca-cert-file"), &value("tls-ca-cert-dir"))?;
    let builder = match value("tls-auth-clients").as_str() {
        "no" => builder.with_no_client_auth(),
        mode => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if mode == "optional" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| format!("tls-ca-cert-file/dir: {e}"))?,
            )
        }
    };
    let mut server = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls-cert-file/tls-key-file: {e}"))?;
    let cache_size = value("tls-session-cache-size")
        .parse::<usize>()
        .unwrap_or(0);
    server.session_storage = if value("tls-session-caching") == "yes" && cache_size > 0 {
        ServerSessionMemoryCache::new(cache_size)
    } else {
        Arc::new(NoServerSessionStorage {})
    };
    Ok(Arc::new(server))
}

/// Every certificate in a PEM file (a chain: the leaf first).
fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", path.display()));
    }
    Ok(certs)
}

/// The CA certificates from `tls-ca-cert-file` and every PEM file in `tls-ca-cert-dir`
/// (files without certificates there are skipped, as OpenSSL's lookup ignores them).
/// Redis requires one of the two whenever TLS is configured.
fn load_roots(file: &str, dir: &str) -> Result<RootCertStore, String> {
    if file.is_empty() && dir.is_empty() {
        return Err("either tls-ca-cert-file or tls-ca-cert-dir must be specified".into());
    }
    let mut roots = RootCertStore::empty();
    let mut add = |certs: Vec<CertificateDer<'static>>, origin: &str| -> Result<(), String> {
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("{origin}: not a usable CA certificate: {e}"))?;
        }
        Ok(())
    };
    if !file.is_empty() {
        add(
            load_certs(Path::new(file)).map_err(|e| format!("tls-ca-cert-file: {e}"))?,
            file,
        )?;
    }
    if !dir.is_empty() {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("tls-ca-cert-dir {dir}: {e}"))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                if let Ok(certs) = load_certs(&path) {
                    add(certs, &path.display().to_string())?;
                }
            }
        }
    }
    if roots.is_empty() {
        return Err("no CA certificate found in tls-ca-cert-file/tls-ca-cert-dir".into());
    }
    Ok(roots)
}

/// `tls-protocols`: a space-separated list of "TLSv1.2"/"TLSv1.3" (empty: both, Redis's
/// default). Older versions are refused: rustls does not implement them.
fn protocols(list: &str) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let mut versions: Vec<&'static SupportedProtocolVersion> = Vec::new();
    for word in list.split_whitespace() {
        let v: &'static SupportedProtocolVersion = match word.to_ascii_lowercase().as_str() {
            "tlsv1.2" => &rustls::version::TLS12,
            "tlsv1.3" => &rustls::version::TLS13,
            "tlsv1" | "tlsv1.1" => {
                return Err(format!(
                    "tls-protocols: {word} is not supported (rustls implements TLSv1.2 and TLSv1.3 only)"
                ))
            }
            _ => return Err(format!("tls-protocols: unknown protocol '{word}'")),
        };
        if !versions.iter().any(|x| x.version == v.version) {
            versions.push(v);
        }
    }
    if versions.is_empty() {
        versions = vec![&rustls::version::TLS12, &rustls::version::TLS13];
    }
    Ok(versions)
}

/// OpenSSL's names for the TLS 1.2 suites rustls implements, with rustls's (IANA) names.
const TLS12_NAMES: &[(&str, &str)] = &[
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// The ring provider restricted to the suites named by `tls-ciphers` (TLS 1.2, OpenSSL
/// names separated by ':') and `tls-ciphersuites` (TLS 1.3, e.g. TLS_AES_256_GCM_SHA384);
/// an empty list keeps all of that version's suites. OpenSSL cipher-string keywords
/// (DEFAULT, HIGH, !aNULL, ...) and suites rustls lacks are refused by name.
fn provider(tls12: &str, tls13: &str) -> Result<CryptoProvider, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    let all = provider.cipher_suites.clone();
    let name = |s: &SupportedCipherSuite| format!("{:?}", s.suite());
    let is13 = |s: &SupportedCipherSuite| matches!(s, SupportedCipherSuite::Tls13(_));
    let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
    // TLS 1.3 suites: OpenSSL's TLS_AES_128_GCM_SHA256 is rustls's TLS13_AES_128_GCM_SHA256.
    if tls13.is_empty() {
        chosen.extend(all.iter().filter(|s| is13(s)).cloned());
    } else {
        for word in tls13.split(':').filter(|w| !w.is_empty()) {
            let wanted = word.trim().to_ascii_uppercase();
            let rustls_name = wanted.replacen("TLS_", "TLS13_", 1);
            let suite = all
                .iter()
                .find(|s| is13(s) && (name(s) == rustls_name || name(s) == wanted))
                .ok_or_else(|| {
                    format!(
                        "tls-ciphersuites: '{word}' is not supported (rustls offers TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256)"
                    )
                })?;
            chosen.push(*suite);
        }
    }
    if tls12.is_empty() {
        chosen.extend(all.iter().filter(|s| !is13(s)).cloned());
    } else {
        for word in tls12.split(':').filter(|w| !w.is_empty()) {
            let wanted = word.trim().to_ascii_uppercase();
            let rustls_name = TLS12_NAMES
                .iter()
                .find(|(openssl, iana)| *openssl == wanted || *iana == wanted)
                .map(|(_, iana)| *iana)
                .ok_or_else(|| {
                    format!(
                        "tls-ciphers: '{word}' is not supported (only explicit names of the ECDHE AEAD suites rustls offers, e.g. ECDHE-RSA-AES128-GCM-SHA256; OpenSSL cipher-string keywords are not)"
                    )
                })?;
            let suite = all
                .iter()
                .find(|s| name(s) == rustls_name)
                .ok_or_else(|| format!("tls-ciphers: '{word}' is not available"))?;
            chosen.push(*suite);
        }
    }
    provider.cipher_suites = chosen;
    Ok(provider)
}

/// Start-up: the TLS configuration (when TLS is in use) and the listeners on `tls-port`
/// (the `bind` addresses); the error is the message to exit with, as redis-server does.
pub(crate) async fn start(
    config: &Config,
) -> Result<(Option<Arc<ServerConfig>>, Vec<TcpListener>), String> {
    if !enabled(config) {
        return Ok((None, Vec::new()));
    }
    let tls = server_config(config).map_err(|e| format!("Failed to configure TLS: {e}"))?;
    let port = tls_port(config);
    if port == 0 {
        return Ok((Some(tls), Vec::new()));
    }
    let listeners = crate::server::bind_port(config, port).await.map_err(|e| {
        format!(
            "Could not create server TLS listening socket {}:{port}: {e}",
            config.get_value("bind")
        )
    })?;
    Ok((Some(tls), listeners))
}

/// Our side of outgoing TLS links (`tls-replication`): the CA from `tls-ca-cert-file/dir`
/// verifies the peer's chain, and we present `tls-client-cert-file`/`tls-client-key-file`,
/// or `tls-cert-file`/`tls-key-file` when those are not set, as Redis does. The peer's
/// host name is not checked against its certificate (Redis 7.0 does not either: nodes are
/// often addressed by IP while certificates name hosts); the chain must still lead to the CA.
pub(crate) fn client_config(config: &Config) -> Result<Arc<rustls::ClientConfig>, String> {
    let value = |name: &str| config.get_value(name).to_string();
    let (cert_file, key_file) = if value("tls-client-cert-file").is_empty() {
        (value("tls-cert-file"), value("tls-key-file"))
    } else {
        (value("tls-client-cert-file"), value("tls-client-key-file"))
    };
    let provider = Arc::new(provider(&value("tls-ciphers"), &value("tls-ciphersuites"))?);
    let roots = Arc::new(load_roots(
        &value("tls-ca-cert-file"),
        &value("tls-ca-cert-dir"),
    )?);
    let inner =
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| format!("tls-ca-cert-file/dir: {e}"))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&protocols(&value("tls-protocols"))?)
        .map_err(|e| format!("tls-protocols/tls-ciphersuites: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ChainOnly(inner)));
    if cert_file.is_empty() || key_file.is_empty() {
        return Ok(Arc::new(builder.with_no_client_auth()));
    }
    let certs =
        load_certs(Path::new(&cert_file)).map_err(|e| format!("client certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| format!("client key {key_file}: no usable private key ({e})"))?;
    builder
        .with_client_auth_cert(certs, key)
        .map(Arc::new)
        .map_err(|e| format!("client certificate/key: {e}"))
}

/// Opens TLS on an outgoing connection to `host` with `client_config`'s settings.
pub(crate) async fn connect(
    config: &Config,
    host: &str,
    tcp: tokio::net::TcpStream,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let connector = tokio_rustls::TlsConnector::from(client_config(config)?);
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("TLS: bad host name {host}: {e}"))?;
    crate::timer::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| "TLS handshake timed out".to_string())?
        .map_err(|e| format!("TLS handshake: {e}"))
}

/// Verifies the peer's chain up to our CA, accepting a certificate for another name.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A cluster bus connection's read and write halves: over TLS when `tls-cluster` is on
/// (boxed: bus traffic is small, and the plain and TLS links then share one writer loop).
/// None if the TLS handshake fails.
pub(crate) async fn bus_halves(
    server: &Server,
    host: &str,
    tcp: tokio::net::TcpStream,
) -> Option<(BoxRead, BoxWrite)> {
    let config = {
        let store = server.lock();
        (store.config.get_value("tls-cluster") == "yes").then(|| store.config.clone())
    };
    let Some(config) = config else {
        let (rd, wr) = tcp.into_split();
        return Some((Box::new(rd), Box::new(wr)));
    };
    match connect(&config, host, tcp).await {
        Ok(tls) => {
            let (rd, wr) = tokio::io::split(tls);
            Some((Box::new(rd), Box::new(wr)))
        }
        Err(e) => {
            tracing::debug!(peer = %host, error = %e, "cluster bus TLS connect failed");
            None
        }
    }
}

/// The read half of a bus link (see `bus_halves`).
pub(crate) type BoxRead = Box<dyn tokio::io::AsyncRead + Unpin + Send>;
/// The write half of a bus link (see `bus_halves`).
pub(crate) type BoxWrite = Box<dyn tokio::io::AsyncWrite + Unpin + Send>;

/// The acceptor for inbound bus connections when `tls-cluster` is on.
pub(crate) fn bus_acceptor(server: &Server) -> Option<TlsAcceptor> {
    let store = server.store.lock();
    if store.config.get_value("tls-cluster") != "yes" {
        return None;
    }
    store.tls.current()
}

/// Runs the server side of a handshake with a deadline; None if it fails.
pub(crate) async fn accept(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    match crate::timer::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => Some(stream),
        _ => None,
    }
}

/// Accepts TLS clients on `listener`: each handshake runs in the connection's own task
/// (with a deadline), then the connection is served as a plain one is.
pub(crate) async fn accept_loop(server: Arc<Server>, listener: TcpListener, tls: Reloadable) {
    let serve = |(tcp, peer): (tokio::net::TcpStream, std::net::SocketAddr)| {
        let Some(acceptor) = tls.current() else {
            return;
        };
        let server = server.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let (local, fd) = crate::conn::socket_info(&tcp);
            match crate::timer::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    crate::conn::serve_stream(
                        server,
                        stream,
                        crate::exec::sessions::Peer::Tcp(peer),
                        local,
                        fd,
                    )
                    .await
                }
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                }
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    };
    crate::server::accept_forever("tls", |cx| listener.poll_accept(cx), serve).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_default_to_both_and_refuse_old_versions() {
        assert_eq!(protocols("").unwrap().len(), 2);
        assert_eq!(protocols("TLSv1.3").unwrap().len(), 1);
        assert!(protocols("TLSv1.1 TLSv1.2")
            .unwrap_err()
            .contains("TLSv1.1"));
        assert!(protocols("SSLv3").is_err());
    }

    #[test]
    fn cipher_names_map_to_rustls_suites() {
        let p = provider("", "TLS_AES_256_GCM_SHA384").unwrap();
        // The one TLS 1.3 suite plus all six TLS 1.2 ones.
        assert_eq!(p.cipher_suites.len(), 7);
        let p = provider("ECDHE-RSA-AES128-GCM-SHA256", "").unwrap();
        assert_eq!(p.cipher_suites.len(), 4);
        assert!(provider("HIGH:!aNULL", "").unwrap_err().contains("HIGH"));
        assert!(provider("", "TLS_AES_128_CCM_SHA256")
            .unwrap_err()
            .contains("CCM"));
    }
}
