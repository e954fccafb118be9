//! `rubra up --tls`: a private CA kept in the data directory, and the certificates it
//! issues (one per node, one for the panel, one client certificate for people and tools).
//!
//! Why a private CA: the nodes of a TLS cluster verify each other on the bus and on
//! replication links against one CA (`tls-ca-cert-file`), and with `tls-auth-clients yes`
//! (Redis's default, kept because the cluster bus itself has no password) every client
//! needs a certificate from it too. The CA key never leaves DIR/tls (0600, like every key).
//!
//! Certificates are made in-process with `rcgen` (see Cargo.toml for why not the openssl
//! CLI). The CA is made once; node and panel certificates are issued again whenever a node
//! or the panel starts, so they always name the addresses in force (`--announce-ip` may
//! change between runs). The client certificate is made once, since people copy it.

use anyhow::{anyhow, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use sha2::Digest;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// The CA and the certificates of one data directory (DIR/tls).
#[derive(Debug, Clone)]
pub struct Pki {
    dir: PathBuf,
}

/// A certificate and its private key, as PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PKCS#8 PEM, 0600).
    pub key: PathBuf,
}

/// Names every certificate carries: rubra and local clients reach nodes on loopback.
const LOCAL_NAMES: [&str; 3] = ["127.0.0.1", "::1", "localhost"];

/// How long the CA is valid; leaves are re-issued at every start, so theirs is shorter.
const CA_DAYS: i64 = 3650;
const LEAF_DAYS: i64 = 825;

impl Pki {
    /// The PKI of data directory `root`, with a CA created if there is none yet.
    pub fn open_or_create(root: &Path) -> Result<Pki> {
        let pki = Pki::at(root);
        std::fs::create_dir_all(&pki.dir).with_context(|| format!("create {:?}", pki.dir))?;
        if !pki.ca_cert().exists() || !pki.ca_key().exists() {
            pki.make_ca()?;
        }
        Ok(pki)
    }

    /// The PKI of `root` if `rubra up --tls` made one there.
    pub fn existing(root: &Path) -> Option<Pki> {
        let pki = Pki::at(root);
        (pki.ca_cert().exists() && pki.ca_key().exists()).then_some(pki)
    }

    fn at(root: &Path) -> Pki {
        Pki {
            dir: root.join("tls"),
        }
    }

    /// DIR/tls/ca.crt: what clients trust (`redis-cli --tls --cacert`).
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    /// The client certificate for people and tools (made once, kept).
    pub fn client(&self) -> Result<CertFiles> {
        let files = self.files("client");
        if !files.cert.exists() || !files.key.exists() {
            self.issue("client", "rubra client", &[], false)?;
        }
        Ok(files)
    }

    /// A fresh certificate for the node on `port`, valid for loopback and `ip` (its
    /// announced address), for both ends of a link: nodes are servers to clients and
    /// clients of each other (bus, replication).
    pub fn node(&self, port: u16, ip: Option<&str>) -> Result<CertFiles> {
        let names: Vec<&str> = ip.into_iter().collect();
        self.issue(
            &format!("node-{port}"),
            &format!("rubra node {port}"),
            &names,
            true,
        )
    }

    /// A fresh certificate for the panel's HTTPS listener, valid for `host` too.
    pub fn panel(&self, host: &str) -> Result<CertFiles> {
        let names: Vec<&str> = [host].into_iter().filter(|h| !h.is_empty()).collect();
        self.issue("panel", "rubra panel", &names, true)
    }

    fn files(&self, stem: &str) -> CertFiles {
        CertFiles {
            cert: self.dir.join(format!("{stem}.crt")),
            key: self.dir.join(format!("{stem}.key")),
        }
    }

    /// The CA's subject: derived from its key, so the issuer can be rebuilt from the key
    /// file alone (and two clusters' CAs never share a name).
    fn ca_params(key: &KeyPair) -> Result<CertificateParams> {
        let tag = sha2::Sha256::digest(key.public_key_raw());
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Rubra");
        dn.push(
            DnType::CommonName,
            format!(
                "Rubra cluster CA {:02x}{:02x}{:02x}{:02x}",
                tag[0], tag[1], tag[2], tag[3]
            ),
        );
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Ok(p)
    }

