//! TIME-WAIT sockets in a set of their own, out of smoltcp's per-poll walk.
//!
//! smoltcp's egress and its `poll_at` visit every socket of the set they are given, and a
//! server that closes first keeps each finished connection in TIME-WAIT (smoltcp holds it for
//! 10 s, or until the cap needs the socket). Under connection churn those sockets were most of
//! each shard's set, so every poll of a shard walked them: about a fifth of tunws's CPU per
//! connection went to that walk (docs/BENCHMARKS.md, "Connection setup").
//!
//! A TIME-WAIT socket needs nothing from egress: it has nothing to send, and what it answers
//! (the ACK of a retransmitted FIN, a challenge ACK) it answers from ingress, through the
//! packet's own transmit token. So a shard moves its draining sockets here once they reach
//! TIME-WAIT; a packet of such a 4-tuple is handed to this set alone; the wait ends by this
//! module's clock ([`TIME_WAIT`] after the socket came here, oldest first), or sooner when a
//! new SYN reuses the 4-tuple or the cap needs the socket. The socket then goes back to its
//! shard's pool with its ring slot.

use std::collections::VecDeque;

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::{AnySocket, Socket, tcp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::IpEndpoint;

use crate::rings::Slot;
use crate::shard::TupleMap;

/// How long a socket waits here: smoltcp's own TIME-WAIT delay (10 s). A peer that
/// retransmits its FIN after that gets a RST, which ends its LAST-ACK as well.
pub const TIME_WAIT: Duration = Duration::from_secs(10);

/// One socket waiting out TIME-WAIT.
struct Waiting {
    handle: SocketHandle,
    tuple: (IpEndpoint, IpEndpoint),
    slot: Slot,
    since: Instant,
}

/// A shard's TIME-WAIT sockets: their own smoltcp set, the 4-tuple index that routes packets
/// to it, and the order they expire in.
pub(crate) struct TimeWaitSet {
    /// The sockets; only their own packets visit this set.
    pub sockets: SocketSet<'static>,
    /// (local, remote) → handle in `sockets`.
    by_tuple: TupleMap<SocketHandle>,
    /// Oldest first.
    order: VecDeque<Waiting>,
}

impl TimeWaitSet {
    /// An empty set.
    pub fn new() -> Self {
        TimeWaitSet {
            sockets: SocketSet::new(Vec::new()),
            by_tuple: TupleMap::default(),
            order: VecDeque::new(),
        }
    }

    /// Sockets waiting here.
    pub fn len(&self) -> usize {
        self.by_tuple.len()
    }

    /// True when a socket of the 4-tuple (`local`, `remote`) waits here.
    pub fn contains(&self, local: IpEndpoint, remote: IpEndpoint) -> bool {
        !self.by_tuple.is_empty() && self.by_tuple.contains_key(&(local, remote))
    }

    /// Takes in a socket in TIME-WAIT for the 4-tuple (`local`, `remote`), detached from its
    /// shard's set with its ring slot, at `now`. The caller checks that no other socket of
    /// the 4-tuple waits here ([`TimeWaitSet::contains`]).
    pub fn admit(
        &mut self,
        socket: Socket<'static>,
        slot: Slot,
        tuple: (IpEndpoint, IpEndpoint),
        now: Instant,
    ) {
        debug_assert!(!self.by_tuple.contains_key(&tuple));
        let handle = self.sockets.add(socket);
        self.by_tuple.insert(tuple, handle);
        self.order.push_back(Waiting {
            handle,
            tuple,
            slot,
            since: now,
        });
    }

    /// Takes out the socket of the 4-tuple (`local`, `remote`), if one waits here.
    pub fn take(
        &mut self,
        local: IpEndpoint,
        remote: IpEndpoint,
    ) -> Option<(Socket<'static>, Slot)> {
        let handle = self.by_tuple.remove(&(local, remote))?;
        let pos = self.order.iter().position(|w| w.handle == handle)?;
        let waiting = self.order.remove(pos)?;
        Some((self.sockets.remove(handle), waiting.slot))
    }

    /// Takes out the oldest socket (its wait cut short: the cap needs it).
    pub fn take_oldest(&mut self) -> Option<(Socket<'static>, Slot)> {
        let waiting = self.order.pop_front()?;
        self.by_tuple.remove(&waiting.tuple);
        Some((self.sockets.remove(waiting.handle), waiting.slot))
    }

    /// Takes out the oldest socket if its wait is over at `now`.
    pub fn take_expired(&mut self, now: Instant) -> Option<(Socket<'static>, Slot)> {
        if self.order.front()?.since + TIME_WAIT > now {
            return None;
        }
        self.take_oldest()
    }

    /// When the oldest socket's wait ends.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.order.front().map(|w| w.since + TIME_WAIT)
    }

    /// The sockets waiting here, for statistics.
    pub fn iter(&self) -> impl Iterator<Item = &tcp::Socket<'static>> {
        self.sockets
            .iter()
            .filter_map(|(_, socket)| tcp::Socket::downcast(socket))
    }
}
