//! The dossiers' report fields: kept by month of receipt, rewritten with every
//! change and delivery, free of the applicant, and left as they were when the
//! dossier is archived.

use lienthong_ledger::dossier;
use lienthong_proto::Month;

use super::*;

/// Every fact of `month`, in code order.
pub async fn all_facts(store: &Arc<dyn Store>, month: Month) -> Vec<Dossier> {
    let mut out = Vec::new();
    let seen = store
        .dossier_facts(month, &mut |d| out.push(d))
        .await
        .unwrap();
    assert_eq!(seen, out.len() as u64);
    out.sort_by(|a, b| a.dossier_code.cmp(&b.dossier_code));
    out
}

pub async fn facts_follow_each_dossier_by_its_month_and_outlive_its_archiving(b: &dyn Backend) {
    use DossierStatus::*;
    let store = b.open().await;
    let w = writer(&store, 1000);
    let november = Month::parse("2026-11").unwrap();
    let codes = [
        "H99.01-261122-0001",
        "H99.01-261122-0002",
        "H99.02-261122-0003",
    ];
    for code in codes {
        apply(&w, submit(code, Accepted)).await.unwrap();
    }
    // Received at 00:30 on 1 December in Vietnam: December's, though still
    // November in UTC.
    let mut december = dossier("H99.01-261201-0001", Accepted);
    december.received_at = Some(Timestamp {
        seconds: Month::parse("2026-12").unwrap().start() + 1800,
        nanos: 0,
    });
    apply(&w, Change::Submit(Box::new(december))).await.unwrap();

    let facts = all_facts(&store, november).await;
    let listed: Vec<&str> = facts.iter().map(|d| d.dossier_code.as_str()).collect();
    assert_eq!(listed, codes, "November's, and only those");
    let december = all_facts(&store, Month::parse("2026-12").unwrap()).await;
    assert_eq!(december.len(), 1);
    let first = &facts[0];
    assert!(first.applicant_name.is_empty() && first.applicant_personal_id.is_empty());
    assert_eq!(
        (first.procedure_code.as_str(), first.agency_code.as_str()),
        ("1.001193", "H99.01")
    );
    let pending = first.sync.as_ref().and_then(|s| s.pending_since);
    assert!(pending.is_some(), "a new dossier is not at the portal yet");

    // Delivered: the portal has it, so nothing is pending.
    let entry = store.outbox(0, 1).await.unwrap().remove(0);
    w.deliver(entry, Outcome::Delivered).await.unwrap();
    let first = all_facts(&store, november).await.remove(0);
    let sync = first.sync.unwrap();
    assert_eq!(
        (sync.last_delivered_revision, sync.pending_since),
        (1, None)
    );

    // Resolved, delivered and archived: the stub forgets the channel and the dates,
    // the facts do not.
    let code = codes[0];
    apply(&w, update(code, Processed, 1)).await.unwrap();
    let closed = apply(&w, update(code, ResultReturned, 2)).await.unwrap();
    let sync = closed.sync.as_ref().unwrap();
    assert!(sync.pending_since.is_some(), "the portal is behind again");
    for entry in store.outbox(0, 10).await.unwrap() {
        if entry.code() == code {
            w.deliver(entry, Outcome::Delivered).await.unwrap();
        }
    }
    let before = all_facts(&store, november).await.remove(0);
    assert_eq!(before.revision, 3);
    assert!(before.completed_at.is_some() && before.returned_at.is_some());
    let current = store.dossier(code).await.unwrap().unwrap();
    let stub = Dossier {
        dossier_code: code.into(),
        agency_code: current.agency_code.clone(),
        procedure_code: current.procedure_code.clone(),
        status: current.status,
        received_at: current.received_at,
        revision: current.revision,
        sync: current.sync.clone(),
        archived_in: "dossiers-0001.pb".into(),
        ..Dossier::default()
    };
    assert_eq!(store.retire_dossiers(&[stub]).await.unwrap(), 1);
    assert_eq!(all_facts(&store, november).await[0], before);
    assert_eq!(
        dossier::facts(&current),
        before,
        "the facts are the dossier's, stripped"
    );
    w.close().await;
    drop(store);
    let store = b.open().await;
    assert_eq!(all_facts(&store, november).await.len(), 3, "durable");
}

/// A ledger written before the facts were kept: one dossier submitted, then its
/// facts taken away by `forget` (below the store).
pub async fn facts_are_built_for_a_ledger_from_before_them(
    b: &dyn Backend,
    forget: impl AsyncFnOnce(),
) {
    let store = b.open().await;
    let w = writer(&store, 1000);
    apply(&w, submit("H99.01-261122-0001", DossierStatus::Accepted))
        .await
        .unwrap();
    w.close().await;
    drop((w, store));
    forget().await;
    let store = b.open().await;
    let facts = all_facts(&store, Month::parse("2026-11").unwrap()).await;
    assert_eq!(facts.len(), 1, "built when the ledger is opened");
    assert_eq!(facts[0].revision, 1);
}
