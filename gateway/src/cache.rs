//! A read-through cache of identity and residence records that keeps agencies
//! working when the national system is slow or down.
//!
//! - A record younger than its `fresh` TTL is served from the cache (`hit`).
//! - Older or absent, it is fetched (`miss`); concurrent misses for one record make
//!   one upstream call (single flight), through the upstream's circuit breaker.
//! - If that fails because the upstream is down, slow or its circuit is open, a record
//!   stored less than `fresh + stale_if_error` ago is served instead (`stale`);
//!   beyond that the failure stands (`UNAVAILABLE`).
//! - Records live in memory (a bounded LRU, plaintext) in front of sled (sealed; see
//!   [`seal`]): neither names nor personal IDs reach the files. A background sweep
//!   drops expired records and the oldest ones beyond the size bound.
//! - Whether someone looked a citizen up lately is itself personal data, so an
//!   agency is told how *its* lookup was served as if the cache were its own
//!   ([`View`]): `hit` only for a record it was served before, else `miss`; and a
//!   stale record bridges an outage only for an agency that had it already (it is
//!   told nothing new). The audit record keeps the truth for inspectors.

mod failure;
pub mod seal;
pub mod store;
mod upkeep;

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lienthong_adapters::Fault;
use lru::LruCache;
use prost::Message;
use tokio::sync::{Notify, OnceCell};

use crate::Error;
use crate::breaker::Breaker;
use crate::clock::{Clock, micros};
use crate::config::CacheConfig;
use crate::policy::Record;
use failure::Failure;
use seal::Keys;
use store::Store;

pub use store::Stats;

/// How an answer was served; the `x-cache` header and the audit record say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// From the cache, fresh.
    Hit,
    /// From the upstream (and now cached).
    Miss,
    /// From the cache, past its TTL, because the upstream failed.
    Stale,
}

impl Served {
    /// `hit`, `miss` or `stale`.
    pub fn as_str(self) -> &'static str {
        match self {
            Served::Hit => "hit",
            Served::Miss => "miss",
            Served::Stale => "stale",
        }
    }
}

/// How a lookup was served: in truth (for the audit record), and as the calling
/// agency is told (the `x-cache` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// How the record was served.
    pub served: Served,
    /// What the agency is told: `hit` or `stale` only for a record it had before.
    pub shown: Served,
}

/// Agencies remembered per record, at most: beyond, the longest-known are
/// forgotten (they see `miss` once more).
const SEEN_BY: usize = 64;

/// A record as held: when it was stored, its protobuf bytes, and the agencies it
/// has been served to (in memory only: after a restart, nobody has seen it).
#[derive(Clone)]
struct Entry {
    at: i64,
    bytes: Arc<[u8]>,
    seen: Arc<Mutex<Vec<Box<str>>>>,
}

impl Entry {
    fn new(at: i64, bytes: Arc<[u8]>) -> Entry {
        Entry {
            at,
            bytes,
            seen: Arc::default(),
        }
    }

    /// Whether `agency` was served this record before.
    fn had(&self, agency: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter().any(|a| &**a == agency)
    }

    /// Whether `agency` had this record before; it has now.
    fn served_to(&self, agency: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.iter().any(|a| &**a == agency) {
            return true;
        }
        if seen.len() == SEEN_BY {
            seen.remove(0);
        }
        seen.push(agency.into());
        false
    }
}

type Flight = Arc<OnceCell<Result<Entry, Failure>>>;

/// The cache in front of one upstream.
pub struct Cache {
    settings: CacheConfig,
    keys: Keys,
    /// `None` when caching is off, or the disk could not be used at all.
    store: Option<Store>,
    /// `None` when caching is off.
    memory: Option<Mutex<LruCache<[u8; 32], Entry>>>,
    flights: Mutex<HashMap<[u8; 32], Flight>>,
    breaker: Breaker,
    clock: Arc<dyn Clock>,
    /// The upstream's name, for errors.
    endpoint: String,
    /// Wakes the sweeper when the size bound is passed.
    over_bound: Notify,
}

