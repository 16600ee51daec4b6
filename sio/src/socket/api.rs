//! What the application hands the Socket.IO [`Server`](super::Server) and takes from it: its
//! settings ([`Config`]), the arguments of an emit or an ack ([`Emit`]) and the events it
//! learns ([`Event`]).

use alloc::string::String;
use alloc::vec::Vec;

use serde_json::{Map, Value};
use ws::Duration;

use super::decoder::{MAX_ATTACHMENTS, placeholder};
use super::error::DisconnectReason;
use crate::engine;

/// Server settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The Engine.IO session parameters.
    pub engine: engine::Config,
    /// A client that joins no namespace within this time after its handshake is closed
    /// (the reference server's `connectTimeout`, 45 s by default).
    pub connect_timeout: Duration,
    /// Attachments one packet may announce.
    pub max_attachments: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            engine: engine::Config::default(),
            connect_timeout: Duration::from_secs(45),
            max_attachments: MAX_ATTACHMENTS,
        }
    }
}

/// The arguments of an emit or an ack: JSON values, with binary attachments placed by
/// `{"_placeholder":true,"num":n}` objects ([`Emit::binary`] puts them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Emit {
    /// For an event `[name, args...]`; for an ack, its arguments.
    pub data: Vec<Value>,
    /// Binary attachments, in placeholder order.
    pub attachments: Vec<Vec<u8>>,
}

impl Emit {
    /// An event `name` with these arguments.
    pub fn event(name: &str, args: impl IntoIterator<Item = Value>) -> Emit {
        let mut data = alloc::vec![Value::String(name.into())];
        data.extend(args);
        Emit {
            data,
            attachments: Vec::new(),
        }
    }

    /// Ack arguments.
    pub fn args(args: impl IntoIterator<Item = Value>) -> Emit {
        Emit {
            data: args.into_iter().collect(),
            attachments: Vec::new(),
        }
    }

    /// Appends a binary argument.
    pub fn binary(mut self, bytes: Vec<u8>) -> Emit {
        self.data.push(placeholder(self.attachments.len()));
        self.attachments.push(bytes);
        self
    }
}

/// What the application learns.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A socket joined namespace `nsp` (`io.of(nsp).on("connection")`), with the client's auth
    /// payload.
    Connection {
        /// The new socket's id.
        socket: String,
        /// Its namespace.
        nsp: String,
        /// The CONNECT payload (`auth` option of the client), if any.
        auth: Option<Map<String, Value>>,
    },
    /// An event from a socket; with `ack`, the client waits for
    /// [`Server::ack`](super::Server::ack) with that id.
    Event {
        /// The sending socket.
        socket: String,
        /// `[name, args...]` and attachments.
        emit: Emit,
        /// The ack id the client waits on.
        ack: Option<u64>,
    },
    /// The client acknowledged our event `id`
    /// ([`Server::emit_with_ack`](super::Server::emit_with_ack)).
    Ack {
        /// The acknowledging socket.
        socket: String,
        /// Our ack id.
        id: u64,
        /// The ack's arguments.
        emit: Emit,
    },
    /// No ack for our event `id` within its timeout ("operation has timed out").
    AckTimeout {
        /// The socket that did not answer.
        socket: String,
        /// Our ack id.
        id: u64,
    },
    /// A socket left its namespace.
    Disconnect {
        /// The socket.
        socket: String,
        /// Its namespace.
        nsp: String,
        /// Why, as the reference server says it.
        reason: DisconnectReason,
    },
}
