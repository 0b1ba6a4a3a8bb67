//! `lienthong client dossier`: the dossier calls of an agency's case system.

use clap::Subcommand;
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::{
    Dossier, GetDossierRequest, ListDossiersRequest, SubmitDossierRequest,
    UpdateDossierStatusRequest, WatchDossiersRequest,
};
use serde_json::{Value, json};
use tonic::transport::Channel;

use super::{explain, with_request_id};

/// The dossier calls.
#[derive(Debug, Subcommand)]
pub enum DossierCall {
    /// Record a dossier received at the agency.
    Submit {
        /// Dossier code, <agency>-YYMMDD-NNNN (the date: today, the day of receipt).
        #[arg(long)]
        code: String,
        /// Procedure code, e.g. 1.001193.
        #[arg(long)]
        procedure: String,
        /// Procedure name.
        #[arg(long, default_value = "")]
        procedure_name: String,
        /// Applicant's full name.
        #[arg(long)]
        applicant_name: String,
        /// Applicant's personal ID.
        #[arg(long)]
        applicant_id: String,
        /// 1 in person, 2 online, 3 postal.
        #[arg(long, default_value_t = 1)]
        channel: i32,
        /// 1 registered or 2 accepted.
        #[arg(long, default_value_t = 2)]
        status: i32,
        /// Working days until the result is due (weekends and holidays of the
        /// shipped calendar not counted); default: the procedure's limit, from the
        /// gateway's catalogue.
        #[arg(long)]
        due_in_days: Option<i64>,
    },
    /// Move a dossier to a new status.
    Update {
        /// Dossier code.
        #[arg(long)]
        code: String,
        /// The new status, 1–10.
        #[arg(long)]
        status: i32,
        /// The revision the change is made from (as last read).
        #[arg(long)]
        expected_revision: u64,
        /// The officer handling it.
        #[arg(long)]
        handler: String,
        /// A note (with --due-at: the reason given to the applicant).
        #[arg(long, default_value = "")]
        note: String,
        /// A new appointment date (RFC 3339), later than the current one; with the
        /// dossier's current status, a new date alone ("phiếu hẹn lại").
        #[arg(long, value_parser = super::parse_time)]
        due_at: Option<lienthong_proto::prost_types::Timestamp>,
    },
    /// One dossier, with its sync state toward the portal.
    Get {
        /// Dossier code.
        #[arg(long)]
        code: String,
    },
    /// Dossiers, a page at a time.
    List {
        /// Only this status.
        #[arg(long, default_value_t = 0)]
        status: i32,
        /// Only this agency (yours or one below it).
        #[arg(long, default_value = "")]
        agency_code: String,
        /// Only this procedure.
        #[arg(long, default_value = "")]
        procedure: String,
        /// Page size (at most 1000).
        #[arg(long, default_value_t = 100)]
        page_size: u32,
        /// From a previous page's next_page_token.
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// Dossiers citizens submitted on the national portal, as they arrive.
    Watch {
        /// Resume after this cursor.
        #[arg(long, default_value = "")]
        after_cursor: String,
        /// Stop after this many (0: never).
        #[arg(long, default_value_t = 0)]
        limit: usize,
    },
}

/// Makes a dossier call; the value to print.
pub async fn run(call: &DossierCall, channel: Channel) -> Result<Value, String> {
    let mut client = DossierServiceClient::new(channel);
    Ok(match call {
        DossierCall::Submit {
            code,
            procedure,
            procedure_name,
            applicant_name,
            applicant_id,
            channel,
            status,
            due_in_days,
        } => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let at = |s| {
                Some(Timestamp {
                    seconds: s,
                    nanos: 0,
                })
            };
            let dossier = Dossier {
                dossier_code: code.clone(),
                procedure_code: procedure.clone(),
                procedure_name: procedure_name.clone(),
                agency_code: code.rsplitn(3, '-').nth(2).unwrap_or_default().to_owned(),
                applicant_name: applicant_name.clone(),
                applicant_personal_id: applicant_id.clone(),
                channel: *channel,
                status: *status,
                received_at: at(now),
                // Working days, in the shipped calendar; without it, the
                // gateway computes the procedure's limit.
                due_at: due_in_days.and_then(|d| {
                    let calendar = lienthong_proto::calendar::current();
                    Some(calendar.later(at(now)?, u32::try_from(d).ok()?))
                }),
                ..Default::default()
            };
            let r = client
                .submit_dossier(SubmitDossierRequest {
                    dossier: Some(dossier),
                })
                .await
                .map_err(explain)?;
            with_request_id(dossier_json(r.get_ref()), r.metadata())
        }
        DossierCall::Update {
            code,
            status,
            expected_revision,
            handler,
            note,
            due_at,
        } => {
            let request = UpdateDossierStatusRequest {
                dossier_code: code.clone(),
                status: *status,
                expected_revision: *expected_revision,
                handler: handler.clone(),
                note: note.clone(),
                at: None,
                due_at: *due_at,
            };
            let r = client
                .update_dossier_status(request)
                .await
                .map_err(explain)?;
            with_request_id(dossier_json(r.get_ref()), r.metadata())
        }
        DossierCall::Get { code } => {
            let r = client
                .get_dossier(GetDossierRequest {
                    dossier_code: code.clone(),
                })
                .await
                .map_err(explain)?;
            with_request_id(dossier_json(r.get_ref()), r.metadata())
        }
        DossierCall::List {
            status,
            agency_code,
            procedure,
            page_size,
            page_token,
        } => {
            let request = ListDossiersRequest {
                status: *status,
                agency_code: agency_code.clone(),
                procedure_code: procedure.clone(),
                received_from: None,
                received_to: None,
                page_size: *page_size,
                page_token: page_token.clone(),
            };
            let r = client.list_dossiers(request).await.map_err(explain)?;
            let page = r.get_ref();
            json!({
                "dossiers": page.dossiers.iter().map(dossier_json).collect::<Vec<_>>(),
                "next_page_token": page.next_page_token,
            })
        }
        DossierCall::Watch {
            after_cursor,
            limit,
        } => {
            let mut stream = client
                .watch_dossiers(WatchDossiersRequest {
                    after_cursor: after_cursor.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner();
            let mut events = Vec::new();
            while *limit == 0 || events.len() < *limit {
                match stream.message().await.map_err(explain)? {
                    Some(e) => {
                        let d = e.dossier.as_ref().map(dossier_json).unwrap_or(Value::Null);
                        let event = json!({ "cursor": e.cursor, "dossier": d });
                        if *limit == 0 {
                            println!("{event}");
                        } else {
                            events.push(event);
                        }
                    }
                    None => break,
                }
            }
            json!({ "events": events })
        }
    })
}

fn dossier_json(d: &Dossier) -> Value {
    lienthong_gateway::sync::json::dossier(d)
}
