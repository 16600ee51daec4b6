//! The poll engine: one [`Net::poll`] moves incoming packets to their shard's interface one at
//! a time, runs the due timers and the egress of the shards that need it, and settles what
//! changed (half-open connections, draining sockets, the application's ready list).

use std::net::SocketAddr;

use smoltcp::iface::{PollIngressSingleResult, PollResult};
use smoltcp::phy::Device;
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::{Duration, Instant};

use super::admission::{HALF_OPEN_GRACE, SOCKET_TIMEOUT, prepare_for_syn};
use super::{IngressBudget, Net};
use crate::device::TcpFlow;
use crate::shard::Staged;

impl Net {
    /// Processes everything that is due at `now`: incoming packets one at a time (topping up
    /// the listen pool after each), timers, outgoing packets. Then updates the accept and gone
    /// queues.
    ///
    /// Returns true when anything happened in this poll (a packet in or out, a state change).
    /// What it means for the application is queued for [`Net::accept`], [`Net::poll_ready`]
    /// and [`Net::poll_gone`], and [`Net::poll_delay`] is zero until those are emptied, so
    /// a loop that polls once per turn (see [`crate::runner`]) misses nothing.
    pub fn poll(&mut self, now: Instant) -> bool {
        let ingress = self.read_link(now);
        self.poll_egress(now) || ingress
    }

    /// The first half of [`Net::poll`] alone: reads the link (packets into their shards, the
    /// listen pool topped up after each) and queues what it means for the application
    /// ([`Net::accept`], [`Net::poll_ready`], [`Net::poll_gone`]), leaving the shards with
    /// news listed for [`Net::poll_egress`]. The runner's turn is this, the application, then
    /// `poll_egress`: one egress walk over those shards per turn instead of one before and
    /// one after the application. Returns true when a packet came.
    pub fn poll_ingress(&mut self, now: Instant) -> bool {
        let activity = self.read_link(now);
        self.examine_touched();
        activity
    }

    /// The second half of [`Net::poll`] alone: due timers, then the egress and settling of
    /// the shards with news, without reading the link. The runner calls it right after the
    /// application's turn, so what the turn queued (an echo, with the ACK of the data it
    /// answers) leaves before the loop sleeps rather than after one more wake-up and read.
    ///
    /// Returns true when anything happened (a packet out, a state change).
    pub fn poll_egress(&mut self, now: Instant) -> bool {
        self.now = now;
        let mut activity = false;
        // Shards whose timers are due join the ones with news: O(shards), not O(sockets),
        // and only when the earliest timer is due.
        if self.earliest.is_some_and(|at| now >= at) {
            for index in 0..self.deadlines.len() {
                if self.is_due(index, now) {
                    self.mark_dirty(index);
                }
            }
        }
        // Held packets that are due go out before anything newer.
        activity |= self.device.release_due(now) > 0;
        let dirty = std::mem::take(&mut self.dirty);
        for &index in &dirty {
            let due = self.is_due(index, now);
            let shard = &mut self.shards[index];
            shard.iface.poll_maintenance(now);
            while shard
                .iface
                .poll_egress(now, &mut self.device, &mut shard.sockets)
                == PollResult::SocketStateChanged
            {
                activity = true;
            }
            if due {
                // Sockets change state without a packet or an application call only through
                // smoltcp's timers (retransmission timeout, TIME-WAIT expiry): look at every
                // connection of this shard, as egress just looked at every socket.
                let mut members = std::mem::take(&mut self.scratch);
                members.extend(shard.members.iter().copied());
                for id in members.drain(..) {
                    self.touch(id, false);
                }
                self.scratch = members;
            }
        }
        for &index in &dirty {
            self.check_pending(index);
        }
        self.examine_touched();
        for &index in &dirty {
            let due = self.is_due(index, now);
            let shard = &mut self.shards[index];
            // Draining sockets finish by a timer (TIME-WAIT) or right after their RST went
            // out, which is when they were added: no need to look at them on other polls.
            let added = std::mem::take(&mut shard.draining_added);
            if added || due {
                activity |= self.recycle_draining(index);
            }
            // Releasing sockets may have made room for listeners.
            self.top_up(index);
            let shard = &mut self.shards[index];
            let smoltcp = shard.iface.poll_at(now, &shard.sockets);
            self.deadlines[index] = smoltcp
                .into_iter()
                .chain(shard.time_wait.next_expiry())
                .min();
            shard.dirty = false;
        }
        if !dirty.is_empty() {
            self.earliest = self.deadlines.iter().flatten().min().copied();
        }
        self.sweep_idle_rings(now);
        // Shards marked by this poll's own bookkeeping stay listed for the next one.
        if self.dirty.is_empty() {
            let mut dirty = dirty;
            dirty.clear();
            self.dirty = dirty;
        }
        activity
    }

