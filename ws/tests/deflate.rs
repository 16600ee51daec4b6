//! permessage-deflate (RFC 7692): the §7.2.3 examples byte for byte, RSV1 rules, context
//! takeover, bombs, invalid data, and the compressor's output read back by the inflater.

mod harness;

use harness::{Normalised, Owned, T0, normalise, raw_frame, server_frame};
use ws::deflate::{Agreement, Compressor, Inflater, WindowBits, max_compressed_len};
use ws::{Config, Connection, MessageKind, ProtocolError, Role};

/// RFC 7692 §7.2.3.1: "Hello" compressed, in one frame.
const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// §7.2.3.2: the second "Hello" of a connection that kept its context.
const HELLO_AGAIN: [u8; 5] = [0xf2, 0x00, 0x11, 0x00, 0x00];

fn agreement(bits: u8, no_context_takeover: bool) -> Agreement {
    let bits = WindowBits::new(bits).unwrap();
    Agreement {
        send_window_bits: bits,
        send_no_context_takeover: no_context_takeover,
        receive_window_bits: bits,
        receive_no_context_takeover: no_context_takeover,
    }
}

type Client = Connection<fn() -> [u8; 4]>;

fn client(config: Config) -> Client {
    let mut conn = Connection::new(
        Role::Client,
        config,
        (|| [1, 2, 3, 4]) as fn() -> [u8; 4],
        T0,
    );
    conn.set_compression(true);
    conn
}

fn inflater(agreement: &Agreement) -> Inflater<Vec<u8>> {
    Inflater::new(vec![0; agreement.receive_window_bits.bytes()], agreement).unwrap()
}

/// Feeds `bytes` through the inflater in pieces of the given sizes (cycled, 0 = the rest),
/// checking the handle_read contract, and returns the events.
fn feed(
    conn: &mut Client,
    inflater: &mut Inflater<Vec<u8>>,
    bytes: &[u8],
    piece_sizes: &[usize],
) -> Vec<Owned> {
    harness::feed_with(bytes, piece_sizes, |input| {
        let (consumed, event) = inflater.handle_read(conn, input, T0);
        (consumed, event.map(Owned::from))
    })
    .0
}

fn messages(bytes: &[u8], agreement: &Agreement, pieces: &[usize]) -> Vec<Normalised> {
    let mut conn = client(Config::default());
    let mut inflater = inflater(agreement);
    normalise(&feed(&mut conn, &mut inflater, bytes, pieces))
}

/// Lowercase letters with few repetitions a compressor could use (a linear congruential
/// sequence): they still take the fixed Huffman code's 8-bit literals.
fn letters(len: usize) -> Vec<u8> {
    let mut x = 12345u32;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            b'a' + ((x >> 16) % 26) as u8
        })
        .collect()
}

fn text(s: &str) -> Normalised {
    Normalised::Message(MessageKind::Text, s.as_bytes().to_vec())
}

/// A compressed message's first frame: FIN as given, RSV1, the opcode.
fn compressed_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(if fin { 0xC0 } else { 0x40 } | opcode, payload, None)
}

#[test]
fn rfc_7692_hello_in_one_frame() {
    let frame = compressed_frame(true, 0x1, &HELLO);
    assert_eq!(frame[..2], [0xc1, 0x07]);
    for pieces in [&[0][..], &[1], &[2, 1], &[8]] {
        assert_eq!(
            messages(&frame, &agreement(15, false), pieces),
            [text("Hello")]
        );
    }
}

#[test]
fn rfc_7692_hello_in_two_fragments() {
    // §7.2.3.1: 0x41 0x03 0xf2 0x48 0xcd, then 0x80 0x04 0xc9 0xc9 0x07 0x00.
    let mut bytes = compressed_frame(false, 0x1, &HELLO[..3]);
    bytes.extend(server_frame(true, 0x0, &HELLO[3..]));
    assert_eq!(
        bytes,
        [
            0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00
        ]
    );
    assert_eq!(
        messages(&bytes, &agreement(15, false), &[0]),
        [text("Hello")]
    );
}

