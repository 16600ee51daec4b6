//! Shards: several smoltcp interfaces and socket sets behind the one device.
//!
//! smoltcp matches every incoming segment against every socket of its set, and its egress and
//! timer queries walk every socket too (~90 ns per socket per packet). With thousands of open
//! connections that linear cost dominates a round trip. So [`crate::Net`] splits its sockets
//! over [`shard_count`] shards by a keyed hash of the TCP 4-tuple ([`FlowHasher`]): an
//! incoming packet's headers are read before smoltcp sees it, and the packet goes to the one
//! interface whose set can hold its connection. Per-packet work then follows the size of one
//! shard, not the whole table. Every shard carries the same addresses; packets that are not
//! TCP (ICMP echo, for instance) go to shard 0.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, DeviceCapabilities};
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, IpEndpoint};

use crate::device::{Link, PortRx, PortTx};
use crate::id::{ConnId, IdSet};
use crate::pool::Pool;
use crate::time_wait::TimeWaitSet;

/// Connections per shard the count is sized for.
const CONNECTIONS_PER_SHARD: usize = 64;

/// Upper bound on the shard count.
const MAX_SHARDS: usize = 256;

/// How many shards a stack with this connection cap gets: `max_connections / 64` rounded up
/// to a power of two, between 1 and 256.
///
/// Fixed for the life of the stack, because a connection cannot change shards: its 4-tuple
/// hashes to one shard, and growing the count would send its packets elsewhere. 64
/// connections per shard keep the per-packet scan near 6 µs, under a base round trip of
/// 17–40 µs; the cap of 256 bounds what grows with the count instead — `poll_delay` reads
/// the shards' deadlines after a poll, each shard holds an interface and a spare listener.
/// Small caps (the tests') get one shard: exactly the unsharded stack. A power of two makes
/// the hash-to-shard step a mask.
pub fn shard_count(max_connections: usize) -> usize {
    (max_connections / CONNECTIONS_PER_SHARD)
        .next_power_of_two()
        .clamp(1, MAX_SHARDS)
}

/// Maps a TCP 4-tuple to a shard. Keyed by the stack's random seed, so a remote host cannot
/// pick ports that pile its connections into one shard (which would bring back the linear
/// cost, though nothing worse).
#[derive(Debug, Clone, Copy)]
pub struct FlowHasher {
    key: u64,
    mask: usize,
}

impl FlowHasher {
    /// A hasher over `shards` shards (a power of two) keyed by `key`.
    pub fn new(key: u64, shards: usize) -> Self {
        debug_assert!(shards.is_power_of_two());
        FlowHasher {
            key,
            mask: shards - 1,
        }
    }

    /// The shard of the connection between `remote` and `local`. Callers pass the endpoints
    /// in this order for incoming packets (source, destination) and for `connect` alike.
    pub fn shard_of(&self, remote: IpEndpoint, local: IpEndpoint) -> usize {
        if self.mask == 0 {
            return 0;
        }
        let mut h = self.key;
        let ports = (u64::from(remote.port) << 16) | u64::from(local.port);
        for word in [ports, addr_word(remote.addr), addr_word(local.addr)] {
            h = mix(h ^ word);
        }
        (h >> 32) as usize & self.mask
    }
}

/// Hashes for tables keyed by a TCP 4-tuple (the connection table's index, the TIME-WAIT
/// sets), looked up for every packet: SipHash, std's default, fed the tuple's many small
/// fields, showed up at 2 % of the CPU in the C=10 echo profile. This folds each field into
/// one [`mix`] round instead, keyed per table from std's random keys, so a remote host still
/// cannot choose ports that collide (the same argument as [`FlowHasher`]'s).
#[derive(Clone)]
pub struct TupleHashing {
    key: u64,
}

impl Default for TupleHashing {
    fn default() -> Self {
        TupleHashing {
            key: std::collections::hash_map::RandomState::new().hash_one("tunws 4-tuple table"),
        }
    }
}

impl BuildHasher for TupleHashing {
    type Hasher = TupleHasher;
    fn build_hasher(&self) -> TupleHasher {
        TupleHasher(self.key)
    }
}

/// The hasher [`TupleHashing`] builds.
pub struct TupleHasher(u64);

