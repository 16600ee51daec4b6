//! RFC 6455 §5.7 examples, byte for byte, through whole connections.

mod harness;

use harness::{Owned, T0, counting_keys, drain, feed};
use ws::{Config, Connection, MessageKind, Role};

fn client() -> Connection<impl ws::MaskKeySource> {
    Connection::new(Role::Client, Config::default(), counting_keys(), T0)
}

fn server() -> Connection {
    Connection::server(Config::default(), T0)
}

fn text(payload: &[u8], first: bool, fin: bool) -> Owned {
    Owned::Data {
        kind: MessageKind::Text,
        payload: payload.to_vec(),
        first,
        fin,
    }
}

#[test]
fn single_frame_unmasked_text_to_client() {
    let bytes = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(
        feed(&mut client(), &bytes, &[0]),
        [text(b"Hello", true, true)]
    );
}

#[test]
fn single_frame_masked_text_to_server() {
    let bytes = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        feed(&mut server(), &bytes, &[0]),
        [text(b"Hello", true, true)]
    );
}

#[test]
fn masked_text_unmasked_in_place_in_the_input() {
    let mut bytes = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let mut conn = server();
    let (consumed, event) = conn.handle_read(&mut bytes, T0);
    assert_eq!(consumed, 11);
    let Some(ws::Event::Data { payload, .. }) = event else {
        panic!("expected data")
    };
    assert_eq!(payload, b"Hello");
    assert_eq!(
        &bytes[6..],
        b"Hello",
        "payload is a view of the caller's buffer"
    );
}

#[test]
fn fragmented_unmasked_text_to_client() {
    let bytes = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    assert_eq!(
        feed(&mut client(), &bytes, &[0]),
        [text(b"Hel", true, false), text(b"lo", false, true)]
    );
}

#[test]
fn unmasked_ping_to_client_is_answered_with_masked_pong() {
    let mut conn = client();
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(
        feed(&mut conn, &ping, &[0]),
        [Owned::Ping(b"Hello".to_vec())]
    );
    let pong = drain(&mut conn);
    // Masked Pong "Hello" as in §5.7, with whatever key the key source gave.
    assert_eq!(&pong[..2], &[0x8a, 0x85]);
    let key = [pong[2], pong[3], pong[4], pong[5]];
    let unmasked: Vec<u8> = pong[6..]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ key[i % 4])
        .collect();
    assert_eq!(unmasked, b"Hello");
}

#[test]
fn masked_pong_to_server() {
    let bytes = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let mut conn = server();
    assert_eq!(
        feed(&mut conn, &bytes, &[0]),
        [Owned::Pong(b"Hello".to_vec())]
    );
    assert!(!conn.wants_transmit(), "a Pong is not answered");
}

#[test]
fn ping_to_server_is_answered_with_unmasked_pong() {
    let mut conn = server();
    let ping = [
        0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        feed(&mut conn, &ping, &[0]),
        [Owned::Ping(b"Hello".to_vec())]
    );
    assert_eq!(drain(&mut conn), [0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
}

#[test]
fn binary_256_bytes_has_16_bit_length() {
    let payload: Vec<u8> = (0..=255).collect();
    let mut bytes = vec![0x82, 0x7E, 0x01, 0x00];
    bytes.extend_from_slice(&payload);
    let events = feed(&mut client(), &bytes, &[0]);
    assert_eq!(
        events,
        [Owned::Data {
            kind: MessageKind::Binary,
            payload,
            first: true,
            fin: true
        }]
    );
    let mut out = [0u8; 300];
    let n = server()
        .send(MessageKind::Binary, &bytes[4..], &mut out)
        .unwrap();
    assert_eq!(&out[..n], &bytes[..]);
}

#[test]
fn binary_64_kib_has_64_bit_length() {
    let payload: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    let mut bytes = vec![0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
    bytes.extend_from_slice(&payload);
    let events = feed(&mut client(), &bytes, &[0]);
    assert_eq!(
        events,
        [Owned::Data {
            kind: MessageKind::Binary,
            payload: payload.clone(),
            first: true,
            fin: true
        }]
    );
    let mut out = vec![0u8; 65536 + 10];
    let n = server()
        .send(MessageKind::Binary, &payload, &mut out)
        .unwrap();
    assert_eq!(&out[..n], &bytes[..]);
}

#[test]
fn masked_64_kib_frame_is_one_event_when_it_arrives_whole() {
    let payload = vec![0xA5u8; 65536];
    let bytes = harness::client_frame(true, 0x2, &payload);
    let events = feed(&mut server(), &bytes, &[0]);
    assert_eq!(
        events,
        [Owned::Data {
            kind: MessageKind::Binary,
            payload,
            first: true,
            fin: true
        }]
    );
}
