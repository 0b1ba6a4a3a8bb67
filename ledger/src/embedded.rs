//! The embedded ledger: one redb file (`ledger.redb` in the data dir), the default
//! store, with nothing to install.
//!
//! redb reopens cleanly after a kill and fsyncs every durable commit (see DESIGN.md
//! for why not sled); one file means one lock, so two gateways can never share a
//! data dir. Beside it, `ledger.journal` ([`journal`]) makes a batch of plain audit
//! records durable with one write and one `fdatasync`: such a batch is framed in
//! the journal, answered, and committed to redb without a sync afterwards, with
//! the batches after it, by a thread of its own ([`commit`], [`indexer`]);
//! readers wait for that. Every
//! durable redb commit (a batch with a dossier change or a delivery, a signed
//! checkpoint, a full journal, a close) covers the records before it, and the
//! journal starts again. Opening the ledger replays the journal.

mod audit;
mod claims;
mod commit;
mod dossiers;
mod facts;
mod inbound;
mod indexer;
pub mod journal;
mod store;
mod subjects;
mod tree;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::{Database, ReadTransaction, ReadableDatabase, TableHandle};

use crate::merkle::Frontier;
use crate::{Error, Event, Head};
use journal::Journal;

/// The ledger's file name in the data dir.
pub const FILE: &str = "ledger.redb";

/// redb's page cache for the ledger (its default is 1 GiB). Writes append at the
/// right edge of each table and queries scan forward, so a small cache serves both
/// and keeps the gateway's memory small and flat.
const CACHE: usize = 16 * 1024 * 1024;

