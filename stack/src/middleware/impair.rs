//! Seeded network impairments for labs and tests: loss, reorder, duplication, delay, jitter.
//!
//! An [`Impair`] sits on the wire side of the middleware chain (see [`crate::middleware`]):
//! on the way out it judges packets after trace and pcap saw what smoltcp sent; on the way in
//! it judges them before trace, pcap and smoltcp see anything, and a held packet reaches them
//! only when it is released. Each direction has its own PRNG seeded from the configuration,
//! so the same seed impairs the same packets of the same run.
//!
//! A packet that passes at once costs one or two PRNG draws and no copy. Held packets (delay,
//! jitter, reorder, the second copy of a duplicate) are copied into a [`DelayQueue`] whose
//! buffers are reused, bounded by [`MAX_HELD_PACKETS`] and [`MAX_HELD_BYTES`] per direction:
//! beyond that a packet is dropped, as a router with a full queue would.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use smoltcp::time::{Duration, Instant};

use super::Direction;
use crate::config::NetConfig;

/// How long a reordered packet is held back (on top of delay and jitter): long enough for
/// the packets sent right after it to overtake it on any link, short enough not to trigger
/// smoltcp's 1 s minimum retransmission timeout.
pub const REORDER_HOLD: Duration = Duration::from_millis(2);

/// Held packets per direction before new ones are dropped.
pub const MAX_HELD_PACKETS: usize = 4096;

/// Held bytes per direction before new packets are dropped: a bound on the memory impairment
/// can take whatever the delay and the traffic.
pub const MAX_HELD_BYTES: usize = 8 * 1024 * 1024;

/// Spare buffers kept for reuse per direction; more are freed.
const MAX_SPARE_BUFFERS: usize = 256;

/// What the impairment does, in both directions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImpairConfig {
    /// Drop this percentage (0–100) of packets.
    pub loss_percent: f64,
    /// Hold back this percentage of packets by [`REORDER_HOLD`] so later ones overtake them.
    pub reorder_percent: f64,
    /// Deliver this percentage of packets twice.
    pub duplicate_percent: f64,
    /// Fixed delay of every packet.
    pub delay: Duration,
    /// Uniform random extra delay, 0 to this much, per packet. Jitter never reorders: a
    /// packet is not delivered before the one sent ahead of it (unless that one was picked
    /// for reordering), so each knob shows one effect.
    pub jitter: Duration,
    /// PRNG seed.
    pub seed: u64,
}

impl ImpairConfig {
    /// The impairment settings of a stack configuration.
    pub fn from_net(config: &NetConfig) -> Self {
        ImpairConfig {
            loss_percent: config.loss_percent,
            reorder_percent: config.reorder_percent,
            duplicate_percent: config.duplicate_percent,
            delay: config.delay,
            jitter: config.jitter,
            seed: config.loss_seed,
        }
    }

    /// True when any impairment is switched on.
    pub fn is_active(&self) -> bool {
        self.loss_percent > 0.0
            || self.reorder_percent > 0.0
            || self.duplicate_percent > 0.0
            || self.delay > Duration::ZERO
            || self.jitter > Duration::ZERO
    }
}

/// What happens to one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Lost.
    Drop,
    /// Delivered at `at`; a second copy follows it when `twice`.
    Deliver {
        /// When it reaches the other side of the impairment.
        at: Instant,
        /// A duplicate is delivered right after it.
        twice: bool,
    },
}

/// The outcome of [`Impair::admit`] for the caller that holds the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Deliver the packet now (a copy may have been queued too).
    Now,
    /// The packet was copied into the delay queue; forget it.
    Held,
    /// The packet is lost (by chance, or because the delay queue is full).
    Dropped,
}

/// Counters of what the impairment did, both directions together.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImpairStats {
    /// Packets lost by chance.
    pub lost: u64,
    /// Packets put in the delay queue (delayed, reordered or the second copy of a duplicate).
    pub held: u64,
    /// Packets delivered twice.
    pub duplicated: u64,
    /// Packets dropped because the delay queue was full.
    pub overflowed: u64,
}

/// Probability thresholds: an event happens when a uniform `u64` falls below its threshold.
#[derive(Debug, Clone, Copy)]
struct Thresholds {
    loss: u64,
    reorder: u64,
    duplicate: u64,
}

/// Converts a percentage to a threshold; 100 % is `u64::MAX`, which [`chance`] treats as
/// always (a draw can equal it).
fn threshold(percent: f64) -> u64 {
    let fraction = (percent / 100.0).clamp(0.0, 1.0);
    if fraction >= 1.0 {
        u64::MAX
    } else {
        // u64::MAX as f64 rounds to 2^64; the fraction is below 1, so the cast cannot saturate.
        (fraction * u64::MAX as f64) as u64
    }
}

