//! RFC 6455 WebSocket engine: `no_std`, allocation-free, sans-IO, server and client roles.
//!
//! The engine never touches a socket or a clock: the caller passes in bytes and the current
//! time, and gets back events and bytes to send. Any split of the input — one byte at a time
//! or everything at once — yields the same messages.
//!
//! # Public API
//!
//! - [`handshake`]: the HTTP/1.1 opening handshake, both roles.
//! - [`Connection`]: one WebSocket after the handshake.
//!   - construct: [`Connection::server`]`(config, now)` or
//!     [`Connection::new`]`(role, config, mask_keys, now)` (a client passes a
//!     [`MaskKeySource`], e.g. a closure returning random `[u8; 4]`).
//!   - input: [`Connection::handle_read`]`(&mut input, now) -> (consumed, Option<Event>)`,
//!     where [`Event`] is `Data { kind, payload, first, fin }` (payload unmasked in place in
//!     `input`), `Ping(payload)`, `Pong(payload)`, `Close { code, reason }` or
//!     `Failed(ProtocolError)` (close code in [`ProtocolError::close_code`]);
//!     [`Connection::handle_timeout`] reports `TimedOut` when the keepalive ran out (a local
//!     timer, not a peer's violation: close 1011).
//!   - engine-generated control frames (auto-pong, close echo, keepalive ping, failure close):
//!     [`Connection::wants_transmit`], [`Connection::poll_transmit`]`(&mut out) -> usize`.
//!   - application output: [`Connection::send`]`(kind, payload, &mut out) -> Result<usize, _>`
//!     (one whole frame); streaming: [`Connection::send_frame_header`]`(opcode, fin, len)`
//!     then [`Connection::mask_payload`]`(&mut piece)`; [`Connection::ping`],
//!     [`Connection::close`]`(code, reason)` queue control frames.
//!   - lifecycle: [`Connection::state`] ([`State`]: Open, Closing, Closed; CONNECTING is the handshake),
//!     [`Connection::wants_tcp_close`], keepalive via [`Connection::poll_timeout`] /
//!     [`Connection::handle_timeout`]`(now)`.
//! - Building blocks: [`frame`] ([`FrameHeader`] parse/emit over a [`HeaderView`]), [`mask`]
//!   ([`apply_mask`]), [`utf8`] ([`Utf8Validator`]), [`close`] ([`CloseCode`],
//!   [`ClosePayload`]), [`error`] ([`ProtocolError`], [`SendError`]), [`time`] ([`Instant`],
//!   [`Duration`], microseconds).
//! - [`deflate`]: permessage-deflate (RFC 7692): negotiation
//!   ([`deflate::accept_offer`], [`deflate::client_offer`], [`deflate::check_response`]), the
//!   [`deflate::Inflater`] in front of [`Connection::handle_read`] (no allocation: the window
//!   is the caller's), and, with feature `compress`, the `deflate::Compressor`.
//! - Feature `alloc`: `assemble::MessageAssembler` collects the pieces into whole messages.
//!
//! # Not implemented
//!
//! - Extensions other than permessage-deflate: RSV2 and RSV3 are always a protocol error, RSV1
//!   too unless permessage-deflate was negotiated ([`Connection::set_compression`]).
//! - [`Connection::read_into`] does not inflate: compressed messages go through
//!   [`deflate::Inflater::handle_read`].
//! - A timeout for the closing handshake: after sending its Close the connection waits for the
//!   peer's as long as the caller keeps it; the caller decides when to give up.
//! - Outgoing text is not re-validated as UTF-8; the caller sends what it knows is text.
//!
//! # A server loop
//!
//! An echo server over some byte transport, after the handshake succeeded. Messages are echoed
//! piece by piece as they stream in, without ever being assembled.
//!
//! ```
//! use ws::{Config, Connection, Event, Instant, OpCode};
//!
//! // Bytes as read from the socket: a masked "Hello" then a masked Close 1000 (RFC 6455 §5.7).
//! let mut input = [
//!     0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
//!     0x88, 0x82, 0x01, 0x02, 0x03, 0x04, 0x02, 0xea,
//! ];
//! let mut socket_out = Vec::new(); // stands for the transport's send side
//! let mut out = [0u8; ws::MAX_CONTROL_FRAME_LEN];
//! let now = Instant::from_micros(0);
//! let mut conn = Connection::server(Config::default(), now);
//!
//! let mut pos = 0;
//! loop {
//!     let (consumed, event) = conn.handle_read(&mut input[pos..], now);
//!     pos += consumed;
//!     match event {
//!         Some(Event::Data { kind, payload, first, fin }) => {
//!             let opcode = if first { kind.opcode() } else { OpCode::Continuation };
//!             let header = conn.send_frame_header(opcode, fin, payload.len() as u64).unwrap();
//!             socket_out.extend_from_slice(&header);
//!             socket_out.extend_from_slice(payload); // a client would mask_payload() first
//!         }
//!         Some(Event::Close { code, .. }) => println!("peer closed with {code:?}"),
//!         Some(Event::Failed(error)) => println!("closing: {error}"),
//!         Some(Event::TimedOut) => {} // only handle_timeout reports it
//!         Some(Event::Ping(_) | Event::Pong(_)) => {} // the Pong is queued automatically
//!         None => break, // everything consumed: read more from the socket
//!     }
//!     // Between whole frames: flush what the engine queued (pongs, close replies).
//!     while conn.wants_transmit() {
//!         let n = conn.poll_transmit(&mut out);
//!         socket_out.extend_from_slice(&out[..n]);
//!     }
//! }
//! assert_eq!(pos, input.len());
//! assert_eq!(socket_out, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o', 0x88, 0x02, 0x03, 0xe8]);
//! assert!(conn.wants_tcp_close()); // the server closes TCP first
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Compiled for the crate's own tests too, so `cargo test -p ws` covers it.
#[cfg(any(feature = "alloc", test))]
pub mod assemble;
pub mod close;
pub mod connection;
pub mod deflate;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod time;
pub mod utf8;
pub use handshake::{HttpStatus, Request, RequestError, ResponseError, Upgrade};

pub use close::{CloseCode, ClosePayload, CloseReason, MAX_CLOSE_REASON_LEN};
pub use connection::{Config, Connection, ControlPayload, Event, Keepalive, Role, State};
pub use error::{ProtocolError, SendError};
pub use frame::{
    FrameHeader, HeaderBytes, HeaderView, MAX_CONTROL_FRAME_LEN, MAX_HEADER_LEN, MessageKind,
    OpCode,
};
pub use mask::{MaskKeySource, NoMask, apply_mask, copy_masked};
pub use time::{Duration, Instant};
pub use utf8::Utf8Validator;
