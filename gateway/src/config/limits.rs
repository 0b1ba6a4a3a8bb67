//! Limits: deadlines, concurrency, rates, sizes, and their checks.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Config;
use crate::Error;

/// Deadlines, concurrency, rates and sizes: what keeps one client from starving the rest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Longest a request may take; a shorter `grpc-timeout` from the client wins.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Longest the gateway waits for an upstream answer within a request.
    #[serde(with = "humantime_serde")]
    pub upstream_timeout: Duration,
    /// Requests in flight at once over all connections; beyond, refused at once
    /// with `RESOURCE_EXHAUSTED` (load shedding). Open streams count.
    pub max_in_flight: usize,
    /// Requests in flight at once on one connection; beyond, refused likewise.
    pub max_in_flight_per_connection: usize,
    /// Calls in flight at once per agency, streams apart; beyond, refused at once
    /// (reason `AGENCY_OVERLOADED`), so that no agency can hold every slot.
    pub max_in_flight_per_agency: usize,
    /// Streams open at once per agency (`WatchDossiers`, `QueryAudit`,
    /// `ExportAudit`); beyond, refused at once (reason `TOO_MANY_STREAMS`).
    pub max_streams_per_agency: usize,
    /// A stream that has sent nothing, or whose client has taken nothing, for
    /// this long is closed (the client resumes from its cursor).
    #[serde(with = "humantime_serde")]
    pub stream_idle_timeout: Duration,
    /// The shortest deadline (`grpc-timeout`) a call may carry; a shorter one is
    /// answered `DEADLINE_EXCEEDED` (reason `DEADLINE_TOO_SHORT`) at once.
    #[serde(with = "humantime_serde")]
    pub min_client_deadline: Duration,
    /// Per agency code, other caps:
    /// `"H99.90" = { max_in_flight = 1024, max_streams = 64 }`.
    pub agencies: std::collections::BTreeMap<String, AgencyLimits>,
    /// HTTP/2 streams a client may open at once on one connection.
    pub max_concurrent_streams: u32,
    /// Open client connections at most; a connection beyond is closed at once.
    pub max_connections: usize,
    /// Largest request or response message, in bytes.
    pub max_message_bytes: usize,
    /// HTTP/2 pings on idle connections this often…
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
    /// …and a connection whose ping is not answered within this is closed.
    #[serde(with = "humantime_serde")]
    pub keepalive_timeout: Duration,
    /// On SIGTERM, in-flight requests get this long to finish.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Requests per agency.
    pub rate: RateLimits,
    /// What the national systems, and a federated gateway, may send at most.
    pub upstream: UpstreamLimits,
}

/// What an upstream may send at most, enforced while its answer is read: beyond
/// it, the call fails `UNAVAILABLE` (`UPSTREAM_BAD_RESPONSE`), counted by cause.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamLimits {
    /// Body of a token answer, in bytes.
    pub token_bytes: usize,
    /// Body of a citizen or residence record.
    pub lookup_bytes: usize,
    /// Body of the answer to a dossier delivery.
    pub sync_bytes: usize,
    /// Body of a page of the portal's online feed.
    pub feed_bytes: usize,
    /// Header block of any answer (HTTP headers; gRPC metadata and status).
    pub header_bytes: usize,
    /// How deep an answer's JSON may nest.
    pub json_depth: usize,
    /// Largest message a federated gateway may send.
    pub grpc_message_bytes: usize,
}

impl Default for UpstreamLimits {
    fn default() -> Self {
        let bounds = lienthong_adapters::http::Bounds::default();
        UpstreamLimits {
            token_bytes: bounds.token_bytes,
            lookup_bytes: bounds.lookup_bytes,
            sync_bytes: bounds.sync_bytes,
            feed_bytes: bounds.feed_bytes,
            header_bytes: bounds.header_bytes,
            json_depth: bounds.json_depth,
            grpc_message_bytes: 1024 * 1024,
        }
    }
}

impl UpstreamLimits {
    /// The bounds the REST adapters enforce.
    pub fn bounds(&self) -> lienthong_adapters::http::Bounds {
        lienthong_adapters::http::Bounds {
            token_bytes: self.token_bytes,
            lookup_bytes: self.lookup_bytes,
            sync_bytes: self.sync_bytes,
            feed_bytes: self.feed_bytes,
            header_bytes: self.header_bytes,
            json_depth: self.json_depth,
        }
    }
}

/// One agency's own caps; what it leaves out is the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgencyLimits {
    /// Calls in flight at once, streams apart.
    pub max_in_flight: Option<usize>,
    /// Streams open at once.
    pub max_streams: Option<usize>,
}

impl Limits {
    /// The calls `agency` may have in flight, and the streams it may hold open
    /// (neither more than the gateway's own `max_in_flight`).
    pub fn of_agency(&self, agency: &str) -> (usize, usize) {
        let own = self.agencies.get(agency).copied().unwrap_or_default();
        (
            own.max_in_flight
                .unwrap_or(self.max_in_flight_per_agency)
                .min(self.max_in_flight),
            own.max_streams
                .unwrap_or(self.max_streams_per_agency)
                .min(self.max_in_flight),
        )
    }
}

/// A token bucket per agency: `per_second` requests on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// The bucket's size.
    pub burst: u32,
}

/// The rate every agency gets, and the agencies that get another.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Tokens added per second for each agency.
    pub per_second: f64,
    /// Each agency's bucket size.
    pub burst: u32,
    /// Per agency code, another rate: `"H99.02" = { per_second = 5.0, burst = 10 }`.
    pub agencies: std::collections::BTreeMap<String, Rate>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_second: 2000.0,
            burst: 4000,
            agencies: Default::default(),
        }
    }
}

