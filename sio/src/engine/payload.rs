//! The HTTP long-polling payload: several packets in one body, joined by the record separator
//! 0x1e; a binary message travels as `b` followed by its standard base64.
//!
//! ```text
//! 4hello<0x1e>2<0x1e>bAQIDBA==     message "hello", ping, message <01 02 03 04>
//! ```
//!
//! [`decode`] is a lazy iterator over the packets of a body (it stops being useful at the first
//! error: the session closes with "parse error"); [`encode`] is its mirror.

use alloc::borrow::Cow;
use alloc::string::String;

use base64::Engine as _;

use super::Encoded;
use super::error::PacketError;
use super::packet::{Data, Packet};

/// The record separator that joins packets in a polling payload.
pub const SEPARATOR: char = '\x1e';

/// The packets of a polling body, in order. A body that is not UTF-8 yields one
/// [`PacketError::NotUtf8`].
pub fn decode(body: &[u8]) -> Packets<'_> {
    match core::str::from_utf8(body) {
        Ok(text) => Packets {
            rest: Some(text),
            failed: None,
        },
        Err(_) => Packets {
            rest: None,
            failed: Some(PacketError::NotUtf8),
        },
    }
}

/// Iterator returned by [`decode`].
#[derive(Debug, Clone)]
pub struct Packets<'a> {
    rest: Option<&'a str>,
    failed: Option<PacketError>,
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<Packet<'a>, PacketError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(error) = self.failed.take() {
            return Some(Err(error));
        }
        let rest = self.rest?;
        let (one, tail) = match rest.split_once(SEPARATOR) {
            Some((one, tail)) => (one, Some(tail)),
            None => (rest, None),
        };
        self.rest = tail;
        Some(decode_one(one))
    }
}

/// One packet of a polling payload: `b`+base64 or the text form.
pub fn decode_one(text: &str) -> Result<Packet<'_>, PacketError> {
    match text.strip_prefix('b') {
        Some(base64) => base64::engine::general_purpose::STANDARD
            .decode(base64)
            .map(|bytes| Packet::Message(Data::Binary(Cow::Owned(bytes))))
            .map_err(|_| PacketError::InvalidBase64),
        None => Packet::from_text(text),
    }
}

/// Joins encoded packets into one polling body.
pub fn encode<'a>(packets: impl IntoIterator<Item = &'a Encoded>) -> String {
    let mut body = String::new();
    for (n, packet) in packets.into_iter().enumerate() {
        if n > 0 {
            body.push(SEPARATOR);
        }
        packet.push_polling(&mut body);
    }
    body
}

/// Bytes a packet adds to a polling body (separator excluded): what `maxPayload` counts when
/// the server decides how many queued packets one GET answer carries.
pub fn polling_len(packet: &Encoded) -> usize {
    match packet {
        Encoded::Text(text) => text.len(),
        Encoded::Binary(bytes) => 1 + bytes.len().div_ceil(3) * 4,
    }
}
