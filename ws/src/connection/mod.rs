//! One WebSocket connection after the opening handshake: frames in, events out, control
//! frames and the closing handshake handled by the engine (RFC 6455 §5–§7).
//!
//! Sans-IO: the caller feeds bytes read from the transport to [`Connection::handle_read`],
//! writes what [`Connection::poll_transmit`] and the `send*` methods produce, and passes the
//! current time. Data payloads are unmasked in place in the caller's buffer and handed out as
//! slices of it, so no message is ever buffered here; only control payloads (≤ 125 bytes, but
//! possibly split over reads) are copied into a fixed buffer.
//!
//! The methods live in three files: this one (the types, the state and its transitions, the
//! keepalive timer), `read.rs` (bytes in: frame headers, payloads, control frames, the RSV1
//! rules of permessage-deflate) and `write.rs` (bytes out: control frames, messages, streamed
//! frames).

mod read;
mod write;

use crate::close::{CloseCode, ClosePayload, CloseReason};
use crate::error::ProtocolError;
use crate::frame::{FrameHeader, MAX_CONTROL_PAYLOAD_LEN, MAX_HEADER_LEN, MessageKind};
use crate::mask::{MaskKeySource, NoMask};
use crate::time::{Duration, Instant};
use crate::utf8::Utf8Validator;

/// The payload of a Ping or Pong (at most 125 bytes), copied out of the connection.
pub type ControlPayload = heapless::Vec<u8, MAX_CONTROL_PAYLOAD_LEN>;

/// Which end of the connection this is. It decides masking (§5.1): a client masks every frame
/// it sends and requires unmasked frames; a server the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Accepted the connection; closes TCP first once the closing handshake is done (§7.1.1).
    Server,
    /// Opened the connection; masks outgoing frames.
    Client,
}

/// Keepalive: ping a silent peer, fail the connection when it stays silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Send a Ping after this long without receiving anything.
    pub idle: Duration,
    /// Fail the connection (close code 1011) when nothing arrives this long after the Ping.
    pub timeout: Duration,
}

/// Limits and behaviour of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Largest accepted frame payload; larger frames fail the connection with 1009. Frames are
    /// streamed, so this bounds nothing in memory here; it protects the application.
    pub max_frame_size: u64,
    /// Largest accepted message (sum of its frames' payloads); larger ones fail with 1009.
    pub max_message_size: u64,
    /// Answer every Ping with a Pong carrying the same payload (§5.5.2). When several Pings
    /// arrive before the transmit queue is polled, only the last one is answered (§5.5.3).
    pub auto_pong: bool,
    /// Optional keepalive; `None` disables it.
    pub keepalive: Option<Keepalive>,
}

impl Default for Config {
    /// 64 MiB frame and message limits (Autobahn's largest cases send 16 MiB messages), auto-pong
    /// on, no keepalive.
    fn default() -> Self {
        Config {
            max_frame_size: 64 << 20,
            max_message_size: 64 << 20,
            auto_pong: true,
            keepalive: None,
        }
    }
}

/// The states of a WebSocket connection after its opening handshake (RFC 6455 §4–§7).
///
/// ```text
///   (CONNECTING: the opening handshake, crate::handshake; no Connection exists yet)
///        │ server: 101 written (§4.2.2)   client: the server's 101 validated (§4.1)
///        ▼
///      OPEN ── Connection::server / Connection::new
///        │ close() / peer's Close received / failure: a Close frame is queued
///        ▼
///     CLOSING
///        │ our Close flushed by poll_transmit, and the peer's Close received (or we failed)
///        ▼
///     CLOSED ── server: wants_tcp_close()
/// ```
///
/// RFC 6455's fourth state, CONNECTING, is the opening handshake itself: §4.1 and §4.2.2 say
/// the connection is OPEN once the 101 has been validated (client) or sent (server), and a
/// [`Connection`] is made exactly then, so no `Connection` is ever in it and this enum has no
/// variant for it. The handshake is the job of [`crate::handshake`]: on the server from the
/// request head to the 101 ([`crate::handshake::parse_request`],
/// [`crate::handshake::write_accept_response`]), on the client from the request to the validated
/// answer ([`crate::handshake::write_client_request`], [`crate::handshake::parse_response`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// A Close frame has been queued or sent, or received and not yet answered.
    Closing,
    /// Both Close frames are through (or the connection failed and its Close was flushed).
    Closed,
}

