//! The workload of `lienthong bench`: the kinds of request, the mix, the citizens
//! looked up, and how each request is made.

use std::sync::atomic::{AtomicU64, Ordering};

use lienthong_proto::prost_types::FieldMask;
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::residency_service_client::ResidencyServiceClient;
use lienthong_proto::v1::{
    DossierStatus, GetCitizenRequest, GetResidenceRequest, RequestContext, SubmitDossierRequest,
    UpdateDossierStatusRequest, VerifyCitizenRequest,
};
use serde::Serialize;
use tonic::transport::Channel;

/// One kind of request in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// GetCitizen of a citizen in the hot set.
    CitizenHit,
    /// GetCitizen of a citizen never asked for before.
    CitizenMiss,
    /// GetResidence of a citizen in the hot set.
    Residence,
    /// VerifyCitizen of a citizen in the hot set.
    Verify,
    /// SubmitDossier of a new dossier.
    DossierSubmit,
    /// UpdateDossierStatus of one of this slot's dossiers (submits one if it has none).
    DossierUpdate,
}

impl Op {
    fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "citizen-hit" => Op::CitizenHit,
            "citizen-miss" => Op::CitizenMiss,
            "residence" => Op::Residence,
            "verify" => Op::Verify,
            "dossier-submit" => Op::DossierSubmit,
            "dossier-update" => Op::DossierUpdate,
            _ => return None,
        })
    }
}

/// The mix: cumulative weights.
#[derive(Debug, Clone)]
pub struct Mix(Vec<(Op, u32)>);

impl Mix {
    /// Parses `op=weight,…`.
    pub fn parse(text: &str) -> Result<Mix, String> {
        let mut total = 0;
        let mut ops = Vec::new();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (name, weight) = part.split_once('=').unwrap_or((part, "1"));
            let op = Op::parse(name.trim()).ok_or_else(|| {
                format!("--mix: unknown operation {name:?}; known: citizen-hit, citizen-miss, residence, verify, dossier-submit, dossier-update")
            })?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("--mix: weight of {name} must be a whole number"))?;
            total += weight;
            ops.push((op, total));
        }
        if total == 0 {
            return Err("--mix: no operation with a weight above 0".into());
        }
        Ok(Mix(ops))
    }

    pub(super) fn pick(&self, roll: u64) -> Op {
        let total = self.0.last().map_or(1, |(_, t)| *t);
        let r = (roll % u64::from(total)) as u32;
        self.0
            .iter()
            .find(|(_, upto)| r < *upto)
            .map_or(Op::CitizenHit, |(op, _)| *op)
    }
}

/// A tiny PRNG (xorshift64*): the mix and the hot set need spread, not secrecy.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Registered citizens of the simulator: the hot set, and a stream of new ones.
pub(super) struct Citizens {
    pub(super) hot: Vec<String>,
    fresh: AtomicU64,
}

fn registered(prefix: &str, from: u64) -> impl Iterator<Item = String> + '_ {
    (from..)
        .map_while(move |n| (n < 1_000_000).then(|| format!("{prefix}{n:06}")))
        .filter(|s| {
            lienthong_proto::PersonalId::parse(s)
                .is_ok_and(|id| lienthong_adapters::sim::citizens::is_registered(&id))
        })
}

impl Citizens {
    pub(super) fn new(hot: u32, seed: u64) -> Citizens {
        Citizens {
            hot: registered("001085", 0).take(hot.max(1) as usize).collect(),
            // Misses start somewhere new each run, so a long-lived gateway's cache
            // has not seen them.
            fresh: AtomicU64::new(seed % 1_000_000),
        }
    }

    /// A citizen not asked for in this run (nor, likely, before).
    fn fresh(&self) -> String {
        loop {
            let n = self.fresh.fetch_add(1, Ordering::Relaxed);
            let prefix = ["079195", "001190", "048088", "092193"][(n / 1_000_000 % 4) as usize];
            let id = format!("{prefix}{:06}", n % 1_000_000);
            if lienthong_proto::PersonalId::parse(&id)
                .is_ok_and(|p| lienthong_adapters::sim::citizens::is_registered(&p))
            {
                return id;
            }
        }
    }
}

/// Everything the slots share.
pub(super) struct Load {
    pub(super) mix: Mix,
    pub(super) citizens: Citizens,
    pub(super) fields: Vec<String>,
    pub(super) agency: String,
    pub(super) serial: AtomicU64,
}

fn context() -> Option<RequestContext> {
    Some(RequestContext {
        purpose: "dossier-processing".into(),
        legal_basis: "ND-47/2020".into(),
        case_ref: String::new(),
        officer_id: "bench".into(),
    })
}

/// One slot's clients on its connection.
#[derive(Clone)]
pub(super) struct Clients {
    pub(super) identity: IdentityServiceClient<Channel>,
    pub(super) residency: ResidencyServiceClient<Channel>,
    pub(super) dossiers: DossierServiceClient<Channel>,
}

