//! Mutual TLS: who is refused during the handshake, and with which alert.
//!
//! The client side is a plain tokio-rustls connection: after the handshake it sends
//! the HTTP/2 preface and reads. An accepted client receives the server's SETTINGS;
//! a refused one receives the server's alert (TLS 1.3 reports a client certificate
//! failure after the client's own handshake has finished).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use integration_tests::{TestPki, start_with_sim};
use lienthong_gateway::server::Running;
use lienthong_pki::{self as pki, Paths, Validity};
use lienthong_proto::AgencyCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use time::{Duration as Days, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Connects with `client` (cert + key PEM paths, or none) trusting `ca`; returns
/// `Ok` if the server answered HTTP/2, or the error that ended the connection.
async fn connect(
    addr: SocketAddr,
    ca: &Paths,
    client: Option<(&Paths, &str)>,
) -> Result<(), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca.ca_cert()).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some((paths, name)) => {
            let chain = CertificateDer::pem_file_iter(paths.client_cert(name))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(paths.client_key(name)).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let server = ServerName::try_from("localhost").unwrap();
    let exchange = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut tls = TlsConnector::from(Arc::new(config))
            .connect(server, tcp)
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        match tls.read(&mut buf).await {
            Ok(0) => Err("closed without a word".to_owned()),
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    };
    // Connect, handshake and the answer together: a stalled server fails the test.
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .unwrap_or_else(|_| Err("no answer".into()))
}

/// A client certificate for H99.01 (agency SAN, client auth) made by `make` from
/// its parameters and a new key, written as client `name` in `paths`.
fn write_agency_cert(
    paths: &Paths,
    name: &str,
    make: impl FnOnce(rcgen::CertificateParams, &rcgen::KeyPair) -> rcgen::Certificate,
) {
    let mut params = rcgen::CertificateParams::default();
    let uri = format!("{}H99.01", pki::AGENCY_URI_PREFIX);
    params.subject_alt_names = vec![rcgen::SanType::URI(uri.as_str().try_into().unwrap())];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = make(params, &key);
    std::fs::write(paths.client_cert(name), cert.pem()).unwrap();
    std::fs::write(paths.client_key(name), key.serialize_pem()).unwrap();
}

fn assert_refused(result: Result<(), String>, alert: &str) {
    match result {
        Ok(()) => panic!("handshake accepted; expected alert {alert}"),
        Err(e) => assert!(e.contains(alert), "expected alert {alert}, got: {e}"),
    }
}

/// Presents the certificate `name` of `pki` (trusting its CA) to `gw`, and checks
/// that the handshake ends with `alert`.
async fn refused_as(gw: &Running, pki: &TestPki, name: &str, alert: &str) {
    assert_refused(
        connect(gw.addr(), &pki.paths, Some((&pki.paths, name))).await,
        alert,
    );
}

#[tokio::test]
async fn a_demo_agency_is_accepted() {
    let pki = TestPki::new();
    let (gw, _) = start_with_sim(&pki).await;
    for agency in ["H99.01", "H99.02", "H99.90"] {
        connect(gw.addr(), &pki.paths, Some((&pki.paths, agency)))
            .await
            .unwrap_or_else(|e| panic!("{agency}: {e}"));
    }
}

#[tokio::test]
async fn no_certificate_is_refused() {
    let pki = TestPki::new();
    let (gw, _) = start_with_sim(&pki).await;
    assert_refused(
        connect(gw.addr(), &pki.paths, None).await,
        "CertificateRequired",
    );
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let pki = TestPki::new();
    let other = TestPki::new();
    let (gw, _) = start_with_sim(&pki).await;
    assert_refused(
        connect(gw.addr(), &pki.paths, Some((&other.paths, "H99.01"))).await,
        "UnknownCA",
    );
}

