//! The listen pool: spare listening sockets, because smoltcp has no backlog.
//!
//! A listening smoltcp socket takes exactly one connection, and a SYN that finds no socket in
//! LISTEN gets a RST. So the pool keeps `spare` listeners on the port and is topped up after
//! every ingress packet (a burst of SYNs then never finds it empty), recycles closed sockets
//! with their buffers, and never lets the sockets in use plus listeners exceed the cap, so
//! SYNs beyond `max_connections` are refused with a RST by smoltcp itself.

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Duration;

/// A peer silent this long with our data unacknowledged is dropped, so vanished peers do not
/// pin the pool forever.
pub const SOCKET_TIMEOUT: Duration = Duration::from_secs(60);

/// A half-open (SYN-RECEIVED) connection whose peer says nothing for this long is reset and
/// its socket recycled. A real client answers our SYN-ACK within a round trip, and this still
/// covers two lost SYN-ACKs (retransmitted after 1 s and 3 s); the half-open sockets of a SYN
/// flood from spoofed addresses, which never answer, give their room back after it instead of
/// after [`SOCKET_TIMEOUT`]. Sockets get [`SOCKET_TIMEOUT`] once established.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many half-open (SYN-RECEIVED) connections may exist at once: a quarter of the cap, and
/// never fewer than the spare listeners (a burst the pool takes at once is not cut short by
/// itself). Beyond it the oldest half-open connection is dropped silently for the new SYN,
/// like a full Linux SYN queue (but never one younger than 200 ms, `net::HALF_OPEN_GRACE`:
/// real handshakes complete within a round trip), so a SYN flood from spoofed addresses holds
/// about this many sockets and buffers (more only at a rate beyond budget / 200 ms, and never
/// more than the cap), while established connections keep the rest of the cap.
pub fn half_open_budget(max_connections: usize) -> usize {
    (max_connections / 4).max(spare_for(max_connections)).max(1)
}

/// Spare listeners for a given connection cap: enough slack for a burst between two top-ups,
/// few enough that smoltcp's linear socket scan stays cheap.
pub fn spare_for(max_connections: usize) -> usize {
    (max_connections / 16).clamp(8, 64).min(max_connections)
}

/// Sockets outside the pool, as counted against the cap.
#[derive(Debug, Clone, Copy)]
pub struct InUse {
    /// Sockets owned by connections in the table (half-open, established, closing).
    pub connections: usize,
    /// Sockets the application is done with, in TIME-WAIT or with a RST to send. They take
    /// room but not a connection slot: a TIME-WAIT socket is reaped when the room is needed.
    pub draining: usize,
}

/// Listeners, recycled sockets and the cap; the connection table lives in [`crate::Net`].
pub struct Pool {
    port: Option<u16>,
    listeners: Vec<SocketHandle>,
    /// Closed sockets kept with their buffers for reuse, at most `spare` of them.
    free: Vec<SocketHandle>,
    spare: usize,
    max_connections: usize,
    rx_buffer: usize,
    tx_buffer: usize,
}

impl Pool {
    /// An empty pool; nothing listens until [`Pool::set_port`].
    pub fn new(max_connections: usize, rx_buffer: usize, tx_buffer: usize) -> Self {
        Pool {
            port: None,
            listeners: Vec::new(),
            free: Vec::new(),
            spare: spare_for(max_connections),
            max_connections,
            rx_buffer,
            tx_buffer,
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

    /// Target number of spare listeners.
    pub fn spare(&self) -> usize {
        self.spare
    }

    /// The configured cap on sockets in use plus listeners.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Listens on `port` from now on; listeners on a previous port are closed (their
    /// half-open connections, if any, are already owned by the connection table).
    pub fn set_port(&mut self, sockets: &mut SocketSet<'static>, port: u16) {
        if self.port == Some(port) {
            return;
        }
        for handle in std::mem::take(&mut self.listeners) {
            sockets.get_mut::<tcp::Socket>(handle).abort();
            self.put_free(sockets, handle);
        }
        self.port = Some(port);
    }

    /// A closed socket for a new use: a recycled one, or a fresh one when `may_grow`.
    pub fn take_socket(
        &mut self,
        sockets: &mut SocketSet<'static>,
        may_grow: bool,
    ) -> Option<SocketHandle> {
        if let Some(handle) = self.free.pop() {
            return Some(handle);
        }
        if !may_grow {
            return None;
        }
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; self.rx_buffer]),
            tcp::SocketBuffer::new(vec![0; self.tx_buffer]),
        );
        Some(sockets.add(socket))
    }

    /// Moves listeners that left LISTEN (a SYN arrived) into `taken`.
    pub fn collect_taken(&mut self, sockets: &SocketSet<'static>, taken: &mut Vec<SocketHandle>) {
        self.listeners.retain(|&handle| {
            let listening = sockets.get::<tcp::Socket>(handle).is_listening();
            if !listening {
                taken.push(handle);
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
        in_use: InUse,
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
        self.release(sockets, handle, in_use);
    }

    /// Gives up one listener so a client connection can use its socket without exceeding the cap.
    pub fn steal_listener(&mut self, sockets: &mut SocketSet<'static>) -> Option<SocketHandle> {
        let handle = self.listeners.pop()?;
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
        in_use: InUse,
    ) {
        if self.port.is_some() && self.listeners.len() < self.allowed_listeners(in_use) {
            self.listen_on(sockets, handle);
        } else {
            self.put_free(sockets, handle);
        }
    }

    /// True when one more socket fits under the cap.
    pub fn has_room(&self, in_use: InUse) -> bool {
        in_use.connections + in_use.draining + self.listeners.len() + self.free.len()
            < self.max_connections
    }

    /// Opens listeners until there are `spare` of them or the connections reach the cap.
    /// `reap` supplies a TIME-WAIT socket when the cap leaves no room for a new one.
    pub fn top_up(
        &mut self,
        sockets: &mut SocketSet<'static>,
        mut in_use: InUse,
        mut reap: impl FnMut(&mut SocketSet<'static>) -> Option<SocketHandle>,
    ) {
        if self.port.is_none() {
            return;
        }
        while self.listeners.len() < self.allowed_listeners(in_use) {
            let room = self.has_room(in_use);
            let handle = match self.take_socket(sockets, room) {
                Some(handle) => handle,
                None => match reap(sockets) {
                    Some(handle) => {
                        in_use.draining -= 1;
                        handle
                    }
                    None => break,
                },
            };
            self.listen_on(sockets, handle);
        }
    }

    fn allowed_listeners(&self, in_use: InUse) -> usize {
        self.spare
            .min(self.max_connections.saturating_sub(in_use.connections))
    }

    fn listen_on(&mut self, sockets: &mut SocketSet<'static>, handle: SocketHandle) {
        let Some(port) = self.port else {
            self.put_free(sockets, handle);
            return;
        };
        let socket = sockets.get_mut::<tcp::Socket>(handle);
        socket.set_timeout(Some(HANDSHAKE_TIMEOUT));
        socket.set_nagle_enabled(true);
        match socket.listen(port) {
            Ok(()) => self.listeners.push(handle),
            Err(err) => {
                log::error!("pool: cannot listen on port {port}: {err}");
                self.put_free(sockets, handle);
            }
        }
    }

    fn put_free(&mut self, sockets: &mut SocketSet<'static>, handle: SocketHandle) {
        if self.free.len() < self.spare {
            self.free.push(handle);
        } else {
            sockets.remove(handle);
        }
    }
}
