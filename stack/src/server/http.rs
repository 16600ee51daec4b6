//! The HTTP/1.1 half of a connection: what to answer to one request head.
//!
//! Every byte is parsed by `ws::handshake`; this file only decides: serve a page, refuse with
//! the status `ws` names, or switch to WebSocket on a route. It is pure (bytes in, decision and
//! response bytes out) so it is tested without a network.

use ws::handshake::{self, EMPTY_HEADER, HttpStatus, RequestError, Status};

use crate::session::OutQueue;

/// Header lines accepted in one request; more is answered 431. Browsers send about 15.
const MAX_HEADERS: usize = 64;

/// Room for any response head this server writes (status line and a few fields).
const MAX_RESPONSE_HEAD: usize = 512;

/// A static resource served on plain `GET` (for example the chat page on `/`).
#[derive(Debug, Clone)]
pub struct Page {
    /// The path it is served on, without query (`/`).
    pub path: String,
    /// The `Content-Type` value.
    pub content_type: &'static str,
    /// The body.
    pub body: &'static [u8],
}

/// Path of the counters answered when [`Site::stats`] is on.
pub(crate) const STATS_PATH: &str = "/stats";

/// What the server can answer with: pages, WebSocket route paths and the Origin allow-list.
pub(crate) struct Site<'a> {
    pub pages: &'a [Page],
    pub routes: &'a [String],
    /// Allowed `Origin` values for upgrades; empty allows every origin.
    pub origins: &'a [String],
    /// Answer plain `GET /stats` with [`Decision::Stats`] (the server fills in the body).
    pub stats: bool,
    /// The paths of the Engine.IO mounts (`/socket.io/`, `/engine.io/`): their requests get
    /// [`Decision::EngineIo`] and the mount answers them.
    pub engine_io: &'a [String],
}

/// The server's answer to the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The head has not fully arrived: read more.
    Partial,
    /// A response has been queued; the request took `head_len` bytes. Close after it unless
    /// `keep_alive`.
    Responded { head_len: usize, keep_alive: bool },
    /// An error response with this status has been queued; close the connection after it
    /// (the rest of the stream cannot be trusted to start a request).
    Refused(HttpStatus),
    /// The 101 has been queued; bytes after `head_len` are WebSocket frames for route `route`.
    Upgrade { route: usize, head_len: usize },
    /// A plain `GET`/`HEAD /stats` took `head_len` bytes; nothing is queued yet, because the
    /// counters live with the server: it answers with [`respond`].
    Stats {
        head_len: usize,
        keep_alive: bool,
        head_only: bool,
    },
    /// A request on an Engine.IO mount's path. Nothing is queued; the mount answers (see
    /// `server/mount.rs`).
    EngineIo(EngineIoHead),
}

/// What the server knows of a request on an Engine.IO mount's path before the mount reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EngineIoHead {
    /// Which mount (index in the server's mount list).
    pub mount: usize,
    /// Bytes of the request head.
    pub head_len: usize,
    /// Bytes of the body (`Content-Length`, 0 without).
    pub body_len: u64,
    /// A valid WebSocket handshake (its 101 is not queued yet: the mount may still refuse it).
    pub upgrade: bool,
    /// Keep the connection open after the answer.
    pub keep_alive: bool,
}

/// Decides what to answer to `buf` (all bytes received since the previous request) and queues
/// the response in `out`.
pub(crate) fn decide(buf: &[u8], site: &Site<'_>, out: &mut OutQueue) -> Decision {
    let mut headers = [EMPTY_HEADER; MAX_HEADERS];
    let decision = match handshake::parse_request(buf, &mut headers) {
        Ok(Status::Partial) => return Decision::Partial,
        Ok(Status::Complete(request)) => match mount_of(&request, site) {
            Some(mount) => engine_io(mount, &request, site),
            None if wants_websocket(&request, site) => upgrade(&request, site, out),
            // Other upgrades (curl's `Upgrade: h2c`, say) may be ignored (RFC 9110 §7.8).
            None => plain(&request, site, out),
        },
        Err(error) => Err(error.status()),
    };
    decision.unwrap_or_else(|status| refuse(status, out))
}

/// Queues the error response for `status`.
pub(crate) fn refuse(status: HttpStatus, out: &mut OutQueue) -> Decision {
    let mut head = [0u8; MAX_RESPONSE_HEAD];
    // Error responses are a status line and three short fields: they always fit.
    let n = handshake::write_error_response(status, &mut head).unwrap_or(0);
    out.push(&[&head[..n]]);
    Decision::Refused(status)
}

