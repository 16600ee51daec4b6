//! The client's side of the opening handshake (RFC 6455 §4.1): writing the request and
//! validating the server's answer.

use super::accept::{accept_key, encode_key};
use super::emit::{BufferTooSmall, Writer};
use super::extensions::{EXTENSIONS, ExtensionOffers};
use super::head::{
    HeadError, Lines, ParseLimits, ascii, is_field_byte, parse_fields, parse_http_version,
};
use super::request::is_host_byte;
use super::token::{Elements, is_token, list_contains};
use super::{Header, Status};
use crate::deflate::{Agreement, DeflateParams, ResponseExtensionError, check_response};

const PROTOCOL: &str = "Sec-WebSocket-Protocol";

/// What the client asks for. Field values are written as given after checking they cannot
/// break the head (see [`ClientRequestError::InvalidField`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientRequest<'a> {
    /// The `Host` field: the server's authority, `host[:port]`.
    pub host: &'a str,
    /// The request-target: a path starting with `/`, with any query.
    pub path: &'a str,
    /// An `Origin` to send, as a browser would; servers may check it against an allow-list.
    pub origin: Option<&'a str>,
    /// Subprotocols to offer, most preferred first; empty offers none.
    pub protocols: &'a [&'a str],
}

/// Why [`write_client_request`] wrote nothing usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientRequestError {
    /// The output buffer cannot hold the request.
    BufferTooSmall,
    /// A field of [`ClientRequest`] is not valid in a head: an empty host or one with bytes
    /// outside RFC 3986's authority, a path not starting with `/` or with bytes that are not
    /// visible ASCII, an origin with such bytes, or a subprotocol that is not a token.
    InvalidField(&'static str),
}

impl From<BufferTooSmall> for ClientRequestError {
    fn from(BufferTooSmall: BufferTooSmall) -> Self {
        ClientRequestError::BufferTooSmall
    }
}

/// Writes the opening handshake for `request` with the `Sec-WebSocket-Key` made from `nonce`,
/// which the caller draws at random for each connection (RFC 6455 §4.1) and passes again to
/// [`parse_response`]. Returns the number of bytes written.
pub fn write_client_request(
    request: &ClientRequest<'_>,
    nonce: [u8; 16],
    out: &mut [u8],
) -> Result<usize, ClientRequestError> {
    write_client_request_with(request, nonce, None, out)
}

/// [`write_client_request`] that also offers permessage-deflate with `deflate` (from
/// [`crate::deflate::client_offer`]); pass the same offer to [`parse_response_with`].
pub fn write_client_request_with(
    request: &ClientRequest<'_>,
    nonce: [u8; 16],
    deflate: Option<&DeflateParams>,
    out: &mut [u8],
) -> Result<usize, ClientRequestError> {
    let visible = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
    if request.host.is_empty() || !request.host.bytes().all(is_host_byte) {
        return Err(ClientRequestError::InvalidField("Host"));
    }
    if !request.path.starts_with('/') || !visible(request.path) {
        return Err(ClientRequestError::InvalidField("path"));
    }
    if request.origin.is_some_and(|origin| !visible(origin)) {
        return Err(ClientRequestError::InvalidField("Origin"));
    }
    if !request.protocols.iter().all(|p| is_token(p.as_bytes())) {
        return Err(ClientRequestError::InvalidField(PROTOCOL));
    }
    let mut w = Writer::new(out);
    w.bytes(b"GET ")?;
    w.bytes(request.path.as_bytes())?;
    w.bytes(b" HTTP/1.1\r\n")?;
    w.header("Host", request.host.as_bytes())?;
    w.header("Upgrade", b"websocket")?;
    w.header("Connection", b"Upgrade")?;
    w.header("Sec-WebSocket-Key", &encode_key(&nonce))?;
    w.header("Sec-WebSocket-Version", b"13")?;
    if let Some(origin) = request.origin {
        w.header("Origin", origin.as_bytes())?;
    }
    if let Some((first, rest)) = request.protocols.split_first() {
        w.bytes(PROTOCOL.as_bytes())?;
        w.bytes(b": ")?;
        w.bytes(first.as_bytes())?;
        for protocol in rest {
            w.bytes(b", ")?;
            w.bytes(protocol.as_bytes())?;
        }
        w.bytes(b"\r\n")?;
    }
    if let Some(deflate) = deflate {
        w.header(EXTENSIONS, &deflate.to_bytes())?;
    }
    w.bytes(b"\r\n")?;
    Ok(w.len())
}

/// A server answer that completes the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted<'b> {
    head_len: usize,
    protocol: Option<&'b str>,
    deflate: Option<(DeflateParams, Agreement)>,
}

impl<'b> Accepted<'b> {
    /// Length of the answer's head; the bytes after it are already WebSocket frames.
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// The subprotocol the server selected, one of those offered.
    pub fn protocol(&self) -> Option<&'b str> {
        self.protocol
    }

    /// The permessage-deflate parameters the server accepted and what they mean for this
    /// client, if it accepted the offer.
    pub fn deflate(&self) -> Option<(DeflateParams, Agreement)> {
        self.deflate
    }
}

