//! Engine.IO mounts: an Engine.IO v4 endpoint (bare, or with Socket.IO v5 on top) on one path
//! of the same port (`/socket.io/`, `/engine.io/`), over HTTP long-polling and WebSocket. The
//! endpoint (sans-IO, from `sio`) decides every answer; this file carries bytes. One session
//! may use several TCP connections at once (a held GET, a POST, the upgrading WebSocket); they
//! find their session by the `sid` in their query.
//!
//! ```text
//!  conn (HTTP) ── GET/POST <path>?... ──▶ Endpoint::handle_http ──▶ answer now, or hold
//!  conn (HTTP) ── GET + Upgrade ────────▶ Endpoint::handle_websocket ──▶ 101 ─▶ Ws phase
//!  conn (Ws)   ── text / binary ────────▶ Endpoint::handle_ws_* ──▶ packets out
//!  every turn: the application runs, held polls are answered, WebSocket packets sent,
//!  closes carried out
//! ```

use std::collections::HashMap;

use sio::engine::{
    CloseReason, Encoded, HttpAnswer, Method, Query, RequestError, TEXT_PLAIN, WebSocketAccept,
};
use ws::handshake::{self, EMPTY_HEADER};
use ws::{CloseCode, HttpStatus, Instant, MessageKind};

use crate::id::IdMap;
use crate::{ConnId, Net};

use super::Server;
use super::conn::{Conn, HttpConn, Phase, Route};
use super::http::EngineIoHead;

/// An Engine.IO endpoint with its application, as a mount drives it: the transport half of
/// `sio::engine::Server` / `sio::socket::Server` (bytes and time in, answers and packets out),
/// plus [`Endpoint::run_app`] to let the application act on what came in.
pub trait Endpoint {
    /// Largest polling body or WebSocket message a session accepts (`maxPayload`).
    fn max_payload(&self) -> usize;
    /// A plain HTTP request on the mount's path.
    fn handle_http(&mut self, method: Method, query: &str, body: &[u8], now: Instant)
    -> HttpAnswer;
    /// A WebSocket handshake on the mount's path.
    fn handle_websocket(
        &mut self,
        query: &str,
        now: Instant,
    ) -> Result<WebSocketAccept, RequestError>;
    /// The body for session `sid`'s held poll, once it has one.
    fn poll_held_response(&mut self, sid: &str) -> Option<String>;
    /// Session `sid`'s held poll lost its connection.
    fn handle_poll_aborted(&mut self, sid: &str, now: Instant);
    /// A text message on session `sid`'s WebSocket.
    fn handle_ws_text(&mut self, sid: &str, text: &str, now: Instant);
    /// A binary message on session `sid`'s WebSocket.
    fn handle_ws_binary(&mut self, sid: &str, bytes: &[u8], now: Instant);
    /// Session `sid`'s WebSocket closed (`error`: it failed).
    fn handle_ws_closed(&mut self, sid: &str, error: bool, now: Instant);
    /// Hands every packet for session `sid`'s WebSocket to `each`, then says whether that
    /// WebSocket should be closed (one session lookup for all of it).
    fn drain_ws(&mut self, sid: &str, each: &mut dyn FnMut(Encoded)) -> bool;
    /// The next session that may owe its transport something (packets, a held poll's answer,
    /// a close) since it was last handed out; the mount visits only these.
    fn poll_ready(&mut self) -> Option<String>;
    /// Ends session `sid` for `reason`.
    fn close_session(&mut self, sid: &str, reason: CloseReason, now: Instant);
    /// The earliest timer.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Runs the timers due at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// Lets the application act on the events so far.
    fn run_app(&mut self, now: Instant);
}

/// One mounted endpoint and which connection carries what for it.
pub(super) struct Mount {
    endpoint: Box<dyn Endpoint>,
    /// WebSocket connection -> the session it carries.
    ws: HashMap<ConnId, String>,
    /// Session -> its WebSocket connection (a list, though the endpoint gives a session one
    /// WebSocket at a time: a surplus one never carries it).
    ws_of: HashMap<String, Vec<ConnId>>,
    /// Connection holding a poll -> (session, keep the connection alive after the answer).
    held: HashMap<ConnId, (String, bool)>,
    /// Session -> the connection holding its poll.
    held_of: HashMap<String, ConnId>,
}