impl RateLimits {
    /// The rate `agency` gets.
    pub fn of(&self, agency: &str) -> Rate {
        self.agencies.get(agency).copied().unwrap_or(Rate {
            per_second: self.per_second,
            burst: self.burst,
        })
    }
}

impl Limits {
    /// Lifts the rate and in-flight limits, which would otherwise be what a
    /// benchmark measures.
    pub fn lift(&mut self) {
        self.rate.per_second = 1e9;
        self.rate.burst = u32::MAX;
        self.max_in_flight = 100_000;
        self.max_in_flight_per_connection = 10_000;
        self.max_in_flight_per_agency = 100_000;
        self.max_streams_per_agency = 10_000;
        self.max_concurrent_streams = 10_000;
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout: Duration::from_secs(15),
            upstream_timeout: Duration::from_secs(5),
            max_in_flight: 2048,
            max_in_flight_per_connection: 256,
            max_in_flight_per_agency: 512,
            max_streams_per_agency: 16,
            stream_idle_timeout: Duration::from_secs(300),
            min_client_deadline: Duration::from_millis(10),
            agencies: Default::default(),
            max_concurrent_streams: 256,
            max_connections: 1024,
            max_message_bytes: 4 * 1024 * 1024,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(15),
            rate: RateLimits::default(),
            upstream: UpstreamLimits::default(),
        }
    }
}

impl Config {
    pub(super) fn validate_limits(&self) -> Result<(), Error> {
        let l = &self.limits;
        let bad = |key: &str, detail: &str| {
            Err(Error::Config {
                key: format!("limits.{key}"),
                detail: detail.into(),
            })
        };
        if l.max_in_flight == 0 {
            return bad("max_in_flight", "must be at least 1");
        }
        if l.max_in_flight_per_connection == 0 || l.max_in_flight_per_connection > l.max_in_flight {
            return bad(
                "max_in_flight_per_connection",
                "must be at least 1 and at most limits.max_in_flight",
            );
        }
        for (key, (in_flight, streams)) in std::iter::once((
            "max_in_flight_per_agency".to_owned(),
            (l.max_in_flight_per_agency, l.max_streams_per_agency),
        ))
        .chain(
            l.agencies
                .keys()
                .map(|agency| (format!("agencies.{agency}"), l.of_agency(agency))),
        ) {
            if in_flight == 0 {
                return bad(&key, "calls in flight must be at least 1");
            }
            if streams == 0 {
                return bad(&key, "streams must be at least 1");
            }
        }
        for agency in l.agencies.keys() {
            if lienthong_proto::AgencyCode::parse(agency).is_err() {
                return bad(&format!("agencies.{agency}"), "is not an agency code");
            }
        }
        if l.stream_idle_timeout.is_zero() {
            return bad("stream_idle_timeout", "must be greater than zero");
        }
        if l.min_client_deadline >= l.request_timeout {
            return bad(
                "min_client_deadline",
                "must be shorter than limits.request_timeout",
            );
        }
        if l.max_concurrent_streams == 0 {
            return bad("max_concurrent_streams", "must be at least 1");
        }
        if l.max_connections == 0 {
            return bad("max_connections", "must be at least 1");
        }
        if !(1024..=64 * 1024 * 1024).contains(&l.max_message_bytes) {
            return bad("max_message_bytes", "must be between 1 KiB and 64 MiB");
        }
        let u = &l.upstream;
        for (key, value) in [
            ("upstream.token_bytes", u.token_bytes),
            ("upstream.lookup_bytes", u.lookup_bytes),
            ("upstream.sync_bytes", u.sync_bytes),
            ("upstream.feed_bytes", u.feed_bytes),
            ("upstream.header_bytes", u.header_bytes),
            ("upstream.grpc_message_bytes", u.grpc_message_bytes),
        ] {
            if !(1024..=64 * 1024 * 1024).contains(&value) {
                return bad(key, "must be between 1 KiB and 64 MiB");
            }
        }
        if !(2..=256).contains(&u.json_depth) {
            return bad("upstream.json_depth", "must be between 2 and 256");
        }
        if l.keepalive_interval.is_zero() || l.keepalive_timeout.is_zero() {
            return bad(
                "keepalive_interval",
                "limits.keepalive_interval and limits.keepalive_timeout must be greater than zero",
            );
        }
        if l.shutdown_grace.is_zero() {
            return bad("shutdown_grace", "must be greater than zero");
        }
        let rate = |key: String, r: Rate| {
            if !(r.per_second.is_finite() && r.per_second > 0.0) {
                return Err(Error::Config {
                    key: format!("{key}.per_second"),
                    detail: "must be a number greater than zero".into(),
                });
            }
            if r.burst == 0 {
                return Err(Error::Config {
                    key: format!("{key}.burst"),
                    detail: "must be at least 1".into(),
                });
            }
            Ok(())
        };
        rate(
            "limits.rate".into(),
            Rate {
                per_second: l.rate.per_second,
                burst: l.rate.burst,
            },
        )?;
        for (agency, r) in &l.rate.agencies {
            if lienthong_proto::AgencyCode::parse(agency).is_err() {
                return bad(
                    &format!("rate.agencies.{agency}"),
                    "must be an agency code such as H99.02",
                );
            }
            rate(format!("limits.rate.agencies.{agency}"), *r)?;
        }
        Ok(())
    }
}
