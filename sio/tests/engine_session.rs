//! The Engine.IO session on virtual time, one test per behaviour the official Engine.IO v4
//! test suite checks (docs/engine.io-protocol/v4-test-suite in socketio/socket.io), with the
//! suite's settings: pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1,000,000. The
//! application is the suite's echo server: every message goes back to its sender.

use sio::engine::{
    CloseReason, Config, Encoded, Event, Message, OpenParams, PollAnswer, RequestError, Session,
    State, Transport,
};
use ws::{Duration, Instant};

const SID: &str = "AAAAAAAAAAAAAAAAAAAA";

fn config() -> Config {
    Config {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_payload: 1_000_000,
        max_buffered: 1 << 20,
    }
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// The echo application: every received message is sent back.
fn echo(session: &mut Session) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(event) = session.poll_event() {
        if let Event::Message(message) = &event {
            session.send(match message {
                Message::Text(text) => Encoded::message_text(text),
                Message::Binary(bytes) => Encoded::Binary(bytes.as_slice().into()),
            });
        }
        events.push(event);
    }
    events
}

/// A polling session after its handshake GET was answered with the open packet.
fn polling_session() -> Session {
    let mut session = Session::new(SID.into(), Transport::Polling, config(), at(0));
    assert_eq!(session.poll_event(), Some(Event::Open));
    let PollAnswer::Respond(body) = session.handle_poll().unwrap() else {
        panic!("held")
    };
    let params = OpenParams::from_json(body.strip_prefix('0').unwrap()).unwrap();
    assert_eq!(
        params,
        OpenParams {
            sid: SID.into(),
            upgrades: vec!["websocket".into()],
            ping_interval: 300,
            ping_timeout: 200,
            max_payload: 1_000_000,
        }
    );
    session
}

/// A WebSocket-only session after its open packet was sent.
fn websocket_session() -> Session {
    let mut session = Session::new(SID.into(), Transport::WebSocket, config(), at(0));
    assert_eq!(session.poll_event(), Some(Event::Open));
    let Some(Encoded::Text(open)) = session.poll_ws_transmit() else {
        panic!("no open packet")
    };
    let params = OpenParams::from_json(open.strip_prefix('0').unwrap()).unwrap();
    assert_eq!(params.upgrades, Vec::<String>::new());
    assert_eq!((params.ping_interval, params.ping_timeout), (300, 200));
    session
}

fn poll_now(session: &mut Session) -> String {
    match session.handle_poll() {
        Ok(PollAnswer::Respond(body)) => body,
        other => panic!("expected an immediate answer, got {other:?}"),
    }
}

fn ws_sent(session: &mut Session) -> Vec<Encoded> {
    std::iter::from_fn(|| session.poll_ws_transmit()).collect()
}

fn text(s: &str) -> Encoded {
    Encoded::Text(s.into())
}

#[test]
fn polling_echoes_one_several_and_binary_packets() {
    for body in [
        "4hello",
        "4test1\x1e4test2\x1e4test3",
        "4hello\x1ebAQIDBA==",
    ] {
        let mut session = polling_session();
        assert_eq!(session.handle_push(body.as_bytes(), at(10)), Ok(()));
        echo(&mut session);
        assert_eq!(poll_now(&mut session), body);
    }
}

#[test]
fn polling_invalid_packet_closes_the_session() {
    let mut session = polling_session();
    assert_eq!(
        session.handle_push(b"abc", at(10)),
        Err(RequestError::BadRequest)
    );
    assert_eq!(echo(&mut session), [Event::Closed(CloseReason::ParseError)]);
    assert_eq!(session.handle_poll(), Err(RequestError::UnknownSid));
}

#[test]
fn polling_duplicate_get_closes_the_session_and_the_held_one_gets_close() {
    let mut session = polling_session();
    assert_eq!(session.handle_poll(), Ok(PollAnswer::Hold));
    assert_eq!(session.poll_held_response(), None);
    assert_eq!(session.handle_poll(), Err(RequestError::BadRequest));
    assert_eq!(session.poll_held_response().as_deref(), Some("1"));
    assert_eq!(
        echo(&mut session),
        [Event::Closed(CloseReason::TransportError)]
    );
    assert_eq!(session.handle_poll(), Err(RequestError::UnknownSid));
}

#[test]
fn polling_cancelled_get_closes_the_session() {
    let mut session = polling_session();
    assert_eq!(session.handle_poll(), Ok(PollAnswer::Hold));
    session.handle_poll_aborted();
    assert_eq!(session.poll_held_response(), None);
    assert_eq!(
        echo(&mut session),
        [Event::Closed(CloseReason::TransportError)]
    );
    assert_eq!(session.handle_poll(), Err(RequestError::UnknownSid));
}

