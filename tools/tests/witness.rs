//! A witness of the audit log, with the gateway and the witness as real
//! processes: it cosigns each checkpoint that extends the last one it cosigned,
//! and the gateway serves the cosignatures with the checkpoint. A fork of the
//! ledger, signed with the same key — another tree of the size already cosigned
//! (a split view), then a rewritten tail — is refused with exit status 3, both
//! checkpoints kept as evidence, the refusal logged and counted, and nothing
//! cosigned.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::witness_service_client::WitnessServiceClient;
use lienthong_proto::v1::{Checkpoint, GetCheckpointRequest, GetCitizenRequest};
use support::load::context;
use support::{channel, free_port, run, serve_with, text};

/// One round of the witness against the gateway on `port`.
fn witness(dir: &Path, port: u16) -> Output {
    let url = format!("https://localhost:{port}");
    run(
        dir,
        &[
            "witness",
            "run",
            "--once",
            "--dir",
            "witness",
            "--log-key",
            "certs/audit-signing.pub",
            "--url",
            &url,
            "--agency",
            "H99.90",
        ],
    )
}

async fn lookups(dir: &Path, port: u16, id: &str, n: u64) {
    let mut identity = IdentityServiceClient::new(channel(dir, port, "H99.01"));
    for _ in 0..n {
        identity
            .get_citizen(GetCitizenRequest {
                personal_id: id.into(),
                context: context(),
                fields: None,
            })
            .await
            .unwrap();
    }
}

/// The checkpoint of `tree_size` (0: the latest), as the gateway serves it.
async fn checkpoint(dir: &Path, port: u16, tree_size: u64) -> Checkpoint {
    WitnessServiceClient::new(channel(dir, port, "H99.90"))
        .get_checkpoint(GetCheckpointRequest { tree_size })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_cosigns_what_extends_its_tree_and_refuses_a_split_view() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let init = run(
        &dir,
        &[
            "witness",
            "init",
            "--dir",
            "witness",
            "--name",
            "witness.test",
        ],
    );
    assert!(init.status.success(), "{}", text(&init));
    let vkey = String::from_utf8(init.stdout).unwrap().trim().to_owned();
    assert!(vkey.starts_with("witness.test+"), "{vkey}");
    // A checkpoint with every commit: the tree sizes are the heads.
    std::fs::write(
        dir.join("witnessed.toml"),
        format!("[audit]\ncheckpoint_every = 1\nwitnesses = [\"{vkey}\"]\n"),
    )
    .unwrap();
    let check = run(&dir, &["config", "check", "witnessed.toml"]);
    assert!(
        text(&check).contains("checkpoints cosigned by 1 of 1 witnesses"),
        "{}",
        text(&check)
    );
    let port = free_port();
    let serve = |data: &str| {
        let dir = dir.clone();
        let data = data.to_owned();
        move || {
            serve_with(
                &dir,
                port,
                &["--config", "witnessed.toml", "--data-dir", &data],
            )
        }
    };

    // The first checkpoint seen is trusted and cosigned; the gateway serves it
    // with the cosignature.
    let gateway = tokio::task::spawn_blocking(serve("data")).await.unwrap();
    lookups(&dir, port, "001085012345", 5).await;
    let first = witness(&dir, port);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("cosigned the tree of"),
        "{}",
        text(&first)
    );
    let served = checkpoint(&dir, port, state(&dir)["size"].as_u64().unwrap()).await;
    assert!(served.note.contains("\n— witness.test "), "{}", served.note);
    gateway.terminate();
    // The ledger as it stood: the fork starts from here.
    copy(&dir.join("data"), &dir.join("fork"));

    // The log goes on; the witness checks the consistency proof and cosigns.
    let gateway = tokio::task::spawn_blocking(serve("data")).await.unwrap();
    lookups(&dir, port, "001085012345", 12).await;
    let second = witness(&dir, port);
    assert!(second.status.success(), "{}", text(&second));
    let size: u64 = state(&dir)["size"].as_u64().unwrap();
    let cosigned = checkpoint(&dir, port, size).await;
    assert!(size > served.seq, "{size} after {}", served.seq);
    gateway.terminate();

    // The fork, signed with the same key, grows to exactly the size cosigned
    // with other records: two trees of one size.
    let fork = tokio::task::spawn_blocking(serve("fork")).await.unwrap();
    let head = checkpoint(&dir, port, 0).await.seq + 1; // the call's own record
    assert!(head < size, "the fork starts behind: {head} < {size}");
    lookups(&dir, port, "079190000123", size - head).await;
    let split = witness(&dir, port);
    assert_eq!(split.status.code(), Some(3), "{}", text(&split));
    assert!(
        text(&split).contains("REFUSED: split view"),
        "{}",
        text(&split)
    );
    let kept_files = evidence(&dir);
    assert_eq!(kept_files.len(), 1);
    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&kept_files[0]).unwrap()).unwrap();
    assert_eq!(kept["kind"], "split-view");
    let (mine, shown) = (
        kept["cosigned"]["note"].as_str().unwrap(),
        kept["shown"]["note"].as_str().unwrap(),
    );
    assert!(mine.contains(&format!("\n{size}\n")) && shown.contains(&format!("\n{size}\n")));
    assert_ne!(mine, shown, "two notes of one size, both kept");
    assert_eq!(
        state(&dir)["size"],
        size,
        "the state stays at the tree cosigned"
    );
    let prom = std::fs::read_to_string(dir.join("witness/witness.prom")).unwrap();
    assert!(prom.contains("lienthong_witness_refusals_total{"), "{prom}");
    assert!(
        prom.lines()
            .any(|l| l.starts_with("lienthong_witness_refusals_total") && l.ends_with(" 1"))
    );

    // The fork goes on: a rewritten tail, with fresh checkpoints, does not
    // extend the tree cosigned either.
    lookups(&dir, port, "079190000123", 6).await;
    let rewritten = witness(&dir, port);
    assert_eq!(rewritten.status.code(), Some(3), "{}", text(&rewritten));
    assert!(
        text(&rewritten).contains("does not extend"),
        "{}",
        text(&rewritten)
    );
    assert_eq!(evidence(&dir).len(), 2);
    let shown = checkpoint(&dir, port, 0).await;
    assert!(
        !shown.note.contains("— witness.test "),
        "nothing of the fork is cosigned"
    );
    let other = checkpoint(&dir, port, size).await;
    assert!(!other.note.contains("— witness.test "), "{}", other.note);
    fork.terminate();
    assert!(cosigned.note.contains("— witness.test "));
}

fn state(dir: &Path) -> serde_json::Value {
    let states: Vec<_> = std::fs::read_dir(dir.join("witness/state"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(states.len(), 1, "{states:?}");
    serde_json::from_slice(&std::fs::read(&states[0]).unwrap()).unwrap()
}

fn evidence(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("witness/evidence"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn copy(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp runs");
    assert!(status.success());
}
