//! One Engine.IO v4 session on the server, sans-IO: the glue hands in requests, WebSocket
//! messages and the time; the session hands back HTTP answers, packets to send, events and the
//! next time it wants to be woken.
//!
//! ```text
//!            handshake (polling)                    handshake (websocket)
//!                   │                                        │
//!                   ▼       WS with sid, "2probe"            ▼
//!              ┌─────────┐  ───────────────────►  ┌───────────┐   "5"   ┌───────────┐
//!              │ Polling │                        │ Upgrading │ ──────► │ WebSocket │
//!              └─────────┘  ◄───────────────────  └───────────┘         └───────────┘
//!                   │         upgrade WS closed         │                     │
//!                   └───────────────┬───────────────────┴─────────────────────┘
//!                                   ▼  close packet, ping timeout, transport gone, error
//!                               ┌────────┐
//!                               │ Closed │  (reason: transport close, ping timeout, ...)
//!                               └────────┘
//! ```
//!
//! Heartbeat (v4 is server-driven): a ping `2` goes out every `ping_interval` (counted from
//! the open packet, then from each pong); a pong `3` must come back within `ping_timeout` or the
//! session closes with "ping timeout". A polling client that vanished with its GET held is
//! therefore dropped exactly `ping_interval + ping_timeout` after its last pong (or the
//! handshake). Timers follow quinn-proto's shape: [`Session::poll_timeout`] is the earliest
//! deadline, [`Session::handle_timeout`] acts on the ones that passed.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use ws::{Duration, Instant};

use super::Encoded;
use super::error::{CloseReason, PacketError, RequestError};
use super::open::OpenParams;
use super::packet::{Data, Packet};
use super::payload;
use super::request::Transport;

/// The session parameters the open packet announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Time between two pings.
    pub ping_interval: Duration,
    /// Time the client has to answer a ping.
    pub ping_timeout: Duration,
    /// Largest polling body (and WebSocket message) accepted, in bytes; larger ones end the
    /// session with "transport error" (HTTP 413 on polling).
    pub max_payload: usize,
    /// Largest total size, in bytes, of the packets waiting in a session's queue for its
    /// transport to take them (a polling client that stops polling while others broadcast).
    /// A packet that would go beyond it ends the session with "transport error" instead of
    /// being queued: without a bound the queue grows until the heartbeat ends the session
    /// (the reference server keeps no bound; a client that lost packets silently would
    /// show a chat with holes, while a closed session reconnects and is told so).
    pub max_buffered: usize,
}

impl Default for Config {
    /// The reference server's defaults: 25 s, 20 s, 1,000,000 bytes; a queue bound of 1 MiB
    /// (tunws's bound for a WebSocket's output, `ServerConfig::queue_limit`).
    fn default() -> Self {
        Config {
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            max_payload: 1_000_000,
            max_buffered: 1 << 20,
        }
    }
}

/// Where the session stands (see the diagram in the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Packets flow over HTTP long-polling.
    Polling,
    /// Polling still carries the packets; a WebSocket has been opened for this session and may
    /// have been probed (`probed`): once probed, polling GETs are answered with noop.
    Upgrading {
        /// The WebSocket sent `2probe` and got `3probe`.
        probed: bool,
    },
    /// Packets flow over the WebSocket.
    WebSocket,
    /// The session is over.
    Closed(CloseReason),
}

/// What a polling GET gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollAnswer {
    /// Answer now with this body (`text/plain; charset=UTF-8`).
    Respond(String),
    /// Keep the request open; [`Session::poll_held_response`] gives its body later.
    Hold,
}

/// Something the application learns from the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The session opened; its open packet is queued.
    Open,
    /// A message packet's data.
    Message(Message),
    /// The session is closed; nothing more will come.
    Closed(CloseReason),
}

/// The owned data of a received message packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Text data.
    Text(String),
    /// Binary data.
    Binary(Vec<u8>),
}

