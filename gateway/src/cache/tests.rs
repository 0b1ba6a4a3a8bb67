//! The cache with a hand-moved clock, real sled files in a temp dir, and fetches
//! that count their calls.

use std::sync::atomic::{AtomicUsize, Ordering};

use lienthong_adapters::Error as Upstream;
use lienthong_proto::v1::Citizen;

use super::*;
use crate::clock::Manual;
use crate::config::Freshness;

const MIN: Duration = Duration::from_secs(60);

fn settings() -> CacheConfig {
    CacheConfig {
        citizen: Freshness {
            fresh: 5 * MIN,
            stale_if_error: 24 * 60 * MIN,
        },
        ..CacheConfig::default()
    }
}

struct Rig {
    dir: tempfile::TempDir,
    clock: Arc<Manual>,
    calls: AtomicUsize,
}

impl Rig {
    fn new() -> Rig {
        Rig {
            dir: tempfile::tempdir().unwrap(),
            clock: Arc::new(Manual::at(1_795_000_000_000_000)),
            calls: AtomicUsize::new(0),
        }
    }

    fn open(&self, settings: CacheConfig) -> Cache {
        let breaker = Breaker::new(3, Duration::from_secs(10), self.clock.clone());
        Cache::open(
            self.dir.path(),
            settings,
            breaker,
            self.clock.clone(),
            "population",
        )
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// A lookup by H99.01 whose upstream answers `answer` (counting the call).
    async fn get(
        &self,
        cache: &Cache,
        id: &str,
        answer: Result<(), Upstream>,
    ) -> Result<(Citizen, Option<View>), Error> {
        self.get_as(cache, "H99.01", id, answer).await
    }

    /// The same lookup by `agency`.
    async fn get_as(
        &self,
        cache: &Cache,
        agency: &str,
        id: &str,
        answer: Result<(), Upstream>,
    ) -> Result<(Citizen, Option<View>), Error> {
        let fetch = async {
            self.calls.fetch_add(1, Ordering::SeqCst);
            answer.map(|()| citizen(id)).map_err(Error::Upstream)
        };
        cache.get(Record::Citizen, id, agency, fetch).await
    }
}

fn citizen(id: &str) -> Citizen {
    Citizen {
        personal_id: id.into(),
        full_name: format!("Trần Thị Bích {id}"),
        birth_date: "1985-08-15".into(),
        ..Default::default()
    }
}

fn down() -> Result<(), Upstream> {
    Err(Upstream::Unavailable {
        endpoint: "population".into(),
        detail: "connection refused".into(),
    })
}

/// How a lookup was served, in truth.
fn served(r: &Result<(Citizen, Option<View>), Error>) -> Option<Served> {
    r.as_ref().ok().and_then(|(_, s)| *s).map(|v| v.served)
}

/// How its agency was told it was served.
fn shown(r: &Result<(Citizen, Option<View>), Error>) -> Option<Served> {
    r.as_ref().ok().and_then(|(_, s)| *s).map(|v| v.shown)
}

const ID: &str = "001085012345";

#[tokio::test]
async fn an_agency_is_told_only_of_its_own_lookups() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    let first = rig.get_as(&cache, "H99.01", ID, Ok(())).await;
    assert_eq!(
        (served(&first), shown(&first)),
        (Some(Served::Miss), Some(Served::Miss))
    );
    let again = rig.get_as(&cache, "H99.01", ID, Ok(())).await;
    assert_eq!(
        (served(&again), shown(&again)),
        (Some(Served::Hit), Some(Served::Hit))
    );
    // Another agency is served from the cache, but told it as a first lookup: it
    // cannot learn that someone else asked.
    let other = rig.get_as(&cache, "H99.02", ID, Ok(())).await;
    assert_eq!(
        (served(&other), shown(&other)),
        (Some(Served::Hit), Some(Served::Miss))
    );
    let other = rig.get_as(&cache, "H99.02", ID, Ok(())).await;
    assert_eq!(shown(&other), Some(Served::Hit));
    assert_eq!(rig.calls(), 1);
    // Past its freshness, with the upstream down: a stale record bridges the outage
    // for the agencies that had it, and for nobody else.
    rig.clock.advance(6 * MIN);
    let stale = rig.get_as(&cache, "H99.01", ID, down()).await;
    assert_eq!(
        (served(&stale), shown(&stale)),
        (Some(Served::Stale), Some(Served::Stale))
    );
    let stranger = rig.get_as(&cache, "H99.03", ID, down()).await;
    assert!(
        matches!(stranger, Err(Error::Upstream(_))),
        "a stale record is no answer for an agency that never had it"
    );
    let stranger = rig.get_as(&cache, "H99.03", ID, down()).await;
    assert!(stranger.is_err(), "and asking twice does not make it one");
}

