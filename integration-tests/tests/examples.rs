//! The integrators' examples run against a real gateway: `examples/python/` with
//! grpcio from PyPI (installed into a virtual environment under the target dir,
//! again only when its requirements change), over mTLS with the test's PKI.
//! Without `python3 -m venv` the test fails, saying so: it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::TestPki;

/// The workspace's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// A virtual environment with `examples/python/requirements.txt` installed; its
/// Python.
fn python() -> PathBuf {
    let requirements = root().join("examples/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("requirements.txt");
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-examples");
    let installed = venv.join("installed-requirements.txt");
    let python = venv.join("bin/python");
    if std::fs::read_to_string(&installed).ok().as_deref() == Some(&wanted) && python.exists() {
        return python;
    }
    let run = |cmd: &mut Command, what: &str| {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("{what}: {e} (is python3 with venv installed?)"));
        assert!(
            out.status.success(),
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let _ = std::fs::remove_dir_all(&venv);
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    );
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
        "pip install -r examples/python/requirements.txt",
    );
    std::fs::write(&installed, wanted).expect("note what is installed");
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_example_runs_against_a_gateway() {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let pki = TestPki::new();
    let (gw, _) = integration_tests::start_with_sim(&pki).await;
    let id = integration_tests::sim_id("001085", true);
    let target = format!("localhost:{}", gw.addr().port());
    let certs = pki.paths.dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(root().join("examples/python/lienthong_client.py"))
            .args(["--target", &target, "--personal-id", &id, "--certs"])
            .arg(certs)
            .output()
            .expect("the example runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} line in:\n{stdout}"))
            .to_owned()
    };
    assert!(line("lookup").contains("(born "), "{stdout}");
    let invalid = line("invalid");
    assert!(
        invalid.starts_with("invalid: INVALID_ARGUMENT;"),
        "{invalid}"
    );
    assert!(invalid.contains("personal_id: ") && invalid.contains("context.purpose: "));
    assert!(
        line("denied").starts_with("denied: PERMISSION_DENIED reason OPERATION_NOT_ALLOWED"),
        "{stdout}"
    );
    assert!(
        line("dossier").contains("revision 1 sync SYNC_STATUS_"),
        "{stdout}"
    );
    let audit = line("audit");
    for seen in [
        "H99.01 IdentityService/GetCitizen DECISION_GRANTED",
        "H99.02 ResidencyService/GetResidence DECISION_DENIED",
        "H99.01 DossierService/SubmitDossier DECISION_GRANTED",
    ] {
        assert!(audit.contains(seen), "{seen} in {audit}");
    }
    gw.shutdown(std::time::Duration::from_secs(5))
        .await
        .unwrap();
}