impl Hasher for TupleHasher {
    fn finish(&self) -> u64 {
        mix(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = mix(self.0 ^ u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// A table keyed by a TCP 4-tuple, (local, remote).
pub type TupleMap<V> = HashMap<(IpEndpoint, IpEndpoint), V, TupleHashing>;

/// An address folded into 64 bits.
fn addr_word(addr: IpAddress) -> u64 {
    match addr {
        IpAddress::Ipv4(a) => u64::from(u32::from(a)),
        IpAddress::Ipv6(a) => {
            let bits = u128::from(a);
            (bits as u64) ^ ((bits >> 64) as u64).rotate_left(17)
        }
    }
}

/// One round of a 64-bit finaliser (splitmix64's): every input bit reaches every output bit.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One smoltcp interface with its sockets, listen pool and per-shard bookkeeping.
pub(crate) struct Shard {
    /// The interface; all shards carry the same addresses.
    pub iface: Interface,
    /// The sockets smoltcp scans for this shard's packets.
    pub sockets: SocketSet<'static>,
    /// Spare listeners and recycled sockets of this shard.
    pub pool: Pool,
    /// Connections whose socket lives here, so a timer that fired here re-examines only them.
    pub members: IdSet,
    /// Connections not yet announced (SYN-RECEIVED), checked after every ingress packet here.
    pub pending: Vec<ConnId>,
    /// Sockets the application is done with, in TIME-WAIT or with a RST still to send.
    pub draining: Vec<SocketHandle>,
    /// A socket joined `draining` since the last recycling pass.
    pub draining_added: bool,
    /// In `Net`'s list of shards to poll.
    pub dirty: bool,
    /// Draining sockets that reached TIME-WAIT, out of the egress walk.
    pub time_wait: TimeWaitSet,
}

impl Shard {
    /// A shard over `iface` with an empty socket set.
    pub fn new(iface: Interface, pool: Pool) -> Self {
        Shard {
            iface,
            sockets: SocketSet::new(Vec::new()),
            pool,
            members: IdSet::default(),
            pending: Vec::new(),
            draining: Vec::new(),
            draining_added: false,
            dirty: false,
            time_wait: TimeWaitSet::new(),
        }
    }

    /// Hands a socket the application is done with to the draining list.
    pub fn drain(&mut self, handle: SocketHandle) {
        self.draining.push(handle);
        self.draining_added = true;
    }

    /// Moves the draining sockets that reached TIME-WAIT into [`TimeWaitSet`], out of the
    /// egress walk. O(draining sockets still in this set).
    pub fn set_aside_time_wait(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.draining.len() {
            let handle = self.draining[i];
            let socket = self.sockets.get::<tcp::Socket>(handle);
            let tuple = match (socket.local_endpoint(), socket.remote_endpoint()) {
                (Some(local), Some(remote))
                    if socket.state() == State::TimeWait
                        && !self.time_wait.contains(local, remote) =>
                {
                    (local, remote)
                }
                // Not (yet) in TIME-WAIT, or a second socket of one 4-tuple: drains here.
                _ => {
                    i += 1;
                    continue;
                }
            };
            self.draining.swap_remove(i);
            let (socket, slot) = self.pool.detach(&mut self.sockets, handle);
            self.time_wait.admit(socket, slot, tuple, now);
        }
    }

    /// Takes the draining socket in TIME-WAIT for the 4-tuple `local`–`remote` out of the
    /// draining list, if there is one. Called for a new SYN (no ACK) of that 4-tuple: the peer
    /// has finished with the old connection and reuses its port, which a Linux client does
    /// after a few thousand connects. Left in place, the TIME-WAIT socket would catch the SYN
    /// before any listener (smoltcp answers it with a rate-limited challenge ACK and restarts
    /// the 10 s wait), so the client would sit in SYN-SENT for as long as it retries. Linux
    /// accepts such a SYN too (for a higher sequence number); on a TUN link there are no old
    /// duplicates for the wait to absorb. O(draining sockets of this shard), on SYNs only.
    pub fn take_time_wait_of(
        &mut self,
        local: IpEndpoint,
        remote: IpEndpoint,
    ) -> Option<SocketHandle> {
        if let Some((socket, slot)) = self.time_wait.take(local, remote) {
            return Some(self.pool.adopt(&mut self.sockets, socket, slot));
        }
        let sockets = &self.sockets;
        let pos = self.draining.iter().position(|&h| {
            let socket = sockets.get::<tcp::Socket>(h);
            socket.state() == State::TimeWait
                && socket.local_endpoint() == Some(local)
                && socket.remote_endpoint() == Some(remote)
        })?;
        Some(self.draining.swap_remove(pos))
    }

    /// Takes a draining socket in TIME-WAIT out of the draining list, cutting its wait short:
    /// when the cap needs the room, a new connection matters more than re-ACKing a lost final
    /// FIN (the peer then gets a RST for it, which ends its LAST-ACK just as well).
    pub fn reap_time_wait(&mut self) -> Option<SocketHandle> {
        if let Some((socket, slot)) = self.time_wait.take_oldest() {
            return Some(self.pool.adopt(&mut self.sockets, socket, slot));
        }
        let sockets = &self.sockets;
        let pos = self
            .draining
            .iter()
            .position(|&h| sockets.get::<tcp::Socket>(h).state() == State::TimeWait)?;
        Some(self.draining.swap_remove(pos))
    }
}

/// The device a shard's interface sees during ingress: the one packet [`crate::Net`] already
/// read from the port and routed here, handed out once. Replies smoltcp makes while
/// processing it (a RST, an ICMP echo reply) go out through the port's transmit token.
pub(crate) struct Staged<'a, L: Link> {
    tokens: Option<(PortRx<'a>, PortTx<'a, L>)>,
    caps: &'a DeviceCapabilities,
}

impl<'a, L: Link> Staged<'a, L> {
    /// Wraps the tokens of one received packet; `caps` are the port's.
    pub fn new(rx: PortRx<'a>, tx: PortTx<'a, L>, caps: &'a DeviceCapabilities) -> Self {
        Staged {
            tokens: Some((rx, tx)),
            caps,
        }
    }
}

impl<'a, L: Link> phy::Device for Staged<'a, L> {
    type RxToken<'b>
        = PortRx<'a>
    where
        Self: 'b;
    type TxToken<'b>
        = PortTx<'a, L>
    where
        Self: 'b;

    fn receive(&mut self, _: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.tokens.take()
    }

    fn transmit(&mut self, _: Instant) -> Option<Self::TxToken<'_>> {
        // smoltcp answers a packet through the token that came with it; egress goes through
        // the port itself.
        None
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{Ipv4Address, Ipv6Address};

    fn v4(last: u8, port: u16) -> IpEndpoint {
        IpEndpoint::new(Ipv4Address::new(10, 0, 0, last).into(), port)
    }

    #[test]
    fn shard_count_is_a_bounded_power_of_two() {
        assert_eq!(shard_count(0), 1);
        assert_eq!(shard_count(4), 1);
        assert_eq!(shard_count(127), 1);
        assert_eq!(shard_count(128), 2);
        assert_eq!(shard_count(1024), 16);
        assert_eq!(shard_count(10_000), 256);
        assert_eq!(shard_count(1 << 30), 256);
    }

    #[test]
    fn flows_spread_evenly_and_map_stably() {
        let hasher = FlowHasher::new(42, 16);
        let local = v4(2, 8080);
        let mut counts = [0usize; 16];
        for port in 30_000..46_000u16 {
            let s = hasher.shard_of(v4(1, port), local);
            assert_eq!(
                s,
                hasher.shard_of(v4(1, port), local),
                "same flow, same shard"
            );
            counts[s] += 1;
        }
        // 1000 expected per shard; a fair hash stays well within ±20 %.
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn ipv6_flows_spread_and_the_key_changes_the_mapping() {
        let local = IpEndpoint::new(Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).into(), 80);
        let remote =
            |port| IpEndpoint::new(Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).into(), port);
        let a = FlowHasher::new(1, 8);
        let b = FlowHasher::new(2, 8);
        let mut seen = [false; 8];
        let mut differ = 0;
        for port in 40_000..40_200u16 {
            seen[a.shard_of(remote(port), local)] = true;
            differ +=
                usize::from(a.shard_of(remote(port), local) != b.shard_of(remote(port), local));
        }
        assert!(seen.iter().all(|&s| s), "every shard used");
        assert!(
            differ > 100,
            "another key, another mapping ({differ} of 200 moved)"
        );
    }

    #[test]
    fn one_shard_takes_everything() {
        let hasher = FlowHasher::new(7, 1);
        assert_eq!(hasher.shard_of(v4(1, 1), v4(2, 2)), 0);
    }

    #[test]
    fn tuple_maps_find_every_tuple_and_tables_get_their_own_keys() {
        let mut map = TupleMap::default();
        for port in 0..2000u16 {
            map.insert((v4(2, 8080), v4(1, port)), port);
        }
        assert!((0..2000u16).all(|port| map.get(&(v4(2, 8080), v4(1, port))) == Some(&port)));
        assert_eq!(
            map.get(&(v4(1, 8080), v4(2, 7))),
            None,
            "the order of the ends counts"
        );
        let hash = |hashing: &TupleHashing| hashing.hash_one((v4(2, 8080), v4(1, 40000)));
        let (a, b) = (TupleHashing::default(), TupleHashing::default());
        assert_eq!(
            hash(&a),
            hash(&a.clone()),
            "one table hashes a tuple the same way"
        );
        assert_ne!(hash(&a), hash(&b), "each table is keyed apart");
    }
}
