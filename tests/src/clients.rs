//! Kernel-socket clients (call them inside [`crate::Netns::run`]): TCP connections, WebSocket
//! clients (tungstenite), raw HTTP exchanges, and hand-built frames for tests that write what
//! no client library would.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use tungstenite::Message;

use crate::{TUNWS_ADDR, TUNWS_PORT, tunws_endpoint, wait_for};

/// Timeout for every blocking read and write of the kernel-side clients, so a silent server makes
/// a test fail instead of hanging.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A TCP connection to tunws (call inside [`Netns::run`]) with read and write timeouts set.
pub fn connect_tcp() -> TcpStream {
    connect_tcp_to(tunws_endpoint())
}

/// A TCP connection to `endpoint` (call inside [`Netns::run`]) with read and write timeouts set.
pub fn connect_tcp_to(endpoint: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&endpoint, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {endpoint}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// A WebSocket client over kernel TCP: tungstenite, an implementation independent of ours, so
/// the tests cannot share a misreading of RFC 6455 with the server.
pub type Client = tungstenite::WebSocket<TcpStream>;

/// Connects to `ws://10.0.0.2:8080{path}` (call inside [`Netns::run`]); panics with the reason
/// when the handshake fails.
pub fn ws_connect(path: &str) -> Client {
    let url = format!("ws://{}:{}{path}", TUNWS_ADDR, TUNWS_PORT);
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    match tungstenite::client::client_with_config(url.as_str(), connect_tcp(), Some(config)) {
        Ok((ws, _response)) => ws,
        Err(e) => panic!("WebSocket handshake with {url} failed: {e}"),
    }
}

/// Reads the next data message, answering pings on the way; panics on close or error.
pub fn read_data(ws: &mut Client) -> Message {
    loop {
        match ws.read() {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => return m,
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Ok(Message::Close(frame)) => panic!("server closed instead of sending data: {frame:?}"),
            Err(e) => panic!("read from WebSocket: {e}"),
        }
    }
}

/// Sends a raw HTTP request and returns everything the server sent until it closed the connection
/// (or [`IO_TIMEOUT`] passed). Call inside [`Netns::run`].
pub fn http_exchange(request: &[u8]) -> String {
    http_exchange_at(tunws_endpoint(), request)
}

/// [`http_exchange`] with a server at `endpoint`.
pub fn http_exchange_at(endpoint: SocketAddr, request: &[u8]) -> String {
    let mut stream = connect_tcp_to(endpoint);
    stream.write_all(request).expect("send request");
    let mut response = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            // A reset after the response (the server closed with our bytes unread) still leaves
            // the response we already read; a timeout ends a keep-alive response.
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}

/// Sets SO_LINGER to zero so that dropping the stream sends RST instead of FIN.
pub fn set_linger_zero(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid fd owned by stream, pointer and length describe a live libc::linger.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
}

/// A fixed `Sec-WebSocket-Key` for raw handshakes (RFC 6455 §1.3's sample nonce).
const RAW_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Performs the upgrade to `path` by hand over a new kernel TCP connection (call inside
/// [`Netns::run`]) and returns the stream positioned just after the 101 head, for tests that
/// write frames no client library would build. Panics unless the answer is 101.
pub fn raw_upgrade(path: &str) -> TcpStream {
    let mut stream = connect_tcp();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {TUNWS_ADDR}:{TUNWS_PORT}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {RAW_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send upgrade");
    // One byte at a time, so no frame byte after the head is consumed here.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap_or_else(|e| {
            panic!(
                "read the 101 head: {e} (got {:?})",
                String::from_utf8_lossy(&head)
            )
        });
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "upgrade refused: {}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// The masking key of [`masked_frame`] (any key is valid; a fixed one keeps tests repeatable).
const RAW_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A client frame header: `first` is the first byte (FIN, RSV and opcode, e.g. 0x81 for a final
/// text frame), `len` the payload length to announce, followed by the masking key.
pub fn masked_frame_header(first: u8, len: u64) -> Vec<u8> {
    let mut frame = vec![first];
    match len {
        0..=125 => frame.push(0x80 | len as u8),
        126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&len.to_be_bytes());
        }
    }
    frame.extend_from_slice(&RAW_MASK);
    frame
}

/// A whole masked client frame carrying `payload` (see [`masked_frame_header`]).
pub fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = masked_frame_header(first, payload.len() as u64);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ RAW_MASK[i % 4]));
    frame
}

/// A frame as the server sent it (unmasked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFrame {
    /// The first byte: FIN, RSV and opcode.
    pub first: u8,
    /// The payload.
    pub payload: Vec<u8>,
}

impl ServerFrame {
    /// The opcode (low four bits of the first byte).
    pub fn opcode(&self) -> u8 {
        self.first & 0x0f
    }

    /// The status code of a Close frame (`None` for other frames and for a Close without one).
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode() == 0x8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Reads one server frame; refuses masked frames and lengths above 64 MiB (a test peer never
/// expects more), so a corrupted stream fails the test instead of allocating without bound.
pub fn read_server_frame(stream: &mut impl Read) -> std::io::Result<ServerFrame> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head)?;
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    if head[1] & 0x80 != 0 {
        return Err(invalid("masked frame from the server"));
    }
    let len = match head[1] & 0x7f {
        126 => {
            let mut ext = [0u8; 2];
            stream.read_exact(&mut ext)?;
            u64::from(u16::from_be_bytes(ext))
        }
        127 => {
            let mut ext = [0u8; 8];
            stream.read_exact(&mut ext)?;
            u64::from_be_bytes(ext)
        }
        n => u64::from(n),
    };
    if len > 64 << 20 {
        return Err(invalid("server frame longer than 64 MiB"));
    }
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload)?;
    Ok(ServerFrame {
        first: head[0],
        payload,
    })
}

/// Reads server frames, skipping data, Ping and Pong, until a Close frame, and returns its code
/// (`None` for a Close without code); an error if the stream ends or fails first.
pub fn read_close_code(stream: &mut impl Read) -> std::io::Result<Option<u16>> {
    loop {
        let frame = read_server_frame(stream)?;
        if frame.opcode() == 0x8 {
            return Ok(frame.close_code());
        }
    }
}

/// Connects to tunws's `/echo`, retrying refused connects for up to 5 s: for a test that has
/// just freed a place under `--max-connections` and waits for the stack to give it back.
pub fn ws_connect_when_free(what: &str) -> Client {
    let stream = wait_for(what, Duration::from_secs(5), || {
        TcpStream::connect_timeout(&tunws_endpoint(), Duration::from_secs(1)).ok()
    });
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let url = format!("ws://{}/echo", tunws_endpoint());
    tungstenite::client::client(url.as_str(), stream)
        .unwrap_or_else(|e| panic!("{what}: upgrade: {e}"))
        .0
}
