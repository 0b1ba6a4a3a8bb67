//! What the tests that run the real binary share: the binary, free ports, a gateway
//! child process that dies with the test, and `lienthong client` calls.

#![allow(dead_code)]

pub mod dossiers;
pub mod load;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use lienthong_adapters::population::grpc::{self, GrpcConfig};

pub const BIN: &str = env!("CARGO_BIN_EXE_lienthong");

/// `lienthong args…` in `dir`, to its end.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("lienthong runs")
}

/// What a command printed, stdout then stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
pub const ID: &str = "001085012345";

/// A child process killed when dropped, so a failing test leaves nothing running.
pub struct Killed(pub Child);

impl Killed {
    /// Stops the gateway with SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) {
        let pid = self.0.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let status = self.0.wait().expect("the gateway exits");
        assert!(status.success(), "a graceful stop exits 0: {status:?}");
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn client(dir: &Path, port: u16, agency: &str, args: &[&str]) -> Output {
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
pub fn serve(dir: &Path, port: u16) -> Killed {
    serve_with(dir, port, &[])
}

/// Starts `serve` in `dir` on `port` with `extra` arguments and waits until H99.01
/// gets an answer.
pub fn serve_with(dir: &Path, port: u16, extra: &[&str]) -> Killed {
    let child = Command::new(BIN)
        .current_dir(dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        // Tests run side by side: each admin listener on a port of its own.
        .args(if extra.contains(&"--admin-listen") {
            &[][..]
        } else {
            &["--admin-listen", "127.0.0.1:0"][..]
        })
        // …and each console too (on in the embedded setup).
        .args(if extra.contains(&"--console-listen") {
            &[][..]
        } else {
            &["--console-listen", "127.0.0.1:0"][..]
        })
        // Its log, appended across restarts, for tests that read it (and for
        // whoever debugs a failing test).
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("serve.log"))
                .expect("serve.log"),
        )
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

/// An mTLS channel to the gateway in `dir` on `port` as `agency`.
pub fn channel(dir: &Path, port: u16, agency: &str) -> tonic::transport::Channel {
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let certs = dir.join("certs");
    grpc::channel(&GrpcConfig {
        url: format!("https://localhost:{port}"),
        ca_pem: read(certs.join("ca.crt")),
        cert_pem: read(certs.join(format!("clients/{agency}.crt"))),
        key_pem: read(certs.join(format!("clients/{agency}.key"))),
        server_name: None,
        timeout: Duration::from_secs(10),
        max_message_bytes: lienthong_adapters::population::grpc::MAX_MESSAGE_BYTES,
        max_header_bytes: lienthong_adapters::population::grpc::MAX_HEADER_BYTES,
    })
    .expect("channel")
}