#[tokio::test]
async fn hit_miss_and_expiry() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    let first = rig.get(&cache, ID, Ok(())).await;
    assert_eq!(served(&first), Some(Served::Miss));
    assert_eq!(first.unwrap().0, citizen(ID));
    rig.clock.advance(5 * MIN - Duration::from_secs(1));
    assert_eq!(
        served(&rig.get(&cache, ID, Ok(())).await),
        Some(Served::Hit)
    );
    assert_eq!(rig.calls(), 1);
    rig.clock.advance(Duration::from_secs(1));
    assert_eq!(
        served(&rig.get(&cache, ID, Ok(())).await),
        Some(Served::Miss),
        "expired: refetched"
    );
    assert_eq!(rig.calls(), 2);
}

#[tokio::test]
async fn stale_if_error_inside_and_beyond_the_window() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    rig.get(&cache, ID, Ok(())).await.unwrap();
    rig.clock.advance(6 * MIN);
    let stale = rig.get(&cache, ID, down()).await;
    assert_eq!(served(&stale), Some(Served::Stale));
    assert_eq!(stale.unwrap().0, citizen(ID));
    // the window counts from the fetch: fresh (5 min) + stale-if-error (24 h)
    rig.clock.advance(24 * 60 * MIN - 2 * MIN);
    assert_eq!(
        served(&rig.get(&cache, ID, down()).await),
        Some(Served::Stale)
    );
    rig.clock.advance(2 * MIN);
    let gone = rig.get(&cache, ID, down()).await.unwrap_err();
    assert!(
        matches!(gone, Error::Upstream(Upstream::Unavailable { .. })),
        "{gone}"
    );
    // a citizen never cached has nothing stale to give
    assert!(rig.get(&cache, "079301012345", down()).await.is_err());
}

#[tokio::test]
async fn not_found_is_an_answer_not_an_outage() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    rig.get(&cache, ID, Ok(())).await.unwrap();
    rig.clock.advance(6 * MIN);
    let not_found = Err(Upstream::NotFound {
        endpoint: "population".into(),
    });
    let err = rig.get(&cache, ID, not_found).await.unwrap_err();
    assert!(
        matches!(err, Error::Upstream(Upstream::NotFound { .. })),
        "no stale answer for a removed citizen"
    );
    // ...and the record is gone from the cache: an outage now has nothing to serve
    assert!(rig.get(&cache, ID, down()).await.is_err());
}

#[tokio::test]
async fn the_circuit_opens_fails_fast_and_closes_after_a_probe() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    rig.get(&cache, ID, Ok(())).await.unwrap();
    rig.clock.advance(6 * MIN);
    for i in 0..3 {
        let id = format!("07930101234{i}");
        assert!(rig.get(&cache, &id, down()).await.is_err());
    }
    assert_eq!(cache.breaker().state(), crate::breaker::State::Open);
    let calls = rig.calls();
    // open: no upstream call; the cached citizen is served stale, others refused
    assert_eq!(
        served(&rig.get(&cache, ID, Ok(())).await),
        Some(Served::Stale)
    );
    let err = rig.get(&cache, "079301099999", Ok(())).await.unwrap_err();
    assert!(err.to_string().contains("circuit open"), "{err}");
    assert_eq!(rig.calls(), calls, "failing fast");
    // after the cool-down one probe goes; its success closes the circuit
    rig.clock.advance(Duration::from_secs(10));
    assert_eq!(cache.breaker().state(), crate::breaker::State::HalfOpen);
    assert_eq!(
        served(&rig.get(&cache, ID, Ok(())).await),
        Some(Served::Miss)
    );
    assert_eq!(rig.calls(), calls + 1);
    assert_eq!(cache.breaker().state(), crate::breaker::State::Closed);
}

#[tokio::test]
async fn concurrent_misses_make_one_upstream_call() {
    let rig = Arc::new(Rig::new());
    let cache = Arc::new(rig.open(settings()));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (rig, cache, gate) = (rig.clone(), cache.clone(), gate.clone());
            let started = started.clone();
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                let fetch = async {
                    rig.calls.fetch_add(1, Ordering::SeqCst);
                    // Hold the upstream call until every caller has arrived.
                    let _ = gate.acquire().await;
                    Ok(citizen(ID))
                };
                cache.get(Record::Citizen, ID, "H99.01", fetch).await
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < 50 || cache.flights.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    gate.add_permits(1);
    for t in tasks {
        let (c, how) = t.await.unwrap().unwrap();
        assert_eq!(c, citizen(ID));
        assert_eq!(how.map(|v| v.served), Some(Served::Miss));
    }
    assert_eq!(rig.calls(), 1, "one flight for fifty callers");
    assert!(
        cache.flights.lock().unwrap().is_empty(),
        "flights are cleaned up"
    );
}

mod disk;
