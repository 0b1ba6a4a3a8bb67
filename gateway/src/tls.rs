//! Mutual TLS and the identity of the calling agency.
//!
//! A client must present a certificate that chains to the federation CA, is within
//! its validity period, is not on the CRL, and names exactly one agency in a SAN URI
//! with the configured prefix. All of it is checked during the handshake, so a
//! refused client gets a TLS alert and never reaches a handler. The agency code then
//! travels with the connection ([`Peer`]) into every request's extensions.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use lienthong_proto::AgencyCode;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};

use crate::Error;
use lienthong_pki::Paths;

mod connection;

pub use connection::{Accept, Connection, Slot, accept};

/// Who is on the other end of a connection, established by its certificate.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The agency code from the certificate's SAN URI.
    pub agency: AgencyCode,
    /// SHA-256 of the client certificate (DER), hex: pins the exact certificate used.
    pub fingerprint: String,
    /// The client's socket address.
    pub remote: SocketAddr,
    /// The certificate's serial number (DER integer bytes), to refuse its requests
    /// once a reloaded CRL lists it.
    pub serial: Vec<u8>,
    /// Requests in flight on this connection at most (`limits.max_in_flight_per_connection`).
    pub slots: Arc<tokio::sync::Semaphore>,
}

/// What a handshake checks against: the server's TLS configuration, and the serial
/// numbers its CRL revokes (for connections opened before a reload).
pub struct Trust {
    /// Certificate, CA and CRL, for new handshakes.
    pub config: Arc<ServerConfig>,
    /// Serial numbers the CRL lists.
    pub revoked: std::collections::HashSet<Vec<u8>>,
}

impl Trust {
    /// Reads the server certificate and key, the CA and the CRL under `paths`.
    pub fn load(paths: &Paths, agency_uri_prefix: &str) -> Result<Trust, Error> {
        let config = server_config(paths, agency_uri_prefix)?;
        let mut revoked = std::collections::HashSet::new();
        for crl in read_pem::<CertificateRevocationListDer<'static>>(&paths.crl())? {
            let (_, crl) = x509_parser::parse_x509_crl(&crl)
                .map_err(|e| Error::Pki(format!("{}: {e}", paths.crl().display())))?;
            revoked.extend(
                crl.iter_revoked_certificates()
                    .map(|r| r.raw_serial().to_vec()),
            );
        }
        Ok(Trust { config, revoked })
    }
}

/// Why a handshake failed, as a metric label.
pub fn failure_reason(error: &io::Error) -> &'static str {
    use rustls::Error as E;
    let Some(tls) = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return match error.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe => "closed",
            io::ErrorKind::InvalidData => "not_tls",
            _ => "io",
        };
    };
    match tls {
        E::NoCertificatesPresented => "no_certificate",
        E::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired",
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "not_yet_valid"
            }
            CertificateError::Revoked => "revoked",
            CertificateError::UnknownIssuer => "unknown_issuer",
            CertificateError::ApplicationVerificationFailure => "agency_identity",
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "wrong_purpose"
            }
            _ => "bad_certificate",
        },
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. } => "protocol",
        E::PeerIncompatible(_) | E::NoApplicationProtocol => "incompatible",
        E::AlertReceived(_) => "client_alert",
        _ => "other",
    }
}

/// A handshake that did not establish an agency.
#[derive(Debug)]
pub struct Refused {
    /// A metric label: `timeout`, `expired`, `revoked`, `no_certificate`…
    pub reason: &'static str,
    /// For the log.
    pub detail: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.detail, self.reason)
    }
}

/// The single agency code named by a certificate's SAN URIs with `prefix`.
pub fn agency_of(cert: &CertificateDer<'_>, prefix: &str) -> Result<AgencyCode, String> {
    identity(cert, prefix).map(|(agency, _)| agency)
}

/// The agency code (as [`agency_of`]) and the serial number, from one parse.
fn identity(cert: &CertificateDer<'_>, prefix: &str) -> Result<(AgencyCode, Vec<u8>), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| format!("unreadable certificate: {e}"))?;
    let serial = cert.raw_serial().to_vec();
    let sans = cert
        .subject_alternative_name()
        .map_err(|e| format!("bad SAN extension: {e}"))?;
    let codes: Vec<&str> = sans
        .iter()
        .flat_map(|ext| ext.value.general_names.iter())
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::URI(uri) => uri.strip_prefix(prefix),
            _ => None,
        })
        .collect();
    match codes[..] {
        [code] => AgencyCode::parse(code)
            .map(|agency| (agency, serial))
            .map_err(|e| format!("agency code {code:?} {e}")),
        [] => Err(format!("no SAN URI {prefix}<code>")),
        _ => Err(format!(
            "{} agency SAN URIs; exactly one is allowed",
            codes.len()
        )),
    }
}

/// The webpki verifier (chain, validity, CRL) plus the agency identity check.
struct AgencyVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    prefix: String,
}

impl fmt::Debug for AgencyVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgencyVerifier")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl ClientCertVerifier for AgencyVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        agency_of(end_entity, &self.prefix).map_err(|reason| {
            tracing::warn!(%reason, "client certificate names no single agency");
            rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
        })?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn read_pem<T: PemObject>(path: &Path) -> Result<Vec<T>, Error> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    T::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Pki(format!("{}: {e}", path.display())))
}

/// The server TLS configuration: our certificate, required client certificates
/// checked against the CA and the CRL, HTTP/2 only.
pub fn server_config(paths: &Paths, agency_uri_prefix: &str) -> Result<Arc<ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in read_pem::<CertificateDer<'static>>(&paths.ca_cert())? {
        roots.add(ca).map_err(|e| Error::Pki(format!("CA: {e}")))?;
    }
    let crls = read_pem::<CertificateRevocationListDer<'static>>(&paths.crl())?;
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls(crls)
        .build()
        .map_err(|e| Error::Pki(format!("client verifier: {e}")))?;
    let verifier = Arc::new(AgencyVerifier {
        inner,
        prefix: agency_uri_prefix.to_owned(),
    });
    let chain = read_pem::<CertificateDer<'static>>(&paths.server_cert())?;
    let key = PrivateKeyDer::from_pem_file(paths.server_key())
        .map_err(|e| Error::Pki(format!("{}: {e}", paths.server_key().display())))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Pki(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| Error::Pki(format!("server certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}
