//! One test per malformed-input branch of the codecs: each input gets its precise error.

use sio::engine::{self, PacketError};
use sio::socket::{DecodeError, Decoder, MAX_ATTACHMENTS, Packet};

#[test]
fn engine_packet_errors() {
    let cases: [(&str, PacketError); 7] = [
        ("", PacketError::Empty),
        ("7", PacketError::UnknownType),
        ("x", PacketError::UnknownType),
        ("1bye", PacketError::UnexpectedData),
        ("5x", PacketError::UnexpectedData),
        ("6 ", PacketError::UnexpectedData),
        ("é", PacketError::UnknownType),
    ];
    for (text, error) in cases {
        assert_eq!(engine::Packet::from_text(text), Err(error), "{text:?}");
    }
}

#[test]
fn polling_payload_errors() {
    let first_error = |body: &[u8]| engine::payload::decode(body).find_map(Result::err);
    assert_eq!(first_error(b"4a\xff"), Some(PacketError::NotUtf8));
    assert_eq!(first_error(b"4a\x1e\x1e4b"), Some(PacketError::Empty));
    assert_eq!(first_error(b"4a\x1e"), Some(PacketError::Empty));
    assert_eq!(first_error(b"b!!!"), Some(PacketError::InvalidBase64));
    assert_eq!(first_error(b"bAQI"), Some(PacketError::InvalidBase64));
    assert_eq!(first_error(b"9"), Some(PacketError::UnknownType));
    assert_eq!(first_error(b"4a\x1e4b"), None);
}

#[test]
fn socket_packet_errors() {
    let cases: &[(&str, DecodeError)] = &[
        ("", DecodeError::Empty),
        ("7", DecodeError::UnknownType),
        ("a", DecodeError::UnknownType),
        // Binary types need `<count>-`, a count of at least 1, at most MAX_ATTACHMENTS.
        (r#"5["a"]"#, DecodeError::IllegalAttachments),
        (r#"5-["a"]"#, DecodeError::IllegalAttachments),
        (r#"50-["a"]"#, DecodeError::IllegalAttachments),
        (r#"5x-["a"]"#, DecodeError::IllegalAttachments),
        (r#"511-["a"]"#, DecodeError::TooManyAttachments),
        (
            r#"599999999999999999999999-["a"]"#,
            DecodeError::TooManyAttachments,
        ),
        (r#"299999999999999999999["a"]"#, DecodeError::IdOutOfRange),
        (r#"2["a""#, DecodeError::InvalidJson),
        ("2{", DecodeError::InvalidJson),
        // CONNECT: an object or nothing.
        ("0[]", DecodeError::InvalidPayload),
        (r#"0"token""#, DecodeError::InvalidPayload),
        // DISCONNECT: nothing.
        ("1{}", DecodeError::InvalidPayload),
        // CONNECT_ERROR: a string or an object.
        ("4", DecodeError::InvalidPayload),
        ("4[]", DecodeError::InvalidPayload),
        // EVENT: a non-empty array whose head is a number or a non-reserved string.
        ("2", DecodeError::InvalidPayload),
        ("2[]", DecodeError::InvalidPayload),
        ("2{}", DecodeError::InvalidPayload),
        ("2[null]", DecodeError::InvalidPayload),
        (r#"2["connect"]"#, DecodeError::InvalidPayload),
        (r#"2["disconnecting"]"#, DecodeError::InvalidPayload),
        (r#"2["newListener"]"#, DecodeError::InvalidPayload),
        // ACK: an id and an array.
        ("3[]", DecodeError::InvalidPayload),
        ("31", DecodeError::InvalidPayload),
        ("31{}", DecodeError::InvalidPayload),
    ];
    for (text, error) in cases {
        assert_eq!(
            Packet::from_text(text, MAX_ATTACHMENTS),
            Err(*error),
            "{text:?}"
        );
        assert_eq!(
            Decoder::default().handle_text(text),
            Err(*error),
            "{text:?}"
        );
    }
    // A number is a valid event name, an empty ACK is a valid ack.
    assert!(Packet::from_text("2[1]", MAX_ATTACHMENTS).is_ok());
    assert!(Packet::from_text("31[]", MAX_ATTACHMENTS).is_ok());
    // A binary packet needs the decoder.
    assert_eq!(
        Packet::from_text(r#"51-["a",{"_placeholder":true,"num":0}]"#, MAX_ATTACHMENTS),
        Err(DecodeError::IllegalAttachments)
    );
}

#[test]
fn attachment_order_errors() {
    let mut decoder = Decoder::default();
    assert_eq!(
        decoder.handle_binary(&[1]),
        Err(DecodeError::UnexpectedBinary)
    );

    let mut decoder = Decoder::default();
    assert_eq!(
        decoder.handle_text(r#"52-["a",{"_placeholder":true,"num":0}]"#),
        Ok(None)
    );
    assert_eq!(decoder.handle_binary(&[1]), Ok(None));
    assert_eq!(
        decoder.handle_text(r#"2["b"]"#),
        Err(DecodeError::UnexpectedText)
    );

    for data in [
        r#"51-["a",{"_placeholder":true,"num":1}]"#,
        r#"51-["a",{"_placeholder":true,"num":-1}]"#,
        r#"51-["a",{"_placeholder":true,"num":"0"}]"#,
        r#"51-["a",{"_placeholder":true}]"#,
        r#"51-["a",{"deep":[{"_placeholder":true,"num":3}]}]"#,
    ] {
        let mut decoder = Decoder::default();
        assert_eq!(decoder.handle_text(data), Ok(None), "{data}");
        assert_eq!(
            decoder.handle_binary(&[1]),
            Err(DecodeError::IllegalPlaceholder),
            "{data}"
        );
    }
    // A placeholder nested anywhere is found; `_placeholder: false` is ordinary data.
    let mut decoder = Decoder::default();
    let text =
        r#"51-["a",{"deep":[{"_placeholder":true,"num":0}]},{"_placeholder":false,"num":9}]"#;
    assert_eq!(decoder.handle_text(text), Ok(None));
    assert!(decoder.handle_binary(&[1]).unwrap().is_some());
}
