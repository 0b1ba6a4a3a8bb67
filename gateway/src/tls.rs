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
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

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
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;

use crate::Error;
use crate::pki::Paths;

/// Who is on the other end of a connection, established by its certificate.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The agency code from the certificate's SAN URI.
    pub agency: AgencyCode,
    /// SHA-256 of the client certificate (DER), hex: pins the exact certificate used.
    pub fingerprint: String,
    /// The client's socket address.
    pub remote: SocketAddr,
}

/// The single agency code named by a certificate's SAN URIs with `prefix`.
pub fn agency_of(cert: &CertificateDer<'_>, prefix: &str) -> Result<AgencyCode, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| format!("unreadable certificate: {e}"))?;
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
        [code] => AgencyCode::parse(code).map_err(|e| format!("agency code {code:?} {e}")),
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

/// An accepted mTLS connection with its verified peer.
pub struct Connection {
    stream: TlsStream<TcpStream>,
    peer: Arc<Peer>,
}

impl Connection {
    /// The verified peer.
    pub fn peer(&self) -> &Arc<Peer> {
        &self.peer
    }
}

/// Runs the handshake on `tcp` within `timeout` and establishes the peer.
pub async fn accept(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    timeout: Duration,
    prefix: &str,
) -> Result<Connection, String> {
    let remote = tcp.peer_addr().map_err(|e| e.to_string())?;
    let stream = match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(format!("handshake not finished within {timeout:?}")),
    };
    let cert = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .ok_or("no client certificate")?;
    let agency = agency_of(cert, prefix)?;
    let fingerprint = Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Connection {
        peer: Arc::new(Peer {
            agency,
            fingerprint,
            remote,
        }),
        stream,
    })
}

impl Connected for Connection {
    type ConnectInfo = Arc<Peer>;

    fn connect_info(&self) -> Arc<Peer> {
        self.peer.clone()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
