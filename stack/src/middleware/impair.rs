//! Seeded random packet loss, independently in each direction (for labs and tests).

use smoltcp::time::Instant;

use super::{Direction, Layer, Verdict};

/// Drops `percent` % of packets, chosen by a PRNG seeded from the configuration so the same
/// seed drops the same packets of the same run.
pub struct Loss {
    /// Drop when a uniform `u64` falls below this.
    threshold: u64,
    rng: SplitMix64,
}

impl Loss {
    /// `percent` is clamped to 0–100.
    pub fn new(percent: f64, seed: u64) -> Self {
        let fraction = (percent / 100.0).clamp(0.0, 1.0);
        // u64::MAX as f64 rounds to 2^64; the cast saturates, so 100 % drops everything.
        let threshold = if fraction >= 1.0 {
            u64::MAX
        } else {
            (fraction * u64::MAX as f64) as u64
        };
        Loss {
            threshold,
            rng: SplitMix64(seed),
        }
    }
}

impl Layer for Loss {
    fn handle(&mut self, direction: Direction, packet: &[u8], _now: Instant) -> Verdict {
        if self.threshold == u64::MAX || self.rng.next() < self.threshold {
            log::debug!(
                "loss: dropped {direction:?} packet of {} bytes",
                packet.len()
            );
            Verdict::Drop
        } else {
            Verdict::Pass
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to pick packets to drop.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drops(percent: f64, seed: u64, n: usize) -> usize {
        let mut loss = Loss::new(percent, seed);
        (0..n)
            .filter(|_| loss.handle(Direction::Ingress, &[0u8; 20], Instant::ZERO) == Verdict::Drop)
            .count()
    }

    #[test]
    fn rate_is_close_to_the_percentage() {
        let n = 100_000;
        let dropped = drops(5.0, 42, n);
        assert!((4_500..5_500).contains(&dropped), "{dropped} of {n}");
    }

    #[test]
    fn zero_and_hundred_are_exact() {
        assert_eq!(drops(0.0, 7, 10_000), 0);
        assert_eq!(drops(100.0, 7, 10_000), 10_000);
    }

    #[test]
    fn same_seed_same_drops_other_seed_other_drops() {
        let pattern = |seed| {
            let mut loss = Loss::new(30.0, seed);
            (0..256)
                .map(|_| loss.handle(Direction::Egress, &[], Instant::ZERO))
                .collect::<Vec<_>>()
        };
        assert_eq!(pattern(1), pattern(1));
        assert_ne!(pattern(1), pattern(2));
    }
}