/// Says what was being done when redb failed.
trait Context<T> {
    fn ctx(self, context: &'static str) -> Result<T, Error>;
}

impl<T, E: Into<redb::Error>> Context<T> for Result<T, E> {
    fn ctx(self, context: &'static str) -> Result<T, Error> {
        self.map_err(|e| Error::unavailable(context, e.into()))
    }
}

/// Makes a file this store creates owner-only (0600), whatever the umask: the
/// ledger holds every lookup's subject and the applicants' names.
pub(crate) fn owner_only(path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::unavailable(&format!("restrict {}", path.display()), e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Creates (or opens) the redb file at `path` with every table.
fn create(path: &Path) -> Result<Database, Error> {
    let fresh = !path.exists();
    let db = redb::Builder::new()
        .set_cache_size(CACHE)
        .create(path)
        .map_err(|e| Error::Unavailable(format!("open {}: {e}", path.display())))?;
    if fresh {
        owner_only(path)?;
    }
    // Tables are made once; opening an existing ledger writes nothing.
    let names = [
        audit::RECORDS.name(),
        audit::CHECKPOINTS.name(),
        tree::TILES.name(),
        tree::COSIGNATURES.name(),
        dossiers::DOSSIERS.name(),
        dossiers::OUTBOX.name(),
        dossiers::SEQ.name(),
        dossiers::DEAD.name(),
        facts::FACTS.name(),
        subjects::SUBJECTS.name(),
        inbound::INBOUND.name(),
        inbound::CODES.name(),
        inbound::META.name(),
    ];
    let existing: Vec<String> = db
        .begin_read()
        .ctx("create the ledger's tables")?
        .list_tables()
        .ctx("create the ledger's tables")?
        .map(|t| t.name().to_owned())
        .collect();
    if names.iter().any(|n| !existing.iter().any(|x| x == n)) {
        let txn = db.begin_write().ctx("create the ledger's tables")?;
        macro_rules! open_all {
            ($($table:expr),*) => {
                $(txn.open_table($table).ctx("create the ledger's tables")?;)*
            };
        }
        open_all!(
            audit::RECORDS,
            audit::CHECKPOINTS,
            tree::TILES,
            tree::COSIGNATURES,
            dossiers::DOSSIERS,
            dossiers::OUTBOX,
            dossiers::SEQ,
            dossiers::DEAD,
            inbound::INBOUND,
            inbound::CODES,
            inbound::META
        );
        // A ledger from before the facts were kept gets them from its dossiers.
        if !existing.iter().any(|x| x == facts::FACTS.name()) {
            let built = facts::build(&txn)?;
            if built > 0 {
                tracing::info!(dossiers = built, "dossiers' report fields built");
            }
        }
        txn.open_table(facts::FACTS)
            .ctx("create the ledger's tables")?;
        // And its audit records, their subject index.
        if !existing.iter().any(|x| x == subjects::SUBJECTS.name()) {
            let built = subjects::build(&txn)?;
            if built > 0 {
                tracing::info!(records = built, "audit subject index built");
            }
        }
        txn.commit().ctx("create the ledger's tables")?;
    }
    Ok(db)
}

/// The embedded ledger.
pub struct Embedded {
    /// The open file, the records waiting for it and the head readers see, shared
    /// with the indexer thread.
    shared: Arc<indexer::Shared>,
    /// Writes the records the journal made durable to redb.
    indexer: indexer::Indexer,
    path: PathBuf,
    /// Where the audit log ends: read at open, moved by each commit (only the writer
    /// commits records). Readers see it once the indexer has written the records
    /// up to it (up to 512 of them wait, for at most 10 ms, or until a reader
    /// asks for them).
    head: Mutex<Head>,
    /// The Merkle tree over the records up to `head` (its right edge; the nodes
    /// are in redb, or wait with the records to be indexed). Only the writer
    /// moves it.
    tree: Mutex<Frontier>,
    /// Opened by the first commit (an offline reader never makes one).
    journal: Mutex<Option<Journal>>,
    /// Who holds which dossiers' deliveries and which leases.
    claims: Arc<Mutex<claims::Claims>>,
    /// Events, within this process (the only one that can hold the file).
    events: tokio::sync::broadcast::Sender<Event>,
}

impl Embedded {
    /// Opens (or creates) the ledger of the data dir `dir`.
    pub fn in_dir(dir: &Path) -> Result<Arc<Embedded>, Error> {
        Embedded::open(&dir.join(FILE))
    }

    /// Opens (or creates) the ledger at `path`, with the audit records of its
    /// journal that it lacks committed to it.
    pub fn open(path: &Path) -> Result<Arc<Embedded>, Error> {
        let (db, head, tree) = load(create(path)?, path)?;
        Ok(Arc::new(Embedded {
            shared: Arc::new(indexer::Shared::new(db, head)),
            indexer: indexer::Indexer::default(),
            path: path.to_owned(),
            head: Mutex::new(head),
            tree: Mutex::new(tree),
            journal: Mutex::new(None),
            claims: Arc::default(),
            events: tokio::sync::broadcast::channel(1024).0,
        }))
    }

    /// The open file.
    fn db(&self) -> Result<Arc<Database>, Error> {
        self.shared.db()
    }

    /// After a failed write, whether redb has refused the file for good until it is
    /// reopened (it does after an I/O error such as a full disk); if so, reopens it,
    /// replaying the journal (the acknowledged records redb may not have kept), so
    /// that the gateway writes again once the cause is gone, without a restart.
    fn reopen_if_poisoned(&self) {
        // No index is under way, and none puts records back after the reopening.
        let _writing = self.shared.writing.lock().expect("writing");
        let mut slot = self.shared.db.write().expect("ledger handle");
        if let Some(mut old) = slot.take() {
            let poisoned = matches!(
                old.begin_write(),
                Err(redb::TransactionError::Storage(
                    redb::StorageError::PreviousIo
                ))
            );
            if !poisoned {
                *slot = Some(old);
                return;
            }
            // Readers hold the handle for one read at most; the file's lock goes
            // with the last of them.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                match Arc::try_unwrap(old) {
                    Ok(db) => {
                        drop(db);
                        break;
                    }
                    Err(shared) if std::time::Instant::now() < deadline => {
                        old = shared;
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    Err(shared) => {
                        *slot = Some(shared);
                        tracing::error!(
                            "the ledger failed an I/O and is still in use; it stays refused"
                        );
                        return;
                    }
                }
            }
        }
        // Closed: open it again (or, while the cause lasts, at the next commit).
        let reopened = create(&self.path).and_then(|db| load(db, &self.path));
        match reopened {
            Ok((db, head, tree)) => {
                *self.head.lock().expect("head") = head;
                *self.tree.lock().expect("tree") = tree;
                self.shared.deferred.lock().expect("deferred").clear();
                self.shared.visible.send_replace(head);
                *self.journal.lock().expect("journal") = None;
                *slot = Some(Arc::new(db));
                tracing::warn!(
                    head = head.seq,
                    "the ledger was reopened after an I/O error"
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "the ledger cannot be reopened yet; the next commit tries again")
            }
        }
    }

    /// The head once every record acknowledged before this call is in redb.
    async fn caught_up(&self) -> Result<Head, Error> {
        let durable = self.head.lock().expect("head").seq;
        let now = *self.shared.visible.borrow();
        if now.seq >= durable {
            return Ok(now);
        }
        let mut visible = self.shared.visible.subscribe();
        self.shared.ask();
        let indexed = visible.wait_for(|h| h.seq >= durable);
        match tokio::time::timeout(std::time::Duration::from_secs(5), indexed).await {
            Ok(Ok(head)) => Ok(*head),
            _ => Err(Error::Unavailable(format!(
                "audit records up to {durable} are durable in the journal but not yet readable; the ledger's indexer retries"
            ))),
        }
    }

    /// Runs `read` on a snapshot, off the async runtime, once every record
    /// acknowledged before it is readable.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&ReadTransaction) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.caught_up().await?;
        let db = self.db()?;
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().ctx("read the ledger")?;
            read(&txn)
        })
        .await
        .map_err(|e| Error::unavailable("ledger reader", e))?
    }

    /// Runs `write` in a durable transaction of its own, off the async runtime.
    async fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&redb::WriteTransaction) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let db = self.db()?;
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write().ctx("write the ledger")?;
            let out = write(&txn)?;
            txn.commit().ctx("write the ledger")?;
            Ok(out)
        })
        .await
        .map_err(|e| Error::unavailable("ledger writer", e))?
    }

    /// See [`Store::audit_remove`]. Each call is one short transaction, committed
    /// without a sync so that the writer waits for it as little as possible; the
    /// last (the one that finds less than `limit` to remove) is durable, and so is
    /// every commit of the writer after it. A crash may bring removed records back,
    /// never lose one that is not archived: the caller removes them again.
    async fn remove_archived(&self, upto: u64, head: u64, limit: usize) -> Result<u64, Error> {
        let db = self.db()?;
        tokio::task::spawn_blocking(move || {
            let mut txn = db.begin_write().ctx("remove archived records")?;
            let gone = audit::remove(&txn, upto, head, limit)?;
            if gone == limit as u64 {
                txn.set_durability(redb::Durability::None)
                    .map_err(|x| Error::unavailable("remove archived records", x))?;
            }
            txn.commit().ctx("remove archived records")?;
            Ok(gone)
        })
        .await
        .map_err(|e| Error::unavailable("ledger writer", e))?
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        // The file closes with this: not while the indexer writes to it.
        self.indexer.stop(&self.shared);
    }
}

/// The ledger in `db` (the file at `path`) as it opens: the journal's records
/// it lacks committed, the Merkle tree completed, and where the log ends.
fn load(db: Database, path: &Path) -> Result<(Database, Head, Frontier), Error> {
    journal::recover(&db, &journal::path_of(path))?;
    let tree = tree::open(&db)?;
    let mut head = audit::head(&db.begin_read().ctx("open the ledger")?)?;
    head.root = tree.root();
    Ok((db, head, tree))
}

/// Makes every commit before it durable, with one durable commit of nothing.
fn settle(db: &Database) -> Result<(), Error> {
    db.begin_write().ctx("settle")?.commit().ctx("settle")
}
