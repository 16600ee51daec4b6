//! One WebSocket connection after the opening handshake: frames in, events out, control
//! frames and the closing handshake handled by the engine (RFC 6455 §5–§7).
//!
//! Sans-IO: the caller feeds bytes read from the transport to [`Connection::handle_read`],
//! writes what [`Connection::poll_transmit`] and the `send*` methods produce, and passes the
//! current time. Data payloads are unmasked in place in the caller's buffer and handed out as
//! slices of it, so no message is ever buffered here; only control payloads (≤ 125 bytes, but
//! possibly split over reads) are copied into a fixed buffer.

use core::mem;

use crate::close::{CloseCode, ClosePayload, CloseReason};
use crate::error::{ProtocolError, SendError};
use crate::frame::{
    FrameHeader, HeaderBytes, HeaderView, MAX_CONTROL_PAYLOAD_LEN, MAX_HEADER_LEN, MessageKind,
    OpCode,
};
use crate::mask::{MaskKeySource, NoMask, apply_mask, copy_masked};
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

/// The connection states of RFC 6455 §4–§7.
///
/// ```text
///             opening handshake (crate::handshake)
///   CONNECTING ──────────────────────────────────▶ OPEN
///                                                   │
///          close() / peer's Close received / failure │ a Close frame is queued
///                                                   ▼
///                                                CLOSING
///                                                   │ our Close flushed by poll_transmit, and
///                                                   │ the peer's Close received (or we failed)
///                                                   ▼
///                                                CLOSED ── server: wants_tcp_close()
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// The opening handshake is in progress. A [`Connection`] is only created after it
    /// succeeded, so it never reports this state; callers use it for their own bookkeeping.
    Connecting,
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

    /// Consumes bytes read from the transport. Returns how many bytes were consumed and at most
    /// one event; call again with the rest until everything is consumed and no event comes.
    /// Bytes that complete no event are remembered (headers, control payloads) or, for data,
    /// delivered as soon as they arrive, so any split of the input yields the same messages.
    /// After a Close or a failure all input is consumed and ignored.
    ///
    /// Data payloads are unmasked in place and handed out as slices of `input`. To have them
    /// land in a buffer of your own instead, unmasked in the same pass as the copy, use
    /// [`Connection::read_into`].
    #[must_use = "the consumed count and the event must be acted on"]
    pub fn handle_read<'a>(
        &mut self,
        input: &'a mut [u8],
        now: Instant,
    ) -> (usize, Option<Event<'a>>) {
        let (pos, take, offset) = match self.read_to_payload(input, usize::MAX, now) {
            Ok(found) => found,
            Err((consumed, event)) => return (consumed, event),
        };
        let total = input.len();
        let payload = &mut input[pos..pos + take];
        if let Some(key) = self.incoming_key() {
            apply_mask(payload, key, offset);
        }
        self.deliver(payload, pos, total)
    }

    /// [`Connection::handle_read`] that leaves `input` untouched: a data payload is copied
    /// into `out` (at most `out.len()` bytes of it per call) and unmasked while it is copied,
    /// and the event's payload is a slice of `out`. Consumed input counts as for
    /// `handle_read`, and any split of the input, or of the payload over calls with small
    /// `out` buffers, yields the same bytes. With an empty `out` no payload byte is consumed.
    ///
    /// This is one pass over the payload where `handle_read` followed by a copy is two: for a
    /// caller that keeps messages (assembles them, or queues them) rather than using them in
    /// the input buffer.
    #[must_use = "the consumed count and the event must be acted on"]
    pub fn read_into<'o>(
        &mut self,
        input: &[u8],
        out: &'o mut [u8],
        now: Instant,
    ) -> (usize, Option<Event<'o>>) {
        let (pos, take, offset) = match self.read_to_payload(input, out.len(), now) {
            Ok(found) => found,
            Err((consumed, event)) => return (consumed, event),
        };
        let payload = &mut out[..take];
        match self.incoming_key() {
            Some(key) => copy_masked(&input[pos..pos + take], payload, key, offset),
            None => payload.copy_from_slice(&input[pos..pos + take]),
        }
        self.deliver(payload, pos, input.len())
    }

    /// The masking key of the frame being read, if it is masked.
    fn incoming_key(&self) -> Option<[u8; 4]> {
        self.frame.and_then(|frame| frame.header.masking_key())
    }

    /// Reads headers and control frames up to the next data payload bytes. `Ok((pos, take,
    /// offset))`: `input[pos..pos + take]` are the next `take` (≥ 1, at most `room`) payload
    /// bytes of the current data frame, which starts `offset` bytes earlier in its payload.
    /// `Err`: what `handle_read` returns (an event or a need for more input).
    // The `Err` side carries an Event (a control payload inline): it is built once per call
    // and returned straight to the caller, never stored.
    #[allow(clippy::result_large_err)]
    fn read_to_payload(
        &mut self,
        input: &[u8],
        room: usize,
        now: Instant,
    ) -> Result<(usize, usize, u64), (usize, Option<Event<'static>>)> {
        let total = input.len();
        if self.failed || self.close_received {
            return Err((total, None));
        }
        if total > 0 {
            self.last_received = now;
        }
        let mut pos = 0;
        // Headers and control frames never borrow the input; a data payload does, so the loop
        // ends at the first data frame with a payload to deliver.
        let frame = loop {
            let Some(frame) = self.frame else {
                let (used, header) = self.read_header(&input[pos..]);
                pos += used;
                match header.and_then(|header| header.map(|h| self.start_frame(h)).transpose()) {
                    Ok(Some(())) => continue,
                    Ok(None) => return Err((pos, None)),
                    Err(error) => return Err((total, Some(self.fail(error)))),
                }
            };
            if let Content::Data(_) = frame.content {
                break frame;
            }
            let take = usize::try_from(frame.remaining())
                .unwrap_or(usize::MAX)
                .min(total - pos);
            // Cannot overflow: start_frame checked that the payload fits the 125-byte buffer.
            let _ = self.control.extend_from_slice(&input[pos..pos + take]);
            pos += take;
            if self.control.len() as u64 != frame.header.payload_len() {
                self.frame = Some(IncomingFrame {
                    received: self.control.len() as u64,
                    ..frame
                });
                return Err((pos, None));
            }
            let event = self.finish_control(frame.header);
            let consumed = if matches!(event, Event::Failed(_)) {
                total
            } else {
                pos
            };
            return Err((consumed, Some(event)));
        };

        let take = usize::try_from(frame.remaining())
            .unwrap_or(usize::MAX)
            .min(total - pos)
            .min(room);
        if take == 0 && frame.remaining() > 0 {
            return Err((pos, None));
        }
        Ok((pos, take, frame.received))
    }

    /// Hands out the next `payload` bytes (unmasked) of the current data frame, which came
    /// from `input[pos..]` of an input of `total` bytes.
    fn deliver<'p>(
        &mut self,
        payload: &'p [u8],
        pos: usize,
        total: usize,
    ) -> (usize, Option<Event<'p>>) {
        let Some(mut frame) = self.frame else {
            return (pos, None);
        };
        let Content::Data(kind) = frame.content else {
            return (pos, None);
        };
        let take = payload.len();
        frame.received += take as u64;
        let frame_done = frame.remaining() == 0;
        let fin = frame_done && frame.header.fin();
        if kind == MessageKind::Text
            && (self.utf8.feed(payload).is_err() || (fin && !self.utf8.is_complete()))
        {
            return (total, Some(self.fail(ProtocolError::InvalidUtf8)));
        }
        let first = mem::replace(&mut self.first_piece_pending, false);
        self.frame = if frame_done { None } else { Some(frame) };
        if fin {
            self.message = None;
        }
        (
            pos + take,
            Some(Event::Data {
                kind,
                payload,
                first,
                fin,
            }),
        )
    }

    /// Gathers header bytes; returns the bytes used and the header once it is complete.
    fn read_header(&mut self, input: &[u8]) -> (usize, Result<Option<FrameHeader>, ProtocolError>) {
        // Common case: the whole header is in this input, parse it where it lies.
        if self.header_len == 0 {
            if let Ok(view) = HeaderView::new_checked(input) {
                return (view.header_len(), FrameHeader::parse(&view).map(Some));
            }
        }
        let mut used = 0;
        loop {
            let needed = HeaderView::required_len(&self.header[..self.header_len]);
            if self.header_len == needed {
                break;
            }
            let take = (needed - self.header_len).min(input.len() - used);
            if take == 0 {
                return (used, Ok(None));
            }
            self.header[self.header_len..self.header_len + take]
                .copy_from_slice(&input[used..used + take]);
            self.header_len += take;
            used += take;
        }
        let bytes = &self.header[..mem::take(&mut self.header_len)];
        // The loop above gathered exactly the bytes the header needs, so the view is complete.
        let header = match HeaderView::new_checked(bytes) {
            Ok(view) => FrameHeader::parse(&view).map(Some),
            Err(_) => Ok(None),
        };
        (used, header)
    }

    /// Checks a parsed header against the role, the limits and the fragmentation state, and
    /// makes it the current frame.
    fn start_frame(&mut self, header: FrameHeader) -> Result<(), ProtocolError> {
        match (self.role, header.masking_key()) {
            (Role::Server, None) => return Err(ProtocolError::UnmaskedClientFrame),
            (Role::Client, Some(_)) => return Err(ProtocolError::MaskedServerFrame),
            _ => {}
        }
        let len = header.payload_len();
        if len > self.config.max_frame_size {
            return Err(ProtocolError::FrameTooBig);
        }
        let content = match header.opcode() {
            OpCode::Continuation => {
                let message = self
                    .message
                    .as_mut()
                    .ok_or(ProtocolError::UnexpectedContinuation)?;
                message.announced_len = message.announced_len.saturating_add(len);
                if message.announced_len > self.config.max_message_size {
                    return Err(ProtocolError::MessageTooBig);
                }
                Content::Data(message.kind)
            }
            OpCode::Text | OpCode::Binary => {
                if self.message.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                if len > self.config.max_message_size {
                    return Err(ProtocolError::MessageTooBig);
                }
                let kind = if header.opcode() == OpCode::Text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                self.message = Some(IncomingMessage {
                    kind,
                    announced_len: len,
                });
                self.first_piece_pending = true;
                self.utf8 = Utf8Validator::new();
                Content::Data(kind)
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => {
                self.control.clear();
                Content::Control
            }
        };
        self.frame = Some(IncomingFrame {
            header,
            content,
            received: 0,
        });
        Ok(())
    }

    /// Acts on a complete control frame.
    fn finish_control(&mut self, header: FrameHeader) -> Event<'static> {
        self.frame = None;
        let mut payload = mem::take(&mut self.control);
        if let Some(key) = header.masking_key() {
            apply_mask(&mut payload, key, 0);
        }
        match header.opcode() {
            OpCode::Ping => {
                if self.config.auto_pong && self.state == State::Open {
                    self.pending_pong = Some(payload.clone());
                }
                Event::Ping(payload)
            }
            OpCode::Pong => {
                self.keepalive_ping_sent = None;
                Event::Pong(payload)
            }
            _ => match ClosePayload::parse(&payload) {
                Err(error) => self.fail(error),
                Ok(close) => {
                    self.close_received = true;
                    if self.state == State::Open {
                        // Echo the code only (§5.5.1); an empty Close is answered with an empty one.
                        self.queue_close(ClosePayload {
                            code: close.code,
                            reason: "",
                        });
                    }
                    self.advance_closing();
                    let mut reason = CloseReason::new();
                    // Cannot overflow: the reason came out of a 125-byte payload after a 2-byte code.
                    let _ = reason.push_str(close.reason);
                    Event::Close {
                        code: close.code,
                        reason,
                    }
                }
            },
        }
    }

    /// Fails the connection (§7.1.7): queue a Close with the error's code unless one was already
    /// queued, drop pending Ping/Pong, stop reading.
    fn fail(&mut self, error: ProtocolError) -> Event<'static> {
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

    /// Whether control frames are waiting for [`Connection::poll_transmit`].
    pub fn wants_transmit(&self) -> bool {
        self.pending_pong.is_some() || self.pending_ping.is_some() || self.pending_close.is_some()
    }

    /// Writes the queued control frames (Pong, then Ping, then Close) that fit into `out` and
    /// returns the bytes written. An `out` of [`crate::MAX_CONTROL_FRAME_LEN`] bytes always
    /// fits the next one. Write the result to the transport between whole data frames, never
    /// inside one that is being streamed.
    #[must_use = "the written bytes must be sent"]
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> usize {
        let mut written = 0;
        for opcode in [OpCode::Pong, OpCode::Ping, OpCode::Close] {
            let Some(payload) = self.pending(opcode).take() else {
                continue;
            };
            match self.write_frame(opcode, true, &payload, &mut out[written..]) {
                Ok(len) => written += len,
                Err(_) => {
                    *self.pending(opcode) = Some(payload);
                    break;
                }
            }
            if opcode == OpCode::Close {
                self.close_sent = true;
                self.advance_closing();
            }
        }
        written
    }

    fn pending(&mut self, opcode: OpCode) -> &mut Option<ControlPayload> {
        match opcode {
            OpCode::Pong => &mut self.pending_pong,
            OpCode::Ping => &mut self.pending_ping,
            _ => &mut self.pending_close,
        }
    }

    /// Writes one whole frame (header and payload, masked for a client) to the start of `out`.
    fn write_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        let len = payload.len() as u64;
        let probe = FrameHeader::new(fin, opcode, len, self.masks().then_some([0; 4]))
            .map_err(|_| SendError::PayloadTooLong)?;
        let needed = probe.header_len() + payload.len();
        let Some(out) = out.get_mut(..needed) else {
            return Err(SendError::BufferTooSmall { needed });
        };
        let key = self.next_masking_key();
        let header =
            FrameHeader::new(fin, opcode, len, key).map_err(|_| SendError::PayloadTooLong)?;
        let header_len = header
            .emit(out)
            .map_err(|_| SendError::BufferTooSmall { needed })?;
        let body = &mut out[header_len..];
        match key {
            // Masked while copied: one pass over the payload.
            Some(key) => copy_masked(payload, body, key, 0),
            None => body.copy_from_slice(payload),
        }
        Ok(needed)
    }

    fn masks(&self) -> bool {
        self.role == Role::Client
    }

    fn next_masking_key(&mut self) -> Option<[u8; 4]> {
        self.masks().then(|| self.mask_keys.next_key())
    }

    fn check_can_send(&self) -> Result<(), SendError> {
        if self.state != State::Open || self.failed {
            Err(SendError::Closed)
        } else {
            Ok(())
        }
    }

    /// Writes a whole message as one frame (header ≤ 14 bytes, then the payload, masked for a
    /// client) to the start of `out` and returns its length. Text must be UTF-8; the engine does
    /// not re-check outgoing text.
    pub fn send(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.check_can_send()?;
        if self.outgoing_message_open {
            return Err(SendError::FragmentOrder);
        }
        self.write_frame(kind.opcode(), true, payload, out)
    }

    /// Starts a streamed data frame of `payload_len` bytes and returns its header; the caller
    /// then writes exactly `payload_len` payload bytes, passing each piece through
    /// [`Connection::mask_payload`] first. A message is one `Text`/`Binary` frame followed by
    /// `Continuation` frames, the last with `fin` set.
    pub fn send_frame_header(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload_len: u64,
    ) -> Result<HeaderBytes, SendError> {
        self.check_can_send()?;
        match opcode {
            OpCode::Continuation if !self.outgoing_message_open => {
                return Err(SendError::FragmentOrder);
            }
            OpCode::Text | OpCode::Binary if self.outgoing_message_open => {
                return Err(SendError::FragmentOrder);
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => return Err(SendError::NotDataOpcode),
            _ => {}
        }
        let key = self.next_masking_key();
        let header = FrameHeader::new(fin, opcode, payload_len, key)
            .map_err(|_| SendError::PayloadTooLong)?;
        self.outgoing_message_open = !fin;
        self.outgoing_mask = key.map(|key| (key, 0));
        Ok(header.to_bytes())
    }

    /// Masks the next piece of the payload of the frame started with
    /// [`Connection::send_frame_header`] in place (a no-op for the server role).
    pub fn mask_payload(&mut self, piece: &mut [u8]) {
        if let Some((key, offset)) = &mut self.outgoing_mask {
            apply_mask(piece, *key, *offset);
            *offset += piece.len() as u64;
        }
    }

    /// Queues a Ping (payload at most 125 bytes) for [`Connection::poll_transmit`]. It replaces
    /// a Ping still queued.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.check_can_send()?;
        let payload =
            ControlPayload::from_slice(payload).map_err(|_| SendError::ControlPayloadTooLong)?;
        self.pending_ping = Some(payload);
        Ok(())
    }

    /// Starts the closing handshake: queues a Close with `code` (which must be valid on the
    /// wire) and `reason` (at most 123 bytes). No data may be sent afterwards.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.check_can_send()?;
        if !code.is_valid_on_wire() {
            return Err(SendError::InvalidCloseCode);
        }
        let mut payload = ControlPayload::new();
        ClosePayload {
            code: Some(code),
            reason,
        }
        .emit(&mut payload)
        .map_err(|_| SendError::ControlPayloadTooLong)?;
        self.pending_close = Some(payload);
        self.state = State::Closing;
        Ok(())
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
