//! One Socket.IO v5 packet, carried in the data of an Engine.IO message packet
//! (Socket.IO protocol v5, "Packet encoding").
//!
//! ```text
//! <packet type>[<# of binary attachments>-][<namespace>,][<acknowledgment id>][JSON data]
//!
//! 0{"token":"123"}                          CONNECT "/" with auth
//! 0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}    CONNECT "/admin" granted
//! 212["foo"]                                EVENT "/" id 12
//! 3/admin,13["bar"]                         ACK "/admin" id 13
//! 51-["baz",{"_placeholder":true,"num":0}]  BINARY_EVENT, one attachment follows
//! 1/admin,                                  DISCONNECT "/admin"
//! ```
//!
//! [`PacketView`] splits the header fields apart without judging them; [`Packet::parse`]
//! validates them and the JSON data into a value that holds only legal packets;
//! [`Packet::emit`] is the mirror of parse. Attachments are collected by
//! [`super::Decoder`]; here a binary packet's data keeps its placeholders and the attachments
//! travel next to it.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use serde_json::{Map, Value};

use super::error::DecodeError;

/// Event names the reference implementation reserves: an EVENT naming one is invalid.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The main namespace, left out of the encoding.
pub const MAIN_NAMESPACE: &str = "/";

/// The packet types of Socket.IO v5, with their digit on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: join a namespace (client, with optional auth) / joined (server, with the sid).
    Connect = 0,
    /// `1`: leave a namespace.
    Disconnect = 1,
    /// `2`: an event.
    Event = 2,
    /// `3`: the answer to an event that carried an id.
    Ack = 3,
    /// `4`: a refused CONNECT.
    ConnectError = 4,
    /// `5`: an event with binary attachments.
    BinaryEvent = 5,
    /// `6`: an ack with binary attachments.
    BinaryAck = 6,
}

impl PacketType {
    /// The type for a wire character, `None` for anything but `0`..=`6`.
    pub const fn from_char(c: u8) -> Option<PacketType> {
        Some(match c {
            b'0' => PacketType::Connect,
            b'1' => PacketType::Disconnect,
            b'2' => PacketType::Event,
            b'3' => PacketType::Ack,
            b'4' => PacketType::ConnectError,
            b'5' => PacketType::BinaryEvent,
            b'6' => PacketType::BinaryAck,
            _ => return None,
        })
    }

    /// Whether attachments follow a packet of this type.
    pub const fn is_binary(self) -> bool {
        matches!(self, PacketType::BinaryEvent | PacketType::BinaryAck)
    }
}

/// The header fields of a text packet, split apart but not validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketView<'a> {
    packet_type: PacketType,
    attachments: Option<&'a str>,
    nsp: &'a str,
    id: Option<&'a str>,
    data: &'a str,
}

impl<'a> PacketView<'a> {
    /// Splits `text` into its fields. Fails only where the fields cannot be told apart: an
    /// empty packet, an unknown type, a binary type without its `<count>-`.
    pub fn new_checked(text: &'a str) -> Result<Self, DecodeError> {
        let first = *text.as_bytes().first().ok_or(DecodeError::Empty)?;
        let packet_type = PacketType::from_char(first).ok_or(DecodeError::UnknownType)?;
        // The type digit is ASCII, so byte 1 is a char boundary.
        let mut rest = &text[1..];
        let mut attachments = None;
        if packet_type.is_binary() {
            let (count, after) = rest
                .split_once('-')
                .ok_or(DecodeError::IllegalAttachments)?;
            attachments = Some(count);
            rest = after;
        }
        let mut nsp = MAIN_NAMESPACE;
        if rest.starts_with('/') {
            // The namespace runs to the first comma, or to the end (`1/admin`).
            (nsp, rest) = rest.split_once(',').unwrap_or((rest, ""));
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let id = (digits > 0).then(|| &rest[..digits]);
        Ok(PacketView {
            packet_type,
            attachments,
            nsp,
            id,
            data: &rest[digits..],
        })
    }

    /// The packet type.
    pub fn packet_type(&self) -> PacketType {
        self.packet_type
    }

    /// The attachment count as sent (binary types only).
    pub fn attachments(&self) -> Option<&'a str> {
        self.attachments
    }

