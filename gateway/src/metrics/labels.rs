//! The label sets of the metrics: bounded sets of names, never personal data.

use prometheus_client::encoding::EncodeLabelSet;

/// One request, as counted.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `lienthong.v1.IdentityService`.
    pub service: &'static str,
    /// `GetCitizen`.
    pub method: &'static str,
    /// The calling agency's code.
    pub agency: String,
    /// The gRPC status code's name, e.g. `OK`, `PERMISSION_DENIED`.
    pub code: &'static str,
}

/// A method.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// The gRPC service.
    pub service: &'static str,
    /// The method.
    pub method: &'static str,
}

/// A request refused before it reached its handler.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShedLabels {
    /// `RATE_LIMITED`, `OVERLOADED`, `CONNECTION_OVERLOADED`, `CERTIFICATE_REVOKED`.
    pub reason: &'static str,
    /// The calling agency's code.
    pub agency: String,
}

/// A reason, alone.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why.
    pub reason: &'static str,
}

/// An upstream call.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    /// The adapter's name (`sim`, `rest`, `grpc`, `portal-rest`).
    pub adapter: &'static str,
    /// `citizen`, `residence`, `push`, `online`.
    pub operation: &'static str,
    /// `ok`, `not_found`, `unavailable`, `timeout`, `protocol`, `refused`, `rejected`.
    pub outcome: &'static str,
}

/// An upstream operation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// The adapter's name.
    pub adapter: &'static str,
    /// Its operation.
    pub operation: &'static str,
}

/// How the cache served a lookup.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// The gateway operation, e.g. `IdentityService/GetCitizen`.
    pub operation: &'static str,
    /// `hit`, `miss` or `stale`.
    pub result: &'static str,
}

/// A reload of one component.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `tls` or `policy`.
    pub component: &'static str,
    /// `ok` or `error`.
    pub outcome: &'static str,
}

/// An upstream, for its circuit breaker.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamName {
    /// The adapter's name.
    pub upstream: &'static str,
}

/// A readiness check.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    /// `data_dir`, `disk`, `ledger`, `audit`, `population_circuit`.
    pub check: &'static str,
}

/// An upstream answer refused as bad.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BadResponseLabels {
    /// The adapter's name.
    pub adapter: &'static str,
    /// What was wrong: `too_large`, `headers`, `too_deep`, `malformed`, `schema`,
    /// `text`, `wrong_record`, `redirect`, `stalled`.
    pub cause: &'static str,
}

/// One QĐ 766 indicator of an agency (or `all`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IndicatorLabels {
    /// The agency's code, or `all` for the total.
    pub agency: String,
    /// `received`, `online_rate`, `on_time_rate`, `sync_rate`, …
    pub indicator: &'static str,
}
