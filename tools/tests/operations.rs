//! The operator's side of the real binary: the config commands, SIGHUP, JSON logs,
//! `lienthong health`, the admin listener, and a SIGTERM with requests in flight.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lienthong_gateway::policy::DEV_POLICY;
use support::{BIN, ID, Killed, client, free_port, serve_with};

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("lienthong runs")
}

fn signal(child: &Killed, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("admin listener");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(tcp, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// Registered citizens of the simulator other than [`ID`], none looked up yet.
fn citizens(n: usize) -> Vec<String> {
    (100_000..999_999u32)
        .map(|serial| format!("001090{serial:06}"))
        .filter(|s| {
            let id = lienthong_proto::PersonalId::parse(s).unwrap();
            lienthong_adapters::sim::citizens::is_registered(&id)
        })
        .take(n)
        .collect()
}

#[test]
fn the_default_config_checks_and_bad_ones_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let printed = run(dir, &["config", "default"]);
    assert!(printed.status.success());
    let text = String::from_utf8(printed.stdout).unwrap();
    assert!(
        text.contains("# Requests in flight over all connections"),
        "commented"
    );
    std::fs::write(dir.join("lienthong.toml"), &text).unwrap();
    let check = run(dir, &["config", "check", "lienthong.toml"]);
    assert!(check.status.success(), "{check:?}");
    let report = String::from_utf8(check.stdout).unwrap();
    assert!(report.contains("lienthong.toml: valid"), "{report}");
    assert!(report.contains("development only"), "{report}");

    for (bad, key) in [
        (
            text.replace("burst = 4000", "burst = 0"),
            "limits.rate.burst",
        ),
        (
            text.replace("max_batch = 1024", "max_batch = 1024\nmax_batches = 2"),
            "max_batches",
        ),
        (
            text.replace("format = \"text\"", "format = \"xml\""),
            "format",
        ),
        (
            text.replace("[policy]", "[policy]\nfile = \"nowhere.toml\""),
            "nowhere.toml",
        ),
        (
            text.replace(
                "witnesses = []",
                "witnesses = [\"inspectorate+0badc0de+AQ\"]",
            ),
            "audit.witnesses",
        ),
        (
            text.replace("# witness_quorum = 1", "witness_quorum = 1"),
            "audit.witnesses",
        ),
    ] {
        std::fs::write(dir.join("bad.toml"), bad).unwrap();
        let check = run(dir, &["config", "check", "bad.toml"]);
        assert_eq!(check.status.code(), Some(1), "{check:?}");
        let said = String::from_utf8_lossy(&check.stderr);
        assert!(said.contains(key), "{key}: {said}");
    }
    std::fs::write(
        dir.join("baseline.toml"),
        text.replace(
            "enabled = true\n# Who may read what",
            "enabled = false\n# Who may read what",
        ),
    )
    .unwrap();
    let baseline = run(dir, &["config", "check", "baseline.toml"]);
    assert!(
        String::from_utf8_lossy(&baseline.stdout).contains("policy.enabled = false"),
        "{baseline:?}"
    );
    let missing = run(dir, &["serve", "--config", "bad.toml"]);
    assert!(
        !missing.status.success(),
        "serve refuses what check refuses"
    );
}

#[test]
fn sighup_reloads_the_policy_and_json_logs_carry_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (port, admin) = (free_port(), free_port());
    std::fs::write(dir.join("policy.toml"), DEV_POLICY).unwrap();
    // No file watching: only the signal can reload.
    std::fs::write(
        dir.join("lienthong.toml"),
        "[policy]\nfile = \"policy.toml\"\n[reload]\nwatch_interval = \"0s\"\n[log]\nformat = \"json\"\n",
    )
    .unwrap();
    let admin_listen = format!("127.0.0.1:{admin}");
    let gateway = serve_with(
        dir,
        port,
        &[
            "--config",
            "lienthong.toml",
            "--admin-listen",
            &admin_listen,
        ],
    );
    let asked = client(dir, port, "H99.02", &["citizen", ID]);
    assert!(asked.status.success(), "{asked:?}");

    // A broken policy on SIGHUP: refused, the old one stays.
    std::fs::write(dir.join("policy.toml"), "[[grant]]\nagency = 5\n").unwrap();
    signal(&gateway, "HUP");
    let reloaded = |outcome: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        let series =
            format!("lienthong_reloads_total{{component=\"policy\",outcome=\"{outcome}\"}} 1");
        while !http_get(admin, "/metrics").1.contains(&series) {
            assert!(Instant::now() < deadline, "no {outcome} reload counted");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    reloaded("error");
    assert!(
        client(dir, port, "H99.02", &["citizen", ID])
            .status
            .success()
    );

    // A policy without H99.02's grants: in force on the next request.
    let narrowed = DEV_POLICY.replace("\"H99.02\"", "\"H99.03\"");
    std::fs::write(dir.join("policy.toml"), narrowed).unwrap();
    signal(&gateway, "HUP");
    reloaded("ok");
    let refused = client(dir, port, "H99.02", &["citizen", ID]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("NO_GRANT"),
        "{refused:?}"
    );

    let health = run(
        dir,
        &[
            "health",
            "--url",
            &format!("https://localhost:{port}"),
            "--agency",
            "H99.01",
        ],
    );
    assert!(health.status.success(), "{health:?}");
    let table = String::from_utf8(health.stdout).unwrap();
    assert!(
        table.contains("lienthong.v1.IdentityService") && table.contains("SERVING"),
        "{table}"
    );
    let (ready, report) = http_get(admin, "/readyz");
    assert_eq!(ready, 200, "{report}");
    gateway.terminate();

    // The log: JSON lines, one `rpc finished` per request with its request id,
    // agency, method and status; the personal ID never in full.
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    assert!(!log.contains(ID), "a full personal ID in the log");
    let finished: Vec<serde_json::Value> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .filter(|v| v["message"] == "rpc finished")
        .collect();
    let denied = finished
        .iter()
        .find(|v| v["status"] == "PERMISSION_DENIED")
        .expect("the refusal is logged");
    let span = &denied["span"];
    assert_eq!(span["agency"], "H99.02");
    assert_eq!(span["method"], "GetCitizen");
    assert_eq!(
        span["request_id"].as_str().map(str::len),
        Some(36),
        "{denied}"
    );
    assert!(denied["elapsed_ms"].as_f64().is_some());
    assert!(
        log.contains("policy reload failed"),
        "the broken file is logged"
    );
}

#[test]
fn sigterm_lets_requests_in_flight_finish_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_owned();
    let port = free_port();
    std::fs::write(
        dir.join("lienthong.toml"),
        "[population]\nadapter = \"sim\"\nlatency = \"1500ms\"\n[limits]\nshutdown_grace = \"10s\"\n",
    )
    .unwrap();
    let mut gateway = serve_with(&dir, port, &["--config", "lienthong.toml"]);
    let slow: Vec<_> = citizens(4)
        .into_iter()
        .map(|id| {
            let dir = dir.clone();
            std::thread::spawn(move || client(&dir, port, "H99.01", &["--json", "citizen", &id]))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    signal(&gateway, "TERM");
    std::thread::sleep(Duration::from_millis(200));
    let late = client(&dir, port, "H99.01", &["citizen", ID]);
    assert!(!late.status.success(), "no new connections once stopping");

    let mut ids = Vec::new();
    for call in slow {
        let answered = call.join().unwrap();
        assert!(
            answered.status.success(),
            "an in-flight request finished: {answered:?}"
        );
        let json: serde_json::Value = serde_json::from_slice(&answered.stdout).unwrap();
        ids.push(json["request_id"].as_str().unwrap().to_owned());
    }
    let status = gateway.0.wait().unwrap();
    assert!(status.success(), "exit 0: {status:?}");

    // Their records were flushed, the chain closes with a checkpoint, and it verifies.
    let verify = run(&dir, &["audit", "verify", "--data-dir", "data"]);
    assert!(verify.status.success(), "{verify:?}");
    let query = run(&dir, &["audit", "query", "--data-dir", "data", "--json"]);
    let records = String::from_utf8(query.stdout).unwrap();
    for id in &ids {
        assert!(records.contains(id.as_str()), "{id} has its audit record");
    }
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn the_load_generator_compares_a_full_gateway_with_its_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let mix = "citizen-hit=4,citizen-miss=1,residence=1,verify=1,dossier-submit=1,dossier-update=2";
    let out = run(
        dir.path(),
        &[
            "bench",
            "--local",
            "--duration",
            "1500ms",
            "--warmup",
            "300ms",
            "--connections",
            "2",
            "--in-flight",
            "2",
            "--mix",
            mix,
            "--json",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let reports: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let targets: Vec<_> = reports
        .iter()
        .map(|r| r["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["baseline", "full"]);
    for r in &reports {
        assert!(r["ok"].as_u64().unwrap() > 20, "{r}");
        assert_eq!(
            r["errors"],
            serde_json::json!({}),
            "every kind of request succeeds: {r}"
        );
        for op in [
            "citizen-hit",
            "citizen-miss",
            "residence",
            "verify",
            "dossier-submit",
            "dossier-update",
        ] {
            assert!(
                r["by_op"][op].as_u64().unwrap_or(0) > 0,
                "{op} was sent: {r}"
            );
        }
        let resources = &r["resources"];
        let rss = resources["rss_mib"]
            .as_array()
            .expect("the gateway's memory");
        assert!(rss[2].as_f64().unwrap() > 1.0, "{r}");
        // Descriptors: at least stdio, the listeners, the ledger and the cache.
        let fds = resources["fds"].as_array().expect("its descriptors");
        assert!(fds[0].as_u64().unwrap() > 5, "{r}");
        assert!(!resources["timeline"].as_array().unwrap().is_empty(), "{r}");
        let (p50, p99) = (r["p50_us"].as_u64().unwrap(), r["p99_us"].as_u64().unwrap());
        assert!(0 < p50 && p50 <= p99, "{r}");
    }

    // At a fixed rate, the rate is what is served.
    let out = run(
        dir.path(),
        &[
            "bench",
            "--local",
            "--duration",
            "2s",
            "--warmup",
            "200ms",
            "--rate",
            "200",
            "--connections",
            "1",
            "--in-flight",
            "4",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("200 req/s open loop") && text.contains("full / baseline"),
        "{text}"
    );
    let full = text
        .lines()
        .find(|l| l.starts_with("full "))
        .expect("a full line");
    let rps: f64 = full.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((180.0..=201.0).contains(&rps), "{text}");
}
