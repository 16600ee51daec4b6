//! The Socket.IO v5 server, sans-IO, on top of [`engine::Server`]: namespaces, sockets, rooms
//! (through an [`Adapter`]), events and acks both ways with timeouts, and the reference
//! server's disconnect reasons.
//!
//! The glue drives it exactly like the Engine.IO server it wraps (the same `handle_*` /
//! `poll_*` methods: HTTP requests, WebSocket messages, time); the application takes
//! [`Event`]s from [`Server::poll_event`] and answers with [`Server::emit`],
//! [`Server::broadcast`], [`Server::ack`], [`Server::join`], ... — Socket.IO's
//! `io.on("connection")`, `socket.on(event)`, `socket.emit`, `io.to(room).emit`,
//! `socket.broadcast.emit`, `socket.timeout(ms).emit(..., ack)`.
//!
//! Each Engine.IO session is a *client*; each namespace it joins is a *socket* with an id of its
//! own (from the [`IdSource`]: the reference server does not reuse the Engine.IO session id,
//! which would let anyone who learns a socket id push on the session). Every socket is in the
//! room named by its id.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque, btree_map};
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Bound;

use serde_json::{Map, Value};
use ws::{Duration, Instant};

use super::adapter::{Adapter, BroadcastOptions};
pub use super::api::{Config, Emit, Event};
use super::decoder::Decoder;
use super::error::{ConnectError, DecodeError, DisconnectReason};
use super::packet::{Body, Packet};
use crate::engine::{
    self, CloseReason, Encoded, HttpAnswer, IdSource, Method, RequestError, WebSocketAccept,
};

/// One Engine.IO session seen from Socket.IO.
#[derive(Debug)]
struct Client {
    decoder: Decoder,
    /// (nsp, socket id) for each namespace joined: a client joins one or two, so a list is
    /// smaller than a map (every idle session keeps one).
    sockets: Vec<(String, String)>,
    /// Until the first namespace CONNECT.
    connect_deadline: Option<Instant>,
    /// The reason its sockets get when the session closes because the server closed it.
    closing: Option<DisconnectReason>,
}

/// One socket (a client in one namespace).
#[derive(Debug)]
struct Socket {
    sid: String,
    /// The Engine.IO session's key: a broadcast reaches it without looking `sid` up.
    session: engine::SessionKey,
    nsp: String,
    next_ack: u64,
    /// our ack id -> deadline
    pending_acks: BTreeMap<u64, Instant>,
}

/// Looks sockets up by id for a walk that mostly asks in ascending id order, as the local
/// adapter hands out a broadcast's recipients: the entry after the last one found is tried
/// first (one comparison), and only an id that is not there costs a search of the map.
struct InOrder<'a, V> {
    map: &'a BTreeMap<String, V>,
    next: btree_map::Range<'a, String, V>,
}

impl<'a, V> InOrder<'a, V> {
    fn new(map: &'a BTreeMap<String, V>) -> Self {
        InOrder {
            map,
            next: map.range::<str, _>(..),
        }
    }

    fn get(&mut self, id: &str) -> Option<&'a V> {
        if self.next.clone().next().is_none_or(|(key, _)| key != id) {
            self.next = self
                .map
                .range::<str, _>((Bound::Included(id), Bound::Unbounded));
        }
        let mut ahead = self.next.clone();
        match ahead.next() {
            Some((key, socket)) if key == id => {
                self.next = ahead;
                Some(socket)
            }
            _ => None,
        }
    }
}

/// The Socket.IO server of one path (`/socket.io/`).
#[derive(Debug)]
pub struct Server<A: Adapter, I: IdSource> {
    engine: engine::Server,
    config: Config,
    namespaces: BTreeSet<String>,
    clients: BTreeMap<String, Client>,
    sockets: BTreeMap<String, Socket>,
    adapter: A,
    ids: I,
    events: VecDeque<Event>,
}

