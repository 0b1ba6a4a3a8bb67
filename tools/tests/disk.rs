//! A full disk, with the gateway as a real process on a small file system made for
//! the test (a 64 MiB tmpfs): below `disk.soft_free_mb` it is degraded but serves;
//! below `disk.hard_free_mb`, and with the file system filled to the last byte, it
//! refuses audited requests cleanly (`UNAVAILABLE`, `AUDIT_UNAVAILABLE`, naming the
//! disk) instead of failing in the ledger; when space returns it serves again by
//! itself. Killed afterwards, it opens its ledger again: the chain verifies and
//! every answered request is on record.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lienthong_proto::v1::GetCitizenRequest;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use support::load::{Ledger, Seen, context, remember};
use support::{ID, channel, free_port, serve_with};
use tonic::Code;

mod support;

/// A tmpfs of `mib` MiB mounted at `at`, unmounted on drop.
struct Small(PathBuf);

impl Small {
    /// `None` (saying why) where this process may not mount file systems.
    fn mount(at: &Path, mib: u64) -> Option<Small> {
        std::fs::create_dir_all(at).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(at)
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Small(at.to_owned())),
            other => {
                // `.ci/run` sets this when it can mount: there the test must run.
                if std::env::var_os("LIENTHONG_REQUIRE_SMALL_DISK").is_some() {
                    panic!("cannot mount a small file system: {other:?}");
                }
                eprintln!("SKIPPED: cannot mount a small file system here (needs root): {other:?}");
                None
            }
        }
    }
}

impl Drop for Small {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Free MiB on the file system at `dir`.
fn free_mib(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(dir)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().nth(1).unwrap().trim().parse::<u64>().unwrap() / (1024 * 1024)
}

/// Grows `ballast` until `dir` has about `target` MiB free (0: until the file
/// system refuses another byte).
fn fill(dir: &Path, ballast: &Path, target: u64) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(ballast)
        .unwrap();
    let chunk = vec![0xa5u8; 256 * 1024];
    while target == 0 || free_mib(dir) > target {
        if f.write_all(&chunk).and_then(|()| f.sync_all()).is_err() {
            // Full: top it up byte-wise to the very end.
            let byte = [0u8; 1];
            while f.write_all(&byte).is_ok() {}
            return;
        }
    }
}

