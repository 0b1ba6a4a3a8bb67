//! What every store must do, checked through the [`Store`] interface and its
//! [`Writer`] only, on real files: each backend instantiates the suite with its own
//! way to open (and reopen) one ledger.

use std::sync::Arc;

use lienthong_ledger::embedded::Embedded;
use lienthong_ledger::postgres::{Options, Postgres};
use lienthong_ledger::{
    Applied, Batch, Change, Entry, Error, Filter, Head, Item, Outcome, Refusal, Seal, Settings,
    Store, Walk, Writer,
};
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::{AuditRecord, Checkpoint, Dossier, DossierStatus, SyncState, SyncStatus};

/// A ledger the suite can open, close and open again.
#[async_trait::async_trait]
trait Backend: Sync {
    async fn open(&self) -> Arc<dyn Store>;
}

/// The embedded ledger in a temporary directory.
struct Redb(tempfile::TempDir);

impl Redb {
    fn new() -> Option<Redb> {
        Some(Redb(tempfile::tempdir().unwrap()))
    }

    /// Deletes the table `table` of the ledger, below the store (a ledger from
    /// before the table).
    fn delete_table<K: redb::Key + 'static>(
        &self,
        table: redb::TableDefinition<K, impl redb::Value + 'static>,
    ) {
        let path = self.0.path().join(lienthong_ledger::embedded::FILE);
        let db = redb::Database::create(path).unwrap();
        let txn = db.begin_write().unwrap();
        assert!(txn.delete_table(table).unwrap());
        txn.commit().unwrap();
    }
}

#[async_trait::async_trait]
impl Backend for Redb {
    async fn open(&self) -> Arc<dyn Store> {
        Embedded::in_dir(self.0.path()).unwrap()
    }
}

/// A fresh database on the test process's PostgreSQL cluster.
struct Pg(String);

impl Pg {
    /// `None` where PostgreSQL is not installed (and not required).
    async fn new() -> Option<Pg> {
        Some(Pg(lienthong_testdb::Cluster::shared()?.database().await))
    }

    fn options(&self) -> Options {
        Options {
            url: self.0.clone(),
            password: None,
            pool_size: 8,
            statement_timeout: std::time::Duration::from_secs(10),
            connect_timeout: std::time::Duration::from_secs(5),
        }
    }
}

impl Pg {
    /// Runs `sql` on the database, below the store (a ledger's schema taken back).
    async fn execute(&self, sql: &str) {
        let (client, connection) = tokio_postgres::connect(&self.0, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.batch_execute(sql).await.unwrap();
    }
}

#[async_trait::async_trait]
impl Backend for Pg {
    async fn open(&self) -> Arc<dyn Store> {
        Postgres::open(&self.options()).await.unwrap()
    }
}

/// A seal that numbers records, "hashes" them with their number, notes refused
/// changes, and signs a checkpoint every `every` records.
struct Numbering {
    every: u64,
}

impl Seal for Numbering {
    fn complete(&mut self, record: &mut AuditRecord, applied: &Applied) {
        match applied {
            Ok(d) if record.subject_personal_id.is_empty() => {
                record.subject_personal_id = d.applicant_personal_id.clone();
            }
            Ok(_) => {}
            Err(refusal) => record.reason = format!("REFUSED: {refusal}"),
        }
    }

    fn seal(&mut self, head: &mut Head, records: &mut [AuditRecord], force: bool) -> bool {
        for r in records.iter_mut() {
            head.seq += 1;
            r.seq = head.seq;
            r.prev_hash = head.hash.to_vec();
            head.hash = [0; 32];
            head.hash[..8].copy_from_slice(&head.seq.to_be_bytes());
            r.hash = head.hash.to_vec();
        }
        head.seq - head.checkpoint >= self.every || (force && head.seq > head.checkpoint)
    }