/// The largest request body any of `mounts` accepts (bodies up to it are read whole).
pub(super) fn max_body(mounts: &[Mount]) -> usize {
    mounts.iter().map(Mount::max_payload).max().unwrap_or(0)
}

impl Mount {
    /// The endpoint's `maxPayload`.
    pub(super) fn max_payload(&self) -> usize {
        self.endpoint.max_payload()
    }

    /// Connection `id` no longer carries session `sid`'s WebSocket.
    fn forget_ws(&mut self, sid: &str, id: ConnId) {
        if let Some(conns) = self.ws_of.get_mut(sid) {
            conns.retain(|&c| c != id);
            if conns.is_empty() {
                self.ws_of.remove(sid);
            }
        }
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
    /// Mounts an Engine.IO endpoint on `path` (for example `/socket.io/`); requests on that
    /// path (query ignored) go to it from now on.
    pub fn mount(&mut self, path: &str, endpoint: Box<dyn Endpoint>) {
        self.mount_paths.push(path.into());
        self.mounts.push(Mount {
            endpoint,
            ws: HashMap::new(),
            ws_of: HashMap::new(),
            held: HashMap::new(),
            held_of: HashMap::new(),
        });
    }

    /// Answers a request on a mount's path (`HttpStep::EngineIo`).
    pub(super) fn mount_request(
        &mut self,
        net: &mut crate::Net,
        id: ConnId,
        head: EngineIoHead,
        now: Instant,
    ) {
        let EngineIoHead {
            mount: index,
            head_len,
            body_len,
            upgrade,
            keep_alive,
        } = head;
        let next_deadline = now + self.config.handshake_timeout;
        let (Some(mount), Some(conn)) = (self.mounts.get_mut(index), self.conns.get_mut(&id))
        else {
            return;
        };
        let Phase::Http(http) = &mut conn.phase else {
            return;
        };
        let too_large =
            usize::try_from(body_len).map_or(true, |n| n > mount.endpoint.max_payload());
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
                    .endpoint
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
            match mount.endpoint.handle_websocket(&request.query, now) {
                Ok(WebSocketAccept::Session(sid)) => {
                    if http.accept_upgrade(&key) {
                        mount.ws_of.entry(sid.clone()).or_default().push(id);
                        mount.ws.insert(id, sid);
                        self.upgrade(net, id, Route::EngineIo(index), None, now);
                    }
                }
                Ok(WebSocketAccept::Surplus) => {
                    // Carries no session: its messages find none, and it is closed at once.
                    if http.accept_upgrade(&key) {
                        self.upgrade(net, id, Route::EngineIo(index), None, now);
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
            .endpoint
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
                mount.held_of.insert(sid.clone(), id);
                mount.held.insert(id, (sid, keep_alive));
            }
        }
    }

    /// A whole message on a mount's WebSocket.
    pub(super) fn mount_message(
        &mut self,
        index: usize,
        id: ConnId,
        kind: MessageKind,
        data: &[u8],
        now: Instant,
    ) {
        let Some(mount) = self.mounts.get_mut(index) else {
            return;
        };
        let Some(sid) = mount.ws.get(&id) else { return };
        match kind {
            // `ws` has checked the text is UTF-8.
            MessageKind::Text => match std::str::from_utf8(data) {
                Ok(text) => mount.endpoint.handle_ws_text(sid, text, now),
                Err(_) => mount.endpoint.handle_ws_closed(sid, true, now),
            },
            MessageKind::Binary => mount.endpoint.handle_ws_binary(sid, data, now),
        }
    }

    /// A mount's WebSocket stopped being open with `code`.
    pub(super) fn mount_ws_ended(
        &mut self,
        index: usize,
        id: ConnId,
        code: CloseCode,
        now: Instant,
    ) {
        let Some(mount) = self.mounts.get_mut(index) else {
            return;
        };
        if let Some(sid) = mount.ws.remove(&id) {
            mount.forget_ws(&sid, id);
            // Codes we fail a connection with mean the transport broke; the others (the
            // client closed, or the TCP connection went away) are a transport close.
            let error = matches!(code.0, 1002 | 1007 | 1008 | 1009 | 1011);
            mount.endpoint.handle_ws_closed(&sid, error, now);
        }
    }

    /// Connection `id` is going away: a poll held on it is aborted.
    pub(super) fn mount_conn_gone(&mut self, id: ConnId, now: Instant) {
        for mount in &mut self.mounts {
            if let Some((sid, _)) = mount.held.remove(&id) {
                mount.held_of.remove(&sid);
                mount.endpoint.handle_poll_aborted(&sid, now);
            }
        }
    }

    /// Runs the mounts' timers that are due.
    pub(super) fn mount_timers(&mut self, now: Instant) {
        for mount in &mut self.mounts {
            if mount.endpoint.poll_timeout().is_some_and(|due| due <= now) {
                mount.endpoint.handle_timeout(now);
            }
        }
    }

    /// When the mounts' next timer is due.
    pub(super) fn mount_deadline(&self) -> Option<Instant> {
        self.mounts
            .iter()
            .filter_map(|m| m.endpoint.poll_timeout())
            .min()
    }

    /// For every mount: hands the application its events, then carries out what is owed to
    /// the connections: held polls answered, WebSocket packets queued, WebSocket closes
    /// started. Connections that got output are woken ([`Net::wake`]).
    pub(super) fn mount_flush(&mut self, net: &mut Net, now: Instant) {
        let next_deadline = now + self.config.handshake_timeout;
        let queue_limit = self.config.queue_limit;
        for mount in &mut self.mounts {
            mount.endpoint.run_app(now);
            flush(mount, &mut self.conns, net, next_deadline, queue_limit);
        }
    }
}

/// Carries out what `mount` owes its connections (see [`Server::mount_flush`]), visiting
/// only the sessions the endpoint lists as ready (not every session each turn). A session's
/// WebSocket holds at most `queue_limit` bytes not yet taken by TCP, as a `/chat` connection:
/// a packet beyond it closes the WebSocket with 1008 (the session ends with "transport
/// error"); polling output is bounded by the session itself (`Config::max_buffered`).
fn flush(
    mount: &mut Mount,
    conns: &mut IdMap<Conn>,
    net: &mut Net,
    next_deadline: Instant,
    queue_limit: usize,
) {
    while let Some(sid) = mount.endpoint.poll_ready() {
        if let Some(&conn_id) = mount.held_of.get(&sid)
            && let Some(body) = mount.endpoint.poll_held_response(&sid)
        {
            mount.held_of.remove(&sid);
            let keep_alive = mount.held.remove(&conn_id).is_some_and(|(_, k)| k);
            if let Some(Phase::Http(http)) = conns.get_mut(&conn_id).map(|c| &mut c.phase) {
                http.answer_with(
                    HttpStatus::Ok,
                    TEXT_PLAIN,
                    body.as_bytes(),
                    keep_alive,
                    next_deadline,
                );
                net.wake(conn_id);
            }
        }
        let Some(ws_conns) = mount.ws_of.get(&sid) else {
            continue;
        };
        for &conn_id in ws_conns {
            let Some(conn) = conns.get_mut(&conn_id) else {
                continue;
            };
            let mut sent = false;
            let close = mount.endpoint.drain_ws(&sid, &mut |packet| {
                let (kind, data) = match &packet {
                    Encoded::Text(text) => (MessageKind::Text, text.as_bytes()),
                    Encoded::Binary(bytes) => (MessageKind::Binary, &bytes[..]),
                };
                // One copy: from the packet (shared by every recipient of a broadcast) into
                // this connection's send buffer, unless something is queued before it.
                if let Err(e) =
                    conn.send_piece((&mut *net, conn_id), kind, data, true, true, queue_limit)
                {
                    log::debug!("engine.io session {sid}: packet not sent: {e}");
                }
                sent = true;
            });
            if close {
                conn.close_ws(CloseCode::NORMAL, "");
                sent = true;
            }
            if sent {
                net.wake(conn_id);
            }
        }
    }
}
