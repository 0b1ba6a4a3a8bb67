//! Dossier updates: how many acknowledged (durable) status updates per second the
//! gateway takes, and how fast the worker delivers them to the portal simulator;
//! on the embedded ledger, then on PostgreSQL, in one run.
//!
//! `cargo bench -p lienthong-gateway --bench dossier` (`-- --quick` for a short
//! run). The gateway runs in-process with its in-process portal simulator; clients
//! speak gRPC over mTLS on loopback. Each update is an audited call whose dossier
//! change and outbox entry commit durably before it is acknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::{DossierStatus, SubmitDossierRequest, UpdateDossierStatusRequest};
use support::{Bench, on_postgres};

mod support;

const WALK: [DossierStatus; 4] = [
    DossierStatus::Accepted,
    DossierStatus::Processing,
    DossierStatus::SupplementRequested,
    DossierStatus::Processing,
];

fn code(n: u32) -> String {
    lienthong_proto::DossierCode::compose("H99.01", lienthong_proto::today(), n)
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dossiers: u32 = if quick { 500 } else { 4000 };
    let bench = Bench::new();
    println!("dossier status updates, 64 in flight over 4 connections, {dossiers} dossiers");
    let redb = measure(&bench, bench.config("redb"), dossiers).await;
    print("redb (baseline)", redb);
    let mut config = bench.config("postgres");
    if on_postgres(&mut config).await {
        let pg = measure(&bench, config, dossiers).await;
        print("PostgreSQL", pg);
        println!(
            "{:>18}  {:>8.2}x  {:>8.2}x",
            "PostgreSQL / redb",
            pg.0 / redb.0,
            pg.1 / redb.1
        );
    }
}

fn print(name: &str, (acked, delivered): (f64, f64)) {
    println!(
        "{name:>18}  {acked:>8.0}   {delivered:>8.0}   (updates/s acknowledged; revisions/s delivered to the portal simulator, with the submissions)"
    );
}

/// Acknowledged (durable, audited) updates/s at 64 in flight, and revisions/s
/// delivered to the in-process portal simulator, on a gateway with `config`.
async fn measure(bench: &Bench, config: lienthong_gateway::Config, dossiers: u32) -> (f64, f64) {
    let in_flight = 64;
    let gw = bench.start(&config, Duration::ZERO).await;
    let channels: Vec<_> = (0..4).map(|_| bench.channel(&gw)).collect();
    let portal = gw
        .exchange()
        .simulator()
        .expect("in-process portal")
        .portal()
        .clone();

    // Submissions first (not timed), so that the timed part is status updates only.
    let next = Arc::new(AtomicU32::new(0));
    let run = |work: Arc<dyn Fn(u32) -> Vec<Request> + Send + Sync>| {
        let next = next.clone();
        let channels = channels.clone();
        async move {
            next.store(0, Ordering::SeqCst);
            let tasks: Vec<_> = (0..in_flight)
                .map(|t| {
                    let mut client =
                        DossierServiceClient::new(channels[t % channels.len()].clone());
                    let (next, work) = (next.clone(), work.clone());
                    tokio::spawn(async move {
                        let mut done = 0u32;
                        loop {
                            let n = next.fetch_add(1, Ordering::Relaxed);
                            if n >= dossiers {
                                return done;
                            }
                            for request in work(n) {
                                match request {
                                    Request::Submit(r) => {
                                        drop(client.submit_dossier(*r).await.unwrap())
                                    }
                                    Request::Update(r) => {
                                        drop(client.update_dossier_status(r).await.unwrap())
                                    }
                                }
                                done += 1;
                            }
                        }
                    })
                })
                .collect();
            let mut total = 0;
            for t in tasks {
                total += t.await.unwrap();
            }
            total
        }
    };
    run(Arc::new(|n| {
        vec![Request::Submit(Box::new(SubmitDossierRequest {
            dossier: Some(lienthong_adapters::sim::dossiers::dossier(
                &code(n),
                DossierStatus::Registered,
                std::time::SystemTime::now().into(),
            )),
        }))]
    }))
    .await;
    let started = Instant::now();
    // One task per dossier at a time: its updates go in order, 64 dossiers in flight.
    let updates = run(Arc::new(|n| {
        WALK.iter()
            .enumerate()
            .map(|(i, s)| {
                Request::Update(UpdateDossierStatusRequest {
                    dossier_code: code(n),
                    status: *s as i32,
                    expected_revision: i as u64 + 1,
                    handler: "cb-0001".into(),
                    note: String::new(),
                    at: None,
                    due_at: None,
                })
            })
            .collect()
    }))
    .await;
    let acked = started.elapsed();
    let want = u64::from(dossiers) * (WALK.len() as u64 + 1);
    while portal.stats().accepted < want {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let delivered = started.elapsed();
    gw.shutdown(Duration::from_secs(10)).await.unwrap();
    (
        f64::from(updates) / acked.as_secs_f64(),
        want as f64 / delivered.as_secs_f64(),
    )
}

/// A call to make.
enum Request {
    Submit(Box<SubmitDossierRequest>),
    Update(UpdateDossierStatusRequest),
}
