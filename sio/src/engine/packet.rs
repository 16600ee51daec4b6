//! One Engine.IO v4 packet (protocol revision 4, "Packet encoding").
//!
//! ```text
//! text form:    <packet type digit>[<data>]        e.g. "4hello", "2probe", "6"
//! binary form:  the raw bytes of a message packet  (a WebSocket binary frame)
//! ```
//!
//! Parsing has two steps, like `ws::frame`: [`PacketView`] splits the type digit from the data
//! and only guarantees the digit is there; [`Packet::parse`] turns it into a value that cannot
//! hold an illegal packet (binary data only in a message, no data on close/upgrade/noop).
//! [`Packet::emit_text`] is the mirror of parse. The polling transport's payloads, which join
//! several packets, are in [`super::payload`].

use alloc::borrow::Cow;
use alloc::string::String;

use super::error::PacketError;

/// The packet types of Engine.IO v4, with their digit on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: the handshake, server to client, carrying the [`super::OpenParams`] JSON.
    Open = 0,
    /// `1`: the transport can be closed.
    Close = 1,
    /// `2`: heartbeat request (server to client), or the upgrade probe `2probe`.
    Ping = 2,
    /// `3`: heartbeat answer, or the probe answer `3probe`.
    Pong = 3,
    /// `4`: application data.
    Message = 4,
    /// `5`: completes the upgrade to WebSocket.
    Upgrade = 5,
    /// `6`: answers a pending polling GET during the upgrade.
    Noop = 6,
}

impl PacketType {
    /// The type for a wire character, `None` for anything but `0`..=`6`.
    pub const fn from_char(c: u8) -> Option<PacketType> {
        Some(match c {
            b'0' => PacketType::Open,
            b'1' => PacketType::Close,
            b'2' => PacketType::Ping,
            b'3' => PacketType::Pong,
            b'4' => PacketType::Message,
            b'5' => PacketType::Upgrade,
            b'6' => PacketType::Noop,
            _ => return None,
        })
    }

    /// The wire character of this type.
    pub const fn to_char(self) -> char {
        (b'0' + self as u8) as char
    }
}

/// The data of a message packet: text travels as is, binary as is on WebSocket and as
/// `b`+base64 on polling (then it is decoded, hence the `Cow`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data<'a> {
    /// UTF-8 text (a WebSocket text frame, or text in a polling payload).
    Text(&'a str),
    /// Bytes (a WebSocket binary frame, or a `b`-prefixed base64 packet in a polling payload).
    Binary(Cow<'a, [u8]>),
}

/// A view over one text-form packet: a type character and the data after it, not validated.
#[derive(Debug, Clone, Copy)]
pub struct PacketView<'a> {
    text: &'a str,
}

impl<'a> PacketView<'a> {
    /// A view over `text` if it holds at least the type character.
    pub fn new_checked(text: &'a str) -> Result<Self, PacketError> {
        if text.is_empty() {
            return Err(PacketError::Empty);
        }
        Ok(PacketView { text })
    }

    /// The type character as sent (any byte, unchecked).
    pub fn type_char(&self) -> u8 {
        self.text.as_bytes()[0]
    }

    /// Everything after the type character. The type character is checked to be ASCII by
    /// [`Packet::parse`] before this slice is taken, so it starts on a char boundary there.
    pub fn data(&self) -> &'a str {
        self.text.get(1..).unwrap_or("")
    }
}

/// A validated Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `0{...}`: the handshake JSON, as text (built and read by [`super::OpenParams`]).
    Open(&'a str),
    /// `1`.
    Close,
    /// `2` or `2probe`.
    Ping(&'a str),
    /// `3` or `3probe`.
    Pong(&'a str),
    /// `4...` or a binary frame / `b...` packet.
    Message(Data<'a>),
    /// `5`.
    Upgrade,
    /// `6`.
    Noop,
}

impl<'a> Packet<'a> {
    /// Validates a text-form packet.
    ///
    /// Close, upgrade and noop carry no data; any data after them is [`PacketError::UnexpectedData`].
    pub fn parse(view: &PacketView<'a>) -> Result<Self, PacketError> {
        let packet_type =
            PacketType::from_char(view.type_char()).ok_or(PacketError::UnknownType)?;
        let data = view.data();
        let no_data = |packet| {
            if data.is_empty() {
                Ok(packet)
            } else {
                Err(PacketError::UnexpectedData)
            }
        };
        match packet_type {
            PacketType::Open => Ok(Packet::Open(data)),
            PacketType::Close => no_data(Packet::Close),
            PacketType::Ping => Ok(Packet::Ping(data)),
            PacketType::Pong => Ok(Packet::Pong(data)),
            PacketType::Message => Ok(Packet::Message(Data::Text(data))),
            PacketType::Upgrade => no_data(Packet::Upgrade),
            PacketType::Noop => no_data(Packet::Noop),
        }
    }

    /// Parses a text-form packet in one call (view, then validate).
    pub fn from_text(text: &'a str) -> Result<Self, PacketError> {
        Packet::parse(&PacketView::new_checked(text)?)
    }

    /// The packet a WebSocket binary frame carries: always a message.
    pub fn from_binary(bytes: &'a [u8]) -> Self {
        Packet::Message(Data::Binary(Cow::Borrowed(bytes)))
    }

    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Open(_) => PacketType::Open,
            Packet::Close => PacketType::Close,
            Packet::Ping(_) => PacketType::Ping,
            Packet::Pong(_) => PacketType::Pong,
            Packet::Message(_) => PacketType::Message,
            Packet::Upgrade => PacketType::Upgrade,
            Packet::Noop => PacketType::Noop,
        }
    }

    /// Whether this packet travels as bytes (a binary message).
    pub fn is_binary(&self) -> bool {
        matches!(self, Packet::Message(Data::Binary(_)))
    }

    /// Appends the text form (type digit and data) to `out`. A binary message has no text form
    /// of its own: it is written as `b`+base64, the polling form (on WebSocket, send its bytes
    /// as a binary frame instead, see [`Packet::binary_data`]).
    pub fn emit_text(&self, out: &mut String) {
        let data: &str = match self {
            Packet::Open(data) | Packet::Ping(data) | Packet::Pong(data) => data,
            Packet::Message(Data::Text(data)) => data,
            Packet::Message(Data::Binary(bytes)) => return push_polling_binary(bytes, out),
            Packet::Close | Packet::Upgrade | Packet::Noop => "",
        };
        out.push(self.packet_type().to_char());
        out.push_str(data);
    }

    /// The bytes of a binary message, `None` for every text-form packet.
    pub fn binary_data(&self) -> Option<&[u8]> {
        match self {
            Packet::Message(Data::Binary(bytes)) => Some(bytes),
            _ => None,
        }
    }
}

/// Appends a binary message in its polling form, `b`+standard base64.
pub(crate) fn push_polling_binary(bytes: &[u8], out: &mut String) {
    use base64::Engine as _;
    out.push('b');
    base64::engine::general_purpose::STANDARD.encode_string(bytes, out);
}
