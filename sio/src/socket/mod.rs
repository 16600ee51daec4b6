//! Socket.IO v5: packets over Engine.IO messages (namespaces, events, acks, binary
//! attachments) and the errors and reasons the reference server uses.

pub mod adapter;
pub mod api;
pub mod decoder;
pub mod error;
pub mod packet;
pub mod server;

pub use adapter::{Adapter, BroadcastOptions, LocalAdapter};
pub use decoder::{Decoder, MAX_ATTACHMENTS, placeholder, placeholder_num};
pub use error::{ConnectError, DecodeError, DisconnectReason};
pub use packet::{Body, MAIN_NAMESPACE, Packet, PacketType, PacketView, Partial, RESERVED_EVENTS};
pub use server::{Config, Emit, Event, Server};

use alloc::vec::Vec;

use crate::engine::Encoded;

impl Packet {
    /// The Engine.IO message packets that carry this packet: its text form, then one binary
    /// message per attachment.
    pub fn to_engine(&self) -> Vec<Encoded> {
        let mut text = alloc::string::String::from(crate::engine::PacketType::Message.to_char());
        self.emit(&mut text);
        let mut out = Vec::with_capacity(1 + self.attachments().len());
        out.push(Encoded::Text(text.into()));
        out.extend(
            self.attachments()
                .iter()
                .map(|bytes| Encoded::Binary(bytes.as_slice().into())),
        );
        out
    }
}
