//! Engine.IO v4 and Socket.IO v5, sans-IO: bytes and time in, packets, events and bytes out.
//! The crate never touches a socket or a clock; the server glue in `stack` carries its bytes
//! over HTTP long-polling and WebSocket.
//!
//! # Layers
//!
//! - [`engine`]: Engine.IO v4 (protocol revision 4). [`engine::Packet`] (a view, then a
//!   validated value, then emit), the polling payload ([`engine::payload`], packets joined by
//!   0x1e, binary as `b`+base64), the handshake data ([`engine::OpenParams`]) and the errors the
//!   reference server answers requests with ([`engine::RequestError`]: status and
//!   `{"code":N,"message":...}`).
//! - [`socket`]: Socket.IO v5 packets inside Engine.IO messages. [`socket::Packet`] (CONNECT
//!   with auth, CONNECT_ERROR, EVENT, ACK, BINARY_EVENT / BINARY_ACK, DISCONNECT; namespaces and
//!   ack ids), [`socket::Decoder`] (binary attachments reassembled in order), the error and
//!   reason tables ([`socket::DecodeError`], [`socket::ConnectError`],
//!   [`socket::DisconnectReason`]).
//!
//! # Sessions
//!
//! - [`engine::Session`]: one Engine.IO session on the server, as the diagram in its module
//!   shows: polling (held GET, POST), WebSocket, the upgrade (`2probe`/`3probe`/`5`, noop to
//!   polling), the server-driven heartbeat with expiry at exactly pingInterval + pingTimeout,
//!   `maxPayload`. Timers in quinn-proto's shape: `poll_timeout` / `handle_timeout(now)`.
//! - [`engine::Server`]: the session table of one path: routes requests
//!   ([`engine::request::route`], the reference server's checks in its order), answers HTTP
//!   ([`engine::HttpAnswer`]), hands out events by session id. Session ids come from the caller
//!   ([`engine::IdSource`]): this crate has no randomness.
//! - [`socket::Server`]: Socket.IO on top: namespaces, sockets with ids of their own, CONNECT
//!   with auth / CONNECT_ERROR, events and acks both ways with ack timeouts, the connect
//!   timeout, rooms and broadcasts through an [`socket::Adapter`] ([`socket::LocalAdapter`] in
//!   process; the trait is shaped for a per-worker and a Redis adapter), the reference
//!   server's disconnect reasons.
//!
//! # Not implemented
//!
//! - Refusing a CONNECT from the application (the reference server's `io.use` middleware),
//!   acks on broadcasts, connection state recovery, adapters other than the local one.
//! - A bound on the packets queued for a session (the heartbeat ends a session that stops
//!   reading within pingInterval + pingTimeout).
//! - JSON objects are emitted with their keys in sorted order (serde_json without
//!   `preserve_order`, which needs `std`), not in the order they arrived; numbers that do not
//!   fit in 64-bit integers round-trip as floating point.
//! - Socket.IO's legacy v4 protocol (EIO=3) and custom parsers (msgpack).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod engine;
pub mod socket;
