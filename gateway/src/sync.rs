//! Dossier exchange with the National Public Service Portal.
//!
//! A dossier and the outbox entry of its change are written in one redb transaction,
//! committed durably before the call returns ([`outbox`]); a worker delivers the
//! entries to the portal in order per dossier.

pub mod outbox;
pub mod worker;
