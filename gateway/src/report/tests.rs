use lienthong_proto::v1::SyncState;

use super::*;

const NOW: i64 = 1_795_400_000;
const DAY: i64 = 86_400;

fn at(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

fn dossier(status: DossierStatus, due: Option<i64>) -> Dossier {
    Dossier {
        status: status as i32,
        due_at: due.and_then(at),
        received_at: at(NOW - 10 * DAY),
        revision: 1,
        ..Dossier::default()
    }
}

#[test]
fn each_dossier_stands_where_its_status_and_due_date_put_it() {
    use DossierStatus::*;
    let due = NOW - DAY;
    let cases: Vec<(&str, Dossier, Standing)> = vec![
        (
            "processed before its due date",
            Dossier {
                completed_at: at(due - 1),
                ..dossier(Processed, Some(due))
            },
            Standing::OnTime,
        ),
        (
            "processed at its due date",
            Dossier {
                completed_at: at(due),
                ..dossier(Processed, Some(due))
            },
            Standing::OnTime,
        ),
        (
            "processed after it, returned later still",
            Dossier {
                completed_at: at(due + 1),
                returned_at: at(due + DAY),
                ..dossier(ResultReturned, Some(due))
            },
            Standing::Late,
        ),
        (
            "returned on the spot (2 → 10), in time",
            Dossier {
                returned_at: at(due - DAY),
                ..dossier(ResultReturned, Some(due))
            },
            Standing::OnTime,
        ),
        (
            "a result with no due date",
            Dossier {
                completed_at: at(NOW),
                ..dossier(Processed, None)
            },
            Standing::OnTime,
        ),
        (
            "processing, due tomorrow",
            dossier(Processing, Some(NOW + DAY)),
            Standing::InProgress,
        ),
        (
            "processing, due yesterday",
            dossier(Processing, Some(due)),
            Standing::Overdue,
        ),
        (
            "accepted, no due date",
            dossier(Accepted, None),
            Standing::InProgress,
        ),
        (
            "registered, past due",
            dossier(Registered, Some(due)),
            Standing::Overdue,
        ),
        (
            "payment asked, past due",
            dossier(PaymentRequested, Some(due)),
            Standing::Overdue,
        ),
        (
            "papers asked for before the due date: the clock stopped in time",
            Dossier {
                supplement_requested_at: at(due - DAY),
                ..dossier(SupplementRequested, Some(due))
            },
            Standing::InProgress,
        ),
        (
            "papers asked for after the due date had passed",
            Dossier {
                supplement_requested_at: at(due + 1),
                ..dossier(SupplementRequested, Some(due))
            },
            Standing::Overdue,
        ),
        (
            "not accepted",
            dossier(Rejected, Some(due)),
            Standing::Ended,
        ),
        ("withdrawn", dossier(Withdrawn, Some(due)), Standing::Ended),
        ("stopped", dossier(Stopped, None), Standing::Ended),
    ];
    for (case, d, expected) in cases {
        assert_eq!(standing(&d, NOW), expected, "{case}");
    }
}

#[test]
fn a_tally_counts_rates_and_the_oldest_unsynchronised() {
    let synced = |delivered, since: Option<i64>| SyncState {
        last_delivered_revision: delivered,
        pending_since: since.and_then(at),
        ..SyncState::default()
    };
    let mut t = Tally::default();
    let mut online = dossier(DossierStatus::Processed, Some(NOW));
    online.channel = Channel::Online as i32;
    online.completed_at = at(NOW - DAY);
    online.sync = Some(synced(1, None));
    t.add(&online, NOW);
    let mut late = dossier(DossierStatus::Processed, Some(NOW - 2 * DAY));
    late.completed_at = at(NOW - DAY);
    late.revision = 3;
    late.sync = Some(synced(2, Some(NOW - 600)));
    t.add(&late, NOW);
    // No sync state at all (from before it was kept): behind since its receipt.
    t.add(&dossier(DossierStatus::Accepted, None), NOW);
    let row = t.row("H99.01", "", NOW);
    assert_eq!(
        (
            row.received,
            row.online,
            row.resolved_on_time,
            row.resolved_late,
            row.in_progress
        ),
        (3, 1, 1, 1, 1)
    );
    assert_eq!(row.synced, 1);
    assert_eq!(row.oldest_unsynced_age_seconds, (10 * DAY) as u64);
    assert_eq!(row.online_rate, Some(1.0 / 3.0));
    assert_eq!(row.on_time_rate, Some(0.5));
    assert_eq!(row.sync_rate, Some(1.0 / 3.0));
    let empty = Tally::default().row("", "", NOW);
    assert_eq!(
        (empty.online_rate, empty.on_time_rate, empty.sync_rate),
        (None, None, None)
    );
    let mut merged = Tally::default();
    merged.merge(&t);
    merged.merge(&t);
    assert_eq!(merged.received, 6);
    assert_eq!(merged.unsynced_since, t.unsynced_since);
}
