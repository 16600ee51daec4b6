//! The listen pool: spare listening sockets, because smoltcp has no backlog.
//!
//! A listening smoltcp socket takes exactly one connection, and a SYN that finds no socket in
//! LISTEN gets a RST. So every shard (see [`crate::shard`]) keeps a [`Pool`] of `spare`
//! listeners on the port, topped up after every ingress packet (a burst of SYNs then never
//! finds it empty), and recycles closed sockets with their buffers. The cap is global: the
//! [`Census`] counts sockets over every shard, and no pool lets the connections plus the
//! listeners exceed `max_connections`, so SYNs beyond the cap are refused with a RST by
//! smoltcp itself. Every socket's rings live in one [`RingArena`] slot, owned by the census
//! (one slot per socket the cap allows); a pool remembers which slot each of its sockets holds.

use std::collections::HashMap;
use std::io;

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::CongestionControl;
use smoltcp::socket::{Socket, tcp};
use smoltcp::time::Duration;

use crate::rings::{RingArena, Slot};

/// Socket counts summed over every shard, checked against the one `max_connections` cap, and
/// the ring storage of every socket.
#[derive(Debug)]
pub struct Census {
    /// The cap on sockets: connections, listeners, draining and free ones together.
    pub max_connections: usize,
    /// TCP sockets allocated in all socket sets.
    pub sockets: usize,
    /// Listeners in all pools.
    pub listeners: usize,
    /// Closed sockets kept for reuse in all pools.
    pub free: usize,
    /// One slot of receive and transmit ring per socket the cap allows.
    rings: RingArena,
}

impl Census {
    /// Nothing allocated yet under a cap of `max_connections`, for sockets with rings of
    /// `rx_buffer` (up to `max_rx_buffer` for a listener that asks) and `tx_buffer` bytes
    /// (address space is reserved for all of them now; memory only as rings are written).
    pub fn new(
        max_connections: usize,
        rx_buffer: usize,
        max_rx_buffer: usize,
        tx_buffer: usize,
    ) -> io::Result<Self> {
        Ok(Census {
            max_connections,
            sockets: 0,
            listeners: 0,
            free: 0,
            rings: RingArena::new(max_connections, rx_buffer, max_rx_buffer, tx_buffer)?,
        })
    }

    /// The default receive ring length, and the largest one a slot holds.
    pub fn rx_buffers(&self) -> (usize, usize) {
        (self.rings.rx(), self.rings.rx_max())
    }

    /// True when one more socket may be allocated.
    pub fn has_room(&self) -> bool {
        self.sockets < self.max_connections
    }

    /// True when one more listener may open: each listener can turn into a connection, so
    /// `connections` plus listeners stay within the cap.
    pub fn may_listen(&self, connections: usize) -> bool {
        self.listeners + connections < self.max_connections
    }
}

/// One shard's listeners and recycled sockets; the connection table lives in [`crate::Net`].
pub struct Pool {
    port: Option<u16>,
    listeners: Vec<SocketHandle>,
    /// Closed sockets kept with their ring slots for reuse, at most `spare` of them.
    free: Vec<SocketHandle>,
    spare: usize,
    /// The ring slot of every socket in this shard's set.
    slots: HashMap<SocketHandle, Slot>,
    /// Timeout a listener carries into SYN-RECEIVED (the admission policy's).
    syn_timeout: Duration,
    /// Congestion control of every connection a listener takes.
    congestion: CongestionControl,
    /// Receive ring of every connection a listener takes; `None`: the census's default.
    listen_rx: Option<usize>,
}

impl Pool {
    /// An empty pool aiming at `spare` listeners whose half-open connections time out after
    /// `syn_timeout` and whose connections use `congestion`; nothing listens until
    /// [`Pool::set_port`].
    pub fn new(spare: usize, syn_timeout: Duration, congestion: CongestionControl) -> Self {
        Pool {
            port: None,
            listeners: Vec::new(),
            free: Vec::new(),
            spare: spare.max(1),
            slots: HashMap::new(),
            syn_timeout,
            congestion,
            listen_rx: None,
        }
    }

    /// The listening port, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Spare listeners currently open.
    pub fn listeners(&self) -> usize {
        self.listeners.len()
    }

    /// Closed sockets kept for reuse.
    pub fn free(&self) -> usize {
        self.free.len()
    }

    /// True when this pool is short of listeners and the cap allows one more.
    pub fn wants_listener(&self, census: &Census, connections: usize) -> bool {
        self.port.is_some() && self.listeners.len() < self.spare && census.may_listen(connections)
    }

