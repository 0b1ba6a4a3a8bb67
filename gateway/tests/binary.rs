//! The README's first command, for real: `lienthong serve` as a child process in an
//! empty directory (no config, no certificates), then `lienthong client` against it.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lienthong");

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn client(dir: &Path, port: u16, agency: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args([
            "client",
            "--url",
            &format!("https://localhost:{port}"),
            "--agency",
            agency,
        ])
        .args([
            "--purpose",
            "dossier-processing",
            "--legal-basis",
            "ND-47/2020",
            "--officer",
            "cb-0001",
        ])
        .args(args)
        .output()
        .expect("client runs")
}

#[test]
fn serve_from_nothing_then_look_up_a_citizen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let serve = Command::new(BIN)
        .current_dir(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve starts");
    let _serve = Killed(serve);

    // Wait until it generated the dev PKI and answers.
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = "001085012345";
    let output = loop {
        if dir.path().join("certs/clients/H99.01.crt").exists() {
            let out = client(dir.path(), port, "H99.01", &["--json", "citizen", id]);
            if out.status.success() || Instant::now() > deadline {
                break out;
            }
        }
        assert!(Instant::now() < deadline, "gateway did not come up");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let citizen: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    assert_eq!(citizen["personal_id"], id);
    assert!(
        citizen["birth_date"]
            .as_str()
            .unwrap_or_default()
            .starts_with("1985-"),
        "{citizen}"
    );
    assert_eq!(citizen["sex"], "SEX_MALE");
    assert!(dir.path().join("data").is_dir());

    let residence = client(dir.path(), port, "H99.02", &["residence", id]);
    assert!(
        String::from_utf8_lossy(&residence.stdout).contains("commune_code:"),
        "{residence:?}"
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
        .unwrap();
    assert!(revoke.status.success(), "{revoke:?}");
    drop(_serve);
    let port = free_port();
    let serve = Command::new(BIN)
        .current_dir(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve restarts");
    let _serve = Killed(serve);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client(dir.path(), port, "H99.01", &["citizen", id])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "gateway did not come back");
        std::thread::sleep(Duration::from_millis(200));
    }
    let refused = client(dir.path(), port, "H99.02", &["citizen", id]);
    assert!(!refused.status.success(), "a revoked agency is refused");
}
