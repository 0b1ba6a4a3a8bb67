//! The README's first command, for real: `lienthong serve` as a child process in an
//! empty directory (no config, no certificates), then `lienthong client` against it.

use std::process::Command;

use support::{BIN, ID, client, free_port, serve};

mod support;

#[test]
fn serve_from_nothing_then_look_up_a_citizen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let serving = serve(dir.path(), port);

    let output = client(dir.path(), port, "H99.01", &["--json", "citizen", ID]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let citizen: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    assert_eq!(citizen["personal_id"], ID);
    let birth = citizen["birth_date"].as_str().unwrap_or_default();
    assert!(birth.starts_with("1985-"), "{citizen}");
    assert_eq!(citizen["sex"], "SEX_MALE");
    assert!(dir.path().join("data").is_dir());

    let residence = client(dir.path(), port, "H99.01", &["residence", ID]);
    let text = String::from_utf8_lossy(&residence.stdout);
    assert!(text.contains("commune_code:"), "{residence:?}");

    // The dev policy: H99.02 sees name, birth date and sex only, and no residence.
    let narrow = client(dir.path(), port, "H99.02", &["--json", "citizen", ID]);
    let narrow: serde_json::Value = serde_json::from_slice(&narrow.stdout).expect("JSON output");
    assert_eq!(narrow["birth_date"], citizen["birth_date"]);
    assert_ne!(citizen["hometown"], "");
    assert_eq!(narrow["hometown"], "", "{narrow}");
    let refused = client(dir.path(), port, "H99.02", &["residence", ID]);
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("PermissionDenied") && message.contains("OPERATION_NOT_ALLOWED"),
        "{message}"
    );

    let invalid = client(dir.path(), port, "H99.01", &["citizen", "12345"]);
    assert!(!invalid.status.success());
    let message = String::from_utf8_lossy(&invalid.stderr);
    assert!(
        message.contains("InvalidArgument") && message.contains("personal_id"),
        "{message}"
    );

    // Revoke H99.02 with the CLI: a restarted gateway refuses it, H99.01 still works.
    let revoke = Command::new(BIN)
        .current_dir(dir.path())
        .args(["pki", "revoke", "--agency", "H99.02"])
        .output()
        .expect("pki revoke runs");
    assert!(revoke.status.success(), "{revoke:?}");
    drop(serving);
    let port = free_port();
    let _serving = serve(dir.path(), port);
    let refused = client(dir.path(), port, "H99.02", &["citizen", ID]);
    assert!(!refused.status.success(), "a revoked agency is refused");
}

/// `lienthong` with `args` in `dir`.
fn run(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("lienthong runs")
}

