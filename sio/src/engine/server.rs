//! The Engine.IO server: the table of sessions behind one path (`/engine.io/`,
//! `/socket.io/`), sans-IO. The glue parses HTTP and WebSocket; this decides every answer.
//!
//! - An HTTP request: [`Server::handle_http`] answers now ([`HttpAnswer::Respond`]) or holds a
//!   poll ([`HttpAnswer::Hold`]); [`Server::poll_held_response`] gives the held poll's body
//!   later, [`Server::handle_poll_aborted`] says its connection went away.
//! - A WebSocket upgrade request: [`Server::handle_websocket`] accepts it (a new session, or
//!   the upgrade of a polling one) or refuses it; then [`Server::handle_ws_text`] /
//!   [`Server::handle_ws_binary`] in, [`Server::poll_ws_transmit`] out,
//!   [`Server::wants_websocket_close`], [`Server::handle_ws_closed`].
//! - Time: [`Server::poll_timeout`], [`Server::handle_timeout`].
//! - The application: [`Server::poll_event`] (messages and closes, by session id),
//!   [`Server::send`], [`Server::close`].
//!
//! Session ids come from the caller ([`IdSource`]): this crate has no randomness.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;

use ws::Instant;

use super::Encoded;
use super::error::{CloseReason, RequestError};
use super::request::{self, Method, Query, Route, Transport};
use super::session::{Config, Event, PollAnswer, Session};

/// Where session ids come from: unguessable strings (a session id is a credential: whoever
/// knows it can poll and push on the session), unique among live sessions.
pub trait IdSource {
    /// A fresh id.
    fn next_id(&mut self) -> String;
}

impl<F: FnMut() -> String> IdSource for F {
    fn next_id(&mut self) -> String {
        self()
    }
}

/// The answer to an Engine.IO HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpAnswer {
    /// Answer now.
    Respond {
        /// HTTP status.
        status: u16,
        /// `Content-Type` of the body.
        content_type: &'static str,
        /// The body.
        body: String,
    },
    /// A poll held open for session `sid`: ask [`Server::poll_held_response`] after each input.
    Hold {
        /// The session whose poll this is.
        sid: String,
    },
}

impl HttpAnswer {
    fn ok(body: String) -> HttpAnswer {
        HttpAnswer::Respond {
            status: 200,
            content_type: TEXT_PLAIN,
            body,
        }
    }

    /// The answer to a refused request: its status and JSON body.
    pub fn refused(error: RequestError) -> HttpAnswer {
        let content_type = if error.code().is_some() {
            "application/json"
        } else {
            TEXT_PLAIN
        };
        HttpAnswer::Respond {
            status: error.status(),
            content_type,
            body: error.body(),
        }
    }
}

/// A WebSocket handshake the server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebSocketAccept {
    /// The WebSocket now carries session `sid` (a new one, or the polling session it
    /// upgrades).
    Session(String),
    /// A second WebSocket for a session that already has one (upgraded or upgrading): as the
    /// reference server does, complete its handshake and close it at once; the session is not
    /// disturbed.
    Surplus,
}

/// `Content-Type` of polling bodies.
pub const TEXT_PLAIN: &str = "text/plain; charset=UTF-8";

/// A live session's place in the [`Server`]'s table, for the layer above to address it
/// without looking its id up ([`Server::send_to`]: a broadcast's delivery costs no search).
/// A key outlives its session harmlessly: the slot's generation changes when the session is
/// dropped, and a key of an older generation reaches nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionKey {
    index: usize,
    generation: u32,
}

/// One place in the table: a session, or a free place; `generation` counts the sessions
/// dropped from it.
#[derive(Debug)]
struct Slot {
    generation: u32,
    session: Option<Session>,
}

