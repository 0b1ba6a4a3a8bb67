//! The HTTP client every REST adapter uses: rustls with ring (no other TLS stack),
//! trusting only the configured CA bundle, with the call's deadline for connecting
//! and answering.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// An HTTP client for `endpoint` (named in errors) trusting `ca_pem` (PEM, for
/// `https` URLs), giving up on a call after `timeout`.
pub fn client(
    endpoint: &str,
    ca_pem: Option<&[u8]>,
    timeout: Duration,
) -> Result<reqwest::Client, crate::Error> {
    let setup = |detail: String| crate::Error::Rejected {
        endpoint: endpoint.to_owned(),
        detail,
    };
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| setup(format!("CA bundle: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| setup(format!("CA bundle: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| setup(e.to_string()))
}
