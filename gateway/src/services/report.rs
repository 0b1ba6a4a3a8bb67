//! `ReportService`: the QĐ 766 indicators ([`crate::report`]) for those who follow
//! the province's service quality. Role `reporter`; every call is audited.

use std::sync::Arc;

use lienthong_proto::v1::report_service_server::ReportService;
use lienthong_proto::v1::{GetIndicatorsRequest, Indicators};
use lienthong_proto::{AgencyCode, Month};
use tonic::{Request, Response, Status};

use super::{Ctx, Shared, Trail, Violations, detached};
use crate::policy::{Operation, Role};

/// The report service.
pub struct Reports {
    shared: Arc<Shared>,
}

impl Reports {
    /// The service over `shared`.
    pub fn new(shared: Arc<Shared>) -> Reports {
        Reports { shared }
    }
}

#[tonic::async_trait]
impl ReportService for Reports {
    async fn get_indicators(
        &self,
        request: Request<GetIndicatorsRequest>,
    ) -> Result<Response<Indicators>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::GetIndicators)?;
            let req = request.into_inner();
            // The record says which month and agency were reported on.
            let mut trail = Trail::new("", None);
            trail.context.case_ref = format!("{} {}", req.month, req.agency_code)
                .trim()
                .chars()
                .take(200)
                .collect();
            let result = async {
                let mut v = Violations::default();
                let month = Month::parse(&req.month);
                match &month {
                    Err(_) if req.month.is_empty() => v.add(
                        "month",
                        "is required: the month of receipt, YYYY-MM (e.g. 2026-11)",
                    ),
                    Err(e) => v.add("month", e.clone()),
                    Ok(_) => {}
                }
                let agency = match req.agency_code.as_str() {
                    "" => Ok(String::new()),
                    code => AgencyCode::parse(code).map(|c| c.as_str().to_owned()),
                };
                if let Err(e) = &agency {
                    v.add("agency_code", format!("is not an agency code: {e}"));
                }
                v.finish()?;
                ctx.require(&shared.policy.get(), Role::Reporter)?;
                let (Ok(month), Ok(agency)) = (month, agency) else {
                    unreachable!("both were checked above");
                };
                let now = crate::clock::now_micros() / 1_000_000;
                crate::report::indicators(&*shared.dossiers.store, month, &agency, now)
                    .await
                    .map_err(crate::Error::ledger)
            }
            .await;
            ctx.finish(shared, trail, result).await
        })
        .await
    }
}
