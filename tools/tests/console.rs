//! `lienthong console login` (the real binary): a one-time link for an auditor
//! agency, written where the gateway looks for it; refused for an agency without
//! the role, and when the configuration has the console off.

use std::process::{Command, Output};

use support::BIN;

mod support;

fn login(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(["console", "login"])
        .args(args)
        .output()
        .expect("console login runs")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn links_are_minted_for_auditors_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();

    let out = login(dir, &["--agency", "H99.90", "--officer", "Nguyễn Văn A"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let url = stdout.lines().next().unwrap();
    let token = url
        .strip_prefix("https://127.0.0.1:8443/signin?token=")
        .unwrap_or_else(|| panic!("a link to the embedded console: {url}"));
    assert_eq!(token.len(), 64);
    assert!(stdout.contains("works once, for H99.90"), "{stdout}");
    let pending: Vec<_> = std::fs::read_dir(dir.join("data/console-links"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(pending.len(), 1);
    assert_ne!(pending[0], token, "the token itself is stored nowhere");

    let refused = login(dir, &["--agency", "H99.01"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("requires the auditor role"),
        "{}",
        text(&refused)
    );
    let bad = login(dir, &["--agency", "not-an-agency"]);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("--agency"), "{}", text(&bad));

    std::fs::write(dir.join("off.toml"), "[console]\nenabled = false\n").unwrap();
    let off = login(dir, &["--config", "off.toml", "--agency", "H99.90"]);
    assert!(!off.status.success());
    assert!(text(&off).contains("console is off"), "{}", text(&off));
}
