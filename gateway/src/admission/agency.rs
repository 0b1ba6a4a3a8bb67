//! Per-agency slots: calls in flight and streams open, each agency with its own
//! caps beside the global one, so that one agency (a careless system, or a hostile
//! holder of one certificate) can never hold every slot of the gateway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;

/// One agency's semaphores.
struct Slots {
    calls: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    caps: (usize, usize),
}

/// The slots of every agency seen, made on its first call.
pub struct Agencies {
    limits: Limits,
    slots: Mutex<HashMap<String, Slots>>,
}

/// Why an agency's call was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Its calls in flight are at their cap.
    Calls(usize),
    /// Its open streams are at their cap.
    Streams(usize),
}

impl Agencies {
    /// Slots under `limits`.
    pub fn new(limits: &Limits) -> Agencies {
        Agencies {
            limits: limits.clone(),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for a call (or, if `stream`, a stream) of `agency`, held until the
    /// permit is dropped.
    pub fn take(&self, agency: &str, stream: bool) -> Result<OwnedSemaphorePermit, Full> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        // The agency's code is copied once, for its first call, not for every one.
        if !slots.contains_key(agency) {
            let caps = self.limits.of_agency(agency);
            slots.insert(
                agency.to_owned(),
                Slots {
                    calls: Arc::new(Semaphore::new(caps.0)),
                    streams: Arc::new(Semaphore::new(caps.1)),
                    caps,
                },
            );
        }
        let own = slots.get(agency).expect("inserted above");
        if stream {
            own.streams
                .clone()
                .try_acquire_owned()
                .map_err(|_| Full::Streams(own.caps.1))
        } else {
            own.calls
                .clone()
                .try_acquire_owned()
                .map_err(|_| Full::Calls(own.caps.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AgencyLimits;

    #[test]
    fn each_agency_has_its_own_caps_for_calls_and_streams() {
        let mut limits = Limits {
            max_in_flight_per_agency: 2,
            max_streams_per_agency: 1,
            ..Limits::default()
        };
        limits.agencies.insert(
            "H99.90".into(),
            AgencyLimits {
                max_in_flight: None,
                max_streams: Some(3),
            },
        );
        let a = Agencies::new(&limits);
        let calls: Vec<_> = (0..2).map(|_| a.take("H99.01", false).unwrap()).collect();
        assert_eq!(a.take("H99.01", false).unwrap_err(), Full::Calls(2));
        let stream = a.take("H99.01", true).expect("streams are counted apart");
        assert_eq!(a.take("H99.01", true).unwrap_err(), Full::Streams(1));
        let _other = a
            .take("H99.02", false)
            .expect("another agency is not affected");
        let held: Vec<_> = (0..3).map(|_| a.take("H99.90", true).unwrap()).collect();
        assert_eq!(a.take("H99.90", true).unwrap_err(), Full::Streams(3));
        drop((calls, stream, held));
        let _back = a.take("H99.01", false).expect("slots come back");
    }
}
