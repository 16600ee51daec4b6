//! One WebSocket running over one TCP connection of the stack: bytes from the socket into the
//! `ws::Connection`, whole messages out, frames into a bounded queue, queue into the socket.
//! Shared by the server's connections and the client role. An app's frame skips the queue
//! when nothing waits in it ([`Session::send_piece`]): it is copied once, from the app's
//! bytes into the TCP send buffer, and only what does not fit is queued.
//!
//! Each payload byte is copied once: the engine reads straight from the TCP receive buffer
//! ([`Net::recv_with`]) and copies the payload into the message buffer (`message.rs`),
//! unmasking it in the same pass ([`ws::Connection::read_into`]). It consumes only what it has
//! processed, so bytes behind a paused connection stay in that buffer and close the TCP
//! window.

mod deflate;
mod message;
mod outqueue;

use deflate::Deflate;
pub(crate) use message::MessageBuf;
pub(crate) use outqueue::OutQueue;

use ws::{
    CloseCode, Connection, Duration, Event, Instant, MaskKeySource, MessageKind, NoMask, Role,
    State,
};

use crate::{ConnId, Net, RecvError, SendError};

/// Time to complete the opening handshake, in both roles: the server's wait for a complete
/// request head (after accept, or after the previous response), the client's for TCP plus
/// the 101.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default largest WebSocket message (and frame), in both roles: Autobahn's largest cases send
/// 16 MiB messages; the extra 64 KiB leaves room for them without rounding surprises.
pub const DEFAULT_MAX_MESSAGE: u64 = 16 * 1024 * 1024 + 64 * 1024;

/// Queued bytes below which control frames join the queue as the engine produces them (a
/// burst of a few dozen Pongs); above it they wait, coalesced, in the engine.
const CONTROL_ROOM: usize = 8 * 1024;

/// What [`Session::step`] stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A whole message of this kind is ready (see [`Session::take_message`]).
    Message(MessageKind),
    /// Streaming sessions only: the next piece of a message is ready (see
    /// [`Session::take_message`]); `first`/`fin` mark the message's first and last piece.
    Piece {
        kind: MessageKind,
        first: bool,
        fin: bool,
    },
    /// Nothing more until bytes arrive, the socket drains or a timer fires.
    Idle,
    /// The TCP connection is over.
    TcpEnded(TcpEnd),
}

/// How the TCP connection under a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TcpEnd {
    /// In order: the peer finished sending (FIN, everything read), or our sending side is
    /// closed. TCP can still be closed gracefully.
    Finished,
    /// Reset, aborted, timed out, or no longer in the stack's table.
    Reset,
}

impl From<RecvError> for TcpEnd {
    fn from(error: RecvError) -> Self {
        match error {
            RecvError::Closed => TcpEnd::Finished,
            RecvError::Reset | RecvError::Unknown => TcpEnd::Reset,
        }
    }
}

impl From<SendError> for TcpEnd {
    fn from(error: SendError) -> Self {
        match error {
            SendError::Closed => TcpEnd::Finished,
            SendError::Reset | SendError::Unknown => TcpEnd::Reset,
        }
    }
}

/// A WebSocket over a stack connection. See the module doc.
pub(crate) struct Session<K: MaskKeySource = NoMask> {
    ws: Connection<K>,
    /// Frames that arrived with the handshake (after the HTTP head), not yet processed.
    early: Vec<u8>,
    out: OutQueue,
    /// The message (or, streaming, the piece) being assembled.
    message: MessageBuf,
    /// `message` was handed out with the last step: the next payload byte starts a new one.
    delivered: bool,
    kind: MessageKind,
    /// Why the WebSocket stopped being open, once it has: the peer's close code (1005 if it
    /// sent none), the code we closed or failed with, or 1006 when the TCP connection dropped.
    end_code: Option<CloseCode>,
    /// `--trace`: log one line per frame sent and per piece or control frame received, under
    /// this connection id.
    trace: Option<ConnId>,
    /// Hand out message pieces as they arrive instead of assembling whole messages.
    streaming: bool,
    /// Input is not processed while more than this many bytes are queued (backpressure).
    read_pause: usize,
    /// Bytes in the TCP send buffer not yet acknowledged by the peer, after the last flush.
    unacked: usize,
    /// permessage-deflate, when the handshake agreed on it.
    deflate: Option<Deflate>,
}

