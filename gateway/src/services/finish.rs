//! The end of every request: its audit record, durable before the answer leaves
//! (for a dossier change, in the same commit as the change), and the log line of
//! the outcome. If the record cannot be written, the answer is withheld.

use std::mem::take;

use lienthong_proto::PersonalId;
use lienthong_proto::personal_id::Masked;
use lienthong_proto::v1::{AuditRecord, Decision};
use tonic::Status;

use super::{Ctx, Shared, Trail};
use crate::Error;
use crate::audit::record::bounded;

impl Ctx {
    /// Ends the request: appends its audit record and waits until it is durable,
    /// logs the outcome (personal ID masked, nothing else personal), and maps the
    /// error. If the record cannot be written, the answer is withheld.
    pub(crate) async fn finish<T>(
        &self,
        shared: &Shared,
        mut trail: Trail,
        result: Result<T, Error>,
    ) -> Result<tonic::Response<T>, Status> {
        let result = result.and_then(|answer| self.deliverable().map(|()| answer));
        let (decision, reason) = verdict(&result);
        let (result, code) = settle(result);
        if let Some(log) = &shared.audit {
            let record = self.record(&mut trail, decision, reason, code);
            let commit = tracing::debug_span!("audit.commit");
            if let Err(e) = tracing::Instrument::instrument(log.append(record), commit).await {
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
        // A change whose client has gone, or is past its deadline, is not made: the
        // client could not learn that it was.
        let change = change.and_then(|c| self.deliverable().map(|()| c));
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
        let commit = tracing::debug_span!("audit.commit");
        let applied = match tracing::Instrument::instrument(
            log.append_change(record, change),
            commit,
        )
        .await
        {
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

    /// Whether an answer can still reach the client: not if it has gone (it reset
    /// its stream, or the door saw its deadline pass), nor once the budget that
    /// answers a little before its deadline is spent. An answer that cannot be
    /// delivered is recorded as not delivered, with nothing released.
    fn deliverable(&self) -> Result<(), Error> {
        if self.presence.gone() {
            Err(Error::Cancelled)
        } else if self.started.elapsed() >= self.budget {
            Err(Error::Deadline(self.budget))
        } else {
            Ok(())
        }
    }

    /// The audit record of this request; the trail's context moves into it. What a
    /// client sent is kept bounded and escaped ([`lienthong_proto::text::printable`])
    /// so that no viewer of the record can be fooled by it, and a subject that is
    /// not a personal ID is not kept as one.
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
            officer_id: kept(take(&mut trail.context.officer_id)),
            operation: self.operation.name().to_owned(),
            subject_personal_id: if PersonalId::parse(&trail.subject).is_ok() {
                trail.subject.clone()
            } else {
                String::new()
            },
            purpose: kept(take(&mut trail.context.purpose)),
            legal_basis: kept(take(&mut trail.context.legal_basis)),
            case_ref: kept(take(&mut trail.context.case_ref)),
            decision: decision as i32,
            reason: reason.to_owned(),
            outcome: code as u32,
            fields_released: if code == tonic::Code::Ok {
                trail.released.names()
            } else {
                Vec::new()
            },
            // How the record was fetched, delivered or not.
            cache: trail.cache.map_or("", |c| c.served.as_str()).to_owned(),
            request_id: self.request_id.clone(),
            trace_id: self.trace_id.clone(),
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
                let cache = trail.cache.map_or("", |c| c.served.as_str());
                if let Some(served) = trail.cache.map(|c| c.served) {
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
                // The agency's own view: whether *it* had this record before.
                if let Some(view) = trail.cache {
                    response.metadata_mut().insert(
                        "x-cache",
                        tonic::metadata::MetadataValue::from_static(view.shown.as_str()),
                    );
                }
                Ok(response)
            }
            Err((status, detail)) => {
                let error = lienthong_proto::text::shown(&detail, MAX_LOGGED);
                tracing::warn!(request_id = %self.request_id, agency = %self.peer.agency, operation, %subject, code = ?status.code(), reason, elapsed_ms, %error, "request refused or failed");
                Err(status)
            }
        }
    }
}

/// The longest error detail a log line carries, in characters.
const MAX_LOGGED: usize = 1024;

/// A client's text as a record keeps it: escaped, bounded.
fn kept(text: String) -> String {
    match lienthong_proto::text::printable(&text) {
        std::borrow::Cow::Borrowed(_) => bounded(text),
        std::borrow::Cow::Owned(escaped) => bounded(escaped),
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
