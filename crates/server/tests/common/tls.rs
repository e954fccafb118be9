//! Certificates for TLS tests, made with the `openssl` CLI (as Redis's gen-test-certs.sh
//! does): a CA, a server certificate for 127.0.0.1/localhost, a client certificate, and a
//! client certificate from a second, untrusted CA, and an expired client certificate. Also Debian's redis-cli in TLS mode.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A throw-away PKI in a directory.
pub(crate) struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    /// Generates everything under `dir` (EC P-256 keys: fast to make).
    pub(crate) fn generate(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).expect("pki dir");
        let script = r#"
set -e
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() { key $1.key; openssl req -x509 -new -key $1.key -out $1.crt -days 30 -subj "/CN=$1" 2>/dev/null; }
leaf() { # name ca eku [days]
  key $1.key
  openssl req -new -key $1.key -out $1.csr -subj "/CN=$1" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' "$3" > $1.ext
  openssl x509 -req -in $1.csr -CA $2.crt -CAkey $2.key -CAcreateserial -out $1.crt -days ${4:-30} -extfile $1.ext 2>/dev/null
}
ca ca; ca wrongca
leaf server ca serverAuth,clientAuth
leaf server2 ca serverAuth,clientAuth
leaf client ca clientAuth
leaf wrongclient wrongca clientAuth
leaf expiredclient ca clientAuth -1
"#;
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .output()
            .expect("openssl must be installed");
        assert!(
            out.status.success(),
            "certificate generation failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    /// The path of a generated file, e.g. `path("ca.crt")`.
    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// Server arguments for TLS on `tls_port` with this PKI's CA and server certificate.
    pub(crate) fn server_args(&self, tls_port: u16) -> Vec<String> {
        [
            "--tls-port".to_string(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            self.path("server.crt"),
            "--tls-key-file".into(),
            self.path("server.key"),
            "--tls-ca-cert-file".into(),
            self.path("ca.crt"),
        ]
        .to_vec()
    }

    /// Runs redis-cli --tls against `port` with the client certificate `client` (e.g.
    /// "client", "wrongclient", or None for no certificate); returns (success, stdout+stderr).
    pub(crate) fn cli(&self, port: u16, client: Option<&str>, args: &[&str]) -> (bool, String) {
        let mut cmd = Command::new("redis-cli");
        cmd.args([
            "-p",
            &port.to_string(),
            "--tls",
            "--cacert",
            &self.path("ca.crt"),
        ]);
        if let Some(c) = client {
            cmd.args([
                "--cert",
                &self.path(&format!("{c}.crt")),
                "--key",
                &self.path(&format!("{c}.key")),
            ]);
        }
        let out = cmd
            .args(args)
            .output()
            .expect("redis-cli must be installed");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text.trim_end().to_string())
    }
}
