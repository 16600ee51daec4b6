//! One direction of a watched TCP connection as a byte stream, decoded the way a student
//! reads it: HTTP/1.1 heads (request or response, bodies skipped by `Content-Length`), then,
//! after an upgrade, WebSocket frames (RFC 6455 §5.2): header fields, masking key, payload
//! length and the first payload bytes unmasked. Payloads are never stored beyond that preview.
//!
//! Segments are placed by their sequence offset: a retransmitted or overlapping segment gives
//! only its new bytes, one that arrives early (after a loss) is held until the gap is filled,
//! up to [`MAX_HELD_SEGMENTS`] / [`MAX_HELD_BYTES`] per direction and within a `room` shared by
//! every stream (the caller's global bound); past that, or on anything it cannot read, the
//! decoder stops for this direction ([`Decoded::Stopped`]) and the ladder keeps showing TCP.

use std::collections::VecDeque;

use ws::HeaderView;
use ws::handshake::{self, EMPTY_HEADER, Status};

/// Out-of-order segments held per direction while a gap is open.
pub(crate) const MAX_HELD_SEGMENTS: usize = 32;
/// Bytes of them held per direction.
pub(crate) const MAX_HELD_BYTES: usize = 256 * 1024;
/// Longest head read (the server's own limit, `ws::handshake::ParseLimits::DEFAULT`).
const MAX_HEAD: usize = ws::handshake::ParseLimits::DEFAULT.max_head;
/// Header lines shown per head.
const MAX_HEADERS: usize = 64;
/// Payload bytes shown per data frame.
pub(crate) const PREVIEW: usize = 16;

/// Which end of the connection writes this stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writer {
    /// The side that opened the connection: requests, masked frames.
    Client,
    /// The side that accepted it: responses, unmasked frames.
    Server,
}

/// Something found in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A complete HTTP request head.
    Request(Head),
    /// A complete HTTP response head.
    Response(Head),
    /// A WebSocket frame: its header and the first payload bytes.
    Frame(Frame),
    /// Decoding of this direction stopped here, for this reason.
    Stopped(&'static str),
}

/// An HTTP head: the start line and the header fields (values as lossy UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub start_line: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The value of the first field named `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The status code of a response start line.
    pub(crate) fn status(&self) -> Option<u16> {
        self.start_line.split(' ').nth(1)?.parse().ok()
    }
}

/// A WebSocket frame header with a preview of its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub fin: bool,
    /// RSV1..3 as three bits (always 0 without extensions).
    pub rsv: u8,
    /// The raw opcode (reserved values included: the ladder shows what was sent).
    pub opcode: u8,
    pub masking_key: Option<[u8; 4]>,
    pub payload_len: u64,
    /// The header bytes as sent.
    pub header: Vec<u8>,
    /// The first payload bytes, unmasked: [`PREVIEW`] of them, or a whole control frame.
    pub preview: Vec<u8>,
}

enum Mode {
    /// Reading a head up to its blank line.
    Head(Vec<u8>),
    /// Skipping a body of this many bytes, then another head.
    Body(u64),
    /// Reading a frame header (up to 14 bytes).
    FrameHeader(Vec<u8>),
    /// In a frame's payload: `frame` is emitted once its preview is full.
    Payload {
        frame: Frame,
        /// Preview bytes wanted.
        wanted: usize,
        /// Payload bytes still to come.
        remaining: u64,
        /// Offset in the payload (for unmasking).
        offset: u64,
        emitted: bool,
    },
    /// Not decoding any more.
    Off,
}

/// The decoder of one direction.
pub(crate) struct Stream {
    writer: Writer,
    mode: Mode,
    /// Offset (from the first byte after SYN) of the next byte to decode.
    next: u32,
    /// Early segments: (offset, bytes).
    held: Vec<(u32, Vec<u8>)>,
    held_bytes: usize,
    /// Server side: for each request not yet answered, whether it was `HEAD` (its response
    /// has a `Content-Length` but no body).
    pub(crate) head_requests: VecDeque<bool>,
}

