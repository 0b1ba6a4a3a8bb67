//! The current month's indicators on `/metrics` (`lienthong_dossier_indicator`),
//! recomputed every `dossiers.indicators_every`: a report reads every dossier of
//! the month, so scrapes read the last one rather than start their own.

use std::sync::Arc;
use std::time::Duration;

use lienthong_proto::Month;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Computes the current month's indicators every `every` until `stop` (never when
/// `every` is zero), and shows each agency's and the total on `metrics`.
pub fn spawn(
    store: lienthong_ledger::Shared,
    metrics: Arc<Metrics>,
    every: Duration,
    stop: CancellationToken,
) {
    if every.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = crate::clock::now_micros() / 1_000_000;
            match super::indicators(&*store, Month::of(now), "", now).await {
                Ok(indicators) => metrics.show_indicators(&indicators),
                Err(e) => {
                    tracing::warn!(error = %e, "the month's indicators could not be computed")
                }
            }
        }
    });
}
