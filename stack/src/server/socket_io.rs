//! The Socket.IO mount: Engine.IO v4 / Socket.IO v5 on one path (`/socket.io/`) of the same
//! port, over HTTP long-polling and WebSocket, with `sio`'s sans-IO server deciding every
//! answer. One Socket.IO session may use several TCP connections at once (a held GET, a POST,
//! the upgrading WebSocket); they find their session by the `sid` in their query.
//!
//! ```text
//!  conn (HTTP) ── GET/POST /socket.io/?... ──▶ sio Server::handle_http ──▶ answer now, or hold
//!  conn (HTTP) ── GET + Upgrade ─────────────▶ sio Server::handle_websocket ──▶ 101 ─▶ Ws phase
//!  conn (Ws)   ── text / binary messages ────▶ sio Server::handle_ws_* ──▶ packets out
//!  every turn: app events, held polls answered, WebSocket packets sent, closes carried out
//! ```
//!
//! The application sees `sio::socket::Event`s and answers through the `sio` server itself
//! ([`SocketIoApp::on_event`]).

use std::collections::HashMap;
use std::io;

use sio::engine::{
    CloseReason, Encoded, HttpAnswer, IdSource, Method, Query, RequestError, TEXT_PLAIN,
    WebSocketAccept,
};
use sio::socket::{self, LocalAdapter};
use ws::handshake::{self, EMPTY_HEADER};
use ws::{CloseCode, HttpStatus, Instant, MessageKind};

use crate::ConnId;
use crate::entropy::ChaCha20;

use super::Server;
use super::conn::{HttpConn, Phase, Route};
use super::http::SocketIoHead;

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

/// The mount: the `sio` server, its application, and which connection carries what.
pub struct SocketIo {
    path: String,
    io: Io,
    app: Box<dyn SocketIoApp>,
    max_payload: usize,
    /// WebSocket connection -> the session it carries.
    ws: HashMap<ConnId, String>,
    /// Connection holding a poll -> (session, keep the connection alive after the answer).
    held: HashMap<ConnId, (String, bool)>,
}

impl SocketIo {
    /// A mount on `path` (for example `/socket.io/`) with the main namespace `/`.
    pub fn new(path: &str, config: socket::Config, app: Box<dyn SocketIoApp>) -> io::Result<Self> {
        let ids = SessionIds(ChaCha20::from_os()?);
        Ok(SocketIo {
            path: path.into(),
            io: socket::Server::new(config, LocalAdapter::new(), ids),
            app,
            max_payload: config.engine.max_payload,
            ws: HashMap::new(),
            held: HashMap::new(),
        })
    }

    /// Accepts connections to namespace `nsp` too.
    pub fn add_namespace(&mut self, nsp: &str) {
        self.io.add_namespace(nsp);
    }

    /// The path it is mounted on.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The largest polling body or WebSocket message a session accepts.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }
}

/// The HTTP status for one of the mount's answers.
fn status(code: u16) -> HttpStatus {
    match code {
        200 => HttpStatus::Ok,
        403 => HttpStatus::Forbidden,
        413 => HttpStatus::ContentTooLarge,
        _ => HttpStatus::BadRequest,
    }
}

/// Answers a refused request with the reference server's status and body, and closes the
/// connection after it.
fn refuse(http: &mut HttpConn, error: RequestError, next_deadline: Instant) {
    let body = error.body();
    http.answer_with(
        status(error.status()),
        error.content_type(),
        body.as_bytes(),
        false,
        next_deadline,
    );
}

/// The parts of a request the mount needs, read again from its bytes (`ws` parsed and judged
/// them once already, in `http::decide`).
struct Request {
    method: Method,
    query: String,
    key: Option<String>,
}

