//! The closing handshake, sending, control frames between fragments, keepalive, and a client
//! and a server talking to each other.

mod harness;

use harness::{
    Normalised, Owned, T0, client_frame, counting_keys, drain, feed, normalise, server_frame,
};
use ws::{
    CloseCode, Config, Connection, Duration, Event, Instant, Keepalive, MAX_CONTROL_FRAME_LEN,
    MessageKind, OpCode, Role, SendError, State,
};

fn server() -> Connection {
    Connection::server(Config::default(), T0)
}

fn client() -> Connection<impl ws::MaskKeySource> {
    Connection::new(Role::Client, Config::default(), counting_keys(), T0)
}

#[test]
fn peer_close_is_echoed_and_server_closes_tcp_after_flush() {
    let mut conn = server();
    let events = feed(&mut conn, &client_frame(true, 0x8, b"\x03\xe9going"), &[0]);
    assert_eq!(
        events,
        [Owned::Close(Some(CloseCode::GOING_AWAY), "going".into())]
    );
    assert_eq!(conn.state(), State::Closing, "echo not yet flushed");
    assert!(!conn.wants_tcp_close());
    assert_eq!(
        drain(&mut conn),
        [0x88, 0x02, 0x03, 0xe9],
        "code echoed, no reason"
    );
    assert_eq!(conn.state(), State::Closed);
    assert!(conn.wants_tcp_close());
}

#[test]
fn empty_close_is_answered_with_empty_close() {
    let mut conn = server();
    assert_eq!(
        feed(&mut conn, &client_frame(true, 0x8, b""), &[0]),
        [Owned::Close(None, String::new())]
    );
    assert_eq!(drain(&mut conn), [0x88, 0x00]);
    assert_eq!(conn.state(), State::Closed);
}

#[test]
fn nothing_after_a_close_is_read() {
    let mut conn = server();
    let bytes = [
        client_frame(true, 0x8, b"\x03\xe8"),
        client_frame(true, 0x1, b"late"),
        client_frame(true, 0x9, b""),
    ]
    .concat();
    assert_eq!(
        feed(&mut conn, &bytes, &[0]),
        [Owned::Close(Some(CloseCode::NORMAL), String::new())]
    );
    assert_eq!(
        drain(&mut conn),
        [0x88, 0x02, 0x03, 0xe8],
        "no pong for the late ping"
    );
}

#[test]
fn we_close_first_then_peer_answers() {
    let mut conn = server();
    conn.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(conn.state(), State::Closing);
    assert_eq!(
        drain(&mut conn),
        [0x88, 0x06, 0x03, 0xe8, b'd', b'o', b'n', b'e']
    );
    assert!(!conn.wants_tcp_close(), "wait for the peer's Close");
    // Data the peer sent before seeing our Close is still delivered.
    let bytes = [
        client_frame(true, 0x1, b"in flight"),
        client_frame(true, 0x8, b"\x03\xe8"),
    ]
    .concat();
    let events = feed(&mut conn, &bytes, &[3]);
    assert_eq!(
        normalise(&events),
        [
            Normalised::Message(MessageKind::Text, b"in flight".to_vec()),
            Normalised::Close(Some(CloseCode::NORMAL), String::new())
        ]
    );
    assert!(!conn.wants_transmit(), "no second Close");
    assert_eq!(conn.state(), State::Closed);
    assert!(conn.wants_tcp_close());
}

#[test]
fn client_waits_for_the_server_to_close_tcp() {
    let mut conn = client();
    conn.close(CloseCode::NORMAL, "").unwrap();
    drain(&mut conn);
    feed(&mut conn, &server_frame(true, 0x8, b"\x03\xe8"), &[0]);
    assert_eq!(conn.state(), State::Closed);
    assert!(!conn.wants_tcp_close());
}

#[test]
fn no_sending_after_close() {
    let mut conn = server();
    conn.close(CloseCode::NORMAL, "").unwrap();
    let mut out = [0u8; 64];
    assert_eq!(
        conn.send(MessageKind::Text, b"x", &mut out),
        Err(SendError::Closed)
    );
    assert_eq!(
        conn.send_frame_header(OpCode::Binary, true, 1),
        Err(SendError::Closed)
    );
    assert_eq!(conn.ping(b""), Err(SendError::Closed));
    assert_eq!(conn.close(CloseCode::NORMAL, ""), Err(SendError::Closed));
}

