//! Adapters from the gateway to national systems, and simulators of those systems.
//!
//! The gateway knows an upstream only through a trait ([`population::Registry`]);
//! what stands behind it — the in-process simulator, a national REST/JSON API, or
//! another lienthong gateway over gRPC — is chosen by configuration. Adapters know
//! nothing of policy, cache or audit. Their one error type says whether a failure
//! may be retried and whose fault it is, so the gateway can map it to a status code
//! a client can act on.
//!
//! Depends on the contract (`lienthong-proto`) only; it may not touch policy, cache,
//! audit or the ledger, which are the gateway's.

#![forbid(unsafe_code)]

mod error;
pub mod http;
pub mod national;
pub mod population;
pub mod portal;
pub mod sim;
pub mod text;
pub mod trace;

pub use error::{BadResponse, Error, Fault};
