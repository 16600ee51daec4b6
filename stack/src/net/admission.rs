//! SYN admission: which SYN gets a listener, which half-open connection makes room for it, and
//! which connections a new SYN may not open (per-source cap, duplicates of a 4-tuple), and the
//! timeouts and budgets that bound half-open connections.

use std::net::SocketAddr;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Duration;

use super::Net;
use super::supply::{socket_for, steal_listener};
use super::table::Conn;
use crate::device::TcpFlow;
use crate::id::ConnId;
use crate::pool::Census;
use crate::shard::{Shard, TupleMap};

/// A half-open connection younger than this is never evicted for a new SYN, at the cap or
/// beyond the half-open budget (see `Net::evict_oldest_half_open`): a real handshake
/// completes within a round trip, so a burst
/// of real connects beyond the cap is refused as before instead of evicting itself, while
/// the half-open sockets of a SYN flood, which never complete, make room after this long.
pub const HALF_OPEN_GRACE: Duration = Duration::from_millis(200);

/// A peer silent this long with our data unacknowledged is dropped, so vanished peers do not
/// pin the pool forever.
pub const SOCKET_TIMEOUT: Duration = Duration::from_secs(60);

/// A half-open (SYN-RECEIVED) connection whose peer says nothing for this long is reset and
/// its socket recycled. A real client answers our SYN-ACK within a round trip, and this still
/// covers two lost SYN-ACKs (retransmitted after 1 s and 3 s); the half-open sockets of a SYN
/// flood from spoofed addresses, which never answer, give their room back after it instead of
/// after [`SOCKET_TIMEOUT`]. Sockets get [`SOCKET_TIMEOUT`] once established.
pub const SYN_RECEIVED_TIMEOUT: Duration = Duration::from_secs(5);

/// How many half-open (SYN-RECEIVED) connections may exist at once: a quarter of the cap, and
/// never fewer than the spare listeners (a burst the pool takes at once is not cut short by
/// itself). Beyond it the oldest half-open connection is dropped silently for the new SYN,
/// like a full Linux SYN queue (but never one younger than 200 ms, [`HALF_OPEN_GRACE`]:
/// real handshakes complete within a round trip), so a SYN flood from spoofed addresses holds
/// about this many sockets and buffers (more only at a rate beyond budget / 200 ms, and never
/// more than the cap), while established connections keep the rest of the cap.
pub fn half_open_budget(max_connections: usize) -> usize {
    (max_connections / 4).max(spare_for(max_connections)).max(1)
}

/// Spare listeners (over all shards) for a given connection cap: enough slack for a burst
/// between two top-ups, few enough that smoltcp's linear socket scan stays cheap.
pub fn spare_for(max_connections: usize) -> usize {
    (max_connections / 16).clamp(8, 64).min(max_connections)
}

impl Net {
    pub(super) fn adopt(&mut self, index: usize, handle: SocketHandle) {
        let shard = &mut self.shards[index];
        let socket = shard.sockets.get::<tcp::Socket>(handle);
        let state = socket.state();
        let (Some(local), Some(remote)) = (socket.local_endpoint(), socket.remote_endpoint())
        else {
            let connections = self.conns.len();
            shard
                .pool
                .release(&mut shard.sockets, handle, &mut self.census, connections);
            return;
        };
        if let Some(&existing) = self.tuples.get(&(local, remote)) {
            let existing_state = self.state(existing);
            if existing_state.is_some_and(|s| s != State::TimeWait && s != State::Closed) {
                // A retransmitted SYN reached a listener ahead of the socket that already owns
                // this 4-tuple. The newcomer has not sent its SYN-ACK yet (egress comes after
                // ingress), so removing it outright is invisible to the peer; closing it would
                // send a RST that could kill the real connection.
                log::debug!(
                    "dropping duplicate SYN-RECEIVED socket for {} (conn {existing} owns it)",
                    SocketAddr::from(remote)
                );
                let shard = &mut self.shards[index];
                shard
                    .pool
                    .remove(&mut shard.sockets, handle, &mut self.census);
                self.duplicates += 1;
                return;
            }
            // The old connection is in TIME-WAIT and the peer reuses its port: the new one wins.
            self.forget_socket_of(existing);
        }
        if self.max_per_source > 0
            && self.sources.get(&remote.addr).copied().unwrap_or(0) >= self.max_per_source
        {
            // One address may not take the whole pool. The socket has not answered the SYN
            // yet (egress comes after ingress); aborting it makes its next packet a RST, so
            // the peer's connect fails at once instead of retrying. It drains like any
            // aborted socket and goes back to the pool.
            self.refused_per_source += 1;
            if self.refused_per_source.is_power_of_two() {
                log::warn!(
                    "refusing connections from {}: {} already open (--max-per-source); \
                     {} refused so far",
                    remote.addr,
                    self.max_per_source,
                    self.refused_per_source
                );
            }
            let shard = &mut self.shards[index];
            shard.sockets.get_mut::<tcp::Socket>(handle).abort();
            shard.drain(handle);
            return;
        }
        *self.sources.entry(remote.addr).or_insert(0) += 1;
        let id = self.new_id();
        let conn = Conn::new(index, handle, (local, remote), true, state, self.now);
        self.insert_conn(id, conn);
        self.shards[index].pending.push(id);
        self.half_open += 1;
        if self.log_states {
            log::info!("conn {id} {}: LISTEN → {state}", SocketAddr::from(remote));
        }
    }

