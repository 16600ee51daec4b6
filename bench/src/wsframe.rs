//! Minimal client-side RFC 6455 framing over split tokio halves, for the Socket.IO load
//! generator (`sioload`): one reader task and one writer per connection, and a read that is
//! cancel-safe (bytes stay in the reader's buffer when a `select!` drops the read).
//!
//! It does what a benchmark client needs and no more: server frames are unmasked and
//! unfragmented (the servers measured send Engine.IO packets as single frames; a fragment is an
//! error here, not something to reassemble), client frames are masked text. It is not the
//! project's `ws` on purpose, so a bug there cannot hide on both ends of a measurement.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Opcodes the reader reports (RFC 6455 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// A text frame.
    Text,
    /// A binary frame.
    Binary,
    /// The server closed the WebSocket.
    Close,
    /// A ping or pong (ignored by the generator; the servers measured do not send them).
    Control,
}

/// Reads whole frames from the server.
pub struct FrameReader {
    half: OwnedReadHalf,
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    start: usize,
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Largest frame accepted (the generator's messages are small).
const MAX_FRAME: usize = 16 << 20;

impl FrameReader {
    /// A reader over `half`, after `initial`: bytes of the first frames already read (those
    /// that came with the handshake's answer).
    pub fn new(half: OwnedReadHalf, mut initial: Vec<u8>) -> Self {
        initial.reserve(4096);
        FrameReader {
            half,
            buf: initial,
            start: 0,
        }
    }

    /// Header length and payload length of the frame at the start of `bytes`, once its header
    /// is complete.
    fn header(bytes: &[u8]) -> io::Result<Option<(usize, usize)>> {
        if bytes.len() < 2 {
            return Ok(None);
        }
        if bytes[0] & 0x80 == 0 {
            return Err(invalid("fragmented frame from the server"));
        }
        if bytes[1] & 0x80 != 0 {
            return Err(invalid("masked frame from the server"));
        }
        let (head, len) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (4, u16::from_be_bytes([bytes[2], bytes[3]]) as usize),
            127 if bytes.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&bytes[2..10]);
                (
                    10,
                    usize::try_from(u64::from_be_bytes(n)).unwrap_or(usize::MAX),
                )
            }
            126 | 127 => return Ok(None),
            n => (2, n as usize),
        };
        if len > MAX_FRAME {
            return Err(invalid("frame larger than the generator accepts"));
        }
        Ok(Some((head, len)))
    }

    /// The next whole frame: its opcode and payload. Cancel-safe.
    pub async fn read(&mut self) -> io::Result<(Opcode, &[u8])> {
        loop {
            let unread = &self.buf[self.start..];
            if let Some((head, len)) = Self::header(unread)?
                && unread.len() >= head + len
            {
                let opcode = match unread[0] & 0x0f {
                    1 => Opcode::Text,
                    2 => Opcode::Binary,
                    8 => Opcode::Close,
                    9 | 10 => Opcode::Control,
                    _ => return Err(invalid("unknown opcode from the server")),
                };
                let from = self.start + head;
                self.start = from + len;
                return Ok((opcode, &self.buf[from..from + len]));
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            self.buf.reserve(4096);
            if self.half.read_buf(&mut self.buf).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ));
            }
        }
    }
}

/// Writes masked text frames.
pub struct FrameWriter {
    half: OwnedWriteHalf,
    mask_state: u32,
    out: Vec<u8>,
}

impl FrameWriter {
    /// A writer over `half`; `seed` varies the masking keys between connections.
    pub fn new(half: OwnedWriteHalf, seed: u32) -> Self {
        FrameWriter {
            half,
            mask_state: seed | 1,
            out: Vec::with_capacity(256),
        }
    }

    /// Sends `text` as one masked text frame.
    pub async fn send_text(&mut self, text: &[u8]) -> io::Result<()> {
        // xorshift32: a fresh key per frame, as RFC 6455 §5.3 asks (unpredictability does
        // not matter to a benchmark).
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.mask_state = x;
        let key = x.to_be_bytes();
        self.out.clear();
        self.out.push(0x81);
        match text.len() {
            n if n < 126 => self.out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                self.out.push(0x80 | 126);
                self.out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                self.out.push(0x80 | 127);
                self.out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        self.out.extend_from_slice(&key);
        self.out
            .extend(text.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        self.half.write_all(&self.out).await
    }
}