impl<K: MaskKeySource> Session<K> {
    /// Wraps an open `ws::Connection`. `early` are bytes that came with the handshake and are
    /// already frames; `out` holds what is queued so far (the 101 on the server).
    pub(crate) fn new(ws: Connection<K>, early: &[u8], out: OutQueue) -> Self {
        Session {
            ws,
            early: early.to_vec(),
            out,
            message: MessageBuf::default(),
            delivered: false,
            kind: MessageKind::Text,
            end_code: None,
            trace: None,
            streaming: false,
            read_pause: 0,
            unacked: 0,
            deflate: None,
        }
    }

    /// permessage-deflate was agreed in the handshake: inflate compressed messages, compress
    /// every message sent.
    pub(crate) fn use_deflate(&mut self, agreement: ws::deflate::Agreement) {
        self.ws.set_compression(true);
        self.deflate = Some(Deflate::new(agreement));
    }

    /// The permessage-deflate agreement, if the handshake made one.
    pub(crate) fn deflate_agreement(&self) -> Option<ws::deflate::Agreement> {
        self.deflate.as_ref().map(Deflate::agreement)
    }

    /// Keeps reading while up to `bytes` are queued (default 0: stop as soon as output waits).
    ///
    /// Zero suits code that answers whole messages: it reads a whole message before queuing
    /// anything. Code that answers as it reads (a streaming echo, a client echoing) needs room
    /// for a whole message, or a peer that writes a big message before it reads anything (a
    /// blocking client) would wait on us while we wait on it.
    pub(crate) fn set_read_pause(&mut self, bytes: usize) {
        self.read_pause = bytes;
    }

    /// Hands out pieces ([`Step::Piece`]) instead of whole messages from now on: memory per
    /// connection stays at one piece (at most one contiguous run of the TCP receive buffer)
    /// whatever the message size.
    pub(crate) fn stream_pieces(&mut self) {
        self.streaming = true;
    }

    /// Traces frames under `id` from now on (the `--trace` view).
    pub(crate) fn trace_as(&mut self, id: ConnId) {
        self.trace = Some(id);
    }

    /// Logs the outgoing frames in `bytes` (see [`trace_out`]).
    fn trace_out(&self, bytes: &[u8]) {
        trace_out(self.trace, bytes);
    }
}

/// Where a frame goes: into the queue, or straight into the TCP send buffer of `id` while
/// nothing is queued before it (the bytes that do not fit are queued).
struct FrameSink<'a> {
    out: &'a mut OutQueue,
    direct: Option<(&'a mut Net, ConnId)>,
    /// [`Session::unacked`], raised by what goes into the send buffer here, so that the next
    /// [`Session::note_acks`] does not take bytes we added for bytes still unacknowledged.
    unacked: &'a mut usize,
}

impl FrameSink<'_> {
    /// Writes `parts` back to back: into the send buffer while the queue is empty and the
    /// buffer has room, the rest into the queue. An error from the socket leaves the bytes
    /// queued; the next flush reports it.
    fn write(&mut self, parts: &mut [&[u8]]) {
        if let (true, Some((net, id))) = (self.out.is_empty(), self.direct.as_mut()) {
            let mut sent = net.send_parts(*id, parts).unwrap_or(0);
            *self.unacked += sent;
            for part in parts.iter_mut() {
                let n = sent.min(part.len());
                *part = &part[n..];
                sent -= n;
            }
        }
        self.out.push(parts);
    }
}

/// Sends a frame whose header `ws` just produced, masking the payload for a client.
fn push_frame<K: MaskKeySource>(
    ws: &mut Connection<K>,
    sink: &mut FrameSink<'_>,
    trace: Option<ConnId>,
    header: &[u8],
    data: &[u8],
) {
    trace_out(trace, header);
    if ws.role() == Role::Client {
        let mut masked = data.to_vec();
        ws.mask_payload(&mut masked);
        sink.write(&mut [header, &masked]);
    } else {
        sink.write(&mut [header, data]);
    }
}

/// Logs the outgoing frames in `bytes` (whole control frames, or one data frame header) of
/// connection `trace` (if tracing), reading their headers back with `ws`.
fn trace_out(trace: Option<ConnId>, mut bytes: &[u8]) {
    let Some(id) = trace else { return };
    while let Ok(view) = ws::HeaderView::new_checked(bytes) {
        let Ok(header) = ws::FrameHeader::parse(&view) else {
            return;
        };
        let start = view.header_len();
        let mut line = format!(
            "conn {id} ws out {:?} fin={} len={}{}",
            header.opcode(),
            header.fin(),
            header.payload_len(),
            if header.rsv1() { " compressed" } else { "" }
        );
        if header.opcode() == ws::OpCode::Close {
            if let Some(&[hi, lo]) = bytes.get(start..start + 2) {
                // A client's frames are masked; the first two key bytes cover the code.
                let key = header.masking_key().unwrap_or([0; 4]);
                line.push_str(&format!(
                    " code={}",
                    u16::from_be_bytes([hi ^ key[0], lo ^ key[1]])
                ));
            }
        }
        log::info!("{line}");
        let Some(rest) = usize::try_from(header.payload_len())
            .ok()
            .and_then(|len| bytes.get(start + len..))
        else {
            return;
        };
        bytes = rest;
    }
}