impl<A: Adapter, I: IdSource> Server<A, I> {
    /// A server with the main namespace `/` only.
    pub fn new(config: Config, adapter: A, ids: I) -> Self {
        Server {
            engine: engine::Server::new(config.engine),
            config,
            namespaces: [String::from(super::MAIN_NAMESPACE)].into(),
            clients: BTreeMap::new(),
            sockets: BTreeMap::new(),
            adapter,
            ids,
            events: VecDeque::new(),
        }
    }

    /// Accepts connections to namespace `nsp` too (`io.of(nsp)`).
    pub fn add_namespace(&mut self, nsp: &str) {
        self.namespaces.insert(nsp.into());
    }

    /// The adapter (room membership).
    pub fn adapter(&self) -> &A {
        &self.adapter
    }

    /// Live Engine.IO sessions.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    // ---- transport input (the glue), each mirrored on engine::Server ----

    /// See [`engine::Server::handle_http`].
    pub fn handle_http(
        &mut self,
        method: Method,
        query: &str,
        body: &[u8],
        now: Instant,
    ) -> HttpAnswer {
        let answer = self
            .engine
            .handle_http(method, query, body, &mut self.ids, now);
        self.process(now);
        answer
    }

    /// See [`engine::Server::handle_websocket`].
    pub fn handle_websocket(
        &mut self,
        query: &str,
        now: Instant,
    ) -> Result<WebSocketAccept, RequestError> {
        let result = self.engine.handle_websocket(query, &mut self.ids, now);
        self.process(now);
        result
    }

    /// Ends Engine.IO session `sid` for `reason` (the glue refused one of its requests in a way
    /// that ends it, such as a body over `maxPayload` it did not read).
    pub fn close_session(&mut self, sid: &str, reason: CloseReason, now: Instant) {
        self.engine.close(sid, reason);
        self.process(now);
    }

    /// See [`engine::Server::poll_held_response`].
    pub fn poll_held_response(&mut self, sid: &str) -> Option<String> {
        self.engine.poll_held_response(sid)
    }

    /// See [`engine::Server::handle_poll_aborted`].
    pub fn handle_poll_aborted(&mut self, sid: &str, now: Instant) {
        self.engine.handle_poll_aborted(sid);
        self.process(now);
    }

    /// See [`engine::Server::handle_ws_text`].
    pub fn handle_ws_text(&mut self, sid: &str, text: &str, now: Instant) {
        self.engine.handle_ws_text(sid, text, now);
        self.process(now);
    }

    /// See [`engine::Server::handle_ws_binary`].
    pub fn handle_ws_binary(&mut self, sid: &str, bytes: &[u8], now: Instant) {
        self.engine.handle_ws_binary(sid, bytes, now);
        self.process(now);
    }

    /// See [`engine::Server::handle_ws_closed`].
    pub fn handle_ws_closed(&mut self, sid: &str, error: bool, now: Instant) {
        self.engine.handle_ws_closed(sid, error);
        self.process(now);
    }

    /// See [`engine::Server::poll_ws_transmit`].
    pub fn poll_ws_transmit(&mut self, sid: &str) -> Option<Encoded> {
        self.engine.poll_ws_transmit(sid)
    }

    /// See [`engine::Server::drain_ws`].
    pub fn drain_ws(&mut self, sid: &str, each: impl FnMut(Encoded)) -> bool {
        self.engine.drain_ws(sid, each)
    }

    /// See [`engine::Server::poll_ready`].
    pub fn poll_ready(&mut self) -> Option<String> {
        self.engine.poll_ready()
    }

    /// See [`engine::Server::wants_websocket_close`].
    pub fn wants_websocket_close(&self, sid: &str) -> bool {
        self.engine.wants_websocket_close(sid)
    }

