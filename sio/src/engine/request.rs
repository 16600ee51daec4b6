//! Which Engine.IO request this is, from its method and query string, with the reference
//! server's checks in the reference server's order (`verify`, then the handshake's protocol
//! version check): transport, then session id, then method.
//!
//! ```text
//! GET  /socket.io/?EIO=4&transport=polling                  handshake, polling
//! GET  /socket.io/?EIO=4&transport=websocket     (Upgrade)  handshake, WebSocket only
//! GET  /socket.io/?EIO=4&transport=polling&sid=S            poll  (held until packets)
//! POST /socket.io/?EIO=4&transport=polling&sid=S            push  (answered "ok")
//! GET  /socket.io/?EIO=4&transport=websocket&sid=S (Upgrade) upgrade of session S
//! ```

use super::error::RequestError;

/// The two transports of Engine.IO v4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// HTTP long-polling: GET receives, POST sends.
    Polling,
    /// One WebSocket, one packet a frame.
    WebSocket,
}

impl Transport {
    /// The transport named by a `transport` query value.
    pub fn from_name(name: &str) -> Option<Transport> {
        match name {
            "polling" => Some(Transport::Polling),
            "websocket" => Some(Transport::WebSocket),
            _ => None,
        }
    }
}

/// The HTTP method, as far as Engine.IO tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET (a poll, a handshake, or a WebSocket upgrade request).
    Get,
    /// POST (a push of packets).
    Post,
    /// Anything else.
    Other,
}

/// What a valid request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// A new session on this transport (a WebSocket one must be an upgrade request).
    Handshake(Transport),
    /// A polling GET on session `sid`.
    Poll(&'a str),
    /// A polling POST on session `sid`.
    Push(&'a str),
    /// A WebSocket for session `sid`: the upgrade from polling (or a surplus WebSocket, if the
    /// session already has one; the session decides).
    Upgrade(&'a str),
}

/// The Engine.IO query parameters of a request (others, such as the cache-buster `t`, are
/// ignored). Values are used as sent: session ids are URL-safe base64, never percent-encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Query<'a> {
    /// `EIO`: the protocol revision.
    pub eio: Option<&'a str>,
    /// `transport`.
    pub transport: Option<&'a str>,
    /// `sid`.
    pub sid: Option<&'a str>,
}

impl<'a> Query<'a> {
    /// Reads the parameters from a query string (the part after `?`, without the `#` part).
    /// The first occurrence of each parameter counts.
    pub fn parse(query: &'a str) -> Query<'a> {
        let mut out = Query::default();
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match name {
                "EIO" => &mut out.eio,
                "transport" => &mut out.transport,
                "sid" => &mut out.sid,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        out
    }
}

/// Routes a request. `upgrade` says whether it asks for a WebSocket upgrade; `session` looks up
/// a session id and returns the transport it currently uses, `None` if no such session lives.
pub fn route<'a>(
    method: Method,
    query: &Query<'a>,
    upgrade: bool,
    session: impl FnOnce(&str) -> Option<Transport>,
) -> Result<Route<'a>, RequestError> {
    let transport = query
        .transport
        .and_then(Transport::from_name)
        .ok_or(RequestError::UnknownTransport)?;
    if (transport == Transport::WebSocket) != upgrade {
        // A WebSocket transport needs the upgrade, and polling must not ask for one.
        return Err(RequestError::BadRequest);
    }
    match query.sid {
        Some(sid) => {
            let current = session(sid).ok_or(RequestError::UnknownSid)?;
            match (transport, method) {
                (Transport::WebSocket, Method::Get) => Ok(Route::Upgrade(sid)),
                (Transport::Polling, _) if current != Transport::Polling => {
                    Err(RequestError::BadRequest)
                }
                (Transport::Polling, Method::Get) => Ok(Route::Poll(sid)),
                (Transport::Polling, Method::Post) => Ok(Route::Push(sid)),
                _ => Err(RequestError::BadRequest),
            }
        }
        None => {
            if method != Method::Get {
                return Err(RequestError::BadHandshakeMethod);
            }
            if query.eio != Some("4") {
                return Err(RequestError::UnsupportedProtocolVersion);
            }
            Ok(Route::Handshake(transport))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: Method, query: &str, upgrade: bool) -> Result<Route<'_>, RequestError> {
        let lookup = |sid: &str| match sid {
            "P" => Some(Transport::Polling),
            "W" => Some(Transport::WebSocket),
            _ => None,
        };
        route(method, &Query::parse(query), upgrade, lookup)
    }

    #[test]
    fn every_route_and_refusal_of_the_test_suites() {
        use Method::*;
        use RequestError::*;
        let table: &[(Method, &str, bool, Result<Route<'_>, RequestError>)] = &[
            (
                Get,
                "EIO=4&transport=polling&t=N8hyd6w",
                false,
                Ok(Route::Handshake(Transport::Polling)),
            ),
            (
                Get,
                "EIO=4&transport=websocket",
                true,
                Ok(Route::Handshake(Transport::WebSocket)),
            ),
            (
                Get,
                "EIO=4&transport=polling&sid=P",
                false,
                Ok(Route::Poll("P")),
            ),
            (
                Post,
                "EIO=4&transport=polling&sid=P",
                false,
                Ok(Route::Push("P")),
            ),
            (
                Get,
                "EIO=4&transport=websocket&sid=P",
                true,
                Ok(Route::Upgrade("P")),
            ),
            // Handshake refusals.
            (
                Get,
                "transport=polling",
                false,
                Err(UnsupportedProtocolVersion),
            ),
            (
                Get,
                "EIO=abc&transport=polling",
                false,
                Err(UnsupportedProtocolVersion),
            ),
            (
                Get,
                "EIO=3&transport=polling",
                false,
                Err(UnsupportedProtocolVersion),
            ),
            (Get, "EIO=4", false, Err(UnknownTransport)),
            (Get, "EIO=4&transport=abc", false, Err(UnknownTransport)),
            (
                Get,
                "EIO=4&transport=webtransport",
                false,
                Err(UnknownTransport),
            ),
            (
                Post,
                "EIO=4&transport=polling",
                false,
                Err(BadHandshakeMethod),
            ),
            (
                Other,
                "EIO=4&transport=polling",
                false,
                Err(BadHandshakeMethod),
            ),
            (Get, "EIO=4&transport=websocket", false, Err(BadRequest)),
            (Get, "EIO=4&transport=polling", true, Err(BadRequest)),
            // Session refusals.
            (
                Get,
                "EIO=4&transport=polling&sid=nope",
                false,
                Err(UnknownSid),
            ),
            (Get, "EIO=4&transport=polling&sid=W", false, Err(BadRequest)),
            (
                Post,
                "EIO=4&transport=polling&sid=W",
                false,
                Err(BadRequest),
            ),
            (
                Get,
                "EIO=4&transport=websocket&sid=W",
                true,
                Ok(Route::Upgrade("W")),
            ),
            (
                Other,
                "EIO=4&transport=polling&sid=P",
                false,
                Err(BadRequest),
            ),
        ];
        for (method, query, upgrade, expected) in table {
            assert_eq!(
                check(*method, query, *upgrade),
                *expected,
                "{method:?} {query}"
            );
        }
    }

    #[test]
    fn the_first_occurrence_of_a_parameter_counts() {
        let query = Query::parse("sid=a&EIO=4&sid=b&transport&x=1");
        assert_eq!(
            query,
            Query {
                eio: Some("4"),
                transport: Some(""),
                sid: Some("a")
            }
        );
    }
}
