//! Socket.IO errors and reasons, one table each:
//!
//! - [`DecodeError`]: a Socket.IO packet that does not decode. Every one ends the whole
//!   Engine.IO session with [`DisconnectReason::ParseError`], as the reference server does
//!   (its decoder throws, the client closes with "parse error").
//! - [`ConnectError`]: a refused namespace CONNECT, answered with a CONNECT_ERROR packet whose
//!   data is [`ConnectError::to_json`].
//! - [`DisconnectReason`]: why a socket left its namespace, with the reference server's wording.

use alloc::string::String;
use core::fmt;

use serde_json::Value;

use crate::engine::CloseReason;

/// A Socket.IO packet that does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// An empty Engine.IO message.
    Empty,
    /// The first character is not a packet type `0`..=`6`.
    UnknownType,
    /// BINARY_EVENT / BINARY_ACK without a `<count>-` prefix, or with a count below 1.
    IllegalAttachments,
    /// More attachments announced than the decoder accepts ([`crate::socket::MAX_ATTACHMENTS`]).
    TooManyAttachments,
    /// An ack id that does not fit in 64 bits.
    IdOutOfRange,
    /// The data after the header is not JSON.
    InvalidJson,
    /// The data does not fit the packet type: CONNECT needs an object or nothing, DISCONNECT
    /// nothing, CONNECT_ERROR a string or an object, EVENT a non-empty array whose first element
    /// is a number or a string that is not a reserved event name, ACK an array; or an EVENT /
    /// ACK without data, or an ACK without an id.
    InvalidPayload,
    /// A binary attachment arrived while no BINARY_EVENT / BINARY_ACK was waiting for one.
    UnexpectedBinary,
    /// A text packet arrived while a BINARY_EVENT / BINARY_ACK still waits for attachments.
    UnexpectedText,
    /// A `{"_placeholder":true,"num":n}` whose `num` is not an index of a received attachment.
    IllegalPlaceholder,
}

impl DecodeError {
    /// How the session ends because of this error.
    pub const fn disconnect_reason(self) -> DisconnectReason {
        DisconnectReason::ParseError
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::Empty => "empty packet",
            DecodeError::UnknownType => "unknown packet type",
            DecodeError::IllegalAttachments => "illegal attachments",
            DecodeError::TooManyAttachments => "too many attachments",
            DecodeError::IdOutOfRange => "ack id out of range",
            DecodeError::InvalidJson => "data is not JSON",
            DecodeError::InvalidPayload => "invalid payload",
            DecodeError::UnexpectedBinary => "got binary data when not reconstructing a packet",
            DecodeError::UnexpectedText => "got plaintext data when reconstructing a packet",
            DecodeError::IllegalPlaceholder => "placeholder names no attachment",
        })
    }
}

/// A namespace CONNECT the server refuses.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectError {
    /// No such namespace on this server.
    InvalidNamespace,
    /// The application refused the connection (the reference server's middleware `next(err)`):
    /// its message and optional data reach the client's `connect_error` handler.
    Refused {
        /// `err.message` on the client.
        message: String,
        /// `err.data` on the client.
        data: Option<Value>,
    },
}

impl ConnectError {
    /// The message the client sees, the reference server's wording for the fixed ones.
    pub fn message(&self) -> &str {
        match self {
            ConnectError::InvalidNamespace => "Invalid namespace",
            ConnectError::Refused { message, .. } => message,
        }
    }

    /// The CONNECT_ERROR packet's data: `{"message":...}`, plus `"data"` when there is some.
    pub fn to_json(&self) -> Value {
        let mut object = serde_json::Map::new();
        object.insert("message".into(), Value::String(self.message().into()));
        if let ConnectError::Refused {
            data: Some(data), ..
        } = self
        {
            object.insert("data".into(), data.clone());
        }
        Value::Object(object)
    }
}

/// Why a socket left its namespace: the reason the reference server passes to
/// `socket.on("disconnect", reason)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The Engine.IO transport closed (the client went away or closed it).
    TransportClose,
    /// The Engine.IO transport failed.
    TransportError,
    /// The client did not answer the heartbeat in time.
    PingTimeout,
    /// The client sent a packet that does not decode.
    ParseError,
    /// The server closed the Engine.IO session.
    ForcedClose,
    /// The server application disconnected the socket (`socket.disconnect()`).
    ServerNamespaceDisconnect,
    /// The client sent DISCONNECT for this namespace.
    ClientNamespaceDisconnect,
    /// The server is stopping.
    ServerShuttingDown,
    /// The server application closed the whole session (`socket.disconnect(true)`).
    ForcedServerClose,
}

impl DisconnectReason {
    /// The reason as the reference server reports it.
    pub const fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerShuttingDown => "server shutting down",
            DisconnectReason::ForcedServerClose => "forced server close",
        }
    }
}

impl From<CloseReason> for DisconnectReason {
    fn from(reason: CloseReason) -> Self {
        match reason {
            CloseReason::TransportClose => DisconnectReason::TransportClose,
            CloseReason::TransportError => DisconnectReason::TransportError,
            CloseReason::PingTimeout => DisconnectReason::PingTimeout,
            CloseReason::ParseError => DisconnectReason::ParseError,
            CloseReason::ForcedClose => DisconnectReason::ForcedClose,
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn every_decode_error_ends_the_session_as_a_parse_error() {
        use DecodeError::*;
        let all = [
            Empty,
            UnknownType,
            IllegalAttachments,
            TooManyAttachments,
            IdOutOfRange,
            InvalidJson,
            InvalidPayload,
            UnexpectedBinary,
            UnexpectedText,
            IllegalPlaceholder,
        ];
        for error in all {
            assert_eq!(
                error.disconnect_reason().as_str(),
                "parse error",
                "{error:?}"
            );
        }
    }

    #[test]
    fn connect_errors_carry_the_reference_wording() {
        assert_eq!(
            ConnectError::InvalidNamespace.to_json().to_string(),
            r#"{"message":"Invalid namespace"}"#
        );
        let refused = ConnectError::Refused {
            message: "Not authorized".into(),
            data: Some(serde_json::json!({"retry": false})),
        };
        assert_eq!(
            refused.to_json().to_string(),
            r#"{"data":{"retry":false},"message":"Not authorized"}"#
        );
    }

    #[test]
    fn every_disconnect_reason_reads_as_the_reference_and_engine_reasons_carry_over() {
        use DisconnectReason::*;
        let table = [
            (TransportClose, "transport close"),
            (TransportError, "transport error"),
            (PingTimeout, "ping timeout"),
            (ParseError, "parse error"),
            (ForcedClose, "forced close"),
            (ServerNamespaceDisconnect, "server namespace disconnect"),
            (ClientNamespaceDisconnect, "client namespace disconnect"),
            (ServerShuttingDown, "server shutting down"),
            (ForcedServerClose, "forced server close"),
        ];
        for (reason, text) in table {
            assert_eq!(reason.as_str(), text);
        }
        for engine in [
            CloseReason::TransportClose,
            CloseReason::TransportError,
            CloseReason::PingTimeout,
            CloseReason::ParseError,
            CloseReason::ForcedClose,
        ] {
            assert_eq!(DisconnectReason::from(engine).as_str(), engine.as_str());
        }
    }
}
