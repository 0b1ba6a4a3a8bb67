//! The ledger writer's metrics: what each durable commit took, observed on the
//! writer's own thread.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use super::latency;

/// The audit writer's work, shared with the writer thread.
#[derive(Debug, Clone)]
pub struct AuditMetrics {
    /// Records per durable commit.
    pub batch: Histogram,
    /// Time from the batch's first record taken to its commit done, in seconds.
    pub flush: Histogram,
    /// Commits that failed (every request in them refused).
    pub failures: Counter,
}

impl lienthong_ledger::Observe for AuditMetrics {
    fn committed(&self, records: usize, took: std::time::Duration) {
        self.batch.observe(records as f64);
        self.flush.observe(took.as_secs_f64());
    }

    fn failed(&self) {
        self.failures.inc();
    }
}

impl Default for AuditMetrics {
    fn default() -> Self {
        AuditMetrics {
            batch: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            flush: latency(),
            failures: Counter::default(),
        }
    }
}
