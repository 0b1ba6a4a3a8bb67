//! Inbound: dossiers citizens submitted on the national portal, for this province.
//!
//! One replica at a time polls (it holds the lease `inbound-poller`; another takes
//! it when the holder stops renewing). It asks the portal for its online feed after the last cursor it stored, and
//! stores each new dossier with the portal's cursor in one durable transaction, so a
//! crash between the two can neither lose a dossier nor store it twice (dossier codes
//! are kept unique). Stored dossiers get our own sequence numbers: the cursor that
//! `WatchDossiers` clients resume from.

use std::sync::Arc;
use std::time::Duration;

use lienthong_adapters::BadResponse;
use lienthong_adapters::portal::NationalPortal;
use lienthong_adapters::portal::schema::DanhSachTrucTuyen;
use lienthong_ledger::{Event, Store};
use lienthong_proto::v1::Dossier;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::owns;
use crate::Error;
use crate::metrics::Metrics;

/// The inbound dossiers.
pub struct Inbound {
    store: Arc<dyn Store>,
    /// The last number stored; watchers wait on it.
    head: Arc<watch::Sender<u64>>,
}

impl Inbound {
    /// The inbound dossiers of `store`; the head follows what any replica stores.
    pub async fn on(store: Arc<dyn Store>) -> Result<Inbound, Error> {
        let mut events = store.events();
        let head = store.inbound_head().await.map_err(Error::ledger)?;
        let head = Arc::new(watch::channel(head).0);
        let follow = Arc::downgrade(&head);
        tokio::spawn(async move {
            loop {
                let stored = match events.recv().await {
                    Ok(Event::Inbound(stored)) => stored,
                    Ok(Event::Purge(_)) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                };
                let Some(head) = follow.upgrade() else { return };
                head.send_if_modified(|h| std::mem::replace(h, (*h).max(stored)) < stored);
            }
        });
        Ok(Inbound { store, head })
    }

    /// The portal's cursor after the last dossier stored ("" before any).
    pub async fn portal_cursor(&self) -> Result<String, Error> {
        self.store.inbound_cursor().await.map_err(Error::ledger)
    }

    /// Stores what one page of the portal's feed brought and the cursor after it,
    /// in one durable transaction; returns how many dossiers were new.
    pub async fn store(&self, dossiers: &[Dossier], cursor: &str) -> Result<usize, Error> {
        let (new, head) = self
            .store
            .store_inbound(dossiers, cursor)
            .await
            .map_err(Error::ledger)?;
        self.head
            .send_if_modified(|h| std::mem::replace(h, (*h).max(head)) < head);
        Ok(new)
    }

    /// Up to `limit` stored dossiers after number `after`.
    pub async fn after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Dossier)>, Error> {
        self.store
            .inbound(after, limit)
            .await
            .map_err(Error::ledger)
    }

    /// Follows the last number stored.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }
}

/// What a page of the feed brings, once checked.
#[derive(Debug, Default, PartialEq)]
pub struct Page {
    /// The dossiers to keep.
    pub dossiers: Vec<Dossier>,
    /// The cursor after the page (`None`: an empty page, the cursor stays).
    pub cursor: Option<String>,
    /// Whether the portal has more after it.
    pub more: bool,
    /// Items left out, and why (each counted as a bad response).
    pub skipped: Vec<BadResponse>,
}

/// Checks a page of the feed asked for after `asked`, for agencies under `unit`.
///
/// A page that does not move on is refused whole: the same cursor again, or (when
/// the portal's cursors are numbers, as the simulator's are) one that goes back or
/// does not rise from item to item; so is a page that says `more` but brings
/// nothing. Otherwise items that cannot be read, or that belong to an agency
/// outside `unit`, are left out and the cursor still moves past them.
pub fn check_page(
    asked: &str,
    unit: &str,
    page: &DanhSachTrucTuyen,
) -> Result<Page, (BadResponse, String)> {
    let stalled = |detail: String| Err((BadResponse::Stalled, detail));
    let Some(last) = page.items.last() else {
        if page.more {
            return stalled("an empty page that says more follow".into());
        }
        return Ok(Page::default());
    };
    if last.cursor == asked {
        return stalled(format!("the page after cursor {asked:?} ends at it again"));
    }
    let numbers: Option<Vec<u64>> = page.items.iter().map(|i| i.cursor.parse().ok()).collect();
    let from: Option<u64> = if asked.is_empty() {
        Some(0)
    } else {
        asked.parse().ok()
    };
    if let (Some(numbers), Some(from)) = (numbers, from) {
        let mut previous = from;
        for n in numbers {
            if n <= previous {
                return stalled(format!("cursor {n} after {previous}: the feed goes back"));
            }
            previous = n;
        }
    }
    let mut checked = Page {
        cursor: Some(last.cursor.clone()),
        more: page.more,
        ..Page::default()
    };
    for item in &page.items {
        let mut hoso = item.dossier.clone();
        let read = lienthong_adapters::portal::check::dossier(&mut hoso)
            .and_then(|()| Dossier::try_from(&hoso).map_err(|e| (BadResponse::Schema, e)));
        match read {
            Ok(mut d) if owns(unit, &d.agency_code) => {
                // Checked above: the code parses; keep its one canonical form.
                if let Ok(code) = lienthong_proto::DossierCode::parse(&d.dossier_code) {
                    d.dossier_code = code.as_str().to_owned();
                }
                checked.dossiers.push(d)
            }
            Ok(_) => checked.skipped.push(BadResponse::WrongRecord),
            Err((cause, _)) => checked.skipped.push(cause),
        }
    }
    Ok(checked)
}

