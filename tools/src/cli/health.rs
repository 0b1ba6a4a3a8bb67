//! `lienthong health`: asks a gateway's `grpc.health.v1` service how each service is.

use clap::Args;
use lienthong_proto::v1;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::client::Connect;

/// The services asked about, `""` being the gateway as a whole.
pub const SERVICES: [&str; 6] = [
    "",
    v1::identity_service_server::SERVICE_NAME,
    v1::residency_service_server::SERVICE_NAME,
    v1::dossier_service_server::SERVICE_NAME,
    v1::audit_service_server::SERVICE_NAME,
    v1::admin_service_server::SERVICE_NAME,
];

/// `health` options.
#[derive(Debug, Args)]
pub struct Health {
    /// The gateway.
    #[command(flatten)]
    pub connect: Connect,
    /// The agency whose certificate opens the connection.
    #[arg(long, default_value = "H99.01")]
    pub agency: String,
}

/// Asks about every service: a table, and whether all are serving.
pub async fn run(health: &Health) -> Result<(String, bool), String> {
    let channel = health.connect.channel(&health.agency)?;
    let mut client = HealthClient::new(channel);
    let mut lines = Vec::new();
    let mut all = true;
    for service in SERVICES {
        let status = client
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .map_err(|s| format!("health check of {service:?}: {}", s.message()))?
            .into_inner()
            .status();
        all &= status == ServingStatus::Serving;
        let name = if service.is_empty() {
            "(gateway)"
        } else {
            service
        };
        lines.push(format!("{name:<32} {}", status.as_str_name()));
    }
    Ok((lines.join("\n"), all))
}
