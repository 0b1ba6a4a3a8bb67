//! What a benchmark run reports: its figures, and the table a person reads (with
//! the ratio to the baseline measured in the same run, when there is one).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::{Options, Resources};

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `full`, `baseline` or the URL.
    pub target: String,
    /// Connections × in flight.
    pub connections: usize,
    /// Requests in flight per connection.
    pub in_flight: usize,
    /// Measured seconds.
    pub seconds: f64,
    /// Requests answered OK.
    pub ok: u64,
    /// Errors by gRPC status code.
    pub errors: BTreeMap<String, u64>,
    /// OK answers per second.
    pub requests_per_second: f64,
    /// Latency percentiles of OK answers, µs.
    pub p50_us: u64,
    /// 90th.
    pub p90_us: u64,
    /// 99th.
    pub p99_us: u64,
    /// Slowest.
    pub max_us: u64,
    /// Requests per operation.
    pub by_op: BTreeMap<String, u64>,
    /// The gateway process's memory and descriptors (with `--local`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

/// The reports as a table, with ratios to the baseline when there is one.
pub fn text(options: &Options, reports: &[Report]) -> String {
    let mut out = format!(
        "{} connections x {} in flight, {} measured after {} warm-up, {}; mix {}\n",
        options.connections,
        options.in_flight,
        humantime::format_duration(options.duration),
        humantime::format_duration(options.warmup),
        options
            .rate
            .map_or("closed loop".to_owned(), |r| format!("{r} req/s open loop")),
        options.mix,
    );
    out.push_str(&format!(
        "{:<10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8}  {}\n",
        "target",
        "req/s",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "max µs",
        "errors",
        "RSS MiB start/end/max, trend; fds start/end/max, trend"
    ));
    for r in reports {
        let errors: u64 = r.errors.values().sum();
        let resources = r.resources.as_ref().map_or(String::new(), |x| {
            let [a, b, c] = x.rss_mib;
            let [d, e, f] = x.fds;
            format!(
                "{a:.0}/{b:.0}/{c:.0}, {:+.2} MiB/min; fds {d}/{e}/{f}, {:+.1}/min",
                x.rss_trend_mib_per_min, x.fd_trend_per_min
            )
        });
        out.push_str(&format!(
            "{:<10} {:>10.0} {:>9} {:>9} {:>9} {:>9} {:>8}  {}\n",
            r.target,
            r.requests_per_second,
            r.p50_us,
            r.p90_us,
            r.p99_us,
            r.max_us,
            errors,
            resources
        ));
        for (code, n) in &r.errors {
            out.push_str(&format!("           {code}: {n}\n"));
        }
        // A long run shows how memory and descriptors moved over it.
        if options.duration >= Duration::from_secs(60) {
            for (at, rss, fds) in r.resources.iter().flat_map(|x| &x.timeline) {
                out.push_str(&format!(
                    "           at {at:>6.0} s: {rss:>6.1} MiB, {fds:>4} fds\n"
                ));
            }
        }
    }
    let sum = |name: &str| {
        let rs: Vec<_> = reports.iter().filter(|r| r.target == name).collect();
        let n = rs.len().max(1) as f64;
        (
            rs.iter().map(|r| r.requests_per_second).sum::<f64>() / n,
            rs.iter().map(|r| r.p99_us as f64).sum::<f64>() / n,
            rs.iter().map(|r| r.p50_us as f64).sum::<f64>() / n,
        )
    };
    if reports.iter().any(|r| r.target == "baseline") {
        let (b_rps, b_p99, b_p50) = sum("baseline");
        let (f_rps, f_p99, f_p50) = sum("full");
        out.push_str(&format!(
            "full / baseline: {:.2}x the requests/s; p50 {:+.0} µs, p99 {:+.0} µs\n",
            f_rps / b_rps.max(1e-9),
            f_p50 - b_p50,
            f_p99 - b_p99
        ));
    }
    out
}
