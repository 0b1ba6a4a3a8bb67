//! The development PKI, made with rcgen: a federation CA, its CRL, the gateway's
//! server certificate and one client certificate per agency.
//!
//! Layout of the certificates directory (what `lienthong pki init` writes):
//! `ca.crt`, `ca.key`, `ca.crl`, `server.crt`, `server.key`,
//! `clients/<agency-code>.crt` and `.key`. Private keys are written 0600.
//! An agency certificate carries its code in a SAN URI `urn:lienthong:agency:<code>`.
//! For development and tests only: a production federation has its own CA.
//!
//! Depends on the contract (`lienthong-proto`) for agency codes only. The server uses
//! it to make the development PKI when its configuration asks for it; the tools use
//! it for `lienthong pki`.

#![forbid(unsafe_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use lienthong_proto::AgencyCode;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// The SAN URI prefix that carries an agency code.
pub const AGENCY_URI_PREFIX: &str = "urn:lienthong:agency:";

/// The demo agencies `pki init` issues certificates for.
pub const DEMO_AGENCIES: [(&str, &str); 4] = [
    ("H99.01", "Bộ phận Một cửa tỉnh (provincial one-stop shop)"),
    ("H99.02", "Sở Tư pháp (a provincial department)"),
    ("H99.90", "Thanh tra tỉnh (provincial inspectorate)"),
    (
        "H99.99",
        "Trung tâm dữ liệu tỉnh (provincial data centre, runs the gateway)",
    ),
];

/// Where each file of the PKI lives.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The certificates directory.
    pub dir: PathBuf,
}

impl Paths {
    /// The layout under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Paths {
        Paths { dir: dir.into() }
    }
    /// CA certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    /// CA private key.
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    /// Certificate revocation list.
    pub fn crl(&self) -> PathBuf {
        self.dir.join("ca.crl")
    }
    /// The gateway's server certificate.
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.crt")
    }
    /// Its private key.
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
    /// An agency's client certificate.
    pub fn audit_key(&self) -> PathBuf {
        self.dir.join("audit-signing.key")
    }

    /// The public key that verifies audit checkpoints (SPKI PEM): what an inspector trusts.
    pub fn audit_public_key(&self) -> PathBuf {
        self.dir.join("audit-signing.pub")
    }

    /// An agency's client certificate.
    pub fn client_cert(&self, agency: &str) -> PathBuf {
        self.dir.join("clients").join(format!("{agency}.crt"))
    }
    /// Its private key.
    pub fn client_key(&self, agency: &str) -> PathBuf {
        self.dir.join("clients").join(format!("{agency}.key"))
    }
}

/// Validity of an issued certificate.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    /// Not valid before.
    pub not_before: OffsetDateTime,
    /// Not valid after.
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// From an hour ago (clock skew) for `days`.
    pub fn days(days: i64) -> Validity {
        let now = OffsetDateTime::now_utc();
        Validity {
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(days),
        }
    }
}

fn pki_err(context: &str) -> impl FnOnce(rcgen::Error) -> Error + '_ {
    move |e| Error::Pki(format!("{context}: {e}"))
}