/// A dossier this slot submitted: its code, revision and status.
pub(super) struct Mine {
    code: String,
    revision: u64,
    status: DossierStatus,
}

impl Load {
    fn submit(&self) -> (SubmitDossierRequest, Mine) {
        let n = self.serial.fetch_add(1, Ordering::Relaxed) % 1_000_000_000;
        let code =
            lienthong_proto::DossierCode::compose(&self.agency, lienthong_proto::today(), n as u32);
        let request = SubmitDossierRequest {
            dossier: Some(lienthong_adapters::sim::dossiers::dossier(
                &code,
                DossierStatus::Registered,
                std::time::SystemTime::now().into(),
            )),
        };
        let mine = Mine {
            code,
            revision: 1,
            status: DossierStatus::Registered,
        };
        (request, mine)
    }

    /// A lookup of `personal_id` with the field mask of `--fields`.
    pub(super) fn citizen(&self, personal_id: String) -> GetCitizenRequest {
        GetCitizenRequest {
            context: context(),
            personal_id,
            fields: (!self.fields.is_empty()).then(|| FieldMask {
                paths: self.fields.clone(),
            }),
        }
    }

    /// Sends one request of kind `op`; the status code's name, `OK` on success.
    pub(super) async fn send(
        &self,
        op: Op,
        clients: &mut Clients,
        rng: &mut Rng,
        mine: &mut Vec<Mine>,
    ) -> &'static str {
        let mut hot =
            || self.citizens.hot[(rng.next() % self.citizens.hot.len() as u64) as usize].clone();
        let code = |r: Result<(), tonic::Status>| match r {
            Ok(()) => "OK",
            Err(s) => lienthong_gateway::metrics::code_name(s.code()),
        };
        match op {
            Op::CitizenHit | Op::CitizenMiss => {
                let personal_id = if op == Op::CitizenHit {
                    hot()
                } else {
                    self.citizens.fresh()
                };
                let request = self.citizen(personal_id);
                code(clients.identity.get_citizen(request).await.map(drop))
            }
            Op::Residence => {
                let request = GetResidenceRequest {
                    context: context(),
                    personal_id: hot(),
                };
                code(clients.residency.get_residence(request).await.map(drop))
            }
            Op::Verify => {
                let request = VerifyCitizenRequest {
                    context: context(),
                    personal_id: hot(),
                    full_name: "Ngô Anh Đạt".into(),
                    birth_date: String::new(),
                };
                code(clients.identity.verify_citizen(request).await.map(drop))
            }
            Op::DossierSubmit => self.submit_one(clients, mine).await,
            Op::DossierUpdate => {
                let Some(d) = mine.pop() else {
                    return self.submit_one(clients, mine).await;
                };
                // Accepted → processing, then back and forth with supplement requests.
                let to = match d.status {
                    DossierStatus::Processing => DossierStatus::SupplementRequested,
                    DossierStatus::Registered => DossierStatus::Accepted,
                    _ => DossierStatus::Processing,
                };
                let request = UpdateDossierStatusRequest {
                    dossier_code: d.code.clone(),
                    status: to as i32,
                    expected_revision: d.revision,
                    handler: "bench".into(),
                    note: String::new(),
                    at: None,
                    due_at: None,
                };
                let answer = clients.dossiers.update_dossier_status(request).await;
                if answer.is_ok() {
                    mine.push(Mine {
                        revision: d.revision + 1,
                        status: to,
                        ..d
                    });
                }
                code(answer.map(drop))
            }
        }
    }

    async fn submit_one(&self, clients: &mut Clients, mine: &mut Vec<Mine>) -> &'static str {
        let (request, dossier) = self.submit();
        match clients.dossiers.submit_dossier(request).await {
            Ok(_) => {
                mine.push(dossier);
                "OK"
            }
            Err(s) => lienthong_gateway::metrics::code_name(s.code()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_parses_and_picks_by_weight() {
        let mix = Mix::parse("citizen-hit=3,dossier-update=1").unwrap();
        let picks: Vec<_> = (0..4).map(|r| mix.pick(r)).collect();
        assert_eq!(
            picks,
            [
                Op::CitizenHit,
                Op::CitizenHit,
                Op::CitizenHit,
                Op::DossierUpdate
            ]
        );
        assert!(
            Mix::parse("citizen=1")
                .unwrap_err()
                .contains("unknown operation")
        );
        assert!(Mix::parse("verify=0").is_err());
        assert!(Mix::parse("verify=x").is_err());
        assert_eq!(Mix::parse("verify").unwrap().pick(7), Op::Verify);
    }

    #[test]
    fn citizens_are_registered_and_misses_are_new() {
        let c = Citizens::new(5, 42);
        assert_eq!(c.hot.len(), 5);
        let a = c.fresh();
        let b = c.fresh();
        assert_ne!(a, b);
        for id in c.hot.iter().chain([&a, &b]) {
            let id = lienthong_proto::PersonalId::parse(id).unwrap();
            assert!(lienthong_adapters::sim::citizens::is_registered(&id));
        }
    }
}
