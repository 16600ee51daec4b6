//! Shared test harness for the connection tests: raw frame building (independent of the
//! crate's emitter, so malformed frames can be expressed), driving a connection with a given
//! chunking, and owned, normalised events.
#![allow(dead_code)] // each test crate uses a different subset

use ws::{CloseCode, Connection, Event, Instant, MaskKeySource, MessageKind, ProtocolError};

pub const T0: Instant = Instant::from_micros(0);

/// A raw frame: first byte (FIN, RSV, opcode bits) given literally.
pub fn raw_frame(first_byte: u8, payload: &[u8], masking_key: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![first_byte];
    let mask_bit = if masking_key.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match masking_key {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A frame as a client sends it (masked with a fixed key).
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(
        if fin { 0x80 } else { 0 } | opcode,
        payload,
        Some([0x37, 0xfa, 0x21, 0x3d]),
    )
}

/// A frame as a server sends it (unmasked).
pub fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(if fin { 0x80 } else { 0 } | opcode, payload, None)
}

/// An event with owned payloads, comparable across runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    Data {
        kind: MessageKind,
        payload: Vec<u8>,
        first: bool,
        fin: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<CloseCode>, String),
    Failed(ProtocolError),
    TimedOut,
}

impl From<Event<'_>> for Owned {
    fn from(event: Event<'_>) -> Self {
        match event {
            Event::Data {
                kind,
                payload,
                first,
                fin,
            } => Owned::Data {
                kind,
                payload: payload.to_vec(),
                first,
                fin,
            },
            Event::Ping(p) => Owned::Ping(p.to_vec()),
            Event::Pong(p) => Owned::Pong(p.to_vec()),
            Event::Close { code, reason } => Owned::Close(code, reason.as_str().to_owned()),
            Event::Failed(e) => Owned::Failed(e),
            Event::TimedOut => Owned::TimedOut,
        }
    }
}

/// A message-level event: data pieces concatenated per message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Normalised {
    Message(MessageKind, Vec<u8>),
    /// The pieces of a message that never finished.
    Partial(MessageKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<CloseCode>, String),
    Failed(ProtocolError),
    TimedOut,
}

/// Feeds `bytes` to `conn` cut into pieces of the given sizes (cycled; 0 means "the rest"),
/// checking the handle_read contract on the way, and returns all events.
pub fn feed<K: MaskKeySource>(
    conn: &mut Connection<K>,
    bytes: &[u8],
    piece_sizes: &[usize],
) -> Vec<Owned> {
    feed_via(conn, bytes, piece_sizes, None)
}

/// [`feed`] through [`Connection::read_into`] with an output buffer of `out_len` (≥ 1) bytes:
/// also checks that the input is left untouched.
pub fn feed_into<K: MaskKeySource>(
    conn: &mut Connection<K>,
    bytes: &[u8],
    piece_sizes: &[usize],
    out_len: usize,
) -> Vec<Owned> {
    feed_via(conn, bytes, piece_sizes, Some(out_len))
}

fn feed_via<K: MaskKeySource>(
    conn: &mut Connection<K>,
    bytes: &[u8],
    piece_sizes: &[usize],
    out_len: Option<usize>,
) -> Vec<Owned> {
    let mut buf = bytes.to_vec();
    let mut out = vec![0u8; out_len.unwrap_or(0)];
    let mut events = Vec::new();
    let mut start = 0;
    let mut sizes = piece_sizes.iter().copied().cycle();
    while start < buf.len() {
        let size = match sizes.next() {
            Some(0) | None => buf.len() - start,
            Some(n) => n.min(buf.len() - start),
        };
        let piece = &mut buf[start..start + size];
        let mut pos = 0;
        loop {
            let (consumed, event) = match out_len {
                Some(_) => conn.read_into(&piece[pos..], &mut out, T0),
                None => conn.handle_read(&mut piece[pos..], T0),
            };
            assert!(consumed <= size - pos, "consumed more than given");
            pos += consumed;
            match event {
                Some(event) => events.push(Owned::from(event)),
                None => {
                    assert_eq!(pos, size, "no event but input left over");
                    break;
                }
            }
        }
        start += size;
    }
    if out_len.is_some() {
        assert_eq!(buf, bytes, "read_into wrote to its input");
    }
    events
}

/// Concatenates data pieces per message and checks first/fin flags are consistent.
pub fn normalise(events: &[Owned]) -> Vec<Normalised> {
    let mut out = Vec::new();
    let mut open: Option<(MessageKind, Vec<u8>)> = None;
    for event in events {
        match event {
            Owned::Data {
                kind,
                payload,
                first,
                fin,
            } => {
                assert_eq!(*first, open.is_none(), "first flag out of step");
                let (_, buf) = open.get_or_insert_with(|| (*kind, Vec::new()));
                buf.extend_from_slice(payload);
                if *fin {
                    let (kind, buf) = open.take().unwrap();
                    out.push(Normalised::Message(kind, buf));
                }
            }
            Owned::Ping(p) => out.push(Normalised::Ping(p.clone())),
            Owned::Pong(p) => out.push(Normalised::Pong(p.clone())),
            Owned::Close(c, r) => out.push(Normalised::Close(*c, r.clone())),
            Owned::Failed(e) => out.push(Normalised::Failed(*e)),
            Owned::TimedOut => out.push(Normalised::TimedOut),
        }
    }
    if let Some((kind, buf)) = open {
        out.push(Normalised::Partial(kind, buf));
    }
    out
}

/// Everything the connection wants to transmit, with a generous buffer.
pub fn drain<K: MaskKeySource>(conn: &mut Connection<K>) -> Vec<u8> {
    let mut all = Vec::new();
    let mut out = [0u8; ws::MAX_CONTROL_FRAME_LEN * 3];
    while conn.wants_transmit() {
        let n = conn.poll_transmit(&mut out);
        assert!(n > 0, "wants_transmit but nothing written");
        all.extend_from_slice(&out[..n]);
    }
    all
}

/// A deterministic client key source.
pub fn counting_keys() -> impl FnMut() -> [u8; 4] {
    let mut n: u32 = 0x1234_5678;
    move || {
        n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        n.to_be_bytes()
    }
}
