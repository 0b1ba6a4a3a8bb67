//! Federation: another lienthong gateway (or any service speaking `lienthong.v1`) as
//! the population registry, over mutual TLS.
//!
//! This gateway presents its own agency certificate; the caller's request context is
//! forwarded so that the upstream gateway applies its own policy and audit.

use std::time::Duration;

use async_trait::async_trait;
use lienthong_proto::PersonalId;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::residency_service_client::ResidencyServiceClient;
use lienthong_proto::v1::{Citizen, GetCitizenRequest, GetResidenceRequest, Residence};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status};

use super::{Call, Registry};
use crate::{BadResponse, Error};

/// The largest message a client of a gateway accepts unless told otherwise (the
/// gateway's own `limits.max_message_bytes` default).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The largest header block a client of a gateway accepts unless told otherwise.
pub const MAX_HEADER_BYTES: u32 = 16 * 1024;

/// Where the upstream gateway is and which certificate to present to it.
#[derive(Debug, Clone)]
pub struct GrpcConfig {
    /// `https://host:port` of the upstream gateway.
    pub url: String,
    /// The CA that signed the upstream's server certificate (PEM).
    pub ca_pem: Vec<u8>,
    /// This gateway's client certificate (PEM), carrying its agency code.
    pub cert_pem: Vec<u8>,
    /// Its private key (PEM).
    pub key_pem: Vec<u8>,
    /// Name to check the upstream's certificate against, if not the URL's host.
    pub server_name: Option<String>,
    /// Deadline for each call, sent upstream as `grpc-timeout` too.
    pub timeout: Duration,
    /// The largest message the upstream may send, and its header block.
    pub max_message_bytes: usize,
    /// The largest header block (metadata, status message) it may send.
    pub max_header_bytes: u32,
}

/// Builds a lazily connecting mTLS channel; also used by the command-line client.
pub fn channel(config: &GrpcConfig) -> Result<Channel, Error> {
    let setup = |e: tonic::transport::Error| Error::Rejected {
        endpoint: config.url.clone(),
        detail: e.to_string(),
    };
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&config.ca_pem))
        .identity(Identity::from_pem(&config.cert_pem, &config.key_pem));
    if let Some(name) = &config.server_name {
        tls = tls.domain_name(name.clone());
    }
    let endpoint = Endpoint::from_shared(config.url.clone())
        .map_err(setup)?
        .tls_config(tls)
        .map_err(setup)?
        .connect_timeout(config.timeout)
        .timeout(config.timeout)
        .http2_max_header_list_size(config.max_header_bytes);
    Ok(endpoint.connect_lazy())
}

/// The gRPC adapter.
pub struct GrpcRegistry {
    identity: IdentityServiceClient<Channel>,
    residency: ResidencyServiceClient<Channel>,
    config: GrpcConfig,
}

impl GrpcRegistry {
    /// Builds the adapter; the connection is made on first use and re-made as needed.
    pub fn new(config: GrpcConfig) -> Result<GrpcRegistry, Error> {
        let channel = channel(&config)?;
        Ok(GrpcRegistry {
            identity: IdentityServiceClient::new(channel.clone())
                .max_decoding_message_size(config.max_message_bytes),
            residency: ResidencyServiceClient::new(channel)
                .max_decoding_message_size(config.max_message_bytes),
            config,
        })
    }

    fn map(&self, status: Status) -> Error {
        let endpoint = self.config.url.clone();
        // The upstream's own words, escaped and cut: they end up in log lines.
        let detail = format!(
            "{:?}: {}",
            status.code(),
            lienthong_proto::text::shown(status.message(), 256)
        );
        match status.code() {
            Code::NotFound => Error::NotFound { endpoint },
            Code::DeadlineExceeded => Error::Timeout {
                endpoint,
                after: self.config.timeout,
            },
            Code::Unavailable | Code::ResourceExhausted | Code::Aborted | Code::Cancelled => {
                Error::Unavailable { endpoint, detail }
            }
            Code::PermissionDenied
            | Code::Unauthenticated
            | Code::InvalidArgument
            | Code::FailedPrecondition => Error::Rejected { endpoint, detail },
            // tonic's codec refuses a message over the bound before decoding it.
            Code::OutOfRange if status.message().contains("too large") => {
                Error::bad(endpoint, BadResponse::TooLarge, detail)
            }
            _ => Error::bad(endpoint, BadResponse::Malformed, detail),
        }
    }

    /// Refuses a record about someone else: better no answer than another citizen's data.
    fn request<T>(&self, message: T, call: &Call) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(
            call.deadline
                .map_or(self.config.timeout, |left| left.min(self.config.timeout)),
        );
        if let Ok(value) = call.request_id.parse() {
            request
                .metadata_mut()
                .insert("x-upstream-request-id", value);
        }
        crate::trace::inject_grpc(request.metadata_mut());
        request
    }
}

#[async_trait]
impl Registry for GrpcRegistry {
    fn name(&self) -> &'static str {
        "grpc"
    }

    async fn citizen(&self, id: &PersonalId, call: &Call) -> Result<Citizen, Error> {
        let message = GetCitizenRequest {
            context: Some(call.context.clone()),
            personal_id: id.as_str().to_owned(),
            fields: None,
        };
        let request = self.request(message, call);
        let citizen = self
            .identity
            .clone()
            .get_citizen(request)
            .await
            .map_err(|s| self.map(s))?
            .into_inner();
        Ok(citizen)
    }

    async fn residence(&self, id: &PersonalId, call: &Call) -> Result<Residence, Error> {
        let message = GetResidenceRequest {
            context: Some(call.context.clone()),
            personal_id: id.as_str().to_owned(),
        };
        let request = self.request(message, call);
        let residence = self
            .residency
            .clone()
            .get_residence(request)
            .await
            .map_err(|s| self.map(s))?
            .into_inner();
        Ok(residence)
    }
}