    fn make_ca(&self) -> Result<()> {
        let key = KeyPair::generate().context("generate the CA key")?;
        let mut p = Self::ca_params(&key)?;
        validity(&mut p, CA_DAYS);
        let cert = p.self_signed(&key).context("self-sign the CA")?;
        // Key first: a crash in between leaves no certificate without its key.
        crate::state::write_private(&self.ca_key(), key.serialize_pem().as_bytes())?;
        crate::state::write_private(&self.ca_cert(), cert.pem().as_bytes())?;
        Ok(())
    }

    fn issuer(&self) -> Result<Issuer<'static, KeyPair>> {
        let pem = std::fs::read_to_string(self.ca_key())
            .with_context(|| format!("read {:?}", self.ca_key()))?;
        let key = KeyPair::from_pem(&pem).map_err(|e| anyhow!("{:?}: {e}", self.ca_key()))?;
        Ok(Issuer::new(Self::ca_params(&key)?, key))
    }

    /// Issue `stem`.crt/.key signed by the CA; `server` adds the serverAuth usage and the
    /// loopback names plus `names` (IP addresses or DNS names).
    fn issue(&self, stem: &str, cn: &str, names: &[&str], server: bool) -> Result<CertFiles> {
        let mut sans: Vec<String> = Vec::new();
        if server {
            for n in LOCAL_NAMES.iter().chain(names) {
                if !sans.iter().any(|s| s == n) {
                    sans.push(n.to_string());
                }
            }
        }
        let mut p = CertificateParams::new(sans).map_err(|e| anyhow!("{stem}: {e}"))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Rubra");
        dn.push(DnType::CommonName, cn);
        p.distinguished_name = dn;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if server {
            p.extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        p.use_authority_key_identifier_extension = true;
        validity(&mut p, LEAF_DAYS);
        let key = KeyPair::generate().with_context(|| format!("generate the {stem} key"))?;
        let cert = p
            .signed_by(&key, &self.issuer()?)
            .with_context(|| format!("sign the {stem} certificate"))?;
        let files = self.files(stem);
        // Replaced whole (temp file + rename) so a running node never reads half a file.
        for (path, data) in [(&files.key, key.serialize_pem()), (&files.cert, cert.pem())] {
            let tmp = path.with_extension("tmp");
            crate::state::write_private(&tmp, data.as_bytes())?;
            std::fs::rename(&tmp, path).with_context(|| format!("write {path:?}"))?;
        }
        Ok(files)
    }
}

/// Valid from an hour ago (clock skew between hosts) for `days`, with a random serial.
fn validity(p: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(days);
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f; // a positive ASN.1 integer
    p.serial_number = Some(SerialNumber::from_slice(&serial));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn issues_node_certificates_that_chain_to_the_ca() {
        let d = std::env::temp_dir().join(format!("rubra-tlsgen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let pki = Pki::open_or_create(&d).expect("pki");
        let ca_before = std::fs::read(pki.ca_cert()).expect("ca");
        let node = pki.node(7000, Some("10.1.2.3")).expect("node cert");
        let client = pki.client().expect("client");
        for f in [&node.key, &client.key, &pki.ca_key()] {
            let mode = std::fs::metadata(f).expect("key").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f:?}");
        }
        // Reopening keeps the CA, and certificates chain to it (rustls' verifier, the one
        // the manager and the nodes use).
        let pki = Pki::open_or_create(&d).expect("reopen");
        assert_eq!(std::fs::read(pki.ca_cert()).expect("ca"), ca_before);
        crate::tls::client_config(&pki.ca_cert(), Some(&client)).expect("client config");
        let leaf = crate::tls::load_certs(&node.cert).expect("leaf");
        let roots = crate::tls::roots(&pki.ca_cert()).expect("roots");
        let v = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            std::sync::Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .expect("verifier");
        use rustls::client::danger::ServerCertVerifier;
        for name in ["10.1.2.3", "127.0.0.1", "localhost"] {
            let sn = rustls::pki_types::ServerName::try_from(name).expect("name");
            v.verify_server_cert(&leaf[0], &[], &sn, &[], rustls::pki_types::UnixTime::now())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let other = rustls::pki_types::ServerName::try_from("10.9.9.9").expect("name");
        assert!(v
            .verify_server_cert(
                &leaf[0],
                &[],
                &other,
                &[],
                rustls::pki_types::UnixTime::now()
            )
            .is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