    /// Listens on `port` from now on, each connection with a receive ring of `rx` bytes
    /// (`None`: the default); listeners on a previous port or with another ring are closed
    /// (their half-open connections, if any, are already owned by the connection table).
    pub fn set_port(
        &mut self,
        sockets: &mut SocketSet<'static>,
        port: u16,
        rx: Option<usize>,
        census: &mut Census,
    ) {
        if self.port == Some(port) && self.listen_rx == rx {
            return;
        }
        for handle in std::mem::take(&mut self.listeners) {
            census.listeners -= 1;
            sockets.get_mut::<tcp::Socket>(handle).abort();
            self.put_free(sockets, handle, census);
        }
        self.port = Some(port);
        self.listen_rx = rx;
    }

    /// A closed socket for a new use: a recycled one, or a fresh one when the cap has room.
    pub fn take_socket(
        &mut self,
        sockets: &mut SocketSet<'static>,
        census: &mut Census,
    ) -> Option<SocketHandle> {
        if let Some(handle) = self.free.pop() {
            census.free -= 1;
            return Some(handle);
        }
        if !census.has_room() {
            return None;
        }
        // The arena has a slot per socket the cap allows, so this fails only if the counts
        // are wrong; then the SYN is refused rather than the cap exceeded.
        // SAFETY: the slices go into a socket of `sockets`, a shard's set; `Net` drops its
        // shards before the census that owns the arena (field order), and `remove` drops the
        // socket before it gives the slot back.
        let (slot, rx, tx) = unsafe { census.rings.take() }?;
        census.sockets += 1;
        let socket = tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
        Some(self.adopt(sockets, Socket::Tcp(socket), slot))
    }

    /// Takes a recycled socket out of this shard's set, to be adopted by another shard's.
    pub fn give_free(
        &mut self,
        sockets: &mut SocketSet<'static>,
        census: &mut Census,
    ) -> Option<(Socket<'static>, Slot)> {
        let handle = self.free.pop()?;
        census.free -= 1;
        Some(self.detach(sockets, handle))
    }

    /// Takes `handle` out of this shard's set, with its ring slot, to move it to another shard.
    pub fn detach(
        &mut self,
        sockets: &mut SocketSet<'static>,
        handle: SocketHandle,
    ) -> (Socket<'static>, Slot) {
        let slot = self
            .slots
            .remove(&handle)
            .expect("every socket of a pool has a ring slot");
        (sockets.remove(handle), slot)
    }

    /// Adds a socket (detached from another shard, or new) whose rings are `slot`.
    pub fn adopt(
        &mut self,
        sockets: &mut SocketSet<'static>,
        socket: Socket<'static>,
        slot: Slot,
    ) -> SocketHandle {
        let handle = sockets.add(socket);
        self.slots.insert(handle, slot);
        handle
    }

    /// Moves listeners that left LISTEN (a SYN arrived) into `taken`.
    pub fn collect_taken(
        &mut self,
        sockets: &SocketSet<'static>,
        taken: &mut Vec<SocketHandle>,
        census: &mut Census,
    ) {
        self.listeners.retain(|&handle| {
            let listening = sockets.get::<tcp::Socket>(handle).is_listening();
            if !listening {
                taken.push(handle);
                census.listeners -= 1;
            }
            listening
        });
    }

    /// Returns a socket taken from a half-open connection to the pool without a word to its
    /// peer: a spoofed peer does not exist, and a real one retransmits its SYN.
    pub fn recycle_silently(
        &mut self,
        sockets: &mut SocketSet<'static>,
        handle: SocketHandle,
        census: &mut Census,
        connections: usize,
    ) {
        let socket = sockets.get_mut::<tcp::Socket>(handle);
        socket.abort();
        if let Some(port) = self.port {
            // smoltcp sends a RST for an aborted socket that still knows its peer; listening
            // resets every field (the peer too), so the second abort has nobody to tell.
            if socket.listen(port).is_ok() {
                socket.abort();
            }
        }
        self.release(sockets, handle, census, connections);
    }

    /// Gives up one listener so its socket can serve elsewhere without exceeding the cap.
    pub fn steal_listener(
        &mut self,
        sockets: &mut SocketSet<'static>,
        census: &mut Census,
    ) -> Option<SocketHandle> {
        let handle = self.listeners.pop()?;
        census.listeners -= 1;
        // A listener has no peer: closing it sends nothing.
        sockets.get_mut::<tcp::Socket>(handle).abort();
        Some(handle)
    }