#[test]
fn polling_oversized_push_is_413_and_closes() {
    let mut session = polling_session();
    let body = vec![b'4'; 1_000_001];
    assert_eq!(
        session.handle_push(&body, at(10)),
        Err(RequestError::PayloadTooLarge)
    );
    assert_eq!(
        echo(&mut session),
        [Event::Closed(CloseReason::TransportError)]
    );
    // Exactly maxPayload is fine.
    let mut session = polling_session();
    assert_eq!(session.handle_push(&vec![b'4'; 1_000_000], at(10)), Ok(()));
}

#[test]
fn websocket_echoes_text_and_binary() {
    let mut session = websocket_session();
    session.handle_ws_text("4hello", at(10));
    session.handle_ws_binary(&[1, 2, 3, 4], at(10));
    echo(&mut session);
    assert_eq!(
        ws_sent(&mut session),
        [text("4hello"), Encoded::Binary(vec![1, 2, 3, 4].into())]
    );
}

#[test]
fn websocket_invalid_packet_closes_the_session() {
    let mut session = websocket_session();
    session.handle_ws_text("abc", at(10));
    assert_eq!(echo(&mut session), [Event::Closed(CloseReason::ParseError)]);
    assert!(session.wants_websocket_close());
}

#[test]
fn polling_heartbeat_three_rounds() {
    let mut session = polling_session();
    let mut now = 0;
    for _ in 0..3 {
        assert_eq!(session.handle_poll(), Ok(PollAnswer::Hold));
        // The ping is due pingInterval after the handshake, then after each pong.
        assert_eq!(session.poll_timeout(), Some(at(now + 300)));
        session.handle_timeout(at(now + 299));
        assert_eq!(session.poll_held_response(), None);
        now += 300;
        session.handle_timeout(at(now));
        assert_eq!(session.poll_held_response().as_deref(), Some("2"));
        assert_eq!(session.poll_timeout(), Some(at(now + 200)));
        now += 20;
        assert_eq!(session.handle_push(b"3", at(now)), Ok(()));
    }
    assert!(echo(&mut session).is_empty());
}

#[test]
fn polling_session_expires_at_exactly_interval_plus_timeout() {
    // No request at all after the handshake (the client vanished with nothing held), and the
    // same with a GET held whose client vanished without closing its connection.
    for hold in [false, true] {
        let mut session = polling_session();
        if hold {
            assert_eq!(session.handle_poll(), Ok(PollAnswer::Hold));
        }
        session.handle_timeout(at(300));
        assert_eq!(session.poll_timeout(), Some(at(500)));
        session.handle_timeout(at(499));
        assert!(!session.is_closed());
        session.handle_timeout(at(500));
        assert_eq!(session.state(), State::Closed(CloseReason::PingTimeout));
        assert_eq!(session.handle_poll(), Err(RequestError::UnknownSid));
    }
}

#[test]
fn a_late_timer_does_not_stretch_the_expiry() {
    // The ping was due at 300 ms but the timer ran only at 340 ms: the session still expires
    // at 500 ms.
    let mut session = polling_session();
    session.handle_timeout(at(340));
    assert_eq!(session.poll_timeout(), Some(at(500)));
    session.handle_timeout(at(500));
    assert_eq!(session.state(), State::Closed(CloseReason::PingTimeout));
}

#[test]
fn websocket_heartbeat_three_rounds_then_timeout() {
    let mut session = websocket_session();
    let mut now = 0;
    for _ in 0..3 {
        now += 300;
        session.handle_timeout(at(now));
        assert_eq!(ws_sent(&mut session), [text("2")]);
        now += 5;
        session.handle_ws_text("3", at(now));
    }
    now += 300;
    session.handle_timeout(at(now));
    assert_eq!(ws_sent(&mut session), [text("2")]);
    session.handle_timeout(at(now + 200));
    assert_eq!(
        echo(&mut session),
        [Event::Closed(CloseReason::PingTimeout)]
    );
    assert!(session.wants_websocket_close());
}

#[test]
fn polling_close_packet_answers_the_held_get_with_noop() {
    let mut session = polling_session();
    assert_eq!(session.handle_poll(), Ok(PollAnswer::Hold));
    assert_eq!(session.handle_push(b"1", at(10)), Ok(()));
    assert_eq!(session.poll_held_response().as_deref(), Some("6"));
    assert_eq!(
        echo(&mut session),
        [Event::Closed(CloseReason::TransportClose)]
    );
    assert_eq!(session.handle_poll(), Err(RequestError::UnknownSid));
}

