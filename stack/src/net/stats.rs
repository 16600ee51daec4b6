//! Snapshots of the stack's bookkeeping: [`NetStats`] (`GET /stats`, leak checks) and
//! [`ShardLoad`].

use smoltcp::socket::AnySocket;
use smoltcp::socket::tcp::{self, State};

use super::Net;
use crate::device::PortStats;

/// A snapshot of the socket bookkeeping, for tests, logs and leak checks (`GET /stats`).
/// After connections come and go, every gauge here returns to its idle value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetStats {
    /// TCP sockets allocated in the socket sets: listeners, connections, draining and free.
    pub sockets: usize,
    /// Spare listeners on the listening port.
    pub listeners: usize,
    /// Connections in the table (half-open, established, closing).
    pub connections: usize,
    /// Of those, in ESTABLISHED.
    pub established: usize,
    /// Of those, in SYN-RECEIVED or SYN-SENT.
    pub handshaking: usize,
    /// Remote addresses with at least one incoming connection in the table (the per-source
    /// cap's bookkeeping).
    pub sources: usize,
    /// Bytes received and not yet read, over the connections and the draining sockets.
    pub rx_buffered: usize,
    /// Bytes queued for sending and not yet acknowledged, over the connections and the
    /// draining sockets.
    pub tx_buffered: usize,
    /// Packets held by the impairment stage now (delay, reorder, duplicates).
    pub held_packets: usize,
    /// SYNs refused because their source address had `max_per_source` connections.
    pub refused_per_source: u64,
    /// Half-open (SYN-RECEIVED) connections dropped to make room for a new SYN, at the cap
    /// or beyond the half-open budget.
    pub evicted_half_open: u64,
    /// SYNs dropped unanswered (no RST) at the cap while half-open connections held the
    /// sockets: their senders retry and get a socket once the oldest half-open one is evicted.
    pub dropped_syns: u64,
    /// Sockets released by the application, waiting out TIME-WAIT or a pending RST.
    pub draining: usize,
    /// Closed sockets kept for reuse.
    pub free: usize,
    /// Duplicate SYN-RECEIVED sockets removed (a retransmitted SYN caught by a second listener).
    pub duplicates: u64,
    /// Packet counters of the device.
    pub port: PortStats,
}

/// How the sockets are spread over the shards (see `shard.rs`), from [`Net::shard_load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardLoad {
    /// smoltcp interfaces the sockets are spread over.
    pub shards: usize,
    /// Sockets in the fullest shard: what one packet's scan costs.
    pub largest: usize,
}

impl Net {
    /// Socket bookkeeping and packet counters. Walks every socket: meant for tests, logs and
    /// `GET /stats`, not for every loop turn.
    pub fn stats(&self) -> NetStats {
        let mut sockets = 0;
        for shard in &self.shards {
            sockets += shard
                .sockets
                .iter()
                .filter(|(_, s)| tcp::Socket::downcast(s).is_some())
                .count();
            sockets += shard.time_wait.len();
        }
        // Only sockets that belong to a connection or drain one: a recycled socket keeps the
        // stale bytes of its last connection until it listens again, and they are nobody's.
        let (mut rx_buffered, mut tx_buffered) = (0, 0);
        let handles = self.conns.values().map(|c| (c.shard, c.handle));
        let draining =
            self.shards.iter().enumerate().flat_map(|(index, shard)| {
                shard.draining.iter().map(move |&handle| (index, handle))
            });
        let waiting = self.shards.iter().flat_map(|shard| shard.time_wait.iter());
        let sockets_of = handles
            .chain(draining)
            .map(|(index, handle)| self.shards[index].sockets.get::<tcp::Socket>(handle));
        for socket in sockets_of.chain(waiting) {
            rx_buffered += socket.recv_queue();
            tx_buffered += socket.send_queue();
        }
        let (mut established, mut handshaking) = (0, 0);
        for conn in self.conns.values() {
            match self.shards[conn.shard]
                .sockets
                .get::<tcp::Socket>(conn.handle)
                .state()
            {
                State::Established => established += 1,
                State::SynReceived | State::SynSent => handshaking += 1,
                _ => {}
            }
        }
        NetStats {
            sockets,
            listeners: self.census.listeners,
            connections: self.conns.len(),
            established,
            handshaking,
            sources: self.sources.len(),
            rx_buffered,
            tx_buffered,
            held_packets: self.device.held(),
            refused_per_source: self.refused_per_source,
            evicted_half_open: self.evicted_half_open,
            dropped_syns: self.dropped_syns,
            draining: self
                .shards
                .iter()
                .map(|s| s.draining.len() + s.time_wait.len())
                .sum(),
            free: self.census.free,
            duplicates: self.duplicates,
            port: self.device.stats(),
        }
    }

    /// The shard count and the fullest shard's socket count. Walks the shards' socket sets:
    /// for tests and logs.
    pub fn shard_load(&self) -> ShardLoad {
        ShardLoad {
            shards: self.shards.len(),
            largest: self
                .shards
                .iter()
                .map(|s| s.sockets.iter().count())
                .max()
                .unwrap_or(0),
        }
    }
}
