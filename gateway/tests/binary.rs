//! The README's first command, for real: `lienthong serve` as a child process in an
//! empty directory (no config, no certificates), then `lienthong client` against it.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lienthong");
const ID: &str = "001085012345";

/// A child process killed when dropped, so a failing test leaves nothing running.
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
        .args(["client", "--url", &format!("https://localhost:{port}")])
        .args(["--agency", agency, "--purpose", "dossier-processing"])
        .args(["--legal-basis", "ND-47/2020", "--officer", "cb-0001"])
        .args(args)
        .output()
        .expect("client runs")
}

/// Starts `serve` in `dir` on `port` with no other argument and waits until H99.01
/// gets an answer.
fn serve(dir: &Path, port: u16) -> Killed {
    let child = Command::new(BIN)
        .current_dir(dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve starts");
    let serving = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(dir.join("certs/clients/H99.01.crt").exists()
        && client(dir, port, "H99.01", &["citizen", ID])
            .status
            .success())
    {
        assert!(Instant::now() < deadline, "gateway did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }
    serving
}

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
