//! Upstream adapters wrapped so that every call to a national system is counted
//! and timed, whatever adapter stands behind the trait.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use lienthong_adapters::Error as AdapterError;
use lienthong_adapters::population::{Call, Registry};
use lienthong_adapters::portal::schema::DanhSachTrucTuyen;
use lienthong_adapters::portal::{NationalPortal, Pushed};
use lienthong_proto::PersonalId;
use lienthong_proto::v1::{Citizen, Dossier, Residence};

use super::Metrics;

/// An upstream adapter that counts and times its calls.
pub struct Measured<A: ?Sized> {
    inner: Arc<A>,
    metrics: Arc<Metrics>,
}

impl<A: ?Sized> Measured<A> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<A>, metrics: Arc<Metrics>) -> Arc<Measured<A>> {
        Arc::new(Measured { inner, metrics })
    }

    async fn time<T>(
        &self,
        adapter: &'static str,
        operation: &'static str,
        call: impl Future<Output = Result<T, AdapterError>>,
    ) -> Result<T, AdapterError> {
        let started = Instant::now();
        let result = call.await;
        self.metrics
            .upstream_call(adapter, operation, started, &result);
        result
    }
}

#[async_trait]
impl Registry for Measured<dyn Registry> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn citizen(&self, id: &PersonalId, call: &Call) -> Result<Citizen, AdapterError> {
        self.time(self.name(), "citizen", self.inner.citizen(id, call))
            .await
    }

    async fn residence(&self, id: &PersonalId, call: &Call) -> Result<Residence, AdapterError> {
        self.time(self.name(), "residence", self.inner.residence(id, call))
            .await
    }
}

#[async_trait]
impl NationalPortal for Measured<dyn NationalPortal> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn push(
        &self,
        batch: &[Dossier],
    ) -> Result<Vec<Result<Pushed, AdapterError>>, AdapterError> {
        self.time(self.name(), "push", self.inner.push(batch)).await
    }

    async fn online(&self, after: &str, limit: u32) -> Result<DanhSachTrucTuyen, AdapterError> {
        self.time(self.name(), "online", self.inner.online(after, limit))
            .await
    }
}
