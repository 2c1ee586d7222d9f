//! Test certificates for the gRPC hop's mutual TLS: a CA, a server certificate for `localhost`
//! and `127.0.0.1` signed by it, client certificates signed by it, and a second, foreign CA with
//! client certificates of its own — made fresh (rcgen, P-256) for every test, so that no key is
//! checked in and no certificate ever expires under a test.
//!
//! Every file lives in a temporary directory that [`TestPki`] owns (removed when it is dropped),
//! laid out like a Kubernetes secret that cert-manager keeps up to date: `tls.crt`, `tls.key`
//! and `ca.crt`, each a symbolic link through `..data` to a directory of one generation. A
//! rotation ([`TestPki::rotate_ca`], [`TestPki::renew`]) writes the next generation and swaps
//! `..data` in one rename, as the kubelet does: the paths stay the same and a reader sees
//! either every old file or every new one, never a certificate next to the key of another. What
//! is under test is whether the server and the gateway take the replacement up without a restart.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tickets_runtime::tls::{ClientFiles, ServerFiles, ServerTls};
use tonic::transport::{ClientTlsConfig, Endpoint};
use uuid::Uuid;

/// The name the server's certificate carries (besides `127.0.0.1`), which clients verify.
pub const SERVER_NAME: &str = "localhost";

/// A certificate authority: its signing key, and its certificate in a file of its own that is
/// never replaced (for a client that trusts this CA and no other).
struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
    file: PathBuf,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").field("file", &self.file).finish_non_exhaustive()
    }
}

