//! `lienthong client`: call a gateway as an agency system, with that agency's
//! certificate from the certificates directory.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use lienthong_adapters::population::grpc::{self, GrpcConfig};
use lienthong_proto::prost_types::{FieldMask, Timestamp};
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::residency_service_client::ResidencyServiceClient;
use lienthong_proto::v1::{
    Address, Citizen, GetCitizenRequest, GetResidenceRequest, MaritalStatus, RequestContext,
    Residence, Sex, VerifyCitizenRequest,
};
use serde_json::{Value, json};
use tonic_types::StatusExt;

use lienthong_pki::Paths;

mod dossier;

/// Where the gateway is and how to reach it.
#[derive(Debug, Clone, Args)]
pub struct Connect {
    /// The gateway's URL.
    #[arg(long, global = true, default_value = "https://localhost:50051")]
    pub url: String,
    /// Certificates directory (the CA and `clients/<agency>.{crt,key}`).
    #[arg(long, global = true, default_value = "certs")]
    pub certs_dir: PathBuf,
    /// Deadline of the call in milliseconds.
    #[arg(long, global = true, default_value_t = 10_000)]
    pub timeout_ms: u64,
}

impl Connect {
    /// An mTLS channel to the gateway as `agency`.
    pub fn channel(&self, agency: &str) -> Result<tonic::transport::Channel, String> {
        lienthong_gateway::install_crypto_provider();
        let paths = Paths::new(&self.certs_dir);
        let read = |p: PathBuf| std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()));
        grpc::channel(&GrpcConfig {
            url: self.url.clone(),
            ca_pem: read(paths.ca_cert())?,
            cert_pem: read(paths.client_cert(agency))?,
            key_pem: read(paths.client_key(agency))?,
            server_name: None,
            timeout: Duration::from_millis(self.timeout_ms),
            max_message_bytes: lienthong_adapters::population::grpc::MAX_MESSAGE_BYTES,
            max_header_bytes: lienthong_adapters::population::grpc::MAX_HEADER_BYTES,
        })
        .map_err(|e| e.to_string())
    }
}

/// Options shared by every call.
#[derive(Debug, Args)]
pub struct Client {
    /// The gateway.
    #[command(flatten)]
    pub connect: Connect,
    /// The agency to call as (its certificate under `<certs-dir>/clients/`).
    #[arg(long, global = true, default_value = "H99.01")]
    pub agency: String,
    /// Purpose of processing, e.g. dossier-processing (lookups).
    #[arg(long, global = true)]
    pub purpose: Option<String>,
    /// Legal basis, e.g. ND-47/2020 (lookups).
    #[arg(long, global = true)]
    pub legal_basis: Option<String>,
    /// Officer on whose behalf the call is made (lookups).
    #[arg(long, global = true)]
    pub officer: Option<String>,
    /// Case reference, e.g. a dossier code.
    #[arg(long, global = true, default_value = "")]
    pub case_ref: String,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// The call.
    #[command(subcommand)]
    pub call: Call,
}

/// The calls.
#[derive(Debug, Subcommand)]
pub enum Call {
    /// A citizen's identity record.
    Citizen {
        /// Personal ID (12 digits).
        personal_id: String,
        /// Only these fields, comma-separated (e.g. full_name,birth_date).
        #[arg(long, value_delimiter = ',')]
        fields: Vec<String>,
    },
    /// Check a name (and birth date) against the register.
    Verify {
        /// Personal ID (12 digits).
        personal_id: String,
        /// Claimed full name.
        #[arg(long)]
        name: String,
        /// Claimed birth date, YYYY-MM-DD.
        #[arg(long, default_value = "")]
        birth_date: String,
    },
    /// A citizen's residence record.
    Residence {
        /// Personal ID (12 digits).
        personal_id: String,
    },
    /// Dossiers: submit, update, get, list, watch.
    #[command(subcommand)]
    Dossier(dossier::DossierCall),
}

impl Client {
    /// The context every lookup carries; its purpose, legal basis and officer are
    /// required (dossier calls carry none).
    fn context(&self) -> Result<Option<RequestContext>, String> {
        let required = |v: &Option<String>, flag: &str| {
            v.clone().ok_or_else(|| {
                format!(
                    "{flag} is required for lookups (the purpose, legal basis and officer of the read)"
                )
            })
        };
        Ok(Some(RequestContext {
            purpose: required(&self.purpose, "--purpose")?,
            legal_basis: required(&self.legal_basis, "--legal-basis")?,
            case_ref: self.case_ref.clone(),
            officer_id: required(&self.officer, "--officer")?,
        }))
    }
}

