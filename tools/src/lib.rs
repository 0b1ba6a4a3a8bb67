//! The tools around the gateway, behind the one `lienthong` program: the command
//! line ([`cli`]), a gRPC client for agencies and operators ([`client`]), and the
//! load generator ([`bench`]). They use the server's public interface
//! (`lienthong-gateway`) like any other program would; the server knows nothing of
//! them.

#![forbid(unsafe_code)]

pub mod bench;
pub mod cli;
pub mod client;