/// How the poller goes about it.
#[derive(Debug, Clone)]
pub struct Polling {
    /// The province's agency code prefix.
    pub unit: String,
    /// Between two polls.
    pub interval: Duration,
    /// This replica's name, holding the poller's lease.
    pub replica: String,
    /// How long the lease holds without renewal.
    pub lease: Duration,
}

/// The lease one replica holds while it polls.
pub const POLLER_LEASE: &str = "inbound-poller";

/// Polls the portal's feed for agencies under `unit` every `interval` until
/// `shutdown`, storing what is new, whenever this replica holds the poller's lease.
pub async fn poll(
    inbound: Arc<Inbound>,
    portal: Arc<dyn NationalPortal>,
    metrics: Arc<Metrics>,
    polling: Polling,
    shutdown: CancellationToken,
) {
    let renew = (polling.lease / 3).min(polling.interval);
    let mut holding = false;
    let mut last_poll: Option<tokio::time::Instant> = None;
    loop {
        let held = inbound
            .store
            .lease(POLLER_LEASE, &polling.replica, polling.lease)
            .await;
        match &held {
            Ok(true) if !holding => tracing::info!("this replica polls the portal's feed"),
            Ok(false) if holding => tracing::info!("another replica polls the portal's feed"),
            Err(e) => tracing::error!(error = %e, "could not take the poller's lease"),
            Ok(_) => {}
        }
        holding = matches!(held, Ok(true));
        let due = last_poll.is_none_or(|at| at.elapsed() >= polling.interval);
        if holding && due {
            last_poll = Some(tokio::time::Instant::now());
            if poll_once(&inbound, &*portal, &metrics, &polling.unit).await {
                last_poll = None;
                continue;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            () = tokio::time::sleep(renew) => {}
        }
    }
}

/// Asks for one page of the feed and stores it; whether the portal has more.
async fn poll_once(
    inbound: &Inbound,
    portal: &dyn NationalPortal,
    metrics: &Metrics,
    unit: &str,
) -> bool {
    let cursor = match inbound.portal_cursor().await {
        Ok(cursor) => cursor,
        Err(e) => {
            tracing::error!(error = %e, "could not read the portal cursor");
            return false;
        }
    };
    let page = match portal.online(&cursor, 100).await {
        Ok(page) => page,
        Err(e) => {
            tracing::warn!(error = %e, "portal feed unavailable; will poll again");
            return false;
        }
    };
    let checked = match check_page(&cursor, unit, &page) {
        Ok(checked) => checked,
        Err((cause, detail)) => {
            metrics.bad_response(portal.name(), cause);
            tracing::warn!(cause = cause.as_str(), %detail, "the portal's feed does not move on; will poll again later");
            return false;
        }
    };
    for cause in &checked.skipped {
        metrics.bad_response(portal.name(), *cause);
        tracing::warn!(
            cause = cause.as_str(),
            "an online dossier of the feed left out"
        );
    }
    let Some(next) = &checked.cursor else {
        return checked.more;
    };
    match inbound.store(&checked.dossiers, next).await {
        Ok(n) => {
            if n > 0 {
                tracing::info!(new = n, "online dossiers received");
            }
            checked.more
        }
        Err(e) => {
            tracing::error!(error = %e, "could not store online dossiers");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use lienthong_adapters::portal::schema::{HoSo, HoSoTrucTuyen};
    use lienthong_adapters::sim::dossiers::{RECEIVED, dossier};
    use lienthong_proto::v1::DossierStatus;

    use super::*;

    fn item(cursor: &str, code: &str) -> HoSoTrucTuyen {
        HoSoTrucTuyen {
            cursor: cursor.into(),
            dossier: HoSo::from(&dossier(code, DossierStatus::Registered, RECEIVED)),
        }
    }

    fn page(items: Vec<HoSoTrucTuyen>, more: bool) -> DanhSachTrucTuyen {
        DanhSachTrucTuyen { items, more }
    }

    #[test]
    fn a_page_that_does_not_move_on_is_refused() {
        let stalled = |r: Result<Page, (BadResponse, String)>| r.unwrap_err().0;
        let one = || vec![item("7", "H99.01-261122-0001")];
        assert_eq!(
            stalled(check_page("7", "H99", &page(one(), false))),
            BadResponse::Stalled
        );
        assert_eq!(
            stalled(check_page("9", "H99", &page(one(), true))),
            BadResponse::Stalled
        );
        assert_eq!(
            stalled(check_page("3", "H99", &page(vec![], true))),
            BadResponse::Stalled
        );
        let unordered = vec![
            item("8", "H99.01-261122-0001"),
            item("8", "H99.01-261122-0002"),
        ];
        assert_eq!(
            stalled(check_page("3", "H99", &page(unordered, false))),
            BadResponse::Stalled
        );
        // Opaque cursors: only the same cursor again can be told.
        let opaque = vec![item("b", "H99.01-261122-0001")];
        assert!(check_page("a", "H99", &page(opaque, true)).is_ok());
        assert_eq!(
            check_page("3", "H99", &page(vec![], false)),
            Ok(Page::default())
        );
    }

    #[test]
    fn items_of_other_provinces_or_unreadable_are_left_out_and_the_cursor_moves() {
        let mut broken = item("6", "H99.01-261122-0003");
        broken.dossier.status = 99;
        let items = vec![
            item("4", "H99.01-261122-0001"),
            item("5", "H15.01-261122-0002"),
            broken,
        ];
        let checked = check_page("3", "H99", &page(items, true)).unwrap();
        assert_eq!(checked.dossiers.len(), 1);
        assert_eq!(checked.dossiers[0].dossier_code, "H99.01-261122-0001");
        assert_eq!(
            checked.skipped,
            [BadResponse::WrongRecord, BadResponse::Schema]
        );
        assert_eq!((checked.cursor.as_deref(), checked.more), (Some("6"), true));
    }
}
