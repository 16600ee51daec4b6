//! The bound on a session's outgoing queue (`Config::max_buffered`): a client that stops
//! taking its packets (no polling GET, or a WebSocket whose transport stopped draining) while
//! the application keeps sending ends with "transport error" once the queue would pass the
//! bound; up to the bound nothing is lost, and draining the queue makes room again.

use sio::engine::{
    CloseReason, Config, Encoded, Event, HttpAnswer, Method, PollAnswer, RequestError, Server,
    Session, Transport,
};
use ws::{Duration, Instant};

/// A bound small enough to reach with a few packets.
const BOUND: usize = 100;

fn config() -> Config {
    Config {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_payload: 1_000_000,
        max_buffered: BOUND,
    }
}

/// A polling session whose open packet was taken (the queue is empty).
fn polling_session() -> Session {
    let mut session = Session::new(
        "s".into(),
        Transport::Polling,
        config(),
        Instant::from_millis(0),
    );
    assert_eq!(session.poll_event(), Some(Event::Open));
    assert!(matches!(session.handle_poll(), Ok(PollAnswer::Respond(_))));
    assert_eq!(session.queued_bytes(), 0);
    session
}

/// `4` + 9 bytes: 10 bytes a packet.
fn packet(i: usize) -> Encoded {
    Encoded::message_text(&format!("{i:09}"))
}

#[test]
fn polling_queue_up_to_the_bound_is_kept_whole() {
    let mut session = polling_session();
    for i in 0..BOUND / 10 {
        session.send(packet(i));
    }
    assert_eq!(session.queued_bytes(), BOUND);
    assert!(!session.is_closed());
    let Ok(PollAnswer::Respond(body)) = session.handle_poll() else {
        panic!("queued packets not answered")
    };
    let expected: Vec<String> = (0..BOUND / 10).map(|i| format!("4{i:09}")).collect();
    assert_eq!(body, expected.join("\x1e"));
    assert_eq!(session.queued_bytes(), 0);
    // Drained: there is room for as much again.
    for i in 0..BOUND / 10 {
        session.send(packet(i));
    }
    assert!(!session.is_closed());
}

#[test]
fn polling_queue_past_the_bound_closes_with_transport_error() {
    let mut session = polling_session();
    for i in 0..BOUND / 10 {
        session.send(packet(i));
    }
    session.send(packet(99));
    assert!(session.is_closed());
    assert_eq!(
        session.poll_event(),
        Some(Event::Closed(CloseReason::TransportError))
    );
    assert_eq!(session.queued_bytes(), 0);
}

#[test]
fn a_held_get_gets_the_close_packet_when_the_bound_is_passed() {
    let mut session = polling_session();
    assert_eq!(session.handle_poll(), Ok(PollAnswer::Hold));
    // One packet over the bound on its own: never queued, the held GET is told to close.
    session.send(Encoded::message_text(&"x".repeat(BOUND)));
    assert_eq!(session.poll_held_response().as_deref(), Some("1"));
    assert_eq!(
        session.poll_event(),
        Some(Event::Closed(CloseReason::TransportError))
    );
}

#[test]
fn websocket_queue_counts_what_the_transport_has_not_taken() {
    let mut session = Session::new(
        "s".into(),
        Transport::WebSocket,
        config(),
        Instant::from_millis(0),
    );
    assert_eq!(session.poll_event(), Some(Event::Open));
    assert!(session.poll_ws_transmit().is_some());
    for i in 0..BOUND / 10 {
        session.send(packet(i));
    }
    // The transport takes half: half the room comes back.
    for _ in 0..BOUND / 20 {
        assert!(session.poll_ws_transmit().is_some());
    }
    assert_eq!(session.queued_bytes(), BOUND / 2);
    for i in 0..BOUND / 20 {
        session.send(packet(i));
    }
    assert!(!session.is_closed());
    session.send(packet(0));
    assert_eq!(
        session.poll_event(),
        Some(Event::Closed(CloseReason::TransportError))
    );
}

#[test]
fn the_server_reports_and_forgets_a_session_its_bound_closed() {
    let mut server = Server::new(config());
    let mut ids = || "s1".to_string();
    let query = "EIO=4&transport=polling&sid=s1";
    assert!(matches!(
        server.handle_http(
            Method::Get,
            "EIO=4&transport=polling",
            b"",
            &mut ids,
            Instant::from_millis(0)
        ),
        HttpAnswer::Respond { status: 200, .. }
    ));
    assert_eq!(server.poll_event(), Some(("s1".into(), Event::Open)));
    assert_eq!(server.poll_event(), None);
    // The application broadcasts; the client never polls.
    for i in 0..=BOUND / 10 {
        server.send("s1", packet(i));
    }
    assert_eq!(
        server.poll_event(),
        Some(("s1".into(), Event::Closed(CloseReason::TransportError)))
    );
    assert_eq!(server.poll_event(), None);
    assert!(server.is_empty());
    assert_eq!(
        server.handle_http(Method::Get, query, b"", &mut ids, Instant::from_millis(1)),
        HttpAnswer::refused(RequestError::UnknownSid)
    );
}