impl Stream {
    /// A stream whose first byte is at offset 0.
    pub(crate) fn new(writer: Writer) -> Self {
        Stream {
            writer,
            mode: Mode::Head(Vec::new()),
            next: 0,
            held: Vec::new(),
            held_bytes: 0,
            head_requests: VecDeque::new(),
        }
    }

    /// Who writes this stream.
    pub(crate) fn writer(&self) -> Writer {
        self.writer
    }

    /// Whether this direction is still being decoded.
    pub(crate) fn is_on(&self) -> bool {
        !matches!(self.mode, Mode::Off)
    }

    /// Takes the payload of a segment at `offset`; what it completes goes to `out`. Held
    /// (early) bytes are taken from `room` and given back when decoded or dropped.
    pub(crate) fn push(
        &mut self,
        offset: u32,
        data: &[u8],
        out: &mut Vec<Decoded>,
        room: &mut usize,
    ) {
        if self.is_on() && !data.is_empty() {
            self.place(offset, data, out, room);
        }
        if !self.is_on() && self.held_bytes > 0 {
            *room += self.held_bytes;
            self.held_bytes = 0;
            self.held = Vec::new();
        }
    }

    /// Bytes held for after a gap.
    pub(crate) fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    fn place(&mut self, offset: u32, data: &[u8], out: &mut Vec<Decoded>, room: &mut usize) {
        let ahead = offset.wrapping_sub(self.next) as i32;
        if ahead > 0 {
            if self.held.len() >= MAX_HELD_SEGMENTS
                || self.held_bytes + data.len() > MAX_HELD_BYTES
                || data.len() > *room
            {
                self.stop("too much data after a gap", out);
                return;
            }
            *room -= data.len();
            self.held_bytes += data.len();
            self.held.push((offset, data.to_vec()));
            return;
        }
        self.take_from(offset, data, out);
        // Fill in from held segments the new bytes reach.
        while let Some(i) = self.held.iter().position(|(at, bytes)| {
            at.wrapping_sub(self.next) as i32 <= 0
                && at.wrapping_add(bytes.len() as u32).wrapping_sub(self.next) as i32 > 0
        }) {
            let (at, bytes) = self.held.swap_remove(i);
            self.held_bytes -= bytes.len();
            *room += bytes.len();
            self.take_from(at, &bytes, out);
        }
        let next = self.next;
        let held_bytes = &mut self.held_bytes;
        self.held.retain(|(at, bytes)| {
            let keep = at.wrapping_add(bytes.len() as u32).wrapping_sub(next) as i32 > 0;
            if !keep {
                *held_bytes -= bytes.len();
                *room += bytes.len();
            }
            keep
        });
    }

    /// Decodes the part of `data` (at `offset`, not ahead of `next`) that is new.
    fn take_from(&mut self, offset: u32, data: &[u8], out: &mut Vec<Decoded>) {
        let seen = self.next.wrapping_sub(offset) as usize;
        if let Some(new) = data.get(seen..).filter(|new| !new.is_empty()) {
            self.next = self.next.wrapping_add(new.len() as u32);
            self.decode(new, out);
        }
    }

    /// Stops decoding; [`Stream::push`] gives the held bytes back.
    fn stop(&mut self, reason: &'static str, out: &mut Vec<Decoded>) {
        self.mode = Mode::Off;
        out.push(Decoded::Stopped(reason));
    }