    fn sign(&mut self, head: &Head) -> Checkpoint {
        Checkpoint {
            seq: head.seq,
            hash: head.hash.to_vec(),
            root: head.root.to_vec(),
            ..Default::default()
        }
    }
}

fn writer(store: &Arc<dyn Store>, every: u64) -> Writer {
    Writer::start(
        store.clone(),
        Box::new(Numbering { every }),
        Settings { max_batch: 1024 },
        Arc::new(()),
    )
    .unwrap()
}

fn record(n: u64) -> AuditRecord {
    AuditRecord {
        agency_code: "H99.01".into(),
        operation: "IdentityService/GetCitizen".into(),
        subject_personal_id: format!("001085{n:06}"),
        request_id: format!("req-{n}"),
        ..Default::default()
    }
}

fn dossier(code: &str, status: DossierStatus) -> Dossier {
    use lienthong_adapters::sim::dossiers::{RECEIVED, dossier};
    dossier(code, status, RECEIVED)
}

fn submit(code: &str, status: DossierStatus) -> Change {
    Change::Submit(Box::new(dossier(code, status)))
}

fn update(code: &str, status: DossierStatus, expected_revision: u64) -> Change {
    Change::Update {
        code: code.into(),
        status,
        expected_revision,
        at: Timestamp {
            seconds: 1_795_400_000,
            nanos: 0,
        },
        due_at: None,
        handler: "Lê Thị Thu".into(),
        note: String::new(),
    }
}

/// The sync state of the stored dossier `code`.
async fn sync_of(store: &Arc<dyn Store>, code: &str) -> SyncState {
    let dossier = store.dossier(code).await.unwrap().expect("stored");
    dossier.sync.expect("a stored dossier has a sync state")
}

async fn apply(w: &Writer, change: Change) -> Applied {
    w.append(None, Some(change)).await.unwrap().applied.unwrap()
}

async fn items(store: &Arc<dyn Store>, from: u64, to: u64) -> Vec<Item> {
    let mut out = Vec::new();
    Walk::new(store.clone(), from, to)
        .each(|item| {
            out.push(item);
            true
        })
        .await
        .unwrap();
    out
}

/// The sequence numbers of the records among `items`.
fn record_seqs(items: &[Item]) -> Vec<u64> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Record(r) => Some(r.seq),
            Item::Checkpoint(_) => None,
        })
        .collect()
}

fn shape(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            Item::Record(r) => format!("r{}", r.seq),
            Item::Checkpoint(c) => format!("c{}", c.seq),
        })
        .collect()
}

mod audit;
mod dossiers;
mod facts;
mod inbound;
mod shared;
mod subjects;
mod tree;
mod work;

use audit::*;
use dossiers::*;
use facts::*;
use inbound::*;
use subjects::*;
use tree::*;
use work::*;

/// The suite, for one backend.
macro_rules! suite {
    ($backend:expr; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let Some(backend) = $backend else {
                    return;
                };
                super::$test(&backend).await;
            }
        )*
    };
}

macro_rules! every_test {
    ($backend:expr) => {
        suite!($backend;
            appends_are_numbered_grouped_and_walked_in_order,
            a_close_seals_and_a_reopen_continues,
            pages_place_checkpoints_and_find_times,
            archived_records_leave_from_the_front_and_the_head_stays,
            changes_follow_the_machine_and_the_revisions,
            a_record_and_its_change_commit_together,
            concurrent_changes_stay_in_order_and_survive_a_reopen,
            deliveries_move_entries_and_numbers_are_never_given_twice,
            requeued_dead_letters_follow_their_held_back_revisions,
            facts_follow_each_dossier_by_its_month_and_outlive_its_archiving,
            a_subjects_records_are_found_through_the_index,
            inbound_dossiers_are_stored_once_with_their_cursor,
            claims_give_each_dossier_to_one_owner_until_its_lease_runs_out,
            leases_have_one_holder_at_a_time,
            events_reach_every_subscriber,
            the_merkle_tree_grows_with_the_records_and_proves_them,
            every_head_a_reader_sees_is_readable_and_proven,
            the_tree_proves_across_archived_records,
            cosignatures_are_kept_per_checkpoint_and_witness,
        );
    };
}

mod postgres {
    use super::*;