    /// Opens listeners in shard `index` until its pool has its spare or the cap is reached.
    pub(super) fn top_up(&mut self, index: usize) {
        let connections = self.conns.len();
        while self.shards[index]
            .pool
            .wants_listener(&self.census, connections)
        {
            let Some(handle) = socket_for(&mut self.shards, &mut self.census, index) else {
                break;
            };
            let shard = &mut self.shards[index];
            shard
                .pool
                .listen_on(&mut shard.sockets, handle, &mut self.census);
        }
        if self.census.listeners == 0 && self.listen_port().is_some() {
            self.evict_oldest_half_open(HALF_OPEN_GRACE);
        }
    }

    /// At the cap with no listener left in any shard, the next SYN would get a RST. If some
    /// slots are half-open (SYN-RECEIVED) for longer than [`HALF_OPEN_GRACE`] (in a SYN flood
    /// from spoofed addresses they never complete), the oldest gives its socket to a new
    /// listener in its shard (a SYN for another shard takes it over, see `ensure_listener`),
    /// so a flood cannot lock real clients out for the 60 s a half-open socket would otherwise
    /// wait. Established connections are never evicted.
    ///
    /// Also called when a SYN takes the half-open count beyond `max_half_open` (see
    /// [`half_open_budget`]). Returns false when no connection was older than `min_age`.
    /// Scans every shard's pending list: only at the cap or beyond the budget.
    pub(super) fn evict_oldest_half_open(&mut self, min_age: Duration) -> bool {
        let now = self.now;
        let mut oldest: Option<(usize, usize, ConnId)> = None;
        for (index, shard) in self.shards.iter().enumerate() {
            for (pos, &id) in shard.pending.iter().enumerate() {
                let Some(conn) = self.conns.get(&id) else {
                    continue;
                };
                let half_open = now >= conn.opened + min_age
                    && shard.sockets.get::<tcp::Socket>(conn.handle).state() == State::SynReceived;
                if half_open && oldest.is_none_or(|(_, _, o)| id < o) {
                    oldest = Some((index, pos, id));
                }
            }
        }
        let Some((index, pos, id)) = oldest else {
            return false;
        };
        self.shards[index].pending.swap_remove(pos);
        self.half_open -= 1;
        let Some(handle) = self.conns.get(&id).map(|c| c.handle) else {
            return true;
        };
        self.drop_conn(id);
        let connections = self.conns.len();
        let shard = &mut self.shards[index];
        shard
            .pool
            .recycle_silently(&mut shard.sockets, handle, &mut self.census, connections);
        self.evicted_half_open += 1;
        if self.evicted_half_open.is_power_of_two() {
            log::warn!(
                "half-open budget or connection cap reached: dropping the oldest half-open \
                 connections for new SYNs (SYN flood?); {} dropped so far",
                self.evicted_half_open
            );
        }
        true
    }
}

/// Before the packet `flow` reaches shard `index` (called while the packet is borrowed from
/// the device, hence the fields one by one): when it is a SYN that opens a new
/// connection on the listening `port`, clear the way for it (a TIME-WAIT socket of its
/// 4-tuple) and make sure the shard has a listener to take it.
///
/// Returns false when the SYN must be dropped unanswered: no listener is left (the cap is
/// reached) while `half_open` connections hold sockets. smoltcp would answer it with a RST,
/// refusing a client for whom a half-open connection (a flood's, most likely) makes room
/// once its grace has passed; dropped, the SYN is retransmitted (after 1 s on Linux) and
/// finds a listener then. With no half-open connection the cap is all established ones,
/// and the RST refuses the client at once.
#[allow(clippy::too_many_arguments)] // the fields of `Net` the borrowed packet leaves free
pub(super) fn prepare_for_syn(
    shards: &mut [Shard],
    census: &mut Census,
    tuples: &TupleMap<ConnId>,
    connections: usize,
    half_open: usize,
    index: usize,
    flow: Option<TcpFlow>,
    port: Option<u16>,
) -> bool {
    // A new connection needs a listener in its shard; a retransmitted SYN of one we
    // already have does not.
    let opens = flow.is_some_and(|f| {
        f.syn && Some(f.dst.port) == port && !tuples.contains_key(&(f.dst, f.src))
    });
    if let Some(f) = flow.filter(|_| opens) {
        // A TIME-WAIT socket of the same 4-tuple would take this SYN before any
        // listener and never answer it with a SYN-ACK (see `take_time_wait_of`).
        let shard = &mut shards[index];
        if let Some(handle) = shard.take_time_wait_of(f.dst, f.src) {
            shard
                .pool
                .recycle_silently(&mut shard.sockets, handle, census, connections);
        }
        ensure_listener(shards, census, connections, index);
        return shards[index].pool.listeners() > 0 || half_open == 0;
    }
    true
}

/// Makes sure shard `index` has a listener for the SYN about to reach it, if the cap has room
/// for one more connection. Pools are topped up after every packet, so this acts only near
/// the cap, when the listeners the cap still allows may all sit in other shards: one of them
/// then moves here. Without it a SYN could be refused below `max_connections`.
fn ensure_listener(shards: &mut [Shard], census: &mut Census, connections: usize, index: usize) {
    if shards[index].pool.listeners() > 0 {
        return;
    }
    let handle = if census.may_listen(connections) {
        socket_for(shards, census, index)
    } else {
        steal_listener(shards, census, index)
    };
    if let Some(handle) = handle {
        let shard = &mut shards[index];
        shard.pool.listen_on(&mut shard.sockets, handle, census);
    }
}
