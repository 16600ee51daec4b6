//! Golden vectors: every WebSocket frame of a recording between the official socket.io-client
//! 4.8 and a Node socket.io 4.8 server (websocket transport: open packet, CONNECT with auth,
//! events, acks, binary attachments, broadcast, heartbeat, DISCONNECT), plus the encoding
//! examples of the Engine.IO v4 and Socket.IO v5 protocol documents. Each one is decoded to the value we expect and emitted back byte-exact.

use serde_json::json;
use sio::engine::{self, Encoded, OpenParams};
use sio::socket::{Body, Decoder, Packet, placeholder};

/// One recorded WebSocket frame.
enum Frame {
    Text(&'static str),
    Binary(&'static [u8]),
}

/// Decodes a sequence of recorded frames into Socket.IO packets (as a server or a client
/// would), checking that every Engine.IO packet re-emits byte-exact on the way.
fn socket_packets(frames: &[Frame]) -> Vec<Packet> {
    let mut decoder = Decoder::default();
    let mut packets = Vec::new();
    for frame in frames {
        let decoded = match frame {
            Frame::Text(text) => {
                let packet = engine::Packet::from_text(text).expect("engine packet");
                assert_eq!(Encoded::new(&packet), Encoded::Text((*text).into()));
                let engine::Packet::Message(engine::Data::Text(data)) = packet else {
                    panic!("not a message: {text}");
                };
                decoder.handle_text(data).expect("socket packet")
            }
            Frame::Binary(bytes) => {
                let packet = engine::Packet::from_binary(bytes);
                assert_eq!(Encoded::new(&packet), Encoded::Binary((*bytes).into()));
                decoder.handle_binary(bytes).expect("attachment")
            }
        };
        packets.extend(decoded);
    }
    assert!(!decoder.is_reassembling());
    packets
}

/// The Engine.IO messages of `frames`, as the encoder should produce them.
fn encoded(frames: &[Frame]) -> Vec<Encoded> {
    frames
        .iter()
        .map(|frame| match frame {
            Frame::Text(text) => Encoded::Text((*text).into()),
            Frame::Binary(bytes) => Encoded::Binary((*bytes).into()),
        })
        .collect()
}

/// Decodes `frames` to exactly one packet, checks it is `expected`, and that it encodes back
/// to the same frames.
fn golden(frames: &[Frame], expected: Packet) {
    let packets = socket_packets(frames);
    assert_eq!(packets, std::slice::from_ref(&expected));
    assert_eq!(expected.to_engine(), encoded(frames));
}

fn packet(nsp: &str, body: Body) -> Packet {
    Packet {
        nsp: nsp.into(),
        body,
    }
}

fn event(id: Option<u64>, data: serde_json::Value, attachments: Vec<Vec<u8>>) -> Body {
    let serde_json::Value::Array(data) = data else {
        panic!("event data is an array")
    };
    Body::Event {
        id,
        data,
        attachments,
    }
}

fn ack(id: u64, data: serde_json::Value, attachments: Vec<Vec<u8>>) -> Body {
    let serde_json::Value::Array(data) = data else {
        panic!("ack data is an array")
    };
    Body::Ack {
        id,
        data,
        attachments,
    }
}

#[test]
fn recorded_open_packet() {
    let text = r#"0{"sid":"KB45X96ETR3kWElOAAAC","upgrades":[],"pingInterval":2000,"pingTimeout":20000,"maxPayload":1000000}"#;
    let engine::Packet::Open(json) = engine::Packet::from_text(text).unwrap() else {
        panic!("not an open packet")
    };
    let params = OpenParams::from_json(json).unwrap();
    assert_eq!(
        params,
        OpenParams {
            sid: "KB45X96ETR3kWElOAAAC".into(),
            upgrades: vec![],
            ping_interval: 2000,
            ping_timeout: 20000,
            max_payload: 1_000_000,
        }
    );
    assert_eq!(params.to_json(), json);
}

#[test]
fn recorded_connect_with_auth_and_its_answer() {
    let auth = json!({"user": "A"}).as_object().cloned();
    golden(
        &[Frame::Text(r#"40{"user":"A"}"#)],
        packet("/", Body::Connect(auth)),
    );
    let sid = json!({"sid": "uvnMBZGXtz8qPz0FAAAC"}).as_object().cloned();
    golden(
        &[Frame::Text(r#"40{"sid":"uvnMBZGXtz8qPz0FAAAC"}"#)],
        packet("/", Body::Connect(sid)),
    );
}

#[test]
fn recorded_event_with_ack_and_the_ack() {
    golden(
        &[Frame::Text(
            r#"420["echo","hello",{"n":1,"s":"ünï"},[1,2]]"#,
        )],
        packet(
            "/",
            event(
                Some(0),
                json!(["echo", "hello", {"n": 1, "s": "ünï"}, [1, 2]]),
                vec![],
            ),
        ),
    );
    golden(
        &[Frame::Text(r#"430["hello",{"n":1,"s":"ünï"},[1,2]]"#)],
        packet(
            "/",
            ack(0, json!(["hello", {"n": 1, "s": "ünï"}, [1, 2]]), vec![]),
        ),
    );
}

#[test]
fn recorded_binary_event_and_binary_ack() {
    let bytes: &[u8] = &[0x00, 0x01, 0x02, 0x03, 0xfe, 0xff];
    golden(
        &[
            Frame::Text(r#"451-1["echo","bin",{"_placeholder":true,"num":0}]"#),
            Frame::Binary(bytes),
        ],
        packet(
            "/",
            event(
                Some(1),
                json!(["echo", "bin", placeholder(0)]),
                vec![bytes.to_vec()],
            ),
        ),
    );
    golden(
        &[
            Frame::Text(r#"461-1["bin",{"_placeholder":true,"num":0}]"#),
            Frame::Binary(bytes),
        ],
        packet(
            "/",
            ack(1, json!(["bin", placeholder(0)]), vec![bytes.to_vec()]),
        ),
    );
}

#[test]
fn recorded_broadcast_heartbeat_and_disconnect() {
    golden(
        &[Frame::Text(r#"42["chat","A says hi"]"#)],
        packet("/", event(None, json!(["chat", "A says hi"]), vec![])),
    );
    golden(&[Frame::Text("41")], packet("/", Body::Disconnect));
    assert_eq!(engine::Packet::from_text("2"), Ok(engine::Packet::Ping("")));
    assert_eq!(engine::Packet::from_text("3"), Ok(engine::Packet::Pong("")));
}

#[test]
fn socket_io_protocol_document_examples() {
    let sid = json!({"sid": "oSO0OpakMV_3jnilAAAA"}).as_object().cloned();
    let cases = [
        ("40", packet("/", Body::Connect(None))),
        (
            r#"40/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
            packet("/admin", Body::Connect(sid)),
        ),
        (
            r#"44{"message":"Not authorized"}"#,
            packet(
                "/",
                Body::ConnectError(json!({"message": "Not authorized"})),
            ),
        ),
        (
            r#"42["foo"]"#,
            packet("/", event(None, json!(["foo"]), vec![])),
        ),
        (
            r#"42/admin,["bar"]"#,
            packet("/admin", event(None, json!(["bar"]), vec![])),
        ),
        (
            r#"4212["foo"]"#,
            packet("/", event(Some(12), json!(["foo"]), vec![])),
        ),
        (
            r#"43/admin,13["bar"]"#,
            packet("/admin", ack(13, json!(["bar"]), vec![])),
        ),
        ("41", packet("/", Body::Disconnect)),
        ("41/admin,", packet("/admin", Body::Disconnect)),
    ];
    for (text, expected) in cases {
        golden(&[Frame::Text(text)], expected);
    }
    golden(
        &[
            Frame::Text(
                r#"452-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
            ),
            Frame::Binary(&[1, 2]),
            Frame::Binary(&[3, 4]),
        ],
        packet(
            "/admin",
            event(
                None,
                json!(["baz", placeholder(0), placeholder(1)]),
                vec![vec![1, 2], vec![3, 4]],
            ),
        ),
    );
    golden(
        &[
            Frame::Text(r#"461-15["bar",{"_placeholder":true,"num":0}]"#),
            Frame::Binary(&[1, 2, 3, 4]),
        ],
        packet(
            "/",
            ack(15, json!(["bar", placeholder(0)]), vec![vec![1, 2, 3, 4]]),
        ),
    );
    // The sample session's binary ack in a namespace: the count comes before the namespace.
    golden(
        &[
            Frame::Text(r#"461-/admin,1[{"_placeholder":true,"num":0}]"#),
            Frame::Binary(&[9]),
        ],
        packet("/admin", ack(1, json!([placeholder(0)]), vec![vec![9]])),
    );
}

#[test]
fn engine_io_protocol_document_payloads() {
    let body = "4hello\x1e2\x1e4world";
    let packets: Vec<_> = engine::payload::decode(body.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        packets,
        [
            engine::Packet::Message(engine::Data::Text("hello")),
            engine::Packet::Ping(""),
            engine::Packet::Message(engine::Data::Text("world")),
        ]
    );
    let encoded: Vec<_> = packets.iter().map(Encoded::new).collect();
    assert_eq!(engine::payload::encode(&encoded), body);

    let body = "4hello\x1ebAQIDBA==";
    let packets: Vec<_> = engine::payload::decode(body.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(packets[1], engine::Packet::from_binary(&[1, 2, 3, 4]));
    let encoded: Vec<_> = packets.iter().map(Encoded::new).collect();
    assert_eq!(encoded[1], Encoded::Binary(vec![1, 2, 3, 4].into()));
    assert_eq!(engine::payload::encode(&encoded), body);
    assert_eq!(engine::payload::polling_len(&encoded[1]), "bAQIDBA==".len());

    // The upgrade's packets.
    assert_eq!(
        engine::Packet::from_text("2probe"),
        Ok(engine::Packet::Ping("probe"))
    );
    assert_eq!(
        engine::Packet::from_text("3probe"),
        Ok(engine::Packet::Pong("probe"))
    );
    assert_eq!(engine::Packet::from_text("5"), Ok(engine::Packet::Upgrade));
    assert_eq!(engine::Packet::from_text("6"), Ok(engine::Packet::Noop));
    assert_eq!(engine::Packet::from_text("1"), Ok(engine::Packet::Close));
}
