//! The adapter against the portal simulator over real HTTP: what each of the
//! portal's answers becomes for the sync worker.

use std::time::Duration;

use lienthong_proto::v1::{DossierStatus, DossierStep};

use super::*;
use crate::sim::Faults;
use crate::sim::gate::Credentials;
use crate::sim::portal_api::{Portal, Server};

fn account(url: String, password: &str) -> Account {
    Account {
        base_url: url,
        username: Credentials::default().username,
        password: password.into(),
        timeout: Duration::from_secs(2),
        ca_pem: None,
        bounds: crate::http::Bounds::default(),
    }
}

/// Revision `revision` of `code`, in `status`, its step taken at second `at`.
fn revision(code: &str, revision: u64, status: DossierStatus) -> Dossier {
    use crate::sim::dossiers::{RECEIVED, dossier};
    Dossier {
        revision,
        status: status as i32,
        step: (revision > 1).then(|| DossierStep {
            handler: "Lê Thị Thu".into(),
            note: format!("bước {revision}"),
            at: Some(lienthong_proto::prost_types::Timestamp {
                seconds: RECEIVED.seconds + revision as i64 * 60,
                nanos: 0,
            }),
        }),
        ..dossier(code, DossierStatus::Accepted, RECEIVED)
    }
}

/// A portal simulator on a free port, no faults, no record.
async fn sim() -> Server {
    let listen = "127.0.0.1:0".parse().unwrap();
    let faults = Faults::new(Duration::ZERO, 0.0);
    Server::start(listen, Credentials::default(), faults, Portal::new())
        .await
        .unwrap()
}

/// The error of a one-dossier push: of the call, or of its one item.
fn failed(pushed: Result<Vec<Result<Pushed, Error>>, Error>) -> Error {
    match pushed {
        Err(e) => e,
        Ok(mut items) => items.pop().expect("one item").unwrap_err(),
    }
}

fn adapter(sim: &Server) -> Dvcqg {
    Dvcqg::new(account(sim.url(), &Credentials::default().password), "H99").unwrap()
}

#[tokio::test]
async fn create_or_update_is_decided_by_looking_up_and_redeliveries_write_nothing() {
    use DossierStatus::*;
    let sim = sim().await;
    let portal = adapter(&sim);
    let (a, b) = ("H99.01-261122-0001", "H99.01-261122-0002");
    let first = portal
        .push(&[revision(a, 1, Accepted), revision(b, 1, Accepted)])
        .await
        .unwrap();
    assert!(
        first.iter().all(|r| r.as_ref().unwrap().created),
        "{first:?}"
    );
    let second = portal
        .push(&[revision(a, 2, Processing), revision(b, 1, Accepted)])
        .await
        .unwrap();
    let second: Vec<Pushed> = second.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        second,
        [
            Pushed {
                created: false,
                duplicate: false
            },
            Pushed {
                created: false,
                duplicate: true
            },
        ],
        "an update, then a redelivery"
    );
    // A replica that fell behind sends revision 1 after 2: the portal keeps 2.
    let stale = portal.push(&[revision(a, 1, Accepted)]).await.unwrap();
    assert!(stale[0].as_ref().unwrap().duplicate);
    // A revision whose predecessor the portal lacks waits for it.
    let early = portal.push(&[revision(b, 3, Processed)]).await.unwrap();
    assert!(early[0].as_ref().unwrap_err().retryable(), "{early:?}");
    let held = sim.portal().dossier(a).unwrap();
    assert_eq!(held.status, Processing as i32);
    assert_eq!(
        (held.field_code.as_str(), held.procedure_name.as_str()),
        ("G09-TP03", "Đăng ký khai sinh"),
        "the field comes from the catalogue (LayThuTuc)"
    );
    let stats = sim.portal().stats();
    assert_eq!(
        (stats.accepted, stats.duplicates, stats.out_of_order),
        (3, 0, 0)
    );
    assert_eq!(
        (sim.portal().revision(a), sim.portal().revision(b)),
        (Some(2), Some(1))
    );
}

