//! One accepted TCP connection on the server: HTTP requests until an upgrade, then a
//! WebSocket, then the TCP close.
//!
//! ```text
//!   accept ──▶ Http ──(101)──▶ Ws ──(close handshake done, flushed)──▶ Closing ──▶ gone
//!               │ error / Connection: close / timeout                     ▲
//!               └──────────────────────────(response flushed)─────────────┘
//! ```

use std::net::SocketAddr;

use ws::{CloseCode, Instant, MessageKind};

use crate::net;
use crate::{ConnId, Net, RecvError};

use super::app::{OVERLOADED, SendError};
use super::http::{self, Decision, EngineIoHead, Site};
use crate::session::{OutQueue, Session};

/// Request head bytes kept before answering 431: `ws`'s own head limit plus one byte, so
/// its limit is the one that fires.
const MAX_HEAD: usize = ws::handshake::ParseLimits::DEFAULT.max_head + 1;

/// A server connection.
pub(crate) struct Conn {
    pub(super) peer: SocketAddr,
    pub(super) phase: Phase,
    /// The deadline under which this connection sits in the server's timer set.
    pub(super) timer: Option<Instant>,
}

/// Where a connection is in its life (see the module doc).
pub(crate) enum Phase {
    /// Reading request heads; plain requests are answered, an upgrade moves to `Ws`.
    Http(HttpConn),
    /// A WebSocket on route `route`. Boxed: a session is several times the size of the
    /// other phases, and most connections of a browser-heavy load are plain HTTP.
    Ws(Box<WsConn>),
    /// Our FIN is queued; input is read and discarded until the stack reports the socket
    /// gone, or `deadline` passes and the connection is aborted.
    Closing { deadline: Instant },
}

/// The HTTP phase: bytes of the request head so far and the responses not yet sent.
pub(crate) struct HttpConn {
    buf: Vec<u8>,
    out: OutQueue,
    /// Drop the connection if no complete request has arrived by then (slow or silent
    /// clients, and the spare connections browsers open and never use).
    pub(super) deadline: Instant,
    /// Close once `out` is flushed (error answered, `Connection: close`, or peer's FIN).
    close_after: bool,
    /// An Engine.IO poll is held open on this connection: nothing more is parsed until the
    /// mount answers it, and the handshake deadline does not apply.
    pub(super) held: bool,
    /// Bytes an Engine.IO request with a body needs in `buf` (head and body), 0 otherwise.
    want: usize,
}

/// What the HTTP phase stopped at.
pub(crate) enum HttpStep {
    /// Nothing more until bytes arrive, the socket drains or the deadline passes.
    Idle,
    /// Everything owed was sent; close the TCP connection.
    Close,
    /// The 101 is queued; switch to WebSocket on this route. The rest of `buf` is frames.
    Upgrade {
        route: usize,
        deflate: Option<ws::deflate::Agreement>,
    },
    /// `GET /stats`: the server answers with [`HttpConn::answer`], then steps again.
    Stats { keep_alive: bool, head_only: bool },
    /// A whole request on an Engine.IO mount's path is at the front of the buffer (its body
    /// too, unless it is over `max_body`): the mount answers it (`server/mount.rs`).
    EngineIo(EngineIoHead),
    /// The peer reset the connection.
    Reset,
}

impl HttpConn {
    /// A connection that has sent nothing yet.
    pub(crate) fn new(deadline: Instant) -> Self {
        HttpConn {
            buf: Vec::new(),
            out: OutQueue::new(),
            deadline,
            close_after: false,
            held: false,
            want: 0,
        }
    }