#[test]
fn close_arguments_are_checked() {
    let mut conn = server();
    assert_eq!(
        conn.close(CloseCode::NO_STATUS, ""),
        Err(SendError::InvalidCloseCode)
    );
    assert_eq!(
        conn.close(CloseCode::NORMAL, &"x".repeat(124)),
        Err(SendError::ControlPayloadTooLong)
    );
    assert_eq!(
        conn.state(),
        State::Open,
        "a rejected close changes nothing"
    );
    conn.close(CloseCode(4000), &"x".repeat(123)).unwrap();
    assert_eq!(drain(&mut conn).len(), 2 + 125);
}

#[test]
fn ping_payload_is_limited() {
    let mut conn = server();
    assert_eq!(conn.ping(&[0; 126]), Err(SendError::ControlPayloadTooLong));
    conn.ping(b"are you there").unwrap();
    assert_eq!(
        drain(&mut conn),
        [&[0x89, 13][..], b"are you there"].concat()
    );
}

#[test]
fn control_frames_between_fragments() {
    let mut conn = server();
    let bytes = [
        client_frame(false, 0x1, b"Hel"),
        client_frame(true, 0x9, b"p1"),
        client_frame(false, 0x0, b"l"),
        client_frame(true, 0xA, b"p2"),
        client_frame(true, 0x0, b"o"),
    ]
    .concat();
    let events = feed(&mut conn, &bytes, &[0]);
    assert_eq!(
        normalise(&events),
        [
            Normalised::Ping(b"p1".to_vec()),
            Normalised::Pong(b"p2".to_vec()),
            Normalised::Message(MessageKind::Text, b"Hello".to_vec())
        ]
    );
    assert_eq!(drain(&mut conn), [0x8a, 0x02, b'p', b'1']);
}

#[test]
fn auto_pong_can_be_turned_off() {
    let mut conn = Connection::server(
        Config {
            auto_pong: false,
            ..Config::default()
        },
        T0,
    );
    assert_eq!(
        feed(&mut conn, &client_frame(true, 0x9, b"x"), &[0]),
        [Owned::Ping(b"x".to_vec())]
    );
    assert!(!conn.wants_transmit());
}

#[test]
fn only_the_last_unanswered_ping_gets_a_pong() {
    let mut conn = server();
    let bytes = [client_frame(true, 0x9, b"1"), client_frame(true, 0x9, b"2")].concat();
    feed(&mut conn, &bytes, &[0]);
    assert_eq!(drain(&mut conn), [0x8a, 0x01, b'2']);
}

#[test]
fn control_payload_split_across_reads() {
    let frame = client_frame(true, 0x9, &[7u8; 125]);
    for piece in 1..frame.len() {
        let mut conn = server();
        assert_eq!(
            feed(&mut conn, &frame, &[piece]),
            [Owned::Ping(vec![7; 125])],
            "piece {piece}"
        );
    }
}

#[test]
fn empty_messages_and_empty_fragments() {
    let mut conn = server();
    let bytes = [
        client_frame(true, 0x1, b""),
        client_frame(false, 0x2, b""),
        client_frame(true, 0x0, b""),
    ]
    .concat();
    let events = feed(&mut conn, &bytes, &[0]);
    assert_eq!(
        normalise(&events),
        [
            Normalised::Message(MessageKind::Text, vec![]),
            Normalised::Message(MessageKind::Binary, vec![])
        ]
    );
}

