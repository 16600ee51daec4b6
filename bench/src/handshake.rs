//! Minimal RFC 6455 opening handshake over a tokio stream, for the fastwebsockets client and peer.
//!
//! fastwebsockets only ships its handshake behind the `upgrade` feature, which pulls in hyper; a
//! hand-written one keeps the bench build small. It does exactly what the RFC requires and no
//! more (no extensions, no subprotocols), and it is not the project's `ws` handshake on purpose.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The GUID of RFC 6455 §1.3 appended to the key before hashing.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Largest request or response head accepted; real heads here are ~200 bytes.
const MAX_HEAD: usize = 8192;

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (base64 of SHA-1(key ‖ GUID)).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    let mut out = [0u8; 28];
    let n = STANDARD
        .encode_slice(sha.finalize(), &mut out)
        .expect("20 bytes of SHA-1 encode to 28 base64 bytes");
    String::from_utf8_lossy(&out[..n]).into_owned()
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Reads an HTTP head (up to and including CRLFCRLF) and returns it with any bytes that came after
/// it in the same reads (a server may send its first message right behind its 101).
async fn read_head_and_rest(stream: &mut TcpStream) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed during handshake",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(invalid("handshake head too large"));
        }
    }
}

/// Reads an HTTP head. The other side sends nothing after its head until it hears from us, so
/// any extra byte is a protocol error rather than data to keep.
async fn read_head(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let (head, rest) = read_head_and_rest(stream).await?;
    if !rest.is_empty() {
        return Err(invalid("bytes after the handshake head"));
    }
    Ok(head)
}

/// Value of the first header called `name` (ASCII case-insensitive), trimmed.
fn header<'a>(head: &'a [u8], name: &str) -> Option<&'a [u8]> {
    head.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let (n, v) = line.split_at(colon);
        n.eq_ignore_ascii_case(name.as_bytes())
            .then(|| v[1..].trim_ascii())
    })
}

/// Server side: reads the upgrade request and answers 101 (or 400 and an error).
pub async fn server(stream: &mut TcpStream) -> io::Result<()> {
    let head = read_head(stream).await?;
    let Some(key) = header(&head, "sec-websocket-key") else {
        stream
            .write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await?;
        return Err(invalid("request without Sec-WebSocket-Key"));
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    );
    stream.write_all(response.as_bytes()).await
}

/// Client side: sends the upgrade request for `path` with a key made from `nonce`, and checks the
/// 101 and its `Sec-WebSocket-Accept`. The server must not send anything before it hears from
/// the client (an echo server).
pub async fn client(
    stream: &mut TcpStream,
    host: &str,
    path: &str,
    nonce: [u8; 16],
) -> io::Result<()> {
    if client_keeping_rest(stream, host, path, nonce)
        .await?
        .is_empty()
    {
        Ok(())
    } else {
        Err(invalid("bytes after the handshake head"))
    }
}

/// [`client`] for servers that speak first (Engine.IO sends its open packet right after the
/// 101): returns the bytes that followed the 101 in the same reads, the start of the first
/// WebSocket frames.
pub async fn client_keeping_rest(
    stream: &mut TcpStream,
    host: &str,
    path: &str,
    nonce: [u8; 16],
) -> io::Result<Vec<u8>> {
    let mut key = [0u8; 24];
    let n = STANDARD
        .encode_slice(nonce, &mut key)
        .expect("16 bytes encode to 24 base64 bytes");
    let key = std::str::from_utf8(&key[..n]).expect("base64 is ASCII");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let (head, rest) = read_head_and_rest(stream).await?;
    if !head.starts_with(b"HTTP/1.1 101") {
        let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
        return Err(invalid(&format!(
            "upgrade refused: {}",
            String::from_utf8_lossy(line)
        )));
    }
    match header(&head, "sec-websocket-accept") {
        Some(got) if got == accept_key(key.as_bytes()).as_bytes() => Ok(rest),
        _ => Err(invalid("wrong or missing Sec-WebSocket-Accept")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn header_lookup_is_case_insensitive_and_skips_request_line() {
        let head = b"GET /x HTTP/1.1\r\nHost: a\r\nSEC-WebSocket-Key:  abc \r\n\r\n";
        assert_eq!(header(head, "sec-websocket-key"), Some(&b"abc"[..]));
        assert_eq!(header(head, "origin"), None);
    }
}