    /// Reads the link: incoming packets one at a time into their shards (topping the listen
    /// pool up after each), within the [`IngressBudget`]. True when any came.
    fn read_link(&mut self, now: Instant) -> bool {
        self.now = now;
        let mut activity = false;
        let port = self.listen_port();
        if self.census.listeners == 0 && port.is_some() {
            // At the cap: a half-open connection may have outlived its grace since the last
            // top-up, and the next SYN should find its socket listening.
            self.evict_oldest_half_open(HALF_OPEN_GRACE);
        }
        let mut budget = IngressBudget::new();
        while budget.open() {
            let Some((rx, tx)) = self.device.receive(now) else {
                break;
            };
            let flow = rx.flow();
            budget.spend(flow.is_some_and(|f| f.bare_ack));
            let index = flow.map_or(0, |f| self.flows.shard_of(f.src, f.dst));
            if !prepare_for_syn(
                &mut self.shards,
                &mut self.census,
                &self.tuples,
                self.conns.len(),
                self.half_open,
                index,
                flow,
                port,
            ) {
                self.dropped_syns += 1;
                activity = true;
                continue;
            }
            let shard = &mut self.shards[index];
            let mut staged = Staged::new(rx, tx, &self.caps);
            if flow.is_some_and(|f| shard.time_wait.contains(f.dst, f.src)) {
                // A packet of a connection in TIME-WAIT (a retransmitted FIN, say): only its
                // socket's set sees it, and its answer leaves through the packet's token.
                shard
                    .iface
                    .poll_ingress_single(now, &mut staged, &mut shard.time_wait.sockets);
                activity = true;
                continue;
            }
            match shard
                .iface
                .poll_ingress_single(now, &mut staged, &mut shard.sockets)
            {
                PollIngressSingleResult::None => break,
                PollIngressSingleResult::PacketProcessed
                | PollIngressSingleResult::SocketStateChanged => {
                    activity = true;
                    self.mark_dirty(index);
                    self.after_ingress(index, flow);
                }
            }
        }
        activity
    }

    /// How long the loop may sleep before smoltcp needs [`Net::poll`] again (`None`: until a
    /// packet arrives). Zero when work is already waiting: queued accepts, ready or gone ids
    /// the application has not taken, or sends not yet polled out. O(1): the earliest shard
    /// deadline is kept by `poll`.
    pub fn poll_delay(&mut self, now: Instant) -> Option<Duration> {
        if !self.dirty.is_empty()
            || !self.accepted.is_empty()
            || !self.gone.is_empty()
            || !self.ready.is_empty()
        {
            return Some(Duration::ZERO);
        }
        // Packets held by the impairment are timers too: the loop must wake to release them.
        let next = self
            .earliest
            .into_iter()
            .chain(self.device.next_release())
            .chain(self.idle_rings.due())
            .min()?;
        Some(if next > now {
            next - now
        } else {
            Duration::ZERO
        })
    }

    /// True when shard `index`'s timer is due at `now`.
    pub(super) fn is_due(&self, index: usize, now: Instant) -> bool {
        self.deadlines[index].is_some_and(|at| now >= at)
    }

    /// Lists shard `index` for the next (or current) poll.
    pub(super) fn mark_dirty(&mut self, index: usize) {
        let shard = &mut self.shards[index];
        if !shard.dirty {
            shard.dirty = true;
            self.dirty.push(index);
        }
    }

