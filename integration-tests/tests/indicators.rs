//! The QĐ 766 indicators over a generated month of dossier traffic, on both
//! ledgers, over real mTLS: thousands of dossiers from three agencies (one office
//! and two below it), every channel, some late, some waiting for papers, some
//! rescheduled while the portal is down. The report equals a count made from the
//! plan itself, for the whole province and for one agency; it stays the same once
//! the closed dossiers are archived; it needs the reporter role, checks its
//! request, and is audited.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use integration_tests::{Ledger, TestPki, audit_records, auditor, channel, reason};
use lienthong_proto::Month;
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::admin_service_client::AdminServiceClient;
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::report_service_client::ReportServiceClient;
use lienthong_proto::v1::{
    ArchiveAuditRequest, Channel as Kenh, Decision, Dossier, DossierStatus, GetIndicatorsRequest,
    IndicatorRow, Indicators, QueryAuditRequest, SubmitDossierRequest, UpdateDossierStatusRequest,
};
use tonic::Code;
use tonic::transport::Channel;

use DossierStatus::*;

const AGENCIES: [&str; 3] = ["H99.01", "H99.01.05", "H99.01.07"];
const PROCEDURES: [&str; 4] = ["1.001193", "1.000894", "1.004227", "2.002154"];
const DOSSIERS: u32 = 2_400;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// 2027-06-01 in Vietnam: a due date still ahead.
const AHEAD: i64 = 1_811_782_800;

/// What the plan makes of a dossier, and so where it must be counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    OnTime,
    Late,
    OnTheSpot,
    SupplementedThenDone,
    PapersAskedInTime,
    PapersAskedPastDue,
    InProgress,
    Overdue,
    Rejected,
    Withdrawn,
    Stopped,
}

const FATES: [Fate; 11] = [
    Fate::OnTime,
    Fate::Late,
    Fate::OnTheSpot,
    Fate::SupplementedThenDone,
    Fate::PapersAskedInTime,
    Fate::PapersAskedPastDue,
    Fate::InProgress,
    Fate::Overdue,
    Fate::Rejected,
    Fate::Withdrawn,
    Fate::Stopped,
];

struct Planned {
    dossier: Dossier,
    fate: Fate,
    /// The officer's moves: to which status, when (Unix seconds).
    moves: Vec<(DossierStatus, i64)>,
}

/// Dossier `i` of `month`, drawn from a fixed sequence.
fn plan(i: u32, month: Month) -> Planned {
    let mut x = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut draw = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let agency = AGENCIES[draw(3) as usize];
    let procedure = PROCEDURES[draw(4) as usize];
    let channel = match draw(10) {
        0..5 => Kenh::Online,
        5..8 => Kenh::InPerson,
        _ => Kenh::Postal,
    };
    let received = month.start() + draw(30 * 24) as i64 * HOUR + draw(HOUR as u64) as i64;
    let fate = FATES[draw(FATES.len() as u64) as usize];
    let r = received;
    let (first, due, moves) = match fate {
        Fate::OnTime => (
            Accepted,
            r + 10 * DAY,
            vec![
                (Processing, r + DAY),
                (Processed, r + 4 * DAY),
                (ResultReturned, r + 5 * DAY),
            ],
        ),
        Fate::Late => (
            Accepted,
            r + 3 * DAY,
            vec![(Processing, r + DAY), (Processed, r + 6 * DAY)],
        ),
        Fate::OnTheSpot => (Accepted, r + DAY, vec![(ResultReturned, r + HOUR)]),
        // The clock stops while papers are awaited: the due date only moves later.
        Fate::SupplementedThenDone => (
            Registered,
            r + 10 * DAY,
            vec![
                (SupplementRequested, r + DAY),
                (Accepted, r + 3 * DAY),
                (Processing, r + 3 * DAY + HOUR),
                (Processed, r + 5 * DAY),
            ],
        ),
        Fate::PapersAskedInTime => (
            Registered,
            r + 10 * DAY,
            vec![(SupplementRequested, r + DAY)],
        ),
        Fate::PapersAskedPastDue => (
            Registered,
            r + 2 * DAY,
            vec![(SupplementRequested, r + 3 * DAY)],
        ),
        Fate::InProgress => (Accepted, AHEAD, vec![(Processing, r + DAY)]),
        Fate::Overdue => (Accepted, r + 5 * DAY, vec![(Processing, r + DAY)]),
        Fate::Rejected => (Registered, r + 5 * DAY, vec![(Rejected, r + DAY)]),
        Fate::Withdrawn => (Accepted, r + 5 * DAY, vec![(Withdrawn, r + 2 * DAY)]),
        Fate::Stopped => (
            Accepted,
            r + 10 * DAY,
            vec![(Processing, r + DAY), (Stopped, r + 2 * DAY)],
        ),
    };
    let date = time::OffsetDateTime::from_unix_timestamp(received)
        .unwrap()
        .to_offset(lienthong_proto::VIETNAM)
        .date();
    let mut dossier = lienthong_adapters::sim::dossiers::dossier(
        &lienthong_proto::DossierCode::compose(agency, date, i + 1),
        first,
        at(received),
    );
    dossier.agency_code = agency.into();
    dossier.procedure_code = procedure.into();
    dossier.channel = channel as i32;
    dossier.due_at = Some(at(due));
    Planned {
        dossier,
        fate,
        moves,
    }
}