/// Logs one incoming event of connection `trace` (if tracing).
fn trace_in(trace: Option<ConnId>, event: &Event<'_>) {
    let Some(id) = trace else { return };
    match event {
        Event::Data {
            kind,
            payload,
            first,
            fin,
        } => {
            log::info!(
                "conn {id} ws in  {kind:?} piece len={} first={first} fin={fin}",
                payload.len()
            )
        }
        Event::Ping(p) => log::info!("conn {id} ws in  Ping len={}", p.len()),
        Event::Pong(p) => log::info!("conn {id} ws in  Pong len={}", p.len()),
        Event::Close { code, reason } => {
            let code = code.map_or_else(|| "none".to_string(), |c| c.to_string());
            log::info!("conn {id} ws in  Close code={code} reason={reason:?}")
        }
        Event::Failed(error) => log::info!("conn {id} ws protocol violation: {error}"),
        Event::TimedOut => log::info!("conn {id} ws keepalive timed out"),
    }
}

impl<K: MaskKeySource> Session<K> {
    /// Takes the message announced by the last [`Step::Message`] out (so an app can read it while the server is borrowed);
    /// give it back with [`Session::restore_message`] to keep its allocation.
    pub(crate) fn take_message(&mut self) -> MessageBuf {
        std::mem::take(&mut self.message)
    }

    /// Returns a buffer taken with [`Session::take_message`].
    pub(crate) fn restore_message(&mut self, mut buf: MessageBuf) {
        // Keeps everyday storage, releases what a 16 MiB message grew.
        buf.recycle();
        self.message = buf;
    }

    /// Why the WebSocket is no longer open, or `None` while it is.
    pub(crate) fn end_code(&self) -> Option<CloseCode> {
        self.end_code
    }

    /// How the WebSocket ended, once the TCP connection is over: the code of the closing
    /// handshake if it was completed (both Close frames, or our failure Close sent), otherwise
    /// 1006 (RFC 6455 §7.1.5: closed abnormally).
    pub(crate) fn final_code(&self) -> CloseCode {
        match self.end_code {
            Some(code) if self.ws.state() == State::Closed => code,
            _ => CloseCode::ABNORMAL,
        }
    }

    /// Bytes queued and not yet in the TCP send buffer.
    pub(crate) fn queued(&self) -> usize {
        self.out.len()
    }

    /// Whether the close handshake is over (or failed), everything is flushed, and the TCP
    /// connection should now be closed.
    pub(crate) fn wants_tcp_close(&self) -> bool {
        self.ws.wants_tcp_close() && self.out.is_empty()
    }

