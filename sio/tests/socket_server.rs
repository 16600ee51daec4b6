//! The Socket.IO server on virtual time over WebSocket-only sessions, one test per behaviour
//! the official Socket.IO v5 test suite checks (docs/socket.io-protocol/v5-test-suite in
//! socketio/socket.io), with its server: namespaces `/` and `/custom`, on connection an `auth`
//! event echoing the CONNECT payload, `message` answered with `message-back`, and
//! `message-with-ack` acknowledged with its arguments; pingInterval 300 ms, pingTimeout 200 ms,
//! connectTimeout 1 s. Then what the suite does not cover: acks from the server, rooms,
//! broadcasts and disconnect reasons.

use serde_json::{Value, json};
use sio::engine::{self, Encoded, WebSocketAccept};
use sio::socket::{BroadcastOptions, Config, DisconnectReason, Emit, Event, LocalAdapter, Server};
use ws::{Duration, Instant};

type TestServer = Server<LocalAdapter, Box<dyn FnMut() -> String>>;

fn test_server() -> TestServer {
    let mut n = 0;
    let ids: Box<dyn FnMut() -> String> = Box::new(move || {
        n += 1;
        format!("id{n}")
    });
    let config = Config {
        engine: engine::Config {
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(200),
            max_payload: 1_000_000,
            max_buffered: 1 << 20,
        },
        connect_timeout: Duration::from_secs(1),
        max_attachments: 10,
    };
    let mut server = Server::new(config, LocalAdapter::new(), ids);
    server.add_namespace("/custom");
    server
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// The test suite's server application; returns the events it saw.
fn run_app(server: &mut TestServer) -> Vec<Event> {
    let mut seen = Vec::new();
    while let Some(event) = server.poll_event() {
        match &event {
            Event::Connection { socket, auth, .. } => {
                let auth = Value::Object(auth.clone().unwrap_or_default());
                server.emit(socket, Emit::event("auth", [auth]));
            }
            Event::Event { socket, emit, ack } => match (emit.data[0].as_str(), ack) {
                (Some("message"), _) => {
                    let mut back = emit.clone();
                    back.data[0] = json!("message-back");
                    server.emit(socket, back);
                }
                (Some("message-with-ack"), Some(id)) => {
                    let args = Emit {
                        data: emit.data[1..].to_vec(),
                        attachments: emit.attachments.clone(),
                    };
                    server.ack(socket, *id, args);
                }
                _ => {}
            },
            _ => {}
        }
        seen.push(event);
    }
    seen
}

/// A WebSocket client of the test server.
struct Client {
    sid: String,
}

impl Client {
    /// Opens a WebSocket session and takes the open packet.
    fn open(server: &mut TestServer, now: u64) -> Client {
        let Ok(WebSocketAccept::Session(sid)) =
            server.handle_websocket("EIO=4&transport=websocket", at(now))
        else {
            panic!("WebSocket handshake refused")
        };
        let client = Client { sid };
        let open = client.received(server);
        assert!(
            matches!(&open[..], [Encoded::Text(t)] if t.starts_with("0{")),
            "{open:?}"
        );
        client
    }

    /// Opens a session and joins `/` (the suite's `initSocketIOConnection`).
    fn connected(server: &mut TestServer, now: u64) -> Client {
        let client = Client::open(server, now);
        client.send(server, "40", now);
        let got = client.received(server);
        assert_eq!(got.len(), 2, "{got:?}");
        client
    }

    fn send(&self, server: &mut TestServer, text: &str, now: u64) {
        server.handle_ws_text(&self.sid, text, at(now));
        run_app(server);
    }

    fn send_binary(&self, server: &mut TestServer, bytes: &[u8], now: u64) {
        server.handle_ws_binary(&self.sid, bytes, at(now));
        run_app(server);
    }

    fn received(&self, server: &mut TestServer) -> Vec<Encoded> {
        std::iter::from_fn(|| server.poll_ws_transmit(&self.sid)).collect()
    }

    fn texts(&self, server: &mut TestServer) -> Vec<String> {
        self.received(server)
            .into_iter()
            .map(|m| match m {
                Encoded::Text(t) => t.to_string(),
                Encoded::Binary(b) => panic!("unexpected binary {b:?}"),
            })
            .collect()
    }

    fn closed(&self, server: &TestServer) -> bool {
        server.wants_websocket_close(&self.sid)
    }
}

fn text(s: &str) -> Encoded {
    Encoded::Text(s.into())
}

#[test]
fn connect_to_main_and_custom_namespaces_with_and_without_payload() {
    let cases = [
        ("40", r#"40{"sid":"id2"}"#, r#"42["auth",{}]"#),
        (
            r#"40{"token":"123"}"#,
            r#"40{"sid":"id2"}"#,
            r#"42["auth",{"token":"123"}]"#,
        ),
        (
            "40/custom,",
            r#"40/custom,{"sid":"id2"}"#,
            r#"42/custom,["auth",{}]"#,
        ),
        (
            r#"40/custom,{"token":"abc"}"#,
            r#"40/custom,{"sid":"id2"}"#,
            r#"42/custom,["auth",{"token":"abc"}]"#,
        ),
    ];
    for (connect, granted, auth) in cases {
        let mut server = test_server();
        let client = Client::open(&mut server, 0);
        client.send(&mut server, connect, 1);
        assert_eq!(client.texts(&mut server), [granted, auth], "{connect}");
    }
}

#[test]
fn unknown_namespace_gets_connect_error() {
    let mut server = test_server();
    let client = Client::open(&mut server, 0);
    client.send(&mut server, "40/random", 1);
    assert_eq!(
        client.texts(&mut server),
        [r#"44/random,{"message":"Invalid namespace"}"#]
    );
    assert!(!client.closed(&server));
}

#[test]
fn invalid_handshake_closes() {
    let mut server = test_server();
    let client = Client::open(&mut server, 0);
    client.send(&mut server, "4abc", 1);
    assert!(client.closed(&server));
}

#[test]
fn no_namespace_within_connect_timeout_closes() {
    let mut server = test_server();
    let client = Client::open(&mut server, 0);
    // Keep the heartbeat going so only the connect timeout can close it.
    for now in [300, 600, 900] {
        server.handle_timeout(at(now));
        assert_eq!(client.texts(&mut server), ["2"]);
        client.send(&mut server, "3", now);
    }
    assert_eq!(server.poll_timeout(), Some(at(1000)));
    server.handle_timeout(at(999));
    assert!(!client.closed(&server));
    server.handle_timeout(at(1000));
    assert!(client.closed(&server));
}

#[test]
fn disconnect_from_main_keeps_the_session() {
    let mut server = test_server();
    let client = Client::connected(&mut server, 0);
    server.handle_ws_text(&client.sid, "41", at(1));
    let events = run_app(&mut server);
    assert_eq!(
        events,
        [Event::Disconnect {
            socket: "id2".into(),
            nsp: "/".into(),
            reason: DisconnectReason::ClientNamespaceDisconnect
        }]
    );
    assert!(client.texts(&mut server).is_empty());
    server.handle_timeout(at(300));
    assert_eq!(client.texts(&mut server), ["2"]);
}

#[test]
fn connect_then_disconnect_custom_namespace() {
    let mut server = test_server();
    let client = Client::connected(&mut server, 0);
    client.send(&mut server, "40/custom", 1);
    assert_eq!(client.texts(&mut server).len(), 2);
    client.send(&mut server, "41/custom", 2);
    client.send(
        &mut server,
        r#"42["message","message to main namespace"]"#,
        3,
    );
    assert_eq!(
        client.texts(&mut server),
        [r#"42["message-back","message to main namespace"]"#]
    );
}

#[test]
fn message_back_plain_and_binary() {
    let mut server = test_server();
    let client = Client::connected(&mut server, 0);
    client.send(&mut server, r#"42["message",1,"2",{"3":[true]}]"#, 1);
    assert_eq!(
        client.texts(&mut server),
        [r#"42["message-back",1,"2",{"3":[true]}]"#]
    );

    client.send(
        &mut server,
        r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        2,
    );
    client.send_binary(&mut server, &[1, 2, 3], 2);
    assert!(client.received(&mut server).is_empty());
    client.send_binary(&mut server, &[4, 5, 6], 2);
    assert_eq!(
        client.received(&mut server),
        [
            text(
                r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
            ),
            Encoded::Binary(vec![1, 2, 3].into()),
            Encoded::Binary(vec![4, 5, 6].into()),
        ]
    );
}

#[test]
fn message_with_ack_plain_and_binary() {
    let mut server = test_server();
    let client = Client::connected(&mut server, 0);
    client.send(
        &mut server,
        r#"42456["message-with-ack",1,"2",{"3":[false]}]"#,
        1,
    );
    assert_eq!(client.texts(&mut server), [r#"43456[1,"2",{"3":[false]}]"#]);

    client.send(&mut server, r#"452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#, 2);
    client.send_binary(&mut server, &[1, 2, 3], 2);
    client.send_binary(&mut server, &[4, 5, 6], 2);
    assert_eq!(
        client.received(&mut server),
        [
            text(r#"462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#),
            Encoded::Binary(vec![1, 2, 3].into()),
            Encoded::Binary(vec![4, 5, 6].into()),
        ]
    );
}

#[test]
fn invalid_formats_close_with_parse_error() {
    for bad in [
        "4abc",
        "42{}",
        r#"42abc["message-with-ack",1,"2",{"3":[false]}]"#,
    ] {
        let mut server = test_server();
        let client = Client::connected(&mut server, 0);
        server.handle_ws_text(&client.sid, bad, at(1));
        let events = run_app(&mut server);
        assert_eq!(
            events,
            [Event::Disconnect {
                socket: "id2".into(),
                nsp: "/".into(),
                reason: DisconnectReason::ParseError
            }],
            "{bad}"
        );
        assert!(client.closed(&server), "{bad}");
    }
}

#[test]
fn server_emit_with_ack_is_answered_or_times_out() {
    let mut server = test_server();
    let client = Client::connected(&mut server, 0);
    let id = server
        .emit_with_ack(
            "id2",
            Emit::event("ping", []),
            Duration::from_millis(100),
            at(1),
        )
        .unwrap();
    assert_eq!(id, 0);
    assert_eq!(client.texts(&mut server), [r#"420["ping"]"#]);
    server.handle_ws_text(&client.sid, r#"430["pong",1]"#, at(2));
    assert_eq!(
        server.poll_event(),
        Some(Event::Ack {
            socket: "id2".into(),
            id: 0,
            emit: Emit::args([json!("pong"), json!(1)])
        })
    );
    // An ack nobody waits for is ignored.
    server.handle_ws_text(&client.sid, "4399[]", at(5));
    assert_eq!(server.poll_event(), None);
    // No answer: timeout.
    let id3 = server
        .emit_with_ack(
            "id2",
            Emit::event("ping", []),
            Duration::from_millis(100),
            at(10),
        )
        .unwrap();
    assert_eq!(server.poll_timeout(), Some(at(110)));
    server.handle_timeout(at(110));
    assert_eq!(
        server.poll_event(),
        Some(Event::AckTimeout {
            socket: "id2".into(),
            id: id3
        })
    );
}

#[test]
fn rooms_and_broadcasts_across_three_clients() {
    let mut server = test_server();
    let clients: Vec<Client> = (0..3).map(|n| Client::connected(&mut server, n)).collect();
    let ids: Vec<String> = server.sockets("/", &BroadcastOptions::all());
    assert_eq!(ids, ["id2", "id4", "id6"]);
    server.join("id2", "red");
    server.join("id6", "red");

    assert_eq!(
        server.broadcast(
            "/",
            &BroadcastOptions::all(),
            Emit::event("chat", [json!("hi")])
        ),
        3
    );
    for client in &clients {
        assert_eq!(client.texts(&mut server), [r#"42["chat","hi"]"#]);
    }
    assert_eq!(
        server.broadcast("/", &BroadcastOptions::to("red"), Emit::event("r", [])),
        2
    );
    let got: Vec<usize> = clients.iter().map(|c| c.texts(&mut server).len()).collect();
    assert_eq!(got, [1, 0, 1]);
    // Everyone but the sender (socket.broadcast.emit).
    let all_but = BroadcastOptions::all().except("id4");
    assert_eq!(
        server.broadcast("/", &all_but, Emit::event("b", []).binary(vec![0, 255])),
        2
    );
    assert_eq!(
        clients[0].received(&mut server),
        [
            text(r#"451-["b",{"_placeholder":true,"num":0}]"#),
            Encoded::Binary(vec![0, 255].into())
        ]
    );
    assert!(clients[1].received(&mut server).is_empty());
    server.leave("id6", "red");
    assert_eq!(server.sockets("/", &BroadcastOptions::to("red")), ["id2"]);
}

#[test]
fn disconnect_reasons_follow_the_transport() {
    // Ping timeout.
    let mut server = test_server();
    let _client = Client::connected(&mut server, 0);
    server.handle_timeout(at(300));
    server.handle_timeout(at(500));
    assert_eq!(
        run_app(&mut server),
        [Event::Disconnect {
            socket: "id2".into(),
            nsp: "/".into(),
            reason: DisconnectReason::PingTimeout
        }]
    );
    assert_eq!(server.client_count(), 0);
    // The WebSocket went away.
    let mut server = test_server();
    let client = Client::connected(&mut server, 0);
    server.handle_ws_closed(&client.sid, false, at(1));
    assert_eq!(
        run_app(&mut server),
        [Event::Disconnect {
            socket: "id2".into(),
            nsp: "/".into(),
            reason: DisconnectReason::TransportClose
        }]
    );
    // A second CONNECT to the same namespace closes the client.
    let mut server = test_server();
    let client = Client::connected(&mut server, 0);
    server.handle_ws_text(&client.sid, "40", at(1));
    assert_eq!(
        run_app(&mut server),
        [Event::Disconnect {
            socket: "id2".into(),
            nsp: "/".into(),
            reason: DisconnectReason::ForcedServerClose
        }]
    );
    // The server disconnects the socket: the client is told, the session stays.
    let mut server = test_server();
    let client = Client::connected(&mut server, 0);
    server.disconnect("id2");
    assert_eq!(client.texts(&mut server), ["41"]);
    assert_eq!(
        run_app(&mut server),
        [Event::Disconnect {
            socket: "id2".into(),
            nsp: "/".into(),
            reason: DisconnectReason::ServerNamespaceDisconnect
        }]
    );
    assert!(!client.closed(&server));
}
