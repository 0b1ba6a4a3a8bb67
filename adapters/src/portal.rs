//! The National Public Service Portal (Cổng Dịch vụ công quốc gia): the adapter
//! trait the sync worker delivers through, the portal's integration API
//! ([`wire`], [`schema`]) and its client ([`dvcqg`]). The simulator
//! ([`crate::sim::portal_api`]) serves the same API.

pub mod check;
pub mod dvcqg;
pub mod schema;
pub mod wire;

use async_trait::async_trait;
use lienthong_proto::v1::Dossier;

use crate::Error;
use schema::DanhSachTrucTuyen;

/// What the portal holds after a dossier's revision was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// The portal did not hold the dossier before: it was created.
    pub created: bool,
    /// The portal already held this revision (a redelivery): nothing was written.
    pub duplicate: bool,
}

/// A National Public Service Portal.
#[async_trait]
pub trait NationalPortal: Send + Sync {
    /// A short name for logs and metrics.
    fn name(&self) -> &'static str;

    /// Delivers one revision of each dossier of `batch` (different dossiers, each
    /// the revision after the last one delivered). One outcome per item, in order;
    /// `Err` when the call as a whole failed and no item's fate is known.
    async fn push(&self, batch: &[Dossier]) -> Result<Vec<Result<Pushed, Error>>, Error>;

    /// Dossiers submitted online to the agencies of the unit the adapter calls as,
    /// after `after` (empty: from the start), at most `limit`.
    async fn online(&self, after: &str, limit: u32) -> Result<DanhSachTrucTuyen, Error>;
}
