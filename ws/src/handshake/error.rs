//! Why a request was refused, and the single mapping from each reason to its HTTP status.

use super::HttpStatus;
use super::head::HeadError;

/// A request the server refuses, by cause. [`RequestError::status`] gives the answer to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The head is malformed or too large.
    Head(HeadError),
    /// The request line is not `method SP request-target SP HTTP-version`.
    BadRequestLine,
    /// The request-target is not in origin-form (does not start with `/`).
    BadRequestTarget,
    /// The HTTP-version is well formed but its major version is not 1.
    UnsupportedHttpVersion,
    /// A field this crate requires is absent (e.g. `Host` in HTTP/1.1, `Sec-WebSocket-Key`).
    MissingField(&'static str),
    /// A field that must appear at most once appears more than once.
    DuplicateField(&'static str),
    /// A field value is not valid for its field (e.g. a key that does not decode to 16 bytes).
    InvalidField(&'static str),
    /// The request has `Transfer-Encoding`; we never read request bodies (RFC 9112 §6.1).
    TransferEncodingNotImplemented,
    /// A WebSocket handshake with a method other than GET (RFC 6455 §4.1).
    MethodNotAllowed,
    /// A WebSocket handshake in HTTP/1.0: RFC 6455 §4.1 requires HTTP/1.1 or later.
    UpgradeRequiresHttp11,
    /// `Upgrade` does not hold the token `websocket`.
    NotWebSocketUpgrade,
    /// `Connection` does not hold the token `upgrade`.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Version` is absent, repeated or not 13.
    UnsupportedWebSocketVersion,
    /// A WebSocket handshake that announces a body: the bytes after the head must be frames.
    UpgradeWithBody,
}

impl RequestError {
    /// The HTTP status to answer with. This is the one place where refusals map to statuses.
    pub fn status(self) -> HttpStatus {
        match self {
            RequestError::Head(HeadError::TooManyHeaders | HeadError::HeadTooLarge) => {
                HttpStatus::RequestHeaderFieldsTooLarge
            }
            RequestError::Head(
                HeadError::BadLineEnding
                | HeadError::BadHeaderName
                | HeadError::BadHeaderValue
                | HeadError::ObsoleteLineFolding,
            ) => HttpStatus::BadRequest,
            RequestError::BadRequestLine
            | RequestError::BadRequestTarget
            // 505 would be more specific, but a client speaking another major version does not
            // parse an HTTP/1.1 answer anyway; keep the set of answers small.
            | RequestError::UnsupportedHttpVersion
            | RequestError::MissingField(_)
            | RequestError::DuplicateField(_)
            | RequestError::InvalidField(_)
            | RequestError::UpgradeRequiresHttp11
            | RequestError::NotWebSocketUpgrade
            | RequestError::MissingConnectionUpgrade
            | RequestError::UpgradeWithBody => HttpStatus::BadRequest,
            RequestError::TransferEncodingNotImplemented => HttpStatus::NotImplemented,
            RequestError::MethodNotAllowed => HttpStatus::MethodNotAllowed,
            RequestError::UnsupportedWebSocketVersion => HttpStatus::UpgradeRequired,
        }
    }
}

impl From<HeadError> for RequestError {
    fn from(error: HeadError) -> Self {
        RequestError::Head(error)
    }
}