#[test]
fn rfc_7692_context_takeover() {
    // §7.2.3.2: the second message refers back into the first.
    let mut bytes = compressed_frame(true, 0x1, &HELLO);
    bytes.extend(compressed_frame(true, 0x1, &HELLO_AGAIN));
    for pieces in [&[0][..], &[1], &[3, 5]] {
        assert_eq!(
            messages(&bytes, &agreement(15, false), pieces),
            [text("Hello"), text("Hello")]
        );
    }
    // Without context takeover the window is not referred to: the compressor sends "Hello"
    // alone every time, as the RFC shows.
    let mut compressor = Compressor::new(WindowBits::MAX);
    let mut out = [0u8; 32];
    for _ in 0..2 {
        let n = compressor.compress(b"Hello", true, &mut out).unwrap();
        assert_eq!(out[..n], HELLO);
    }
}

#[test]
fn rfc_7692_stored_block_and_two_blocks() {
    // §7.2.3.3: an uncompressed DEFLATE block.
    let stored = [
        0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    // §7.2.3.4: a fixed block with BFINAL set (the restored tail is then ignored).
    let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    // §7.2.3.5: "He" then "llo", two blocks with a sync flush between them.
    let two = [
        0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
    ];
    for payload in [&stored[..], &bfinal, &two] {
        let mut bytes = compressed_frame(true, 0x1, payload);
        // A second message after each: the stream state is right after the first.
        bytes.extend(compressed_frame(true, 0x1, &HELLO));
        for pieces in [&[0][..], &[1]] {
            assert_eq!(
                messages(&bytes, &agreement(15, false), pieces),
                [text("Hello"), text("Hello")],
                "{payload:x?}"
            );
        }
    }
}

#[test]
fn empty_message_is_a_single_zero_byte() {
    let mut compressor = Compressor::new(WindowBits::MAX);
    let mut out = [0u8; 16];
    let n = compressor.compress(b"", true, &mut out).unwrap();
    assert_eq!(out[..n], [0x00]);
    let bytes = compressed_frame(true, 0x2, &[0x00]);
    assert_eq!(
        messages(&bytes, &agreement(15, false), &[0]),
        [Normalised::Message(MessageKind::Binary, Vec::new())]
    );
    // A compressed frame with no payload at all is also an empty message.
    let bytes = compressed_frame(true, 0x2, &[]);
    assert_eq!(
        messages(&bytes, &agreement(15, false), &[0]),
        [Normalised::Message(MessageKind::Binary, Vec::new())]
    );
}

#[test]
fn uncompressed_messages_and_control_frames_pass_through() {
    let mut bytes = server_frame(true, 0x1, b"plain");
    bytes.extend(server_frame(true, 0x9, b"ping"));
    bytes.extend(compressed_frame(false, 0x1, &HELLO[..2]));
    // A control frame between two fragments of a compressed message.
    bytes.extend(server_frame(true, 0xA, b"pong"));
    bytes.extend(server_frame(true, 0x0, &HELLO[2..]));
    assert_eq!(
        messages(&bytes, &agreement(15, false), &[0]),
        [
            text("plain"),
            Normalised::Ping(b"ping".to_vec()),
            Normalised::Pong(b"pong".to_vec()),
            text("Hello"),
        ]
    );
}

fn failure(bytes: &[u8], config: Config, agreement: &Agreement) -> (Vec<Normalised>, Vec<u8>) {
    let mut conn = client(config);
    let mut inflater = inflater(agreement);
    let events = normalise(&feed(&mut conn, &mut inflater, bytes, &[0]));
    (events, harness::drain(&mut conn))
}

fn close_code(sent: &[u8]) -> u16 {
    // A client's Close: 2 header bytes, 4 key bytes, the masked code.
    let key = [sent[2], sent[3], sent[4], sent[5]];
    u16::from_be_bytes([sent[6] ^ key[0], sent[7] ^ key[1]])
}

#[test]
fn rsv1_misuse_fails_with_1002() {
    let cases = [
        // RSV1 on a continuation.
        (
            [
                compressed_frame(false, 0x1, &HELLO[..2]),
                compressed_frame(true, 0x0, &HELLO[2..]),
            ]
            .concat(),
            ProtocolError::CompressedContinuation,
        ),
        (
            compressed_frame(true, 0x9, b""),
            ProtocolError::CompressedControlFrame,
        ),
        (
            compressed_frame(true, 0x8, &[0x03, 0xe8]),
            ProtocolError::CompressedControlFrame,
        ),
        // RSV2 and RSV3 stay reserved.
        (raw_frame(0xA1, b"x", None), ProtocolError::ReservedBitsSet),
        (raw_frame(0x91, b"x", None), ProtocolError::ReservedBitsSet),
    ];
    for (bytes, error) in cases {
        let (events, sent) = failure(&bytes, Config::default(), &agreement(15, false));
        assert!(events.contains(&Normalised::Failed(error)), "{events:?}");
        assert_eq!(close_code(&sent), 1002);
    }
    // Without the extension negotiated, RSV1 is a reserved bit.
    let mut conn = Connection::new(Role::Client, Config::default(), || [0; 4], T0);
    let events = harness::feed(&mut conn, &compressed_frame(true, 0x1, &HELLO), &[0]);
    assert_eq!(events, [Owned::Failed(ProtocolError::ReservedBitsSet)]);
}

#[test]
fn invalid_deflate_data_fails_with_1007() {
    // BTYPE 11 is reserved.
    let (events, sent) = failure(
        &compressed_frame(true, 0x2, &[0x07, 0x00]),
        Config::default(),
        &agreement(15, false),
    );
    assert!(events.contains(&Normalised::Failed(ProtocolError::InvalidCompressedData)));
    assert_eq!(close_code(&sent), 1007);
    // A back-reference beyond the agreed window (distance 2000 with a 9-bit window).
    let mut compressor = Compressor::new(WindowBits::MAX);
    let mut data = letters(2100);
    data.copy_within(0..100, 2000);
    let mut out = vec![0; max_compressed_len(data.len())];
    let n = compressor.compress(&data, true, &mut out).unwrap();
    let (events, _) = failure(
        &compressed_frame(true, 0x2, &out[..n]),
        Config::default(),
        &agreement(9, false),
    );
    assert!(events.contains(&Normalised::Failed(ProtocolError::InvalidCompressedData)));
}

#[test]
fn invalid_utf8_after_inflating_fails_with_1007() {
    let mut compressor = Compressor::new(WindowBits::MAX);
    let mut out = [0u8; 64];
    for bad in [&b"ab\xffcd"[..], b"ends inside \xe2\x82"] {
        let n = compressor.compress(bad, true, &mut out).unwrap();
        let (events, sent) = failure(
            &compressed_frame(true, 0x1, &out[..n]),
            Config::default(),
            &agreement(15, false),
        );
        assert!(events.contains(&Normalised::Failed(ProtocolError::InvalidUtf8)));
        assert_eq!(close_code(&sent), 1007);
    }
}

#[test]
fn decompression_bomb_fails_with_1009_within_one_window() {
    // 16 MiB of zeros compress to ~100 KiB (fixed Huffman codes); the limit is 64 KiB.
    let data = vec![0u8; 16 << 20];
    let mut compressor = Compressor::new(WindowBits::MAX);
    let mut out = vec![0; max_compressed_len(data.len())];
    let n = compressor.compress(&data, true, &mut out).unwrap();
    assert!(n < 120_000, "{n}");
    let config = Config {
        max_message_size: 64 * 1024,
        ..Config::default()
    };
    let mut conn = client(config);
    let mut inflater = inflater(&agreement(15, false));
    let events = feed(
        &mut conn,
        &mut inflater,
        &compressed_frame(true, 0x2, &out[..n]),
        &[0],
    );
    let inflated: usize = events
        .iter()
        .map(|e| match e {
            Owned::Data { payload, .. } => payload.len(),
            _ => 0,
        })
        .sum();
    assert!(inflated <= 64 * 1024, "{inflated} bytes handed out");
    assert_eq!(
        events.last(),
        Some(&Owned::Failed(ProtocolError::MessageTooBig))
    );
    assert_eq!(close_code(&harness::drain(&mut conn)), 1009);
    // Exactly at the limit is fine.
    let n = compressor
        .compress(&data[..64 * 1024], true, &mut out)
        .unwrap();
    let mut conn = client(config);
    let events = normalise(&feed(
        &mut conn,
        &mut inflater,
        &compressed_frame(true, 0x2, &out[..n]),
        &[0],
    ));
    assert_eq!(
        events,
        [Normalised::Message(MessageKind::Binary, vec![0; 64 * 1024])]
    );
}

#[test]
fn pieces_are_at_most_one_window() {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 7) as u8).collect();
    let mut compressor = Compressor::new(WindowBits::new(9).unwrap());
    let mut out = vec![0; max_compressed_len(data.len())];
    let n = compressor.compress(&data, true, &mut out).unwrap();
    let mut conn = client(Config::default());
    let mut inflater = inflater(&agreement(9, false));
    let events = feed(
        &mut conn,
        &mut inflater,
        &compressed_frame(true, 0x2, &out[..n]),
        &[0],
    );
    assert!(events.len() >= 100_000 / 512);
    for event in &events {
        let Owned::Data { payload, .. } = event else {
            panic!("{event:?}")
        };
        assert!(payload.len() <= 512);
    }
    assert_eq!(
        normalise(&events),
        [Normalised::Message(MessageKind::Binary, data)]
    );
}