    /// Returns a socket that is fully closed (or in TIME-WAIT, whose wait is cut short) to
    /// the pool: it listens again if the pool is short, waits in the free list otherwise, and
    /// is dropped when the free list is full.
    pub fn release(
        &mut self,
        sockets: &mut SocketSet<'static>,
        handle: SocketHandle,
        census: &mut Census,
        connections: usize,
    ) {
        // The connection is over and its rings are reset before the next use: their pages
        // go back to the kernel, so a recycled socket costs no more memory than a new one.
        if let Some(&slot) = self.slots.get(&handle) {
            census.rings.trim(slot);
        }
        if self.wants_listener(census, connections) {
            self.listen_on(sockets, handle, census);
        } else {
            self.put_free(sockets, handle, census);
        }
    }

    /// Gives the transmit ring pages of the live socket `handle` back to the kernel. Only for
    /// a socket whose send queue is empty (see [`RingArena::trim_tx`]).
    pub fn trim_tx(&self, handle: SocketHandle, census: &Census) {
        if let Some(&slot) = self.slots.get(&handle) {
            census.rings.trim_tx(slot);
        }
    }

    /// Makes the closed socket `handle` a listener on the port.
    pub fn listen_on(
        &mut self,
        sockets: &mut SocketSet<'static>,
        handle: SocketHandle,
        census: &mut Census,
    ) {
        let Some(port) = self.port else {
            self.put_free(sockets, handle, census);
            return;
        };
        self.fit(sockets, handle, census, self.listen_rx);
        let socket = sockets.get_mut::<tcp::Socket>(handle);
        socket.set_timeout(Some(self.syn_timeout));
        socket.set_nagle_enabled(true);
        // A fresh controller: smoltcp's reset on listen keeps the previous connection's.
        socket.set_congestion_control(self.congestion);
        match socket.listen(port) {
            Ok(()) => {
                self.listeners.push(handle);
                census.listeners += 1;
            }
            Err(err) => {
                log::error!("pool: cannot listen on port {port}: {err}");
                self.put_free(sockets, handle, census);
            }
        }
    }

    /// Gives the closed (or TIME-WAIT) socket `handle` a receive ring of `rx` bytes (`None`:
    /// the default length; clamped to what a slot holds) if its ring has another length: the
    /// socket is rebuilt over its own slot, so it comes back as a fresh closed socket with
    /// smoltcp's default settings. Nothing to do, and nothing reset, when the length fits.
    pub fn fit(
        &self,
        sockets: &mut SocketSet<'static>,
        handle: SocketHandle,
        census: &Census,
        rx: Option<usize>,
    ) {
        let (default, max) = census.rx_buffers();
        let want = rx.unwrap_or(default).clamp(1, max);
        let Some(&slot) = self.slots.get(&handle) else {
            return;
        };
        let socket = sockets.get_mut::<tcp::Socket>(handle);
        if socket.recv_capacity() == want {
            return;
        }
        debug_assert!(!socket.is_open() || socket.state() == tcp::State::TimeWait);
        // The old socket, and with it every slice of the slot, goes first.
        let (no_rx, no_tx): (&'static mut [u8], &'static mut [u8]) = (&mut [], &mut []);
        *socket = tcp::Socket::new(tcp::SocketBuffer::new(no_rx), tcp::SocketBuffer::new(no_tx));
        // SAFETY: `slot` is this socket's (held since `take_socket`); the socket that held its
        // slices was just dropped, and the new one lives in this shard's set, which `Net`
        // drops before the census (as in `take_socket`).
        let (rx, tx) = unsafe { census.rings.rings(slot, want) };
        *socket = tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
    }

    /// Drops a socket for good.
    pub fn remove(
        &mut self,
        sockets: &mut SocketSet<'static>,
        handle: SocketHandle,
        census: &mut Census,
    ) {
        let (socket, slot) = self.detach(sockets, handle);
        drop(socket);
        census.rings.give_back(slot);
        census.sockets -= 1;
    }

    fn put_free(
        &mut self,
        sockets: &mut SocketSet<'static>,
        handle: SocketHandle,
        census: &mut Census,
    ) {
        if self.free.len() < self.spare {
            self.free.push(handle);
            census.free += 1;
        } else {
            self.remove(sockets, handle, census);
        }
    }
}