fn read_request(bytes: &[u8]) -> Option<Request> {
    let mut headers = [EMPTY_HEADER; 64];
    let handshake::Status::Complete(request) =
        handshake::parse_request(bytes, &mut headers).ok()?
    else {
        return None;
    };
    let method = match request.method() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        _ => Method::Other,
    };
    let query = request
        .path()
        .split_once('?')
        .map_or("", |(_, q)| q)
        .to_string();
    let key = handshake::validate_upgrade(&request)
        .ok()
        .map(|u| u.key().to_string());
    Some(Request { method, query, key })
}

impl Server {
    /// Mounts Socket.IO; its path is routed to it from now on.
    pub fn socket_io(&mut self, mount: SocketIo) {
        self.socket_io = Some(mount);
    }

    /// Answers a request on the Socket.IO path (`HttpStep::SocketIo`).
    pub(super) fn socket_io_request(
        &mut self,
        net: &mut crate::Net,
        id: ConnId,
        head: SocketIoHead,
        now: Instant,
    ) {
        let SocketIoHead {
            head_len,
            body_len,
            upgrade,
            keep_alive,
        } = head;
        let next_deadline = now + self.config.handshake_timeout;
        let (Some(mount), Some(conn)) = (self.socket_io.as_mut(), self.conns.get_mut(&id)) else {
            return;
        };
        let Phase::Http(http) = &mut conn.phase else {
            return;
        };
        let too_large = usize::try_from(body_len).map_or(true, |n| n > mount.max_payload);
        let body = if too_large { 0 } else { body_len as usize };
        let bytes = http.take(head_len + body);
        let Some(request) = read_request(&bytes) else {
            http.answer_with(
                HttpStatus::BadRequest,
                TEXT_PLAIN,
                b"",
                false,
                next_deadline,
            );
            return;
        };
        if too_large {
            // The body stays unread: answer 413 and close this connection; the session the
            // request named ends with "transport error", as the reference server does.
            if let Some(sid) = Query::parse(&request.query).sid {
                mount
                    .io
                    .close_session(sid, CloseReason::TransportError, now);
            }
            refuse(http, RequestError::PayloadTooLarge, next_deadline);
            return;
        }
        if upgrade {
            // `http::decide` validated the handshake, so the key is there.
            let Some(key) = request.key else {
                refuse(http, RequestError::BadRequest, next_deadline);
                return;
            };
            match mount.io.handle_websocket(&request.query, now) {
                Ok(WebSocketAccept::Session(sid)) => {
                    if http.accept_upgrade(&key) {
                        mount.ws.insert(id, sid);
                        self.upgrade(net, id, Route::SocketIo, now);
                    }
                }
                Ok(WebSocketAccept::Surplus) => {
                    // Carries no session: its messages find none, and it is closed at once.
                    if http.accept_upgrade(&key) {
                        self.upgrade(net, id, Route::SocketIo, now);
                        if let Some(conn) = self.conns.get_mut(&id) {
                            conn.close_ws(CloseCode::NORMAL, "");
                        }
                    }
                }
                Err(error) => refuse(http, error, next_deadline),
            }
            return;
        }
        match mount
            .io
            .handle_http(request.method, &request.query, &bytes[head_len..], now)
        {
            HttpAnswer::Respond {
                status: code,
                content_type,
                body,
            } => {
                http.answer_with(
                    status(code),
                    content_type,
                    body.as_bytes(),
                    keep_alive,
                    next_deadline,
                );
            }
            HttpAnswer::Hold { sid } => {
                http.hold();
                mount.held.insert(id, (sid, keep_alive));
            }
        }
    }

    /// A whole message on a Socket.IO WebSocket.
    pub(super) fn socket_io_message(
        &mut self,
        id: ConnId,
        kind: MessageKind,
        data: &[u8],
        now: Instant,
    ) {
        let Some(mount) = self.socket_io.as_mut() else {
            return;
        };
        let Some(sid) = mount.ws.get(&id) else { return };
        match kind {
            // `ws` has checked the text is UTF-8.
            MessageKind::Text => match std::str::from_utf8(data) {
                Ok(text) => mount.io.handle_ws_text(sid, text, now),
                Err(_) => mount.io.handle_ws_closed(sid, true, now),
            },
            MessageKind::Binary => mount.io.handle_ws_binary(sid, data, now),
        }
    }

