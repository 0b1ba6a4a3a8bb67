//! The ledger's one error type: whether it may pass is what a caller needs to know.

/// Why the ledger could not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The store could not be opened, read or written (I/O, the engine, a lost
    /// connection): trying again later may work, and nothing of the failed write was
    /// kept.
    #[error("{0}")]
    Unavailable(String),
    /// What the store holds cannot be decoded: an operator must look.
    #[error("{0}")]
    Corrupt(String),
    /// Not done, because of what the store holds (an import into a ledger that is
    /// not empty): an operator must decide.
    #[error("{0}")]
    Refused(String),
    /// The writer has stopped: the gateway is stopping.
    #[error("the ledger writer has stopped")]
    Closed,
}

impl Error {
    /// An [`Error::Unavailable`] that says what was being done.
    pub fn unavailable(context: &str, e: impl std::fmt::Display) -> Error {
        Error::Unavailable(format!("{context}: {e}"))
    }

    /// An [`Error::Corrupt`] that says what could not be read.
    pub fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
        Error::Corrupt(format!("undecodable {what}: {e}"))
    }
}

impl From<crate::merkle::ProofError> for Error {
    /// A proof asked of sizes that do not fit is refused; it is never a fault of
    /// the store.
    fn from(e: crate::merkle::ProofError) -> Error {
        Error::Refused(e.to_string())
    }
}