impl Authority {
    /// A self-signed CA named `name`, its certificate written to `dir/<name>.crt`.
    fn new(dir: &Path, name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("a CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("a self-signed CA");
        let file = dir.join(format!("{name}.crt"));
        std::fs::write(&file, issuer.pem()).expect("write the CA certificate");
        Self { issuer, file }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names` (DNS names or IP addresses) with `usage`, signed by this CA:
    /// its certificate and its key, in PEM.
    fn issue(&self, common_name: &str, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("valid subject names");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &self.issuer).expect("a signed certificate");
        Leaf { cert: cert.pem(), key: key.serialize_pem() }
    }

    fn server(&self) -> Leaf {
        self.issue(SERVER_NAME, &[SERVER_NAME, "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth)
    }

    fn client(&self, name: &str) -> Leaf {
        self.issue(name, &[name], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// A certificate and its key, in PEM.
struct Leaf {
    cert: String,
    key: String,
}

/// A directory laid out like a mounted Kubernetes TLS secret: `tls.crt`, `tls.key` and
/// `ca.crt`, links through `..data` to the current generation, replaced all at once.
#[derive(Debug)]
struct Mount {
    dir: PathBuf,
}

impl Mount {
    fn new(dir: PathBuf, leaf: &Leaf, ca: &Authority) -> Self {
        std::fs::create_dir(&dir).expect("create the secret's directory");
        let mount = Self { dir };
        mount.swap(leaf, ca);
        for name in ["tls.crt", "tls.key", "ca.crt"] {
            std::os::unix::fs::symlink(Path::new("..data").join(name), mount.dir.join(name))
                .expect("link a secret's file");
        }
        mount
    }

    /// Writes a new generation and points `..data` at it with one rename.
    fn swap(&self, leaf: &Leaf, ca: &Authority) {
        let generation = format!("..{}", Uuid::new_v4().simple());
        let dir = self.dir.join(&generation);
        std::fs::create_dir(&dir).expect("create a generation");
        std::fs::write(dir.join("tls.crt"), &leaf.cert).expect("write tls.crt");
        std::fs::write(dir.join("tls.key"), &leaf.key).expect("write tls.key");
        std::fs::write(dir.join("ca.crt"), ca.pem()).expect("write ca.crt");
        let next = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&generation, &next).expect("link the generation");
        std::fs::rename(&next, self.dir.join("..data")).expect("swap ..data");
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// A client's certificate and key (and the CA that signed them), in files that
/// [`TestPki::renew`] replaces in place.
#[derive(Debug)]
pub struct Identity {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
    /// The CA that signed it (PEM); also the one the server's certificate chains to, unless
    /// the server's CA was rotated since.
    pub ca: PathBuf,
    name: String,
    mount: Mount,
}

impl Identity {
    /// A client presenting this identity and trusting the CA that signed it.
    pub fn files(&self) -> ClientFiles {
        self.trusting(&self.ca)
    }

    /// A client presenting this identity and trusting the CA in `ca`.
    pub fn trusting(&self, ca: &Path) -> ClientFiles {
        ClientFiles {
            ca: ca.to_owned(),
            identity: Some((self.cert.clone(), self.key.clone())),
            domain: SERVER_NAME.into(),
        }
    }
}

/// The certificates of one test: a CA with the server's certificate and client certificates,
/// and a foreign CA; every file in a temporary directory removed on drop.
#[derive(Debug)]
pub struct TestPki {
    ca: Authority,
    foreign: Authority,
    server: Mount,
    dir: tempfile::TempDir,
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

impl TestPki {
    /// A fresh CA, a server certificate it signed, and a foreign CA.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ca = Authority::new(dir.path(), "tickets-test-ca");
        let foreign = Authority::new(dir.path(), "foreign-test-ca");
        let server = Mount::new(dir.path().join("server"), &ca.server(), &ca);
        Self { ca, foreign, server, dir }
    }

    /// The server's files: its certificate and key, and the CA its clients' certificates must
    /// chain to (mutual TLS). Their content changes with [`Self::rotate_ca`]; their paths do not.
    pub fn server_files(&self) -> ServerFiles {
        ServerFiles {
            cert: self.server.file("tls.crt"),
            key: self.server.file("tls.key"),
            client_ca: Some(self.server.file("ca.crt")),
        }
    }

    /// [`Self::server_files`], loaded.
    pub fn server_tls(&self) -> ServerTls {
        ServerTls::load(self.server_files()).expect("the test server's TLS files load")
    }

    /// The current CA's certificate, in a file that is never replaced.
    pub fn ca_file(&self) -> &Path {
        &self.ca.file
    }

    /// A new client certificate signed by the current CA, in files of its own.
    pub fn client(&self, name: &str) -> Identity {
        self.identity(&self.ca, name)
    }

    /// A new client certificate signed by the foreign CA, which the server does not trust.
    pub fn foreign_client(&self, name: &str) -> Identity {
        self.identity(&self.foreign, name)
    }

    fn identity(&self, ca: &Authority, name: &str) -> Identity {
        let dir = self.dir.path().join(format!("client-{name}-{}", Uuid::new_v4().simple()));
        let mount = Mount::new(dir, &ca.client(name), ca);
        Identity {
            cert: mount.file("tls.crt"),
            key: mount.file("tls.key"),
            ca: mount.file("ca.crt"),
            name: name.to_owned(),
            mount,
        }
    }

    /// A client trusting the current CA and presenting no certificate.
    pub fn anonymous(&self) -> ClientFiles {
        ClientFiles { ca: self.ca.file.clone(), identity: None, domain: SERVER_NAME.into() }
    }

    /// cert-manager moving to a new CA: from now on a new CA signs, and the server's files are
    /// replaced (at the same paths) by a certificate of the new CA and the new CA as the one
    /// client certificates must chain to. Identities issued before keep the old CA.
    pub fn rotate_ca(&mut self) {
        self.ca = Authority::new(
            self.dir.path(),
            &format!("tickets-test-ca-{}", Uuid::new_v4().simple()),
        );
        self.server.swap(&self.ca.server(), &self.ca);
    }

    /// cert-manager renewing a client certificate: `identity`'s files are replaced (at the same
    /// paths) by a new certificate and key signed by the current CA.
    pub fn renew(&self, identity: &Identity) {
        identity.mount.swap(&self.ca.client(&identity.name), &self.ca);
    }
}

/// An endpoint of the TLS server at `addr` (`https://`), with `config` (whose domain is
/// [`SERVER_NAME`]); connecting and calls bounded so that a refused client fails promptly.
pub fn endpoint(addr: SocketAddr, config: ClientTlsConfig) -> Endpoint {
    Endpoint::from_shared(format!("https://{addr}"))
        .expect("a valid URI")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .tls_config(config)
        .expect("a usable client TLS configuration")
}