/// Every live Engine.IO session of one path.
#[derive(Debug)]
pub struct Server {
    config: Config,
    /// The sessions, in places reused once free (`free`); the id names the place (`by_sid`).
    slots: Vec<Slot>,
    free: Vec<usize>,
    by_sid: BTreeMap<String, usize>,
    /// Sessions (places) that may have events to hand out.
    touched: BTreeSet<usize>,
    /// Sessions (places) that may owe their transport something (packets, a held poll's
    /// answer, a close), each listed once (`Session::listed_ready`): the glue visits these
    /// instead of every session each turn.
    ready: Vec<usize>,
    /// Sessions dropped from the table since the glue last asked: it still has to close
    /// their WebSocket ([`Server::drain_ws`] says so for an unknown id).
    dropped: Vec<String>,
}

impl Server {
    /// A server whose sessions use `config`.
    pub fn new(config: Config) -> Server {
        Server {
            config,
            slots: Vec::new(),
            free: Vec::new(),
            by_sid: BTreeMap::new(),
            touched: BTreeSet::new(),
            ready: Vec::new(),
            dropped: Vec::new(),
        }
    }

    /// The session parameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Live sessions (closed ones are dropped once their events are taken).
    pub fn len(&self) -> usize {
        self.by_sid.len()
    }

    /// Whether no session lives.
    pub fn is_empty(&self) -> bool {
        self.by_sid.is_empty()
    }

    /// A session by id.
    pub fn session(&self, sid: &str) -> Option<&Session> {
        let index = *self.by_sid.get(sid)?;
        self.slots[index].session.as_ref()
    }

    /// The key of session `sid`, while it lives.
    pub fn key(&self, sid: &str) -> Option<SessionKey> {
        let index = *self.by_sid.get(sid)?;
        Some(SessionKey {
            index,
            generation: self.slots[index].generation,
        })
    }

    /// A plain HTTP request on the Engine.IO path: its method, query string and body.
    pub fn handle_http(
        &mut self,
        method: Method,
        query: &str,
        body: &[u8],
        ids: &mut impl IdSource,
        now: Instant,
    ) -> HttpAnswer {
        let query = Query::parse(query);
        let route = request::route(method, &query, false, |sid| self.live_transport(sid));
        let answer = match route {
            Ok(Route::Handshake(_)) => {
                let sid = self.open(Transport::Polling, ids, now);
                self.with_session(&sid, Session::handle_poll)
            }
            Ok(Route::Poll(sid)) => self.with_session(sid, Session::handle_poll),
            Ok(Route::Push(sid)) => self
                .with_session(sid, |session| session.handle_push(body, now))
                .map(|()| PollAnswer::Respond("ok".into())),
            // Only reachable with `upgrade`, which a plain request is not.
            Ok(Route::Upgrade(_)) => Err(RequestError::BadRequest),
            Err(error) => Err(error),
        };
        match answer {
            Ok(PollAnswer::Respond(body)) => HttpAnswer::ok(body),
            Ok(PollAnswer::Hold) => HttpAnswer::Hold {
                sid: query.sid.map(String::from).unwrap_or_default(),
            },
            Err(error) => HttpAnswer::refused(error),
        }
    }

    /// A WebSocket upgrade request on the Engine.IO path: what to do with the WebSocket, or
    /// the refusal (answered with its HTTP status instead of a 101).
    pub fn handle_websocket(
        &mut self,
        query: &str,
        ids: &mut impl IdSource,
        now: Instant,
    ) -> Result<WebSocketAccept, RequestError> {
        let query = Query::parse(query);
        match request::route(Method::Get, &query, true, |sid| self.live_transport(sid))? {
            Route::Handshake(_) => Ok(WebSocketAccept::Session(self.open(
                Transport::WebSocket,
                ids,
                now,
            ))),
            Route::Upgrade(sid) => match self.with_session(sid, Session::handle_upgrade_request) {
                Ok(()) => Ok(WebSocketAccept::Session(sid.into())),
                Err(RequestError::BadRequest) => Ok(WebSocketAccept::Surplus),
                Err(error) => Err(error),
            },
            Route::Poll(_) | Route::Push(_) => Err(RequestError::BadRequest),
        }
    }

