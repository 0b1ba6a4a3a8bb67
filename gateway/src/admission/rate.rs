//! Per-agency rate limits: a token bucket per agency, each with the agency's own
//! rate and burst (or the default ones).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{Rate, RateLimits};

/// A token bucket per agency.
pub struct RateLimiter {
    limits: RateLimits,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// Buckets for `limits`, each starting full.
    pub fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `agency` at `now`, or says how long until one is due.
    pub fn take(&self, agency: &str, now: Instant) -> Result<(), (Rate, Duration)> {
        let rate = self.limits.of(agency);
        let burst = f64::from(rate.burst);
        let mut buckets = self.buckets.lock().expect("rate buckets");
        // The agency's code is copied once, for its first request, not for every one.
        if !buckets.contains_key(agency) {
            buckets.insert(
                agency.to_owned(),
                Bucket {
                    tokens: burst,
                    at: now,
                },
            );
        }
        let bucket = buckets.get_mut(agency).expect("inserted above");
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate.per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / rate.per_second;
            Err((
                rate,
                Duration::from_secs_f64(wait).max(Duration::from_millis(1)),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_and_says_when() {
        let mut limits = RateLimits {
            per_second: 10.0,
            burst: 3,
            ..RateLimits::default()
        };
        limits.agencies.insert(
            "H99.02".into(),
            Rate {
                per_second: 1.0,
                burst: 1,
            },
        );
        let r = RateLimiter::new(limits);
        let t0 = Instant::now();
        for _ in 0..3 {
            r.take("H99.01", t0).expect("the burst");
        }
        let (rate, wait) = r.take("H99.01", t0).unwrap_err();
        assert_eq!(rate.per_second, 10.0);
        assert!(
            wait > Duration::from_millis(90) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        r.take("H99.01", t0 + Duration::from_millis(100))
            .expect("one token after 100 ms");
        // Another agency has its own bucket, and its own rate.
        r.take("H99.02", t0).expect("its burst of one");
        let (_, wait) = r.take("H99.02", t0).unwrap_err();
        assert!(wait > Duration::from_millis(990), "{wait:?}");
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            r.take("H99.01", later).unwrap();
        }
        assert!(r.take("H99.01", later).is_err());
    }
}
