//! A batch delivered as real integrations deliver it: each dossier is looked up
//! first (`TraCuuHoSo`), which decides create or update (`isUpdating`) and shows
//! what the portal holds. The portal keeps no revision and the last write wins, so
//! ordering and idempotency are the gateway's: every revision of a dossier appends
//! exactly one progress entry (`CapNhatTienDoHoSoMC`, [`TienDo::of`]), so revision
//! `r` is the portal's entry number `r` (a dossier submitted online has the
//! portal's own entry for its revision 1). A revision whose entry the portal
//! already has in its place is acknowledged without writing (a redelivery, or a
//! replica that fell behind another); one whose predecessors the portal lacks
//! waits; one whose place holds another entry is refused for good (the portal's
//! history is not the gateway's: an operator must look). The window between the
//! lookup and the write is not closed (the portal has no condition on a write):
//! one worker per dossier (the outbox claims) keeps it empty.

use lienthong_proto::v1::Dossier;

use super::Dvcqg;
use crate::Error;
use crate::portal::Pushed;
use crate::portal::schema::{HoSo, TienDo};
use crate::portal::wire;

/// What a revision needs, given what the portal holds of its dossier.
enum Need {
    /// Nothing: the portal holds it, or refuses it, or it waits.
    Settled(Result<Pushed, Error>),
    /// To be written: created (`true`) or updated.
    Write(bool),
}

impl Dvcqg {
    fn need(&self, d: &Dossier, step: &TienDo, held: Option<&HoSo>) -> Need {
        let steps = held.map_or(&[][..], |h| &h.progress[..]);
        let place = usize::try_from(d.revision.saturating_sub(1)).unwrap_or(usize::MAX);
        let endpoint = self.endpoint();
        match steps.get(place) {
            Some(there) if there == step => Need::Settled(Ok(Pushed {
                created: false,
                duplicate: true,
            })),
            Some(_) => Need::Settled(Err(Error::Refused {
                endpoint,
                detail: format!(
                    "the portal's step {} of {} is not this revision's: its history differs from the gateway's",
                    d.revision, d.dossier_code
                ),
            })),
            None if steps.len() < place => Need::Settled(Err(Error::Unavailable {
                endpoint,
                detail: format!(
                    "the portal holds {} steps of {}; revision {} waits for the ones before",
                    steps.len(),
                    d.dossier_code,
                    d.revision
                ),
            })),
            None => Need::Write(held.is_none()),
        }
    }

    /// Delivers `batch` (see the module docs): one outcome per item, in order.
    pub(super) async fn deliver(
        &self,
        batch: &[Dossier],
    ) -> Result<Vec<Result<Pushed, Error>>, Error> {
        let steps: Vec<TienDo> = batch.iter().map(TienDo::of).collect();
        let mut outcomes: Vec<Option<Result<Pushed, Error>>> = vec![None; batch.len()];
        let (mut creates, mut updates) = (Vec::new(), Vec::new());
        // The lookups go out together; one that fails fails its item only.
        let looked =
            futures_util::future::join_all(batch.iter().map(|d| self.lookup(&d.dossier_code)))
                .await;
        for (i, held) in looked.into_iter().enumerate() {
            let d = &batch[i];
            match held.map(|held| self.need(d, &steps[i], held.as_ref())) {
                Err(e) => outcomes[i] = Some(Err(e)),
                Ok(Need::Settled(outcome)) => outcomes[i] = Some(outcome),
                Ok(Need::Write(create)) => {
                    let item = (i, (d.dossier_code.clone(), self.record(d).await));
                    if create { &mut creates } else { &mut updates }.push(item);
                }
            }
        }
        let mut written = Vec::new();
        for (updating, group) in [(false, creates), (true, updates)] {
            if group.is_empty() {
                continue;
            }
            let (places, items): (Vec<usize>, Vec<_>) = group.into_iter().unzip();
            let results = self.batch(wire::SYNC, Some(updating), &items).await?;
            for (i, r) in places.into_iter().zip(&results) {
                if wire::is_ok(&r.error_code) {
                    written.push((i, !updating));
                } else {
                    outcomes[i] = Some(Err(self.refusal(wire::SYNC, r)));
                }
            }
        }
        if !written.is_empty() {
            let items: Vec<_> = written
                .iter()
                .map(|(i, _)| (batch[*i].dossier_code.clone(), steps[*i].clone()))
                .collect();
            let results = self.batch(wire::PROGRESS, None, &items).await?;
            for ((i, created), r) in written.into_iter().zip(&results) {
                outcomes[i] = Some(if wire::is_ok(&r.error_code) {
                    Ok(Pushed {
                        created,
                        duplicate: false,
                    })
                } else {
                    Err(self.refusal(wire::PROGRESS, r))
                });
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.expect("every item has an outcome"))
            .collect())
    }
}
