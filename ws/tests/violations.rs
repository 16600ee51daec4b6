//! One test per malformed-input branch, each asserting the exact close code the connection
//! sends, and that a failed connection ignores everything after.

mod harness;

use harness::{Owned, T0, client_frame, counting_keys, drain, feed, raw_frame, server_frame};
use ws::{CloseCode, Config, Connection, MaskKeySource, MessageKind, ProtocolError, Role, State};

/// Feeds `bytes` to a server (in one piece and byte by byte) and checks that it fails with
/// `error`, sends exactly one Close carrying `code`, and ignores further input.
fn assert_server_fails(bytes: &[u8], error: ProtocolError, code: u16) {
    assert_server_fails_with(Config::default(), bytes, error, code);
}

fn assert_server_fails_with(config: Config, bytes: &[u8], error: ProtocolError, code: u16) {
    for pieces in [&[0][..], &[1]] {
        let mut conn = Connection::server(config, T0);
        check_failure(&mut conn, bytes, pieces, error, code);
        let close = drain(&mut conn);
        assert_eq!(
            close,
            [&[0x88, 0x02][..], &code.to_be_bytes()].concat(),
            "one unmasked Close with the code"
        );
        after_failure(&mut conn, true);
    }
}

fn assert_client_fails(bytes: &[u8], error: ProtocolError, code: u16) {
    for pieces in [&[0][..], &[1]] {
        let mut conn = Connection::new(Role::Client, Config::default(), counting_keys(), T0);
        check_failure(&mut conn, bytes, pieces, error, code);
        let close = drain(&mut conn);
        assert_eq!(&close[..2], &[0x88, 0x82], "one masked Close");
        let key = &close[2..6];
        assert_eq!([close[6] ^ key[0], close[7] ^ key[1]], code.to_be_bytes());
        assert_eq!(close.len(), 8);
        after_failure(&mut conn, true);
    }
}

fn check_failure<K: MaskKeySource>(
    conn: &mut Connection<K>,
    bytes: &[u8],
    pieces: &[usize],
    error: ProtocolError,
    code: u16,
) {
    let events = feed(conn, bytes, pieces);
    assert_eq!(
        events.last(),
        Some(&Owned::Failed(error)),
        "pieces {pieces:?}: {events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Owned::Failed(_)))
            .count(),
        1
    );
    assert_eq!(error.close_code(), CloseCode(code));
    assert_eq!(conn.state(), State::Closing);
    assert!(conn.wants_transmit());
}

fn after_failure<K: MaskKeySource>(conn: &mut Connection<K>, tcp_close: bool) {
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.wants_tcp_close(), tcp_close);
    // Further input, even valid, produces nothing and is consumed.
    let mut more = client_frame(true, 0x1, b"late");
    let len = more.len();
    assert_eq!(conn.handle_read(&mut more, T0), (len, None));
    assert!(!conn.wants_transmit(), "the Close is sent once");
    assert_eq!(
        conn.send(MessageKind::Text, b"x", &mut [0; 16]),
        Err(ws::SendError::Closed)
    );
}

#[test]
fn rsv1_set() {
    assert_server_fails(
        &raw_frame(0x81 | 0x40, b"x", Some([1, 2, 3, 4])),
        ProtocolError::ReservedBitsSet,
        1002,
    );
}

#[test]
fn rsv2_set() {
    assert_server_fails(
        &raw_frame(0x81 | 0x20, b"x", Some([1, 2, 3, 4])),
        ProtocolError::ReservedBitsSet,
        1002,
    );
}

#[test]
fn rsv3_set() {
    assert_server_fails(
        &raw_frame(0x81 | 0x10, b"x", Some([1, 2, 3, 4])),
        ProtocolError::ReservedBitsSet,
        1002,
    );
}

#[test]
fn reserved_data_opcodes() {
    for opcode in 0x3..=0x7 {
        assert_server_fails(
            &client_frame(true, opcode, b""),
            ProtocolError::ReservedOpcode,
            1002,
        );
    }
}