#[tokio::test]
async fn a_look_alike_ca_with_the_same_name_is_refused() {
    let pki = TestPki::new();
    // An issuer with our CA's name but another key: chain building finds a name
    // match, and the signature check must catch the forgery.
    let ca_pem = std::fs::read_to_string(pki.paths.ca_cert()).unwrap();
    let forger =
        rcgen::Issuer::from_ca_cert_pem(&ca_pem, rcgen::KeyPair::generate().unwrap()).unwrap();
    write_agency_cert(&pki.paths, "forged", |params, key| {
        params.signed_by(key, &forger).unwrap()
    });
    let (gw, _) = start_with_sim(&pki).await;
    refused_as(&gw, &pki, "forged", "DecryptError").await;
}

#[tokio::test]
async fn an_expired_or_not_yet_valid_certificate_is_refused() {
    let pki = TestPki::new();
    let now = OffsetDateTime::now_utc();
    let expired = Validity {
        not_before: now - Days::days(30),
        not_after: now - Days::days(1),
    };
    pki::issue(&pki.paths, &AgencyCode::parse("H99.03").unwrap(), expired).unwrap();
    let future = Validity {
        not_before: now + Days::days(1),
        not_after: now + Days::days(30),
    };
    pki::issue(&pki.paths, &AgencyCode::parse("H99.04").unwrap(), future).unwrap();
    let (gw, _) = start_with_sim(&pki).await;
    refused_as(&gw, &pki, "H99.03", "CertificateExpired").await;
    refused_as(&gw, &pki, "H99.04", "CertificateExpired").await;
}

#[tokio::test]
async fn a_revoked_certificate_is_refused_and_others_are_not() {
    let pki = TestPki::new();
    pki::issue(
        &pki.paths,
        &AgencyCode::parse("H99.05").unwrap(),
        Validity::days(30),
    )
    .unwrap();
    pki::revoke(&pki.paths, "H99.05").unwrap();
    pki::revoke(&pki.paths, "H99.02").unwrap();
    let (gw, _) = start_with_sim(&pki).await;
    refused_as(&gw, &pki, "H99.05", "CertificateRevoked").await;
    refused_as(&gw, &pki, "H99.02", "CertificateRevoked").await;
    connect(gw.addr(), &pki.paths, Some((&pki.paths, "H99.01")))
        .await
        .expect("H99.01 is not revoked");
}

#[tokio::test]
async fn a_certificate_without_exactly_one_agency_is_refused() {
    let pki = TestPki::new();
    let prefix = pki::AGENCY_URI_PREFIX;
    pki::issue_with_sans(&pki.paths, "no-san", &[], Validity::days(30)).unwrap();
    pki::issue_with_sans(
        &pki.paths,
        "other-uri",
        &["urn:example:H99.01".into()],
        Validity::days(30),
    )
    .unwrap();
    pki::issue_with_sans(
        &pki.paths,
        "two",
        &[format!("{prefix}H99.01"), format!("{prefix}H99.02")],
        Validity::days(30),
    )
    .unwrap();
    pki::issue_with_sans(
        &pki.paths,
        "bad-code",
        &[format!("{prefix}h99-01")],
        Validity::days(30),
    )
    .unwrap();
    let (gw, _) = start_with_sim(&pki).await;
    for name in ["no-san", "other-uri", "two", "bad-code"] {
        refused_as(&gw, &pki, name, "AccessDenied").await;
    }
}

#[tokio::test]
async fn a_self_signed_certificate_naming_an_agency_is_refused() {
    let pki = TestPki::new();
    write_agency_cert(&pki.paths, "self-signed", |params, key| {
        params.self_signed(key).unwrap()
    });
    let (gw, _) = start_with_sim(&pki).await;
    refused_as(&gw, &pki, "self-signed", "UnknownCA").await;
}

#[tokio::test]
async fn the_servers_own_certificate_is_no_client_certificate() {
    let pki = TestPki::new();
    // The gateway's certificate and key, presented back to it by a client: issued
    // by the right CA, but for server authentication only.
    std::fs::copy(pki.paths.server_cert(), pki.paths.client_cert("server")).unwrap();
    std::fs::copy(pki.paths.server_key(), pki.paths.client_key("server")).unwrap();
    let (gw, _) = start_with_sim(&pki).await;
    refused_as(&gw, &pki, "server", "UnsupportedCertificate").await;
}