#[tokio::test]
async fn a_batch_partly_refused_fails_exactly_its_refused_items() {
    use DossierStatus::*;
    let sim = sim().await;
    let portal = adapter(&sim);
    let good = revision("H99.01-261122-0001", 1, Accepted);
    let mut late = revision("H99.01-261122-0002", 1, Accepted);
    // The portal refuses a due date before the receipt: for good.
    late.due_at = Some(lienthong_proto::prost_types::Timestamp {
        seconds: late.received_at.unwrap().seconds - 86_400,
        nanos: 0,
    });
    let outcomes = portal.push(&[good.clone(), late]).await.unwrap();
    assert!(outcomes[0].is_ok(), "{outcomes:?}");
    let refused = outcomes[1].as_ref().unwrap_err();
    assert!(
        matches!(refused, Error::Refused { .. }) && refused.fault() == crate::Fault::Caller,
        "{refused}"
    );
    assert_eq!(sim.portal().revision(&good.dossier_code), Some(1));
    assert_eq!(sim.portal().revision("H99.01-261122-0002"), None);
}

#[tokio::test]
async fn an_expired_session_is_renewed_and_quotas_and_maintenance_say_how_long_to_wait() {
    use DossierStatus::*;
    let sim = sim().await;
    let portal = adapter(&sim);
    let code = "H99.01-261122-0001";
    sim.portal().rules().session_ttl = Duration::from_millis(100);
    portal.push(&[revision(code, 1, Accepted)]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let renewed = portal.push(&[revision(code, 2, Processing)]).await.unwrap();
    assert!(renewed[0].is_ok(), "{renewed:?}");
    assert_eq!(sim.portal().stats().expired_sessions, 1);
    sim.portal().rules().session_ttl = Duration::from_secs(600);

    // Each delivery looks up, writes and appends its step: three calls.
    sim.portal().rules().quota = Some((4, Duration::from_secs(30)));
    let third = portal.push(&[revision(code, 3, Processed)]).await.unwrap();
    assert!(third[0].is_ok(), "{third:?}");
    let busy = failed(portal.push(&[revision(code, 4, ResultReturned)]).await);
    assert!(busy.retryable(), "{busy}");
    assert!(
        matches!(busy.retry_after(), Some(d) if d > Duration::from_secs(25)),
        "{busy:?}"
    );
    sim.portal().rules().quota = None;

    sim.portal().rules().maintenance(Duration::from_secs(3));
    let down = failed(portal.push(&[revision(code, 4, ResultReturned)]).await);
    assert!(
        matches!(down.retry_after(), Some(d) if d <= Duration::from_secs(3)),
        "{down:?}"
    );
    sim.portal().rules().maintenance_until = None;
    portal
        .push(&[revision(code, 4, ResultReturned)])
        .await
        .unwrap();
    assert_eq!(sim.portal().revision(code), Some(4));
    assert_eq!(sim.portal().stats().duplicates, 0);
}

#[tokio::test]
async fn refused_credentials_are_the_gateways_fault_and_the_feed_reads() {
    let sim = sim().await;
    let portal = Dvcqg::new(account(sim.url(), "wrong"), "H99").unwrap();
    let err = failed(
        portal
            .push(&[revision("H99.01-261122-0001", 1, DossierStatus::Accepted)])
            .await,
    );
    assert_eq!(err.fault(), crate::Fault::Gateway, "{err}");
    assert!(!err.retryable());
    assert_eq!(sim.portal().stats().writes, 0);

    sim.portal().submit_online("H99.01", 2);
    let feed = adapter(&sim).online("", 10).await.unwrap();
    assert_eq!(feed.items.len(), 2);
    assert!(!feed.more);
    sim.stop().await.unwrap();
    let down = adapter_at_gone().await;
    assert!(down.retryable(), "{down}");
}

/// A push to a port nothing listens on.
async fn adapter_at_gone() -> Error {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let portal = Dvcqg::new(account(url, "x"), "H99").unwrap();
    failed(
        portal
            .push(&[revision("H99.01-261122-0001", 1, DossierStatus::Accepted)])
            .await,
    )
}
