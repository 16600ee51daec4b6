//! Engine.IO v4: the transport-level protocol under Socket.IO (packets, polling payloads, the
//! handshake data and the errors the reference server answers with).

pub mod error;
pub mod open;
pub mod packet;
pub mod payload;
pub mod request;
pub mod server;
pub mod session;

use alloc::string::String;
use alloc::sync::Arc;

pub use error::{CloseReason, PacketError, RequestError};
pub use open::OpenParams;
pub use packet::{Data, Packet, PacketType, PacketView};
pub use request::{Method, Query, Route, Transport};
pub use server::{HttpAnswer, IdSource, Server, SessionKey, TEXT_PLAIN, WebSocketAccept};
pub use session::{Config, Event, Message, PollAnswer, Session, State};

/// A packet encoded for sending, as it waits in a session's queue until a transport takes it:
/// a WebSocket sends `Text` as a text frame and `Binary` as a binary frame; polling joins them
/// into one body ([`payload::encode`]). The bytes are shared: a broadcast encodes its packets
/// once and every recipient's queue holds a reference to them (a clone is a count increment,
/// not a copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoded {
    /// The text form, type digit first (`"4hello"`, `"2"`).
    Text(Arc<str>),
    /// The bytes of a binary message packet.
    Binary(Arc<[u8]>),
}

impl Encoded {
    /// Encodes a packet.
    pub fn new(packet: &Packet<'_>) -> Encoded {
        match packet.binary_data() {
            Some(bytes) => Encoded::Binary(bytes.into()),
            None => {
                let mut text = String::new();
                packet.emit_text(&mut text);
                Encoded::Text(text.into())
            }
        }
    }

    /// A message packet with text data (`4` + text).
    pub fn message_text(text: &str) -> Encoded {
        let mut out = String::with_capacity(1 + text.len());
        out.push(PacketType::Message.to_char());
        out.push_str(text);
        Encoded::Text(out.into())
    }

    /// Size in bytes (the text form's, or the binary data's).
    pub fn len(&self) -> usize {
        match self {
            Encoded::Text(text) => text.len(),
            Encoded::Binary(bytes) => bytes.len(),
        }
    }

    /// Whether the encoding is empty (never for a packet: the type comes first in text).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The packet back as a borrowed [`Packet`] (the mirror of [`Encoded::new`]).
    pub fn packet(&self) -> Result<Packet<'_>, PacketError> {
        match self {
            Encoded::Text(text) => Packet::from_text(text),
            Encoded::Binary(bytes) => Ok(Packet::from_binary(bytes)),
        }
    }

    /// Appends the polling form: the text form as is, binary as `b`+base64.
    pub fn push_polling(&self, out: &mut String) {
        match self {
            Encoded::Text(text) => out.push_str(text),
            Encoded::Binary(bytes) => packet::push_polling_binary(bytes, out),
        }
    }
}