#[test]
fn reserved_control_opcodes() {
    for opcode in 0xB..=0xF {
        assert_server_fails(
            &client_frame(true, opcode, b""),
            ProtocolError::ReservedOpcode,
            1002,
        );
    }
}

#[test]
fn payload_length_with_top_bit_set() {
    let bytes = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4];
    assert_server_fails(&bytes, ProtocolError::PayloadLengthTopBitSet, 1002);
}

#[test]
fn unmasked_frame_to_server() {
    assert_server_fails(
        &server_frame(true, 0x1, b"Hello"),
        ProtocolError::UnmaskedClientFrame,
        1002,
    );
}

#[test]
fn masked_frame_to_client() {
    assert_client_fails(
        &client_frame(true, 0x1, b"Hello"),
        ProtocolError::MaskedServerFrame,
        1002,
    );
}

#[test]
fn client_accepts_unmasked_frames() {
    let mut conn = Connection::new(Role::Client, Config::default(), counting_keys(), T0);
    assert_eq!(
        feed(&mut conn, &server_frame(true, 0x2, b"ok"), &[1]).len(),
        2,
        "two pieces, one per byte"
    );
}

#[test]
fn control_frame_longer_than_125() {
    assert_server_fails(
        &client_frame(true, 0x9, &[b'p'; 126]),
        ProtocolError::ControlFrameTooLong,
        1002,
    );
}

#[test]
fn fragmented_control_frame() {
    assert_server_fails(
        &client_frame(false, 0x9, b"ping"),
        ProtocolError::FragmentedControlFrame,
        1002,
    );
}

#[test]
fn continuation_without_start() {
    assert_server_fails(
        &client_frame(true, 0x0, b"orphan"),
        ProtocolError::UnexpectedContinuation,
        1002,
    );
}

#[test]
fn new_data_frame_inside_fragmented_message() {
    let bytes = [
        client_frame(false, 0x1, b"frag"),
        client_frame(true, 0x2, b"new"),
    ]
    .concat();
    assert_server_fails(&bytes, ProtocolError::ExpectedContinuation, 1002);
}

#[test]
fn close_payload_of_length_one() {
    assert_server_fails(
        &client_frame(true, 0x8, &[0x03]),
        ProtocolError::CloseLengthOne,
        1002,
    );
}

#[test]
fn close_codes_invalid_on_wire() {
    for code in [
        0u16, 999, 1004, 1005, 1006, 1012, 1015, 1016, 2000, 2999, 5000, 65535,
    ] {
        assert_server_fails(
            &client_frame(true, 0x8, &code.to_be_bytes()),
            ProtocolError::InvalidCloseCode,
            1002,
        );
    }
}

#[test]
fn invalid_utf8_text_fails_fast_without_delivering_the_piece() {
    // "κόσμε" then a surrogate (ED A0 80) in one frame: nothing is delivered.
    let payload = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited";
    assert_server_fails(
        &client_frame(true, 0x1, payload),
        ProtocolError::InvalidUtf8,
        1007,
    );
    let mut conn = Connection::server(Config::default(), T0);
    let events = feed(&mut conn, &client_frame(true, 0x1, payload), &[0]);
    assert_eq!(events, [Owned::Failed(ProtocolError::InvalidUtf8)]);
}

#[test]
fn invalid_utf8_fails_before_the_frame_is_complete() {
    // The frame announces 20 bytes but only the invalid start has arrived (Autobahn 6.4.3).
    let payload = b"\xce\xba\xf4\x90\x80\x80 and the rest....";
    let frame = client_frame(true, 0x1, payload);
    let mut conn = Connection::server(Config::default(), T0);
    let events = feed(&mut conn, &frame[..6 + 4], &[0]);
    assert_eq!(events, [Owned::Failed(ProtocolError::InvalidUtf8)]);
}

