//! The portal simulator over real HTTP, spoken to in its own wire format: login
//! and sessions, batches with per-item results, create versus update, quota and
//! maintenance, its record file across restarts, and the online feed.

use std::time::Duration;

use lienthong_proto::v1::DossierStatus;
use serde_json::{Value, json};

use super::*;
use crate::portal::dvcqg::{CALL_PATH, LOGIN_PATH};
use crate::sim::Faults;
use crate::sim::gate::Credentials;

struct Client {
    http: reqwest::Client,
    url: String,
    unit: String,
    session: String,
}

impl Client {
    async fn login(url: String, unit: &str) -> Client {
        let http = crate::http::client(&url, None, Duration::from_secs(5)).unwrap();
        let dev = Credentials::default();
        let v: Value = http
            .post(format!("{url}{LOGIN_PATH}"))
            .header("dstcode", unit)
            .json(&json!({"username": dev.username, "password": dev.password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = v["session"].as_str().unwrap_or_default().to_owned();
        Client {
            http,
            url,
            unit: unit.into(),
            session,
        }
    }

    /// (HTTP status, Retry-After, the answer) of a call with `body`'s fields.
    async fn call(&self, mut body: Value) -> (u16, Option<u64>, Value) {
        body["session"] = self.session.clone().into();
        body["madonvi"] = self.unit.clone().into();
        let r = self
            .http
            .post(format!("{}{CALL_PATH}", self.url))
            .header("dstcode", &self.unit)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let wait = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse().unwrap());
        (status, wait, r.json().await.unwrap())
    }

    async fn sync(&self, updating: bool, items: &[HoSo]) -> Value {
        let updating = if updating { "True" } else { "False" };
        let body = json!({"service": "DongBoHoSoMC", "isUpdating": updating, "data": items});
        self.call(body).await.2
    }

    async fn progress(&self, items: &[TienDo]) -> Value {
        let body = json!({"service": "CapNhatTienDoHoSoMC", "data": items});
        self.call(body).await.2
    }
}

fn codes(answer: &Value) -> Vec<&str> {
    answer["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["error_code"].as_str().unwrap())
        .collect()
}

fn dossier(code: &str, status: DossierStatus) -> lienthong_proto::v1::Dossier {
    crate::sim::dossiers::dossier(code, status, crate::sim::dossiers::RECEIVED)
}

async fn start(portal: Arc<Portal>, addr: &str) -> Server {
    Server::start(
        addr.parse().unwrap(),
        Credentials::default(),
        Faults::new(Duration::ZERO, 0.0),
        portal,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn batches_answer_item_by_item_and_the_record_outlives_the_server() {
    use DossierStatus::*;
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("portal.jsonl");
    let server = start(Portal::open(&record).unwrap(), "127.0.0.1:0").await;
    let c = Client::login(server.url(), "H99").await;
    let good = dossier("H99.01-261122-0001", Accepted);
    let mut bad_month = HoSo::from(&dossier("H99.01-261322-0001", Accepted));
    bad_month.dossier_code = "H99.01-261322-0001".into();
    let mut wrong_agency = HoSo::from(&dossier("H99.01-261122-0002", Accepted));
    wrong_agency.agency_code = "H99.02".into();
    let mut due_before_receipt = HoSo::from(&dossier("H99.01-261122-0003", Accepted));
    due_before_receipt.due_at = "20261121080000".into();
    let first = c
        .sync(
            false,
            &[
                HoSo::from(&good),
                bad_month,
                wrong_agency,
                due_before_receipt,
            ],
        )
        .await;
    assert_eq!(first["error_code"], "0", "the call succeeds: {first}");
    assert_eq!(codes(&first), ["0", "400", "400", "400"], "{first}");
    // Create versus update is the caller's to know.
    let again = c.sync(false, &[HoSo::from(&good)]).await;
    assert_eq!(codes(&again), ["409"], "a create of a held dossier");
    let unknown = c
        .sync(
            true,
            &[HoSo::from(&dossier("H99.01-261122-0009", Accepted))],
        )
        .await;
    assert_eq!(codes(&unknown), ["404"], "an update of an unknown dossier");
    // Last write wins; progress is appended and what is odd is counted, not refused.
    let processing = lienthong_proto::v1::Dossier {
        status: Processing as i32,
        revision: 2,
        ..good.clone()
    };
    assert_eq!(
        codes(&c.sync(true, &[HoSo::from(&processing)]).await),
        ["0"]
    );
    let steps = [TienDo::of(&good), TienDo::of(&processing)];
    assert_eq!(codes(&c.progress(&steps).await), ["0", "0"]);
    assert_eq!(codes(&c.progress(&steps[1..]).await), ["0"]);
    assert_eq!(codes(&c.progress(&steps[..1]).await), ["0"]);
    let stats = server.portal().stats();
    assert_eq!(
        (stats.accepted, stats.duplicates, stats.out_of_order),
        (4, 1, 1),
        "a step sent again is a duplicate; going back from 4 to 2 is out of order"
    );
    assert_eq!((stats.rejected, stats.writes, stats.dossiers), (5, 2, 1));
    let held = server.portal().dossier(&good.dossier_code).unwrap();
    assert_eq!(held.status, Processing as i32);
    assert_eq!(held.field_code, "", "the client did not send it");

    // Stopped and started again from its record, it holds the same.
    let addr = server.url().trim_start_matches("http://").to_owned();
    server.stop().await.unwrap();
    let restarted = start(Portal::open(&record).unwrap(), &addr).await;
    assert_eq!(restarted.portal().dossier(&good.dossier_code), Some(held));
    assert_eq!(restarted.portal().revision(&good.dossier_code), Some(4));
    let c = Client::login(restarted.url(), "H99").await;
    let looked: Value = c
        .call(json!({"service": "TraCuuHoSo", "mahoso": good.dossier_code}))
        .await
        .2;
    assert_eq!(
        looked["result"][0]["QuaTrinhXuLy"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let none = c
        .call(json!({"service": "TraCuuHoSo", "mahoso": "H99.01-261122-0042"}))
        .await
        .2;
    assert_eq!(none["result"], json!([]));
}

#[tokio::test]
async fn sessions_expire_units_are_checked_quotas_and_maintenance_say_when() {
    let server = start(Portal::new(), "127.0.0.1:0").await;
    let portal = server.portal().clone();
    let lookup = json!({"service": "TraCuuHoSo", "mahoso": "H99.01-261122-0001"});
    let wrong = Client {
        session: String::new(),
        ..Client::login(server.url(), "H99").await
    };
    assert_eq!(wrong.call(lookup.clone()).await.2["error_code"], "401");
    let stranger = Client::login(server.url(), "not a unit").await;
    assert!(
        stranger.session.is_empty(),
        "no session without a unit code"
    );

    portal.rules().session_ttl = Duration::from_millis(150);
    let c = Client::login(server.url(), "H99").await;
    assert_eq!(c.call(lookup.clone()).await.2["error_code"], "0");
    let other_unit = Client {
        unit: "H15".into(),
        ..Client::login(server.url(), "H99").await
    };
    assert_eq!(other_unit.call(lookup.clone()).await.2["error_code"], "403");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (http, _, expired) = c.call(lookup.clone()).await;
    assert_eq!((http, expired["error_code"].as_str()), (401, Some("401")));

    portal.rules().quota = Some((2, Duration::from_secs(60)));
    let c = Client::login(server.url(), "H99").await;
    assert_eq!(c.call(lookup.clone()).await.0, 200);
    assert_eq!(c.call(lookup.clone()).await.0, 200);
    let (http, wait, refused) = c.call(lookup.clone()).await;
    assert_eq!((http, refused["error_code"].as_str()), (429, Some("429")));
    assert!(matches!(wait, Some(59..=60)), "{wait:?}");
    portal.rules().quota = None;

    portal.rules().maintenance(Duration::from_secs(5));
    let (http, wait, refused) = c.call(lookup.clone()).await;
    assert_eq!((http, refused["error_code"].as_str()), (503, Some("503")));
    assert!(matches!(wait, Some(4..=5)), "{wait:?}");
    portal.rules().maintenance_until = None;
    server.faults().set_error_rate(1.0);
    assert_eq!(c.call(lookup.clone()).await.0, 500);
    server.faults().set_error_rate(0.0);
    assert_eq!(c.call(lookup).await.0, 200);
    let stats = portal.stats();
    assert_eq!((stats.quota_refusals, stats.expired_sessions), (1, 2));
}

#[tokio::test]
async fn the_online_feed_publishes_dossiers_as_held() {
    let server = start(Portal::new(), "127.0.0.1:0").await;
    let portal = server.portal().clone();
    let made = portal.submit_online("H99.01", 3);
    portal.submit_online("H15.50", 2);
    portal.submit_online("H99.02", 2);
    for h in &made {
        assert!(DossierCode::parse(&h.dossier_code).is_ok());
        assert!(PersonalId::parse(&h.applicant_code).is_ok());
        assert_eq!((h.channel, h.status), (2, 1));
        assert_eq!(
            portal.revision(&h.dossier_code),
            Some(1),
            "its submission step"
        );
        assert!(!h.field_code.is_empty(), "the field of its procedure");
    }
    let c = Client::login(server.url(), "H99").await;
    let page = |after: &str, n: u32| json!({"service": "DanhSachHoSoTrucTuyen", "contro": after, "soluong": n});
    let first = c.call(page("", 3)).await.2;
    assert_eq!(first["result"].as_array().unwrap().len(), 3);
    assert_eq!(first["ConTiep"], true);
    let held: HoSo = serde_json::from_value(first["result"][0]["HoSo"].clone()).unwrap();
    assert_eq!(held, made[0]);
    // The gateway accepts it: the portal's record follows, and so does the feed.
    let accepted = HoSo {
        status: DossierStatus::Accepted as i32,
        ..made[0].clone()
    };
    assert_eq!(
        codes(&c.sync(true, std::slice::from_ref(&accepted)).await),
        ["0"]
    );
    let again = c.call(page("", 1)).await.2;
    assert_eq!(again["result"][0]["HoSo"]["TrangThaiHoSo"], 2);
    let cursor = first["result"][2]["ConTro"].as_str().unwrap();
    let rest = c.call(page(cursor, 10)).await.2;
    let rest = rest["result"].as_array().unwrap();
    assert_eq!(rest.len(), 2, "the H15 dossiers are not under H99");
    assert!(rest.iter().all(|i| i["HoSo"]["DonViXuLy"] == "H99.02"));
    let h15 = Client::login(server.url(), "H15.50").await;
    assert_eq!(
        h15.call(page("", 10)).await.2["result"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(c.call(page("x", 10)).await.2["error_code"], "400");
}