    /// Runs the in-order bytes `data` through the state machine.
    fn decode(&mut self, mut data: &[u8], out: &mut Vec<Decoded>) {
        while !data.is_empty() {
            match &mut self.mode {
                Mode::Off => return,
                Mode::Head(buf) => {
                    // Look for the blank line from just before the new bytes.
                    let from = buf.len().saturating_sub(3);
                    let take = data.len().min(MAX_HEAD + 1 - buf.len());
                    buf.extend_from_slice(&data[..take]);
                    let Some(end) = find_blank_line(&buf[from..]).map(|e| from + e) else {
                        data = &data[take..];
                        if buf.len() > MAX_HEAD {
                            self.stop("HTTP head longer than 8 KiB", out);
                        }
                        continue;
                    };
                    // Bytes past the head go back to the loop.
                    let extra = buf.len() - end;
                    data = &data[take - extra..];
                    let head = std::mem::take(buf);
                    self.finish_head(&head[..end], out);
                }
                Mode::Body(left) => {
                    let n = (*left).min(data.len() as u64);
                    *left -= n;
                    data = &data[n as usize..];
                    if *left == 0 {
                        self.mode = Mode::Head(Vec::new());
                    }
                }
                Mode::FrameHeader(buf) => {
                    let need = HeaderView::required_len(buf).max(2);
                    let take = need.saturating_sub(buf.len()).min(data.len());
                    buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    // The length may grow once the second byte is known.
                    let Ok(view) = HeaderView::new_checked(buf) else {
                        continue;
                    };
                    let len = view.payload_len();
                    let opcode = view.opcode_bits();
                    let wanted = if opcode >= 8 {
                        len.min(125)
                    } else {
                        len.min(PREVIEW as u64)
                    };
                    let frame = Frame {
                        fin: view.fin(),
                        rsv: (u8::from(view.rsv1()) << 2)
                            | (u8::from(view.rsv2()) << 1)
                            | u8::from(view.rsv3()),
                        opcode,
                        masking_key: view.masking_key(),
                        payload_len: len,
                        header: buf.clone(),
                        preview: Vec::new(),
                    };
                    self.mode = Mode::Payload {
                        frame,
                        wanted: wanted as usize,
                        remaining: len,
                        offset: 0,
                        emitted: false,
                    };
                    self.payload_progress(out);
                }
                Mode::Payload {
                    frame,
                    wanted,
                    remaining,
                    offset,
                    ..
                } => {
                    let n = (*remaining).min(data.len() as u64) as usize;
                    let room = wanted.saturating_sub(frame.preview.len()).min(n);
                    if room > 0 {
                        let start = frame.preview.len();
                        frame.preview.extend_from_slice(&data[..room]);
                        if let Some(key) = frame.masking_key {
                            ws::apply_mask(&mut frame.preview[start..], key, *offset);
                        }
                    }
                    *remaining -= n as u64;
                    *offset += n as u64;
                    data = &data[n..];
                    self.payload_progress(out);
                }
            }
        }
    }

    /// Emits the current frame once its preview is complete, and moves to the next header
    /// once its payload is over.
    fn payload_progress(&mut self, out: &mut Vec<Decoded>) {
        let Mode::Payload {
            frame,
            wanted,
            remaining,
            emitted,
            ..
        } = &mut self.mode
        else {
            return;
        };
        if !*emitted && frame.preview.len() >= *wanted {
            *emitted = true;
            out.push(Decoded::Frame(frame.clone()));
        }
        if *remaining == 0 {
            self.mode = Mode::FrameHeader(Vec::with_capacity(14));
        }
    }

