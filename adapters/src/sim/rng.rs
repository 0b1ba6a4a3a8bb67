//! The simulators' randomness: a SplitMix64 stream, small, fast and identical on
//! every platform, so that a personal ID always draws the same record.

use lienthong_proto::PersonalId;

/// A SplitMix64 stream: small, fast and identical on every platform.
pub(crate) struct Rng(u64);

impl Rng {
    /// A stream for `id`, separated by `purpose` so records do not share draws.
    pub(crate) fn new(id: &PersonalId, purpose: u64) -> Rng {
        let n: u64 = id.as_str().parse().unwrap_or_default();
        Rng::seeded(n ^ purpose.wrapping_mul(0xA076_1D64_78BD_642F))
    }

    /// A stream from a raw seed.
    pub(crate) fn seeded(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Picks by weight (weights in any unit).
    pub(crate) fn weighted<'a, T>(&mut self, items: &'a [(T, u64)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| w).sum();
        let mut r = self.below(total);
        for (item, w) in items {
            if r < *w {
                return item;
            }
            r -= w;
        }
        &items[items.len() - 1].0
    }
}