impl Cache {
    /// The cache under `data_dir` (`cache/` and `cache.key`), or a pass-through
    /// (still single-flight, still behind the breaker) when `settings.enabled` is off.
    /// Never fails: a cache that cannot be used leaves a log line and a colder gateway.
    pub fn open(
        data_dir: &Path,
        settings: CacheConfig,
        breaker: Breaker,
        clock: Arc<dyn Clock>,
        endpoint: &str,
    ) -> Cache {
        let (keys, store) = if settings.enabled {
            let keys = Keys::load_or_create(&data_dir.join("cache.key")).unwrap_or_else(|e| {
                tracing::error!(error = %e, "cache key unusable; this run's cache lives in memory only");
                Keys::from_master(&random_key())
            });
            let store = Store::open(&data_dir.join("cache"))
                .inspect_err(|e| tracing::error!(error = %e, "the cache's disk is unusable; caching in memory only"))
                .ok();
            (keys, store)
        } else {
            (Keys::from_master(&random_key()), None)
        };
        let memory = settings.enabled.then(|| {
            let cap = NonZeroUsize::new(settings.memory_entries).unwrap_or(NonZeroUsize::MIN);
            Mutex::new(LruCache::new(cap))
        });
        Cache {
            settings,
            keys,
            store,
            memory,
            flights: Mutex::new(HashMap::new()),
            breaker,
            clock,
            endpoint: endpoint.to_owned(),
            over_bound: Notify::new(),
        }
    }

