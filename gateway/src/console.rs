//! The inspectors' web console: its own HTTPS listener (the gateway's server
//! certificate), sign-in with a one-time link minted on the server
//! (`lienthong console login`), sessions in memory, and pages rendered on the
//! server in Vietnamese, charts as SVG, without a line of script.
//!
//! What it keeps:
//! - only an agency holding the `auditor` role gets in, checked at sign-in and
//!   again on every page (a policy reload that takes the role away shuts it out);
//! - every page that shows audit data is itself an audited access by the inspector,
//!   durable before the page is sent: a page whose record cannot be written is not
//!   shown. A page about a citizen is recorded under that citizen, so it appears in
//!   their own access list;
//! - every state-changing request (a POST) must come from the console's own origin,
//!   and once signed in must carry the session's CSRF token;
//! - the session cookie is `__Host-` prefixed, `Secure`, `HttpOnly` and
//!   `SameSite=Strict`; every response carries a Content-Security-Policy that
//!   allows no script at all, and is never cached.

mod charts;
pub mod link;
mod listener;
mod pages;
mod report;
mod search;
mod session;
mod view;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lienthong_proto::PersonalId;
use lienthong_proto::v1::{AuditRecord, Decision};
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::config::Config;
use crate::policy::{Operation, Role};
use crate::services::Shared;
pub use session::COOKIE;

/// What every page reads.
pub struct Console {
    /// The policy (who holds `auditor`), the log, the store, the agency directory.
    shared: Arc<Shared>,
    /// Who is signed in.
    sessions: session::Sessions,
    /// Where `lienthong console login` leaves sign-in links.
    links: PathBuf,
    /// The overview's figures, while fresh.
    figures: std::sync::Mutex<Option<std::sync::Arc<charts::Figures>>>,
}

/// The signed-in inspector a page is for (an extractor: a page that takes one is
/// only served to a live session whose agency still holds `auditor`).
#[derive(Clone)]
pub struct Inspector {
    /// The agency signed in.
    pub agency: String,
    /// The officer the sign-in link named, if any.
    pub officer: String,
    /// The token every POST of this session must carry.
    pub csrf: String,
    /// The session's id (to sign it out).
    session: String,
}

impl FromRequestParts<Arc<Console>> for Inspector {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Inspector, Response> {
        let Some((id, session)) = session::cookie(&parts.headers)
            .and_then(|id| console.sessions.get(&id).map(|s| (id, s)))
        else {
            return Err(Redirect::to("/signin").into_response());
        };
        if let Err(denial) = console.shared.policy.get().require(
            &session.agency,
            Role::Auditor,
            Operation::ConsoleSearch,
        ) {
            console.sessions.close(&id);
            return Err(view::refused(StatusCode::FORBIDDEN, &denial.detail));
        }
        Ok(Inspector {
            agency: session.agency,
            officer: session.officer,
            csrf: session.csrf,
            session: id,
        })
    }
}

impl Console {
    /// The audit log's store, for reading.
    fn store(&self) -> &Arc<dyn lienthong_ledger::Store> {
        &self.shared.dossiers.store
    }