#[test]
fn polling_close_packet_answers_a_get_in_flight_with_noop_once() {
    // The GET was sent before the close but arrives after it (two connections race).
    let mut session = polling_session();
    assert_eq!(session.handle_push(b"1", at(10)), Ok(()));
    assert_eq!(
        echo(&mut session),
        [Event::Closed(CloseReason::TransportClose)]
    );
    assert!(!session.is_finished());
    assert_eq!(poll_now(&mut session), "6");
    assert!(session.is_finished());
    assert_eq!(session.handle_poll(), Err(RequestError::UnknownSid));
    // Owed only for pingTimeout.
    let mut session = polling_session();
    assert_eq!(session.handle_push(b"1", at(10)), Ok(()));
    assert_eq!(session.poll_timeout(), Some(at(210)));
    session.handle_timeout(at(210));
    assert!(session.is_finished());
    assert_eq!(session.handle_poll(), Err(RequestError::UnknownSid));
}

#[test]
fn websocket_close_packet_closes() {
    let mut session = websocket_session();
    session.handle_ws_text("1", at(10));
    assert_eq!(
        echo(&mut session),
        [Event::Closed(CloseReason::TransportClose)]
    );
    assert!(session.wants_websocket_close());
}

#[test]
fn client_ping_is_a_parse_error() {
    let mut session = websocket_session();
    session.handle_ws_text("2", at(10));
    assert_eq!(echo(&mut session), [Event::Closed(CloseReason::ParseError)]);
}

#[test]
fn upgrade_from_polling_to_websocket() {
    let mut session = polling_session();
    assert_eq!(session.handle_upgrade_request(), Ok(()));
    // Not probed yet: polling still carries packets.
    assert_eq!(session.handle_push(b"4before", at(5)), Ok(()));
    echo(&mut session);
    assert_eq!(poll_now(&mut session), "4before");
    session.handle_ws_text("2probe", at(10));
    assert_eq!(ws_sent(&mut session), [text("3probe")]);
    // Probed: a GET is answered with noop at once.
    assert_eq!(poll_now(&mut session), "6");
    session.handle_ws_text("5", at(12));
    assert_eq!(session.state(), State::WebSocket);
    session.handle_ws_text("4hello", at(13));
    echo(&mut session);
    assert_eq!(ws_sent(&mut session), [text("4hello")]);
}

#[test]
fn upgrade_answers_the_held_get_with_noop_and_moves_the_queue() {
    let mut session = polling_session();
    assert_eq!(session.handle_poll(), Ok(PollAnswer::Hold));
    assert_eq!(session.handle_upgrade_request(), Ok(()));
    session.handle_ws_text("2probe", at(10));
    assert_eq!(session.poll_held_response().as_deref(), Some("6"));
    // Sent between probe and upgrade: delivered on the WebSocket after the upgrade.
    session.send(text("4queued"));
    assert_eq!(ws_sent(&mut session), [text("3probe")]);
    session.handle_ws_text("5", at(12));
    assert_eq!(ws_sent(&mut session), [text("4queued")]);
}

#[test]
fn after_upgrade_polling_and_a_second_websocket_are_refused() {
    let mut session = polling_session();
    assert_eq!(session.handle_upgrade_request(), Ok(()));
    assert_eq!(
        session.handle_upgrade_request(),
        Err(RequestError::BadRequest)
    );
    session.handle_ws_text("2probe", at(10));
    session.handle_ws_text("5", at(11));
    assert_eq!(session.handle_poll(), Err(RequestError::BadRequest));
    assert_eq!(
        session.handle_push(b"4x", at(12)),
        Err(RequestError::BadRequest)
    );
    assert_eq!(
        session.handle_upgrade_request(),
        Err(RequestError::BadRequest)
    );
    // The session itself is undisturbed.
    session.handle_ws_text("4hello", at(13));
    echo(&mut session);
    assert_eq!(ws_sent(&mut session), [text("3probe"), text("4hello")]);
}

#[test]
fn a_failed_upgrade_leaves_polling_working() {
    let mut session = polling_session();
    assert_eq!(session.handle_upgrade_request(), Ok(()));
    session.handle_ws_text("2probe", at(10));
    session.handle_ws_closed(true);
    assert_eq!(session.state(), State::Polling);
    assert_eq!(session.handle_push(b"4still", at(11)), Ok(()));
    echo(&mut session);
    assert_eq!(poll_now(&mut session), "4still");
}