#[test]
fn an_inspector_queries_exports_and_verifies_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    let port = free_port();
    let serving = serve(dir, port);
    let url = format!("https://localhost:{port}");
    let answered = client(dir, port, "H99.01", &["--json", "citizen", ID]);
    let answered: serde_json::Value = serde_json::from_slice(&answered.stdout).expect("JSON");
    let denied = client(dir, port, "H99.02", &["residence", ID]);
    assert!(!denied.status.success());
    // A lookup in a client's W3C trace: its record keeps the trace id, which the
    // export and both verifiers below must cover.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traced = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
        let mut identity = IdentityServiceClient::new(support::channel(dir, port, "H99.01"));
        let mut request = tonic::Request::new(lienthong_proto::v1::GetCitizenRequest {
            context: Some(lienthong_proto::v1::RequestContext {
                officer_id: "cb-0001".into(),
                purpose: "dossier-processing".into(),
                legal_basis: "ND-47/2020".into(),
                ..Default::default()
            }),
            personal_id: ID.into(),
            ..Default::default()
        });
        request.metadata_mut().insert(
            "traceparent",
            format!("00-{trace}-00f067aa0ba902b7-01").parse().unwrap(),
        );
        identity.get_citizen(request).await
    });
    assert!(traced.is_ok(), "{traced:?}");

    // query: both requests are there, under the request ids the client printed
    let query = run(
        dir,
        &["audit", "query", "--url", &url, "--subject", ID, "--json"],
    );
    assert!(query.status.success(), "{query:?}");
    let lines = String::from_utf8(query.stdout).unwrap();
    assert!(
        lines.contains(answered["request_id"].as_str().unwrap()),
        "{lines}"
    );
    assert!(
        lines.contains("\"reason\":\"OPERATION_NOT_ALLOWED\""),
        "{lines}"
    );
    let table = run(
        dir,
        &["audit", "query", "--url", &url, "--agency-code", "H99.02"],
    );
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("denied") && table.contains("ResidencyService/GetResidence"),
        "{table}"
    );
    // not an auditor: refused
    let refused = run(
        dir,
        &["audit", "query", "--url", &url, "--agency", "H99.01"],
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("ROLE_REQUIRED"),
        "{refused:?}"
    );

    // online verification, then an export verified by our CLI and by the reference
    // script in docs/ (a third party's own code)
    let verify = run(dir, &["audit", "verify", "--url", &url]);
    assert!(verify.status.success(), "{verify:?}");
    let export = run(dir, &["audit", "export", "--url", &url]);
    assert!(export.status.success(), "{export:?}");
    assert!(
        String::from_utf8_lossy(&export.stdout).contains(&format!("\"trace_id\":\"{trace}\"")),
        "the traced lookup's record carries its trace id"
    );
    let file = dir.join("export.jsonl");
    std::fs::write(&file, &export.stdout).unwrap();
    let file_arg = file.to_str().unwrap();
    let ok = run(dir, &["audit", "verify", "--file", file_arg]);
    assert!(ok.status.success(), "{ok:?}");
    // the key the inspector trusts is the operator's file, not one the export carries
    let key = dir.join("certs/audit-signing.pub");
    let key_hex = key.to_str().unwrap().to_owned();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/verify_audit.py");
    let python = Command::new("python3")
        .args([script, file_arg, &key_hex])
        .output()
        .expect("python3 runs");
    assert!(python.status.success(), "{python:?}");
    // one altered byte: both verifiers name record 1
    let altered = String::from_utf8(export.stdout)
        .unwrap()
        .replacen("H99.01", "H99.03", 1);
    std::fs::write(&file, altered).unwrap();
    let bad = run(dir, &["audit", "verify", "--file", file_arg]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stdout).contains("FAILED at record 1"),
        "{bad:?}"
    );
    let python = Command::new("python3")
        .args([script, file_arg, &key_hex])
        .output()
        .expect("python3 runs");
    assert!(
        !python.status.success() && String::from_utf8_lossy(&python.stdout).contains("record 1"),
        "{python:?}"
    );

    // offline, on the stopped gateway's data dir
    drop(serving);
    let offline = run(dir, &["audit", "verify", "--data-dir", "data"]);
    assert!(offline.status.success(), "{offline:?}");
    let query = run(
        dir,
        &[
            "audit",
            "query",
            "--data-dir",
            "data",
            "--operation",
            "AuditService/QueryAudit",
        ],
    );
    let table = String::from_utf8(query.stdout).unwrap();
    assert!(
        table.contains("ROLE_REQUIRED") && table.contains("H99.90"),
        "{table}"
    );

    // the policy explained
    let check = run(
        dir,
        &[
            "policy",
            "check",
            "--agency",
            "H99.02",
            "--operation",
            "ResidencyService/GetResidence",
            "--purpose",
            "dossier-processing",
            "--legal-basis",
            "ND-47/2020",
        ],
    );
    assert_eq!(check.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&check.stdout).contains("OPERATION_NOT_ALLOWED"));
}

#[test]
fn the_cache_serves_repeats_and_an_operator_purges_a_citizen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    let port = free_port();
    let serving = serve(dir, port);
    let lookup = |port: u16, what: &str| {
        let out = client(dir, port, "H99.01", &["--json", what, ID]);
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        v["cache"].as_str().unwrap_or_default().to_owned()
    };
    // (serve's readiness probe already looked the citizen up once)
    assert_eq!(lookup(port, "citizen"), "hit");
    assert_eq!(lookup(port, "residence"), "miss");
    assert_eq!(lookup(port, "residence"), "hit");
    let busy = run(dir, &["cache", "stats"]);
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("in use"),
        "{busy:?}"
    );
    // a correction at the register: the operator purges the citizen from the running gateway
    let url = format!("https://localhost:{port}");
    let purge = run(dir, &["cache", "purge", "--url", &url, "--personal-id", ID]);
    assert!(
        String::from_utf8_lossy(&purge.stdout).contains("removed 2 records"),
        "{purge:?}"
    );
    assert_eq!(
        lookup(port, "residence"),
        "miss",
        "purged records are fetched anew"
    );
    assert_eq!(lookup(port, "citizen"), "miss");
    // a graceful stop flushes the cache (sled writes behind); then offline
    serving.terminate();
    let stats = run(dir, &["cache", "stats"]);
    assert!(
        String::from_utf8_lossy(&stats.stdout).contains("records: 2"),
        "{stats:?}"
    );
    let purge = run(
        dir,
        &["cache", "purge", "--data-dir", "data", "--personal-id", ID],
    );
    assert!(
        String::from_utf8_lossy(&purge.stdout).contains("removed 2 records"),
        "{purge:?}"
    );
    let stats = run(dir, &["cache", "stats"]);
    assert!(
        String::from_utf8_lossy(&stats.stdout).contains("records: 0"),
        "{stats:?}"
    );
}