#[test]
fn window_must_be_a_large_enough_power_of_two() {
    let a = agreement(10, false);
    assert!(Inflater::new(vec![0u8; 1024], &a).is_ok());
    assert!(Inflater::new(vec![0u8; 4096], &a).is_ok());
    for len in [512, 1000, 1536] {
        assert_eq!(
            Inflater::new(vec![0u8; len], &a).unwrap_err(),
            ws::deflate::WindowTooSmall { needed: 1024 }
        );
    }
}

#[test]
fn sending_rsv1_needs_the_extension_and_a_first_frame() {
    let mut conn = Connection::new(Role::Client, Config::default(), || [0; 4], T0);
    assert_eq!(
        conn.send_compressed_frame_header(ws::OpCode::Text, true, 7),
        Err(ws::SendError::NotCompressible)
    );
    conn.set_compression(true);
    let header = conn
        .send_compressed_frame_header(ws::OpCode::Text, false, 7)
        .unwrap();
    assert_eq!(header[0], 0x41);
    assert_eq!(
        conn.send_compressed_frame_header(ws::OpCode::Continuation, true, 1),
        Err(ws::SendError::NotCompressible)
    );
    let header = conn
        .send_frame_header(ws::OpCode::Continuation, true, 1)
        .unwrap();
    assert_eq!(header[0], 0x80);
}