/// Whether to treat `request` as a WebSocket handshake: it asks for one, or it asks for any
/// upgrade on a WebSocket route (then `ws` tells it precisely what is wrong).
fn wants_websocket(request: &handshake::Request<'_, '_>, site: &Site<'_>) -> bool {
    let on_route = site.routes.iter().any(|r| r == route_path(request.path()));
    request.is_websocket_upgrade() || (request.upgrade_requested() && on_route)
}

/// The path without its query string, for routing.
fn route_path(target: &str) -> &str {
    target.split_once('?').map_or(target, |(path, _)| path)
}

fn plain(
    request: &handshake::Request<'_, '_>,
    site: &Site<'_>,
    out: &mut OutQueue,
) -> Result<Decision, HttpStatus> {
    let head_only = match request.method() {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(HttpStatus::MethodNotAllowed),
    };
    request.content_length().map_err(RequestError::status)?;
    let path = route_path(request.path());
    let keep_alive = request.keep_alive();
    if site.stats && path == STATS_PATH {
        return Ok(Decision::Stats {
            head_len: request.head_len(),
            keep_alive,
            head_only,
        });
    }
    let Some(page) = site.pages.iter().find(|p| p.path == path) else {
        // A WebSocket endpoint asked for without the upgrade: 426 tells the client what to do.
        if site.routes.iter().any(|r| r == path) {
            return Err(HttpStatus::UpgradeRequired);
        }
        return Err(HttpStatus::NotFound);
    };
    respond(page.content_type, page.body, keep_alive, head_only, out)?;
    Ok(Decision::Responded {
        head_len: request.head_len(),
        keep_alive,
    })
}

/// Queues a `200 OK` with `body` (only its length for `HEAD`).
pub(crate) fn respond(
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
    head_only: bool,
    out: &mut OutQueue,
) -> Result<(), HttpStatus> {
    respond_with(
        HttpStatus::Ok,
        content_type,
        body,
        keep_alive,
        head_only,
        out,
    )
}

/// Queues a response with `status` and `body` (only its length for `HEAD`).
pub(crate) fn respond_with(
    status: HttpStatus,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
    head_only: bool,
    out: &mut OutQueue,
) -> Result<(), HttpStatus> {
    let mut head = [0u8; MAX_RESPONSE_HEAD];
    let n = handshake::write_response_head(status, content_type, body.len(), keep_alive, &mut head)
        // Our head buffer is too small for our own answer: our fault, not the client's.
        .map_err(|_| HttpStatus::InternalServerError)?;
    let body: &[u8] = if head_only { b"" } else { body };
    out.push(&[&head[..n], body]);
    Ok(())
}

fn upgrade(
    request: &handshake::Request<'_, '_>,
    site: &Site<'_>,
    out: &mut OutQueue,
) -> Result<Decision, HttpStatus> {
    let upgrade = handshake::validate_upgrade(request).map_err(RequestError::status)?;
    let path = route_path(upgrade.path());
    let route = site
        .routes
        .iter()
        .position(|r| *r == path)
        .ok_or(HttpStatus::NotFound)?;
    check_origin(upgrade.origin(), site)?;
    accept(upgrade.key(), out)?;
    Ok(Decision::Upgrade {
        route,
        head_len: request.head_len(),
    })
}

/// Browsers always send Origin; non-browser clients may omit it and are not subject to the
/// same-origin policy this check enforces.
fn check_origin(origin: Option<&str>, site: &Site<'_>) -> Result<(), HttpStatus> {
    match origin {
        Some(origin) if !site.origins.is_empty() && !site.origins.iter().any(|o| o == origin) => {
            Err(HttpStatus::Forbidden)
        }
        _ => Ok(()),
    }
}

/// Queues the 101 for a validated handshake with this `Sec-WebSocket-Key`.
pub(crate) fn accept(key: &str, out: &mut OutQueue) -> Result<(), HttpStatus> {
    let mut head = [0u8; MAX_RESPONSE_HEAD];
    // No subprotocol is offered by our apps, so none is selected. The key is validated and no
    // subprotocol is written: only a head buffer too small for our own answer fails here,
    // which is our fault, not the client's.
    let n = handshake::write_accept_response(key, None, &mut head)
        .map_err(|_| HttpStatus::InternalServerError)?;
    out.push(&[&head[..n]]);
    Ok(())
}

