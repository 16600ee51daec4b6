//! Engine.IO errors, split by where they surface:
//!
//! - [`RequestError`]: an HTTP request the server refuses. The reference server answers it with
//!   a status and, for the protocol errors, a JSON body `{"code":N,"message":"..."}`;
//!   [`RequestError::status`], [`RequestError::code`] and [`RequestError::message`] are the one
//!   place that mapping lives.
//! - [`PacketError`]: a packet or payload that does not decode. The session closes with
//!   [`CloseReason::ParseError`], as the reference server does for its "error" packet.
//! - [`CloseReason`]: why a session closed, with the reference server's wording.

use core::fmt;

/// A refused HTTP request (or WebSocket upgrade request) on the Engine.IO path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestError {
    /// `transport` is missing or names a transport the server does not offer.
    UnknownTransport,
    /// `sid` names no live session (or a session that is on another transport).
    UnknownSid,
    /// A request without `sid` (a handshake) that is not a GET.
    BadHandshakeMethod,
    /// A second concurrent GET or POST on one session, a WebSocket for a session already
    /// upgraded or upgrading, a binary POST body (v4 polling carries text only), or a method
    /// other than GET/POST on a session.
    BadRequest,
    /// The application refused the request (its `allowRequest` hook in the reference server).
    Forbidden,
    /// `EIO` is missing or not `4`.
    UnsupportedProtocolVersion,
    /// A POST body longer than `maxPayload`: the reference answers 413 with no body and closes
    /// the session (reason [`CloseReason::TransportError`]).
    PayloadTooLarge,
}

impl RequestError {
    /// The HTTP status the reference server answers with.
    pub const fn status(self) -> u16 {
        match self {
            RequestError::Forbidden => 403,
            RequestError::PayloadTooLarge => 413,
            _ => 400,
        }
    }

    /// The Engine.IO error code of the JSON body; `None` when the answer has no body.
    pub const fn code(self) -> Option<u8> {
        Some(match self {
            RequestError::UnknownTransport => 0,
            RequestError::UnknownSid => 1,
            RequestError::BadHandshakeMethod => 2,
            RequestError::BadRequest => 3,
            RequestError::Forbidden => 4,
            RequestError::UnsupportedProtocolVersion => 5,
            RequestError::PayloadTooLarge => return None,
        })
    }

    /// The message of the JSON body, the reference server's wording.
    pub const fn message(self) -> &'static str {
        match self {
            RequestError::UnknownTransport => "Transport unknown",
            RequestError::UnknownSid => "Session ID unknown",
            RequestError::BadHandshakeMethod => "Bad handshake method",
            RequestError::BadRequest => "Bad request",
            RequestError::Forbidden => "Forbidden",
            RequestError::UnsupportedProtocolVersion => "Unsupported protocol version",
            RequestError::PayloadTooLarge => "Payload too large",
        }
    }

    /// The response body: `{"code":N,"message":"..."}` (JSON, `Content-Type:
    /// application/json`), or empty for [`RequestError::PayloadTooLarge`].
    pub fn body(self) -> alloc::string::String {
        match self.code() {
            Some(code) => alloc::format!(r#"{{"code":{code},"message":"{}"}}"#, self.message()),
            None => alloc::string::String::new(),
        }
    }

    /// The `Content-Type` of [`RequestError::body`].
    pub const fn content_type(self) -> &'static str {
        match self.code() {
            Some(_) => "application/json",
            None => super::server::TEXT_PLAIN,
        }
    }

    /// Whether the refusal also ends the session the request named (a second concurrent GET or
    /// POST, an oversized body): the spec says "MUST return an HTTP 400 error status and close
    /// the session".
    pub const fn closes_session(self) -> bool {
        matches!(
            self,
            RequestError::BadRequest | RequestError::PayloadTooLarge
        )
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {})", self.message(), self.status())
    }
}

/// A packet or polling payload that does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketError {
    /// An empty packet (an empty message, or two separators in a row in a payload).
    Empty,
    /// The first character is not a packet type `0`..=`6` (nor `b` in a polling payload).
    UnknownType,
    /// Close, upgrade or noop followed by data.
    UnexpectedData,
    /// A `b` packet whose data is not valid standard base64.
    InvalidBase64,
    /// A polling body that is not UTF-8 text.
    NotUtf8,
}

impl PacketError {
    /// How the session ends because of this error.
    pub const fn close_reason(self) -> CloseReason {
        CloseReason::ParseError
    }
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PacketError::Empty => "empty packet",
            PacketError::UnknownType => "unknown packet type",
            PacketError::UnexpectedData => "data after a close, upgrade or noop packet",
            PacketError::InvalidBase64 => "binary packet is not valid base64",
            PacketError::NotUtf8 => "polling payload is not UTF-8",
        })
    }
}

/// Why an Engine.IO session closed: the reference server's reason strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The client closed the transport (a close packet, the WebSocket closed, the TCP
    /// connection of a WebSocket went away).
    TransportClose,
    /// The transport failed: an oversized payload, a ping from the client (v4 pings are
    /// server-driven), a protocol violation on the WebSocket, a second concurrent request.
    TransportError,
    /// No pong within pingTimeout of a ping, or a polling client gone for pingInterval +
    /// pingTimeout.
    PingTimeout,
    /// A packet that does not decode (Engine.IO or, one layer up, Socket.IO).
    ParseError,
    /// The server application closed the session.
    ForcedClose,
}

impl CloseReason {
    /// The reason as the reference server reports it (`socket.on("close", reason)`).
    pub const fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ParseError => "parse error",
            CloseReason::ForcedClose => "forced close",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_error_maps_to_its_status_and_body() {
        use RequestError::*;
        let table = [
            (
                UnknownTransport,
                400,
                r#"{"code":0,"message":"Transport unknown"}"#,
                false,
            ),
            (
                UnknownSid,
                400,
                r#"{"code":1,"message":"Session ID unknown"}"#,
                false,
            ),
            (
                BadHandshakeMethod,
                400,
                r#"{"code":2,"message":"Bad handshake method"}"#,
                false,
            ),
            (
                BadRequest,
                400,
                r#"{"code":3,"message":"Bad request"}"#,
                true,
            ),
            (Forbidden, 403, r#"{"code":4,"message":"Forbidden"}"#, false),
            (
                UnsupportedProtocolVersion,
                400,
                r#"{"code":5,"message":"Unsupported protocol version"}"#,
                false,
            ),
            (PayloadTooLarge, 413, "", true),
        ];
        for (error, status, body, closes) in table {
            assert_eq!(error.status(), status, "{error:?}");
            assert_eq!(error.body(), body, "{error:?}");
            assert_eq!(error.closes_session(), closes, "{error:?}");
        }
    }

    #[test]
    fn every_packet_error_is_a_parse_error_and_reasons_read_as_the_reference() {
        use PacketError::*;
        for error in [Empty, UnknownType, UnexpectedData, InvalidBase64, NotUtf8] {
            assert_eq!(error.close_reason().as_str(), "parse error", "{error:?}");
        }
        let reasons = [
            (CloseReason::TransportClose, "transport close"),
            (CloseReason::TransportError, "transport error"),
            (CloseReason::PingTimeout, "ping timeout"),
            (CloseReason::ParseError, "parse error"),
            (CloseReason::ForcedClose, "forced close"),
        ];
        for (reason, text) in reasons {
            assert_eq!(reason.as_str(), text);
        }
    }
}