    /// A whole head arrived: report it and choose what follows it.
    fn finish_head(&mut self, head: &[u8], out: &mut Vec<Decoded>) {
        match self.writer {
            Writer::Client => {
                let mut storage = [EMPTY_HEADER; MAX_HEADERS];
                let request = match handshake::parse_request(head, &mut storage) {
                    Ok(Status::Complete(request)) => request,
                    _ => return self.stop("not a valid HTTP request", out),
                };
                let parsed = Head {
                    start_line: format!(
                        "{} {} HTTP/1.{}",
                        request.method(),
                        request.path(),
                        request.minor_version()
                    ),
                    headers: request
                        .headers()
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                };
                let body = match request.content_length() {
                    Ok(len) => len.unwrap_or(0),
                    Err(_) => return self.stop("request body length unknown", out),
                };
                self.mode = if request.is_websocket_upgrade() {
                    Mode::FrameHeader(Vec::with_capacity(14))
                } else if body > 0 {
                    Mode::Body(body)
                } else {
                    Mode::Head(Vec::new())
                };
                out.push(Decoded::Request(parsed));
            }
            Writer::Server => {
                let Some(parsed) = parse_response(head) else {
                    return self.stop("not a valid HTTP response", out);
                };
                let head_request = self.head_requests.pop_front().unwrap_or(false);
                let status = parsed.status().unwrap_or(0);
                let body = parsed
                    .header("content-length")
                    .and_then(|v| v.trim().parse::<u64>().ok());
                self.mode = if status == 101 {
                    Mode::FrameHeader(Vec::with_capacity(14))
                } else if parsed.header("transfer-encoding").is_some() {
                    out.push(Decoded::Response(parsed));
                    return self.stop("chunked bodies are not followed", out);
                } else if head_request
                    || status == 204
                    || status == 304
                    || (100..200).contains(&status)
                {
                    Mode::Head(Vec::new())
                } else {
                    match body {
                        Some(0) => Mode::Head(Vec::new()),
                        Some(len) => Mode::Body(len),
                        // Without a length the body runs to the end of the connection.
                        None => Mode::Off,
                    }
                };
                out.push(Decoded::Response(parsed));
            }
        }
    }
}

/// End of the head (after its blank line) in `bytes`, if present.
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