    /// Records that `agency` (by `officer`) was shown, or refused, `operation`
    /// about `subject`; the page is served only once this is durable.
    async fn record(
        &self,
        agency: &str,
        officer: &str,
        operation: Operation,
        subject: &str,
        case_ref: String,
        refused: Option<&str>,
    ) -> Result<(), Response> {
        let Some(log) = &self.shared.audit else {
            return Err(view::refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Nhật ký kiểm toán đang tắt ở cổng này: không có gì để xem.",
            ));
        };
        let record = AuditRecord {
            agency_code: agency.to_owned(),
            officer_id: officer.to_owned(),
            operation: operation.name().to_owned(),
            subject_personal_id: if PersonalId::parse(subject).is_ok() {
                subject.to_owned()
            } else {
                String::new()
            },
            purpose: "audit-review".into(),
            case_ref: crate::audit::record::bounded(case_ref),
            decision: match refused {
                None => Decision::Granted,
                Some(_) => Decision::Denied,
            } as i32,
            reason: refused.unwrap_or_default().to_owned(),
            outcome: match refused {
                None => tonic::Code::Ok,
                Some(_) => tonic::Code::PermissionDenied,
            } as u32,
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        log.append(record).await.map(drop).map_err(|e| {
            tracing::error!(error = %e, operation = operation.name(), "console: audit record not written; page withheld");
            view::refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Không ghi được nhật ký kiểm toán, nên trang này không được hiển thị. Hãy thử lại sau.",
            )
        })
    }

    /// Records a page `inspector` is shown.
    async fn viewed(
        &self,
        inspector: &Inspector,
        operation: Operation,
        subject: &str,
        case_ref: String,
    ) -> Result<(), Response> {
        self.record(
            &inspector.agency,
            &inspector.officer,
            operation,
            subject,
            case_ref,
            None,
        )
        .await
    }
}

/// Security headers on every response; a POST from another origin is refused
/// before any handler sees it.
async fn guard(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && !same_origin(request.headers()) {
        return view::refused(
            StatusCode::FORBIDDEN,
            "Yêu cầu gửi từ một trang khác bị từ chối (bảo vệ chống giả mạo yêu cầu, CSRF).",
        );
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Not `no-referrer`: under it a browser sends `Origin: null` with the
        // console's own forms, and the origin check above needs the origin.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Whether a request comes from a page of this console: its `Origin` is
/// `https://` and the host it was sent to (or, without an `Origin` or with an
/// opaque one, the browser says `Sec-Fetch-Site: same-origin`). Anything else is
/// refused.
fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let origin = text(header::ORIGIN).filter(|o| *o != "null");
    match (origin, text(header::HOST)) {
        (Some(origin), Some(host)) => origin.strip_prefix("https://") == Some(host),
        (Some(_), None) => false,
        (None, _) => text(header::HeaderName::from_static("sec-fetch-site")) == Some("same-origin"),
    }
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("console/console.css"),
    )
}

/// Binds the console's listener and serves it until `shutdown`, with the server
/// certificate `trust` holds (reloaded with it); returns the bound address.
pub async fn serve(
    config: &Config,
    shared: Arc<Shared>,
    trust: Arc<crate::reload::Current<crate::tls::Trust>>,
    shutdown: CancellationToken,
) -> Result<SocketAddr, Error> {
    let tls = listener::config(trust)?;
    let listener =
        listener::TlsListener::bind(config.console.listen, tls, shutdown.clone()).await?;
    let bound = axum::serve::Listener::local_addr(&listener).map_err(|source| Error::Listen {
        addr: config.console.listen,
        source,
    })?;
    let console = Arc::new(Console {
        shared,
        sessions: session::Sessions::new(config.console.session_ttl),
        links: link::dir(&config.data_dir),
        figures: std::sync::Mutex::default(),
    });
    let app = axum::Router::new()
        .route("/", get(charts::overview))
        .route("/search", get(pages::search))
        .route("/record/{seq}", get(pages::record))
        .route("/integrity", get(pages::integrity))
        .route("/export", get(pages::export))
        .route("/export.jsonl", get(pages::export_file))
        .route("/citizen", get(report::citizen))
        .route("/signin", get(session::signin_page).post(session::signin))
        .route("/signout", post(session::signout))
        .route("/static/console.css", get(stylesheet))
        .fallback(|| async { view::refused(StatusCode::NOT_FOUND, "Không có trang này.") })
        .layer(axum::middleware::from_fn(guard))
        .with_state(console);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "console listener failed");
        }
    });
    let url = config.console.base_url();
    tracing::info!(addr = %bound, %url, "inspectors' console (HTTPS); sign in with: lienthong console login --agency <auditor agency>");
    Ok(bound)
}

/// `State` of every page.
type Shown = State<Arc<Console>>;
