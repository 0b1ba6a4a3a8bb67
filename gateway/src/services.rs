//! The gRPC services and what every handler shares: who is calling (from the
//! connection), the request id, the deadline budget, validation of the request at
//! the edge, the policy decision, the upstream call under that budget, and the end
//! of every request: its audit record, durable before the answer leaves, and the log
//! line of the outcome.

pub mod admin;
pub mod audit;
pub mod dossier;
pub mod fields;
pub mod identity;
pub mod residency;

use std::future::Future;
use std::mem::take;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lienthong_adapters::population::Registry;
use lienthong_proto::PersonalId;
use lienthong_proto::personal_id::Masked;
use lienthong_proto::v1::{AuditRecord, Decision, RequestContext};
use tonic::Status;

use crate::audit::record::bounded;
use crate::config::Limits;
use crate::policy::{Allowed, Fields, Operation, Policy, Role};
use crate::tls::Peer;
use crate::{Error, FieldViolation};

/// What the services share.
pub struct Shared {
    /// The population registry adapter.
    pub registry: Arc<dyn Registry>,
    /// Deadlines.
    pub limits: Limits,
    /// The cache and circuit breaker in front of the registry.
    pub cache: Arc<crate::cache::Cache>,
    /// Who may read what (replaced whole on reload).
    pub policy: Arc<crate::reload::Current<Policy>>,
    /// Counters of what the gateway does.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Dossiers and their exchange with the portal.
    pub dossiers: Arc<crate::sync::Dossiers>,
    /// Cancelled when the gateway stops: long streams end so that it can.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Where every request is recorded; `None` only in the benchmark baseline.
    pub audit: Option<Arc<crate::audit::Log>>,
}

/// What a request's audit record says beyond who called and how it ended.
#[derive(Default)]
pub(crate) struct Trail {
    /// The subject's personal ID, as sent.
    pub subject: String,
    /// The request context, as sent.
    pub context: RequestContext,
    /// The fields that left the gateway.
    pub released: Fields,
    /// How the cache served the record, when it did.
    pub cache: Option<crate::cache::Served>,
}

impl Trail {
    /// A trail about `subject` under `context`.
    pub(crate) fn new(subject: &str, context: Option<&RequestContext>) -> Trail {
        Trail {
            subject: subject.to_owned(),
            context: context.cloned().unwrap_or_default(),
            released: Fields::NONE,
            cache: None,
        }
    }
}

/// One request in flight: who asks, under which id, until when.
pub(crate) struct Ctx {
    peer: Arc<Peer>,
    request_id: String,
    operation: Operation,
    started: Instant,
    /// Time the request may take: the configured limit or the client's grpc-timeout.
    budget: Duration,
}

