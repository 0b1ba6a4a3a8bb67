//! The portal simulator over real HTTP: ordering, duplicates, refusals, its record
//! file across restarts, and the online feed.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::sim::Faults;
use crate::sim::gate::Credentials;

struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Client {
    async fn login(url: String) -> Client {
        let http = crate::http::client(&url, None, Duration::from_secs(5)).unwrap();
        let dev = Credentials::default();
        let v: Value = http
            .post(format!("{url}/api/dvcqg/xacthuc"))
            .json(&json!({"TenDangNhap": dev.username, "MatKhau": dev.password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = v["DuLieu"]["MaTruyCap"].as_str().unwrap().to_owned();
        Client { http, url, token }
    }

    /// (HTTP status, MaKetQua, DuLieu) of a sync call.
    async fn sync(&self, h: &HoSo) -> (u16, i64, Value) {
        let r = self
            .http
            .post(format!("{}/api/dvcqg/hoso/dongbo", self.url))
            .bearer_auth(&self.token)
            .json(h)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        (status, v["MaKetQua"].as_i64().unwrap(), v["DuLieu"].clone())
    }

    async fn feed(&self, unit: &str, after: &str, limit: usize) -> DanhSachTrucTuyen {
        let v: Value = self
            .http
            .get(format!("{}/api/dvcqg/hoso/tructuyen", self.url))
            .query(&[
                ("MaDonVi", unit),
                ("SauConTro", after),
                ("SoLuong", &limit.to_string()),
            ])
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        serde_json::from_value(v["DuLieu"].clone()).unwrap()
    }
}

fn revision(code: &str, revision: u64, status: DossierStatus) -> HoSo {
    HoSo {
        due_at: "20261202170000".into(),
        revision,
        ..HoSo::from(&crate::sim::dossiers::dossier(
            code,
            status,
            crate::sim::dossiers::RECEIVED,
        ))
    }
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
async fn revisions_are_kept_in_order_duplicates_counted_illegal_changes_refused() {
    use DossierStatus::*;
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("portal.jsonl");
    let server = start(Portal::open(&record).unwrap(), "127.0.0.1:0").await;
    let c = Client::login(server.url()).await;
    let code = "H99.01-261122-0001";
    assert_eq!(c.sync(&revision(code, 1, Accepted)).await.1, 0);
    let (http, result, data) = c.sync(&revision(code, 1, Accepted)).await;
    assert_eq!(
        (http, result, data["TrungLap"].as_bool()),
        (200, 0, Some(true)),
        "a redelivery"
    );
    let (http, result, _) = c.sync(&revision(code, 3, Processed)).await;
    assert_eq!(
        (http, result),
        (409, i64::from(OUT_OF_ORDER)),
        "skips revision 2"
    );
    assert_eq!(c.sync(&revision(code, 2, Processing)).await.1, 0);
    assert_eq!(c.sync(&revision(code, 3, Processed)).await.1, 0);
    let (http, result, _) = c.sync(&revision(code, 4, Processing)).await;
    assert_eq!(
        (http, result),
        (422, i64::from(UNPROCESSABLE)),
        "processed cannot go back"
    );
    let (http, _, _) = c.sync(&revision("H99.01-261322-0001", 1, Accepted)).await;
    assert_eq!(http, 400, "month 13");
    let mut wrong_agency = revision("H99.01-261122-0002", 1, Accepted);
    wrong_agency.agency_code = "H99.02".into();
    assert_eq!(c.sync(&wrong_agency).await.0, 400);
    let stats = server.portal().stats();
    assert_eq!(
        (
            stats.accepted,
            stats.duplicates,
            stats.out_of_order,
            stats.rejected,
            stats.dossiers
        ),
        (3, 1, 1, 1, 1)
    );
    // The record holds the accepted revisions, in order.
    let lines: Vec<HoSo> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.iter().map(|h| h.revision).collect::<Vec<_>>(),
        [1, 2, 3]
    );

    // Stopped and started again from its record, it remembers.
    let addr = server.url().trim_start_matches("http://").to_owned();
    server.stop().await.unwrap();
    let again = start(Portal::open(&record).unwrap(), &addr).await;
    let c = Client::login(again.url()).await;
    let (_, _, data) = c.sync(&revision(code, 3, Processed)).await;
    assert_eq!(data["TrungLap"].as_bool(), Some(true));
    assert_eq!(c.sync(&revision(code, 4, ResultReturned)).await.1, 0);
    assert_eq!(again.portal().revision(code), Some(4));
}

#[tokio::test]
async fn faults_and_tokens() {
    let server = start(Portal::new(), "127.0.0.1:0").await;
    let c = Client::login(server.url()).await;
    server.faults().set_error_rate(1.0);
    let (http, result, _) = c
        .sync(&revision("H99.01-261122-0001", 1, DossierStatus::Accepted))
        .await;
    assert_eq!((http, result), (500, i64::from(schema::SYSTEM_ERROR)));
    server.faults().set_error_rate(0.0);
    let stranger = Client {
        token: "forged".into(),
        ..Client::login(server.url()).await
    };
    let (http, _, _) = stranger
        .sync(&revision("H99.01-261122-0001", 1, DossierStatus::Accepted))
        .await;
    assert_eq!(http, 401);
    assert_eq!(server.portal().stats().accepted, 0);
}

#[tokio::test]
async fn the_online_feed_pages_by_cursor_and_unit() {
    let server = start(Portal::new(), "127.0.0.1:0").await;
    let portal = server.portal().clone();
    let made = portal.submit_online("H99.01", 3);
    portal.submit_online("H15.50", 2);
    portal.submit_online("H99.02", 2);
    for h in &made {
        assert!(
            DossierCode::parse(&h.dossier_code).is_ok(),
            "{}",
            h.dossier_code
        );
        assert!(PersonalId::parse(&h.applicant_personal_id).is_ok());
        assert!(!h.applicant_name.is_empty());
        assert_eq!((h.channel, h.status, h.revision), (2, 1, 1));
    }
    let c = Client::login(server.url()).await;
    let first = c.feed("H99", "", 3).await;
    assert_eq!(first.items.len(), 3);
    assert!(first.more);
    assert_eq!(first.items[0].dossier, made[0]);
    let rest = c.feed("H99", &first.items[2].cursor, 10).await;
    assert_eq!(rest.items.len(), 2, "the H15 dossiers are not under H99");
    assert!(rest.items.iter().all(|i| i.dossier.agency_code == "H99.02"));
    assert!(!rest.more);
    let none = c.feed("H99", &rest.items[1].cursor, 10).await;
    assert!(none.items.is_empty());
    assert_eq!(c.feed("H15.50", "", 10).await.items.len(), 2);
}
