//! The inspectors' console over plain HTTPS: the sign-in page, origins, cookies,
//! headers and CSRF tokens, the export, sessions that end, a renewed certificate,
//! a role taken away, and the log of it all.

use std::net::SocketAddr;
use std::time::Duration;

use integration_tests::TestPki;
use integration_tests::console::{console_config, https, link_for};
use lienthong_gateway::Config;
use rustls_pki_types::pem::PemObject;

/// The value of the hidden `csrf` field on `page`.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[at..at + 64].to_owned()
}

/// Signs in over HTTPS with a link for `agency`; the session cookie ("name=value").
async fn cookie_for(client: &reqwest::Client, config: &Config, base: &str, agency: &str) -> String {
    let addr: SocketAddr = base.trim_start_matches("https://").parse().unwrap();
    let url = link_for(config, addr, agency, Duration::from_secs(60));
    let token = url.split("token=").nth(1).unwrap();
    let response = client
        .post(format!("{base}/signin"))
        .header("origin", base)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let set = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
    assert!(set.starts_with("__Host-lienthong-console="), "{set}");
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_keeps_its_doors() {
    let pki = TestPki::new();
    let policy = pki.dir.path().join("policy.toml");
    std::fs::write(&policy, lienthong_gateway::policy::DEV_POLICY).unwrap();
    let mut config = console_config(&pki);
    config.policy.file = Some(policy.clone());
    config.console.session_ttl = Duration::from_secs(2);
    let (registry, _) = integration_tests::population(Duration::ZERO);
    let gw = integration_tests::start(&config, registry).await;
    let base = format!("https://{}", gw.console_addr().unwrap());
    let client = https(&pki);
    let get = |path: &str, cookie: Option<&str>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(c) = cookie {
            request = request.header("cookie", c);
        }
        request.send()
    };

    // Signed out: every page leads to the sign-in page, which says how to get in.
    for path in [
        "/",
        "/search",
        "/record/1",
        "/integrity",
        "/export.jsonl",
        "/citizen",
    ] {
        let response = get(path, None).await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(response.headers()["location"], "/signin");
    }
    let signin = get("/signin", None).await.unwrap();
    let csp = signin.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(
        !csp.contains("script-src") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(signin.headers()["cache-control"], "no-store");
    assert!(
        signin
            .text()
            .await
            .unwrap()
            .contains("lienthong console login")
    );

    // A sign-in posted without an origin, or from another one, is refused.
    let token = link_for(
        &config,
        gw.console_addr().unwrap(),
        "H99.90",
        Duration::from_secs(60),
    );
    let token = token.split("token=").nth(1).unwrap();
    for origin in [None, Some("https://evil.example"), Some("null")] {
        let mut post = client
            .post(format!("{base}/signin"))
            .form(&[("token", token)]);
        if let Some(o) = origin {
            post = post.header("origin", o);
        }
        assert_eq!(
            post.send().await.unwrap().status(),
            403,
            "origin {origin:?}"
        );
    }

    // Signed in: the pages carry no script and no inline style.
    let cookie = cookie_for(&client, &config, &base, "H99.90").await;
    let mut csrf = String::new();
    for path in ["/", "/search", "/integrity", "/export", "/citizen"] {
        let response = get(path, Some(&cookie)).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let page = response.text().await.unwrap();
        assert!(
            !page.contains("<script") && !page.contains(" style="),
            "{path}"
        );
        csrf = csrf_of(&page);
    }

    // The export is the JSONL the CLI verifies, sealed.
    let export = get("/export.jsonl", Some(&cookie)).await.unwrap();
    assert!(
        export.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let body = export.text().await.unwrap();
    let key = gw.audit().unwrap().public_key().to_vec();
    let verdict = lienthong_gateway::audit::export::verify(body.as_bytes(), &key).unwrap();
    assert!(verdict.ok, "{verdict:?}");
    assert!(
        verdict.records_checked >= 4,
        "sign-in, overview, search, integrity: {verdict:?}"
    );

    // Signing out needs the session's CSRF token, from the console's origin.
    let signout = |token: &str, origin: &str| {
        client
            .post(format!("{base}/signout"))
            .header("cookie", &cookie)
            .header("origin", origin)
            .form(&[("csrf", token)])
            .send()
    };
    assert_eq!(signout("forged", &base).await.unwrap().status(), 403);
    assert_eq!(
        signout(&csrf, "https://evil.example")
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        get("/", Some(&cookie)).await.unwrap().status(),
        200,
        "still in"
    );
    assert_eq!(signout(&csrf, &base).await.unwrap().status(), 303);
    assert_eq!(
        get("/", Some(&cookie)).await.unwrap().status(),
        303,
        "signed out"
    );

    // A session ends on its own.
    let cookie = cookie_for(&client, &config, &base, "H99.90").await;
    assert_eq!(get("/", Some(&cookie)).await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        get("/", Some(&cookie)).await.unwrap().status(),
        303,
        "expired"
    );

    // A renewed server certificate reaches new console connections with the reload.
    let before = console_certificate(&pki, gw.console_addr().unwrap()).await;
    lienthong_pki::issue_server(
        &pki.paths,
        &["localhost", "127.0.0.1", "::1"],
        lienthong_pki::Validity::days(30),
    )
    .unwrap();
    gw.reload().await;
    let after = console_certificate(&pki, gw.console_addr().unwrap()).await;
    assert_ne!(before, after, "the console serves the renewed certificate");

    // The role taken away by a policy reload shuts a live session out.
    let cookie = cookie_for(&client, &config, &base, "H99.90").await;
    let without = lienthong_gateway::policy::DEV_POLICY
        .replace("auditor = [\"H99.90\"]", "auditor = [\"H99.99\"]");
    assert_ne!(without, lienthong_gateway::policy::DEV_POLICY);
    std::fs::write(&policy, without).unwrap();
    gw.reload().await;
    let response = get("/search", Some(&cookie)).await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("auditor"));

    // The refusals and the pages are in the log, the refused sign-in included.
    let store = gw.audit().unwrap().store().clone();
    let head = store.audit_head().await.unwrap().seq;
    let mut operations = Vec::new();
    for seq in 1..=head {
        if let Some(r) = store.audit_record(seq).await.unwrap() {
            operations.push((r.operation, r.decision));
        }
    }
    for page in [
        "Console/SignIn",
        "Console/Charts",
        "Console/Search",
        "Console/Integrity",
        "Console/Export",
    ] {
        assert!(operations.iter().any(|(op, _)| op == page), "{page}");
    }
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// The certificate the console presents to a new connection.
async fn console_certificate(pki: &TestPki, addr: SocketAddr) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in rustls_pki_types::CertificateDer::pem_file_iter(pki.paths.ca_cert()).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}