#[test]
fn send_writes_one_whole_frame() {
    let mut conn = server();
    let mut out = [0u8; 16];
    assert_eq!(conn.send(MessageKind::Text, b"Hello", &mut out), Ok(7));
    assert_eq!(&out[..7], &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
    assert_eq!(
        conn.send(MessageKind::Binary, &[0; 15], &mut out),
        Err(SendError::BufferTooSmall { needed: 17 })
    );
}

#[test]
fn client_send_masks_with_keys_from_the_source() {
    let mut keys = [[0x37, 0xfa, 0x21, 0x3d]].into_iter().cycle();
    let mut conn = Connection::new(
        Role::Client,
        Config::default(),
        move || keys.next().unwrap(),
        T0,
    );
    let mut out = [0u8; 16];
    let n = conn.send(MessageKind::Text, b"Hello", &mut out).unwrap();
    // RFC 6455 §5.7 masked "Hello".
    assert_eq!(
        &out[..n],
        &[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
        ]
    );
}

#[test]
fn streamed_message_in_fragments() {
    let mut conn = client();
    let mut wire = Vec::new();
    for (opcode, fin, piece) in [
        (OpCode::Text, false, &b"Hel"[..]),
        (OpCode::Continuation, true, b"lo"),
    ] {
        let header = conn
            .send_frame_header(opcode, fin, piece.len() as u64)
            .unwrap();
        wire.extend_from_slice(&header);
        // Write the payload in two pieces to exercise the running mask offset.
        for half in [&piece[..1], &piece[1..]] {
            let mut half = half.to_vec();
            conn.mask_payload(&mut half);
            wire.extend_from_slice(&half);
        }
    }
    let events = feed(&mut server(), &wire, &[0]);
    assert_eq!(
        normalise(&events),
        [Normalised::Message(MessageKind::Text, b"Hello".to_vec())]
    );
}

#[test]
fn streaming_enforces_fragment_order() {
    let mut conn = server();
    assert_eq!(
        conn.send_frame_header(OpCode::Continuation, true, 1),
        Err(SendError::FragmentOrder)
    );
    assert_eq!(
        conn.send_frame_header(OpCode::Ping, true, 1),
        Err(SendError::NotDataOpcode)
    );
    conn.send_frame_header(OpCode::Binary, false, 1).unwrap();
    assert_eq!(
        conn.send_frame_header(OpCode::Text, true, 1),
        Err(SendError::FragmentOrder)
    );
    assert_eq!(
        conn.send(MessageKind::Text, b"x", &mut [0; 8]),
        Err(SendError::FragmentOrder)
    );
    conn.send_frame_header(OpCode::Continuation, true, 1)
        .unwrap();
    assert_eq!(conn.send(MessageKind::Text, b"x", &mut [0; 8]), Ok(3));
    assert_eq!(
        conn.send_frame_header(OpCode::Binary, true, 1 << 63),
        Err(SendError::PayloadTooLong)
    );
}

#[test]
fn poll_transmit_keeps_frames_that_do_not_fit() {
    let mut conn = server();
    feed(&mut conn, &client_frame(true, 0x9, &[1; 100]), &[0]);
    conn.close(CloseCode::NORMAL, "").unwrap();
    let mut small = [0u8; 50];
    assert_eq!(conn.poll_transmit(&mut small), 0);
    let mut pong_and_a_bit = [0u8; 104];
    assert_eq!(
        conn.poll_transmit(&mut pong_and_a_bit),
        102,
        "the Pong fits, the Close waits"
    );
    assert_eq!(conn.state(), State::Closing);
    let mut any = [0u8; MAX_CONTROL_FRAME_LEN];
    assert_eq!(conn.poll_transmit(&mut any), 4);
    assert!(!conn.wants_transmit());
}

#[test]
fn client_and_server_talk() {
    let mut client = client();
    let mut server = server();
    let mut wire = vec![0u8; 1 << 16];
    let n = client
        .send(MessageKind::Binary, &[9; 1000], &mut wire)
        .unwrap();
    let events = feed(&mut server, &wire[..n], &[7]);
    assert_eq!(
        normalise(&events),
        [Normalised::Message(MessageKind::Binary, vec![9; 1000])]
    );
    client.ping(b"hi").unwrap();
    let ping = drain(&mut client);
    assert_eq!(
        feed(&mut server, &ping, &[0]),
        [Owned::Ping(b"hi".to_vec())]
    );
    let pong = drain(&mut server);
    assert_eq!(
        feed(&mut client, &pong, &[0]),
        [Owned::Pong(b"hi".to_vec())]
    );
    server.close(CloseCode::GOING_AWAY, "bye").unwrap();
    let close = drain(&mut server);
    assert_eq!(
        feed(&mut client, &close, &[0]),
        [Owned::Close(Some(CloseCode::GOING_AWAY), "bye".into())]
    );
    let echo = drain(&mut client);
    assert_eq!(
        feed(&mut server, &echo, &[0]),
        [Owned::Close(Some(CloseCode::GOING_AWAY), String::new())]
    );
    assert_eq!(
        (client.state(), server.state()),
        (State::Closed, State::Closed)
    );
    assert!(server.wants_tcp_close());
}

fn keepalive_server() -> Connection {
    let keepalive = Keepalive {
        idle: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
    };
    Connection::server(
        Config {
            keepalive: Some(keepalive),
            ..Config::default()
        },
        T0,
    )
}

#[test]
fn no_timer_without_keepalive() {
    let mut conn = server();
    assert_eq!(conn.poll_timeout(), None);
    assert_eq!(conn.handle_timeout(Instant::from_micros(u64::MAX)), None);
    assert!(!conn.wants_transmit());
}

#[test]
fn keepalive_pings_when_idle_and_pong_resets() {
    let mut conn = keepalive_server();
    assert_eq!(conn.poll_timeout(), Some(Instant::from_millis(10_000)));
    assert_eq!(conn.handle_timeout(Instant::from_millis(9_999)), None);
    assert!(!conn.wants_transmit(), "not idle long enough");
    assert_eq!(conn.handle_timeout(Instant::from_millis(10_000)), None);
    assert_eq!(drain(&mut conn), [0x89, 0x00]);
    assert_eq!(conn.poll_timeout(), Some(Instant::from_millis(15_000)));
    let mut pong = client_frame(true, 0xA, b"");
    let (consumed, event) = conn.handle_read(&mut pong, Instant::from_millis(12_000));
    assert_eq!(
        (consumed, event),
        (6, Some(Event::Pong(ws::ControlPayload::new())))
    );
    assert_eq!(conn.poll_timeout(), Some(Instant::from_millis(22_000)));
    assert_eq!(conn.handle_timeout(Instant::from_millis(16_000)), None);
    assert_eq!(conn.state(), State::Open);
}

#[test]
fn keepalive_fails_with_1011_when_the_peer_stays_silent() {
    let mut conn = keepalive_server();
    conn.handle_timeout(Instant::from_millis(10_000));
    drain(&mut conn);
    assert_eq!(
        conn.handle_timeout(Instant::from_millis(15_000)),
        Some(Event::TimedOut)
    );
    assert_eq!(drain(&mut conn), [0x88, 0x02, 0x03, 0xf3]);
    assert_eq!(conn.state(), State::Closed);
    assert!(conn.wants_tcp_close());
    assert_eq!(conn.poll_timeout(), None, "no timer once closing");
}

#[test]
fn peer_activity_seen_by_the_transport_counts_as_liveness() {
    let mut conn = keepalive_server();
    conn.handle_timeout(Instant::from_millis(10_000));
    drain(&mut conn);
    conn.handle_peer_activity(Instant::from_millis(14_000));
    assert_eq!(conn.poll_timeout(), Some(Instant::from_millis(19_000)));
    assert_eq!(conn.handle_timeout(Instant::from_millis(15_000)), None);
    // An earlier instant never moves the deadline back.
    conn.handle_peer_activity(Instant::from_millis(1_000));
    assert_eq!(conn.poll_timeout(), Some(Instant::from_millis(19_000)));
    assert_eq!(
        conn.handle_timeout(Instant::from_millis(19_000)),
        Some(Event::TimedOut)
    );
}

#[test]
fn any_received_bytes_count_as_liveness() {
    let mut conn = keepalive_server();
    conn.handle_timeout(Instant::from_millis(10_000));
    drain(&mut conn);
    // A long message is still arriving: its bytes postpone the deadline.
    let frame = client_frame(true, 0x2, &[0; 10]);
    let mut head = frame[..8].to_vec();
    let (consumed, event) = conn.handle_read(&mut head, Instant::from_millis(14_000));
    assert_eq!(consumed, 8);
    assert!(matches!(
        event,
        Some(Event::Data {
            payload: [0, 0],
            first: true,
            fin: false,
            ..
        })
    ));
    assert_eq!(conn.handle_timeout(Instant::from_millis(15_000)), None);
    assert_eq!(conn.poll_timeout(), Some(Instant::from_millis(19_000)));
}

#[test]
fn a_queued_application_ping_serves_as_the_keepalive_ping() {
    let mut conn = keepalive_server();
    conn.ping(b"app").unwrap();
    assert_eq!(conn.handle_timeout(Instant::from_millis(10_000)), None);
    assert_eq!(drain(&mut conn), [0x89, 0x03, b'a', b'p', b'p']);
    assert_eq!(conn.poll_timeout(), Some(Instant::from_millis(15_000)));
}
