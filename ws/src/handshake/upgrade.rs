//! The server's reading of a WebSocket opening handshake (RFC 6455 §4.2.1).

use super::Header;
use super::accept::is_valid_key;
use super::error::RequestError;
use super::extensions::ExtensionOffers;
use super::head::ascii;
use super::request::Request;
use super::token::{Elements, is_token, list_contains};

const KEY: &str = "Sec-WebSocket-Key";
const VERSION: &str = "Sec-WebSocket-Version";
const PROTOCOL: &str = "Sec-WebSocket-Protocol";
const EXTENSIONS: &str = "Sec-WebSocket-Extensions";

/// A valid WebSocket opening handshake: what the server needs to route it, check its Origin,
/// choose a subprotocol and answer it with [`write_accept_response`](super::write_accept_response).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upgrade<'a> {
    path: &'a str,
    host: &'a str,
    key: &'a str,
    origin: Option<&'a str>,
    headers: &'a [Header<'a>],
}

/// Checks that `request` is a WebSocket opening handshake RFC 6455 §4.2.1 accepts.
///
/// Checks run in this order and the first failure is returned: method GET (405), HTTP/1.1 or
/// later (400), `Upgrade` holds `websocket` (400), `Connection` holds `upgrade` (400),
/// `Sec-WebSocket-Version` is exactly one `13` (426, also when absent: the 426 answer tells the
/// client which version to use), exactly one `Sec-WebSocket-Key` decoding to 16 bytes (400), a
/// non-empty `Host` (400), at most one ASCII `Origin` (400), subprotocols are tokens and
/// extensions ASCII (400), no body (400, 501 for `Transfer-Encoding`).
pub fn validate_upgrade<'h, 'b>(request: &Request<'h, 'b>) -> Result<Upgrade<'h>, RequestError> {
    let headers: &'h [Header<'h>] = request.headers();
    if request.method() != "GET" {
        return Err(RequestError::MethodNotAllowed);
    }
    if request.minor_version() < 1 {
        return Err(RequestError::UpgradeRequiresHttp11);
    }
    if !list_contains(headers, "Upgrade", "websocket") {
        return Err(RequestError::NotWebSocketUpgrade);
    }
    if !list_contains(headers, "Connection", "upgrade") {
        return Err(RequestError::MissingConnectionUpgrade);
    }
    if request.single(VERSION) != Ok(Some(&b"13"[..])) {
        return Err(RequestError::UnsupportedWebSocketVersion);
    }
    let key = request
        .single(KEY)?
        .ok_or(RequestError::MissingField(KEY))?;
    if !is_valid_key(key) {
        return Err(RequestError::InvalidField(KEY));
    }
    // The request parser guarantees one Host in HTTP/1.1; a WebSocket also needs it non-empty.
    let host = request
        .single("Host")?
        .and_then(ascii)
        .filter(|h| !h.is_empty());
    let host = host.ok_or(RequestError::InvalidField("Host"))?;
    let origin = match request.single("Origin")? {
        Some(origin) => Some(ascii(origin).ok_or(RequestError::InvalidField("Origin"))?),
        None => None,
    };
    if !Elements::new(headers, PROTOCOL).all(is_token) {
        return Err(RequestError::InvalidField(PROTOCOL));
    }
    if !Elements::new(headers, EXTENSIONS).all(|e| e.is_ascii()) {
        return Err(RequestError::InvalidField(EXTENSIONS));
    }
    if request.content_length()?.is_some_and(|length| length > 0) {
        return Err(RequestError::UpgradeWithBody);
    }
    Ok(Upgrade {
        path: request.path(),
        host,
        key: ascii(key).ok_or(RequestError::InvalidField(KEY))?,
        origin,
        headers,
    })
}

impl<'a> Upgrade<'a> {
    /// The request-target (path and query) the client wants a WebSocket on.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The `Host` field: the authority the client thinks it talks to.
    pub fn host(&self) -> &'a str {
        self.host
    }

    /// The `Sec-WebSocket-Key` field, to pass to [`write_accept_response`](super::write_accept_response).
    pub fn key(&self) -> &'a str {
        self.key
    }

    /// The `Origin` field a browser sends, for the server's allow-list (RFC 6455 §10.2).
    pub fn origin(&self) -> Option<&'a str> {
        self.origin
    }

    /// The subprotocols the client offers, in its order of preference, from every
    /// `Sec-WebSocket-Protocol` line. Each is a token.
    pub fn protocols(&self) -> impl Iterator<Item = &'a str> + 'a {
        // Validated as tokens, hence ASCII: `ascii` drops nothing.
        Elements::new(self.headers, PROTOCOL).filter_map(ascii)
    }

    /// The extensions the client offers, one list element each with its parameters
    /// (e.g. `permessage-deflate; client_max_window_bits`), as text. See
    /// [`Upgrade::extension_offers`] for the parsed elements.
    pub fn extensions(&self) -> impl Iterator<Item = &'a str> + 'a {
        // Validated as ASCII: `ascii` drops nothing.
        Elements::new(self.headers, EXTENSIONS).filter_map(ascii)
    }

    /// The extension offers, parsed (quoted values, commas inside quotes), in the client's
    /// order: pass them to [`crate::deflate::accept_offer`].
    pub fn extension_offers(&self) -> ExtensionOffers<'a> {
        ExtensionOffers::new(self.headers)
    }
}
