//! What an application on a WebSocket route sees: the [`App`] trait and the [`Outbox`] it
//! sends through.

use std::fmt;
use std::net::SocketAddr;

use ws::{CloseCode, MessageKind};

use crate::id::IdMap;
use crate::{ConnId, Net};

use super::conn::Conn;

/// An application serving one WebSocket route (for example `/echo` or `/chat`).
///
/// The server calls it on the event loop thread; it must not block. Messages arrive whole
/// ([`App::on_message`]), or piece by piece for an app that [`App::streams`]
/// ([`App::on_piece`]); at most `max_message` bytes each; text is valid UTF-8, checked by `ws`
/// (a streamed piece may end inside a multi-byte character).
pub trait App {
    /// A WebSocket on this route has opened (the 101 has been queued).
    fn on_open(&mut self, _out: &mut Outbox<'_>, _client: ConnId, _peer: SocketAddr) {}

    /// A whole message arrived from `client` (not called for a [`App::streams`] app, which
    /// gets [`App::on_piece`] instead). The default ignores it.
    fn on_message(
        &mut self,
        _out: &mut Outbox<'_>,
        _client: ConnId,
        _kind: MessageKind,
        _data: &[u8],
    ) {
    }

    /// Whether this app takes messages piece by piece ([`App::on_piece`]) as they arrive,
    /// instead of whole. Streaming keeps memory per connection at one read buffer whatever the
    /// message size; an echo needs nothing more. Default: whole messages.
    fn streams(&self) -> bool {
        false
    }

    /// The next piece of a message from `client` (streaming apps only): `first` on the first
    /// piece of a message, `fin` on its last; one piece may be both, and pieces may be empty.
    /// A text piece may end inside a UTF-8 sequence; the message as a whole is valid UTF-8.
    /// The default ignores it.
    fn on_piece(
        &mut self,
        _out: &mut Outbox<'_>,
        _client: ConnId,
        _kind: MessageKind,
        _data: &[u8],
        _first: bool,
        _fin: bool,
    ) {
    }

    /// A lower message size limit for this route than the server's `max_message`, for apps
    /// that hold whole messages: memory per connection is bounded by the smaller of the two.
    /// Messages over the limit are closed with 1009. Default: the server's limit.
    fn max_message(&self) -> Option<u64> {
        None
    }

    /// `client` is gone: close handshake done or started by either side, protocol failure
    /// (the code sent), or the TCP connection dropped (1006). Called exactly once per
    /// `on_open`; sends to `client` fail from now on.
    fn on_close(&mut self, _out: &mut Outbox<'_>, _client: ConnId, _code: CloseCode) {}

    /// Called once per server turn, for apps whose messages come from outside the loop (the
    /// `/trace` viewers' events). The default does nothing.
    fn poll(&mut self, _out: &mut Outbox<'_>) {}

    /// Whether [`App::poll`] has something to send now: the loop then does not sleep.
    fn wants_poll(&self) -> bool {
        false
    }
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
    /// A whole message was sent while a message sent in pieces is still open (or a piece out
    /// of order); nothing was queued.
    PieceOrder,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotOpen => f.write_str("no open WebSocket with that id"),
            SendError::Overloaded => {
                f.write_str("receiver's send queue is full; it is being closed")
            }
            SendError::PieceOrder => f.write_str("message pieces out of order"),
        }
    }
}

impl std::error::Error for SendError {}

/// The close code for a peer that does not read its messages fast enough: 1008 (policy
/// violation). 1013 (try again later) describes server overload in general; here the server
/// is fine and the peer broke the rule "keep up or leave", so 1008 names it more precisely.
pub const OVERLOADED: CloseCode = CloseCode::POLICY;

/// The handle through which an [`App`] sends messages and closes connections. A message goes
/// straight into the connection's TCP send buffer when nothing is queued before it and it
/// fits; the rest is queued, and the event loop writes it as the send buffer drains.
pub struct Outbox<'a> {
    pub(super) conns: &'a mut IdMap<Conn>,
    /// The stack, whose ready list gets the connections with new output ([`Net::wake`]),
    /// flushed in this turn.
    pub(super) net: &'a mut Net,
    pub(super) queue_limit: usize,
    /// The connection whose event the app is handling. Its own replies are bounded by the
    /// read pause (it is not read while its queue is full), not by `queue_limit`.
    pub(super) current: Option<ConnId>,
}

impl Outbox<'_> {
    /// Queues one whole message for `client`.
    ///
    /// A message for another connection than the one whose event is being handled is accepted
    /// when that connection's queue is empty or stays within the per-connection bound with it;
    /// otherwise the connection is closed with [`OVERLOADED`] and the message is not queued.
    /// Replies to the connection being handled are always queued: that connection is not read
    /// while its queue is full, which bounds them.
    pub fn send(
        &mut self,
        client: ConnId,
        kind: MessageKind,
        data: &[u8],
    ) -> Result<(), SendError> {
        self.send_piece(client, kind, data, true, true)
    }

    /// Queues one piece of a message for `client` as its own frame: `first` opens a `kind`
    /// message, `fin` ends it (an echo of [`App::on_piece`] passes its arguments through).
    /// Queue bound as for [`Outbox::send`].
    pub fn send_piece(
        &mut self,
        client: ConnId,
        kind: MessageKind,
        data: &[u8],
        first: bool,
        fin: bool,
    ) -> Result<(), SendError> {
        let conn = self.conns.get_mut(&client).ok_or(SendError::NotOpen)?;
        let limit = if self.current == Some(client) {
            usize::MAX
        } else {
            self.queue_limit
        };
        let result = conn.send_piece((&mut *self.net, client), kind, data, first, fin, limit);
        self.net.wake(client);
        result
    }

    /// Bytes queued for `client` and not yet in its TCP send buffer; `None` when it is not an
    /// open WebSocket.
    pub fn queued(&self, client: ConnId) -> Option<usize> {
        self.conns.get(&client).and_then(Conn::queued)
    }

    /// Starts the close handshake with `client` (no effect if it is not open).
    pub fn close(&mut self, client: ConnId, code: CloseCode, reason: &str) {
        if let Some(conn) = self.conns.get_mut(&client) {
            conn.close_ws(code, reason);
            self.net.wake(client);
        }
    }
}
