//! Claims and leases of the embedded ledger. One process holds the file, so they
//! live in its memory: after a restart nobody holds anything, which is right, since
//! the only owner there was has gone.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use lienthong_proto::v1::SyncStatus;
use redb::{ReadOnlyTable, ReadTransaction, ReadableTable};

use super::Context;
use super::dossiers::{DEAD, DOSSIERS, OUTBOX, decode_dead, decode_dossier, decode_entry};
use crate::{Entry, Error};

/// Who holds what, until when.
#[derive(Default)]
pub(super) struct Claims {
    /// Dossier code → (owner, until).
    dossiers: HashMap<String, (String, Instant)>,
    /// Lease name → (owner, until).
    leases: HashMap<String, (String, Instant)>,
}

impl Claims {
    /// See [`crate::Store::claim`], over the outbox as `txn` sees it.
    pub(super) fn claim(
        &mut self,
        txn: &ReadTransaction,
        owner: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Entry>, Error> {
        let now = Instant::now();
        let mut dead = HashSet::new();
        for item in txn
            .open_table(DEAD)
            .ctx("read the dead letters")?
            .iter()
            .ctx("read the dead letters")?
        {
            let (k, v) = item.ctx("read the dead letters")?;
            if let Some((entry, _)) = decode_dead(k.value(), v.value()) {
                dead.insert(entry.code().to_owned());
            }
        }
        // The dossiers held whose heads may still wait: one fully delivered, or
        // held back by a dead letter, has none to find, and counting it would make
        // the scan below read the whole outbox (and take fewer new dossiers).
        let stored = txn.open_table(DOSSIERS).ctx("read the dossiers held")?;
        let mut mine = HashSet::new();
        for (code, (o, _)) in &self.dossiers {
            if o == owner && may_wait(&stored, code)? {
                mine.insert(code.as_str());
            }
        }
        let budget = limit.saturating_sub(mine.len());
        let (mut found_mine, mut taken) = (0, 0);
        let mut seen = HashSet::new();
        let mut heads = Vec::new();
        for item in txn
            .open_table(OUTBOX)
            .ctx("read the outbox")?
            .iter()
            .ctx("read the outbox")?
        {
            if found_mine == mine.len() && taken == budget {
                break;
            }
            let (k, v) = item.ctx("read the outbox")?;
            let entry = decode_entry(k.value(), v.value())
                .ok_or_else(|| Error::Corrupt(format!("undecodable outbox entry {}", k.value())))?;
            if !seen.insert(entry.code().to_owned()) || dead.contains(entry.code()) {
                continue;
            }
            // A dossier of this owner's that `may_wait` left out but that has a
            // head after all is taken anew, not skipped as another's: the sync
            // state only spares the scan, it never decides what is handed out.
            if mine.contains(entry.code()) {
                found_mine += 1;
            } else if self
                .dossiers
                .get(entry.code())
                .is_some_and(|(o, until)| o != owner && *until > now)
                || taken == budget
            {
                continue;
            } else {
                taken += 1;
            }
            heads.push(entry);
        }
        self.dossiers.retain(|_, (o, _)| o != owner);
        for entry in &heads {
            self.dossiers
                .insert(entry.code().to_owned(), (owner.to_owned(), now + lease));
        }
        Ok(heads)
    }

    /// See [`crate::Store::release`].
    pub(super) fn release(&mut self, owner: &str) {
        self.dossiers.retain(|_, (o, _)| o != owner);
        self.leases.retain(|_, (o, _)| o != owner);
    }

    /// See [`crate::Store::lease`].
    pub(super) fn lease(&mut self, name: &str, owner: &str, lease: Duration) -> bool {
        let now = Instant::now();
        match self.leases.get(name) {
            Some((o, until)) if o != owner && *until > now => false,
            _ => {
                self.leases
                    .insert(name.to_owned(), (owner.to_owned(), now + lease));
                true
            }
        }
    }
}

/// False when dossier `code` has nothing in the outbox for a worker: all delivered,
/// or held back behind a dead letter, as its sync state says (a dossier without one
/// counts as waiting; one not stored has no entry either).
fn may_wait(stored: &ReadOnlyTable<&str, &[u8]>, code: &str) -> Result<bool, Error> {
    let Some(value) = stored.get(code).ctx("read the dossiers held")? else {
        return Ok(false);
    };
    let dossier = decode_dossier(code, value.value())?;
    Ok(dossier
        .sync
        .is_none_or(|s| s.status == SyncStatus::Pending as i32))
}