/// Why the client must _Fail the WebSocket Connection_ (RFC 6455 §4.1) instead of opening it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// The head is malformed or larger than [`ParseLimits::DEFAULT`] or the header storage.
    Head(HeadError),
    /// The status line is not `HTTP-version SP 3DIGIT [SP reason-phrase]`.
    BadStatusLine,
    /// The answer is not HTTP/1.1 or a later 1.x.
    UnsupportedHttpVersion,
    /// The server answered with this status instead of 101.
    Rejected(u16),
    /// `Upgrade` is absent or holds anything but `websocket`.
    NotWebSocketUpgrade,
    /// `Connection` does not hold `upgrade`.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Accept` is absent.
    MissingAccept,
    /// `Sec-WebSocket-Accept` is repeated or does not match the key sent.
    AcceptMismatch,
    /// The server selected a subprotocol that was not offered, or more than one.
    UnexpectedProtocol,
    /// The server selected an extension that was not offered (RFC 6455 §4.1, item 6).
    UnexpectedExtension,
    /// The server's permessage-deflate parameters are invalid or outside the offer
    /// (RFC 7692 §7.1).
    InvalidExtension(ResponseExtensionError),
}

impl From<HeadError> for ResponseError {
    fn from(error: HeadError) -> Self {
        ResponseError::Head(error)
    }
}

/// Parses and validates the server's answer to the request written with `nonce` and
/// `offered_protocols`. `Partial` means the head has not fully arrived: call again with all
/// bytes received. A non-101 status is reported as soon as its line is in.
pub fn parse_response<'b>(
    buf: &'b [u8],
    headers: &mut [Header<'b>],
    nonce: [u8; 16],
    offered_protocols: &[&str],
) -> Result<Status<Accepted<'b>>, ResponseError> {
    parse_response_with(buf, headers, nonce, offered_protocols, None)
}

/// [`parse_response`] for a request that offered permessage-deflate with `deflate`: the
/// server's answer is checked against the offer ([`crate::deflate::check_response`]) and the
/// agreement is in [`Accepted::deflate`].
pub fn parse_response_with<'h, 'b>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>],
    nonce: [u8; 16],
    offered_protocols: &[&str],
    deflate: Option<&DeflateParams>,
) -> Result<Status<Accepted<'b>>, ResponseError> {
    let mut lines = Lines::new(buf, &ParseLimits::DEFAULT);
    let Some(line) = lines.next_line()? else {
        return Ok(Status::Partial);
    };
    let code = parse_status_line(line)?;
    if code != 101 {
        return Err(ResponseError::Rejected(code));
    }
    let Some(count) = parse_fields(&mut lines, headers)? else {
        return Ok(Status::Partial);
    };
    let headers: &[Header<'b>] = &headers[..count];
    let mut upgrade = Elements::new(headers, "Upgrade");
    if !upgrade
        .next()
        .is_some_and(|e| e.eq_ignore_ascii_case(b"websocket"))
        || upgrade.any(|e| !e.eq_ignore_ascii_case(b"websocket"))
    {
        return Err(ResponseError::NotWebSocketUpgrade);
    }
    if !list_contains(headers, "Connection", "upgrade") {
        return Err(ResponseError::MissingConnectionUpgrade);
    }
    let mut accepts = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Accept"));
    match (accepts.next(), accepts.next()) {
        (None, _) => return Err(ResponseError::MissingAccept),
        (Some(accept), None) if accept.value == accept_key(&encode_key(&nonce)) => {}
        _ => return Err(ResponseError::AcceptMismatch),
    }
    let deflate = check_response(ExtensionOffers::new(headers), deflate).map_err(|e| match e {
        ResponseExtensionError::NotOffered => ResponseError::UnexpectedExtension,
        other => ResponseError::InvalidExtension(other),
    })?;
    let mut selected = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(PROTOCOL));
    let protocol = match (selected.next(), selected.next()) {
        (None, _) => None,
        (Some(header), None) => {
            let protocol = ascii(header.value).filter(|p| offered_protocols.contains(p));
            Some(protocol.ok_or(ResponseError::UnexpectedProtocol)?)
        }
        _ => return Err(ResponseError::UnexpectedProtocol),
    };
    Ok(Status::Complete(Accepted {
        head_len: lines.consumed(),
        protocol,
        deflate,
    }))
}

/// `status-line = HTTP-version SP status-code SP [reason-phrase]` (RFC 9112 §4). The SP before
/// an empty reason is also accepted when missing: the reason carries no meaning.
fn parse_status_line(line: &[u8]) -> Result<u16, ResponseError> {
    let (version, rest) = line
        .split_at_checked(8)
        .ok_or(ResponseError::BadStatusLine)?;
    match parse_http_version(version) {
        Some((1, minor)) if minor >= 1 => {}
        Some(_) => return Err(ResponseError::UnsupportedHttpVersion),
        None => return Err(ResponseError::BadStatusLine),
    }
    let (code, reason) = match rest {
        [b' ', a, b, c, reason @ ..] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => (
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'),
            reason,
        ),
        _ => return Err(ResponseError::BadStatusLine),
    };
    let reason_ok = match reason {
        [] => true,
        // reason-phrase = *( HTAB / SP / VCHAR / obs-text ), the bytes of a field value.
        [b' ', phrase @ ..] => phrase.iter().all(|&b| is_field_byte(b)),
        _ => false,
    };
    if reason_ok {
        Ok(code)
    } else {
        Err(ResponseError::BadStatusLine)
    }
}
