//! The HTTP status codes this crate answers with (RFC 9110 §15).

/// An HTTP status this crate produces, with its RFC 9110 reason phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpStatus {
    /// 101: the handshake succeeded; WebSocket frames follow (RFC 6455 §4.2.2).
    SwitchingProtocols = 101,
    /// 200: a plain request served, e.g. the chat page.
    Ok = 200,
    /// 400: the request is malformed, or not a valid WebSocket handshake.
    BadRequest = 400,
    /// 403: the request is valid but refused, e.g. an Origin outside the allow-list.
    Forbidden = 403,
    /// 404: no resource or WebSocket endpoint at this path.
    NotFound = 404,
    /// 405: a WebSocket handshake must use GET; the answer carries `Allow: GET`.
    MethodNotAllowed = 405,
    /// 413: a request body over the server's limit (an Engine.IO polling POST over
    /// `maxPayload`).
    ContentTooLarge = 413,
    /// 426: unsupported `Sec-WebSocket-Version`; the answer carries `Sec-WebSocket-Version: 13`.
    UpgradeRequired = 426,
    /// 431: the head exceeds the header storage or the size limit.
    RequestHeaderFieldsTooLarge = 431,
    /// 500: the request was fine but the server failed to answer it (its own fault, e.g. a
    /// response that does not fit its buffer).
    InternalServerError = 500,
    /// 501: the request uses `Transfer-Encoding`, which this server does not read.
    NotImplemented = 501,
}

impl HttpStatus {
    /// The three-digit status code.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The reason phrase RFC 9110 §15 gives this code.
    pub fn reason(self) -> &'static str {
        match self {
            HttpStatus::SwitchingProtocols => "Switching Protocols",
            HttpStatus::Ok => "OK",
            HttpStatus::BadRequest => "Bad Request",
            HttpStatus::Forbidden => "Forbidden",
            HttpStatus::NotFound => "Not Found",
            HttpStatus::MethodNotAllowed => "Method Not Allowed",
            HttpStatus::ContentTooLarge => "Content Too Large",
            HttpStatus::UpgradeRequired => "Upgrade Required",
            HttpStatus::RequestHeaderFieldsTooLarge => "Request Header Fields Too Large",
            HttpStatus::InternalServerError => "Internal Server Error",
            HttpStatus::NotImplemented => "Not Implemented",
        }
    }
}