#[test]
fn handshake_carries_the_negotiation_both_ways() {
    use ws::deflate::{DeflatePolicy, accept_offer, client_offer};
    use ws::handshake::{self, ClientRequest, EMPTY_HEADER, ResponseError, Status};

    let nonce = [7u8; 16];
    let offer = client_offer(&DeflatePolicy::default());
    let mut request = [0u8; 512];
    let n = handshake::write_client_request_with(
        &ClientRequest {
            host: "10.0.0.2:8080",
            path: "/echo",
            origin: None,
            protocols: &[],
        },
        nonce,
        Some(&offer),
        &mut request,
    )
    .unwrap();
    let text = std::str::from_utf8(&request[..n]).unwrap();
    assert!(
        text.contains(
            "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        )
    );

    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(parsed)) = handshake::parse_request(&request[..n], &mut headers) else {
        panic!("request does not parse");
    };
    let upgrade = handshake::validate_upgrade(&parsed).unwrap();
    let (params, server_side) =
        accept_offer(upgrade.extension_offers(), &DeflatePolicy::default()).unwrap();
    let mut response = [0u8; 512];
    let n =
        handshake::write_accept_response_with(upgrade.key(), None, Some(&params), &mut response)
            .unwrap();
    let text = std::str::from_utf8(&response[..n]).unwrap();
    assert!(text.contains("\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"));

    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(accepted)) =
        handshake::parse_response_with(&response[..n], &mut headers, nonce, &[], Some(&offer))
    else {
        panic!("response does not parse");
    };
    let (_, client_side) = accepted.deflate().unwrap();
    assert_eq!(client_side, server_side, "15 bits both ways, context kept");
    // A client that offered nothing fails the same answer (RFC 6455 §4.1).
    let mut headers = [EMPTY_HEADER; 16];
    assert_eq!(
        handshake::parse_response(&response[..n], &mut headers, nonce, &[]),
        Err(ResponseError::UnexpectedExtension)
    );
}

/// 1 MB of random bytes (stored blocks) in TCP-like and odd piece sizes.
#[test]
fn a_large_stored_message_in_any_piece_size() {
    let mut x = 9u64;
    let data: Vec<u8> = (0..1_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let mut compressor = Compressor::new(WindowBits::MAX);
    let mut out = vec![0; max_compressed_len(data.len())];
    let n = compressor.compress(&data, true, &mut out).unwrap();
    assert!(n > data.len(), "random bytes do not shrink");
    for pieces in [&[0][..], &[1460], &[65536], &[7, 1000]] {
        let frame = compressed_frame(true, 0x2, &out[..n]);
        let got = messages(&frame, &agreement(15, false), pieces);
        assert_eq!(
            got,
            [Normalised::Message(MessageKind::Binary, data.clone())],
            "{pieces:?}"
        );
    }
}