    every_test!(Pg::new().await);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn facts_are_built_for_a_database_from_before_them() {
        let Some(backend) = Pg::new().await else {
            return;
        };
        super::facts_are_built_for_a_ledger_from_before_them(&backend, async || {
            backend
                .execute(
                    "SET search_path TO lienthong;
                     ALTER TABLE dossiers DROP COLUMN month, DROP COLUMN facts;
                     ALTER TABLE audit_records DROP COLUMN subject;
                     DROP TABLE audit_tiles;
                     DROP TABLE audit_cosignatures;
                     ALTER TABLE audit_head DROP COLUMN tree_size, DROP COLUMN tree;
                     DELETE FROM migrations WHERE version >= 2;",
                )
                .await;
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_tree_is_built_for_a_database_from_before_it() {
        let Some(backend) = Pg::new().await else {
            return;
        };
        super::the_tree_is_built_for_a_ledger_from_before_it(&backend, async || {
            backend
                .execute(
                    "SET search_path TO lienthong;
                     DROP TABLE audit_tiles;
                     DROP TABLE audit_cosignatures;
                     ALTER TABLE audit_head DROP COLUMN tree_size, DROP COLUMN tree;
                     DELETE FROM migrations WHERE version >= 4;",
                )
                .await;
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_subject_index_is_built_for_a_database_from_before_it() {
        let Some(backend) = Pg::new().await else {
            return;
        };
        super::the_subject_index_is_built_for_a_ledger_from_before_it(&backend, async || {
            backend
                .execute(
                    "SET search_path TO lienthong;
                     ALTER TABLE audit_records DROP COLUMN subject;
                     DROP TABLE audit_tiles;
                     DROP TABLE audit_cosignatures;
                     ALTER TABLE audit_head DROP COLUMN tree_size, DROP COLUMN tree;
                     DELETE FROM migrations WHERE version >= 3;",
                )
                .await;
        })
        .await;
    }
}

mod embedded {
    use super::*;
    use lienthong_ledger::embedded::journal;

    every_test!(Redb::new());

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn facts_are_built_for_a_ledger_from_before_them() {
        let backend = Redb::new().unwrap();
        super::facts_are_built_for_a_ledger_from_before_them(&backend, async || {
            backend.delete_table(redb::TableDefinition::<(u32, &str), &[u8]>::new(
                "dossier_facts",
            ));
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_tree_is_built_for_a_ledger_from_before_it() {
        let backend = Redb::new().unwrap();
        super::the_tree_is_built_for_a_ledger_from_before_it(&backend, async || {
            backend.delete_table(redb::TableDefinition::<(u8, u64), &[u8]>::new(
                "audit_tiles",
            ));
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_subject_index_is_built_for_a_ledger_from_before_it() {
        let backend = Redb::new().unwrap();
        super::the_subject_index_is_built_for_a_ledger_from_before_it(&backend, async || {
            backend.delete_table(redb::TableDefinition::<(&str, u64), ()>::new(
                "audit_subjects",
            ));
        })
        .await;
    }

    /// A batch of records alone is answered once its journal frame is synced, and
    /// reaches redb later: a reader meanwhile waits for it, a crash before it loses
    /// nothing, and a durable commit takes the records still waiting.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn journaled_records_are_read_at_once_and_survive_a_crash_before_redb() {
        let backend = Redb::new().unwrap();
        let store = backend.open().await;
        let mut seal = Numbering { every: 1000 };
        let mut batch = Batch {
            records: vec![record(1), record(2)],
            ..Batch::default()
        };
        assert!(store.commit(&mut batch, &mut seal).await.unwrap().deferred);
        let reader = store.clone();
        let head = tokio::spawn(async move { reader.audit_head().await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!head.is_finished(), "a reader waits for answered records");
        store.index(std::mem::take(&mut batch.records)).unwrap();
        assert_eq!(head.await.unwrap().unwrap().seq, 2);
        assert_eq!(record_seqs(&items(&store, 0, 0).await), [1, 2]);

        // Answered, then killed before redb has it: the journal gives it back.
        let mut batch = Batch {
            records: vec![record(3)],
            ..Batch::default()
        };
        assert!(store.commit(&mut batch, &mut seal).await.unwrap().deferred);
        drop(store);
        let store = backend.open().await;
        assert_eq!(record_seqs(&items(&store, 0, 0).await), [1, 2, 3]);
        // The tree's nodes for record 3 were waiting too: the open completes it.
        let root = rebuilt(&store, 3).await.root();
        assert_eq!(store.audit_head().await.unwrap().root, root);
        let proof = store.audit_inclusion(3, 3).await.unwrap();
        let leaf = lienthong_ledger::merkle::leaf_hash(
            &store.audit_record(3).await.unwrap().unwrap().hash,
        );
        lienthong_ledger::merkle::verify_inclusion(2, 3, &leaf, &proof, &root).unwrap();

        // One waits, then a checkpoint's durable commit takes it with its own: the
        // journal is no longer needed for either.
        let mut batch = Batch {
            records: vec![record(4)],
            ..Batch::default()
        };
        let waiting = store.commit(&mut batch, &mut seal).await.unwrap();
        assert!(waiting.deferred);
        store.index(std::mem::take(&mut batch.records)).unwrap();
        let mut batch = Batch {
            records: vec![record(5)],
            checkpoint: true,
            ..Batch::default()
        };
        let durable = store.commit(&mut batch, &mut seal).await.unwrap();
        assert!(!durable.deferred);
        assert_eq!(durable.checkpoint.map(|c| c.seq), Some(5));
        drop(store);
        let path = backend.0.path().join(lienthong_ledger::embedded::FILE);
        std::fs::write(journal::path_of(&path), [0u8; 4096]).unwrap();
        let store = backend.open().await;
        assert_eq!(record_seqs(&items(&store, 0, 0).await), [1, 2, 3, 4, 5]);
    }

    /// Records handed over are written to redb by the ledger's indexer thread; a
    /// reader that comes after they are handed over is served, and so is one that
    /// comes before (it waits for them, then has them written).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_waiting_for_deferred_records_has_them_written_at_once() {
        let backend = Redb::new().unwrap();
        let store = backend.open().await;
        let mut seal = Numbering { every: 1000 };
        for n in 1..=2 {
            let mut batch = Batch {
                records: vec![record(n)],
                ..Batch::default()
            };
            assert!(store.commit(&mut batch, &mut seal).await.unwrap().deferred);
            let reader = store.clone();
            let head = tokio::spawn(async move { reader.audit_head().await });
            if n == 1 {
                // Handed over before the reader asks.
                store.index(std::mem::take(&mut batch.records)).unwrap();
            } else {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                assert!(!head.is_finished(), "the reader waits for the record");
                store.index(std::mem::take(&mut batch.records)).unwrap();
            }
            let head = tokio::time::timeout(std::time::Duration::from_secs(4), head)
                .await
                .expect("written for the reader, not after the reader's own 5 s")
                .unwrap()
                .unwrap();
            assert_eq!(head.seq, n);
            assert_eq!(store.audit_record(n).await.unwrap().unwrap().seq, n);
        }

        // With the writer running, a reader right after an answer gets its record.
        let w = writer(&store, 1000);
        for i in 0..20 {
            let seq = w.append(Some(record(i)), None).await.unwrap().seq;
            assert_eq!(store.audit_head().await.unwrap().seq, seq);
            assert_eq!(store.audit_record(seq).await.unwrap().unwrap().seq, seq);
        }
        w.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plain_batches_go_to_the_journal_and_a_clean_close_clears_it() {
        let backend = Redb::new().unwrap();
        let path = backend.0.path().join(lienthong_ledger::embedded::FILE);
        let in_journal = || -> Vec<u64> {
            journal::frames(&std::fs::read(journal::path_of(&path)).unwrap())
                .iter()
                .map(|r| r.seq)
                .collect()
        };
        let store = backend.open().await;
        let w = writer(&store, 5);
        for i in 0..4 {
            w.append(Some(record(i)), None).await.unwrap();
        }
        // Records alone: each durable in its own journal frame, and readable at once.
        assert_eq!(in_journal(), vec![1, 2, 3, 4]);
        assert_eq!(shape(&items(&store, 0, 0).await), ["r1", "r2", "r3", "r4"]);
        // The 5th is due a checkpoint: a durable commit, after which the journal
        // starts again on its first page; so does a dossier change.
        w.append(Some(record(4)), None).await.unwrap();
        w.append(Some(record(5)), None).await.unwrap();
        assert_eq!(in_journal(), vec![6]);
        apply(&w, submit("H99.01-261122-0001", DossierStatus::Accepted))
            .await
            .unwrap();
        w.append(Some(record(6)), None).await.unwrap();
        assert_eq!(in_journal(), vec![7]);
        w.close().await;
        assert!(
            in_journal().is_empty(),
            "nothing to replay after a clean stop"
        );
        drop(store);
        assert_eq!(backend.open().await.audit_head().await.unwrap().seq, 7);
    }
}