/// A response head: `HTTP/1.x NNN reason` and `name: value` lines. Lenient on what it shows
/// (the peer is our own server or a server our client talks to), strict on the shape.
fn parse_response(head: &[u8]) -> Option<Head> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    let start_line = lines.next()?.to_string();
    if !start_line.starts_with("HTTP/1.") {
        return None;
    }
    let mut headers = Vec::new();
    for line in lines.take(MAX_HEADERS) {
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let head = Head {
        start_line,
        headers,
    };
    head.status()?;
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &[u8] = b"GET /chat?t=abc HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    /// RFC 6455 §5.7: a masked "Hello".
    const MASKED_HELLO: &[u8] = &[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];

    fn client_bytes() -> Vec<u8> {
        let mut bytes = REQUEST.to_vec();
        bytes.extend_from_slice(MASKED_HELLO);
        // A masked Close 1000 (RFC 6455 §5.5.1 with the key 01 02 03 04).
        bytes.extend_from_slice(&[0x88, 0x82, 0x01, 0x02, 0x03, 0x04, 0x02, 0xea]);
        bytes
    }

    fn decode_in_pieces(bytes: &[u8], cut: usize) -> Vec<Decoded> {
        let mut room = MAX_HELD_BYTES;
        let mut stream = Stream::new(Writer::Client);
        let mut out = Vec::new();
        for (i, chunk) in bytes.chunks(cut).enumerate() {
            stream.push((i * cut) as u32, chunk, &mut out, &mut room);
        }
        out
    }

    #[test]
    fn request_then_masked_frames_whatever_the_segment_size() {
        let whole = decode_in_pieces(&client_bytes(), usize::MAX >> 1);
        assert_eq!(whole.len(), 3, "{whole:?}");
        let Decoded::Request(head) = &whole[0] else {
            panic!("{whole:?}")
        };
        assert_eq!(head.start_line, "GET /chat?t=abc HTTP/1.1");
        assert_eq!(
            head.header("sec-websocket-key"),
            Some("dGhlIHNhbXBsZSBub25jZQ==")
        );
        let Decoded::Frame(hello) = &whole[1] else {
            panic!("{whole:?}")
        };
        assert_eq!((hello.fin, hello.opcode, hello.payload_len), (true, 1, 5));
        assert_eq!(hello.masking_key, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(hello.preview, b"Hello");
        assert_eq!(hello.header, &MASKED_HELLO[..6]);
        let Decoded::Frame(close) = &whole[2] else {
            panic!("{whole:?}")
        };
        assert_eq!(
            (close.opcode, close.preview.as_slice()),
            (8, &[0x03, 0xe8][..])
        );
        for cut in 1..20 {
            assert_eq!(decode_in_pieces(&client_bytes(), cut), whole, "cut {cut}");
        }
    }

    #[test]
    fn retransmissions_overlaps_and_early_segments_decode_once() {
        let bytes = client_bytes();
        let mut room = MAX_HELD_BYTES;
        let mut stream = Stream::new(Writer::Client);
        let mut out = Vec::new();
        let (a, rest) = bytes.split_at(100);
        let (b, c) = rest.split_at(60);
        // c arrives first (a gap), then a, then a again (retransmitted), then a..b overlapping.
        stream.push(160, c, &mut out, &mut room);
        assert!(out.is_empty());
        assert_eq!(room, MAX_HELD_BYTES - c.len());
        stream.push(0, a, &mut out, &mut room);
        stream.push(0, a, &mut out, &mut room);
        stream.push(50, &bytes[50..160], &mut out, &mut room);
        assert_eq!(out, decode_in_pieces(&bytes, bytes.len()));
        assert_eq!(room, MAX_HELD_BYTES);
        let mut small = 5;
        let mut stream = Stream::new(Writer::Client);
        stream.push(500, b"early bytes", &mut out, &mut small);
        assert_eq!(
            out.last(),
            Some(&Decoded::Stopped("too much data after a gap"))
        );
        assert_eq!(small, 5, "no room: nothing held");
        let _ = b;
    }

    #[test]
    fn responses_skip_bodies_and_switch_to_frames_after_101() {
        let mut room = MAX_HELD_BYTES;
        let mut stream = Stream::new(Writer::Server);
        stream.head_requests.extend([false, true, false]);
        let mut bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec();
        bytes.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n");
        bytes.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
        bytes.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        let mut out = Vec::new();
        stream.push(0, &bytes, &mut out, &mut room);
        let statuses: Vec<_> = out
            .iter()
            .map(|d| match d {
                Decoded::Response(h) => h.status().unwrap(),
                Decoded::Frame(f) => u16::from(f.opcode) + 1000,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(statuses, [200, 200, 101, 1001]);
        let Some(Decoded::Frame(frame)) = out.last() else {
            unreachable!()
        };
        assert_eq!(
            (frame.masking_key, frame.preview.as_slice()),
            (None, &b"hi"[..])
        );
    }

    #[test]
    fn garbage_and_endless_gaps_stop_the_decoder_without_panicking() {
        let mut out = Vec::new();
        let mut room = MAX_HELD_BYTES;
        let mut stream = Stream::new(Writer::Client);
        stream.push(0, b"\x16\x03\x01 not http\r\n\r\n", &mut out, &mut room);
        assert_eq!(out, [Decoded::Stopped("not a valid HTTP request")]);
        stream.push(30, b"more", &mut out, &mut room);
        assert_eq!(out.len(), 1);

        let mut out = Vec::new();
        let mut room = MAX_HELD_BYTES;
        let mut stream = Stream::new(Writer::Server);
        for i in 0..=MAX_HELD_SEGMENTS as u32 {
            stream.push(1000 + i * 10, &[0; 10], &mut out, &mut room);
        }
        assert_eq!(out, [Decoded::Stopped("too much data after a gap")]);
        assert_eq!(
            room, MAX_HELD_BYTES,
            "a stopped stream gives its held bytes back"
        );

        let mut out = Vec::new();
        let mut room = MAX_HELD_BYTES;
        let mut stream = Stream::new(Writer::Server);
        stream.push(0, &vec![b'a'; MAX_HEAD + 10], &mut out, &mut room);
        assert_eq!(out, [Decoded::Stopped("HTTP head longer than 8 KiB")]);
    }
}