/// One Engine.IO session (server side).
#[derive(Debug)]
pub struct Session {
    sid: String,
    config: Config,
    state: State,
    /// Packets waiting for the current transport.
    queue: VecDeque<Encoded>,
    /// Total size of `queue`'s packets, in bytes (bounded by `config.max_buffered`).
    queued_bytes: usize,
    /// Packets for the upgrading WebSocket only (the probe answer).
    probe_queue: VecDeque<Encoded>,
    /// A polling GET is held open.
    get_held: bool,
    /// The body owed to the held GET once the session closed (`1`, or noop `6` when the client
    /// asked for the close).
    held_final: Option<Encoded>,
    /// The client closed the session with a close packet on a POST while no GET was held: a
    /// GET it had in flight (sent before, arriving after) still gets a noop until then, not a
    /// 400, so it ends as cleanly as a held one.
    noop_owed_until: Option<Instant>,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    events: VecDeque<Event>,
    /// In the server's ready list (see [`super::Server::poll_ready`]).
    pub(crate) listed_ready: bool,
}

impl Session {
    /// A new session opened by a handshake on `transport`; the open packet is the first one
    /// queued (the handshake GET's answer, or the WebSocket's first frame). The first ping is
    /// due `ping_interval` from `now`.
    pub fn new(sid: String, transport: Transport, config: Config, now: Instant) -> Session {
        let upgrades = match transport {
            Transport::Polling => alloc::vec!["websocket".into()],
            Transport::WebSocket => Vec::new(),
        };
        let open = OpenParams {
            sid: sid.clone(),
            upgrades,
            ping_interval: config.ping_interval.as_millis(),
            ping_timeout: config.ping_timeout.as_millis(),
            max_payload: config.max_payload as u64,
        };
        let open = Encoded::new(&Packet::Open(&open.to_json()));
        let queued_bytes = open.len();
        let mut queue = VecDeque::new();
        queue.push_back(open);
        Session {
            sid,
            config,
            state: match transport {
                Transport::Polling => State::Polling,
                Transport::WebSocket => State::WebSocket,
            },
            queue,
            queued_bytes,
            probe_queue: VecDeque::new(),
            get_held: false,
            held_final: None,
            noop_owed_until: None,
            next_ping: Some(now + config.ping_interval),
            pong_deadline: None,
            events: VecDeque::from([Event::Open]),
            listed_ready: false,
        }
    }

    /// The session id.
    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// The session's state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The transport the session's packets currently use; `None` once closed.
    pub fn transport(&self) -> Option<Transport> {
        match self.state {
            State::Polling | State::Upgrading { .. } => Some(Transport::Polling),
            State::WebSocket => Some(Transport::WebSocket),
            State::Closed(_) => None,
        }
    }

