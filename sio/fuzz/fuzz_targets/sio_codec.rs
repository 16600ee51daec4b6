//! The Engine.IO and Socket.IO codecs on arbitrary input. The input is cut into messages at
//! 0x00 bytes; a message whose first byte is 0x01 is a binary message (the rest is its bytes),
//! any other is text (skipped unless UTF-8). Each text message goes through the Engine.IO
//! packet parser, the polling-payload decoder, and the Socket.IO decoder of one session.
//! Properties: nothing panics; a parsed Engine.IO packet emits back to its exact text; every
//! decoded Socket.IO packet encodes to messages that decode back to the same packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sio::engine::{self, Encoded};
use sio::socket::{Decoder, Packet};

fn round_trip(packet: &Packet) {
    let mut decoder = Decoder::default();
    let mut again = None;
    for message in packet.to_engine() {
        again = match &message {
            Encoded::Text(text) => decoder.handle_text(&text[1..]),
            Encoded::Binary(bytes) => decoder.handle_binary(bytes),
        }
        .expect("an encoded packet decodes");
    }
    assert_eq!(again.as_ref(), Some(packet));
}

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::default();
    for message in data.split(|&b| b == 0) {
        let decoded = match message {
            [1, bytes @ ..] => decoder.handle_binary(bytes),
            text => {
                for packet in engine::payload::decode(text) {
                    if packet.is_err() {
                        break;
                    }
                }
                let Ok(text) = core::str::from_utf8(text) else { continue };
                if let Ok(packet) = engine::Packet::from_text(text) {
                    let mut out = String::new();
                    packet.emit_text(&mut out);
                    assert_eq!(out, text);
                }
                decoder.handle_text(text)
            }
        };
        if let Ok(Some(packet)) = decoded {
            round_trip(&packet);
        }
    }
});
