//! `IdentityService`: a citizen's identity record, or a yes/no check of claimed data.

use std::sync::Arc;

use lienthong_proto::text;
use lienthong_proto::v1::identity_service_server::IdentityService;
use lienthong_proto::v1::{
    Citizen, GetCitizenRequest, VerifyCitizenRequest, VerifyCitizenResponse,
};
use time::macros::format_description;
use tonic::{Request, Response, Status};

use super::{Ctx, Shared, Trail, detached, fields, in_nfc, lookup};
use crate::policy::{Operation, Record};

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

#[tonic::async_trait]
impl IdentityService for Identity {
    async fn get_citizen(
        &self,
        request: Request<GetCitizenRequest>,
    ) -> Result<Response<Citizen>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::GetCitizen)?;
            let req = in_nfc(request);
            let mut trail = Trail::new(&req.personal_id, req.context.as_ref());
            let result = async {
                let paths = req
                    .fields
                    .as_ref()
                    .map(|m| m.paths.as_slice())
                    .unwrap_or_default();
                let id = lookup(req.context.as_ref(), &req.personal_id, |v| {
                    // Counted before any path is looked at: a mask cannot name more
                    // fields than a Citizen has.
                    if paths.len() > fields::CITIZEN.len() {
                        v.add(
                            "fields.paths",
                            format!(
                                "names {} paths; a Citizen has {} fields, each named at most once",
                                paths.len(),
                                fields::CITIZEN.len()
                            ),
                        );
                        return;
                    }
                    for (i, path) in paths.iter().enumerate() {
                        if !fields::CITIZEN.contains(&path.as_str()) {
                            v.add(
                                &format!("fields.paths[{i}]"),
                                format!(
                                    "{:?} is not a Citizen field; one of {}",
                                    lienthong_proto::text::shown(path, 64),
                                    fields::CITIZEN.join(", ")
                                ),
                            );
                        }
                    }
                })?;
                let requested: Vec<&str> = paths.iter().map(String::as_str).collect();
                let keep = ctx
                    .allow(&shared.policy.get(), req.context.as_ref())?
                    .narrow(Record::Citizen, &requested)?;
                // Built only if the cache cannot answer.
                let fetch = async {
                    let call = ctx.call(req.context.as_ref());
                    ctx.upstream(shared, shared.registry.citizen(&id, &call))
                        .await
                };
                let (mut citizen, served) = shared
                    .cache
                    .get(Record::Citizen, &req.personal_id, ctx.agency(), fetch)
                    .await?;
                trail.cache = served;
                fields::citizen(&mut citizen, keep);
                trail.released = keep;
                Ok(citizen)
            }
            .await;
            ctx.finish(shared, trail, result).await
        })
        .await
    }

    async fn verify_citizen(
        &self,
        request: Request<VerifyCitizenRequest>,
    ) -> Result<Response<VerifyCitizenResponse>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::VerifyCitizen)?;
            let req = in_nfc(request);
            let mut trail = Trail::new(&req.personal_id, req.context.as_ref());
            let result = async {
                let id = lookup(req.context.as_ref(), &req.personal_id, |v| {
                    v.text("full_name", &req.full_name, 200, true);
                    let iso = format_description!("[year]-[month]-[day]");
                    if !req.birth_date.is_empty()
                        && time::Date::parse(&req.birth_date, iso).is_err()
                    {
                        v.add("birth_date", "must be a date YYYY-MM-DD");
                    }
                })?;
                // Only what the agency could read may be compared: a yes/no answer
                // about a field reveals something about it.
                let claimed: &[&str] = if req.birth_date.is_empty() {
                    &["full_name"]
                } else {
                    &["full_name", "birth_date"]
                };
                let compared = ctx
                    .allow(&shared.policy.get(), req.context.as_ref())?
                    .narrow(Record::Citizen, claimed)?;
                // Built only if the cache cannot answer.
                let fetch = async {
                    let call = ctx.call(req.context.as_ref());
                    ctx.upstream(shared, shared.registry.citizen(&id, &call))
                        .await
                };
                let (citizen, served) = shared
                    .cache
                    .get::<lienthong_proto::v1::Citizen, _>(
                        Record::Citizen,
                        &req.personal_id,
                        ctx.agency(),
                        fetch,
                    )
                    .await?;
                trail.cache = served;
                let mut mismatched = Vec::new();
                if text::folded(&req.full_name) != text::folded(&citizen.full_name) {
                    mismatched.push("full_name".to_owned());
                }
                if !req.birth_date.is_empty() && req.birth_date != citizen.birth_date {
                    mismatched.push("birth_date".to_owned());
                }
                trail.released = compared;
                Ok(VerifyCitizenResponse {
                    r#match: mismatched.is_empty(),
                    mismatched_fields: mismatched,
                })
            }
            .await;
            ctx.finish(shared, trail, result).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use lienthong_proto::text::folded;

    #[test]
    fn names_fold_case_space_and_form() {
        assert_eq!(folded("  NGUYỄN  Văn\tAn "), folded("Nguyễn Văn An"));
        // NFD, and a precomposed vowel with a combining tone (tổ hợp), alike.
        assert_eq!(
            folded("Nguye\u{302}\u{303}n Va\u{306}n An"),
            folded("Nguyễn Văn An")
        );
        assert_eq!(folded("Nguyê\u{303}n ĐẠT"), folded("nguyễn đạt"));
        assert_ne!(folded("Nguyễn Văn Ân"), folded("Nguyễn Văn An"));
    }
}
