//! The socket API the application calls: accept, readiness, recv/send (copying or zero-copy),
//! close/abort, connect, and per-connection queries.

use std::net::SocketAddr;

use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Duration;
use smoltcp::wire::IpEndpoint;

use super::admission::SOCKET_TIMEOUT;
use super::supply::{socket_for, steal_listener};
use super::table::Conn;
use super::{ConnectError, EPHEMERAL_FIRST, Net, RecvError, SendError, UnknownConn};
use crate::id::ConnId;

impl Net {
    /// The next newly established incoming connection and its remote endpoint.
    pub fn accept(&mut self) -> Option<(ConnId, SocketAddr)> {
        self.accepted.pop_front()
    }

    /// The next connection whose socket closed, reset or timed out (and whose received data
    /// has been read, or which the application closed itself). Its id is forgotten: free the
    /// application state that belongs to it.
    pub fn poll_gone(&mut self) -> Option<ConnId> {
        self.gone.pop_front()
    }

    /// The next connection with news since it was last returned here: a packet for it
    /// arrived (data to read, send space freed by an ACK, FIN, RST) or its state changed; also
    /// every newly accepted connection once. Edge-triggered: read until `Ok(0)` and send what
    /// fits, or remember the unfinished work yourself. Lets a loop with thousands of idle
    /// connections touch only the busy ones.
    pub fn poll_ready(&mut self) -> Option<ConnId> {
        while let Some(id) = self.ready.pop_front() {
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.ready = false;
                return Some(id);
            }
        }
        None
    }

    /// Puts `id` on the ready list (once) for a reason of the caller's own: the role gave it
    /// output, its role timer expired, it was just accepted. [`Net::poll_ready`] is then the
    /// one list of connections that need attention this turn. Ignored for ids not (or no
    /// longer) in the table.
    pub fn wake(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(&id) {
            if !conn.ready {
                conn.ready = true;
                self.ready.push_back(id);
            }
        }
    }

    /// Whether [`Net::poll_ready`] has a connection to return.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Reads received bytes into `buf`. `Ok(0)`: nothing now (or not yet established).
    /// `Err(Closed)`: the peer sent FIN and everything has been read. `Err(Reset)`: reset or
    /// timed out.
    pub fn recv(&mut self, id: ConnId, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.recv_with(id, |data| {
            let n = data.len().min(buf.len());
            buf[..n].copy_from_slice(&data[..n]);
            (n, n)
        })
        .map(|n| n.unwrap_or(0))
    }

    /// Zero-copy receive: `f` gets the largest contiguous run of received bytes (mutable, so
    /// WebSocket payloads can be unmasked in place) and returns how many it consumed plus a
    /// result. `Ok(None)` when nothing is buffered now. Errors as for [`Net::recv`].
    pub fn recv_with<R>(
        &mut self,
        id: ConnId,
        f: impl FnOnce(&mut [u8]) -> (usize, R),
    ) -> Result<Option<R>, RecvError> {
        let socket = self.socket_mut(id)?;
        let state = socket.state();
        match state {
            State::SynSent | State::SynReceived => return Ok(None),
            _ => {}
        }
        if !socket.can_recv() && socket.may_recv() {
            return Ok(None);
        }
        let result = match socket.recv(f) {
            Ok(r) => Ok(Some(r)),
            Err(tcp::RecvError::Finished) => Err(RecvError::Closed),
            Err(tcp::RecvError::InvalidState) => Err(RecvError::Reset),
        };
        if result.is_ok() {
            // Reading opens the receive window: the shard's egress may owe a window update.
            let shard = self.conns[&id].shard;
            self.mark_dirty(shard);
        }
        if matches!(state, State::Closed | State::TimeWait) {
            // Reading the last bytes of a finished connection makes it gone: the next poll
            // must look at it.
            self.touch(id, false);
        }
        result
    }

    /// Queues bytes for sending; returns how many fit in the send buffer (0 when full, or
    /// before the handshake completes): all of them while there is room, across the ring's
    /// wrap. `Err(Closed)` after our close, `Err(Reset)` after a reset or timeout.
    pub fn send(&mut self, id: ConnId, data: &[u8]) -> Result<usize, SendError> {
        self.send_parts(id, &[data])
    }

    /// [`Net::send`] of `parts` back to back (a frame's header and payload) with one lookup
    /// of the socket: takes as much as fits, in order, and returns how many bytes.
    pub fn send_parts(&mut self, id: ConnId, parts: &[&[u8]]) -> Result<usize, SendError> {
        let Some(socket) = self.sendable(id)? else {
            return Ok(0);
        };
        let mut taken = 0;
        for part in parts {
            let n = socket.send_slice(part).map_err(|_| SendError::Closed)?;
            taken += n;
            if n < part.len() {
                break;
            }
        }
        Ok(taken)
    }

    /// Zero-copy send: `f` gets the largest contiguous free run of the send buffer and returns
    /// how many bytes it wrote plus a result. `Ok(None)` when there is no room now or the
    /// handshake is not complete. Errors as for [`Net::send`].
    pub fn send_with<R>(
        &mut self,
        id: ConnId,
        f: impl FnOnce(&mut [u8]) -> (usize, R),
    ) -> Result<Option<R>, SendError> {
        match self.sendable(id)? {
            Some(socket) => socket.send(f).map(Some).map_err(|_| SendError::Closed),
            None => Ok(None),
        }
    }

    /// The socket of `id` if it can take bytes now (its shard marked for egress); `None` when
    /// its send buffer is full or the handshake is not complete.
    fn sendable(&mut self, id: ConnId) -> Result<Option<&mut tcp::Socket<'static>>, SendError> {
        let shard = self.conns.get(&id).ok_or(SendError::Unknown)?.shard;
        self.mark_dirty(shard);
        let socket = self.socket_mut(id)?;
        match socket.state() {
            State::SynSent | State::SynReceived => return Ok(None),
            State::Established | State::CloseWait => {}
            State::Closed => return Err(SendError::Reset),
            _ => return Err(SendError::Closed),
        }
        Ok(socket.can_send().then_some(socket))
    }

    /// Free bytes in the send buffer now (0 when our side cannot send). Stop producing data for
    /// a connection while this is small: that is the backpressure signal.
    pub fn send_capacity(&self, id: ConnId) -> Result<usize, UnknownConn> {
        let socket = self.socket(id)?;
        if !socket.may_send() {
            return Ok(0);
        }
        Ok(socket.send_capacity() - socket.send_queue())
    }

    /// Bytes queued for sending and not yet acknowledged.
    pub fn send_queue(&self, id: ConnId) -> Result<usize, UnknownConn> {
        Ok(self.socket(id)?.send_queue())
    }

    /// Bytes received and not yet read.
    pub fn recv_queue(&self, id: ConnId) -> Result<usize, UnknownConn> {
        Ok(self.socket(id)?.recv_queue())
    }

    /// Closes our sending side (FIN after the queued data). The connection is reported by
    /// [`Net::poll_gone`] once both sides are closed, even if received data is left unread;
    /// the socket is recycled after that.
    pub fn close(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.released = true;
            let socket = self.shards[conn.shard]
                .sockets
                .get_mut::<tcp::Socket>(conn.handle);
            socket.close();
            self.touch(id, false);
        }
    }

    /// Resets the connection (one RST). Reported by [`Net::poll_gone`] on the next poll.
    pub fn abort(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.released = true;
            let socket = self.shards[conn.shard]
                .sockets
                .get_mut::<tcp::Socket>(conn.handle);
            socket.abort();
            self.touch(id, false);
        }
    }

    /// Disables (true) or enables (false) Nagle's algorithm, like TCP_NODELAY. WebSocket
    /// traffic wants it off: small frames must not wait for the previous ACK.
    pub fn set_nodelay(&mut self, id: ConnId, nodelay: bool) -> Result<(), UnknownConn> {
        self.socket_mut(id)?.set_nagle_enabled(!nodelay);
        Ok(())
    }

    /// Sets the delayed-ACK time (`None`: ACK every segment at once). smoltcp's default is 10 ms.
    pub fn set_ack_delay(
        &mut self,
        id: ConnId,
        delay: Option<Duration>,
    ) -> Result<(), UnknownConn> {
        self.socket_mut(id)?.set_ack_delay(delay);
        Ok(())
    }

    /// Opens a connection to `remote` from one of our addresses and an ephemeral port (client
    /// role). The id is valid at once; [`Net::is_established`] turns true after the handshake,
    /// and a refused or timed-out attempt is reported by [`Net::poll_gone`].
    pub fn connect(&mut self, remote: SocketAddr) -> Result<ConnId, ConnectError> {
        let remote = IpEndpoint::from(remote);
        if remote.port == 0 || remote.addr.is_unspecified() {
            return Err(ConnectError::Unaddressable);
        }
        let local_addr = self.shards[0]
            .iface
            .get_source_address(&remote.addr)
            .ok_or(ConnectError::Unaddressable)?;
        if self.conns.len() >= self.census.max_connections {
            return Err(ConnectError::Exhausted);
        }
        let local = self
            .ephemeral_endpoint(local_addr, remote)
            .ok_or(ConnectError::Exhausted)?;
        let index = self.flows.shard_of(remote, local);
        let handle = match socket_for(&mut self.shards, &mut self.census, index) {
            Some(handle) => handle,
            None => steal_listener(&mut self.shards, &mut self.census, index)
                .ok_or(ConnectError::Exhausted)?,
        };
        let shard = &mut self.shards[index];
        // A socket that listened with a larger ring gets the default one back.
        shard
            .pool
            .fit(&mut shard.sockets, handle, &self.census, None);
        let socket = shard.sockets.get_mut::<tcp::Socket>(handle);
        socket.set_timeout(Some(SOCKET_TIMEOUT));
        socket.set_nagle_enabled(true);
        socket.set_congestion_control(self.congestion);
        if let Err(err) = socket.connect(shard.iface.context(), remote, local) {
            log::warn!("connect to {remote} failed: {err}");
            let connections = self.conns.len();
            shard
                .pool
                .release(&mut shard.sockets, handle, &mut self.census, connections);
            return Err(ConnectError::Unaddressable);
        }
        let id = self.new_id();
        let conn = Conn::new(
            index,
            handle,
            (local, remote),
            false,
            State::SynSent,
            self.now,
        );
        self.insert_conn(id, conn);
        self.mark_dirty(index);
        Ok(id)
    }

    /// True once the handshake is complete and the connection can carry data.
    pub fn is_established(&self, id: ConnId) -> bool {
        self.socket(id)
            .is_ok_and(|s| matches!(s.state(), State::Established | State::CloseWait))
    }

    /// The TCP state of the connection (RFC 793 names), for logs and tests.
    pub fn state(&self, id: ConnId) -> Option<State> {
        self.socket(id).ok().map(|s| s.state())
    }

    /// The remote endpoint of a connection.
    pub fn remote_addr(&self, id: ConnId) -> Option<SocketAddr> {
        self.conns.get(&id).map(|c| c.remote.into())
    }

    /// The local endpoint of a connection.
    pub fn conn_local_addr(&self, id: ConnId) -> Option<SocketAddr> {
        self.conns.get(&id).map(|c| c.local.into())
    }

    pub(super) fn ephemeral_endpoint(
        &mut self,
        addr: smoltcp::wire::IpAddress,
        remote: IpEndpoint,
    ) -> Option<IpEndpoint> {
        let span = u16::MAX - EPHEMERAL_FIRST + 1;
        for _ in 0..span {
            let port = self.next_ephemeral;
            self.next_ephemeral = if port == u16::MAX {
                EPHEMERAL_FIRST
            } else {
                port + 1
            };
            let local = IpEndpoint::new(addr, port);
            if Some(port) != self.listen_port() && !self.tuples.contains_key(&(local, remote)) {
                return Some(local);
            }
        }
        None
    }
}
