//! What an application on a WebSocket route sees: the [`App`] trait and the [`Outbox`] it
//! sends through.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;

use ws::{CloseCode, MessageKind};

use crate::ConnId;

use super::conn::Conn;

/// An application serving one WebSocket route (for example `/echo` or `/chat`).
///
/// The server calls it on the event loop thread; it must not block. Messages arrive whole
/// (at most `max_message` bytes); text messages are valid UTF-8, checked by `ws`.
pub trait App {
    /// A WebSocket on this route has opened (the 101 has been queued).
    fn on_open(&mut self, _out: &mut Outbox<'_>, _client: ConnId, _peer: SocketAddr) {}

    /// A whole message arrived from `client`.
    fn on_message(&mut self, out: &mut Outbox<'_>, client: ConnId, kind: MessageKind, data: &[u8]);

    /// `client` is gone: close handshake done or started by either side, protocol failure
    /// (the code sent), or the TCP connection dropped (1006). Called exactly once per
    /// `on_open`; sends to `client` fail from now on.
    fn on_close(&mut self, _out: &mut Outbox<'_>, _client: ConnId, _code: CloseCode) {}
}

/// Why [`Outbox::send`] did not queue a message. Never silent: the app learns it here, and
/// for [`SendError::Overloaded`] the receiver is told with a close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No open WebSocket with this id (it closed, is closing, or never existed).
    NotOpen,
    /// The receiver's outgoing queue is over its bound: it is not reading fast enough. The
    /// server has started closing it with [`OVERLOADED`].
    Overloaded,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotOpen => f.write_str("no open WebSocket with that id"),
            SendError::Overloaded => {
                f.write_str("receiver's send queue is full; it is being closed")
            }
        }
    }
}

impl std::error::Error for SendError {}

/// The close code for a peer that does not read its messages fast enough: 1008 (policy
/// violation). 1013 (try again later) describes server overload in general; here the server
/// is fine and the peer broke the rule "keep up or leave", so 1008 names it more precisely.
pub const OVERLOADED: CloseCode = CloseCode::POLICY;

/// The handle through which an [`App`] sends messages and closes connections. Sending only
/// queues; the event loop writes the bytes as the TCP send buffers drain.
pub struct Outbox<'a> {
    pub(super) conns: &'a mut HashMap<ConnId, Conn>,
    /// Connections that got new output and must be flushed this loop iteration.
    pub(super) touched: &'a mut Vec<ConnId>,
    pub(super) queue_limit: usize,
}

impl Outbox<'_> {
    /// Queues one whole message for `client`.
    ///
    /// A message is accepted when the client's queue is empty or stays within the per-connection
    /// bound with it; otherwise the client is closed with [`OVERLOADED`] and the message is not
    /// queued.
    pub fn send(
        &mut self,
        client: ConnId,
        kind: MessageKind,
        data: &[u8],
    ) -> Result<(), SendError> {
        let conn = self.conns.get_mut(&client).ok_or(SendError::NotOpen)?;
        let result = conn.send_message(kind, data, self.queue_limit);
        self.touched.push(client);
        result
    }

    /// Starts the close handshake with `client` (no effect if it is not open).
    pub fn close(&mut self, client: ConnId, code: CloseCode, reason: &str) {
        if let Some(conn) = self.conns.get_mut(&client) {
            conn.close_ws(code, reason);
            self.touched.push(client);
        }
    }
}
