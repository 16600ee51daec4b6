//! Connection ids and the cheap hasher for tables keyed by them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

/// Identifies one TCP connection for its whole life. Never reused within a `Net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Hasher for `ConnId` keys: ids are sequential, so one multiply spreads them well, and the
/// table is looked up on every application call (SipHash showed up in profiles).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Map keyed by connection id.
pub(crate) type IdMap<V> = HashMap<ConnId, V, BuildHasherDefault<IdHasher>>;

/// Set of connection ids.
pub(crate) type IdSet = HashSet<ConnId, BuildHasherDefault<IdHasher>>;
