//! The durable store (`data/ledger.redb`): the audit log, the dossiers and their sync
//! outbox, in one redb file. redb reopens cleanly after a kill (see DESIGN.md for
//! why not sled); one file means one lock, so two gateways can never share a data
//! dir. Beside it, `ledger.journal` holds the audit records of the commits redb has
//! not synced yet ([`crate::audit::journal`]); opening the ledger replays it.

use std::path::Path;
use std::sync::Arc;

use redb::Database;

use crate::Error;

/// The ledger's file name in the data dir.
pub const FILE: &str = "ledger.redb";

/// Opens (or creates) the ledger of the data dir `dir`.
pub fn in_dir(dir: &Path) -> Result<Arc<Database>, Error> {
    open(&dir.join(FILE))
}

/// redb's page cache for the ledger (its default is 1 GiB). Writes append at the
/// right edge of each table and queries scan forward, so a small cache serves both
/// and keeps the gateway's memory small and flat.
const CACHE: usize = 16 * 1024 * 1024;

/// Opens (or creates) the ledger at `path`, with the audit records of its journal
/// that it lacks committed to it.
pub fn open(path: &Path) -> Result<Arc<Database>, Error> {
    let db = redb::Builder::new()
        .set_cache_size(CACHE)
        .create(path)
        .map(Arc::new)
        .map_err(|e| Error::Audit(format!("open {}: {e}", path.display())))?;
    crate::audit::journal::recover(&db, &crate::audit::journal::path_of(path))?;
    Ok(db)
}
