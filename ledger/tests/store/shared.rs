//! What only a store shared by several processes must do, on a real PostgreSQL:
//! replicas that start together migrate once; their writers make one chain and one
//! history of each dossier; a commit whose connection breaks is settled by what the
//! server did; a database that goes away fails requests and is used again by itself
//! when it returns.

use std::time::Duration;

use lienthong_ledger::postgres::{Options, Postgres};
use lienthong_testdb::{Cluster, Cut, Proxy};

use super::*;

fn options(url: &str) -> Options {
    Options {
        url: url.to_owned(),
        password: None,
        pool_size: 8,
        statement_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_that_start_together_migrate_once() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let url = cluster.database().await;
    let opens: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Postgres::open(&options(&url)).await.map(|_| ()) })
        })
        .collect();
    for open in opens {
        open.await.unwrap().unwrap();
    }
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM lienthong.migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1, 2, 3, 4, 5], "each applied once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_write_one_chain_and_one_history_per_dossier() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let url = cluster.database().await;
    let stores: Vec<Arc<dyn Store>> = vec![
        Postgres::open(&options(&url)).await.unwrap(),
        Postgres::open(&options(&url)).await.unwrap(),
    ];
    let writers: Vec<Arc<Writer>> = stores.iter().map(|s| Arc::new(writer(s, 50))).collect();
    let code = "H99.01-261122-0001";
    apply(&writers[0], submit(code, DossierStatus::Accepted))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for (i, w) in writers.iter().enumerate() {
        for n in 0..150u64 {
            let w = w.clone();
            tasks.push(tokio::spawn(async move {
                w.append(Some(record(i as u64 * 1000 + n)), None)
                    .await
                    .unwrap()
                    .seq
            }));
        }
        // Both replicas move the same dossier from revision 1: one wins.
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let change = update(code, DossierStatus::Processing, 1);
            u64::from(apply(&w, change).await.is_ok())
        }));
    }
    let mut seqs = Vec::new();
    let mut wins = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let v = t.await.unwrap();
        if i % 151 == 150 {
            wins += v;
        } else {
            seqs.push(v);
        }
    }
    assert_eq!(wins, 1, "one of two changes from revision 1 wins");
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=300).collect::<Vec<_>>(), "one chain, no gap");
    let walked = items(&stores[1], 0, 0).await;
    assert_eq!(record_seqs(&walked), (1..=300).collect::<Vec<_>>());
    let d = stores[1].dossier(code).await.unwrap().unwrap();
    assert_eq!(d.revision, 2);
    let revisions: Vec<u64> = stores[0]
        .outbox(0, 10)
        .await
        .unwrap()
        .iter()
        .map(Entry::revision)
        .collect();
    assert_eq!(revisions, [1, 2]);
    for w in writers {
        w.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_cut_off_is_settled_by_what_the_server_did() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let url = cluster.database().await;
    let proxy = Proxy::start(([127, 0, 0, 1], cluster.port()).into()).await;
    let through = url.replace(
        &format!(":{}/", cluster.port()),
        &format!(":{}/", proxy.addr().port()),
    );
    let store: Arc<dyn Store> = Postgres::open(&options(&through)).await.unwrap();
    let w = writer(&store, 1000);
    assert_eq!(w.append(Some(record(1)), None).await.unwrap().seq, 1);

    // The server commits; the answer is lost on the way. The writer asks the
    // server, learns it committed, and acknowledges: once, not twice.
    proxy.arm(Cut::AfterCommit);
    let seq = w.append(Some(record(2)), None).await.unwrap().seq;
    assert_eq!((seq, proxy.cuts()), (2, 1));

    // The COMMIT never reaches the server: the transaction is lost, the request is
    // refused, and the number is not used.
    proxy.arm(Cut::BeforeCommit);
    let refused = w.append(Some(record(3)), None).await.unwrap_err();
    assert!(matches!(refused, Error::Unavailable(_)), "{refused:?}");
    assert_eq!(proxy.cuts(), 2);
    assert_eq!(w.append(Some(record(4)), None).await.unwrap().seq, 3);

    let ids: Vec<String> = items(&store, 0, 0)
        .await
        .iter()
        .filter_map(|i| match i {
            Item::Record(r) => Some(r.request_id.clone()),
            Item::Checkpoint(_) => None,
        })
        .collect();
    assert_eq!(ids, ["req-1", "req-2", "req-4"]);
    w.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_is_used_again_when_it_returns() {
    let Some(cluster) = Cluster::own("") else {
        return;
    };
    let url = cluster.database().await;
    let store: Arc<dyn Store> = Postgres::open(&options(&url)).await.unwrap();
    let w = writer(&store, 1000);
    let mut events = store.events();
    assert_eq!(w.append(Some(record(1)), None).await.unwrap().seq, 1);

    cluster.kill();
    let started = std::time::Instant::now();
    let refused = w.append(Some(record(2)), None).await.unwrap_err();
    assert!(matches!(refused, Error::Unavailable(_)), "{refused:?}");
    assert!(store.ping().await.is_err());
    assert!(store.dossier("H99.01-261122-0001").await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "refused in {:?}",
        started.elapsed()
    );

    cluster.start();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let seq = loop {
        match w.append(Some(record(3)), None).await {
            Ok(a) => break a.seq,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "not back: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(seq, 2, "the refused record took no number");
    store.ping().await.unwrap();
    // The listener is back too: a purge announced now is heard.
    store
        .announce(lienthong_ledger::Event::Purge("x".into()))
        .await
        .unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.recv().await {
                Ok(lienthong_ledger::Event::Purge(id)) if id == "x" => break,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    assert!(heard.is_ok(), "no purge heard after the database came back");
    w.close().await;
}

/// Everything an embedded ledger holds, copied as it is; the copy carries on
/// (numbers continue, nothing given twice); a second import is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_ledger_moves_into_postgres_whole() {
    use DossierStatus::*;
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let embedded: Arc<dyn Store> = Embedded::in_dir(dir.path()).unwrap();
    let w = writer(&embedded, 7);
    for n in 0..2500 {
        w.append(Some(record(n)), None).await.unwrap();
    }
    let codes: Vec<String> = (1..=4).map(|i| format!("H99.01-261122-{i:04}")).collect();
    for code in &codes {
        apply(&w, submit(code, Registered)).await.unwrap();
        apply(&w, update(code, Accepted, 1)).await.unwrap();
    }
    let first = embedded.outbox(0, 1).await.unwrap().remove(0);
    let dead = Outcome::Dead {
        reason: "MaKetQua 422: test".into(),
    };
    w.deliver(first, dead).await.unwrap();
    let second = embedded.outbox(0, 10).await.unwrap().remove(2);
    w.deliver(second, Outcome::Delivered).await.unwrap();
    let online = vec![dossier("H99.01-261122-0100", Registered)];
    embedded.store_inbound(&online, "c7").await.unwrap();
    w.close().await;

    let url = cluster.database().await;
    let pg = Postgres::open(&options(&url)).await.unwrap();
    let imported = pg.import(&*embedded).await.unwrap();
    assert_eq!(
        (
            imported.records,
            imported.dossiers,
            imported.dead,
            imported.inbound
        ),
        (2500, 4, 1, 1),
        "{imported:?}"
    );
    let store: Arc<dyn Store> = pg.clone();
    assert_eq!(items(&store, 0, 0).await, items(&embedded, 0, 0).await);
    assert_eq!(
        store.audit_head().await.unwrap(),
        embedded.audit_head().await.unwrap()
    );
    assert_eq!(
        store.outbox(0, 100).await.unwrap(),
        embedded.outbox(0, 100).await.unwrap()
    );
    assert_eq!(
        store.dead_letters().await.unwrap(),
        embedded.dead_letters().await.unwrap()
    );
    for code in &codes {
        assert_eq!(
            store.dossier(code).await.unwrap(),
            embedded.dossier(code).await.unwrap()
        );
    }
    assert_eq!(
        store.inbound(0, 10).await.unwrap(),
        embedded.inbound(0, 10).await.unwrap()
    );
    assert_eq!(store.inbound_cursor().await.unwrap(), "c7");

    // It carries on where the embedded ledger stopped.
    let w = writer(&store, 7);
    let seq = w.append(Some(record(9999)), None).await.unwrap().seq;
    assert_eq!(seq, embedded.audit_head().await.unwrap().seq + 1);
    let highest = embedded
        .outbox(0, 100)
        .await
        .unwrap()
        .iter()
        .chain(
            embedded
                .dead_letters()
                .await
                .unwrap()
                .iter()
                .map(|(e, _)| e),
        )
        .map(|e| e.seq)
        .max()
        .unwrap();
    apply(&w, update(&codes[3], Processing, 2)).await.unwrap();
    let newest = store.outbox(0, 100).await.unwrap().last().unwrap().seq;
    assert!(newest > highest, "{newest} after {highest}");
    w.close().await;

    let again = pg.import(&*embedded).await.unwrap_err();
    assert!(matches!(again, Error::Refused(_)), "{again:?}");
}

/// Announced purges are kept for replicas that reconnect, not for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purges_older_than_a_week_are_let_go() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let url = cluster.database().await;
    let store: Arc<dyn Store> = Postgres::open(&options(&url)).await.unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let old_micros = lienthong_ledger::now_micros() - 8 * 24 * 3600 * 1_000_000;
    client
        .execute(
            "INSERT INTO lienthong.cache_purges (personal_id, at_micros) VALUES ('001085000001', $1)",
            &[&old_micros],
        )
        .await
        .unwrap();
    let count = || async {
        client
            .query_one("SELECT count(*) FROM lienthong.cache_purges", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    assert_eq!(count().await, 1);
    store
        .announce(lienthong_ledger::Event::Purge("001085000002".into()))
        .await
        .unwrap();
    assert_eq!(
        count().await,
        1,
        "the week-old purge went, the new one stays"
    );
}
