//! The connection table: one [`Conn`] per connection id, the 4-tuple index, the per-source
//! counts, and the bookkeeping that decides when the application hears about a connection.

use std::net::SocketAddr;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Instant;
use smoltcp::wire::IpEndpoint;

use super::{Net, UnknownConn};
use crate::id::ConnId;

pub(super) struct Conn {
    /// Index of the shard whose socket set holds `handle`.
    pub(super) shard: usize,
    pub(super) handle: SocketHandle,
    pub(super) local: IpEndpoint,
    pub(super) remote: IpEndpoint,
    /// Accepted from a listener (counted in `Net::sources`), not made by `connect`.
    pub(super) inbound: bool,
    /// When the connection entered the table.
    pub(super) opened: Instant,
    /// The application knows this id: returned by `accept()` or by `connect()`.
    pub(super) announced: bool,
    /// The application called close/abort: report it gone even with unread data.
    pub(super) released: bool,
    /// Last state seen, to log transitions.
    pub(super) state: State,
    /// A packet for this connection arrived since it was last examined.
    pub(super) news: bool,
    /// In `Net::touched`: a packet, timer or application call may have changed it.
    pub(super) touched: bool,
    /// In `Net::ready`: the application has not yet been told about the latest change.
    pub(super) ready: bool,
    /// Got a packet since the last idle-ring sweep (see `idle_rings.rs`).
    pub(super) ring_busy: bool,
    /// In the idle-ring sweep's list.
    pub(super) ring_listed: bool,
}

impl Conn {
    /// A connection entering the table at `opened` in `state`. An outgoing one (`inbound`
    /// false) is announced at once: `connect` returns its id.
    pub(super) fn new(
        shard: usize,
        handle: SocketHandle,
        (local, remote): (IpEndpoint, IpEndpoint),
        inbound: bool,
        state: State,
        opened: Instant,
    ) -> Self {
        Conn {
            shard,
            handle,
            local,
            remote,
            inbound,
            opened,
            announced: !inbound,
            released: false,
            state,
            news: false,
            touched: false,
            ready: false,
            ring_busy: false,
            ring_listed: false,
        }
    }
}

impl Net {
    pub(super) fn socket(&self, id: ConnId) -> Result<&tcp::Socket<'static>, UnknownConn> {
        let conn = self.conns.get(&id).ok_or(UnknownConn)?;
        Ok(self.shards[conn.shard]
            .sockets
            .get::<tcp::Socket>(conn.handle))
    }

    pub(super) fn socket_mut(
        &mut self,
        id: ConnId,
    ) -> Result<&mut tcp::Socket<'static>, UnknownConn> {
        let conn = self.conns.get(&id).ok_or(UnknownConn)?;
        Ok(self.shards[conn.shard]
            .sockets
            .get_mut::<tcp::Socket>(conn.handle))
    }

    pub(super) fn new_id(&mut self) -> ConnId {
        let id = ConnId(self.next_id);
        self.next_id += 1;
        id
    }

    /// Adds a connection to the table, the tuple index and its shard's members.
    pub(super) fn insert_conn(&mut self, id: ConnId, conn: Conn) {
        self.tuples.insert((conn.local, conn.remote), id);
        self.shards[conn.shard].members.insert(id);
        self.conns.insert(id, conn);
    }

    /// Forgets a connection's table entries (not its socket).
    pub(super) fn drop_conn(&mut self, id: ConnId) {
        if let Some(conn) = self.unlink(id) {
            if self.tuples.get(&(conn.local, conn.remote)) == Some(&id) {
                self.tuples.remove(&(conn.local, conn.remote));
            }
        }
    }

    /// Removes a connection from the table, its shard's members and the per-source counts:
    /// every removal goes through here, so the counts cannot leak.
    pub(super) fn unlink(&mut self, id: ConnId) -> Option<Conn> {
        let conn = self.conns.remove(&id)?;
        self.shards[conn.shard].members.remove(&id);
        if conn.inbound {
            if let Some(count) = self.sources.get_mut(&conn.remote.addr) {
                *count -= 1;
                if *count == 0 {
                    self.sources.remove(&conn.remote.addr);
                }
            }
        }
        Some(conn)
    }

    /// Removes the TIME-WAIT socket of `id` at once (its tuple is being reused).
    pub(super) fn forget_socket_of(&mut self, id: ConnId) {
        if let Some(conn) = self.unlink(id) {
            self.tuples.remove(&(conn.local, conn.remote));
            let shard = &mut self.shards[conn.shard];
            let before = shard.pending.len();
            shard.pending.retain(|&p| p != id);
            self.half_open -= before - shard.pending.len();
            if conn.announced {
                self.gone.push_back(id);
            }
            shard
                .pool
                .remove(&mut shard.sockets, conn.handle, &mut self.census);
        }
    }

    /// Marks a connection for examination after this poll (and its shard for polling);
    /// `news`: a packet for it arrived.
    pub(super) fn touch(&mut self, id: ConnId, news: bool) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.news |= news;
        let shard = conn.shard;
        if !conn.touched {
            conn.touched = true;
            self.touched.push(id);
        }
        self.mark_dirty(shard);
    }

    /// Touched, announced connections: log state changes, report the finished ones as gone,
    /// queue the others for [`Net::poll_ready`] when a packet arrived or their state changed.
    pub(super) fn examine_touched(&mut self) {
        let mut touched = std::mem::take(&mut self.touched);
        for id in touched.drain(..) {
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            conn.touched = false;
            let news = std::mem::take(&mut conn.news);
            if !conn.announced {
                continue;
            }
            let socket = self.shards[conn.shard]
                .sockets
                .get::<tcp::Socket>(conn.handle);
            let state = socket.state();
            let changed = state != conn.state;
            if changed {
                if self.log_states {
                    log::info!(
                        "conn {id} {}: {} → {state}",
                        SocketAddr::from(conn.remote),
                        conn.state
                    );
                }
                conn.state = state;
            }
            let over = matches!(state, State::Closed | State::TimeWait);
            if over && (conn.released || !socket.can_recv()) {
                let (index, handle) = (conn.shard, conn.handle);
                self.drop_conn(id);
                self.shards[index].drain(handle);
                self.gone.push_back(id);
            } else {
                if (news || changed) && !conn.ready {
                    conn.ready = true;
                    self.ready.push_back(id);
                }
                if news {
                    self.idle_rings.activity(id, conn, self.now);
                }
            }
        }
        self.touched = touched;
    }
}