    /// The body for session `sid`'s held poll, when it has one.
    pub fn poll_held_response(&mut self, sid: &str) -> Option<String> {
        self.find_mut(sid)?.1.poll_held_response()
    }

    /// Session `sid`'s held poll lost its connection.
    pub fn handle_poll_aborted(&mut self, sid: &str) {
        self.touch(sid, Session::handle_poll_aborted);
    }

    /// A text message on session `sid`'s WebSocket.
    pub fn handle_ws_text(&mut self, sid: &str, text: &str, now: Instant) {
        self.touch(sid, |session| session.handle_ws_text(text, now));
    }

    /// A binary message on session `sid`'s WebSocket.
    pub fn handle_ws_binary(&mut self, sid: &str, bytes: &[u8], now: Instant) {
        self.touch(sid, |session| session.handle_ws_binary(bytes, now));
    }

    /// Session `sid`'s WebSocket closed (`error`: it failed).
    pub fn handle_ws_closed(&mut self, sid: &str, error: bool) {
        self.touch(sid, |session| session.handle_ws_closed(error));
    }

    /// The next packet for session `sid`'s WebSocket.
    pub fn poll_ws_transmit(&mut self, sid: &str) -> Option<Encoded> {
        self.find_mut(sid)?.1.poll_ws_transmit()
    }

    /// Hands every packet queued for session `sid`'s WebSocket to `each`, in order, then says
    /// whether that WebSocket should be closed (the session is over or unknown): what
    /// [`Server::poll_ws_transmit`] until `None` and then [`Server::wants_websocket_close`]
    /// do, with one session lookup instead of one per packet and one more.
    pub fn drain_ws(&mut self, sid: &str, mut each: impl FnMut(Encoded)) -> bool {
        let Some((_, session)) = self.find_mut(sid) else {
            return true;
        };
        while let Some(packet) = session.poll_ws_transmit() {
            each(packet);
        }
        session.wants_websocket_close()
    }

    /// Whether session `sid`'s WebSocket should be closed (the session is over or unknown).
    pub fn wants_websocket_close(&self, sid: &str) -> bool {
        self.session(sid).is_none_or(Session::wants_websocket_close)
    }

    /// Queues a message for session `sid` (ignored if it is gone). A session whose queue bound
    /// the message would pass closes ([`Session::send`]); its close is then an event.
    pub fn send(&mut self, sid: &str, message: Encoded) {
        if let Some(&index) = self.by_sid.get(sid) {
            self.send_at(index, message);
        }
    }

    /// [`Server::send`] to the session `key` names (ignored if it is gone).
    pub fn send_to(&mut self, key: SessionKey, message: Encoded) {
        if self
            .slots
            .get(key.index)
            .is_some_and(|slot| slot.generation == key.generation)
        {
            self.send_at(key.index, message);
        }
    }

    fn send_at(&mut self, index: usize, message: Encoded) {
        if let Some(session) = self.slots[index].session.as_mut() {
            session.send(message);
            list_ready(&mut self.ready, index, session);
            // Only a close is news: touching on every send would cost a broadcast an
            // insertion per session.
            if session.is_closed() {
                self.touched.insert(index);
            }
        }
    }

    /// The next session that may owe its transport something since it was last handed out:
    /// packets queued, its held poll answerable, its WebSocket to close. Every change that can
    /// make [`Server::poll_held_response`], [`Server::poll_ws_transmit`] or
    /// [`Server::wants_websocket_close`] answer differently lists the session here.
    pub fn poll_ready(&mut self) -> Option<String> {
        if let Some(sid) = self.dropped.pop() {
            return Some(sid);
        }
        while let Some(index) = self.ready.pop() {
            // A place freed since it was listed names no session (its id is in `dropped`)
            // or a newer one, which listed itself when it opened.
            if let Some(session) = self.slots[index].session.as_mut() {
                session.listed_ready = false;
                return Some(session.sid().into());
            }
        }
        None
    }

