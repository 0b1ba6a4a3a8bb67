//! A throw-away PostgreSQL cluster for tests and benchmarks: Debian's own binaries
//! (`postgresql`), `initdb` into a temporary directory, a server on a free loopback
//! port, a fresh database per test.
//!
//! PostgreSQL refuses to run as root; as root the cluster runs as the `postgres`
//! user that Debian's package creates (through `setpriv`). A small shell supervisor
//! owns the server: it reads its standard input until the test process that started
//! it ends (for whatever reason: success, panic, kill), then stops the server and
//! removes the directory, so no server and no files outlive the tests.
//!
//! Where PostgreSQL is not installed, [`Cluster::shared`] says so and tests may
//! skip; with `LIENTHONG_REQUIRE_POSTGRES=1` (as `.ci/run` sets) it panics
//! instead, so that CI never skips them silently.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// The role the tests connect as (a superuser of the throw-away cluster).
pub const USER: &str = "lienthong";

/// Set to make a missing PostgreSQL an error rather than a skip.
pub const REQUIRE: &str = "LIENTHONG_REQUIRE_POSTGRES";

/// Stops the server and removes the directory once stdin closes.
const SUPERVISOR: &str = r#"
set -u
dir="$1"; port="$2"; bin="$3"; as_postgres="$4"; settings="$5"
run() { if [ "$as_postgres" = yes ]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi; }
if ! run "$bin/initdb" -D "$dir/data" -U lienthong -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
  echo "failed: initdb: $(tail -3 "$dir/initdb.log")"; rm -rf "$dir"; exit 1
fi
if ! run "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $settings" start >/dev/null 2>&1; then
  echo "failed: pg_ctl start: $(tail -3 "$dir/server.log")"; rm -rf "$dir"; exit 1
fi
echo ready
cat >/dev/null
run "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
rm -rf "$dir"
"#;

/// A running throw-away cluster.
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    as_postgres: bool,
    /// The `-c` settings it was started with, kept across restarts.
    settings: String,
    /// The supervisor; the cluster ends when its stdin closes.
    supervisor: Mutex<Option<(Child, ChildStdin)>>,
    databases: AtomicU32,
}

impl Cluster {
    /// The cluster this test process shares, started on first use; `None` (with a
    /// message on stderr) where PostgreSQL is not installed and not required.
    pub fn shared() -> Option<&'static Cluster> {
        static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
        SHARED
            .get_or_init(|| match binaries() {
                Some(bin) => Some(Cluster::start_with(bin, "").unwrap_or_else(|e| panic!("{e}"))),
                None => {
                    missing();
                    None
                }
            })
            .as_ref()
    }

    /// A cluster of its own (for tests that stop and restart it); `None` as
    /// [`Cluster::shared`]. `settings` are extra `-c name=value` options.
    pub fn own(settings: &str) -> Option<Cluster> {
        match binaries() {
            Some(bin) => Some(Cluster::start_with(bin, settings).unwrap_or_else(|e| panic!("{e}"))),
            None => {
                missing();
                None
            }
        }
    }

    fn start_with(bin: PathBuf, settings: &str) -> Result<Cluster, String> {
        let as_postgres = is_root();
        let dir = fresh_dir()?;
        if as_postgres {
            let (uid, gid) = postgres_ids()?;
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", dir.display()))?;
        }
        let port = free_port()?;
        let settings = format!("-c max_connections=200 -c shared_buffers=64MB {settings}");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("supervisor")
            .arg(&dir)
            .arg(port.to_string())
            .arg(&bin)
            .arg(if as_postgres { "yes" } else { "no" })
            .arg(&settings)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("start the PostgreSQL supervisor: {e}"))?;
        let stdin = child.stdin.take().expect("piped");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .map_err(|e| format!("PostgreSQL supervisor: {e}"))?;
        if line.trim() != "ready" {
            return Err(format!("PostgreSQL did not start: {}", line.trim()));
        }
        Ok(Cluster {
            dir,
            port,
            bin,
            as_postgres,
            settings,
            supervisor: Mutex::new(Some((child, stdin))),
            databases: AtomicU32::new(0),
        })
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its directory (the data dir is `data/` inside, the server log `server.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of `database` on it, as the tests' superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// A fresh, empty database; its URL.
    pub async fn database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        let (client, connection) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user={USER} dbname=postgres",
                self.port
            ),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap_or_else(|e| panic!("connect to the test cluster: {e}"));
        let driver = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        drop(client);
        let _ = driver.await;
        self.url(&name)
    }

    /// Runs `pg_ctl` on the cluster with `args` (e.g. `["-m", "fast", "-w",
    /// "restart"]`), as the server's user.
    pub fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let data = self.dir.join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 {}",
            self.port,
            self.dir.display(),
            self.settings
        );
        let mut command = if self.as_postgres {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ])
            .arg(self.bin.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin.join("pg_ctl"))
        };
        let out = command
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-o", &options, "-t", "60"])
            .args(args)
            .output()
            .map_err(|e| format!("pg_ctl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`).
    pub fn kill(&self) {
        self.pg_ctl(&["-m", "immediate", "-w", "stop"])
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts the server again after [`Cluster::kill`] or a stop.
    pub fn start(&self) {
        self.pg_ctl(&["-w", "start"])
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Restarts the server (a fast shutdown, then a start).
    pub fn restart(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "restart"])
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some((mut child, stdin)) = self.supervisor.lock().ok().and_then(|mut s| s.take()) {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// The directory of Debian's PostgreSQL binaries, the newest version installed
/// (or `LIENTHONG_PG_BIN`).
pub fn binaries() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LIENTHONG_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn missing() {
    if std::env::var_os(REQUIRE).is_some_and(|v| v != "0") {
        panic!("{REQUIRE} is set but PostgreSQL is not installed (apt-get install postgresql)");
    }
    eprintln!(
        "SKIPPED: PostgreSQL is not installed here (apt-get install postgresql); the \
         PostgreSQL tests do not run. CI sets {REQUIRE}=1 and runs them."
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn postgres_ids() -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(|e| format!("id {flag} postgres: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| "no postgres user: is Debian's postgresql package installed?".to_owned())
    };
    Ok((id("-u")?, id("-g")?))
}

fn fresh_dir() -> Result<PathBuf, String> {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "lienthong-pg-{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("find a free port: {e}"))
}

mod proxy;

pub use proxy::{Cut, Proxy};