/// One event with probability `threshold / 2^64`; draws only when the event is possible,
/// so switched-off impairments cost nothing.
fn chance(rng: &mut SplitMix64, threshold: u64) -> bool {
    match threshold {
        0 => false,
        u64::MAX => true,
        t => rng.next() < t,
    }
}

/// Decides the fate of each packet of one direction.
struct Decider {
    thresholds: Thresholds,
    delay: Duration,
    jitter_micros: u64,
    rng: SplitMix64,
    /// Delivery time of the last packet not picked for reordering: later packets are not
    /// delivered before it (jitter varies the delay, it does not reorder).
    last_at: Instant,
}

impl Decider {
    fn decide(&mut self, now: Instant) -> Fate {
        let rng = &mut self.rng;
        if chance(rng, self.thresholds.loss) {
            return Fate::Drop;
        }
        let mut at = now + self.delay;
        if self.jitter_micros > 0 {
            at += Duration::from_micros(rng.next() % (self.jitter_micros + 1));
            at = at.max(self.last_at);
        }
        if chance(rng, self.thresholds.reorder) {
            // Held back without moving `last_at`: the packets after it overtake it.
            at += REORDER_HOLD;
        } else {
            self.last_at = at;
        }
        let twice = chance(rng, self.thresholds.duplicate);
        Fate::Deliver { at, twice }
    }
}

/// Loss, reorder, duplicate and delay in both directions, with a delay queue for each.
pub struct Impair {
    deciders: [Decider; 2],
    queues: [DelayQueue; 2],
    stats: ImpairStats,
}