/// Creates a CA, an empty CRL, a server certificate and the demo agencies'
/// certificates. Refuses to overwrite an existing CA unless `force`.
pub fn init(paths: &Paths, force: bool) -> Result<(), Error> {
    if paths.ca_cert().exists() && !force {
        return Err(Error::Pki(format!(
            "{} exists; pass --force to replace the whole PKI",
            paths.ca_cert().display()
        )));
    }
    fs::create_dir_all(paths.dir.join("clients")).map_err(Error::io(&paths.dir))?;
    let ca_key = KeyPair::generate().map_err(pki_err("CA key"))?;
    let mut ca = CertificateParams::default();
    // A unique name per PKI: two development PKIs must never be mistaken for each other.
    let id = uuid::Uuid::new_v4().simple().to_string();
    let ca_name = format!("lienthong development CA {}", &id[..8]);
    ca.distinguished_name = name(&ca_name, "lienthong (development only)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.serial_number = Some(serial());
    let validity = Validity::days(3650);
    (ca.not_before, ca.not_after) = (validity.not_before, validity.not_after);
    let ca_cert = ca.self_signed(&ca_key).map_err(pki_err("CA certificate"))?;
    write(&paths.ca_cert(), ca_cert.pem().as_bytes(), false)?;
    write(&paths.ca_key(), ca_key.serialize_pem().as_bytes(), true)?;
    write_crl(paths, Vec::new(), 1)?;
    issue_server(
        paths,
        &["localhost", "127.0.0.1", "::1"],
        Validity::days(825),
    )?;
    init_audit_key(paths)?;
    issue_demo_agencies(paths, false)
}

/// Issues a certificate to every demo agency that has none.
pub fn issue_missing_demo_agencies(paths: &Paths) -> Result<(), Error> {
    issue_demo_agencies(paths, true)
}

fn issue_demo_agencies(paths: &Paths, only_missing: bool) -> Result<(), Error> {
    for (code, _) in DEMO_AGENCIES {
        if only_missing && paths.client_cert(code).exists() {
            continue;
        }
        let code =
            AgencyCode::parse(code).map_err(|e| Error::Pki(format!("demo agency {code}: {e}")))?;
        issue(paths, &code, Validity::days(825))?;
    }
    Ok(())
}

/// A fresh Ed25519 key for signing audit checkpoints: (private PKCS#8 PEM, public
/// SPKI PEM).
pub fn audit_key_pem() -> Result<(String, String), Error> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(pki_err("audit key"))?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}

/// Writes a new audit signing key pair into the certificates directory.
pub fn init_audit_key(paths: &Paths) -> Result<(), Error> {
    fs::create_dir_all(&paths.dir).map_err(Error::io(&paths.dir))?;
    let (private, public) = audit_key_pem()?;
    write(&paths.audit_key(), private.as_bytes(), true)?;
    write(&paths.audit_public_key(), public.as_bytes(), false)
}

fn name(common: &str, organization: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common);
    dn.push(DnType::OrganizationName, organization);
    dn.push(DnType::CountryName, "VN");
    dn
}

/// A random positive 128-bit serial number.
fn serial() -> SerialNumber {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

fn ca_issuer(paths: &Paths) -> Result<Issuer<'static, KeyPair>, Error> {
    let cert = fs::read_to_string(paths.ca_cert()).map_err(Error::io(paths.ca_cert()))?;
    let key = fs::read_to_string(paths.ca_key()).map_err(Error::io(paths.ca_key()))?;
    let key = KeyPair::from_pem(&key).map_err(pki_err("CA key"))?;
    Issuer::from_ca_cert_pem(&cert, key).map_err(pki_err("CA certificate"))
}

/// Issues the gateway's server certificate for `names` (DNS names or IP addresses).
pub fn issue_server(paths: &Paths, names: &[&str], validity: Validity) -> Result<(), Error> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).map_err(pki_err("server names"))?;
    params.distinguished_name = name("lienthong gateway", "lienthong (development only)");
    let usage = ExtendedKeyUsagePurpose::ServerAuth;
    sign_leaf(
        paths,
        params,
        usage,
        validity,
        &paths.server_cert(),
        &paths.server_key(),
    )
}

/// Issues a client certificate for `agency`; returns the certificate's path.
pub fn issue(paths: &Paths, agency: &AgencyCode, validity: Validity) -> Result<PathBuf, Error> {
    let uri = format!("{AGENCY_URI_PREFIX}{agency}");
    issue_with_sans(paths, agency.as_str(), &[uri], validity)
}

/// Issues a client certificate with exactly these SAN URIs, stored under `file_stem`.
/// Tests use it for certificates that must be refused (no agency SAN, two SANs).
pub fn issue_with_sans(
    paths: &Paths,
    file_stem: &str,
    uris: &[String],
    validity: Validity,
) -> Result<PathBuf, Error> {
    let mut params = CertificateParams::default();
    let label = DEMO_AGENCIES
        .iter()
        .find(|(c, _)| *c == file_stem)
        .map_or("agency system", |(_, n)| n);
    params.distinguished_name = name(file_stem, label);
    params.subject_alt_names = uris
        .iter()
        .map(|u| Ok(SanType::URI(u.as_str().try_into()?)))
        .collect::<Result<_, rcgen::Error>>()
        .map_err(pki_err("agency URI"))?;
    fs::create_dir_all(paths.dir.join("clients")).map_err(Error::io(&paths.dir))?;
    let cert_path = paths.client_cert(file_stem);
    let usage = ExtendedKeyUsagePurpose::ClientAuth;
    sign_leaf(
        paths,
        params,
        usage,
        validity,
        &cert_path,
        &paths.client_key(file_stem),
    )?;
    Ok(cert_path)
}