/// What an input produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A piece of a data message, unmasked in place in the input buffer. A message arrives as
    /// one or more pieces: the first has `first` set, the last has `fin` set (one piece may
    /// have both). Text is validated up to the end of each piece, but a piece may end inside a
    /// multi-byte character.
    Data {
        /// Text or binary, from the message's first frame.
        kind: MessageKind,
        /// The bytes, a slice of the buffer given to `handle_read`.
        payload: &'a [u8],
        /// This is the first piece of the message.
        first: bool,
        /// This is the last piece of the message.
        fin: bool,
    },
    /// A Ping arrived (already answered if [`Config::auto_pong`]).
    Ping(ControlPayload),
    /// A Pong arrived.
    Pong(ControlPayload),
    /// The peer's Close frame arrived. Our answer is queued (unless we closed first); nothing
    /// after it is read.
    Close {
        /// The peer's status code, `None` if its Close was empty.
        code: Option<CloseCode>,
        /// The peer's reason, possibly empty.
        reason: CloseReason,
    },
    /// The peer violated the protocol: a Close frame with [`ProtocolError::close_code`] is
    /// queued and all further input is ignored.
    Failed(ProtocolError),
    /// Our keepalive Ping got no answer within [`Keepalive::timeout`]: a local timer ran out,
    /// not a violation by the peer. As for `Failed`, a Close frame is queued, with
    /// [`Event::KEEPALIVE_TIMEOUT_CODE`], and all further input is ignored. Only
    /// [`Connection::handle_timeout`] reports it.
    TimedOut,
}

impl Event<'_> {
    /// The close code sent when the keepalive times out: 1011, the server (or client) ends
    /// the connection because of a condition it met, here the silence of its peer.
    pub const KEEPALIVE_TIMEOUT_CODE: CloseCode = CloseCode::INTERNAL;
}

/// The frame whose payload is being read.
#[derive(Debug, Clone, Copy)]
struct IncomingFrame {
    header: FrameHeader,
    content: Content,
    /// Payload bytes of this frame already consumed.
    received: u64,
}

impl IncomingFrame {
    fn remaining(&self) -> u64 {
        self.header.payload_len() - self.received
    }
}

/// Where a frame's payload goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    /// Into the control buffer, acted on when complete.
    Control,
    /// Out to the caller piece by piece, as part of a message of this kind.
    Data(MessageKind),
}

/// The data message being read (it may span several frames).
#[derive(Debug, Clone, Copy)]
struct IncomingMessage {
    kind: MessageKind,
    /// Sum of the payload lengths announced by its frames so far.
    announced_len: u64,
}

/// A WebSocket connection in the Open state or later. `K` supplies masking keys for the
/// client role; the server role uses [`NoMask`].
#[derive(Debug)]
pub struct Connection<K: MaskKeySource = NoMask> {
    role: Role,
    config: Config,
    mask_keys: K,
    /// Header bytes received so far, because a header may be split over reads.
    header: [u8; MAX_HEADER_LEN],
    header_len: usize,
    frame: Option<IncomingFrame>,
    message: Option<IncomingMessage>,
    /// No piece of the current message has been delivered yet.
    first_piece_pending: bool,
    /// permessage-deflate is in use: a message's first frame may carry RSV1.
    compression: bool,
    /// The message being read (or last read) had RSV1 on its first frame.
    incoming_compressed: bool,
    utf8: Utf8Validator,
    /// Payload of the control frame being read.
    control: ControlPayload,
    /// A streamed outgoing message is open (its last frame had FIN clear).
    outgoing_message_open: bool,
    /// Masking key and offset for the payload of the last streamed frame header (client).
    outgoing_mask: Option<([u8; 4], u64)>,
    pending_pong: Option<ControlPayload>,
    pending_ping: Option<ControlPayload>,
    pending_close: Option<ControlPayload>,
    /// Where the connection is (RFC 6455 §7): Open, then Closing once a Close is queued, then
    /// Closed. A `Connection` is made after the handshake, so it starts Open.
    state: State,
    /// Our Close frame has left through `poll_transmit`.
    close_sent: bool,
    /// The peer's Close frame arrived.
    close_received: bool,
    /// We failed the connection: input is ignored, and it is Closed once our Close is out.
    failed: bool,
    last_received: Instant,
    keepalive_ping_sent: Option<Instant>,
}

impl Connection<NoMask> {
    /// A server-side connection, in the Open state, right after the 101 response was sent.
    pub fn server(config: Config, now: Instant) -> Self {
        Connection::new(Role::Server, config, NoMask, now)
    }
}

impl<K: MaskKeySource> Connection<K> {
    /// A connection in the Open state for `role`; a client masks with keys from `mask_keys`.
    pub fn new(role: Role, config: Config, mask_keys: K, now: Instant) -> Self {
        Connection {
            role,
            config,
            mask_keys,
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            frame: None,
            message: None,
            first_piece_pending: false,
            compression: false,
            incoming_compressed: false,
            utf8: Utf8Validator::new(),
            control: ControlPayload::new(),
            outgoing_message_open: false,
            outgoing_mask: None,
            pending_pong: None,
            pending_ping: None,
            pending_close: None,
            state: State::Open,
            close_sent: false,
            close_received: false,
            failed: false,
            last_received: now,
            keepalive_ping_sent: None,
        }
    }