impl Ctx {
    pub(crate) fn of<T>(
        request: &tonic::Request<T>,
        limits: &Limits,
        operation: Operation,
    ) -> Result<Ctx, Status> {
        let peer = request
            .extensions()
            .get::<Arc<Peer>>()
            .cloned()
            .ok_or_else(|| Status::from(Error::Unauthenticated))?;
        let metadata = request.metadata();
        let request_id = metadata
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let client = metadata
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout);
        // Answer a little before the client gives up, so it receives our status
        // (DEADLINE_EXCEEDED with details) rather than cancelling on its own timer.
        let client = client.map(|c| c.saturating_sub((c / 10).min(Duration::from_millis(50))));
        let budget = client.map_or(limits.request_timeout, |c| c.min(limits.request_timeout));
        Ok(Ctx {
            peer,
            request_id,
            operation,
            started: Instant::now(),
            budget,
        })
    }

    /// The calling agency's code.
    pub(crate) fn agency(&self) -> &str {
        self.peer.agency.as_str()
    }

    /// The policy's decision on this read under `context` (already validated).
    pub(crate) fn allow(
        &self,
        policy: &Policy,
        context: Option<&RequestContext>,
    ) -> Result<Allowed, Error> {
        let (purpose, legal_basis) =
            context.map_or(("", ""), |c| (c.purpose.as_str(), c.legal_basis.as_str()));
        Ok(policy.decide(
            self.peer.agency.as_str(),
            self.operation,
            purpose,
            legal_basis,
        )?)
    }

    /// Checks that a grant gives the caller this operation (dossier calls, which
    /// cite no purpose).
    pub(crate) fn grant(&self, policy: &Policy) -> Result<(), Error> {
        Ok(policy.allow(self.agency(), self.operation)?)
    }

    /// Checks that the caller holds `role`.
    pub(crate) fn require(&self, policy: &Policy, role: Role) -> Result<(), Error> {
        Ok(policy.require(self.peer.agency.as_str(), role, self.operation)?)
    }

    /// Runs an upstream call within the request's remaining budget and the upstream limit.
    pub(crate) async fn upstream<T, F>(&self, shared: &Shared, call: F) -> Result<T, Error>
    where
        F: Future<Output = Result<T, lienthong_adapters::Error>>,
    {
        let remaining = self.budget.saturating_sub(self.started.elapsed());
        let limit = remaining.min(shared.limits.upstream_timeout);
        match tokio::time::timeout(limit, call).await {
            Ok(result) => Ok(result?),
            Err(_) if limit < shared.limits.upstream_timeout => Err(Error::Deadline(self.budget)),
            Err(_) => Err(Error::Upstream(lienthong_adapters::Error::Timeout {
                endpoint: shared.registry.name().into(),
                after: limit,
            })),
        }
    }

    /// The call's context for the adapter.
    pub(crate) fn call(
        &self,
        context: Option<&RequestContext>,
    ) -> lienthong_adapters::population::Call {
        lienthong_adapters::population::Call {
            request_id: self.request_id.clone(),
            context: context.cloned().unwrap_or_default(),
            deadline: Some(self.budget.saturating_sub(self.started.elapsed())),
        }
    }

    /// Ends the request: appends its audit record and waits until it is durable,
    /// logs the outcome (personal ID masked, nothing else personal), and maps the
    /// error. If the record cannot be written, the answer is withheld.
    pub(crate) async fn finish<T>(
        &self,
        shared: &Shared,
        mut trail: Trail,
        result: Result<T, Error>,
    ) -> Result<tonic::Response<T>, Status> {
        let (decision, reason) = verdict(&result);
        let (result, code) = settle(result);
        if let Some(log) = &shared.audit {
            let record = self.record(&mut trail, decision, reason, code);
            if let Err(e) = log.append(record).await {
                return Err(self.unrecorded(e));
            }
        }
        self.respond(shared, &trail, result, reason)
    }

    /// Ends a dossier change: the change, its outbox entry and its audit record are
    /// written in one transaction, so they are durable together (one sync, not
    /// two) and a change never exists without its record. Without an audit log
    /// (the benchmark baseline), or when the request was refused before any change,
    /// it ends like [`Ctx::finish`].
    pub(crate) async fn finish_change(
        &self,
        shared: &Shared,
        mut trail: Trail,
        change: Result<lienthong_ledger::Change, Error>,
    ) -> Result<tonic::Response<lienthong_proto::v1::Dossier>, Status> {
        let (log, change) = match (&shared.audit, change) {
            (Some(log), Ok(change)) => (log, change),
            (_, change) => {
                let result = match change {
                    Ok(change) => match shared.dossiers.apply(change).await {
                        Ok(applied) => applied.map_err(Error::from),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                if let Ok(d) = &result
                    && trail.subject.is_empty()
                {
                    trail.subject.clone_from(&d.applicant_personal_id);
                }
                return self.finish(shared, trail, result).await;
            }
        };
        let name_subject = trail.subject.is_empty();
        let record = self.record(&mut trail, Decision::Granted, "", tonic::Code::Ok);
        let applied = match log.append_change(record, change).await {
            Ok((_, applied)) => applied,
            Err(e) => return Err(self.unrecorded(e)),
        };
        if let Ok(d) = &applied {
            shared.dossiers.notify();
            if name_subject {
                trail.subject.clone_from(&d.applicant_personal_id);
            }
        }
        let result = applied.map_err(Error::from);
        let (_, reason) = verdict(&result);
        let (result, _) = settle(result);
        self.respond(shared, &trail, result, reason)
    }

    /// The audit record of this request; the trail's context moves into it.
    fn record(
        &self,
        trail: &mut Trail,
        decision: Decision,
        reason: &str,
        code: tonic::Code,
    ) -> AuditRecord {
        AuditRecord {
            agency_code: self.peer.agency.as_str().to_owned(),
            certificate_fingerprint: self.peer.fingerprint.clone(),
            officer_id: bounded(take(&mut trail.context.officer_id)),
            operation: self.operation.name().to_owned(),
            subject_personal_id: bounded(trail.subject.as_str()),
            purpose: bounded(take(&mut trail.context.purpose)),
            legal_basis: bounded(take(&mut trail.context.legal_basis)),
            case_ref: bounded(take(&mut trail.context.case_ref)),
            decision: decision as i32,
            reason: reason.to_owned(),
            outcome: code as u32,
            fields_released: if code == tonic::Code::Ok {
                trail.released.names()
            } else {
                Vec::new()
            },
            cache: trail
                .cache
                .filter(|_| code == tonic::Code::Ok)
                .map_or("", |c| c.as_str())
                .to_owned(),
            request_id: self.request_id.clone(),
            ..Default::default()
        }
    }

    /// The answer withheld because its record could not be written.
    fn unrecorded(&self, e: Error) -> Status {
        tracing::error!(request_id = %self.request_id, agency = %self.peer.agency, operation = self.operation.name(), error = %e, "audit record not written; answer withheld");
        Status::from(e)
    }

    /// Logs the outcome and makes the answer.
    fn respond<T>(
        &self,
        shared: &Shared,
        trail: &Trail,
        result: Result<T, (Status, String)>,
        reason: &str,
    ) -> Result<tonic::Response<T>, Status> {
        let elapsed_ms = self.started.elapsed().as_secs_f64() * 1e3;
        let subject = Masked(&trail.subject);
        let operation = self.operation.name();
        match result {
            Ok(answer) => {
                let cache = trail.cache.map_or("", |c| c.as_str());
                if let Some(served) = trail.cache {
                    shared
                        .metrics
                        .cache
                        .get_or_create(&crate::metrics::CacheLabels {
                            operation,
                            result: served.as_str(),
                        })
                        .inc();
                }
                // The request's span (see `admission`) logs its end at info level.
                tracing::debug!(request_id = %self.request_id, agency = %self.peer.agency, operation, %subject, code = "OK", cache, elapsed_ms, "request served");
                let mut response = tonic::Response::new(answer);
                if let Some(served) = trail.cache {
                    response.metadata_mut().insert(
                        "x-cache",
                        tonic::metadata::MetadataValue::from_static(served.as_str()),
                    );
                }
                Ok(response)
            }
            Err((status, detail)) => {
                tracing::warn!(request_id = %self.request_id, agency = %self.peer.agency, operation, %subject, code = ?status.code(), reason, elapsed_ms, error = %detail, "request refused or failed");
                Err(status)
            }
        }
    }
}

/// How a result is recorded: the decision and the reason.
fn verdict<T>(result: &Result<T, Error>) -> (Decision, &'static str) {
    match result {
        Ok(_) => (Decision::Granted, ""),
        Err(Error::Invalid(_)) => (Decision::Invalid, "INVALID_ARGUMENT"),
        Err(Error::Denied(d)) => (Decision::Denied, d.reason.as_str()),
        Err(e) => (Decision::Granted, crate::status::reason(e)),
    }
}

/// The answer or the status (with the full error for the log), and the code.
fn settle<T>(result: Result<T, Error>) -> (Result<T, (Status, String)>, tonic::Code) {
    match result {
        Ok(answer) => (Ok(answer), tonic::Code::Ok),
        Err(error) => {
            let detail = error.to_string();
            let status = Status::from(error);
            let code = status.code();
            (Err((status, detail)), code)
        }
    }
}

/// Runs a handler in its own task, so that a client that hangs up mid-request does
/// not cancel it: once a request is under way it always reaches its audit record.
pub(crate) async fn detached<T: Send + 'static>(
    handler: impl Future<Output = Result<T, Status>> + Send + 'static,
) -> Result<T, Status> {
    use tracing::Instrument;
    tokio::spawn(handler.in_current_span())
        .await
        .unwrap_or_else(|e| Err(Status::internal(format!("handler failed: {e}"))))
}