    /// The next instant the engine needs [`Session::handle_timeout`]: its keepalive (when to
    /// ping, when an unanswered ping times out). The close handshake's deadline is the
    /// caller's (the server's and the client's `close_timeout`), not the engine's.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.ws.poll_timeout()
    }

    /// Lets the engine act on its timers, then queues what it produced.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let Some(Event::TimedOut) = self.ws.handle_timeout(now) {
            self.end_code.get_or_insert(Event::KEEPALIVE_TIMEOUT_CODE);
        }
        self.collect_transmit();
    }

    /// Records the TCP connection dropping under an open WebSocket (1006).
    pub(crate) fn tcp_ended(&mut self) {
        self.end_code.get_or_insert(CloseCode::ABNORMAL);
    }

    /// Queues one whole message. Refused (`Err`) once a close frame is queued.
    pub(crate) fn send(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), ws::SendError> {
        self.send_piece(None, kind, data, true, true)
    }

    /// Sends one frame of a message sent in pieces: the first piece opens a `kind` message,
    /// the piece with `fin` ends it. Whole messages cannot be sent while one is open.
    ///
    /// With `direct` (this connection's stack and id) the frame goes straight into the TCP
    /// send buffer when nothing is queued before it: its bytes are copied once, from `data`
    /// into the send buffer, instead of into the queue and from there into the send buffer.
    /// What does not fit, and everything without `direct`, is queued.
    pub(crate) fn send_piece(
        &mut self,
        direct: Option<(&mut Net, ConnId)>,
        kind: MessageKind,
        data: &[u8],
        first: bool,
        fin: bool,
    ) -> Result<(), ws::SendError> {
        if self.end_code.is_some() {
            return Err(ws::SendError::Closed);
        }
        let opcode = if first {
            kind.opcode()
        } else {
            ws::OpCode::Continuation
        };
        let mut sink = FrameSink {
            out: &mut self.out,
            direct,
            unacked: &mut self.unacked,
        };
        let Some(deflate) = &mut self.deflate else {
            let header = self.ws.send_frame_header(opcode, fin, data.len() as u64)?;
            push_frame(&mut self.ws, &mut sink, self.trace, &header, data);
            return Ok(());
        };
        let compressed = deflate.compress(data, fin);
        let len = compressed.len() as u64;
        let header = if first {
            self.ws.send_compressed_frame_header(opcode, fin, len)?
        } else {
            self.ws.send_frame_header(opcode, fin, len)?
        };
        push_frame(&mut self.ws, &mut sink, self.trace, &header, compressed);
        Ok(())
    }

    /// Starts the close handshake with `code` (no effect once closing).
    pub(crate) fn close(&mut self, code: CloseCode, reason: &str) {
        if self.end_code.is_some() {
            return;
        }
        if self.ws.close(code, reason).is_ok() {
            self.end_code = Some(code);
        }
        self.collect_transmit();
    }

    /// Moves control frames the engine produced (pongs, close, pings) into the queue while it
    /// holds less than [`CONTROL_ROOM`]. Beyond that they wait in the engine, which keeps only
    /// the latest Pong (RFC 6455 §5.5.3): a Ping flood from a peer that does not read our output
    /// cannot grow the queue, while a burst of Pings from a live peer still gets every Pong.
    fn collect_transmit(&mut self) {
        if self.out.len() >= CONTROL_ROOM {
            return;
        }
        let mut frame = [0u8; ws::MAX_CONTROL_FRAME_LEN];
        while self.ws.wants_transmit() {
            let n = self.ws.poll_transmit(&mut frame);
            if n == 0 {
                break;
            }
            self.trace_out(&frame[..n]);
            self.out.push(&[&frame[..n]]);
        }
    }

    /// Hands queued bytes, then the control frames waiting in the engine, to the TCP socket
    /// until it is full.
    pub(crate) fn flush(&mut self, net: &mut Net, id: ConnId) -> Result<(), SendError> {
        loop {
            self.out.drain_into(|bytes| net.send(id, bytes))?;
            if self.out.len() >= CONTROL_ROOM || !self.ws.wants_transmit() {
                return Ok(());
            }
            self.collect_transmit();
        }
    }

    /// Moves the connection forward: flushes, then reads and feeds the engine until a whole
    /// message (or, streaming, a piece) is ready or nothing more can be done now.
    ///
    /// Backpressure: while queued output that does not fit in the TCP send buffer exceeds the
    /// read pause ([`Session::set_read_pause`]), no more input is processed, so unread bytes
    /// stay in the stack's receive buffer and its window closes: a peer that does not read our
    /// replies is throttled instead of growing our queue.
    pub(crate) fn step(&mut self, net: &mut Net, id: ConnId, now: Instant) -> Step {
        self.note_acks(net, id, now);
        loop {
            if let Err(e) = self.flush(net, id) {
                return Step::TcpEnded(e.into());
            }
            self.unacked = net.send_queue(id).unwrap_or(0);
            if self.out.len() > self.read_pause {
                return Step::Idle;
            }
            if !self.early.is_empty() {
                let mut early = std::mem::take(&mut self.early);
                let (used, step) = self.feed(&mut early, now);
                early.drain(..used);
                self.early = early;
                if let Some(step) = step {
                    return step;
                }
                if !self.early.is_empty() {
                    // The engine keeps partial headers itself, so it always takes everything.
                    return self.stall();
                }
                continue;
            }
            if self.deflate.as_ref().is_some_and(Deflate::wants_read) {
                // The end of a compressed message, inflated from what was already read.
                if let (_, Some(step)) = self.feed(&mut [], now) {
                    return step;
                }
                if self.deflate.as_ref().is_some_and(Deflate::wants_read) {
                    return self.stall();
                }
                continue;
            }
            let read = net.recv_with(id, |data| {
                let (used, step) = self.feed(data, now);
                (used, (used, data.len(), step))
            });
            match read {
                Ok(None) => return Step::Idle,
                Ok(Some((_, _, Some(step)))) => return step,
                Ok(Some((used, offered, None))) if used < offered => return self.stall(),
                Ok(Some(_)) => {}
                Err(e) => return Step::TcpEnded(e.into()),
            }
        }
    }

    /// Keepalive vs backpressure: while our output is queued, the engine's keepalive Ping
    /// waits behind it (in our queue, the TCP send buffer, then the peer's receive buffer) and
    /// the peer's bytes, its Pong too, may wait unread (reading paused). The engine alone
    /// would take a peer that is busy receiving a long echo for a silent one and fail it with
    /// 1011. A peer that acknowledged more of our data since the last look is alive. With
    /// nothing queued the Ping goes out at once and, once it is acknowledged, only the peer's
    /// bytes count again, so a truly silent peer still gets 1011.
    fn note_acks(&mut self, net: &Net, id: ConnId, now: Instant) {
        let unacked = net.send_queue(id).unwrap_or(0);
        if unacked < self.unacked {
            self.ws.handle_peer_activity(now);
        }
        self.unacked = unacked;
    }

    /// The engine declined bytes it was given without producing an event: a bug, not a
    /// peer's doing. Fail the connection rather than spin on the same bytes.
    fn stall(&mut self) -> Step {
        self.close(CloseCode::INTERNAL, "");
        self.early.clear();
        Step::Idle
    }

    /// Gives `input` to the engine until it produces a whole message (or a piece, streaming)
    /// or has taken everything. Returns the bytes consumed and what is ready, if anything.
    ///
    /// Payload bytes go from `input` (the TCP receive ring) into the message buffer in one
    /// pass that also unmasks them ([`Connection::read_into`]); `input` is not written. With
    /// permessage-deflate, frames are unmasked in place in `input` and compressed messages
    /// inflated ([`ws::deflate::Inflater::handle_read`]), then copied into the message buffer.
    fn feed(&mut self, input: &mut [u8], now: Instant) -> (usize, Option<Step>) {
        let mut pos = 0;
        // Until no event comes: an inflater may still hand out the end of a message after
        // the input is used up.
        loop {
            if std::mem::take(&mut self.delivered) {
                self.message.clear();
            }
            let (consumed, event) = match &mut self.deflate {
                // Frames are unmasked in place, compressed messages inflated into the
                // inflater's window; each piece is then copied into the message's spare room,
                // where read_into would have put it.
                Some(deflate) => {
                    let (consumed, event) =
                        deflate
                            .inflater()
                            .handle_read(&mut self.ws, &mut input[pos..], now);
                    let event = match event {
                        Some(Event::Data {
                            kind,
                            payload,
                            first,
                            fin,
                        }) => {
                            let spare = &mut self.message.spare(payload.len())[..payload.len()];
                            spare.copy_from_slice(payload);
                            Some(Event::Data {
                                kind,
                                payload: spare,
                                first,
                                fin,
                            })
                        }
                        other => other,
                    };
                    (consumed, event)
                }
                None => {
                    // Room for every byte left, so a piece is never cut short for lack of
                    // space (a streaming app gets the same pieces as the input holds).
                    let spare = self.message.spare(input.len() - pos);
                    self.ws.read_into(&input[pos..], spare, now)
                }
            };
            pos += consumed;
            let Some(event) = event else {
                if consumed == 0 {
                    break;
                }
                continue;
            };
            trace_in(self.trace, &event);
            let mut ready = None;
            match event {
                Event::Data {
                    kind,
                    payload,
                    first,
                    fin,
                } => {
                    let len = payload.len();
                    if first {
                        self.kind = kind;
                    }
                    self.message.commit(len);
                    if self.streaming {
                        ready = Some(Step::Piece { kind, first, fin });
                    } else if fin {
                        ready = Some(Step::Message(self.kind));
                    }
                }
                Event::Close { code, .. } => {
                    self.end_code
                        .get_or_insert(code.unwrap_or(CloseCode::NO_STATUS));
                }
                Event::Failed(error) => {
                    self.end_code.get_or_insert(error.close_code());
                }
                // Only handle_timeout reports it.
                Event::TimedOut => {
                    self.end_code.get_or_insert(Event::KEEPALIVE_TIMEOUT_CODE);
                }
                Event::Ping(_) | Event::Pong(_) => {}
            }
            self.collect_transmit();
            if ready.is_some() {
                self.delivered = true;
                return (pos, ready);
            }
        }
        self.collect_transmit();
        (pos, None)
    }
}