/// The Engine.IO mount whose path `request` is on.
fn mount_of(request: &handshake::Request<'_, '_>, site: &Site<'_>) -> Option<usize> {
    let path = route_path(request.path());
    site.engine_io.iter().position(|p| p == path)
}

/// A request on an Engine.IO mount's path: a WebSocket handshake is validated like any other
/// (its errors get `ws`'s statuses); a plain request must have a readable body length.
/// Keep-alive follows the HTTP version and `Connection` only, since the body will be read.
fn engine_io(
    mount: usize,
    request: &handshake::Request<'_, '_>,
    site: &Site<'_>,
) -> Result<Decision, HttpStatus> {
    let head_len = request.head_len();
    if request.upgrade_requested() {
        let upgrade = handshake::validate_upgrade(request).map_err(RequestError::status)?;
        check_origin(upgrade.origin(), site)?;
        return Ok(Decision::EngineIo(EngineIoHead {
            mount,
            head_len,
            body_len: 0,
            upgrade: true,
            keep_alive: false,
        }));
    }
    let body_len = request
        .content_length()
        .map_err(RequestError::status)?
        .unwrap_or(0);
    let closes = request.header("Connection").is_some_and(|v| {
        v.split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    });
    Ok(Decision::EngineIo(EngineIoHead {
        mount,
        head_len,
        body_len,
        upgrade: false,
        keep_alive: request.minor_version() >= 1 && !closes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &[u8] = b"<h1>hi</h1>";

    fn site_with(origins: &[String], f: impl FnOnce(&Site<'_>)) {
        site_with_stats(origins, false, f)
    }

    fn site_with_stats(origins: &[String], stats: bool, f: impl FnOnce(&Site<'_>)) {
        let pages = [Page {
            path: "/".into(),
            content_type: "text/html; charset=utf-8",
            body: PAGE,
        }];
        let routes = ["/echo".to_string(), "/chat".to_string()];
        f(&Site {
            pages: &pages,
            routes: &routes,
            origins,
            stats,
            engine_io: &[],
        });
    }

    /// Runs `decide` and returns the decision and the response text.
    fn answer(request: &str, origins: &[String]) -> (Decision, String) {
        let mut result = None;
        site_with(origins, |site| {
            let mut out = OutQueue::new();
            let decision = decide(request.as_bytes(), site, &mut out);
            let mut bytes = Vec::new();
            out.drain_into::<()>(|b| {
                bytes.extend_from_slice(b);
                Ok(b.len())
            })
            .unwrap();
            result = Some((decision, String::from_utf8(bytes).unwrap()));
        });
        result.unwrap()
    }

    fn upgrade_request(path: &str, extra: &str) -> String {
        format!(
            "GET {path} HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
    }

    #[test]
    fn get_root_serves_the_page_with_keep_alive() {
        let req = "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n";
        let (decision, text) = answer(req, &[]);
        assert_eq!(
            decision,
            Decision::Responded {
                head_len: 27,
                keep_alive: true
            }
        );
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(
            text.to_ascii_lowercase()
                .contains("content-type: text/html; charset=utf-8"),
            "{text}"
        );
        assert!(text.ends_with("<h1>hi</h1>"), "{text}");
    }

    #[test]
    fn head_gets_no_body_and_connection_close_is_honoured() {
        let (decision, text) = answer(
            "HEAD /?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            &[],
        );
        assert!(matches!(
            decision,
            Decision::Responded {
                keep_alive: false,
                ..
            }
        ));
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("\r\n\r\n"),
            "{text}"
        );
    }

    #[test]
    fn partial_heads_wait_for_more() {
        assert_eq!(
            answer("GET / HTTP/1.1\r\nHost: x\r\n", &[]).0,
            Decision::Partial
        );
        assert_eq!(answer("", &[]).0, Decision::Partial);
    }

    #[test]
    fn refusals_carry_the_status_from_ws() {
        let cases = [
            ("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                405,
            ),
            ("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", 426),
            ("GARBAGE\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400),
        ];
        for (req, code) in cases {
            let (decision, text) = answer(req, &[]);
            assert!(
                matches!(decision, Decision::Refused(s) if s.code() == code),
                "{req:?}: {decision:?}"
            );
            assert!(
                text.starts_with(&format!("HTTP/1.1 {code} ")),
                "{req:?}: {text}"
            );
        }
        let (decision, text) = answer(&upgrade_request("/nope", ""), &[]);
        assert_eq!(decision, Decision::Refused(HttpStatus::NotFound));
        assert!(text.starts_with("HTTP/1.1 404 "));
        let bad_version = upgrade_request("/echo", "").replace("Version: 13", "Version: 8");
        let (_, text) = answer(&bad_version, &[]);
        assert!(
            text.starts_with("HTTP/1.1 426 ") && text.contains("Sec-WebSocket-Version: 13"),
            "{text}"
        );
        let post = upgrade_request("/echo", "").replacen("GET", "POST", 1);
        assert!(answer(&post, &[]).1.starts_with("HTTP/1.1 405 "));
        let huge = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(9000)
        );
        assert!(answer(&huge, &[]).1.starts_with("HTTP/1.1 431 "));
    }

    #[test]
    fn upgrade_on_a_route_answers_101_with_the_rfc_accept_key() {
        let req = upgrade_request("/chat?room=1", "");
        let (decision, text) = answer(&format!("{req}\u{81}"), &[]);
        assert_eq!(
            decision,
            Decision::Upgrade {
                route: 1,
                head_len: req.len()
            }
        );
        assert!(
            text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{text}"
        );
        // RFC 6455 §1.3 example key and accept value.
        assert!(text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{text}");
    }

    #[test]
    fn other_upgrades_are_ignored_off_the_websocket_routes() {
        let h2c = "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n\
                   Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
        let (decision, text) = answer(h2c, &[]);
        assert!(
            matches!(decision, Decision::Responded { .. }),
            "{decision:?}"
        );
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        // On a WebSocket route, a broken upgrade is refused with the reason ws gives.
        let (decision, _) = answer(&h2c.replace("GET / ", "GET /echo "), &[]);
        assert_eq!(decision, Decision::Refused(HttpStatus::BadRequest));
        let no_connection = upgrade_request("/echo", "").replace("Connection: Upgrade\r\n", "");
        assert_eq!(
            answer(&no_connection, &[]).0,
            Decision::Refused(HttpStatus::BadRequest)
        );
    }

    #[test]
    fn origin_allow_list() {
        let allowed = vec!["http://10.0.0.2:8080".to_string()];
        let good = upgrade_request("/echo", "Origin: http://10.0.0.2:8080\r\n");
        let bad = upgrade_request("/echo", "Origin: http://evil.example\r\n");
        let none = upgrade_request("/echo", "");
        assert!(matches!(
            answer(&good, &allowed).0,
            Decision::Upgrade { route: 0, .. }
        ));
        assert_eq!(
            answer(&bad, &allowed).0,
            Decision::Refused(HttpStatus::Forbidden)
        );
        assert!(answer(&bad, &allowed).1.starts_with("HTTP/1.1 403 "));
        assert!(matches!(
            answer(&none, &allowed).0,
            Decision::Upgrade { .. }
        ));
        assert!(
            matches!(answer(&bad, &[]).0, Decision::Upgrade { .. }),
            "empty list allows all"
        );
    }

    #[test]
    fn stats_only_when_switched_on_and_only_plain_get_or_head() {
        let get = "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut decision = None;
        site_with_stats(&[], true, |site| {
            let mut out = OutQueue::new();
            decision = Some(decide(get.as_bytes(), site, &mut out));
            assert!(out.is_empty(), "the server writes the body");
        });
        assert_eq!(
            decision,
            Some(Decision::Stats {
                head_len: get.len(),
                keep_alive: true,
                head_only: false
            })
        );
        site_with_stats(&[], true, |site| {
            let mut out = OutQueue::new();
            let head = "HEAD /stats?x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            assert!(matches!(
                decide(head.as_bytes(), site, &mut out),
                Decision::Stats {
                    keep_alive: false,
                    head_only: true,
                    ..
                }
            ));
            let post = "POST /stats HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
            assert_eq!(
                decide(post.as_bytes(), site, &mut out),
                Decision::Refused(HttpStatus::MethodNotAllowed)
            );
            let upgrade = upgrade_request("/stats", "");
            assert_eq!(
                decide(upgrade.as_bytes(), site, &mut out),
                Decision::Refused(HttpStatus::NotFound)
            );
        });
        assert_eq!(answer(get, &[]).0, Decision::Refused(HttpStatus::NotFound));
    }

    #[test]
    fn a_page_whose_head_does_not_fit_our_buffer_is_our_fault_500() {
        let content_type = "x".repeat(MAX_RESPONSE_HEAD);
        let mut out = OutQueue::new();
        assert_eq!(
            respond(&content_type, PAGE, true, false, &mut out),
            Err(HttpStatus::InternalServerError)
        );
        assert!(out.is_empty(), "nothing half-written");
    }
}
