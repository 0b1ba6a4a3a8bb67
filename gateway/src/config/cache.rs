//! The cache in front of the population registry and the circuit breaker beside it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The read-through cache (`cache/` and `cache.key` in the data dir).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Cache records at all. Off, every lookup goes upstream (still one call per
    /// record at a time, still behind the breaker).
    pub enabled: bool,
    /// Bytes of sealed records on disk at most (keys and values; sled's files take
    /// up to about twice that); the oldest go first.
    pub max_bytes: u64,
    /// Records kept decrypted in memory at most.
    pub memory_entries: usize,
    /// How often expired records are swept from disk.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// Identity records (GetCitizen, VerifyCitizen).
    pub citizen: Freshness,
    /// Residence records (GetResidence).
    pub residence: Freshness,
}

/// How long a cached record serves.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    /// Served from the cache this long after it was fetched.
    #[serde(with = "humantime_serde")]
    pub fresh: Duration,
    /// Then, while the upstream is down or its circuit open, served (marked stale)
    /// for this much longer.
    #[serde(with = "humantime_serde")]
    pub stale_if_error: Duration,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness {
            fresh: Duration::from_secs(5 * 60),
            stale_if_error: Duration::from_secs(24 * 3600),
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            max_bytes: 256 * 1024 * 1024,
            memory_entries: 10_000,
            sweep_interval: Duration::from_secs(600),
            citizen: Freshness::default(),
            residence: Freshness::default(),
        }
    }
}

/// When the upstream's circuit opens and when it is probed again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive upstream failures that open the circuit.
    pub failures: u32,
    /// How long it stays open before one probe goes through.
    #[serde(with = "humantime_serde")]
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 5,
            cool_down: Duration::from_secs(10),
        }
    }
}
