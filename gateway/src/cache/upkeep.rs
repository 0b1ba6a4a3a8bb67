//! The cache's upkeep: the operator's purges, the disk's counts, and the sweep that
//! drops expired records and the oldest beyond the size bound.

use std::sync::Arc;

use lienthong_ledger::Event;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::store::Store;
use super::{Cache, Stats};
use crate::Error;
use crate::policy::Record;

impl Cache {
    /// Removes every record about `personal_id` (a correction at the register);
    /// returns how many the disk held.
    pub fn purge(&self, personal_id: &str) -> u64 {
        let removed = [Record::Citizen, Record::Residence]
            .into_iter()
            .filter(|r| self.forget(&self.keys.index(r.prefix(), personal_id)))
            .count() as u64;
        if let Some(store) = &self.store {
            store.flush();
        }
        removed
    }

    /// Removes the records about `personal_id` ("" for every record), off the
    /// async runtime; how many the disk held.
    pub async fn purge_blocking(self: &Arc<Self>, personal_id: String) -> Result<u64, Error> {
        let cache = self.clone();
        tokio::task::spawn_blocking(move || match personal_id.is_empty() {
            true => cache.purge_all(),
            false => Ok(cache.purge(&personal_id)),
        })
        .await
        .map_err(|e| Error::Server(e.to_string()))?
    }

    /// Removes every record; returns how many the disk held.
    pub fn purge_all(&self) -> Result<u64, Error> {
        if let Some(memory) = &self.memory {
            memory.lock().expect("cache memory").clear();
        }
        self.store.as_ref().map_or(Ok(0), Store::clear)
    }

    /// The disk side's counts, when there is one.
    pub fn stats(&self) -> Option<Stats> {
        self.store.as_ref().map(Store::stats)
    }

    /// Drops expired records and the oldest beyond the size bound; returns how many.
    pub fn sweep(&self) -> (u64, u64) {
        let Some(store) = &self.store else {
            return (0, 0);
        };
        let longest = [Record::Citizen, Record::Residence]
            .into_iter()
            .map(|r| self.window(r).1)
            .max()
            .unwrap_or(0);
        // Memory is kept no wider than the disk: what goes from one goes from both.
        let memory = self.memory.as_ref();
        let (expired, evicted) =
            store.sweep(self.clock.now() - longest, self.settings.max_bytes, |key| {
                if let (Some(memory), Ok(key)) = (memory, <[u8; 32]>::try_from(key)) {
                    memory.lock().expect("cache memory").pop(&key);
                }
            });
        if expired + evicted > 0 {
            tracing::info!(expired, evicted, bytes = store.bytes(), "cache swept");
        }
        (expired, evicted)
    }

    /// Sweeps every `sweep_interval` and whenever the size bound is passed, until
    /// `shutdown`; then flushes.
    pub fn spawn_sweeper(self: &Arc<Self>, shutdown: CancellationToken) {
        let cache = self.clone();
        tokio::spawn(async move {
            // Not at once: opening the store has just read it through.
            let every = cache.settings.sweep_interval;
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                    _ = cache.over_bound.notified() => {}
                }
                let c = cache.clone();
                let _ = tokio::task::spawn_blocking(move || c.sweep()).await;
            }
            if let Some(store) = &cache.store {
                store.flush();
            }
        });
    }

    /// Writes the disk side out (at shutdown).
    pub fn flush(&self) {
        if let Some(store) = &self.store {
            store.flush();
        }
    }

    /// Applies the purges any replica announces on the shared ledger (this one's
    /// too), until `shutdown`. A follower that fell behind may have missed one, so
    /// it drops everything: a record kept against an operator's word is the worse
    /// mistake.
    pub fn follow_purges(
        self: &Arc<Self>,
        mut events: broadcast::Receiver<Event>,
        shutdown: CancellationToken,
    ) {
        let cache = self.clone();
        tokio::spawn(async move {
            loop {
                let id = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    event = events.recv() => match event {
                        Ok(Event::Purge(id)) => id,
                        Ok(Event::Inbound(_)) => continue,
                        Err(RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "fell behind the ledger's events; dropping the whole cache");
                            String::new()
                        }
                        Err(RecvError::Closed) => return,
                    },
                };
                match cache.purge_blocking(id).await {
                    Ok(removed) if removed > 0 => {
                        tracing::info!(records = removed, "cache purged (announced on the ledger)")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "an announced purge failed"),
                }
            }
        });
    }
}
