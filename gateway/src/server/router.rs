//! The gRPC router: the tower layers every request passes (a request id minted
//! here, the admission door), the services, health and reflection, served on the
//! connections the accept loop hands over until shutdown.
//!
//! Every response carries an `x-request-id` header minted here (a client cannot
//! choose it: it keys the audit trail).

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use lienthong_proto::v1::admin_service_server::AdminServiceServer;
use lienthong_proto::v1::audit_service_server::AuditServiceServer;
use lienthong_proto::v1::dossier_service_server::DossierServiceServer;
use lienthong_proto::v1::identity_service_server::IdentityServiceServer;
use lienthong_proto::v1::report_service_server::ReportServiceServer;
use lienthong_proto::v1::residency_service_server::ResidencyServiceServer;
use lienthong_proto::v1::subject_access_service_server::SubjectAccessServiceServer;
use lienthong_proto::v1::witness_service_server::WitnessServiceServer;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic_health::pb::health_server::{Health, HealthServer};
use tower_http::request_id::PropagateRequestIdLayer;
use tower_http::set_header::SetRequestHeaderLayer;

use crate::admission::Admission;
use crate::config::Limits;
use crate::services::Shared;
use crate::services::admin::Admin;
use crate::services::audit::Audit;
use crate::services::dossier::Dossiers;
use crate::services::identity::Identity;
use crate::services::report::Reports;
use crate::services::residency::Residency;
use crate::services::subjects::Subjects;
use crate::services::witness::Witness;
use crate::{Error, tls};

/// The services whose health `grpc.health.v1` reports: the lookups also need the
/// population registry, the rest only the ledger.
pub(super) const LOOKUPS: [&str; 2] = [
    <IdentityServiceServer<Identity> as NamedService>::NAME,
    <ResidencyServiceServer<Residency> as NamedService>::NAME,
];

/// The services that need only the data dir and the audit log.
pub(super) const BASIC: [&str; 6] = [
    <AuditServiceServer<Audit> as NamedService>::NAME,
    <AdminServiceServer<Admin> as NamedService>::NAME,
    <DossierServiceServer<Dossiers> as NamedService>::NAME,
    <ReportServiceServer<Reports> as NamedService>::NAME,
    <SubjectAccessServiceServer<Subjects> as NamedService>::NAME,
    <WitnessServiceServer<Witness> as NamedService>::NAME,
];

/// Serves `shared`'s services on the connections of `incoming` until `stop`.
pub(super) fn serve<H: Health>(
    limits: &Limits,
    shared: Arc<Shared>,
    health_service: HealthServer<H>,
    door: Admission,
    incoming: mpsc::Receiver<tls::Connection>,
    stop: CancellationToken,
) -> Result<JoinHandle<Result<(), Error>>, Error> {
    // Advertise what is served, not every service of the contract (some are still
    // being built).
    let served = LOOKUPS.into_iter().chain(BASIC).chain([
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ]);
    let reflection = served
        .fold(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(lienthong_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
            |builder, name| builder.with_service_name(name),
        )
        .build_v1()
        .map_err(|e| Error::Server(format!("reflection: {e}")))?;

    let request_id = tower::ServiceBuilder::new()
        .layer(SetRequestHeaderLayer::overriding(
            http::header::HeaderName::from_static("x-request-id"),
            |_: &http::Request<tonic::body::Body>| {
                HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).ok()
            },
        ))
        .layer(PropagateRequestIdLayer::x_request_id());
    let door = crate::admission::Layer(Arc::new(door));
    let size = limits.max_message_bytes;
    macro_rules! sized {
        ($server:ident, $service:expr) => {
            $server::new($service)
                .max_decoding_message_size(size)
                .max_encoding_message_size(size)
        };
    }
    let router = tonic::transport::Server::builder()
        .timeout(limits.request_timeout + Duration::from_secs(1))
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .layer(request_id)
        .layer(door)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(sized!(IdentityServiceServer, Identity::new(shared.clone())))
        .add_service(sized!(
            ResidencyServiceServer,
            Residency::new(shared.clone())
        ))
        .add_service(sized!(AuditServiceServer, Audit::new(shared.clone())))
        .add_service(sized!(AdminServiceServer, Admin::new(shared.clone())))
        .add_service(sized!(ReportServiceServer, Reports::new(shared.clone())))
        .add_service(sized!(
            SubjectAccessServiceServer,
            Subjects::new(shared.clone())
        ))
        .add_service(sized!(WitnessServiceServer, Witness::new(shared.clone())))
        .add_service(sized!(DossierServiceServer, Dossiers::new(shared)));
    Ok(tokio::spawn(async move {
        let incoming = ReceiverStream::new(incoming).map(Ok::<_, std::io::Error>);
        router
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
            .await
            .map_err(|e| Error::Server(e.to_string()))
    }))
}
