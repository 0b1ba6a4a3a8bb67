//! Work shared between processes, as every store must do it: outbox claims by
//! dossier with leases, single-holder leases, events to every subscriber.

use std::time::Duration;

use lienthong_ledger::Event;

use super::*;

const LONG: Duration = Duration::from_secs(60);

fn codes(entries: &[Entry]) -> Vec<(String, u64)> {
    entries
        .iter()
        .map(|e| (e.code()[e.code().len() - 4..].to_owned(), e.revision()))
        .collect()
}

fn pair(code: &str, revision: u64) -> (String, u64) {
    (code.to_owned(), revision)
}

pub async fn claims_give_each_dossier_to_one_owner_until_its_lease_runs_out(b: &dyn Backend) {
    use DossierStatus::*;
    let store = b.open().await;
    let w = writer(&store, 1000);
    let code = |n: u32| format!("H99.01-261122-{n:04}");
    for n in 1..=4 {
        apply(&w, submit(&code(n), Accepted)).await.unwrap();
    }
    apply(&w, update(&code(1), Processing, 1)).await.unwrap();
    // The oldest first; one head per dossier, however many revisions wait.
    let r1 = store.claim("r1", LONG, 2).await.unwrap();
    assert_eq!(codes(&r1), [pair("0001", 1), pair("0002", 1)]);
    let r2 = store.claim("r2", LONG, 10).await.unwrap();
    assert_eq!(codes(&r2), [pair("0003", 1), pair("0004", 1)]);
    assert!(store.claim("r3", LONG, 10).await.unwrap().is_empty());
    // A renewal keeps what it holds; a delivery brings the next revision forward.
    w.deliver(r1[0].clone(), Outcome::Delivered).await.unwrap();
    let r1 = store.claim("r1", LONG, 2).await.unwrap();
    assert_eq!(codes(&r1), [pair("0002", 1), pair("0001", 2)]);
    // Delivered to the end, a dossier is let go of, and no longer counts against
    // the limit; a dead letter holds one back.
    w.deliver(r1[1].clone(), Outcome::Delivered).await.unwrap();
    apply(&w, submit(&code(5), Accepted)).await.unwrap();
    let r1 = store.claim("r1", LONG, 2).await.unwrap();
    assert_eq!(codes(&r1), [pair("0002", 1), pair("0005", 1)]);
    w.deliver(
        r1[0].clone(),
        Outcome::Dead {
            reason: "refused".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        codes(&store.claim("r1", LONG, 2).await.unwrap()),
        [pair("0005", 1)]
    );
    w.deliver(r1[1].clone(), Outcome::Delivered).await.unwrap();
    assert!(store.claim("r1", LONG, 2).await.unwrap().is_empty());
    apply(&w, submit(&code(6), Accepted)).await.unwrap();
    assert_eq!(
        codes(&store.claim("r1", LONG, 2).await.unwrap()),
        [pair("0006", 1)]
    );
    // A clean stop lets go at once; a lease that runs out lets go by itself.
    store.release("r2").await.unwrap();
    let short = Duration::from_millis(500);
    assert_eq!(
        codes(&store.claim("r3", short, 10).await.unwrap()),
        [pair("0003", 1), pair("0004", 1)]
    );
    assert!(store.claim("r4", LONG, 10).await.unwrap().is_empty());
    tokio::time::sleep(short + Duration::from_millis(200)).await;
    assert_eq!(
        codes(&store.claim("r4", LONG, 10).await.unwrap()),
        [pair("0003", 1), pair("0004", 1)]
    );
    // What r3 thought it held is gone: it gets nothing back.
    assert!(store.claim("r3", LONG, 10).await.unwrap().is_empty());
    w.close().await;
}

pub async fn leases_have_one_holder_at_a_time(b: &dyn Backend) {
    let store = b.open().await;
    assert!(store.lease("poller", "a", LONG).await.unwrap());
    assert!(!store.lease("poller", "b", LONG).await.unwrap());
    assert!(store.lease("poller", "a", LONG).await.unwrap(), "renewed");
    assert!(
        store.lease("other", "b", LONG).await.unwrap(),
        "another name"
    );
    store.release("a").await.unwrap();
    assert!(
        store
            .lease("poller", "b", Duration::from_millis(1))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(store.lease("poller", "a", LONG).await.unwrap(), "expired");
}

pub async fn events_reach_every_subscriber(b: &dyn Backend) {
    let store = b.open().await;
    let mut first = store.events();
    let mut second = store.events();
    // The next event `wanted` takes: a listener that (re)connects announces the
    // head it finds, so an inbound head may come more than once.
    let next = |rx: &mut tokio::sync::broadcast::Receiver<Event>, wanted: fn(&Event) -> bool| {
        let mut rx = rx.resubscribe();
        async move {
            loop {
                let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                    .await
                    .expect("an event within 10 s")
                    .unwrap();
                if wanted(&event) {
                    return event;
                }
            }
        }
    };
    let stored = |e: &Event| *e == Event::Inbound(1);
    let (a, c) = (next(&mut first, stored), next(&mut second, stored));
    let page = [dossier("H99.01-261122-0001", DossierStatus::Registered)];
    store.store_inbound(&page, "c1").await.unwrap();
    assert_eq!(a.await, Event::Inbound(1));
    assert_eq!(c.await, Event::Inbound(1));
    let a = next(&mut first, |e| matches!(e, Event::Purge(_)));
    store
        .announce(Event::Purge("001085012345".into()))
        .await
        .unwrap();
    assert_eq!(a.await, Event::Purge("001085012345".into()));
}
