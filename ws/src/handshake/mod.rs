//! The opening handshake (RFC 6455 §4) and the plain HTTP/1.1 requests served on the same port.
//!
//! Server side: [`parse_request`] reads a request head incrementally into caller-supplied
//! [`Header`] storage, [`validate_upgrade`] turns a request into a validated [`Upgrade`], and the
//! writers in this module produce the 101 answer, error answers and plain response heads.
//! Client side: [`write_client_request`] and [`parse_response`].
//!
//! Nothing here allocates, reads a socket or draws random numbers: the caller passes bytes,
//! storage and (client) the 16-byte nonce.
//!
//! Strictness decisions (RFC 9112 leaves them to the recipient):
//! - lines end in CRLF; a bare LF or a bare CR is rejected (400) — tolerant line endings are a
//!   request-smuggling vector and no real client needs them;
//! - only the origin-form request-target (`/path?query`) is accepted (400 otherwise);
//! - leading empty lines before the request line are rejected, not skipped;
//! - header values may hold obs-text (bytes ≥ 0x80) as the grammar allows, but fields this crate
//!   interprets as text (Host, Origin, subprotocols, extensions, the key) must be ASCII;
//! - a request carrying `Transfer-Encoding` is answered 501: we never read request bodies, so we
//!   cannot find where the next request starts.
//!
//! A typical server loop:
//!
//! ```
//! use ws::handshake::{self, Header, Status, EMPTY_HEADER};
//!
//! let bytes = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Version: 13\r\n\r\n";
//! let mut headers = [EMPTY_HEADER; 32];
//! let mut out = [0u8; 512];
//! let request = match handshake::parse_request(bytes, &mut headers) {
//!     Ok(Status::Complete(request)) => request,
//!     Ok(Status::Partial) => return, // read more bytes, call again with all of them
//!     Err(error) => {
//!         let n = handshake::write_error_response(error.status(), &mut out).unwrap();
//!         return; // send out[..n], then close the connection
//!     }
//! };
//! if request.upgrade_requested() {
//!     let upgrade = handshake::validate_upgrade(&request).unwrap();
//!     let n = handshake::write_accept_response(upgrade.key(), None, &mut out).unwrap();
//!     assert!(out[..n].starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//!     // bytes[request.head_len()..] are already WebSocket frames.
//! }
//! ```

mod accept;
mod client;
mod emit;
mod error;
mod extensions;
mod head;
mod request;
mod response;
mod status;
mod token;
mod upgrade;

pub use accept::accept_key;
pub use client::{
    Accepted, ClientRequest, ClientRequestError, ResponseError, parse_response,
    parse_response_with, write_client_request, write_client_request_with,
};
pub use emit::BufferTooSmall;
pub use error::RequestError;
pub use extensions::{ExtensionOffers, ExtensionView, MalformedExtension, Param, ParamValue};
pub use head::{HeadError, ParseLimits};
pub use request::{Request, parse_request, parse_request_with_limits};
pub use response::{
    write_accept_response, write_accept_response_with, write_error_response, write_response_head,
};
pub use status::HttpStatus;
pub use upgrade::{Upgrade, validate_upgrade};

/// One header field line of a parsed head: the field name as sent (compare it
/// case-insensitively) and the value with surrounding whitespace removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'b> {
    /// The field name, a non-empty token (RFC 9110 §5.1).
    pub name: &'b str,
    /// The field value without leading and trailing SP/HTAB (RFC 9110 §5.5).
    pub value: &'b [u8],
}

/// A blank header used to initialise the caller's header storage: `[EMPTY_HEADER; N]`.
pub const EMPTY_HEADER: Header<'static> = Header {
    name: "",
    value: b"",
};

/// The outcome of parsing a head that may not have fully arrived yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// The whole head was present and valid.
    Complete(T),
    /// The bytes so far are a valid beginning; call again with more bytes (all of them, from the start).
    Partial,
}