/// Signs an end-entity certificate for `usage` with the CA and a new key, and writes
/// both (the key 0600).
fn sign_leaf(
    paths: &Paths,
    mut params: CertificateParams,
    usage: ExtendedKeyUsagePurpose,
    validity: Validity,
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), Error> {
    let issuer = ca_issuer(paths)?;
    params.extended_key_usages = vec![usage];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.serial_number = Some(serial());
    params.use_authority_key_identifier_extension = true;
    (params.not_before, params.not_after) = (validity.not_before, validity.not_after);
    let failed = |e: rcgen::Error| Error::Pki(format!("{}: {e}", cert_path.display()));
    let key = KeyPair::generate().map_err(failed)?;
    let cert = params.signed_by(&key, &issuer).map_err(failed)?;
    write(cert_path, cert.pem().as_bytes(), false)?;
    write(key_path, key.serialize_pem().as_bytes(), true)
}

/// Revokes the agency's current client certificate and rewrites the CRL.
pub fn revoke(paths: &Paths, agency: &str) -> Result<(), Error> {
    let pem = fs::read(paths.client_cert(agency)).map_err(Error::io(paths.client_cert(agency)))?;
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem)
        .map_err(|e| Error::Pki(format!("{agency}.crt: {e}")))?;
    let cert = block
        .parse_x509()
        .map_err(|e| Error::Pki(format!("{agency}.crt: {e}")))?;
    let serial = SerialNumber::from_slice(cert.raw_serial());
    let (mut revoked, number) = read_crl(paths)?;
    if revoked.iter().any(|r| r.serial_number == serial) {
        return Ok(());
    }
    revoked.push(RevokedCertParams {
        serial_number: serial,
        revocation_time: OffsetDateTime::now_utc(),
        reason_code: Some(rcgen::RevocationReason::CessationOfOperation),
        invalidity_date: None,
    });
    write_crl(paths, revoked, number + 1)
}

/// The entries and number of the current CRL.
fn read_crl(paths: &Paths) -> Result<(Vec<RevokedCertParams>, u64), Error> {
    let pem = fs::read(paths.crl()).map_err(Error::io(paths.crl()))?;
    let bad = |e: String| Error::Pki(format!("{}: {e}", paths.crl().display()));
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem).map_err(|e| bad(e.to_string()))?;
    let (_, crl) = x509_parser::parse_x509_crl(&block.contents).map_err(|e| bad(e.to_string()))?;
    let number = crl
        .crl_number()
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0);
    let revoked = crl
        .iter_revoked_certificates()
        .map(|r| RevokedCertParams {
            serial_number: SerialNumber::from_slice(r.raw_serial()),
            revocation_time: r.revocation_date.to_datetime(),
            reason_code: Some(rcgen::RevocationReason::CessationOfOperation),
            invalidity_date: None,
        })
        .collect();
    Ok((revoked, number))
}

fn write_crl(paths: &Paths, revoked: Vec<RevokedCertParams>, number: u64) -> Result<(), Error> {
    let issuer = ca_issuer(paths)?;
    let now = OffsetDateTime::now_utc();
    let params = CertificateRevocationListParams {
        this_update: now - Duration::minutes(5),
        next_update: now + Duration::days(30),
        crl_number: SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params.signed_by(&issuer).map_err(pki_err("CRL"))?;
    write(
        &paths.crl(),
        crl.pem().map_err(pki_err("CRL"))?.as_bytes(),
        false,
    )
}

/// Why a PKI file could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A certificate, key or CRL could not be made or read.
    #[error("pki: {0}")]
    Pki(String),
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

/// Writes through a temporary file and a rename, so a reader never sees half a
/// file; `secret` files are made owner-only (0600).
pub fn write(path: &Path, bytes: &[u8], secret: bool) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(Error::io(&tmp))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(Error::io(&tmp))?;
    fs::rename(&tmp, path).map_err(Error::io(path))
}