    /// permessage-deflate was negotiated (RFC 7692): from now on a data message's first frame
    /// may carry RSV1, which marks it compressed ([`Connection::incoming_compressed`]), and
    /// [`Connection::send_compressed_frame_header`] may set it. RSV1 on control frames and
    /// continuations still fails the connection (1002). Compressed payloads are delivered
    /// as they arrive, unvalidated: [`crate::deflate::Inflater`] inflates them and checks text
    /// and size.
    pub fn set_compression(&mut self, on: bool) {
        self.compression = on;
    }

    /// Whether the message whose pieces [`Event::Data`] is delivering (the last one started)
    /// is compressed.
    pub fn incoming_compressed(&self) -> bool {
        self.incoming_compressed
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration given at construction.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current state (see the diagram on [`State`]).
    pub fn state(&self) -> State {
        self.state
    }

    /// Closing becomes Closed once both Close frames are through, or ours is out after we
    /// failed the connection. Called after each of those facts changes.
    fn advance_closing(&mut self) {
        if self.state == State::Closing && self.close_sent && (self.close_received || self.failed) {
            self.state = State::Closed;
        }
    }

    /// Fails the connection (§7.1.7): queue a Close with the error's code unless one was already
    /// queued, drop pending Ping/Pong, stop reading. The engine calls it for the violations it
    /// finds; a layer above it (an extension such as [`crate::deflate::Inflater`]) calls it
    /// for the ones it finds in a message's content. Returns the event to report.
    pub fn fail(&mut self, error: ProtocolError) -> Event<'static> {
        self.fail_with(error.close_code());
        Event::Failed(error)
    }

    /// Fails the connection with `code`: queues our Close (unless one is queued already) and
    /// ignores all further input.
    fn fail_with(&mut self, code: CloseCode) {
        self.failed = true;
        self.frame = None;
        self.message = None;
        self.pending_pong = None;
        self.pending_ping = None;
        if self.state == State::Open {
            self.queue_close(ClosePayload {
                code: Some(code),
                reason: "",
            });
        }
        self.advance_closing();
    }

    fn queue_close(&mut self, close: ClosePayload<'_>) {
        let mut payload = ControlPayload::new();
        // Callers pass either an empty reason or one checked against MAX_CLOSE_REASON_LEN.
        let _ = close.emit(&mut payload);
        self.pending_close = Some(payload);
        self.state = State::Closing;
    }

    /// Whether the transport should be closed now. The server closes TCP first (§7.1.1) once
    /// the connection is Closed; a client only does so after a failure, otherwise it waits for
    /// the server to close (and may give up after a timeout of its choice).
    pub fn wants_tcp_close(&self) -> bool {
        self.state() == State::Closed && (self.role == Role::Server || self.failed)
    }

    /// When [`Connection::handle_timeout`] must next be called, `None` if no timer runs (no
    /// keepalive configured, or the connection is no longer Open).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let keepalive = self
            .config
            .keepalive
            .filter(|_| self.state() == State::Open)?;
        Some(match self.keepalive_ping_sent {
            // Anything received proves the peer alive, even if its Pong is queued behind a
            // long message.
            Some(sent) => sent.max(self.last_received) + keepalive.timeout,
            None => self.last_received + keepalive.idle,
        })
    }

    /// The transport saw the peer make progress at `now` without its bytes reaching the
    /// engine: e.g. it acknowledged our data while the caller stopped reading it (backpressure),
    /// so its Pong, if any, waits unread. The keepalive counts this like received bytes.
    pub fn handle_peer_activity(&mut self, now: Instant) {
        self.last_received = self.last_received.max(now);
    }

    /// Runs the keepalive timer: queues a Ping once the peer has been idle, and ends the
    /// connection with [`Event::TimedOut`] (close 1011) when it stayed silent after that.
    /// Returns that event, if any.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Event<'static>> {
        let deadline = self.poll_timeout()?;
        if now < deadline {
            return None;
        }
        if self.keepalive_ping_sent.is_some() {
            self.fail_with(Event::KEEPALIVE_TIMEOUT_CODE);
            return Some(Event::TimedOut);
        }
        // A Ping the application queued serves as well.
        self.pending_ping.get_or_insert_with(ControlPayload::new);
        self.keepalive_ping_sent = Some(now);
        None
    }
}