async fn readyz(port: u16) -> (u16, String) {
    let http = lienthong_adapters::http::client("test", None, Duration::from_secs(5)).unwrap();
    let r = http
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Waits until `/readyz` answers `status` with `needle` in its body.
async fn until_ready(port: u16, status: u16, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (code, body) = readyz(port).await;
        if code == status && body.contains(needle) {
            return;
        }
        assert!(Instant::now() < deadline, "readyz {code}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last lines of the gateway's log, for a failing test's message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("rpc finished"))
        .collect();
    lines[lines.len().saturating_sub(12)..].join("\n")
}

fn lookup() -> GetCitizenRequest {
    GetCitizenRequest {
        context: context(),
        personal_id: ID.into(),
        fields: None,
    }
}

/// A gateway on a 64 MiB tmpfs mounted for the test, with `disk` settings; `None`
/// where the test may not mount one.
struct Rig {
    /// Unmounted before the temporary dir goes.
    _small: Small,
    _tmp: tempfile::TempDir,
    /// The test's directory (certs, config, log).
    dir: PathBuf,
    /// The small file system (the data dir is `data` in it).
    small: PathBuf,
    port: u16,
    admin: u16,
    /// A client of the gateway as H99.01.
    identity: IdentityServiceClient<tonic::transport::Channel>,
    /// The request ids answered.
    seen: Seen,
}

impl Rig {
    async fn start(disk: &str) -> Option<(Rig, support::Killed)> {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let small = dir.join("disk");
        let mounted = Small::mount(&small, 64)?;
        std::fs::write(
            dir.join("disk.toml"),
            format!(
                "[disk]\n{disk}\ncheck_interval = \"100ms\"\n[admin]\nhealth_interval = \"100ms\"\n"
            ),
        )
        .unwrap();
        let (port, admin) = (free_port(), free_port());
        // The first start makes the dev PKI the client needs.
        let gateway = Rig::serve_in(dir.clone(), port, admin).await;
        let rig = Rig {
            _small: mounted,
            _tmp: tmp,
            identity: IdentityServiceClient::new(channel(&dir, port, "H99.01")),
            dir,
            small,
            port,
            admin,
            seen: Seen::default(),
        };
        Some((rig, gateway))
    }

    /// Starts the gateway again and waits until it answers.
    async fn serve(&self) -> support::Killed {
        Rig::serve_in(self.dir.clone(), self.port, self.admin).await
    }

    async fn serve_in(dir: PathBuf, port: u16, admin: u16) -> support::Killed {
        tokio::task::spawn_blocking(move || {
            let admin_listen = format!("127.0.0.1:{admin}");
            let args = [
                "--config",
                "disk.toml",
                "--data-dir",
                "disk/data",
                "--admin-listen",
                admin_listen.as_str(),
            ];
            serve_with(&dir, port, &args)
        })
        .await
        .unwrap()
    }

    /// A lookup that must be served; its id is remembered.
    async fn served(&mut self) {
        let r = self.identity.get_citizen(lookup()).await.unwrap();
        remember(&self.seen, r.metadata());
    }

    /// The stopped gateway's chain verifies and holds every answered request.
    fn on_record(&self, when: &str) {
        let mut ledger = Ledger::default();
        ledger.catch_up(&self.dir, &["--data-dir", "disk/data"], 0);
        ledger.holds_every(&self.seen, when);
    }
}

/// With the guard set below what the file system can reach, the ledger itself
/// meets a full disk: requests fail UNAVAILABLE (nothing released), the gateway
/// stays up, serves again once space is freed, and its ledger opens and verifies
/// after a kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_full_under_the_ledger_fails_requests_and_corrupts_nothing() {
    let Some((mut rig, gateway)) = Rig::start("soft_free_mb = 1\nhard_free_mb = 0").await else {
        return;
    };
    let ballast = rig.small.join("ballast");
    fill(&rig.small, &ballast, 0);
    // Enough records to outgrow what the ledger's files hold in reserve.
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (mut identity, seen) = (rig.identity.clone(), rig.seen.clone());
            tokio::spawn(async move {
                let mut refused = 0;
                for _ in 0..250 {
                    match identity.get_citizen(lookup()).await {
                        Ok(r) => remember(&seen, r.metadata()),
                        Err(status) => {
                            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                            refused += 1;
                        }
                    }
                }
                refused
            })
        })
        .collect();
    let mut refused = 0;
    for t in tasks {
        refused += t.await.unwrap();
    }
    eprintln!("with the disk full under the ledger: {refused} of 4000 refused");
    assert!(refused > 0, "the ledger never met the full disk");
    std::fs::remove_file(&ballast).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match rig.identity.get_citizen(lookup()).await {
            Ok(r) => {
                remember(&rig.seen, r.metadata());
                break;
            }
            Err(e) => assert!(
                Instant::now() < deadline,
                "not serving again: {e:?}\n{}",
                tail(&rig.dir.join("serve.log"))
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(gateway);
    rig.on_record("after the disk filled under the ledger");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_cleanly_loses_nothing_and_recovers() {
    let Some((mut rig, gateway)) = Rig::start("soft_free_mb = 40\nhard_free_mb = 20").await else {
        return;
    };
    let (small, admin) = (rig.small.clone(), rig.admin);
    for _ in 0..50 {
        rig.served().await;
    }
    until_ready(admin, 200, "\"ready\":true").await;
    eprintln!("serving with {} MiB free", free_mib(&small));

    // Below the soft threshold: degraded, still serving.
    let ballast = small.join("ballast");
    fill(&small, &ballast, 30);
    until_ready(admin, 200, "degraded").await;
    rig.served().await;

    // Below the hard threshold, then not one byte left: refused, saying why.
    for target in [10, 0] {
        fill(&small, &ballast, target);
        until_ready(admin, 503, "disk.hard_free_mb").await;
        for _ in 0..20 {
            let refused = rig.identity.get_citizen(lookup()).await.unwrap_err();
            assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
            assert!(refused.message().contains("disk"), "{}", refused.message());
        }
        eprintln!("refusing with {} MiB free", free_mib(&small));
    }

    // Space returns: serving again, without a restart.
    std::fs::remove_file(&ballast).unwrap();
    until_ready(admin, 200, "\"ready\":true").await;
    for _ in 0..50 {
        rig.served().await;
    }

    // Killed now, it opens its ledger again; nothing answered is missing.
    drop(gateway);
    rig.on_record("after the full disk");
    let again = rig.serve().await;
    rig.served().await;
    again.terminate();
    rig.on_record("after a restart");
}