    /// After each ingress packet into shard `index`: note which connection it concerned,
    /// adopt listeners that took a SYN (dropping a duplicate socket for a 4-tuple we already
    /// have), settle half-open connections, top the shard's pool up.
    pub(super) fn after_ingress(&mut self, index: usize, flow: Option<TcpFlow>) {
        if let Some(flow) = flow {
            if let Some(&id) = self.tuples.get(&(flow.dst, flow.src)) {
                self.touch(id, true);
            } else if !self.shards[index].draining.is_empty() {
                // Maybe a draining socket's: it may have reached TIME-WAIT, to be set aside.
                self.shards[index].draining_added = true;
            }
        }
        let mut taken = std::mem::take(&mut self.taken);
        let shard = &mut self.shards[index];
        shard
            .pool
            .collect_taken(&shard.sockets, &mut taken, &mut self.census);
        for handle in taken.drain(..) {
            self.adopt(index, handle);
        }
        self.taken = taken;
        if !self.shards[index].pending.is_empty() {
            self.check_pending(index);
            // After check_pending, this shard's `pending` holds only half-open connections.
            // Young ones are kept (a burst of real connects completes within a round trip),
            // so the budget may be exceeded briefly, and the cap still holds.
            while self.half_open > self.max_half_open
                && self.evict_oldest_half_open(HALF_OPEN_GRACE)
            {}
        }
        self.top_up(index);
    }

    /// Half-open connections of shard `index`: announce the established ones, return the
    /// reset ones to the pool, drop the failed ones.
    pub(super) fn check_pending(&mut self, index: usize) {
        let mut i = 0;
        while i < self.shards[index].pending.len() {
            let id = self.shards[index].pending[i];
            let Some(conn) = self.conns.get_mut(&id) else {
                self.shards[index].pending.swap_remove(i);
                self.half_open -= 1;
                continue;
            };
            let handle = conn.handle;
            let state = self.shards[index]
                .sockets
                .get::<tcp::Socket>(handle)
                .state();
            match state {
                State::SynReceived | State::SynSent => {
                    i += 1;
                    continue;
                }
                State::Listen => {
                    // RST during the handshake: smoltcp put the socket back to LISTEN but
                    // kept the old peer's sequence state (`remote_last_ack` of the SYN-ACK it
                    // sent, window scale, MSS). A SYN taken in that state is checked against
                    // the stale window, so a RST arriving before the new SYN-ACK goes out is
                    // dropped as out of window and the socket stays half-open. Close it
                    // (silently: no peer is attached any more) and listen afresh, which
                    // resets every field.
                    self.drop_conn(id);
                    let connections = self.conns.len();
                    let shard = &mut self.shards[index];
                    shard.pool.recycle_silently(
                        &mut shard.sockets,
                        handle,
                        &mut self.census,
                        connections,
                    );
                }
                State::Closed | State::TimeWait => {
                    self.drop_conn(id);
                    self.shards[index].drain(handle);
                }
                _ => {
                    // Listeners carry the short handshake timeout; a live connection may be
                    // silent for longer.
                    self.shards[index]
                        .sockets
                        .get_mut::<tcp::Socket>(handle)
                        .set_timeout(Some(SOCKET_TIMEOUT));
                    conn.announced = true;
                    conn.state = state;
                    // Data may have come with the ACK that completed the handshake.
                    conn.ready = true;
                    self.ready.push_back(id);
                    self.accepted.push_back((id, conn.remote.into()));
                    if self.log_states {
                        log::info!(
                            "conn {id} {}: SYN-RECEIVED → {state}",
                            SocketAddr::from(conn.remote)
                        );
                    }
                }
            }
            self.shards[index].pending.swap_remove(i);
            self.half_open -= 1;
        }
    }

    /// Recycles shard `index`'s draining sockets that are fully closed (RST sent), moves the
    /// ones in TIME-WAIT to the shard's [`crate::time_wait::TimeWaitSet`] and recycles those
    /// whose wait is over (they are reaped earlier when the cap needs their room).
    pub(super) fn recycle_draining(&mut self, index: usize) -> bool {
        let connections = self.conns.len();
        let shard = &mut self.shards[index];
        let mut recycled = false;
        let mut i = 0;
        while i < shard.draining.len() {
            let handle = shard.draining[i];
            let socket = shard.sockets.get::<tcp::Socket>(handle);
            if socket.state() == State::Closed && socket.remote_endpoint().is_none() {
                shard.draining.swap_remove(i);
                shard
                    .pool
                    .release(&mut shard.sockets, handle, &mut self.census, connections);
                recycled = true;
            } else {
                i += 1;
            }
        }
        shard.set_aside_time_wait(self.now);
        while let Some((socket, slot)) = shard.time_wait.take_expired(self.now) {
            let handle = shard.pool.adopt(&mut shard.sockets, socket, slot);
            shard
                .pool
                .release(&mut shard.sockets, handle, &mut self.census, connections);
            recycled = true;
        }
        recycled
    }
}