    /// A Socket.IO WebSocket stopped being open with `code`.
    pub(super) fn socket_io_ws_ended(&mut self, id: ConnId, code: CloseCode, now: Instant) {
        let Some(mount) = self.socket_io.as_mut() else {
            return;
        };
        if let Some(sid) = mount.ws.remove(&id) {
            // Codes we fail a connection with mean the transport broke; the others (the
            // client closed, or the TCP connection went away) are a transport close.
            let error = matches!(code.0, 1002 | 1007 | 1008 | 1009 | 1011);
            mount.io.handle_ws_closed(&sid, error, now);
        }
    }

    /// Connection `id` is going away: a poll held on it is aborted.
    pub(super) fn socket_io_conn_gone(&mut self, id: ConnId, now: Instant) {
        let Some(mount) = self.socket_io.as_mut() else {
            return;
        };
        if let Some((sid, _)) = mount.held.remove(&id) {
            mount.io.handle_poll_aborted(&sid, now);
        }
    }

    /// Runs the mount's timers if due.
    pub(super) fn socket_io_timers(&mut self, now: Instant) {
        let Some(mount) = self.socket_io.as_mut() else {
            return;
        };
        if mount.io.poll_timeout().is_some_and(|due| due <= now) {
            mount.io.handle_timeout(now);
        }
    }

    /// When the mount's next timer is due.
    pub(super) fn socket_io_deadline(&self) -> Option<Instant> {
        self.socket_io.as_ref()?.io.poll_timeout()
    }

    /// Hands the application its events, then carries out what is owed to the connections:
    /// held polls answered, WebSocket packets queued, WebSocket closes started. Connections
    /// that got output are marked touched.
    pub(super) fn socket_io_flush(&mut self, now: Instant) {
        let Some(mount) = self.socket_io.as_mut() else {
            return;
        };
        while let Some(event) = mount.io.poll_event() {
            mount.app.on_event(&mut mount.io, event, now);
        }
        let next_deadline = now + self.config.handshake_timeout;
        let mut answered = Vec::new();
        for (&conn_id, (sid, keep_alive)) in &mount.held {
            let Some(body) = mount.io.poll_held_response(sid) else {
                continue;
            };
            if let Some(Phase::Http(http)) = self.conns.get_mut(&conn_id).map(|c| &mut c.phase) {
                http.answer_with(
                    HttpStatus::Ok,
                    TEXT_PLAIN,
                    body.as_bytes(),
                    *keep_alive,
                    next_deadline,
                );
                self.touched.push(conn_id);
            }
            answered.push(conn_id);
        }
        for conn_id in answered {
            mount.held.remove(&conn_id);
        }
        for (&conn_id, sid) in &mount.ws {
            let Some(conn) = self.conns.get_mut(&conn_id) else {
                continue;
            };
            let mut sent = false;
            while let Some(packet) = mount.io.poll_ws_transmit(sid) {
                let (kind, data) = match &packet {
                    Encoded::Text(text) => (MessageKind::Text, text.as_bytes()),
                    Encoded::Binary(bytes) => (MessageKind::Binary, bytes.as_slice()),
                };
                // The session bounds what it queues (heartbeat closes a client that stops
                // reading); the connection's own bound does not apply.
                if let Err(e) = conn.send_piece(kind, data, true, true, usize::MAX) {
                    log::debug!("socket.io session {sid}: packet not sent: {e}");
                }
                sent = true;
            }
            if mount.io.wants_websocket_close(sid) {
                conn.close_ws(CloseCode::NORMAL, "");
                sent = true;
            }
            if sent {
                self.touched.push(conn_id);
            }
        }
    }
}