/// Parses the `grpc-timeout` header: an integer of at most 8 digits and a unit.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (amount, unit) = value.split_at(value.len() - 1);
    let amount: u64 = amount.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// Validates what every lookup carries — the context and the personal ID — plus the
/// method's own `checks`, reporting every violation at once.
pub fn lookup(
    context: Option<&RequestContext>,
    personal_id: &str,
    checks: impl FnOnce(&mut Violations),
) -> Result<PersonalId, Error> {
    let mut v = Violations::default();
    v.context(context);
    let id = v.personal_id("personal_id", personal_id);
    checks(&mut v);
    match (v.finish(), id) {
        (Ok(()), Some(id)) => Ok(id),
        (Err(e), _) => Err(e),
        (Ok(()), None) => Err(Error::Invalid(Vec::new())),
    }
}

/// Collects every invalid field of a request, so the client can fix all at once.
#[derive(Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub(crate) fn add(&mut self, field: &str, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    pub(crate) fn personal_id(&mut self, field: &str, value: &str) -> Option<PersonalId> {
        PersonalId::parse(value)
            .map_err(|e| {
                self.add(
                    field,
                    format!("{e}; a personal ID is 12 digits PPPGYYNNNNNN"),
                )
            })
            .ok()
    }

    /// Checks the request context every read must carry.
    pub(crate) fn context(&mut self, context: Option<&RequestContext>) {
        let Some(c) = context else {
            self.add(
                "context",
                "is required: purpose, legal_basis and officer_id",
            );
            return;
        };
        match c.purpose.as_str() {
            "" => self.add("context.purpose", "is required, e.g. dossier-processing"),
            p if !lienthong_proto::context::is_purpose(p) => self.add(
                "context.purpose",
                "must be at most 64 characters of a-z, 0-9, '-', '_', '.'",
            ),
            _ => {}
        }
        self.text("context.legal_basis", &c.legal_basis, 128, true);
        self.text("context.officer_id", &c.officer_id, 64, true);
        self.text("context.case_ref", &c.case_ref, 64, false);
    }

    /// Free text: printable, bounded, required or not.
    pub(crate) fn text(&mut self, field: &str, value: &str, max: usize, required: bool) {
        if value.trim().is_empty() {
            if required {
                self.add(field, "is required");
            }
        } else if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        } else if value.chars().any(char::is_control) {
            self.add(field, "must not contain control characters");
        }
    }

    /// `Ok` when no field was invalid, else the error naming every one.
    pub fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_header() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_grpc_timeout("99999999u"),
            Some(Duration::from_micros(99_999_999))
        );
        for bad in ["", "S", "5", "5s", "123456789S", "-1S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }

    #[test]
    fn context_violations_name_each_field() {
        let mut v = Violations::default();
        v.context(Some(&RequestContext {
            purpose: "Dossier Processing".into(),
            legal_basis: String::new(),
            case_ref: "x".repeat(65),
            officer_id: "cb\u{7}".into(),
        }));
        let fields: Vec<_> = v.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "context.purpose",
                "context.legal_basis",
                "context.officer_id",
                "context.case_ref"
            ]
        );
        let mut v = Violations::default();
        v.context(None);
        assert_eq!(v.0[0].field, "context");
        let mut v = Violations::default();
        v.context(Some(&RequestContext {
            purpose: "dossier-processing".into(),
            legal_basis: "ND-47/2020".into(),
            case_ref: String::new(),
            officer_id: "cb-01".into(),
        }));
        assert!(v.finish().is_ok());
    }
}
