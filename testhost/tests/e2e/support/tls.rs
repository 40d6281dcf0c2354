//! Certificates for the TLS scenarios, made fresh for each Redis that needs them: a private CA and
//! a server certificate for `127.0.0.1` and `localhost` signed by it, valid now or long expired.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Which server certificate Redis presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerCert {
    /// Signed by the private CA, valid for 127.0.0.1 from 1975 to 4096.
    Valid,
    /// Signed by the private CA, but it expired in 2001.
    Expired,
}

/// PEM files written by [`write`].
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The private CA's certificate: what a client must trust.
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Writes `ca.pem`, `server.pem` and `server.key` into `dir`.
pub fn write(dir: &Path, which: ServerCert) -> TlsFiles {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "spin-redis-counter e2e CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("a CA key"))
        .expect("a self-signed CA");

    let mut params =
        CertificateParams::new(vec!["localhost".to_string()]).expect("server parameters");
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    if which == ServerCert::Expired {
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2001, 1, 1);
    }
    let key = KeyPair::generate().expect("a server key");
    let cert = params.signed_by(&key, &ca).expect("a server certificate");

    let files = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    fs::write(&files.ca, ca.pem()).expect("write ca.pem");
    fs::write(&files.cert, cert.pem()).expect("write server.pem");
    fs::write(&files.key, key.serialize_pem()).expect("write server.key");
    files
}
