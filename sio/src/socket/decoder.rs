//! Reassembly of binary packets: a BINARY_EVENT / BINARY_ACK text packet announces `n`
//! attachments, and the next `n` Engine.IO binary messages are its bytes, in order. Their
//! places in the data are `{"_placeholder":true,"num":i}` objects.
//!
//! [`Decoder`] takes the Engine.IO messages of one session in order and hands out whole
//! packets. Anything out of order (binary with nothing to complete, text while attachments are
//! awaited, a placeholder naming no attachment) is a [`DecodeError`].

use alloc::vec::Vec;

use serde_json::Value;

use super::error::DecodeError;
use super::packet::{Body, Packet, PacketView, Partial};

/// Attachments one packet may announce by default, as in the reference parser.
pub const MAX_ATTACHMENTS: usize = 10;

/// Turns a session's Engine.IO messages into Socket.IO packets.
#[derive(Debug, Clone)]
pub struct Decoder {
    max_attachments: usize,
    pending: Option<Partial>,
    received: Vec<Vec<u8>>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(MAX_ATTACHMENTS)
    }
}

impl Decoder {
    /// A decoder that accepts at most `max_attachments` attachments a packet.
    pub fn new(max_attachments: usize) -> Self {
        Decoder {
            max_attachments,
            pending: None,
            received: Vec::new(),
        }
    }

    /// Whether a binary packet still waits for attachments.
    pub fn is_reassembling(&self) -> bool {
        self.pending.is_some()
    }

    /// An Engine.IO text message: a whole packet, or `None` when it is a binary packet's
    /// header and attachments must follow.
    pub fn handle_text(&mut self, text: &str) -> Result<Option<Packet>, DecodeError> {
        if self.pending.is_some() {
            return Err(DecodeError::UnexpectedText);
        }
        let partial = Packet::parse(&PacketView::new_checked(text)?, self.max_attachments)?;
        if partial.expected == 0 {
            return Ok(Some(partial.packet));
        }
        self.received = Vec::with_capacity(partial.expected);
        self.pending = Some(partial);
        Ok(None)
    }

    /// An Engine.IO binary message: the next attachment. Returns the packet when it was the
    /// last one.
    pub fn handle_binary(&mut self, bytes: &[u8]) -> Result<Option<Packet>, DecodeError> {
        let expected = match &self.pending {
            Some(partial) => partial.expected,
            None => return Err(DecodeError::UnexpectedBinary),
        };
        self.received.push(bytes.into());
        if self.received.len() < expected {
            return Ok(None);
        }
        let Some(Partial { mut packet, .. }) = self.pending.take() else {
            return Err(DecodeError::UnexpectedBinary);
        };
        let received = core::mem::take(&mut self.received);
        match &mut packet.body {
            Body::Event {
                data, attachments, ..
            }
            | Body::Ack {
                data, attachments, ..
            } => {
                if !data
                    .iter()
                    .all(|value| placeholders_valid(value, received.len()))
                {
                    return Err(DecodeError::IllegalPlaceholder);
                }
                *attachments = received;
            }
            // Only events and acks parse with attachments.
            _ => return Err(DecodeError::IllegalAttachments),
        }
        Ok(Some(packet))
    }
}

/// The placeholder object for attachment `num`.
pub fn placeholder(num: usize) -> Value {
    serde_json::json!({ "_placeholder": true, "num": num })
}

/// The attachment index of a placeholder object, `None` for any other value.
pub fn placeholder_num(value: &Value) -> Option<Option<u64>> {
    let object = value.as_object()?;
    if object.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    Some(object.get("num").and_then(Value::as_u64))
}

/// Whether every placeholder in `value` names one of `count` attachments.
fn placeholders_valid(value: &Value, count: usize) -> bool {
    if let Some(num) = placeholder_num(value) {
        return num.is_some_and(|num| num < count as u64);
    }
    match value {
        Value::Array(items) => items.iter().all(|item| placeholders_valid(item, count)),
        Value::Object(object) => object.values().all(|item| placeholders_valid(item, count)),
        _ => true,
    }
}
