//! The lienthong gateway: everything that makes a request safe between an agency
//! system and a national system.
//!
//! A request travels `tls` (client certificate → agency code) → `server` (request id,
//! deadline) → `services` (validation, the adapter, the answer) → `status` (the one
//! map from [`Error`] to a gRPC status with details a client can act on). The map
//! of every step is in `docs/ARCHITECTURE.md`.
//!
//! This crate is the server, as a library: durable state comes from
//! `lienthong-ledger` through its `Store` trait (no storage engine is named here),
//! upstreams from `lienthong-adapters` through their traits, certificates from
//! `lienthong-pki`. It knows nothing of the tools around it (the `lienthong`
//! program's CLI, client and load generator), which use its public interface.

#![forbid(unsafe_code)]

pub mod admission;
pub mod audit;
pub mod breaker;
pub mod cache;
pub mod catalogue;
pub mod clock;
pub mod config;
pub mod console;
pub mod data_dir;
pub mod directory;
pub mod disk;
mod error;
pub mod health;
pub mod metrics;
pub mod ops;
pub mod policy;
pub mod reload;
pub mod report;
pub mod server;
pub mod services;
mod status;
pub mod sync;
pub mod telemetry;
pub mod tls;

pub use config::Config;

pub use error::{Error, FieldViolation};

/// Installs ring as the process-wide rustls crypto provider. Idempotent; every entry
/// point that may build a TLS config calls it first.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