    /// Whether the session is over (the glue drops it once its events are drained and the held
    /// GET, if any, answered).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed(_))
    }

    /// Queues a message packet for the client. A packet that would take the queue beyond
    /// [`Config::max_buffered`] is not queued: the session closes with "transport error".
    pub fn send(&mut self, message: Encoded) {
        if self.is_closed() {
            return;
        }
        if self.queued_bytes.saturating_add(message.len()) > self.config.max_buffered {
            self.close_with(CloseReason::TransportError);
            return;
        }
        self.enqueue(message);
    }

    /// Bytes waiting in the session's queue.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Closes the session from the server side ("forced close"); a held GET is answered with a
    /// close packet, a WebSocket is closed by the glue ([`Session::wants_websocket_close`]).
    pub fn close(&mut self) {
        self.close_with(CloseReason::ForcedClose);
    }

    /// Closes the session for `reason` (the layer above found a parse error, ...); a held GET
    /// is answered with a close packet.
    pub fn close_because(&mut self, reason: CloseReason) {
        self.close_with(reason);
    }

    /// Whether a polling GET is held open and not yet answered.
    pub fn has_held_poll(&self) -> bool {
        self.get_held
    }

    /// Whether the session is closed but still owes a noop to a GET in flight (it is then still
    /// addressed like a polling session).
    pub fn owes_noop(&self) -> bool {
        self.noop_owed_until.is_some()
    }

    /// Whether the session is closed and owes nothing more: no held GET to answer, no noop
    /// owed to a GET in flight. The glue may forget it.
    pub fn is_finished(&self) -> bool {
        self.is_closed() && !self.get_held && self.noop_owed_until.is_none()
    }

    // ---- polling ----

    /// A polling GET arrived.
    pub fn handle_poll(&mut self) -> Result<PollAnswer, RequestError> {
        match self.state {
            State::Closed(_) if self.noop_owed_until.take().is_some() => {
                return Ok(PollAnswer::Respond(noop_body()));
            }
            State::Closed(_) => return Err(RequestError::UnknownSid),
            State::WebSocket => return Err(RequestError::BadRequest),
            State::Upgrading { probed: true } => return Ok(PollAnswer::Respond(noop_body())),
            _ => {}
        }
        if self.get_held {
            // Two GETs at once: the spec says 400 and close the session; the held one gets
            // the close packet.
            self.close_with(CloseReason::TransportError);
            return Err(RequestError::BadRequest);
        }
        if self.queue.is_empty() {
            self.get_held = true;
            return Ok(PollAnswer::Hold);
        }
        Ok(PollAnswer::Respond(self.drain_polling()))
    }

    /// The body for the held GET, once there is one to give (packets queued, the upgrade
    /// probed, the session closed). Call after every input and timeout.
    pub fn poll_held_response(&mut self) -> Option<String> {
        if !self.get_held {
            return None;
        }
        let body = if let Some(last) = self.held_final.take() {
            payload::encode([&last])
        } else if matches!(self.state, State::Upgrading { probed: true }) {
            noop_body()
        } else if !self.queue.is_empty() {
            // Polling, or upgrading but not yet probed: polling still carries the packets.
            self.drain_polling()
        } else {
            return None;
        };
        self.get_held = false;
        Some(body)
    }

    /// The held GET's connection went away before it was answered: the reference server
    /// treats it as a transport error and closes the session.
    pub fn handle_poll_aborted(&mut self) {
        if self.get_held {
            self.get_held = false;
            self.held_final = None;
            self.close_with(CloseReason::TransportError);
        }
    }

    /// A polling POST arrived with this body; `Ok` means answer `200 ok`.
    pub fn handle_push(&mut self, body: &[u8], now: Instant) -> Result<(), RequestError> {
        match self.state {
            State::Closed(_) => return Err(RequestError::UnknownSid),
            State::WebSocket => return Err(RequestError::BadRequest),
            _ => {}
        }
        if body.len() > self.config.max_payload {
            self.close_with(CloseReason::TransportError);
            return Err(RequestError::PayloadTooLarge);
        }
        for packet in payload::decode(body) {
            match packet {
                Ok(packet) => self.handle_packet(packet, now),
                Err(error) => {
                    self.fail(error);
                    return Err(RequestError::BadRequest);
                }
            }
            if self.is_closed() {
                break;
            }
        }
        Ok(())
    }

    // ---- WebSocket ----

    /// A WebSocket asks to take over this polling session. `Err` means refuse it (the glue
    /// answers the upgrade request with the error): the session is already on WebSocket or
    /// another WebSocket is upgrading it.
    pub fn handle_upgrade_request(&mut self) -> Result<(), RequestError> {
        match self.state {
            State::Polling => {
                self.state = State::Upgrading { probed: false };
                Ok(())
            }
            State::Closed(_) => Err(RequestError::UnknownSid),
            _ => Err(RequestError::BadRequest),
        }
    }

    /// A text message from the session's WebSocket (the upgrading one included).
    pub fn handle_ws_text(&mut self, text: &str, now: Instant) {
        if text.len() > self.config.max_payload {
            self.close_with(CloseReason::TransportError);
            return;
        }
        match self.state {
            State::Upgrading { probed } => self.handle_upgrade_packet(text, probed),
            State::WebSocket => match Packet::from_text(text) {
                Ok(packet) => self.handle_packet(packet, now),
                Err(error) => self.fail(error),
            },
            _ => {}
        }
    }

    /// A binary message from the session's WebSocket: a binary message packet.
    pub fn handle_ws_binary(&mut self, bytes: &[u8], now: Instant) {
        if self.state == State::WebSocket {
            if bytes.len() > self.config.max_payload {
                self.close_with(CloseReason::TransportError);
                return;
            }
            self.handle_packet(Packet::from_binary(bytes), now);
        }
    }

    /// The next packet to send on the session's WebSocket (the probe answer while upgrading,
    /// then every queued packet once upgraded).
    pub fn poll_ws_transmit(&mut self) -> Option<Encoded> {
        match self.state {
            State::Upgrading { .. } => self.probe_queue.pop_front(),
            State::WebSocket => {
                let Some(packet) = self.queue.pop_front() else {
                    release_burst(&mut self.queue);
                    return None;
                };
                self.queued_bytes -= packet.len();
                Some(packet)
            }
            _ => None,
        }
    }

    /// The session's WebSocket closed (or failed, `error`). On the active transport this ends
    /// the session; during an upgrade it only cancels the upgrade, polling goes on.
    pub fn handle_ws_closed(&mut self, error: bool) {
        match self.state {
            State::Upgrading { .. } => {
                self.state = State::Polling;
                self.probe_queue.clear();
            }
            State::WebSocket => self.close_with(if error {
                CloseReason::TransportError
            } else {
                CloseReason::TransportClose
            }),
            _ => {}
        }
    }

    /// Whether the glue should close the session's WebSocket (once everything queued for it
    /// has been taken): the session closed while on WebSocket.
    pub fn wants_websocket_close(&self) -> bool {
        self.is_closed() && self.queue.is_empty()
    }

    // ---- time ----

    /// The earliest instant [`Session::handle_timeout`] has work to do, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return self.noop_owed_until;
        }
        match (self.next_ping, self.pong_deadline) {
            (Some(a), Some(b)) => Some(if a.as_micros() <= b.as_micros() { a } else { b }),
            (a, b) => a.or(b),
        }
    }

    /// Acts on every timer due at `now`: a missed pong closes the session ("ping timeout"), a
    /// due ping is queued and starts the pong timer.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            if self
                .noop_owed_until
                .is_some_and(|until| until.as_micros() <= now.as_micros())
            {
                self.noop_owed_until = None;
            }
            return;
        }
        if self
            .pong_deadline
            .is_some_and(|deadline| deadline.as_micros() <= now.as_micros())
        {
            self.close_with(CloseReason::PingTimeout);
            return;
        }
        if let Some(due) = self
            .next_ping
            .filter(|due| due.as_micros() <= now.as_micros())
        {
            self.next_ping = None;
            self.enqueue(Encoded::new(&Packet::Ping("")));
            // Counted from when the ping was due, not from when the timer ran: a late wake-up
            // must not stretch the session past pingInterval + pingTimeout.
            self.pong_deadline = Some(due + self.config.ping_timeout);
        }
    }

    // ---- events ----

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---- internals ----

    fn handle_packet(&mut self, packet: Packet<'_>, now: Instant) {
        match packet {
            Packet::Pong(_) => {
                // Pongs are accepted whether or not a ping is outstanding, as the reference does.
                self.pong_deadline = None;
                self.next_ping = Some(now + self.config.ping_interval);
            }
            Packet::Message(data) => {
                let message = match data {
                    Data::Text(text) => Message::Text(text.into()),
                    Data::Binary(bytes) => Message::Binary(bytes.into_owned()),
                };
                self.events.push_back(Event::Message(message));
            }
            Packet::Close => {
                if self.get_held {
                    self.held_final = Some(Encoded::new(&Packet::Noop));
                } else if self.transport() == Some(Transport::Polling) {
                    self.noop_owed_until = Some(now + self.config.ping_timeout);
                }
                self.close_quietly(CloseReason::TransportClose);
            }
            // v4 pings are server-driven; open, upgrade and noop have no business on an open
            // transport: the reference server closes with "parse error".
            Packet::Ping(_) | Packet::Open(_) | Packet::Upgrade | Packet::Noop => {
                self.close_with(CloseReason::ParseError);
            }
        }
    }

    /// A packet on the upgrading WebSocket: `2probe` is answered with `3probe` (and polling is
    /// told to stop with noop), `5` completes the upgrade; anything else is ignored.
    fn handle_upgrade_packet(&mut self, text: &str, probed: bool) {
        match Packet::from_text(text) {
            Ok(Packet::Ping("probe")) => {
                self.probe_queue
                    .push_back(Encoded::new(&Packet::Pong("probe")));
                self.state = State::Upgrading { probed: true };
            }
            Ok(Packet::Upgrade) if probed => {
                // The probe answer goes first, then whatever polling had not yet delivered.
                let mut queue = core::mem::take(&mut self.probe_queue);
                self.queued_bytes += queue.iter().map(Encoded::len).sum::<usize>();
                queue.extend(self.queue.drain(..));
                self.queue = queue;
                self.state = State::WebSocket;
            }
            _ => {}
        }
    }

    fn enqueue(&mut self, packet: Encoded) {
        self.queued_bytes += packet.len();
        self.queue.push_back(packet);
    }

    fn drain_polling(&mut self) -> String {
        let body = payload::encode(self.queue.iter());
        self.queue.clear();
        release_burst(&mut self.queue);
        self.queued_bytes = 0;
        body
    }

    fn fail(&mut self, error: PacketError) {
        self.close_with(error.close_reason());
    }

    /// Closes on the server's initiative: a held GET gets the close packet.
    fn close_with(&mut self, reason: CloseReason) {
        if self.get_held && self.held_final.is_none() {
            self.held_final = Some(Encoded::new(&Packet::Close));
        }
        self.close_quietly(reason);
    }

    fn close_quietly(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        self.state = State::Closed(reason);
        self.queue.clear();
        self.queued_bytes = 0;
        self.probe_queue.clear();
        self.next_ping = None;
        self.pong_deadline = None;
        self.events.push_back(Event::Closed(reason));
    }
}

