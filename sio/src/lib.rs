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
//! # Not implemented (yet)
//!
//! - The session state machines (Engine.IO transports, heartbeat and upgrade; Socket.IO
//!   namespaces, rooms and acks): being built on top of these codecs.
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