#[test]
fn invalid_utf8_across_fragments() {
    // A valid first fragment is delivered; the fragment that breaks the sequence fails.
    let bytes = [
        client_frame(false, 0x1, b"ok \xf4"),
        client_frame(true, 0x0, b"\x90\x80\x80"),
    ]
    .concat();
    assert_server_fails(&bytes, ProtocolError::InvalidUtf8, 1007);
    let mut conn = Connection::server(Config::default(), T0);
    let events = feed(&mut conn, &bytes, &[0]);
    assert_eq!(
        events,
        [
            Owned::Data {
                kind: MessageKind::Text,
                payload: b"ok \xf4".to_vec(),
                first: true,
                fin: false
            },
            Owned::Failed(ProtocolError::InvalidUtf8),
        ]
    );
}

#[test]
fn incomplete_utf8_at_end_of_message() {
    assert_server_fails(
        &client_frame(true, 0x1, b"euro \xe2\x82"),
        ProtocolError::InvalidUtf8,
        1007,
    );
    let bytes = [
        client_frame(false, 0x1, b"\xe2\x82"),
        client_frame(true, 0x0, b""),
    ]
    .concat();
    assert_server_fails(&bytes, ProtocolError::InvalidUtf8, 1007);
}

#[test]
fn invalid_utf8_in_close_reason() {
    assert_server_fails(
        &client_frame(true, 0x8, b"\x03\xe8\xed\xa0\x80"),
        ProtocolError::InvalidCloseReason,
        1007,
    );
}

#[test]
fn frame_larger_than_max_frame_size() {
    let config = Config {
        max_frame_size: 100,
        ..Config::default()
    };
    assert_server_fails_with(
        config,
        &client_frame(true, 0x2, &[0; 101]),
        ProtocolError::FrameTooBig,
        1009,
    );
}

#[test]
fn message_larger_than_max_message_size() {
    let config = Config {
        max_message_size: 100,
        ..Config::default()
    };
    let bytes = [
        client_frame(false, 0x2, &[0; 60]),
        client_frame(true, 0x0, &[0; 41]),
    ]
    .concat();
    assert_server_fails_with(config, &bytes, ProtocolError::MessageTooBig, 1009);
    let single = client_frame(true, 0x2, &[0; 101]);
    assert_server_fails_with(config, &single, ProtocolError::MessageTooBig, 1009);
}

#[test]
fn limits_are_inclusive() {
    let config = Config {
        max_frame_size: 100,
        max_message_size: 100,
        ..Config::default()
    };
    let bytes = [
        client_frame(false, 0x2, &[0; 60]),
        client_frame(true, 0x0, &[0; 40]),
    ]
    .concat();
    let events = feed(&mut Connection::server(config, T0), &bytes, &[0]);
    assert!(
        events.iter().all(|e| !matches!(e, Owned::Failed(_))),
        "{events:?}"
    );
}

#[test]
fn too_big_is_detected_from_the_header_alone() {
    // Only the header of a 16 MiB frame arrives; the connection fails without waiting.
    let config = Config {
        max_frame_size: 1 << 20,
        ..Config::default()
    };
    let mut header = vec![0x82, 0xFF, 0, 0, 0, 0, 0x01, 0, 0, 0, 1, 2, 3, 4];
    let mut conn = Connection::server(config, T0);
    let (consumed, event) = conn.handle_read(&mut header, T0);
    assert_eq!(consumed, 14);
    assert_eq!(event, Some(ws::Event::Failed(ProtocolError::FrameTooBig)));
}

#[test]
fn failure_after_our_close_does_not_send_a_second_close() {
    let mut conn = Connection::server(Config::default(), T0);
    conn.close(CloseCode::GOING_AWAY, "bye").unwrap();
    let ours = drain(&mut conn);
    assert_eq!(&ours[..4], &[0x88, 0x05, 0x03, 0xe9]);
    assert_eq!(conn.state(), State::Closing);
    let events = feed(&mut conn, &server_frame(true, 0x1, b"unmasked"), &[0]);
    assert_eq!(events, [Owned::Failed(ProtocolError::UnmaskedClientFrame)]);
    after_failure(&mut conn, true);
}
