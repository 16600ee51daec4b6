//! The Engine.IO session table at the HTTP level: the status and body of every answer the
//! official v4 suite checks, sessions created and dropped, upgrades routed to their session.

use sio::engine::WebSocketAccept::{Session, Surplus};
use sio::engine::{
    CloseReason, Config, Encoded, Event, HttpAnswer, Message, Method, RequestError, Server,
    TEXT_PLAIN,
};
use ws::{Duration, Instant};

fn server() -> Server {
    Server::new(Config {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_payload: 1_000_000,
        max_buffered: 1 << 20,
    })
}

/// Session ids `s1`, `s2`, ... (the glue passes random ones).
fn ids() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("s{n}")
    }
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn ok(body: &str) -> HttpAnswer {
    HttpAnswer::Respond {
        status: 200,
        content_type: TEXT_PLAIN,
        body: body.into(),
    }
}

#[test]
fn refused_requests_get_the_reference_status_and_json() {
    let mut server = server();
    let mut ids = ids();
    let cases: &[(Method, &str, u16, &str)] = &[
        (
            Method::Get,
            "transport=polling",
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            Method::Get,
            "EIO=abc&transport=polling",
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            Method::Get,
            "EIO=4",
            400,
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            Method::Get,
            "EIO=4&transport=abc",
            400,
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            Method::Post,
            "EIO=4&transport=polling",
            400,
            r#"{"code":2,"message":"Bad handshake method"}"#,
        ),
        (
            Method::Other,
            "EIO=4&transport=polling",
            400,
            r#"{"code":2,"message":"Bad handshake method"}"#,
        ),
        (
            Method::Get,
            "EIO=4&transport=polling&sid=nope",
            400,
            r#"{"code":1,"message":"Session ID unknown"}"#,
        ),
    ];
    for (method, query, status, body) in cases {
        let expected = HttpAnswer::Respond {
            status: *status,
            content_type: "application/json",
            body: (*body).into(),
        };
        assert_eq!(
            server.handle_http(*method, query, b"", &mut ids, at(0)),
            expected,
            "{query}"
        );
    }
    assert!(server.is_empty());
    for query in [
        "transport=websocket",
        "EIO=abc&transport=websocket",
        "EIO=4",
        "EIO=4&transport=abc",
    ] {
        assert!(
            server.handle_websocket(query, &mut ids, at(0)).is_err(),
            "{query}"
        );
    }
    assert!(server.is_empty());
}