/// Makes the call; `Ok` is the text to print, `Err` the failure explained.
pub async fn run(client: &Client) -> Result<String, String> {
    let channel = client.connect.channel(&client.agency)?;
    let value = match &client.call {
        Call::Dossier(call) => dossier::run(call, channel).await?,
        Call::Citizen {
            personal_id,
            fields,
        } => {
            let fields = (!fields.is_empty()).then(|| FieldMask {
                paths: fields.clone(),
            });
            let request = GetCitizenRequest {
                context: client.context()?,
                personal_id: personal_id.clone(),
                fields,
            };
            let response = IdentityServiceClient::new(channel)
                .get_citizen(request)
                .await
                .map_err(explain)?;
            with_request_id(citizen_json(response.get_ref()), response.metadata())
        }
        Call::Verify {
            personal_id,
            name,
            birth_date,
        } => {
            let request = VerifyCitizenRequest {
                context: client.context()?,
                personal_id: personal_id.clone(),
                full_name: name.clone(),
                birth_date: birth_date.clone(),
            };
            let response = IdentityServiceClient::new(channel)
                .verify_citizen(request)
                .await
                .map_err(explain)?;
            let r = response.get_ref();
            with_request_id(
                json!({ "match": r.r#match, "mismatched_fields": r.mismatched_fields }),
                response.metadata(),
            )
        }
        Call::Residence { personal_id } => {
            let request = GetResidenceRequest {
                context: client.context()?,
                personal_id: personal_id.clone(),
            };
            let response = ResidencyServiceClient::new(channel)
                .get_residence(request)
                .await
                .map_err(explain)?;
            with_request_id(residence_json(response.get_ref()), response.metadata())
        }
    };
    Ok(render(&value, client.json))
}

/// JSON, or indented text.
fn render(value: &Value, json: bool) -> String {
    if json {
        serde_json::to_string_pretty(value).unwrap_or_default()
    } else {
        text(value, "")
    }
}

fn with_request_id(mut value: Value, metadata: &tonic::metadata::MetadataMap) -> Value {
    let id = metadata
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Value::Object(map) = &mut value {
        map.insert("request_id".into(), id.into());
        if let Some(cache) = metadata.get("x-cache").and_then(|v| v.to_str().ok()) {
            map.insert("cache".into(), cache.into());
        }
    }
    value
}

/// A failed call, with everything the gateway said about it.
pub fn explain(status: tonic::Status) -> String {
    let mut out = format!("{:?}: {}", status.code(), status.message());
    let details = status.get_error_details();
    if let Some(bad) = details.bad_request() {
        for v in &bad.field_violations {
            out.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    if let Some(info) = details.error_info() {
        out.push_str(&format!("\n  reason: {}", info.reason));
    }
    if let Some(retry) = details.retry_info().and_then(|r| r.retry_delay) {
        out.push_str(&format!("\n  retry after: {retry:?}"));
    }
    if let Some(id) = status
        .metadata()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
    {
        out.push_str(&format!("\n  request id: {id}"));
    }
    out
}

fn timestamp(ts: Option<&Timestamp>) -> Value {
    lienthong_gateway::sync::json::date_time(ts)
}

fn citizen_json(c: &Citizen) -> Value {
    json!({
        "personal_id": c.personal_id,
        "full_name": c.full_name,
        "birth_date": c.birth_date,
        "sex": Sex::try_from(c.sex).map(|s| s.as_str_name()).unwrap_or_default(),
        "ethnicity": c.ethnicity,
        "religion": c.religion,
        "nationality": c.nationality,
        "birth_registration_place": c.birth_registration_place,
        "hometown": c.hometown,
        "marital_status": MaritalStatus::try_from(c.marital_status).map(|s| s.as_str_name()).unwrap_or_default(),
        "legacy_id_number": c.legacy_id_number,
        "updated_at": timestamp(c.updated_at.as_ref()),
    })
}

fn address_json(a: Option<&Address>) -> Value {
    a.map_or(Value::Null, |a| {
        json!({
            "detail": a.detail, "commune_code": a.commune_code, "commune_name": a.commune_name,
            "district_code": a.district_code, "district_name": a.district_name,
            "province_code": a.province_code, "province_name": a.province_name, "country_code": a.country_code,
        })
    })
}

fn residence_json(r: &Residence) -> Value {
    json!({
        "personal_id": r.personal_id,
        "permanent": address_json(r.permanent.as_ref()),
        "temporary": address_json(r.temporary.as_ref()),
        "current": address_json(r.current.as_ref()),
        "household_head_id": r.household_head_id,
        "relation_to_head": r.relation_to_head,
        "updated_at": timestamp(r.updated_at.as_ref()),
    })
}

/// Indented `key: value` lines, leaving out empty values.
pub fn text(value: &Value, indent: &str) -> String {
    let Value::Object(map) = value else {
        return value.to_string();
    };
    let mut out = String::new();
    for (key, v) in map {
        match v {
            Value::Null => {}
            Value::String(s) if s.is_empty() => {}
            Value::String(s) => out.push_str(&format!("{indent}{key}: {s}\n")),
            Value::Object(_) => out.push_str(&format!(
                "{indent}{key}:\n{}",
                text(v, &format!("{indent}  "))
            )),
            other => out.push_str(&format!("{indent}{key}: {other}\n")),
        }
    }
    out
}

/// An RFC 3339 time on the command line.
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{s:?} is not an RFC 3339 time (2026-11-22T08:00:00+07:00): {e}"))?;
    Ok(Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    })
}
