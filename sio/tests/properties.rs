//! Properties of the codecs: emit is the mirror of parse for every packet we can build, and
//! no input, however broken, makes a decoder panic.

use proptest::prelude::*;
use serde_json::{Value, json};
use sio::engine::{self, Encoded};
use sio::socket::{Body, Decoder, Packet, placeholder};

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![Just("/".to_string()), "/[a-z0-9/_-]{1,8}"]
}

/// Arguments with `n` attachments placed among them, and the attachments.
fn args_with_attachments() -> impl Strategy<Value = (Vec<Value>, Vec<Vec<u8>>)> {
    (
        prop::collection::vec(json_value(), 0..4),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..16), 0..3),
    )
        .prop_map(|(mut args, attachments)| {
            for n in 0..attachments.len() {
                args.push(json!({"nested": [placeholder(n)]}));
            }
            (args, attachments)
        })
}

fn body() -> impl Strategy<Value = Body> {
    let name = prop_oneof![
        "[a-z ]{1,10}".prop_map(Value::String),
        any::<u32>().prop_map(|n| json!(n))
    ];
    prop_oneof![
        prop::option::of(prop::collection::btree_map(
            "[a-z]{1,6}",
            json_value(),
            0..3
        ))
        .prop_map(|m| Body::Connect(m.map(|m| m.into_iter().collect()))),
        Just(Body::Disconnect),
        (
            prop::option::of(any::<u64>()),
            name,
            args_with_attachments()
        )
            .prop_map(|(id, name, (args, attachments))| {
                let mut data = vec![name];
                data.extend(args);
                Body::Event {
                    id,
                    data,
                    attachments,
                }
            }),
        (any::<u64>(), args_with_attachments()).prop_map(|(id, (data, attachments))| Body::Ack {
            id,
            data,
            attachments
        }),
        prop_oneof![
            ".{0,10}".prop_map(Value::String),
            ".{0,10}".prop_map(|m| json!({"message": m}))
        ]
        .prop_map(Body::ConnectError),
    ]
}

/// Feeds Engine.IO messages to a fresh decoder; returns every packet, or the first error.
fn decode_all(messages: &[Encoded]) -> Result<Vec<Packet>, sio::socket::DecodeError> {
    let mut decoder = Decoder::default();
    let mut packets = Vec::new();
    for message in messages {
        let decoded = match message.packet().expect("engine packet") {
            engine::Packet::Message(engine::Data::Text(text)) => decoder.handle_text(text)?,
            engine::Packet::Message(engine::Data::Binary(bytes)) => {
                decoder.handle_binary(&bytes)?
            }
            other => panic!("not a message: {other:?}"),
        };
        packets.extend(decoded);
    }
    Ok(packets)
}

proptest! {
    #[test]
    fn socket_packets_round_trip(nsp in namespace(), body in body()) {
        let packet = Packet { nsp, body };
        let messages = packet.to_engine();
        prop_assert_eq!(decode_all(&messages), Ok(vec![packet.clone()]));
        // Through a polling body as well (binary as base64).
        let body = engine::payload::encode(&messages);
        let again: Vec<Encoded> = engine::payload::decode(body.as_bytes())
            .map(|p| Encoded::new(&p.expect("payload packet")))
            .collect();
        prop_assert_eq!(again, messages);
    }

    #[test]
    fn any_text_decodes_or_fails_cleanly_and_reemits_stably(text in ".{0,40}") {
        if let Ok(Some(packet)) = Decoder::default().handle_text(&text) {
            let emitted = packet.to_text();
            prop_assert_eq!(Decoder::default().handle_text(&emitted), Ok(Some(packet)));
        }
        if let Ok(packet) = engine::Packet::from_text(&text) {
            let mut out = String::new();
            packet.emit_text(&mut out);
            prop_assert_eq!(out, text);
        }
    }

    #[test]
    fn any_polling_body_decodes_or_fails_cleanly(body in prop::collection::vec(any::<u8>(), 0..64)) {
        for packet in engine::payload::decode(&body) {
            if packet.is_err() {
                break;
            }
        }
    }

    #[test]
    fn any_message_sequence_never_panics(
        messages in prop::collection::vec(
            prop_oneof![
                "[0-6][0-9-]{0,3}[/a-z,]{0,4}[0-9]{0,2}(\\[\"a\",\\{\"_placeholder\":true,\"num\":[0-2]\\}\\])?"
                    .prop_map(|t: String| Encoded::Text(t.into())),
                prop::collection::vec(any::<u8>(), 0..4).prop_map(|b: Vec<u8>| Encoded::Binary(b.into())),
            ],
            0..6,
        )
    ) {
        let mut decoder = Decoder::default();
        for message in &messages {
            let _ = match message {
                Encoded::Text(text) => decoder.handle_text(text),
                Encoded::Binary(bytes) => decoder.handle_binary(bytes),
            };
        }
    }
}

/// A number with more digits than a double holds decodes to the nearest double, and re-emits
/// to text that decodes to the same double (the fuzzer found the default serde_json parser off
/// by one unit in the last place: 4444444444444445.0 then 4444444444444444.5).
#[test]
fn long_numbers_relay_exactly() {
    let text = "20[4444444444444444.4444444444444400000623797087813460149]";
    let packet = Decoder::default().handle_text(text).unwrap().unwrap();
    let again = Decoder::default()
        .handle_text(&packet.to_text())
        .unwrap()
        .unwrap();
    assert_eq!(again, packet);
}