    /// Closes session `sid` from the server side for `reason` (the application's
    /// [`CloseReason::ForcedClose`], or the layer above's parse error).
    pub fn close(&mut self, sid: &str, reason: CloseReason) {
        self.touch(sid, |session| session.close_because(reason));
    }

    /// The earliest timer of any session.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|slot| slot.session.as_ref()?.poll_timeout())
            .min_by_key(|i| i.as_micros())
    }

    /// Runs every session timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let Some(session) = slot.session.as_mut() else {
                continue;
            };
            if session
                .poll_timeout()
                .is_some_and(|due| due.as_micros() <= now.as_micros())
            {
                session.handle_timeout(now);
                self.touched.insert(index);
                list_ready(&mut self.ready, index, session);
            }
        }
    }

    /// The next event of any session, with its session id. A session whose close has been
    /// reported and whose held poll has been answered is dropped here.
    pub fn poll_event(&mut self) -> Option<(String, Event)> {
        while let Some(index) = self.touched.first().copied() {
            let slot = &mut self.slots[index];
            let Some(session) = slot.session.as_mut() else {
                self.touched.remove(&index);
                continue;
            };
            match session.poll_event() {
                Some(event) => return Some((session.sid().into(), event)),
                None => {
                    self.touched.remove(&index);
                    if session.is_finished() {
                        self.by_sid.remove(session.sid());
                        self.dropped.push(session.sid().into());
                        slot.session = None;
                        slot.generation = slot.generation.wrapping_add(1);
                        self.free.push(index);
                    }
                }
            }
        }
        None
    }

    fn open(&mut self, transport: Transport, ids: &mut impl IdSource, now: Instant) -> String {
        let mut sid = ids.next_id();
        while self.by_sid.contains_key(&sid) {
            sid = ids.next_id();
        }
        let mut session = Session::new(sid.clone(), transport, self.config, now);
        let index = self.free.pop().unwrap_or(self.slots.len());
        list_ready(&mut self.ready, index, &mut session);
        match self.slots.get_mut(index) {
            Some(slot) => slot.session = Some(session),
            None => self.slots.push(Slot {
                generation: 0,
                session: Some(session),
            }),
        }
        self.by_sid.insert(sid.clone(), index);
        self.touched.insert(index);
        sid
    }

    /// Session `sid` and its place.
    fn find_mut(&mut self, sid: &str) -> Option<(usize, &mut Session)> {
        find(&self.by_sid, &mut self.slots, sid)
    }

    fn live_transport(&self, sid: &str) -> Option<Transport> {
        let session = self.session(sid)?;
        session
            .transport()
            .or(session.owes_noop().then_some(Transport::Polling))
    }

    fn with_session<T>(
        &mut self,
        sid: &str,
        f: impl FnOnce(&mut Session) -> Result<T, RequestError>,
    ) -> Result<T, RequestError> {
        let (index, session) =
            find(&self.by_sid, &mut self.slots, sid).ok_or(RequestError::UnknownSid)?;
        let result = f(session);
        list_ready(&mut self.ready, index, session);
        self.touched.insert(index);
        result
    }

    fn touch(&mut self, sid: &str, f: impl FnOnce(&mut Session)) {
        if let Some((index, session)) = find(&self.by_sid, &mut self.slots, sid) {
            f(session);
            list_ready(&mut self.ready, index, session);
            self.touched.insert(index);
        }
    }
}

/// Session `sid` and its place in `slots`.
fn find<'a>(
    by_sid: &BTreeMap<String, usize>,
    slots: &'a mut [Slot],
    sid: &str,
) -> Option<(usize, &'a mut Session)> {
    let index = *by_sid.get(sid)?;
    Some((index, slots.get_mut(index)?.session.as_mut()?))
}

/// Lists `session` (at place `index`) in `ready` unless it is listed already.
fn list_ready(ready: &mut Vec<usize>, index: usize, session: &mut Session) {
    if !session.listed_ready {
        session.listed_ready = true;
        ready.push(index);
    }
}