fn at(seconds: i64) -> Timestamp {
    Timestamp { seconds, nanos: 0 }
}

/// Submits `p` and makes its moves.
async fn carry_out(client: &mut DossierServiceClient<Channel>, p: &Planned) {
    client
        .submit_dossier(SubmitDossierRequest {
            dossier: Some(p.dossier.clone()),
        })
        .await
        .unwrap_or_else(|e| panic!("{}: {e:?}", p.dossier.dossier_code));
    for (i, (status, when)) in p.moves.iter().enumerate() {
        client
            .update_dossier_status(UpdateDossierStatusRequest {
                dossier_code: p.dossier.dossier_code.clone(),
                status: *status as i32,
                expected_revision: i as u64 + 1,
                handler: "cb-0001".into(),
                note: String::new(),
                at: Some(at(*when)),
                due_at: None,
            })
            .await
            .unwrap_or_else(|e| panic!("{} to {status:?}: {e:?}", p.dossier.dossier_code));
    }
}

/// The counts the report must show for a group, from the plan alone.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Count {
    received: u64,
    online: u64,
    on_time: u64,
    late: u64,
    in_progress: u64,
    overdue: u64,
    ended: u64,
    synced: u64,
}

impl Count {
    fn add(&mut self, p: &Planned, synced: bool) {
        self.received += 1;
        self.online += u64::from(p.dossier.channel == Kenh::Online as i32);
        self.synced += u64::from(synced);
        let slot = match p.fate {
            Fate::OnTime | Fate::OnTheSpot | Fate::SupplementedThenDone => &mut self.on_time,
            Fate::Late => &mut self.late,
            Fate::PapersAskedInTime | Fate::InProgress => &mut self.in_progress,
            Fate::PapersAskedPastDue | Fate::Overdue => &mut self.overdue,
            Fate::Rejected | Fate::Withdrawn | Fate::Stopped => &mut self.ended,
        };
        *slot += 1;
    }

    fn merge(&mut self, o: &Count) {
        self.received += o.received;
        self.online += o.online;
        self.on_time += o.on_time;
        self.late += o.late;
        self.in_progress += o.in_progress;
        self.overdue += o.overdue;
        self.ended += o.ended;
        self.synced += o.synced;
    }

    fn of(row: &IndicatorRow) -> Count {
        Count {
            received: row.received,
            online: row.online,
            on_time: row.resolved_on_time,
            late: row.resolved_late,
            in_progress: row.in_progress,
            overdue: row.in_progress_overdue,
            ended: row.ended_without_result,
            synced: row.synced,
        }
    }
}

/// The rows a report must hold, in its order: each agency's procedures, the
/// agency, and last the total.
fn expected(counts: &BTreeMap<(String, String), Count>) -> Vec<(String, String, Count)> {
    let mut rows = Vec::new();
    let (mut total, mut agency_sum, mut current) = (Count::default(), Count::default(), None);
    for ((agency, procedure), count) in counts {
        if current.as_ref().is_some_and(|a| a != agency) {
            rows.push((current.take().unwrap(), String::new(), agency_sum));
            agency_sum = Count::default();
        }
        current = Some(agency.clone());
        rows.push((agency.clone(), procedure.clone(), *count));
        agency_sum.merge(count);
        total.merge(count);
    }
    if let Some(agency) = current {
        rows.push((agency, String::new(), agency_sum));
    }
    rows.push((String::new(), String::new(), total));
    rows
}