    /// Answers every complete request buffered, reads more, repeats until blocked.
    pub(crate) fn step(
        &mut self,
        net: &mut Net,
        id: ConnId,
        site: &Site<'_>,
        next_deadline: Instant,
        trace: bool,
        max_body: usize,
    ) -> HttpStep {
        let mut chunk = [0u8; MAX_HEAD];
        loop {
            match self.out.drain_into(|b| net.send(id, b)) {
                Ok(_) => {}
                Err(net::SendError::Reset) => return HttpStep::Reset,
                Err(_) => return HttpStep::Close,
            }
            if !self.out.is_empty() {
                // Backpressure: answer the next request only once this answer is sent.
                return HttpStep::Idle;
            }
            if self.close_after {
                return HttpStep::Close;
            }
            if !self.buf.is_empty() && !self.held {
                let decision = http::decide(&self.buf, site, &mut self.out);
                if trace && decision != Decision::Partial {
                    trace_request(id, &self.buf, decision);
                }
                match decision {
                    Decision::Responded {
                        head_len,
                        keep_alive,
                    } => {
                        self.buf.drain(..head_len);
                        self.close_after = !keep_alive;
                        self.deadline = next_deadline;
                        continue;
                    }
                    Decision::Refused(status) => {
                        log::debug!("connection {id}: refused with {}", status.code());
                        self.buf.clear();
                        self.close_after = true;
                        continue;
                    }
                    Decision::Upgrade {
                        route,
                        head_len,
                        deflate,
                    } => {
                        self.buf.drain(..head_len);
                        return HttpStep::Upgrade { route, deflate };
                    }
                    Decision::Stats {
                        head_len,
                        keep_alive,
                        head_only,
                    } => {
                        self.buf.drain(..head_len);
                        self.close_after = !keep_alive;
                        self.deadline = next_deadline;
                        return HttpStep::Stats {
                            keep_alive,
                            head_only,
                        };
                    }
                    Decision::EngineIo(head) => {
                        let body = usize::try_from(head.body_len).unwrap_or(usize::MAX);
                        if body > max_body || self.buf.len() - head.head_len >= body {
                            self.want = 0;
                            return HttpStep::EngineIo(head);
                        }
                        self.want = head.head_len + body;
                    }
                    Decision::Partial if self.buf.len() >= MAX_HEAD => {
                        // ws reports an over-long head itself; this guards our buffer bound.
                        self.buf.clear();
                        http::refuse(ws::HttpStatus::RequestHeaderFieldsTooLarge, &mut self.out);
                        self.close_after = true;
                        continue;
                    }
                    Decision::Partial => {}
                }
            }
            let room = MAX_HEAD
                .max(self.want)
                .saturating_sub(self.buf.len())
                .min(chunk.len());
            if room == 0 {
                // Only a held poll's connection gets here (a full head is answered or refused
                // above): its client pipelined more than a head; it waits for the answer.
                return HttpStep::Idle;
            }
            match net.recv(id, &mut chunk[..room]) {
                Ok(0) => return HttpStep::Idle,
                // A held poll's client gave up: there is nobody to answer.
                Err(RecvError::Closed) if self.held => return HttpStep::Close,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                // The peer finished sending: answer what it asked, then close.
                Err(RecvError::Closed) => self.close_after = true,
                Err(RecvError::Reset) => return HttpStep::Reset,
                Err(_) => return HttpStep::Close,
            }
        }
    }

    /// Queues a `200 OK` with `body` (the server's answer to [`HttpStep::Stats`]).
    pub(crate) fn answer(
        &mut self,
        content_type: &str,
        body: &[u8],
        keep_alive: bool,
        head_only: bool,
    ) {
        if let Err(status) = http::respond(content_type, body, keep_alive, head_only, &mut self.out)
        {
            http::refuse(status, &mut self.out);
            self.close_after = true;
        }
    }

    /// Queues a response with any status (an Engine.IO answer); `keep_alive` false closes the
    /// connection after it. The next request has until `next_deadline`.
    pub(crate) fn answer_with(
        &mut self,
        status: ws::HttpStatus,
        content_type: &str,
        body: &[u8],
        keep_alive: bool,
        next_deadline: Instant,
    ) {
        self.held = false;
        self.deadline = next_deadline;
        if let Err(status) =
            http::respond_with(status, content_type, body, keep_alive, false, &mut self.out)
        {
            http::refuse(status, &mut self.out);
            self.close_after = true;
        }
        self.close_after |= !keep_alive;
    }

    /// Queues the 101 for a WebSocket handshake on a mount's path that the mount accepted;
    /// `false` if it could not be written (the connection is then refused with 400).
    pub(crate) fn accept_upgrade(&mut self, key: &str) -> bool {
        match http::accept(key, None, &mut self.out) {
            Ok(()) => true,
            Err(status) => {
                http::refuse(status, &mut self.out);
                self.close_after = true;
                false
            }
        }
    }

    /// The first `len` bytes of the buffer (a whole request), removed.
    pub(crate) fn take(&mut self, len: usize) -> Vec<u8> {
        let len = len.min(self.buf.len());
        self.buf.drain(..len).collect()
    }

