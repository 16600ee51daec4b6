//! The Socket.IO endpoint: `sio`'s Socket.IO v5 server and the application that drives it,
//! mounted on a path with [`super::Server::mount`] (see mount.rs for the transport side).
//!
//! The application sees `sio::socket::Event`s and answers through the `sio` server itself
//! ([`SocketIoApp::on_event`]).

use std::io;

use sio::engine::{
    CloseReason, Encoded, HttpAnswer, IdSource, Method, RequestError, WebSocketAccept,
};
use sio::socket::{self, LocalAdapter};
use ws::Instant;

use crate::entropy::ChaCha20;

use super::mount::Endpoint;

/// The Socket.IO server type the application drives.
pub type Io = socket::Server<LocalAdapter, SessionIds>;

/// An application on the Socket.IO mount (`io.on("connection", ...)` and the rest).
pub trait SocketIoApp {
    /// Something happened; answer through `io` (emit, broadcast, ack, join, ...).
    fn on_event(&mut self, io: &mut Io, event: socket::Event, now: Instant);
}

/// Session and socket ids: 20 characters of URL-safe base64 over 15 bytes of ChaCha20 output
/// keyed by the OS (the reference server's ids are 20 characters too). A session id is a
/// credential: whoever has it can poll and push on the session.
pub struct SessionIds(ChaCha20);

impl IdSource for SessionIds {
    fn next_id(&mut self) -> String {
        use base64::Engine as _;
        let mut bytes = [0u8; 15];
        self.0.fill(&mut bytes);
        let mut text = [0u8; 20];
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(bytes, &mut text)
            .unwrap_or(0);
        String::from_utf8_lossy(&text[..n]).into_owned()
    }
}

impl SessionIds {
    /// Ids from a generator keyed by the operating system.
    pub fn from_os() -> io::Result<Self> {
        Ok(SessionIds(ChaCha20::from_os()?))
    }
}

/// The Socket.IO endpoint: the `sio` server and its application.
pub struct SocketIo {
    io: Io,
    app: Box<dyn SocketIoApp>,
    max_payload: usize,
}

impl SocketIo {
    /// A Socket.IO server with the main namespace `/`, driven by `app`.
    pub fn new(config: socket::Config, app: Box<dyn SocketIoApp>) -> io::Result<Self> {
        Ok(SocketIo {
            io: socket::Server::new(config, LocalAdapter::new(), SessionIds::from_os()?),
            app,
            max_payload: config.engine.max_payload,
        })
    }

    /// Accepts connections to namespace `nsp` too.
    pub fn add_namespace(&mut self, nsp: &str) {
        self.io.add_namespace(nsp);
    }
}

impl Endpoint for SocketIo {
    fn max_payload(&self) -> usize {
        self.max_payload
    }

    fn handle_http(
        &mut self,
        method: Method,
        query: &str,
        body: &[u8],
        now: Instant,
    ) -> HttpAnswer {
        self.io.handle_http(method, query, body, now)
    }

    fn handle_websocket(
        &mut self,
        query: &str,
        now: Instant,
    ) -> Result<WebSocketAccept, RequestError> {
        self.io.handle_websocket(query, now)
    }

    fn poll_held_response(&mut self, sid: &str) -> Option<String> {
        self.io.poll_held_response(sid)
    }

    fn handle_poll_aborted(&mut self, sid: &str, now: Instant) {
        self.io.handle_poll_aborted(sid, now);
    }

    fn handle_ws_text(&mut self, sid: &str, text: &str, now: Instant) {
        self.io.handle_ws_text(sid, text, now);
    }

    fn handle_ws_binary(&mut self, sid: &str, bytes: &[u8], now: Instant) {
        self.io.handle_ws_binary(sid, bytes, now);
    }

    fn handle_ws_closed(&mut self, sid: &str, error: bool, now: Instant) {
        self.io.handle_ws_closed(sid, error, now);
    }

    fn poll_ws_transmit(&mut self, sid: &str) -> Option<Encoded> {
        self.io.poll_ws_transmit(sid)
    }

    fn wants_websocket_close(&self, sid: &str) -> bool {
        self.io.wants_websocket_close(sid)
    }

    fn poll_ready(&mut self) -> Option<String> {
        self.io.poll_ready()
    }

    fn close_session(&mut self, sid: &str, reason: CloseReason, now: Instant) {
        self.io.close_session(sid, reason, now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.io.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.io.handle_timeout(now);
    }

    fn run_app(&mut self, now: Instant) {
        while let Some(event) = self.io.poll_event() {
            self.app.on_event(&mut self.io, event, now);
        }
    }
}