fn shown(report: &Indicators) -> Vec<(String, String, Count)> {
    report
        .rows
        .iter()
        .map(|r| {
            (
                r.agency_code.clone(),
                r.procedure_code.clone(),
                Count::of(r),
            )
        })
        .collect()
}

async fn indicators(
    client: &mut ReportServiceClient<Channel>,
    month: &str,
    agency: &str,
) -> Result<Indicators, tonic::Status> {
    client
        .get_indicators(GetIndicatorsRequest {
            month: month.into(),
            agency_code: agency.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn a_month_of_dossiers_is_reported_as_counted(ledger: Ledger) {
    let pki = TestPki::new();
    let gw = integration_tests::start_syncing(&pki, ledger).await;
    let month = Month::parse("2026-10").unwrap();
    let plans: Vec<Planned> = (0..DOSSIERS).map(|i| plan(i, month)).collect();
    let plans = std::sync::Arc::new(plans);
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let (plans, mut client) = (
                plans.clone(),
                DossierServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01")),
            );
            tokio::spawn(async move {
                for p in plans.iter().skip(t).step_by(16) {
                    carry_out(&mut client, p).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // Everything reaches the portal…
    let store = gw.exchange().dossiers.store.clone();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let depth = store.outbox_depth().await.unwrap();
        assert_eq!(depth.dead, 0, "nothing is refused");
        if depth.waiting == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {} to deliver",
            depth.waiting
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // …then the portal goes down, and half the dossiers in progress get a new
    // appointment date it cannot hear of.
    gw.exchange().simulator().unwrap().faults().set_down(true);
    let behind_since = Instant::now();
    let mut dossiers = DossierServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let mut unsynced = std::collections::HashSet::new();
    for (i, p) in plans
        .iter()
        .enumerate()
        .filter(|(_, p)| p.fate == Fate::InProgress)
    {
        if i % 2 == 0 {
            let code = p.dossier.dossier_code.clone();
            dossiers
                .update_dossier_status(UpdateDossierStatusRequest {
                    dossier_code: code.clone(),
                    status: Processing as i32,
                    expected_revision: 2,
                    handler: "cb-0002".into(),
                    note: "Chờ ý kiến của Sở Xây dựng".into(),
                    at: None,
                    due_at: Some(at(AHEAD + 30 * DAY)),
                })
                .await
                .unwrap();
            unsynced.insert(code);
        }
    }
    let mut counts: BTreeMap<(String, String), Count> = BTreeMap::new();
    for p in plans.iter() {
        let key = (
            p.dossier.agency_code.clone(),
            p.dossier.procedure_code.clone(),
        );
        counts
            .entry(key)
            .or_default()
            .add(p, !unsynced.contains(&p.dossier.dossier_code));
    }

    let mut reports = ReportServiceClient::new(channel(gw.addr(), &pki.paths, "H99.99"));
    let report = indicators(&mut reports, "2026-10", "").await.unwrap();
    assert_eq!(report.month, "2026-10");
    assert_eq!(shown(&report), expected(&counts));
    let behind = behind_since.elapsed().as_secs() + 1;
    for row in &report.rows {
        let lagging = row.received - row.synced;
        assert!(row.oldest_unsynced_age_seconds <= behind, "{row:?}");
        if lagging == 0 {
            assert_eq!(row.oldest_unsynced_age_seconds, 0, "{row:?}");
        }
        let rate = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
        assert_eq!(row.online_rate, rate(row.online, row.received));
        let resolved = row.resolved_on_time + row.resolved_late;
        assert_eq!(row.on_time_rate, rate(row.resolved_on_time, resolved));
        assert_eq!(row.sync_rate, rate(row.synced, row.received));
    }
    let total = report.rows.last().unwrap();
    assert_eq!(total.received, u64::from(DOSSIERS));
    assert!(
        total.synced < total.received && total.resolved_late > 0 && total.in_progress_overdue > 0
    );

    // One agency: its rows only, its total its own.
    let one: BTreeMap<_, _> = counts
        .iter()
        .filter(|((a, _), _)| a == "H99.01.05")
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let mut wanted = expected(&one);
    wanted.last_mut().unwrap().0.clear();
    assert_eq!(
        shown(
            &indicators(&mut reports, "2026-10", "H99.01.05")
                .await
                .unwrap()
        ),
        wanted
    );
    // A month with nothing received: the total alone, with no rates.
    let empty = indicators(&mut reports, "2026-09", "").await.unwrap();
    assert_eq!(empty.rows.len(), 1);
    assert_eq!(
        (empty.rows[0].received, empty.rows[0].on_time_rate),
        (0, None)
    );

    // Archiving the closed dossiers takes them out of the live store, not out of
    // the report.
    let archived = AdminServiceClient::new(channel(gw.addr(), &pki.paths, "H99.99"))
        .archive_audit(ArchiveAuditRequest {
            before: Some(std::time::SystemTime::now().into()),
            expire: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(archived.dossiers_archived > 0);
    let after = indicators(&mut reports, "2026-10", "").await.unwrap();
    assert_eq!(shown(&after), shown(&report));

    // The role, the request's checks, and the audit trail.
    let mut office = ReportServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let e = indicators(&mut office, "2026-10", "").await.unwrap_err();
    assert_eq!(
        (e.code(), reason(&e)),
        (Code::PermissionDenied, "ROLE_REQUIRED".into())
    );
    for (month, agency, field) in [
        ("2026-13", "", "month"),
        ("", "", "month"),
        ("2026-10", "h99", "agency_code"),
    ] {
        let e = indicators(&mut reports, month, agency).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{month:?} {agency:?}");
        let violations = integration_tests::violated(&e);
        assert_eq!(violations[0], field, "{violations:?}");
    }
    let records = audit_records(
        &mut auditor(gw.addr(), &pki),
        QueryAuditRequest {
            operation: "ReportService/GetIndicators".into(),
            ..Default::default()
        },
    )
    .await;
    let decisions: Vec<(String, i32)> = records
        .iter()
        .map(|r| (r.agency_code.clone(), r.decision))
        .collect();
    assert!(decisions.contains(&("H99.99".into(), Decision::Granted as i32)));
    assert!(decisions.contains(&("H99.01".into(), Decision::Denied as i32)));
    assert!(
        records.iter().any(|r| r.case_ref == "2026-10 H99.01.05"),
        "{records:?}"
    );
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

integration_tests::on_both_ledgers!(a_month_of_dossiers_is_reported_as_counted);

/// This month's indicators on `/metrics`, per agency and in total, recomputed as
/// dossiers come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_months_indicators_are_gauges() {
    let pki = TestPki::new();
    let mut config = integration_tests::config(&pki);
    config.dossiers.indicators_every = Duration::from_millis(100);
    let (registry, _) = integration_tests::population(Duration::ZERO);
    let gw = integration_tests::start(&config, registry).await;
    let mut client = DossierServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let now = std::time::SystemTime::now();
    for (serial, agency, kenh) in [
        (1, "H99.01", Kenh::Online),
        (2, "H99.01", Kenh::InPerson),
        (3, "H99.01.05", Kenh::Online),
    ] {
        let code = lienthong_proto::DossierCode::compose(agency, lienthong_proto::today(), serial);
        let mut d = lienthong_adapters::sim::dossiers::dossier(&code, Accepted, now.into());
        d.agency_code = agency.into();
        d.channel = kenh as i32;
        client
            .submit_dossier(SubmitDossierRequest { dossier: Some(d) })
            .await
            .unwrap();
    }
    let admin = gw.admin_addr().unwrap();
    let gauge = |samples: &[prometheus_parse::Sample], agency: &str, indicator: &str| {
        integration_tests::sample(
            samples,
            "lienthong_dossier_indicator",
            &[("agency", agency), ("indicator", indicator)],
        )
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let samples = loop {
        let samples = integration_tests::scrape(admin).await;
        if gauge(&samples, "all", "received") == 3.0 {
            break samples;
        }
        assert!(
            Instant::now() < deadline,
            "the gauges never showed 3 dossiers"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(gauge(&samples, "H99.01", "received"), 2.0);
    assert_eq!(gauge(&samples, "H99.01", "online_rate"), 0.5);
    assert_eq!(gauge(&samples, "H99.01.05", "in_progress"), 1.0);
    assert_eq!(gauge(&samples, "all", "online"), 2.0);
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}