    /// The earliest instant [`Server::handle_timeout`] has work: heartbeats, connect timeouts,
    /// ack timeouts.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let connects = self.clients.values().filter_map(|c| c.connect_deadline);
        let acks = self
            .sockets
            .values()
            .flat_map(|s| s.pending_acks.values().copied());
        self.engine
            .poll_timeout()
            .into_iter()
            .chain(connects)
            .chain(acks)
            .min_by_key(|i| i.as_micros())
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = |deadline: &Instant| deadline.as_micros() <= now.as_micros();
        self.engine.handle_timeout(now);
        for (sid, client) in &mut self.clients {
            if client.connect_deadline.as_ref().is_some_and(due) {
                client.connect_deadline = None;
                self.engine.close(sid, CloseReason::ForcedClose);
            }
        }
        for (id, socket) in &mut self.sockets {
            let expired: Vec<u64> = socket
                .pending_acks
                .iter()
                .filter(|(_, d)| due(d))
                .map(|(n, _)| *n)
                .collect();
            for ack in expired {
                socket.pending_acks.remove(&ack);
                self.events.push_back(Event::AckTimeout {
                    socket: id.clone(),
                    id: ack,
                });
            }
        }
        self.process(now);
    }

    // ---- the application ----

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Sends an event to one socket (`socket.emit`). Ignored if the socket is gone.
    pub fn emit(&mut self, socket: &str, emit: Emit) {
        self.send_to_socket(socket, None, emit);
    }

    /// Sends an event the client must acknowledge within `timeout`; the answer comes as
    /// [`Event::Ack`] with the returned id, or [`Event::AckTimeout`]. `None` if the socket is
    /// gone.
    pub fn emit_with_ack(
        &mut self,
        socket: &str,
        emit: Emit,
        timeout: Duration,
        now: Instant,
    ) -> Option<u64> {
        let state = self.sockets.get_mut(socket)?;
        let id = state.next_ack;
        state.next_ack += 1;
        state.pending_acks.insert(id, now + timeout);
        self.send_to_socket(socket, Some(id), emit);
        Some(id)
    }

    /// Answers a client's event that asked for an ack.
    pub fn ack(&mut self, socket: &str, id: u64, emit: Emit) {
        let body = Body::Ack {
            id,
            data: emit.data,
            attachments: emit.attachments,
        };
        self.send_body(socket, body);
    }

    /// Sends an event to the sockets of namespace `nsp` that `options` selects
    /// (`io.to(room).emit`, `socket.broadcast.emit` = [`BroadcastOptions::all`] except the
    /// sender's id). Returns how many local sockets it reached.
    pub fn broadcast(&mut self, nsp: &str, options: &BroadcastOptions, emit: Emit) -> usize {
        let body = Body::Event {
            id: None,
            data: emit.data,
            attachments: emit.attachments,
        };
        let packet = Packet {
            nsp: nsp.into(),
            body,
        };
        // Encoded once; every recipient's queue shares the same packets (a clone of an
        // `Encoded` is a reference count, not a copy of its bytes).
        let encoded = packet.to_engine();
        let (mut sockets, engine) = (InOrder::new(&self.sockets), &mut self.engine);
        let mut reached = 0;
        self.adapter
            .broadcast(nsp, &packet, options, &mut |socket: &str| {
                if let Some(state) = sockets.get(socket) {
                    for message in &encoded {
                        engine.send_to(state.session, message.clone());
                    }
                    reached += 1;
                }
            });
        reached
    }

    /// Adds a socket to a room.
    pub fn join(&mut self, socket: &str, room: &str) {
        if let Some(state) = self.sockets.get(socket) {
            self.adapter.join(&state.nsp, socket, room);
        }
    }

    /// Removes a socket from a room.
    pub fn leave(&mut self, socket: &str, room: &str) {
        if let Some(state) = self.sockets.get(socket) {
            self.adapter.leave(&state.nsp, socket, room);
        }
    }

    /// The sockets of namespace `nsp` (every one, or those `options` selects).
    pub fn sockets(&self, nsp: &str, options: &BroadcastOptions) -> Vec<String> {
        self.adapter.sockets(nsp, options)
    }

    /// Disconnects a socket from its namespace (`socket.disconnect()`): the client gets a
    /// DISCONNECT, the application a [`Event::Disconnect`] with "server namespace disconnect".
    pub fn disconnect(&mut self, socket: &str) {
        let Some(state) = self.sockets.get(socket) else {
            return;
        };
        let packet = Packet {
            nsp: state.nsp.clone(),
            body: Body::Disconnect,
        };
        let sid = state.sid.clone();
        self.send_packet(&sid, &packet);
        self.remove_socket(socket, DisconnectReason::ServerNamespaceDisconnect);
    }

    /// Closes every session (the server stops): sockets leave with "server shutting down".
    pub fn close_all(&mut self, now: Instant) {
        let sids: Vec<String> = self.clients.keys().cloned().collect();
        for sid in sids {
            self.close_client(&sid, DisconnectReason::ServerShuttingDown);
        }
        self.process(now);
    }

    // ---- internals ----

    fn process(&mut self, now: Instant) {
        while let Some((sid, event)) = self.engine.poll_event() {
            match event {
                engine::Event::Open => {
                    let client = Client {
                        decoder: Decoder::new(self.config.max_attachments),
                        sockets: Vec::new(),
                        connect_deadline: Some(now + self.config.connect_timeout),
                        closing: None,
                    };
                    self.clients.insert(sid, client);
                }
                engine::Event::Message(message) => {
                    let Some(client) = self.clients.get_mut(&sid) else {
                        continue;
                    };
                    let decoded = match &message {
                        engine::Message::Text(text) => client.decoder.handle_text(text),
                        engine::Message::Binary(bytes) => client.decoder.handle_binary(bytes),
                    };
                    match decoded {
                        Ok(Some(packet)) => self.handle_packet(&sid, packet),
                        Ok(None) => {}
                        Err(error) => self.parse_error(&sid, error),
                    }
                }
                engine::Event::Closed(reason) => {
                    let Some(client) = self.clients.remove(&sid) else {
                        continue;
                    };
                    let reason = client.closing.unwrap_or(DisconnectReason::from(reason));
                    for (_, socket) in &client.sockets {
                        self.remove_socket(socket, reason);
                    }
                }
            }
        }
    }

    fn handle_packet(&mut self, sid: &str, packet: Packet) {
        let Some(client) = self.clients.get_mut(sid) else {
            return;
        };
        let socket = client
            .sockets
            .iter()
            .find(|(nsp, _)| *nsp == packet.nsp)
            .map(|(_, id)| id.clone());
        match (packet.body, socket) {
            (Body::Connect(auth), None) => self.connect(sid, packet.nsp, auth),
            (Body::Disconnect, Some(socket)) => {
                self.remove_socket(&socket, DisconnectReason::ClientNamespaceDisconnect);
            }
            (
                Body::Event {
                    id,
                    data,
                    attachments,
                },
                Some(socket),
            ) => {
                let emit = Emit { data, attachments };
                self.events.push_back(Event::Event {
                    socket,
                    emit,
                    ack: id,
                });
            }
            (
                Body::Ack {
                    id,
                    data,
                    attachments,
                },
                Some(socket),
            ) => {
                let Some(state) = self.sockets.get_mut(&socket) else {
                    return;
                };
                if state.pending_acks.remove(&id).is_some() {
                    let emit = Emit { data, attachments };
                    self.events.push_back(Event::Ack { socket, id, emit });
                }
            }
            // A second CONNECT to a namespace, a CONNECT_ERROR from a client, or a packet for a
            // namespace it has not joined: the reference server closes the whole client.
            _ => self.close_client(sid, DisconnectReason::ForcedServerClose),
        }
    }

    fn connect(&mut self, sid: &str, nsp: String, auth: Option<Map<String, Value>>) {
        if !self.namespaces.contains(&nsp) {
            let body = Body::ConnectError(ConnectError::InvalidNamespace.to_json());
            self.send_packet(sid, &Packet { nsp, body });
            return;
        }
        let mut id = self.ids.next_id();
        while self.sockets.contains_key(&id) {
            id = self.ids.next_id();
        }
        let (Some(client), Some(session)) = (self.clients.get_mut(sid), self.engine.key(sid))
        else {
            return;
        };
        client.connect_deadline = None;
        client.sockets.push((nsp.clone(), id.clone()));
        self.sockets.insert(
            id.clone(),
            Socket {
                sid: sid.into(),
                session,
                nsp: nsp.clone(),
                next_ack: 0,
                pending_acks: BTreeMap::new(),
            },
        );
        self.adapter.join(&nsp, &id, &id);
        let mut granted = Map::new();
        granted.insert("sid".into(), Value::String(id.clone()));
        self.send_packet(
            sid,
            &Packet {
                nsp: nsp.clone(),
                body: Body::Connect(Some(granted)),
            },
        );
        self.events.push_back(Event::Connection {
            socket: id,
            nsp,
            auth,
        });
    }

    fn parse_error(&mut self, sid: &str, error: DecodeError) {
        let reason = error.disconnect_reason();
        if let Some(client) = self.clients.get_mut(sid) {
            client.closing = Some(reason);
        }
        self.engine.close(sid, CloseReason::ParseError);
    }

    fn close_client(&mut self, sid: &str, reason: DisconnectReason) {
        if let Some(client) = self.clients.get_mut(sid) {
            client.closing = Some(reason);
        }
        self.engine.close(sid, CloseReason::ForcedClose);
    }

    fn remove_socket(&mut self, socket: &str, reason: DisconnectReason) {
        let Some(state) = self.sockets.remove(socket) else {
            return;
        };
        if let Some(client) = self.clients.get_mut(&state.sid) {
            client.sockets.retain(|(nsp, _)| *nsp != state.nsp);
        }
        self.adapter.leave_all(&state.nsp, socket);
        self.events.push_back(Event::Disconnect {
            socket: socket.into(),
            nsp: state.nsp,
            reason,
        });
    }

    fn send_to_socket(&mut self, socket: &str, id: Option<u64>, emit: Emit) {
        let body = Body::Event {
            id,
            data: emit.data,
            attachments: emit.attachments,
        };
        self.send_body(socket, body);
    }

    /// Sends `body` in the namespace of `socket` (nothing if that socket is gone).
    fn send_body(&mut self, socket: &str, body: Body) {
        let Some(state) = self.sockets.get(socket) else {
            return;
        };
        let packet = Packet {
            nsp: state.nsp.clone(),
            body,
        };
        // By the session's key: an ack costs no search of the session by id.
        for message in packet.to_engine() {
            self.engine.send_to(state.session, message);
        }
    }

    fn send_packet(&mut self, sid: &str, packet: &Packet) {
        for message in packet.to_engine() {
            self.engine.send(sid, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_finds_every_id_asked_in_any_order_and_no_other() {
        let map: BTreeMap<String, u32> = [("b", 2), ("d", 4), ("f", 6), ("h", 8)]
            .into_iter()
            .map(|(k, v)| (k.into(), v))
            .collect();
        let mut walk = InOrder::new(&map);
        // Ascending (the local adapter's order), with gaps and ids that are not there.
        let asked = ["a", "b", "c", "d", "h", "i"];
        let got: Vec<_> = asked.iter().map(|id| walk.get(id).copied()).collect();
        assert_eq!(got, [None, Some(2), None, Some(4), Some(8), None]);
        // Backwards and repeated: still found, by a search.
        let asked = ["f", "b", "b", "h", "d"];
        let got: Vec<_> = asked.iter().map(|id| walk.get(id).copied()).collect();
        assert_eq!(got, [Some(6), Some(2), Some(2), Some(8), Some(4)]);
        assert_eq!(InOrder::new(&BTreeMap::<String, u32>::new()).get("a"), None);
    }
}
