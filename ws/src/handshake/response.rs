//! The server's answers: the 101 that completes a handshake (RFC 6455 §4.2.2), error answers,
//! and the head of a plain response.

use super::HttpStatus;
use super::accept::accept_key;
use super::emit::{BufferTooSmall, Writer};
use super::extensions::EXTENSIONS;
use crate::deflate::DeflateParams;

/// Writes the 101 answer accepting a handshake with `Sec-WebSocket-Key` `key` (from
/// [`Upgrade::key`](super::Upgrade::key)), selecting `protocol` — which must be one of
/// [`Upgrade::protocols`](super::Upgrade::protocols), or `None` to select none. Returns the
/// number of bytes written; frames may follow them immediately.
pub fn write_accept_response(
    key: &str,
    protocol: Option<&str>,
    out: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    write_accept_response_with(key, protocol, None, out)
}

/// [`write_accept_response`] that also accepts permessage-deflate with `deflate`, the answer
/// [`crate::deflate::accept_offer`] chose (`Sec-WebSocket-Extensions`, RFC 7692 §5.1).
pub fn write_accept_response_with(
    key: &str,
    protocol: Option<&str>,
    deflate: Option<&DeflateParams>,
    out: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let mut w = Writer::new(out);
    status_line(&mut w, HttpStatus::SwitchingProtocols)?;
    w.header("Upgrade", b"websocket")?;
    w.header("Connection", b"Upgrade")?;
    w.header("Sec-WebSocket-Accept", &accept_key(key.as_bytes()))?;
    if let Some(protocol) = protocol {
        w.header("Sec-WebSocket-Protocol", protocol.as_bytes())?;
    }
    if let Some(deflate) = deflate {
        w.header(EXTENSIONS, &deflate.to_bytes())?;
    }
    w.bytes(b"\r\n")?;
    Ok(w.len())
}

/// Writes a complete error answer for `status`: `Connection: close` and a one-line text body
/// (`404 Not Found`). A 405 carries `Allow: GET`, the only method with a handshake; a 426 carries
/// `Upgrade: websocket` (RFC 9110 §15.5.22) and `Sec-WebSocket-Version: 13` (RFC 6455 §4.4).
/// The caller closes the connection once it is sent.
pub fn write_error_response(status: HttpStatus, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
    let reason = status.reason().as_bytes();
    let body_len = "000 ".len() + reason.len() + "\n".len();
    let mut w = Writer::new(out);
    // A sender of Upgrade also lists it in Connection (RFC 9110 §7.8).
    let connection: &[u8] = if status == HttpStatus::UpgradeRequired {
        b"Upgrade, close"
    } else {
        b"close"
    };
    entity_head(
        &mut w,
        status,
        "text/plain; charset=utf-8",
        body_len,
        connection,
    )?;
    match status {
        HttpStatus::MethodNotAllowed => w.header("Allow", b"GET")?,
        HttpStatus::UpgradeRequired => {
            w.header("Upgrade", b"websocket")?;
            w.header("Sec-WebSocket-Version", b"13")?;
        }
        _ => {}
    }
    w.bytes(b"\r\n")?;
    w.decimal(status.code().into())?;
    w.bytes(b" ")?;
    w.bytes(reason)?;
    w.bytes(b"\n")?;
    Ok(w.len())
}

/// Writes the head of a plain answer (e.g. the chat page): status line, `Content-Type`,
/// `Content-Length` and `Connection: keep-alive` or `close`. The caller sends
/// `content_length` body bytes after it.
pub fn write_response_head(
    status: HttpStatus,
    content_type: &str,
    content_length: usize,
    keep_alive: bool,
    out: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let mut w = Writer::new(out);
    // Explicit keep-alive also keeps HTTP/1.0 clients that asked for it persistent.
    let connection: &[u8] = if keep_alive { b"keep-alive" } else { b"close" };
    entity_head(&mut w, status, content_type, content_length, connection)?;
    w.bytes(b"\r\n")?;
    Ok(w.len())
}

/// Status line and the fields every answer with a body has.
fn entity_head(
    w: &mut Writer<'_>,
    status: HttpStatus,
    content_type: &str,
    content_length: usize,
    connection: &[u8],
) -> Result<(), BufferTooSmall> {
    status_line(w, status)?;
    w.header("Content-Type", content_type.as_bytes())?;
    w.bytes(b"Content-Length: ")?;
    w.decimal(content_length as u64)?;
    w.bytes(b"\r\n")?;
    w.header("Connection", connection)
}

/// `status-line = HTTP-version SP status-code SP reason-phrase` CRLF (RFC 9112 §4).
fn status_line(w: &mut Writer<'_>, status: HttpStatus) -> Result<(), BufferTooSmall> {
    w.bytes(b"HTTP/1.1 ")?;
    w.decimal(status.code().into())?;
    w.bytes(b" ")?;
    w.bytes(status.reason().as_bytes())?;
    w.bytes(b"\r\n")
}