/// Packets a drained queue keeps room for: what a busy session queues between two flushes
/// (a few broadcasts and a ping). A burst (a chat's join storm queues one packet per join
/// for every session) grows the queue far beyond it; the room is given back once the queue
/// drains, so idle sessions do not keep it.
const QUEUE_KEPT: usize = 4;

/// Gives back the room of an empty `queue` grown beyond [`QUEUE_KEPT`] packets.
fn release_burst(queue: &mut VecDeque<Encoded>) {
    if queue.is_empty() && queue.capacity() > QUEUE_KEPT {
        *queue = VecDeque::new();
    }
}

fn noop_body() -> String {
    payload::encode([&Encoded::new(&Packet::Noop)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burst(session: &mut Session, packets: usize) {
        for _ in 0..packets {
            session.send(Encoded::message_text("user joined"));
        }
    }

    #[test]
    fn a_drained_burst_gives_its_queue_room_back() {
        let at = Instant::from_micros(0);
        let mut session = Session::new("s".into(), Transport::WebSocket, Config::default(), at);
        burst(&mut session, 500);
        assert!(session.queue.capacity() >= 500);
        let mut sent = 0;
        while session.poll_ws_transmit().is_some() {
            sent += 1;
        }
        assert_eq!((sent, session.queued_bytes()), (501, 0));
        assert!(session.queue.capacity() <= QUEUE_KEPT);

        let mut session = Session::new("p".into(), Transport::Polling, Config::default(), at);
        burst(&mut session, 500);
        assert!(matches!(session.handle_poll(), Ok(PollAnswer::Respond(_))));
        assert!(session.queue.capacity() <= QUEUE_KEPT);
    }

    #[test]
    fn a_small_queue_keeps_its_room() {
        let at = Instant::from_micros(0);
        let mut session = Session::new("s".into(), Transport::WebSocket, Config::default(), at);
        while session.poll_ws_transmit().is_some() {}
        burst(&mut session, 3);
        let room = session.queue.capacity();
        while session.poll_ws_transmit().is_some() {}
        assert_eq!(session.queue.capacity(), room);
        assert!(room > 0);
    }
}
