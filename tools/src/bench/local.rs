//! `lienthong bench --local`: the full and the baseline gateway started from this
//! binary, and the memory and descriptors of a gateway process.

use std::path::Path;
use std::time::{Duration, Instant};

/// The resident memory of `pid` in MiB, from `/proc` (Linux).
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// The open file descriptors of `pid`, from `/proc` (Linux).
fn open_fds(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// A gateway process's resources over a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resources {
    /// Resident memory (MiB): at the start, at the end, the highest.
    pub rss_mib: [f64; 3],
    /// Its trend over the second half of the run (MiB per minute, least squares):
    /// near zero when memory does not grow.
    pub rss_trend_mib_per_min: f64,
    /// Open file descriptors: at the start, at the end, the most.
    pub fds: [u64; 3],
    /// Their trend over the second half (per minute).
    pub fd_trend_per_min: f64,
    /// Ten samples spread over the run: seconds from its start, MiB, descriptors.
    pub timeline: Vec<(f64, f64, u64)>,
}

/// Samples `pid`'s memory and open descriptors every 250 ms until `until`.
pub(super) async fn sample(pid: u32, until: Instant) -> Option<Resources> {
    let started = Instant::now();
    let mut samples = vec![(0.0, rss_mib(pid)?, open_fds(pid)?)];
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let (Some(rss), Some(fds)) = (rss_mib(pid), open_fds(pid)) {
            samples.push((started.elapsed().as_secs_f64(), rss, fds));
        }
    }
    let (first, last) = (samples[0], samples[samples.len() - 1]);
    let half = &samples[samples.len() / 2..];
    let trend = |y: fn(&(f64, f64, u64)) -> f64| {
        let points: Vec<_> = half.iter().map(|s| (s.0, y(s))).collect();
        slope(&points) * 60.0
    };
    let step = (samples.len() / 10).max(1);
    let mut timeline: Vec<_> = samples.iter().step_by(step).copied().collect();
    if timeline.last() != Some(&last) {
        timeline.push(last);
    }
    Some(Resources {
        rss_mib: [
            first.1,
            last.1,
            samples.iter().map(|s| s.1).fold(0.0, f64::max),
        ],
        rss_trend_mib_per_min: trend(|s| s.1),
        fds: [first.2, last.2, samples.iter().map(|s| s.2).max()?],
        fd_trend_per_min: trend(|s| s.2 as f64),
        timeline,
    })
}

/// The least-squares slope of `points` (y per x); 0 for fewer than two.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    if den == 0.0 { 0.0 } else { num / den }
}

/// A gateway started from this binary for `--local`.
pub(super) struct Local {
    pub(super) child: std::process::Child,
    pub(super) url: String,
}

impl Drop for Local {
    fn drop(&mut self) {
        // SIGTERM would be kinder, but these are throw-away gateways in a temp dir.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// The config of a `--local` gateway: full, or the baseline with policy, audit and
/// cache off. Rate limits are lifted for both (they would measure the limit).
fn local_config(
    dir: &Path,
    name: &str,
    baseline: bool,
    base: lienthong_gateway::Config,
) -> Result<lienthong_gateway::Config, String> {
    let mut config = lienthong_gateway::Config {
        listen: ([127, 0, 0, 1], free_port()?).into(),
        data_dir: dir.join(format!("data-{name}")),
        ..base
    };
    config.admin.listen = ([127, 0, 0, 1], free_port()?).into();
    config.tls.certs_dir = dir.join("certs");
    config.tls.generate_dev_pki = false;
    config.limits.lift();
    config.log.level = "warn".into();
    if baseline {
        config.policy.enabled = false;
        config.audit.enabled = false;
        config.cache.enabled = false;
    }
    Ok(config)
}

pub(super) async fn start_local(
    dir: &Path,
    name: &str,
    baseline: bool,
    base: lienthong_gateway::Config,
) -> Result<Local, String> {
    let config = local_config(dir, name, baseline, base)?;
    let file = dir.join(format!("{name}.toml"));
    let text = toml::to_string(&config).map_err(|e| e.to_string())?;
    std::fs::write(&file, text).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let child = std::process::Command::new(exe)
        .arg("serve")
        .arg("--config")
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("start the {name} gateway: {e}"))?;
    let local = Local {
        child,
        url: format!("https://localhost:{}", config.listen.port()),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(config.admin.listen)
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            return Err(format!("the {name} gateway did not start; see {name}.log"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trend_is_a_least_squares_slope() {
        assert_eq!(slope(&[(0.0, 5.0)]), 0.0);
        assert!((slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]) - 2.0).abs() < 1e-9);
        assert!(slope(&[(0.0, 4.0), (1.0, 4.0), (2.0, 4.0)]).abs() < 1e-9);
    }
}
