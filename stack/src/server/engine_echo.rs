//! A bare Engine.IO v4 echo endpoint: every message goes back to its sender, text as text and
//! binary as binary. It is the server the official Engine.IO test suite expects
//! (socketio/socket.io, docs/engine.io-protocol/v4-current.md, "Test suite"; `tunws
//! --socketio-test` mounts it on `/engine.io/`), and the endpoint the stack's own tests drive.

use std::io;

use sio::engine::{
    self, CloseReason, Encoded, Event, HttpAnswer, Message, Method, RequestError, WebSocketAccept,
};
use ws::Instant;

use super::mount::Endpoint;
use super::socket_io::SessionIds;

/// The echo endpoint.
pub struct EngineEcho {
    server: engine::Server,
    ids: SessionIds,
}

impl EngineEcho {
    /// An echo server whose sessions use `config`.
    pub fn new(config: engine::Config) -> io::Result<Self> {
        Ok(EngineEcho {
            server: engine::Server::new(config),
            ids: SessionIds::from_os()?,
        })
    }
}

impl Endpoint for EngineEcho {
    fn max_payload(&self) -> usize {
        self.server.config().max_payload
    }

    fn handle_http(
        &mut self,
        method: Method,
        query: &str,
        body: &[u8],
        now: Instant,
    ) -> HttpAnswer {
        self.server
            .handle_http(method, query, body, &mut self.ids, now)
    }

    fn handle_websocket(
        &mut self,
        query: &str,
        now: Instant,
    ) -> Result<WebSocketAccept, RequestError> {
        self.server.handle_websocket(query, &mut self.ids, now)
    }

    fn poll_held_response(&mut self, sid: &str) -> Option<String> {
        self.server.poll_held_response(sid)
    }

    fn handle_poll_aborted(&mut self, sid: &str, _now: Instant) {
        self.server.handle_poll_aborted(sid);
    }

    fn handle_ws_text(&mut self, sid: &str, text: &str, now: Instant) {
        self.server.handle_ws_text(sid, text, now);
    }

    fn handle_ws_binary(&mut self, sid: &str, bytes: &[u8], now: Instant) {
        self.server.handle_ws_binary(sid, bytes, now);
    }

    fn handle_ws_closed(&mut self, sid: &str, error: bool, _now: Instant) {
        self.server.handle_ws_closed(sid, error);
    }

    fn drain_ws(&mut self, sid: &str, each: &mut dyn FnMut(Encoded)) -> bool {
        self.server.drain_ws(sid, each)
    }

    fn poll_ready(&mut self) -> Option<String> {
        self.server.poll_ready()
    }

    fn close_session(&mut self, sid: &str, reason: CloseReason, _now: Instant) {
        self.server.close(sid, reason);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
    }

    fn run_app(&mut self, _now: Instant) {
        while let Some((sid, event)) = self.server.poll_event() {
            if let Event::Message(message) = event {
                let echo = match message {
                    Message::Text(text) => Encoded::message_text(&text),
                    Message::Binary(bytes) => Encoded::Binary(bytes.into()),
                };
                self.server.send(&sid, echo);
            }
        }
    }
}