    /// Keeps this connection open, unanswered, for a held poll.
    pub(crate) fn hold(&mut self) {
        self.held = true;
    }

    /// Turns this connection into a WebSocket: the 101 queued so far and the bytes after the
    /// request head go to the session.
    pub(crate) fn into_session(self, ws: ws::Connection) -> Session {
        Session::new(ws, &self.buf, self.out)
    }
}

/// Logs a request line and the answer to it (`--trace`). The line is shown as received, not
/// parsed again: `ws` already judged it.
fn trace_request(id: ConnId, buf: &[u8], decision: Decision) {
    let line_end = buf
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(buf.len())
        .min(200);
    let line = String::from_utf8_lossy(&buf[..line_end]);
    let answer = match decision {
        Decision::Responded { keep_alive, .. } => format!("200 OK (keep-alive: {keep_alive})"),
        Decision::Refused(status) => format!("{} {}, closing", status.code(), status.reason()),
        Decision::Upgrade { .. } => "101 Switching Protocols: now WebSocket".to_string(),
        Decision::Stats { keep_alive, .. } => format!("200 OK stats (keep-alive: {keep_alive})"),
        Decision::EngineIo(_) => "to the Engine.IO mount".to_string(),
        Decision::Partial => return,
    };
    log::info!("conn {id} http {line:?} -> {answer}");
}

/// Who a WebSocket's messages go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The [`super::App`] registered at this index.
    App(usize),
    /// The Engine.IO mount at this index (the session id is in the mount's table).
    EngineIo(usize),
}

/// The WebSocket phase.
pub(crate) struct WsConn {
    pub(super) session: Session,
    pub(super) route: Route,
    /// The app has been told `on_open` and not yet `on_close`.
    pub(super) open: bool,
    /// Give up on the close handshake (close TCP anyway) at this instant.
    pub(super) close_deadline: Option<Instant>,
}

impl Conn {
    /// A freshly accepted connection.
    pub(crate) fn new(peer: SocketAddr, deadline: Instant) -> Self {
        Conn {
            peer,
            phase: Phase::Http(HttpConn::new(deadline)),
            timer: None,
        }
    }

    /// The next instant this connection needs attention without any I/O.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Http(http) => (!http.held).then_some(http.deadline),
            Phase::Ws(ws) => match (ws.session.poll_timeout(), ws.close_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            Phase::Closing { deadline } => Some(*deadline),
        }
    }

    /// Sends a message piece if this is an open WebSocket (see [`super::Outbox::send_piece`]):
    /// the frame goes straight into the TCP send buffer of this connection (`to`: the stack and
    /// its id) while nothing is queued before it, so its bytes are copied once, from `data`;
    /// what does not fit is queued ([`Session::send_piece`]). The Outbox and the Socket.IO mount both send through here.
    /// Refused (the connection closed with [`OVERLOADED`]) when the queue already holds
    /// something and `data` would take it past `queue_limit`.
    pub(crate) fn send_piece(
        &mut self,
        to: (&mut Net, ConnId),
        kind: MessageKind,
        data: &[u8],
        first: bool,
        fin: bool,
        queue_limit: usize,
    ) -> Result<(), SendError> {
        let Phase::Ws(ws) = &mut self.phase else {
            return Err(SendError::NotOpen);
        };
        if !ws.open || ws.session.end_code().is_some() {
            return Err(SendError::NotOpen);
        }
        let queued = ws.session.queued();
        if queued > 0 && queued.saturating_add(data.len()) > queue_limit {
            ws.session.close(OVERLOADED, "too slow: send queue full");
            return Err(SendError::Overloaded);
        }
        ws.session
            .send_piece(Some(to), kind, data, first, fin)
            .map_err(|e| match e {
                ws::SendError::FragmentOrder => SendError::PieceOrder,
                _ => SendError::NotOpen,
            })
    }

    /// Bytes queued and not yet in the TCP send buffer, if this is an open WebSocket.
    pub(crate) fn queued(&self) -> Option<usize> {
        match &self.phase {
            Phase::Ws(ws) if ws.open => Some(ws.session.queued()),
            _ => None,
        }
    }

    /// Starts the close handshake if this is an open WebSocket.
    pub(crate) fn close_ws(&mut self, code: CloseCode, reason: &str) {
        if let Phase::Ws(ws) = &mut self.phase {
            ws.session.close(code, reason);
        }
    }
}