    /// The namespace, `/` when the packet names none.
    pub fn nsp(&self) -> &'a str {
        self.nsp
    }

    /// The ack id digits, if any.
    pub fn id(&self) -> Option<&'a str> {
        self.id
    }

    /// The JSON data text, empty when there is none.
    pub fn data(&self) -> &'a str {
        self.data
    }
}

/// What a packet says, by type. Events and acks keep their data as a JSON array; in a binary
/// one, each attachment is a `{"_placeholder":true,"num":n}` inside it and the bytes are in
/// `attachments[n]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// CONNECT: from a client, the auth object; from the server, `{"sid":...}`.
    Connect(Option<Map<String, Value>>),
    /// DISCONNECT.
    Disconnect,
    /// EVENT / BINARY_EVENT: `data[0]` is the event name (a string, or a number), the rest
    /// its arguments; with `id`, the sender waits for an ACK with that id.
    Event {
        /// The ack id the sender waits on.
        id: Option<u64>,
        /// `[name, args...]`.
        data: Vec<Value>,
        /// Binary attachments, in placeholder order (empty: a plain EVENT).
        attachments: Vec<Vec<u8>>,
    },
    /// ACK / BINARY_ACK: the answer to the event with this id.
    Ack {
        /// The id of the acknowledged event.
        id: u64,
        /// The ack's arguments.
        data: Vec<Value>,
        /// Binary attachments, in placeholder order (empty: a plain ACK).
        attachments: Vec<Vec<u8>>,
    },
    /// CONNECT_ERROR: a string or an object (`{"message":...,"data":...}`).
    ConnectError(Value),
}

/// A validated Socket.IO packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The namespace, `/` for the main one. Never contains a comma.
    pub nsp: String,
    /// What the packet says.
    pub body: Body,
}

/// A validated header whose attachments are still to come (see [`super::Decoder`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Partial {
    /// The packet so far, `attachments` empty.
    pub packet: Packet,
    /// How many binary messages complete it.
    pub expected: usize,
}

