//! The integrators' examples run against a real gateway, over mTLS with the test's
//! PKI: `examples/python/` with grpcio from PyPI (in a virtual environment under the
//! target dir), `examples/node/` with `@grpc/grpc-js` from npm (installed there
//! too); each installed again only when its dependencies change. Without Python's
//! venv or Node and npm the tests fail, saying so: they never skip.

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

/// `dir` under the target dir, holding what `manifest` lists as `install` puts it
/// there; installed again only when the manifest changes (the copy kept beside
/// says what is installed).
fn installed(manifest: &str, dir: &str, install: impl FnOnce(&Path, &Path)) -> PathBuf {
    let manifest = root().join(manifest);
    let wanted = std::fs::read_to_string(&manifest).expect("the example's manifest");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir);
    let copy = dir.join("installed-from");
    if std::fs::read_to_string(&copy).ok().as_deref() != Some(&wanted) {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory to install into");
        install(&manifest, &dir);
        std::fs::write(&copy, wanted).expect("note what is installed");
    }
    dir
}

/// Runs `cmd`, which must succeed; `what` and `needs` say what failed.
fn run(cmd: &mut Command, what: &str, needs: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e} (is {needs} installed?)"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A virtual environment with `examples/python/requirements.txt`; its Python.
fn python() -> PathBuf {
    let venv = installed(
        "examples/python/requirements.txt",
        "python-examples",
        |requirements, venv| {
            let needs = "python3 with its venv module";
            run(
                Command::new("python3").args(["-m", "venv"]).arg(venv),
                "python3 -m venv",
                needs,
            );
            run(
                Command::new(venv.join("bin/python"))
                    .args(["-m", "pip", "install", "--quiet"])
                    .args(["--disable-pip-version-check", "-r"])
                    .arg(requirements),
                "pip install -r examples/python/requirements.txt",
                needs,
            );
        },
    );
    venv.join("bin/python")
}

/// What `examples/node/package.json` names, installed; the `node_modules` the
/// example is to find.
fn node_modules() -> PathBuf {
    let dir = installed(
        "examples/node/package.json",
        "node-examples",
        |package, dir| {
            std::fs::copy(package, dir.join("package.json")).expect("package.json");
            run(
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--silent"])
                    .current_dir(dir),
                "npm install",
                "Node.js with npm",
            );
        },
    );
    dir.join("node_modules")
}

/// Runs `program` against a fresh gateway and checks the lines every example
/// prints: the lookup, its two refusals read from their details, the dossier and
/// the audit log.
async fn runs_against_a_gateway(mut program: Command) {
    let pki = TestPki::new();
    let (gw, faults) = integration_tests::start_with_sim(&pki).await;
    let id = integration_tests::sim_id("001085", true);
    let unreachable = integration_tests::sim_id("079190", true);
    // The register goes down once the citizen is in the cache: the example's
    // lookup is served, another citizen's is refused with when to retry.
    integration_tests::identity(&gw, &pki, "H99.01")
        .get_citizen(integration_tests::citizen_request(&id))
        .await
        .unwrap();
    faults.set_down(true);
    let target = format!("localhost:{}", gw.addr().port());
    program
        .args(["--target", &target, "--personal-id", &id])
        .args(["--unreachable-id", &unreachable, "--certs"])
        .arg(&pki.paths.dir);
    let out = tokio::task::spawn_blocking(move || program.output().expect("the example runs"))
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
    let retry = line("retry");
    assert!(
        retry.starts_with("retry: UNAVAILABLE reason ") && retry.ends_with(", again after 1 s"),
        "{retry}"
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_example_runs_against_a_gateway() {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let mut program = Command::new(python);
    program.arg(root().join("examples/python/lienthong_client.py"));
    runs_against_a_gateway(program).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_example_runs_against_a_gateway() {
    let modules = tokio::task::spawn_blocking(node_modules).await.unwrap();
    let mut program = Command::new("node");
    program
        .arg(root().join("examples/node/lienthong_client.js"))
        .env("NODE_PATH", modules);
    runs_against_a_gateway(program).await;
}
