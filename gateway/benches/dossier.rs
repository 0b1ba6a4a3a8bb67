//! Dossier updates: how many acknowledged (durable) status updates per second the
//! gateway takes, and how fast the worker delivers them to the portal simulator.
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
use support::Bench;

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
    let in_flight = 64;
    let bench = Bench::new();
    let gw = bench.start(&bench.config("data"), Duration::ZERO).await;
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
    println!(
        "dossier status updates, {in_flight} in flight over 4 connections, {dossiers} dossiers"
    );
    println!(
        "  acknowledged (durable, audited): {updates} in {:.2} s = {:.0} updates/s",
        acked.as_secs_f64(),
        f64::from(updates) / acked.as_secs_f64()
    );
    println!(
        "  delivered to the portal simulator (with the submissions): {want} revisions by {:.2} s = {:.0} revisions/s overall",
        delivered.as_secs_f64(),
        want as f64 / delivered.as_secs_f64()
    );
    gw.shutdown(Duration::from_secs(10)).await.unwrap();
}

/// A call to make.
enum Request {
    Submit(Box<SubmitDossierRequest>),
    Update(UpdateDossierStatusRequest),
}
