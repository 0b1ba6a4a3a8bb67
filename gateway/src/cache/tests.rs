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

    /// A lookup whose upstream answers `answer` (counting the call).
    async fn get(
        &self,
        cache: &Cache,
        id: &str,
        answer: Result<(), Upstream>,
    ) -> Result<(Citizen, Option<Served>), Error> {
        let fetch = async {
            self.calls.fetch_add(1, Ordering::SeqCst);
            answer.map(|()| citizen(id)).map_err(Error::Upstream)
        };
        cache.get(Record::Citizen, id, fetch).await
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

fn served(r: &Result<(Citizen, Option<Served>), Error>) -> Option<Served> {
    r.as_ref().ok().and_then(|(_, s)| *s)
}

const ID: &str = "001085012345";

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
                cache.get(Record::Citizen, ID, fetch).await
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
        assert_eq!(how, Some(Served::Miss));
    }
    assert_eq!(rig.calls(), 1, "one flight for fifty callers");
    assert!(
        cache.flights.lock().unwrap().is_empty(),
        "flights are cleaned up"
    );
}

#[tokio::test]
async fn the_oldest_records_go_beyond_the_size_bound() {
    let rig = Rig::new();
    let cache = rig.open(CacheConfig {
        max_bytes: 4096,
        ..settings()
    });
    let ids: Vec<String> = (0..40).map(|i| format!("0010850{i:05}")).collect();
    for id in &ids {
        rig.get(&cache, id, Ok(())).await.unwrap();
        rig.clock.advance(Duration::from_secs(1));
    }
    let before = cache.stats().unwrap();
    assert_eq!(before.entries, 40);
    assert!(before.bytes > 4096);
    let (expired, evicted) = cache.sweep();
    assert_eq!(expired, 0);
    assert!(evicted > 0);
    let after = cache.stats().unwrap();
    // Down to the low-water mark, so the next records do not each cost a sweep.
    assert!(after.bytes <= 4096 * 9 / 10, "{after:?}");
    assert!(
        after.bytes > 4096 * 9 / 10 - 200,
        "no more than needed went: {after:?}"
    );
    assert_eq!(after.entries, 40 - evicted);
    assert_eq!(cache.sweep(), (0, 0), "under the bound: nothing to do");
    // the newest stay, the oldest went
    let calls = rig.calls();
    assert_eq!(
        served(&rig.get(&cache, &ids[39], Ok(())).await),
        Some(Served::Hit)
    );
    assert_eq!(
        served(&rig.get(&cache, &ids[0], Ok(())).await),
        Some(Served::Miss)
    );
    assert_eq!(rig.calls(), calls + 1);
}

#[tokio::test]
async fn expired_records_are_swept() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    rig.get(&cache, ID, Ok(())).await.unwrap();
    rig.clock
        .advance(24 * 60 * MIN + 5 * MIN + Duration::from_secs(1));
    rig.get(&cache, "079301012345", Ok(())).await.unwrap();
    assert_eq!(cache.sweep(), (1, 0));
    assert_eq!(cache.stats().unwrap().entries, 1);
}

#[tokio::test]
async fn a_restarted_cache_is_warm() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    rig.get(&cache, ID, Ok(())).await.unwrap();
    cache.flush();
    drop(cache);
    let cache = rig.open(settings());
    assert_eq!(
        served(&rig.get(&cache, ID, down()).await),
        Some(Served::Hit)
    );
    assert_eq!(rig.calls(), 1, "served from disk after the restart");
}

#[tokio::test]
async fn another_key_means_a_cold_cache_not_a_wrong_answer() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    rig.get(&cache, ID, Ok(())).await.unwrap();
    cache.flush();
    drop(cache);
    std::fs::write(rig.dir.path().join("cache.key"), [9u8; 32]).unwrap();
    let cache = rig.open(settings());
    assert_eq!(
        served(&rig.get(&cache, ID, Ok(())).await),
        Some(Served::Miss)
    );
    drop(cache);
    std::fs::remove_file(rig.dir.path().join("cache.key")).unwrap();
    let cache = rig.open(settings());
    assert!(
        rig.get(&cache, ID, down()).await.is_err(),
        "nothing readable under a new key"
    );
}

#[tokio::test]
async fn the_files_hold_neither_names_nor_personal_ids() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    let today = lienthong_adapters::sim::today();
    let mut secrets = Vec::new();
    for n in 0..20 {
        let id =
            lienthong_proto::PersonalId::parse(&format!("0790{:02}0{:05}", 80 + n, n)).unwrap();
        let Some(c) = lienthong_adapters::sim::citizens::citizen(&id, today) else {
            continue;
        };
        secrets.push(c.personal_id.clone());
        secrets.push(c.full_name.clone());
        let fetch = async { Ok(c.clone()) };
        cache
            .get(Record::Citizen, id.as_str(), fetch)
            .await
            .unwrap();
    }
    assert!(secrets.len() >= 30);
    cache.flush();
    drop(cache);
    let mut bytes = Vec::new();
    let mut files = 0;
    let mut dirs = vec![rig.dir.path().join("cache")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                bytes.extend(std::fs::read(&path).unwrap());
                files += 1;
            }
        }
    }
    assert!(
        files > 0 && bytes.len() > 1000,
        "sled wrote {files} files, {} bytes",
        bytes.len()
    );
    for secret in &secrets {
        let needle = secret.as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{secret:?} is readable in the cache files"
        );
    }
}

#[tokio::test]
async fn a_cache_that_cannot_be_opened_is_moved_aside() {
    let rig = Rig::new();
    let dir = rig.dir.path().join("cache");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("conf"), b"this is not sled's configuration").unwrap();
    std::fs::write(dir.join("db"), vec![0xff; 4096]).unwrap();
    let cache = rig.open(settings());
    assert_eq!(
        served(&rig.get(&cache, ID, Ok(())).await),
        Some(Served::Miss)
    );
    assert!(cache.stats().is_some(), "a new disk cache, not memory only");
    let aside: Vec<_> = std::fs::read_dir(rig.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("cache.broken-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
}

#[tokio::test]
async fn purge_removes_a_citizens_records() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    rig.get(&cache, ID, Ok(())).await.unwrap();
    rig.get(&cache, "079301012345", Ok(())).await.unwrap();
    cache.purge(ID);
    assert!(rig.get(&cache, ID, down()).await.is_err(), "purged");
    assert_eq!(
        served(&rig.get(&cache, "079301012345", down()).await),
        Some(Served::Hit)
    );
}

#[tokio::test]
async fn a_cache_in_use_is_never_moved_aside() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    rig.get(&cache, ID, Ok(())).await.unwrap();
    let err = Store::open(&rig.dir.path().join("cache"))
        .err()
        .expect("locked");
    assert!(err.to_string().contains("in use"), "{err}");
    let names: Vec<_> = std::fs::read_dir(rig.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !names.iter().any(|n| n.to_string_lossy().contains("broken")),
        "{names:?}"
    );
    assert_eq!(
        served(&rig.get(&cache, ID, down()).await),
        Some(Served::Hit)
    );
}
