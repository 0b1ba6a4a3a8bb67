//! `IdentityService`: a citizen's identity record, or a yes/no check of claimed data.

use std::sync::Arc;

use lienthong_proto::v1::identity_service_server::IdentityService;
use lienthong_proto::v1::{
    Citizen, GetCitizenRequest, VerifyCitizenRequest, VerifyCitizenResponse,
};
use time::macros::format_description;
use tonic::{Request, Response, Status};

use super::{Ctx, Shared, fields, lookup};

/// The identity service.
pub struct Identity {
    shared: Arc<Shared>,
}

impl Identity {
    /// The service over `shared`.
    pub fn new(shared: Arc<Shared>) -> Identity {
        Identity { shared }
    }
}

/// Names compare case-insensitively, with runs of white space folded.
fn normalize_name(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[tonic::async_trait]
impl IdentityService for Identity {
    async fn get_citizen(
        &self,
        request: Request<GetCitizenRequest>,
    ) -> Result<Response<Citizen>, Status> {
        let ctx = Ctx::of(&request, &self.shared.limits, "IdentityService/GetCitizen")?;
        let req = request.into_inner();
        let result = async {
            let paths = req
                .fields
                .as_ref()
                .map(|m| m.paths.as_slice())
                .unwrap_or_default();
            let id = lookup(req.context.as_ref(), &req.personal_id, |v| {
                for (i, path) in paths.iter().enumerate() {
                    if !fields::CITIZEN.contains(&path.as_str()) {
                        v.add(
                            &format!("fields.paths[{i}]"),
                            format!(
                                "{path:?} is not a Citizen field; one of {}",
                                fields::CITIZEN.join(", ")
                            ),
                        );
                    }
                }
            })?;
            let call = ctx.call(req.context.as_ref());
            let mut citizen = ctx
                .upstream(&self.shared, self.shared.registry.citizen(&id, &call))
                .await?;
            if !paths.is_empty() {
                let keep: Vec<&str> = paths.iter().map(String::as_str).collect();
                fields::retain(&mut citizen, &keep);
            }
            Ok(citizen)
        }
        .await;
        ctx.finish(&req.personal_id, result)
    }

    async fn verify_citizen(
        &self,
        request: Request<VerifyCitizenRequest>,
    ) -> Result<Response<VerifyCitizenResponse>, Status> {
        let ctx = Ctx::of(
            &request,
            &self.shared.limits,
            "IdentityService/VerifyCitizen",
        )?;
        let req = request.into_inner();
        let result = async {
            let id = lookup(req.context.as_ref(), &req.personal_id, |v| {
                v.text("full_name", &req.full_name, 200, true);
                let iso = format_description!("[year]-[month]-[day]");
                if !req.birth_date.is_empty() && time::Date::parse(&req.birth_date, iso).is_err() {
                    v.add("birth_date", "must be a date YYYY-MM-DD");
                }
            })?;
            let call = ctx.call(req.context.as_ref());
            let citizen = ctx
                .upstream(&self.shared, self.shared.registry.citizen(&id, &call))
                .await?;
            let mut mismatched = Vec::new();
            if normalize_name(&req.full_name) != normalize_name(&citizen.full_name) {
                mismatched.push("full_name".to_owned());
            }
            if !req.birth_date.is_empty() && req.birth_date != citizen.birth_date {
                mismatched.push("birth_date".to_owned());
            }
            Ok(VerifyCitizenResponse {
                r#match: mismatched.is_empty(),
                mismatched_fields: mismatched,
            })
        }
        .await;
        ctx.finish(&req.personal_id, result)
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_name;

    #[test]
    fn names_fold_case_and_space() {
        assert_eq!(
            normalize_name("  NGUYỄN  Văn\tAn "),
            normalize_name("Nguyễn Văn An")
        );
        assert_ne!(
            normalize_name("Nguyễn Văn Ân"),
            normalize_name("Nguyễn Văn An")
        );
    }
}