#[test]
fn a_case_system_submits_and_follows_a_dossier_with_the_cli() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    let port = free_port();
    let _serving = serve(dir, port);
    let url = format!("https://localhost:{port}");
    let code = lienthong_proto::DossierCode::compose("H99.01", lienthong_proto::today(), 1);
    let dossier = |args: &[&str]| {
        let out = run(
            dir,
            &[&["client", "--url", &url, "--json", "dossier"][..], args].concat(),
        );
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("JSON")
    };
    let d = dossier(&[
        "submit",
        "--code",
        &code,
        "--procedure",
        "1.001193",
        "--applicant-name",
        "Ngô Anh Đạt",
        "--applicant-id",
        ID,
        "--due-in-days",
        "10",
    ]);
    assert_eq!(
        (d["revision"].as_u64(), d["status"].as_str()),
        (Some(1), Some("DOSSIER_STATUS_ACCEPTED"))
    );
    let d = dossier(&[
        "update",
        "--code",
        &code,
        "--status",
        "4",
        "--expected-revision",
        "1",
        "--handler",
        "cb-01",
    ]);
    assert_eq!(d["revision"], 2);
    let stale = run(
        dir,
        &[
            "client",
            "--url",
            &url,
            "dossier",
            "update",
            "--code",
            &code,
            "--status",
            "9",
            "--expected-revision",
            "1",
            "--handler",
            "cb-01",
        ],
    );
    assert!(
        String::from_utf8_lossy(&stale.stderr).contains("STALE_REVISION"),
        "{stale:?}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let d = dossier(&["get", "--code", &code]);
        if d["sync"]["status"] == "SYNC_STATUS_DELIVERED" {
            assert_eq!(d["sync"]["last_delivered_revision"], 2);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not delivered: {d}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let list = dossier(&["list"]);
    assert_eq!(list["dossiers"][0]["dossier_code"], code.as_str());
    // the operator's view of the sync
    let status = run(dir, &["sync", "status", "--url", &url]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("outbox: 0 updates waiting") && text.contains("dead letters: 0"),
        "{status:?}"
    );
    let retry = run(dir, &["sync", "retry", "--dead", "--url", &url]);
    assert!(
        String::from_utf8_lossy(&retry.stdout).contains("requeued 0 updates"),
        "{retry:?}"
    );
    let refused = run(
        dir,
        &["sync", "status", "--url", &url, "--agency", "H99.01"],
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("ROLE_REQUIRED"),
        "{refused:?}"
    );
    // lookups still insist on their context
    let out = run(dir, &["client", "--url", &url, "citizen", ID]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--purpose is required"),
        "{out:?}"
    );
}

#[cfg(unix)]
#[test]
fn what_a_client_sends_cannot_write_on_an_inspectors_terminal() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    // A data dir someone made open to everyone: the gateway says so, and goes on.
    std::fs::create_dir(dir.join("data")).unwrap();
    std::fs::set_permissions(dir.join("data"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let serving = serve(dir, port);
    let url = format!("https://localhost:{port}");
    // An escape that would set the terminal's title and clear its screen, and an
    // override that would show the officer's id reversed.
    let forged = "\u{1b}]0;pwned\u{7}\u{1b}[2J";
    let refused = client(dir, port, "H99.01", &["citizen", forged]);
    assert!(!refused.status.success());
    let officer = client(
        dir,
        port,
        "H99.01",
        &["--officer", "cb1\u{202E}evil", "citizen", ID],
    );
    assert!(!officer.status.success(), "refused: {officer:?}");
    let hidden = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        text.contains('\u{1b}') || text.contains('\u{202E}') || text.contains('\u{7}')
    };
    let table = run(dir, &["audit", "query", "--url", &url]);
    assert!(table.status.success(), "{table:?}");
    assert!(
        !hidden(&table.stdout),
        "{}",
        String::from_utf8_lossy(&table.stdout)
    );
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("invalid"),
        "the attempts are on record"
    );
    drop(serving);
    let offline = run(dir, &["audit", "query", "--data-dir", "data"]);
    assert!(offline.status.success(), "{offline:?}");
    assert!(!hidden(&offline.stdout));
    let log = std::fs::read(dir.join("serve.log")).unwrap();
    assert!(
        !hidden(&log),
        "the gateway's own log carries none of it either"
    );
    assert!(
        String::from_utf8_lossy(&log).contains("open to other users"),
        "the wide data dir was warned about"
    );
}

/// The binary allocates with jemalloc as `.cargo/config.toml` configures it: asked
/// to, jemalloc prints its settings at exit, and those include the decay built in.
#[test]
fn the_binary_allocates_with_jemalloc_as_configured() {
    let output = Command::new(BIN)
        .arg("--version")
        .env("_RJEM_MALLOC_CONF", "stats_print:true,stats_print_opts:J")
        .output()
        .expect("lienthong --version runs");
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stats: serde_json::Value =
        serde_json::from_str(stderr.trim()).expect("jemalloc's statistics as JSON");
    let jemalloc = &stats["jemalloc"];
    assert_eq!(
        jemalloc["config"]["malloc_conf"], "dirty_decay_ms:1000",
        "{stderr}"
    );
    assert_eq!(jemalloc["opt"]["dirty_decay_ms"], 1000, "{stderr}");
}
