//! The QĐ 766 report over a million dossiers: how long `ReportService/GetIndicators`
//! takes for a month that received 1,000,000 dossiers, against the naive way in the
//! same run (every dossier of the store read whole and filtered by month, as
//! `ListDossiers` does); alternated, best and median of each.
//!
//! `cargo bench -p lienthong-gateway --bench report` (`-- --dossiers N` for another
//! count, `-- --postgres` to fill and measure a PostgreSQL ledger instead). The
//! month is filled straight through the store (one commit per 10,000 dossiers, in
//! assorted statuses, channels, agencies and procedures); then a gateway on that
//! ledger answers the report over mTLS to the reporter agency, audited as always.

use std::time::{Duration, Instant};

use lienthong_ledger::{Batch, Change, Filter, Store, Unsealed};
use lienthong_proto::Month;
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::report_service_client::ReportServiceClient;
use lienthong_proto::v1::{Channel, DossierStatus, GetIndicatorsRequest};
use support::{Bench, on_postgres, sorted};

mod support;

const AGENCIES: [&str; 4] = ["H99.01", "H99.01.05", "H99.01.07", "H99.02"];
const PROCEDURES: [&str; 5] = [
    "1.001193",
    "1.000894",
    "1.004227",
    "2.002154",
    "1.000948.H38",
];
const STATUSES: [DossierStatus; 6] = [
    DossierStatus::Accepted,
    DossierStatus::Processing,
    DossierStatus::SupplementRequested,
    DossierStatus::Processed,
    DossierStatus::ResultReturned,
    DossierStatus::Rejected,
];

/// Dossier `i` of `month`: spread over its days, agencies, procedures, channels and
/// statuses, a third of the resolved ones late.
fn dossier(i: u32, month: Month) -> lienthong_proto::v1::Dossier {
    let received = month.start() + i64::from(i % (30 * 86_400));
    let date = time::OffsetDateTime::from_unix_timestamp(received)
        .unwrap()
        .to_offset(lienthong_proto::VIETNAM)
        .date();
    let agency = AGENCIES[i as usize % AGENCIES.len()];
    let at = |s: i64| {
        Some(Timestamp {
            seconds: s,
            nanos: 0,
        })
    };
    let status = STATUSES[(i / 7) as usize % STATUSES.len()];
    let mut d = lienthong_adapters::sim::dossiers::dossier(
        &lienthong_proto::DossierCode::compose(agency, date, i % 10_000),
        status,
        Timestamp {
            seconds: received,
            nanos: 0,
        },
    );
    // Codes repeat every 10,000 of a day: the index keeps them apart.
    d.dossier_code = format!("{}{}", d.dossier_code, i / 10_000);
    d.agency_code = agency.into();
    d.procedure_code = PROCEDURES[(i / 3) as usize % PROCEDURES.len()].into();
    d.channel = [Channel::Online, Channel::InPerson, Channel::Postal][i as usize % 3] as i32;
    d.due_at = at(received + 5 * 86_400);
    if matches!(
        status,
        DossierStatus::Processed | DossierStatus::ResultReturned
    ) {
        let days = if i.is_multiple_of(3) { 7 } else { 2 };
        d.completed_at = at(received + days * 86_400);
    }
    d
}

/// Fills `store` with `n` dossiers received in `month`.
async fn fill(store: &dyn Store, month: Month, n: u32) {
    let started = Instant::now();
    let mut seal = Unsealed;
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let mut batch = Batch {
            changes: chunk
                .iter()
                .map(|&i| (None, Change::Submit(Box::new(dossier(i, month)))))
                .collect(),
            ..Batch::default()
        };
        let done = store.commit(&mut batch, &mut seal).await.unwrap();
        assert!(done.applied.iter().all(Result::is_ok));
    }
    println!(
        "filled {n} dossiers in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The naive report: every dossier read whole, those of `month` counted.
async fn naive(store: &dyn Store, month: Month) -> u64 {
    let filter = Filter {
        received_from: Some(month.start()),
        received_to: Some(month.end()),
        ..Filter::default()
    };
    let (mut after, mut counted) = (String::new(), 0);
    loop {
        let (page, more) = store.dossiers(&after, 10_000, &filter).await.unwrap();
        counted += page.len() as u64;
        match page.last() {
            Some(last) if more => after.clone_from(&last.dossier_code),
            _ => return counted,
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u32 = support::arg("--dossiers", 1_000_000);
    let bench = Bench::new();
    let mut config = bench.config("report");
    config.dossiers.indicators_every = Duration::ZERO;
    let ledger = if args.iter().any(|a| a == "--postgres") {
        if !on_postgres(&mut config).await {
            return;
        }
        "PostgreSQL"
    } else {
        "redb"
    };
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let month = Month::parse("2026-10").unwrap();
    {
        let store = lienthong_gateway::server::open_store(&config)
            .await
            .unwrap();
        fill(&*store, month, n).await;
        store.close().await.unwrap();
    }
    let gw = bench.start(&config, Duration::ZERO).await;
    let mut client =
        ReportServiceClient::new(bench.channel_as(&gw, "H99.99", Duration::from_secs(120)));
    let store = gw.exchange().dossiers.store.clone();
    let (mut report, mut scan) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        let answer = client
            .get_indicators(GetIndicatorsRequest {
                month: month.to_string(),
                agency_code: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        report.push(t.elapsed().as_secs_f64());
        assert_eq!(answer.rows.last().unwrap().received, u64::from(n));
        let t = Instant::now();
        assert_eq!(naive(&*store, month).await, u64::from(n));
        scan.push(t.elapsed().as_secs_f64());
    }
    let (report, scan) = (sorted(report), sorted(scan));
    println!("{ledger}, {n} dossiers received in {month}, 5 rounds alternated:");
    println!(
        "  GetIndicators over mTLS: best {:.2} s, median {:.2} s (target: within 2 s)",
        report[0], report[2]
    );
    println!(
        "  every dossier read whole (baseline): best {:.2} s, median {:.2} s",
        scan[0], scan[2]
    );
    println!("  report / baseline (median): {:.2}", report[2] / scan[2]);
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}
