//! What an attacker with write access to a stopped gateway's ledger can do, for the
//! tests that prove verification catches it (feature `forge`; never in a release
//! build). Each function works on the store's files or database directly, below
//! every rule the [`crate::Store`] keeps.

use std::path::Path;

use lienthong_proto::v1::AuditRecord;
use prost::Message;
use redb::{Database, ReadableTable, TableDefinition};

const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

/// Rewrites record `seq` of the embedded ledger at `path` with `edit`, keeping its
/// stored hashes (an altered record).
pub fn embedded_rewrite(path: &Path, seq: u64, edit: impl FnOnce(&mut AuditRecord)) {
    let db = Database::create(path).expect("open the ledger");
    let txn = db.begin_write().expect("write");
    {
        let mut table = txn.open_table(RECORDS).expect("audit table");
        let mut r = AuditRecord::decode(table.get(seq).expect("read").expect("present").value())
            .expect("decodes");
        edit(&mut r);
        table
            .insert(seq, r.encode_to_vec().as_slice())
            .expect("insert");
    }
    txn.commit().expect("commit");
}

/// Removes records `seqs` from the embedded ledger at `path` (a cut tail, or a gap).
pub fn embedded_remove(path: &Path, seqs: std::ops::RangeInclusive<u64>) {
    let db = Database::create(path).expect("open the ledger");
    let txn = db.begin_write().expect("write");
    {
        let mut table = txn.open_table(RECORDS).expect("audit table");
        for seq in seqs {
            table.remove(seq).expect("remove");
        }
    }
    txn.commit().expect("commit");
}