#[test]
fn polling_session_lives_echoes_and_is_dropped_after_close() {
    let mut server = server();
    let mut ids = ids();
    let HttpAnswer::Respond {
        status: 200, body, ..
    } = server.handle_http(Method::Get, "EIO=4&transport=polling", b"", &mut ids, at(0))
    else {
        panic!("no handshake answer")
    };
    assert!(
        body.starts_with(r#"0{"sid":"s1","upgrades":["websocket"],"pingInterval":300"#),
        "{body}"
    );
    assert_eq!(server.poll_event(), Some(("s1".into(), Event::Open)));
    let query = "EIO=4&transport=polling&sid=s1";
    assert_eq!(
        server.handle_http(Method::Post, query, b"4hello", &mut ids, at(1)),
        ok("ok")
    );
    assert_eq!(
        server.poll_event(),
        Some(("s1".into(), Event::Message(Message::Text("hello".into()))))
    );
    server.send("s1", Encoded::message_text("hello"));
    assert_eq!(
        server.handle_http(Method::Get, query, b"", &mut ids, at(2)),
        ok("4hello")
    );
    // Held, then answered by a close from the client.
    assert_eq!(
        server.handle_http(Method::Get, query, b"", &mut ids, at(3)),
        HttpAnswer::Hold { sid: "s1".into() }
    );
    assert_eq!(
        server.handle_http(Method::Post, query, b"1", &mut ids, at(4)),
        ok("ok")
    );
    assert_eq!(server.poll_held_response("s1").as_deref(), Some("6"));
    assert_eq!(
        server.poll_event(),
        Some(("s1".into(), Event::Closed(CloseReason::TransportClose)))
    );
    assert_eq!(server.poll_event(), None);
    assert!(server.is_empty());
    assert_eq!(
        server.handle_http(Method::Get, query, b"", &mut ids, at(5)),
        HttpAnswer::refused(RequestError::UnknownSid)
    );
}

#[test]
fn a_get_in_flight_after_the_clients_close_gets_noop_then_400() {
    let mut server = server();
    let mut ids = ids();
    server.handle_http(Method::Get, "EIO=4&transport=polling", b"", &mut ids, at(0));
    let query = "EIO=4&transport=polling&sid=s1";
    assert_eq!(
        server.handle_http(Method::Post, query, b"1", &mut ids, at(1)),
        ok("ok")
    );
    while server.poll_event().is_some() {}
    assert_eq!(
        server.handle_http(Method::Get, query, b"", &mut ids, at(2)),
        ok("6")
    );
    while server.poll_event().is_some() {}
    assert!(server.is_empty());
    assert_eq!(
        server.handle_http(Method::Get, query, b"", &mut ids, at(3)),
        HttpAnswer::refused(RequestError::UnknownSid)
    );
}

#[test]
fn websocket_session_and_upgrade_are_routed_to_their_session() {
    let mut server = server();
    let mut ids = ids();
    assert_eq!(
        server.handle_websocket("EIO=4&transport=websocket", &mut ids, at(0)),
        Ok(Session("s1".into()))
    );
    let Some(Encoded::Text(open)) = server.poll_ws_transmit("s1") else {
        panic!("no open packet")
    };
    assert!(open.starts_with(r#"0{"sid":"s1","upgrades":[],"#), "{open}");

    server.handle_http(Method::Get, "EIO=4&transport=polling", b"", &mut ids, at(0));
    assert_eq!(
        server.handle_websocket("EIO=4&transport=websocket&sid=s2", &mut ids, at(1)),
        Ok(Session("s2".into()))
    );
    server.handle_ws_text("s2", "2probe", at(2));
    assert_eq!(
        server.poll_ws_transmit("s2"),
        Some(Encoded::Text("3probe".into()))
    );
    server.handle_ws_text("s2", "5", at(3));
    // Polling is refused after the upgrade, a second WebSocket accepted only to be closed; the
    // session goes on.
    let poll = server.handle_http(
        Method::Get,
        "EIO=4&transport=polling&sid=s2",
        b"",
        &mut ids,
        at(4),
    );
    assert_eq!(poll, HttpAnswer::refused(RequestError::BadRequest));
    assert_eq!(
        server.handle_websocket("EIO=4&transport=websocket&sid=s2", &mut ids, at(4)),
        Ok(Surplus)
    );
    server.handle_ws_binary("s2", &[1, 2, 3], at(5));
    assert_eq!(server.poll_event(), Some(("s1".into(), Event::Open)));
    assert_eq!(server.poll_event(), Some(("s2".into(), Event::Open)));
    assert_eq!(
        server.poll_event(),
        Some(("s2".into(), Event::Message(Message::Binary(vec![1, 2, 3]))))
    );

    // Both expire when no pong comes: at 500 ms, exactly.
    assert_eq!(server.poll_timeout(), Some(at(300)));
    server.handle_timeout(at(300));
    assert_eq!(server.poll_timeout(), Some(at(500)));
    server.handle_timeout(at(500));
    let mut closed: Vec<_> = std::iter::from_fn(|| server.poll_event()).collect();
    closed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        closed,
        [
            ("s1".into(), Event::Closed(CloseReason::PingTimeout)),
            ("s2".into(), Event::Closed(CloseReason::PingTimeout)),
        ]
    );
    assert!(server.is_empty());
    assert!(server.wants_websocket_close("s1"));
}

#[test]
fn only_sessions_with_something_for_their_transport_are_listed_ready() {
    let mut server = server();
    let mut ids = ids();
    for _ in 0..3 {
        server.handle_http(Method::Get, "EIO=4&transport=polling", b"", &mut ids, at(0));
    }
    let mut listed: Vec<String> = std::iter::from_fn(|| server.poll_ready()).collect();
    listed.sort();
    assert_eq!(listed, ["s1", "s2", "s3"], "each new session once");
    assert_eq!(server.poll_ready(), None, "idle sessions are not listed");
    server.send("s2", Encoded::message_text("a"));
    server.send("s2", Encoded::message_text("b"));
    assert_eq!(server.poll_ready().as_deref(), Some("s2"));
    assert_eq!(server.poll_ready(), None, "listed once for two packets");
    // A held poll is listed when its request comes, and again when its answer is ready.
    let query = "EIO=4&transport=polling&sid=s3";
    assert_eq!(
        server.handle_http(Method::Get, query, b"", &mut ids, at(1)),
        HttpAnswer::Hold { sid: "s3".into() }
    );
    assert_eq!(server.poll_ready().as_deref(), Some("s3"));
    assert_eq!(server.poll_held_response("s3"), None);
    server.send("s3", Encoded::message_text("c"));
    assert_eq!(server.poll_ready().as_deref(), Some("s3"));
    assert_eq!(server.poll_held_response("s3").as_deref(), Some("4c"));
    // The heartbeat queues a ping on every session: all are listed.
    server.handle_timeout(at(300));
    let mut listed: Vec<String> = std::iter::from_fn(|| server.poll_ready()).collect();
    listed.sort();
    assert_eq!(listed, ["s1", "s2", "s3"]);
}

#[test]
fn drain_ws_hands_over_every_packet_in_order_then_says_whether_to_close() {
    let mut server = server();
    let mut ids = ids();
    assert_eq!(
        server.handle_websocket("EIO=4&transport=websocket", &mut ids, at(0)),
        Ok(Session("s1".into()))
    );
    server.send("s1", Encoded::Text("4one".into()));
    server.send("s1", Encoded::Binary(vec![7, 8].into()));
    server.send("s1", Encoded::Text("4three".into()));
    let mut got = Vec::new();
    assert!(!server.drain_ws("s1", |p| got.push(p)), "an open session");
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(matches!(&got[0], Encoded::Text(open) if open.starts_with("0{")));
    assert_eq!(
        got[1..],
        [
            Encoded::Text("4one".into()),
            Encoded::Binary(vec![7, 8].into()),
            Encoded::Text("4three".into()),
        ]
    );
    // Nothing left: the same as poll_ws_transmit until None.
    assert!(!server.drain_ws("s1", |p| panic!("drained twice: {p:?}")));
    assert_eq!(server.poll_ws_transmit("s1"), None);
    // Over, or never known: close, like wants_websocket_close.
    server.close("s1", CloseReason::ForcedClose);
    assert_eq!(
        server.drain_ws("s1", |_| {}),
        server.wants_websocket_close("s1")
    );
    assert!(server.drain_ws("s1", |_| {}));
    assert!(server.drain_ws("nobody", |_| panic!("no session, no packet")));
}

#[test]
fn a_session_key_reaches_its_session_and_nothing_after_it_is_dropped() {
    let mut server = server();
    let mut ids = ids();
    let mut open = |server: &mut Server| {
        let Ok(Session(sid)) =
            server.handle_websocket("EIO=4&transport=websocket", &mut ids, at(0))
        else {
            panic!("not opened")
        };
        while server.poll_event().is_some() {}
        server.drain_ws(&sid, |_| {});
        sid
    };
    let first = open(&mut server);
    let key = server.key(&first).expect("a live session has a key");
    assert_eq!(server.key("nobody"), None);
    server.send_to(key, Encoded::Text("4hi".into()));
    let mut got = Vec::new();
    server.drain_ws(&first, |p| got.push(p));
    assert_eq!(got, [Encoded::Text("4hi".into())]);
    // Dropped: the key names nothing, even once a new session takes the same place.
    server.handle_ws_closed(&first, false);
    while server.poll_event().is_some() {}
    assert!(server.session(&first).is_none());
    let second = open(&mut server);
    assert_ne!(server.key(&second), Some(key));
    server.send_to(key, Encoded::Text("4stale".into()));
    assert!(!server.drain_ws(&second, |p| panic!("a stale key delivered {p:?}")));
    while server.poll_ready().is_some() {}
    assert_eq!(server.poll_ready(), None);
}

#[test]
fn a_session_dropped_after_a_ping_timeout_is_listed_ready_so_its_websocket_closes() {
    let mut server = server();
    let mut ids = ids();
    assert_eq!(
        server.handle_websocket("EIO=4&transport=websocket", &mut ids, at(0)),
        Ok(Session("s1".into()))
    );
    while server.poll_ready().is_some() {}
    assert!(!server.drain_ws("s1", |_| {}));
    server.handle_timeout(at(300));
    server.handle_timeout(at(500));
    let events: Vec<Event> = std::iter::from_fn(|| server.poll_event())
        .map(|(_, e)| e)
        .collect();
    assert!(events.contains(&Event::Closed(CloseReason::PingTimeout)));
    assert!(
        server.session("s1").is_none(),
        "dropped once its events are taken"
    );
    let listed: Vec<String> = std::iter::from_fn(|| server.poll_ready()).collect();
    assert!(listed.iter().any(|sid| sid == "s1"), "{listed:?}");
    assert!(
        server.drain_ws("s1", |_| {}),
        "its WebSocket is to be closed"
    );
}