fn index(direction: Direction) -> usize {
    match direction {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

impl Impair {
    /// An impairment with `config` in both directions.
    pub fn new(config: &ImpairConfig) -> Self {
        let thresholds = Thresholds {
            loss: threshold(config.loss_percent),
            reorder: threshold(config.reorder_percent),
            duplicate: threshold(config.duplicate_percent),
        };
        let decider = |seed| Decider {
            thresholds,
            delay: config.delay,
            jitter_micros: config.jitter.total_micros(),
            rng: SplitMix64(seed),
            last_at: Instant::ZERO,
        };
        Impair {
            // Different streams per direction, so one direction's traffic does not shift the
            // other's pattern.
            deciders: [
                decider(config.seed),
                decider(config.seed ^ 0x5bd1_e995_5bd1_e995),
            ],
            queues: [DelayQueue::new(), DelayQueue::new()],
            stats: ImpairStats::default(),
        }
    }

    /// The fate of the next packet going `direction` at `now` (advances that direction's PRNG).
    pub fn decide(&mut self, direction: Direction, now: Instant) -> Fate {
        self.deciders[index(direction)].decide(now)
    }

    /// Judges `packet` going `direction` at `now`, queueing what must come later.
    pub fn admit(&mut self, direction: Direction, packet: &[u8], now: Instant) -> Admit {
        let Fate::Deliver { at, twice } = self.decide(direction, now) else {
            self.stats.lost += 1;
            return Admit::Dropped;
        };
        let queue = &mut self.queues[index(direction)];
        if twice {
            // The copy follows the original; if the queue is full, only the copy is lost.
            if queue.push(at, packet) {
                self.stats.duplicated += 1;
                self.stats.held += 1;
            } else {
                self.stats.overflowed += 1;
            }
        }
        if at <= now {
            return Admit::Now;
        }
        if queue.push(at, packet) {
            self.stats.held += 1;
            Admit::Held
        } else {
            self.stats.overflowed += 1;
            Admit::Dropped
        }
    }

    /// Hands the earliest held packet of `direction` that is due at `now` to `f`.
    pub fn pop_due<R>(
        &mut self,
        direction: Direction,
        now: Instant,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Option<R> {
        self.queues[index(direction)].pop_due(now, f)
    }

    /// When the next held packet (either direction) is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.queues.iter().filter_map(DelayQueue::next_due).min()
    }

    /// Packets held now, both directions.
    pub fn held(&self) -> usize {
        self.queues.iter().map(DelayQueue::len).sum()
    }

    /// Counters so far.
    pub fn stats(&self) -> ImpairStats {
        self.stats
    }
}

/// Packets waiting for their delivery time, earliest first (ties in arrival order), in reused
/// buffers. Bounded by [`MAX_HELD_PACKETS`] and [`MAX_HELD_BYTES`].
#[derive(Default)]
pub struct DelayQueue {
    heap: BinaryHeap<Held>,
    spare: Vec<Vec<u8>>,
    bytes: usize,
    next_seq: u64,
}

struct Held {
    at: Instant,
    seq: u64,
    packet: Vec<u8>,
}

impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest (then the oldest) is on top.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Held {}

impl DelayQueue {
    /// An empty queue.
    pub fn new() -> Self {
        DelayQueue::default()
    }

    /// Copies `packet` in for delivery at `at`; false (and nothing queued) when full.
    pub fn push(&mut self, at: Instant, packet: &[u8]) -> bool {
        if self.heap.len() >= MAX_HELD_PACKETS || self.bytes + packet.len() > MAX_HELD_BYTES {
            return false;
        }
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(packet);
        self.bytes += packet.len();
        self.heap.push(Held {
            at,
            seq: self.next_seq,
            packet: buf,
        });
        self.next_seq += 1;
        true
    }

    /// When the earliest packet is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|h| h.at)
    }

    /// Hands the earliest packet to `f` if it is due at `now`, then recycles its buffer.
    pub fn pop_due<R>(&mut self, now: Instant, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        if self.heap.peek()?.at > now {
            return None;
        }
        let held = self.heap.pop()?;
        self.bytes -= held.packet.len();
        let result = f(&held.packet);
        if self.spare.len() < MAX_SPARE_BUFFERS {
            self.spare.push(held.packet);
        }
        Some(result)
    }

    /// Packets queued.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to pick packets.
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

    fn config(seed: u64) -> ImpairConfig {
        ImpairConfig {
            loss_percent: 0.0,
            reorder_percent: 0.0,
            duplicate_percent: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            seed,
        }
    }

    fn count(config: ImpairConfig, n: usize, pick: impl Fn(Fate) -> bool) -> usize {
        let mut impair = Impair::new(&config);
        (0..n)
            .filter(|_| pick(impair.decide(Direction::Ingress, Instant::ZERO)))
            .count()
    }

    #[test]
    fn loss_rate_is_close_to_the_percentage() {
        let n = 100_000;
        let lost = count(
            ImpairConfig {
                loss_percent: 5.0,
                ..config(42)
            },
            n,
            |f| f == Fate::Drop,
        );
        assert!((4_500..5_500).contains(&lost), "{lost} of {n}");
    }

    #[test]
    fn zero_and_hundred_percent_are_exact() {
        let all = |c| count(c, 10_000, |f| f == Fate::Drop);
        assert_eq!(all(config(7)), 0);
        assert_eq!(
            all(ImpairConfig {
                loss_percent: 100.0,
                ..config(7)
            }),
            10_000
        );
        let twice = count(
            ImpairConfig {
                duplicate_percent: 100.0,
                ..config(7)
            },
            1000,
            |f| matches!(f, Fate::Deliver { twice: true, .. }),
        );
        assert_eq!(twice, 1000);
    }

    #[test]
    fn reorder_and_duplicate_rates() {
        let c = ImpairConfig {
            reorder_percent: 10.0,
            duplicate_percent: 20.0,
            ..config(3)
        };
        let held = count(
            c,
            50_000,
            |f| matches!(f, Fate::Deliver { at, .. } if at == Instant::ZERO + REORDER_HOLD),
        );
        let doubled = count(c, 50_000, |f| {
            matches!(f, Fate::Deliver { twice: true, .. })
        });
        assert!((4_500..5_500).contains(&held), "reordered {held}");
        assert!((9_500..10_500).contains(&doubled), "duplicated {doubled}");
    }

    #[test]
    fn delay_and_jitter_bound_the_delivery_time() {
        let mut impair = Impair::new(&ImpairConfig {
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(5),
            ..config(9)
        });
        let now = Instant::from_millis(1000);
        let mut spread = std::collections::HashSet::new();
        for i in 0..1000 {
            // 10 ms apart: no packet is held back by the one before it.
            let sent = now + Duration::from_millis(i * 10);
            let Fate::Deliver { at, twice: false } = impair.decide(Direction::Egress, sent) else {
                panic!("no loss or duplication configured");
            };
            let delay = at - sent;
            assert!(delay >= Duration::from_millis(20), "{delay}");
            assert!(delay <= Duration::from_millis(25), "{delay}");
            spread.insert(delay.total_micros());
        }
        assert!(spread.len() > 100, "jitter varies: {}", spread.len());
        let now = now + Duration::from_secs(20);
        // Sent one after another, they never overtake each other.
        let mut last = Instant::ZERO;
        for i in 0..1000 {
            let sent = now + Duration::from_micros(i * 100);
            let Fate::Deliver { at, .. } = impair.decide(Direction::Egress, sent) else {
                panic!("no loss configured");
            };
            assert!(at >= last, "packet {i} overtook the one before");
            last = at;
        }
    }

    #[test]
    fn same_seed_same_fates_other_seed_other_fates() {
        let pattern = |seed| {
            let mut impair = Impair::new(&ImpairConfig {
                loss_percent: 30.0,
                reorder_percent: 20.0,
                duplicate_percent: 10.0,
                jitter: Duration::from_millis(3),
                ..config(seed)
            });
            (0..256)
                .map(|_| impair.decide(Direction::Egress, Instant::ZERO))
                .collect::<Vec<_>>()
        };
        assert_eq!(pattern(1), pattern(1));
        assert_ne!(pattern(1), pattern(2));
    }

    #[test]
    fn directions_have_independent_streams() {
        let c = ImpairConfig {
            loss_percent: 50.0,
            ..config(5)
        };
        let egress_only = {
            let mut impair = Impair::new(&c);
            (0..64)
                .map(|_| impair.decide(Direction::Egress, Instant::ZERO))
                .collect::<Vec<_>>()
        };
        let interleaved = {
            let mut impair = Impair::new(&c);
            (0..64)
                .map(|_| {
                    impair.decide(Direction::Ingress, Instant::ZERO);
                    impair.decide(Direction::Egress, Instant::ZERO)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(egress_only, interleaved);
    }

    #[test]
    fn admit_holds_duplicates_and_releases_in_time_order() {
        let mut impair = Impair::new(&ImpairConfig {
            duplicate_percent: 100.0,
            ..config(1)
        });
        let now = Instant::from_millis(5);
        assert_eq!(impair.admit(Direction::Ingress, b"one", now), Admit::Now);
        assert_eq!(impair.held(), 1, "the copy waits");
        assert_eq!(impair.next_due(), Some(now));
        let copy = impair.pop_due(Direction::Ingress, now, |p| p.to_vec());
        assert_eq!(copy.as_deref(), Some(&b"one"[..]));
        assert_eq!(impair.pop_due(Direction::Ingress, now, |p| p.len()), None);
        assert_eq!(impair.stats().duplicated, 1);

        let mut impair = Impair::new(&ImpairConfig {
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(10),
            ..config(2)
        });
        for i in 0u8..50 {
            assert_eq!(impair.admit(Direction::Egress, &[i], now), Admit::Held);
        }
        assert_eq!(impair.pop_due(Direction::Egress, now, |p| p[0]), None);
        let mut last = now;
        let mut got = Vec::new();
        for ms in 0..=25 {
            let t = now + Duration::from_millis(ms);
            while let Some(p) = impair.pop_due(Direction::Egress, t, |p| p[0]) {
                assert!(t >= last);
                last = t;
                got.push(p);
            }
        }
        got.sort_unstable();
        assert_eq!(got, (0u8..50).collect::<Vec<_>>(), "every packet once");
        assert_eq!(impair.held(), 0);
    }

    #[test]
    fn delay_queue_is_bounded_and_reuses_buffers() {
        let mut queue = DelayQueue::new();
        let big = vec![0u8; 64 * 1024];
        let fits = MAX_HELD_BYTES / big.len();
        for _ in 0..fits {
            assert!(queue.push(Instant::ZERO, &big));
        }
        assert!(!queue.push(Instant::ZERO, &big), "byte bound");
        while queue.pop_due(Instant::ZERO, |_| ()).is_some() {}
        for i in 0..MAX_HELD_PACKETS {
            assert!(queue.push(Instant::from_micros(i as i64), &[1]), "{i}");
        }
        assert!(!queue.push(Instant::ZERO, &[1]), "packet bound");
        assert_eq!(queue.spare.len(), 0, "all buffers in use");
        while queue.pop_due(Instant::from_secs(1), |_| ()).is_some() {}
        assert!(queue.is_empty());
        assert_eq!(queue.spare.len(), MAX_SPARE_BUFFERS);
        // Ties leave in arrival order.
        queue.push(Instant::ZERO, b"a");
        queue.push(Instant::ZERO, b"b");
        assert_eq!(queue.pop_due(Instant::ZERO, |p| p[0]), Some(b'a'));
        assert_eq!(queue.pop_due(Instant::ZERO, |p| p[0]), Some(b'b'));
    }
}