impl Packet {
    /// Validates a view: the attachment count (1..=`max_attachments`), the ack id, the JSON
    /// data and its shape for the type. A binary packet comes back as a [`Partial`] waiting
    /// for its attachments; the others are complete.
    pub fn parse(view: &PacketView<'_>, max_attachments: usize) -> Result<Partial, DecodeError> {
        let expected = match view.attachments() {
            None => 0,
            Some(count) => {
                if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(DecodeError::IllegalAttachments);
                }
                let n = count
                    .parse::<usize>()
                    .map_err(|_| DecodeError::TooManyAttachments)?;
                if n < 1 {
                    return Err(DecodeError::IllegalAttachments);
                }
                if n > max_attachments {
                    return Err(DecodeError::TooManyAttachments);
                }
                n
            }
        };
        let id = match view.id() {
            Some(digits) => Some(
                digits
                    .parse::<u64>()
                    .map_err(|_| DecodeError::IdOutOfRange)?,
            ),
            None => None,
        };
        let data: Option<Value> = match view.data() {
            "" => None,
            text => Some(serde_json::from_str(text).map_err(|_| DecodeError::InvalidJson)?),
        };
        let body = match view.packet_type() {
            PacketType::Connect => match data {
                None => Body::Connect(None),
                Some(Value::Object(auth)) => Body::Connect(Some(auth)),
                Some(_) => return Err(DecodeError::InvalidPayload),
            },
            PacketType::Disconnect => match data {
                None => Body::Disconnect,
                Some(_) => return Err(DecodeError::InvalidPayload),
            },
            PacketType::ConnectError => match data {
                Some(data @ (Value::String(_) | Value::Object(_))) => Body::ConnectError(data),
                _ => return Err(DecodeError::InvalidPayload),
            },
            PacketType::Event | PacketType::BinaryEvent => match data {
                Some(Value::Array(data)) if is_event_name(data.first()) => Body::Event {
                    id,
                    data,
                    attachments: Vec::new(),
                },
                _ => return Err(DecodeError::InvalidPayload),
            },
            PacketType::Ack | PacketType::BinaryAck => match (id, data) {
                (Some(id), Some(Value::Array(data))) => Body::Ack {
                    id,
                    data,
                    attachments: Vec::new(),
                },
                _ => return Err(DecodeError::InvalidPayload),
            },
        };
        Ok(Partial {
            packet: Packet {
                nsp: view.nsp().into(),
                body,
            },
            expected,
        })
    }

    /// Decodes a text packet that carries no attachments; a binary one is
    /// [`DecodeError::IllegalAttachments`] here (use [`super::Decoder`]).
    pub fn from_text(text: &str, max_attachments: usize) -> Result<Packet, DecodeError> {
        let partial = Packet::parse(&PacketView::new_checked(text)?, max_attachments)?;
        match partial.expected {
            0 => Ok(partial.packet),
            _ => Err(DecodeError::IllegalAttachments),
        }
    }

    /// The packet type this packet is sent as (binary when it has attachments).
    pub fn packet_type(&self) -> PacketType {
        match &self.body {
            Body::Connect(_) => PacketType::Connect,
            Body::Disconnect => PacketType::Disconnect,
            Body::Event { attachments, .. } if attachments.is_empty() => PacketType::Event,
            Body::Event { .. } => PacketType::BinaryEvent,
            Body::Ack { attachments, .. } if attachments.is_empty() => PacketType::Ack,
            Body::Ack { .. } => PacketType::BinaryAck,
            Body::ConnectError(_) => PacketType::ConnectError,
        }
    }

    /// The binary attachments to send after the text form, in order.
    pub fn attachments(&self) -> &[Vec<u8>] {
        match &self.body {
            Body::Event { attachments, .. } | Body::Ack { attachments, .. } => attachments,
            _ => &[],
        }
    }

    /// Appends the text form to `out` (the attachments follow it as binary messages).
    pub fn emit(&self, out: &mut String) {
        let packet_type = self.packet_type();
        out.push((b'0' + packet_type as u8) as char);
        if packet_type.is_binary() {
            let _ = write!(out, "{}-", self.attachments().len());
        }
        if self.nsp != MAIN_NAMESPACE {
            out.push_str(&self.nsp);
            out.push(',');
        }
        let push_json = |out: &mut String, value: &Value| {
            // Writing JSON into a String cannot fail.
            let _ = write!(out, "{value}");
        };
        match &self.body {
            Body::Connect(None) | Body::Disconnect => {}
            Body::Connect(Some(object)) => {
                // Serialising a map of JSON values cannot fail.
                out.push_str(&serde_json::to_string(object).unwrap_or_default());
            }
            Body::ConnectError(value) => push_json(out, value),
            Body::Event { id, data, .. } => {
                if let Some(id) = id {
                    let _ = write!(out, "{id}");
                }
                push_json_array(out, data);
            }
            Body::Ack { id, data, .. } => {
                let _ = write!(out, "{id}");
                push_json_array(out, data);
            }
        }
    }

    /// The text form as a new string.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.emit(&mut out);
        out
    }
}

/// Appends `[a,b,...]` without cloning the elements into a `Value::Array`.
fn push_json_array(out: &mut String, items: &[Value]) {
    out.push('[');
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        let _ = write!(out, "{item}");
    }
    out.push(']');
}

/// An event's first element: a number, or a string that is not reserved.
fn is_event_name(first: Option<&Value>) -> bool {
    match first {
        Some(Value::Number(_)) => true,
        Some(Value::String(name)) => !RESERVED_EVENTS.contains(&name.as_str()),
        _ => false,
    }
}
