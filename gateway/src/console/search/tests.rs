//! The console's search on a real redb ledger: newest first, pages that follow on
//! without a gap or a repeat, every filter, the subject index, and the days of a
//! form in Vietnam time.

use std::sync::Arc;
use std::time::Duration;

use lienthong_proto::v1::{AuditRecord, Decision};

use super::*;
use crate::audit::{Log, Settings, Signer};

fn form(subject: &str, agency: &str, decision: &str) -> SearchForm {
    SearchForm {
        subject: subject.into(),
        agency: agency.into(),
        decision: decision.into(),
        ..SearchForm::default()
    }
}

/// 130 records: agencies H99.01/H99.02 in turn, every fifth refused, subjects
/// cycling through seven citizens.
async fn ledger(dir: &std::path::Path) -> Arc<dyn Store> {
    let settings = Settings {
        checkpoint_every: 1000,
        max_batch: 1024,
    };
    let path = dir.join("ledger.redb");
    let log = Log::open(
        &path,
        Signer::ephemeral(),
        settings,
        Duration::from_secs(3600),
    )
    .unwrap();
    for i in 0..130u64 {
        let refused = i % 5 == 0;
        log.append(AuditRecord {
            agency_code: if i % 2 == 0 { "H99.01" } else { "H99.02" }.into(),
            operation: "IdentityService/GetCitizen".into(),
            subject_personal_id: format!("001085{:06}", i % 7),
            decision: if refused {
                Decision::Denied
            } else {
                Decision::Granted
            } as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    }
    log.close().await;
    log.store().clone()
}

/// Every page of `form`, in order.
async fn pages(store: &dyn Store, form: &SearchForm) -> Vec<Vec<u64>> {
    let filter = Filter::of(form).unwrap();
    let mut before = None;
    let mut all = Vec::new();
    loop {
        let found = run(store, &filter, before).await.unwrap();
        let seqs: Vec<u64> = found.records.iter().map(|r| r.seq).collect();
        if !seqs.is_empty() {
            all.push(seqs);
        }
        match found.next {
            Some(next) => before = Some(next),
            None => return all,
        }
    }
}

#[tokio::test]
async fn pages_go_back_from_the_newest_without_gaps_or_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let store = ledger(dir.path()).await;
    let all = pages(&*store, &SearchForm::default()).await;
    assert_eq!(all.iter().map(Vec::len).collect::<Vec<_>>(), [50, 50, 30]);
    let flat: Vec<u64> = all.concat();
    assert_eq!(flat, (1..=130).rev().collect::<Vec<_>>());

    // Filters, with and without the subject index.
    let agency = pages(&*store, &form("", "H99.02", "")).await.concat();
    assert_eq!(
        agency,
        (1..=130).rev().filter(|s| s % 2 == 0).collect::<Vec<_>>()
    );
    let refused = pages(&*store, &form("", "", "denied")).await.concat();
    assert_eq!(
        refused,
        (1..=130)
            .rev()
            .filter(|s| (s - 1) % 5 == 0)
            .collect::<Vec<_>>()
    );
    let subject = pages(&*store, &form("001085000003", "", "")).await.concat();
    assert_eq!(
        subject,
        (1..=130)
            .rev()
            .filter(|s| (s - 1) % 7 == 3)
            .collect::<Vec<_>>()
    );
    let both = pages(&*store, &form("001085000003", "H99.01", "denied"))
        .await
        .concat();
    let expected: Vec<u64> = (1..=130u64)
        .rev()
        .filter(|s| (s - 1) % 7 == 3 && (s - 1) % 2 == 0 && (s - 1) % 5 == 0)
        .collect();
    assert_eq!(both, expected);
}

#[test]
fn forms_are_checked_and_days_are_vietnam_days() {
    assert!(
        Filter::of(&form("12345", "", "")).is_err(),
        "not a personal ID"
    );
    assert!(
        Filter::of(&form("", "H99 01!", "")).is_err(),
        "not an agency code"
    );
    assert!(Filter::of(&form("", "", "maybe")).is_err());
    let bad_op = SearchForm {
        operation: "Nope/Nope".into(),
        ..SearchForm::default()
    };
    assert!(Filter::of(&bad_op).is_err());
    // 29/11/2026 in Vietnam is 28/11 17:00 UTC to 29/11 17:00 UTC.
    let (from, to) = days("2026-11-29", "2026-11-29").unwrap();
    assert_eq!(from, Some(1_795_885_200_000_000));
    assert_eq!(to, Some(1_795_885_200_000_000 + 86_400_000_000));
    assert!(days("2026-11-30", "2026-11-29").is_err());
    assert!(days("29/11/2026", "").is_err());
    assert_eq!(days("", "").unwrap(), (None, None));
    let filter = Filter::of(&form("001085000003", "H99.01", "denied")).unwrap();
    assert_eq!(
        filter.query(77),
        "subject=001085000003&agency=H99.01&decision=denied&before=77"
    );
    assert_eq!(filter.summary(), "agency=H99.01 decision=denied");
}
