//! The National Public Service Portal (Cổng Dịch vụ công quốc gia): the adapter
//! trait the sync worker delivers through, the sync API's schema, and its REST client.
//! The simulator ([`crate::sim::portal_api`]) serves the same schema.

pub mod check;
pub mod rest;
pub mod schema;

use async_trait::async_trait;

use crate::Error;
use schema::{DanhSachTrucTuyen, HoSo};

/// What the portal said about a delivered revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// The revision it now holds.
    pub revision: u64,
    /// True when it already held this revision (a redelivery).
    pub duplicate: bool,
}

/// A National Public Service Portal.
#[async_trait]
pub trait NationalPortal: Send + Sync {
    /// A short name for logs and metrics.
    fn name(&self) -> &'static str;

    /// Delivers one revision of a dossier (create or update). A redelivery of a
    /// revision the portal holds succeeds with `duplicate`.
    async fn push(&self, dossier: &HoSo) -> Result<Pushed, Error>;

    /// Dossiers submitted online for agencies under `unit`, after `after` (empty: from
    /// the start), at most `limit`.
    async fn online(&self, unit: &str, after: &str, limit: u32)
    -> Result<DanhSachTrucTuyen, Error>;
}