    /// The cache of a stopped gateway's data dir, for `lienthong cache`: unlike
    /// [`Cache::open`], every problem is an error.
    pub fn open_offline(data_dir: &Path) -> Result<Cache, Error> {
        let key = data_dir.join("cache.key");
        if !key.exists() {
            return Err(Error::Config {
                key: "cache".into(),
                detail: format!("{} has no cache key: no cache to read", data_dir.display()),
            });
        }
        let settings = CacheConfig::default();
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::System);
        let breaker = Breaker::new(1, Duration::from_secs(1), clock.clone());
        let memory = Mutex::new(LruCache::new(NonZeroUsize::MIN));
        Ok(Cache {
            keys: Keys::load_or_create(&key)?,
            store: Some(Store::open(&data_dir.join("cache"))?),
            memory: Some(memory),
            settings,
            flights: Mutex::new(HashMap::new()),
            breaker,
            clock,
            endpoint: String::new(),
            over_bound: Notify::new(),
        })
    }

    /// The upstream's circuit breaker.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    fn window(&self, record: Record) -> (i64, i64) {
        let f = match record {
            Record::Citizen => &self.settings.citizen,
            Record::Residence => &self.settings.residence,
        };
        (micros(f.fresh), micros(f.fresh + f.stale_if_error))
    }

    /// `record` about `personal_id` for `agency`: from the cache while fresh, else
    /// from `fetch` (once for all concurrent callers), else stale if the upstream
    /// is down and the agency had it already. The second value is how it was
    /// served, and how the agency is told; `None` when caching is off.
    #[tracing::instrument(name = "cache", level = "debug", skip_all)]
    pub async fn get<T, F>(
        &self,
        record: Record,
        personal_id: &str,
        agency: &str,
        fetch: F,
    ) -> Result<(T, Option<View>), Error>
    where
        T: Message + Default,
        F: Future<Output = Result<T, Error>>,
    {
        let key = self.keys.index(record.prefix(), personal_id);
        let (fresh, usable) = self.window(record);
        let cached = self.lookup(&key);
        let age = |e: &Entry| self.clock.now() - e.at;
        if let Some(e) = cached.as_ref().filter(|e| age(e) < fresh)
            && let Ok(value) = T::decode(&*e.bytes)
        {
            let shown = if e.served_to(agency) {
                Served::Hit
            } else {
                Served::Miss
            };
            return Ok((value, self.served(Served::Hit, shown)));
        }
        let flight = self.join(key);
        let outcome = flight
            .get_or_init(|| async {
                let permit = self.breaker.permit().map_err(|r| Failure::Open {
                    endpoint: self.endpoint.clone(),
                    retry_in: r.retry_in,
                })?;
                let result = fetch.await;
                match &result {
                    Ok(_) => self.breaker.record(permit, true),
                    Err(Error::Upstream(e)) => {
                        self.breaker.record(permit, e.fault() != Fault::Upstream)
                    }
                    Err(_) => {}
                }
                let value = result.map_err(|e| Failure::of(e, &self.endpoint))?;
                let entry = Entry::new(self.clock.now(), value.encode_to_vec().into());
                self.keep(&key, &entry);
                Ok(entry)
            })
            .await
            .clone();
        self.leave(&key, &flight);
        match outcome {
            Ok(entry) => {
                let value = T::decode(&*entry.bytes).map_err(|e| Error::Server(e.to_string()))?;
                entry.served_to(agency);
                Ok((value, self.served(Served::Miss, Served::Miss)))
            }
            Err(Failure::Upstream(e @ lienthong_adapters::Error::NotFound { .. })) => {
                self.forget(&key);
                Err(Error::Upstream(e))
            }
            // A stale record bridges the outage only for an agency it was served to
            // before: it learns nothing it did not know, and nobody learns that
            // someone else asked.
            Err(f) => match cached.filter(|e| f.stale_ok() && age(e) < usable) {
                Some(e) if e.had(agency) => {
                    let value = T::decode(&*e.bytes).map_err(|_| Error::from(f.clone()))?;
                    tracing::warn!(upstream = %self.endpoint, "upstream failed; serving a stale record");
                    Ok((value, self.served(Served::Stale, Served::Stale)))
                }
                _ => Err(f.into()),
            },
        }
    }

    fn served(&self, served: Served, shown: Served) -> Option<View> {
        self.settings.enabled.then_some(View { served, shown })
    }

    fn lookup(&self, key: &[u8; 32]) -> Option<Entry> {
        let memory = self.memory.as_ref()?;
        if let Some(e) = memory.lock().expect("cache memory").get(key) {
            return Some(e.clone());
        }
        let sealed = self.store.as_ref()?.get(key)?;
        let (at, plain) = self.keys.open(key, &sealed)?;
        let entry = Entry::new(at, plain.into());
        memory
            .lock()
            .expect("cache memory")
            .put(*key, entry.clone());
        Some(entry)
    }

    fn keep(&self, key: &[u8; 32], entry: &Entry) {
        let Some(memory) = &self.memory else { return };
        memory
            .lock()
            .expect("cache memory")
            .put(*key, entry.clone());
        if let Some(store) = &self.store {
            store.put(key, &self.keys.seal(key, entry.at, &entry.bytes));
            if store.bytes() > self.settings.max_bytes {
                self.over_bound.notify_one();
            }
        }
    }

    /// Drops the record under `key` from memory and disk; true if the disk had it.
    fn forget(&self, key: &[u8; 32]) -> bool {
        if let Some(memory) = &self.memory {
            memory.lock().expect("cache memory").pop(key);
        }
        self.store.as_ref().is_some_and(|s| s.remove(key))
    }

    /// The flight for `key`, joined or started.
    fn join(&self, key: [u8; 32]) -> Flight {
        self.flights
            .lock()
            .expect("flights")
            .entry(key)
            .or_default()
            .clone()
    }

    /// Ends this caller's part in a flight; the last one out removes it.
    fn leave(&self, key: &[u8; 32], flight: &Flight) {
        let mut flights = self.flights.lock().expect("flights");
        if flights
            .get(key)
            .is_some_and(|f| Arc::ptr_eq(f, flight) && f.initialized())
        {
            flights.remove(key);
        }
    }
}

fn random_key() -> [u8; seal::KEY_LEN] {
    use ring::rand::SecureRandom;
    let mut key = [0; seal::KEY_LEN];
    ring::rand::SystemRandom::new()
        .fill(&mut key)
        .expect("system randomness");
    key
}

#[cfg(test)]
mod tests;
