//! Server side of the opening handshake: request parsing, upgrade validation, the
//! refusal → status mapping, and the answers the server writes.

use ws::handshake::{
    BufferTooSmall, EMPTY_HEADER, HeadError, Header, HttpStatus, ParseLimits, Request,
    RequestError, Status, accept_key, parse_request, parse_request_with_limits, validate_upgrade,
    write_accept_response, write_error_response, write_response_head,
};

/// The client handshake of RFC 6455 §1.2 (also the example of §4.1).
const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\
\r\n";

/// The server handshake of RFC 6455 §1.2, answering `RFC_REQUEST` with subprotocol `chat`.
const RFC_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat\r\n\
\r\n";

/// The header lines of `RFC_REQUEST`, which `handshake` edits.
const RFC_HEADERS: &[(&str, &str)] = &[
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Origin", "http://example.com"),
    ("Sec-WebSocket-Protocol", "chat, superchat"),
    ("Sec-WebSocket-Version", "13"),
];

/// A change to the RFC handshake.
enum Edit<'a> {
    /// Replace the value of the named line.
    Set(&'a str, &'a str),
    /// Drop the named line.
    Remove(&'a str),
    /// Append a line.
    Add(&'a str, &'a str),
}

/// The RFC handshake with `request_line` and `edits` applied.
fn handshake(request_line: &str, edits: &[Edit]) -> Vec<u8> {
    let mut lines: Vec<(String, String)> = RFC_HEADERS
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    for edit in edits {
        match edit {
            Edit::Set(name, value) => {
                let line = lines
                    .iter_mut()
                    .find(|(n, _)| n == name)
                    .expect("edited line exists");
                line.1 = value.to_string();
            }
            Edit::Remove(name) => lines.retain(|(n, _)| n != name),
            Edit::Add(name, value) => lines.push((name.to_string(), value.to_string())),
        }
    }
    let mut text = format!("{request_line}\r\n");
    for (name, value) in lines {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// Runs `check` on the complete request parsed from `bytes`.
fn with_request<R>(bytes: &[u8], check: impl FnOnce(Request<'_, '_>) -> R) -> R {
    let mut headers = [EMPTY_HEADER; 16];
    match parse_request(bytes, &mut headers) {
        Ok(Status::Complete(request)) => check(request),
        other => panic!("expected a complete request, got {other:?}"),
    }
}

/// The refusal of the request parser for `bytes`.
fn parse_error(bytes: &[u8]) -> RequestError {
    let mut headers = [EMPTY_HEADER; 16];
    match parse_request(bytes, &mut headers) {
        Err(error) => error,
        other => panic!("expected a parse error, got {other:?}"),
    }
}

/// The refusal of `validate_upgrade` for the (parseable) request `bytes`.
fn upgrade_error(bytes: &[u8]) -> RequestError {
    with_request(bytes, |request| {
        validate_upgrade(&request).expect_err("handshake refused")
    })
}

fn assert_refused(error: RequestError, expected: RequestError, status: u16) {
    assert_eq!(error, expected);
    assert_eq!(error.status().code(), status);
}

// --- RFC vectors ---

#[test]
fn accept_key_matches_rfc_6455_section_1_3() {
    assert_eq!(
        &accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn rfc_example_request_parses_and_validates() {
    with_request(RFC_REQUEST, |request| {
        assert_eq!(request.method(), "GET");
        assert_eq!(request.path(), "/chat");
        assert_eq!(request.minor_version(), 1);
        assert_eq!(request.head_len(), RFC_REQUEST.len());
        assert_eq!(request.headers().len(), 7);
        assert!(request.upgrade_requested());
        assert!(request.is_websocket_upgrade());
        assert!(request.keep_alive());
        assert_eq!(request.content_length(), Ok(None));

        let upgrade = validate_upgrade(&request).expect("the RFC example is valid");
        assert_eq!(upgrade.path(), "/chat");
        assert_eq!(upgrade.host(), "server.example.com");
        assert_eq!(upgrade.key(), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(upgrade.origin(), Some("http://example.com"));
        assert_eq!(
            upgrade.protocols().collect::<Vec<_>>(),
            ["chat", "superchat"]
        );
        assert_eq!(upgrade.extensions().count(), 0);
    });
}

#[test]
fn accept_response_matches_rfc_example() {
    let mut out = [0u8; 256];
    let n = write_accept_response("dGhlIHNhbXBsZSBub25jZQ==", Some("chat"), &mut out).unwrap();
    assert_eq!(&out[..n], RFC_RESPONSE);
}

#[test]
fn accept_response_without_protocol_has_no_protocol_line() {
    let mut out = [0u8; 256];
    let n = write_accept_response("dGhlIHNhbXBsZSBub25jZQ==", None, &mut out).unwrap();
    let expected = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    assert_eq!(&out[..n], expected);
}

// --- the request head ---

#[test]
fn bytes_after_the_head_are_not_part_of_it() {
    let mut bytes = RFC_REQUEST.to_vec();
    bytes.extend_from_slice(b"\x81\x05Hello");
    with_request(&bytes, |request| {
        assert_eq!(request.head_len(), RFC_REQUEST.len())
    });
}

#[test]
fn every_proper_prefix_of_a_request_is_partial() {
    for len in 0..RFC_REQUEST.len() {
        let mut headers = [EMPTY_HEADER; 16];
        assert_eq!(
            parse_request(&RFC_REQUEST[..len], &mut headers),
            Ok(Status::Partial),
            "{len}"
        );
    }
}

#[test]
fn header_lookup_is_case_insensitive_and_values_are_trimmed() {
    let bytes = b"GET / HTTP/1.1\r\nhOsT: \t example.com \t\r\nX-Empty:\r\n\r\n";
    with_request(bytes, |request| {
        assert_eq!(request.header("HOST"), Some(&b"example.com"[..]));
        assert_eq!(request.header("host"), Some(&b"example.com"[..]));
        assert_eq!(request.header("x-empty"), Some(&b""[..]));
        assert_eq!(request.header("Missing"), None);
        assert_eq!(request.headers()[0].name, "hOsT");
    });
}

#[test]
fn header_values_may_hold_obs_text() {
    with_request(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\n\r\n",
        |request| {
            assert_eq!(request.header("x-name"), Some(&b"caf\xc3\xa9"[..]));
        },
    );
}

#[test]
fn path_keeps_the_query() {
    with_request(b"GET /echo?room=1 HTTP/1.1\r\nHost: a\r\n\r\n", |request| {
        assert_eq!(request.path(), "/echo?room=1");
    });
}

#[test]
fn bare_lf_is_rejected() {
    let error = parse_error(b"GET / HTTP/1.1\nHost: a\n\n");
    assert_refused(error, RequestError::Head(HeadError::BadLineEnding), 400);
    let error = parse_error(b"GET / HTTP/1.1\r\nHost: a\n\r\n");
    assert_refused(error, RequestError::Head(HeadError::BadLineEnding), 400);
}

#[test]
fn cr_not_followed_by_lf_is_rejected() {
    let error = parse_error(b"GET / HTTP/1.1\rHost: a\r\n\r\n");
    assert_refused(error, RequestError::Head(HeadError::BadLineEnding), 400);
}

#[test]
fn malformed_request_lines_are_rejected() {
    for line in [
        &b"GET  / HTTP/1.1"[..],
        b"GET / HTTP/1.1 ",
        b"GET /",
        b" GET / HTTP/1.1",
        b"GET / HTTP/1.1 extra",
        b"G(T / HTTP/1.1",
        b"GET /a\x01b HTTP/1.1",
        b"GET /caf\xc3\xa9 HTTP/1.1",
        b"GET / HTTP/1.10",
        b"GET / HTTPS/1.1",
        b"GET / http/1.1",
        b"",
    ] {
        let mut bytes = line.to_vec();
        bytes.extend_from_slice(b"\r\nHost: a\r\n\r\n");
        assert_refused(parse_error(&bytes), RequestError::BadRequestLine, 400);
    }
}

#[test]
fn request_target_must_be_origin_form() {
    for target in ["http://example.com/chat", "*", "example.com:80"] {
        let bytes = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_refused(
            parse_error(bytes.as_bytes()),
            RequestError::BadRequestTarget,
            400,
        );
    }
}

#[test]
fn other_major_versions_are_rejected() {
    let error = parse_error(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n");
    assert_refused(error, RequestError::UnsupportedHttpVersion, 400);
}

#[test]
fn later_minor_versions_are_http_1() {
    with_request(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", |r| {
        assert_eq!(r.minor_version(), 2)
    });
}

#[test]
fn bad_header_names_are_rejected() {
    for line in [
        &b"Host : a"[..],
        b"Host\t: a",
        b": a",
        b"Ho(st: a",
        b"NoColon",
        b"X\x7fY: a",
    ] {
        let mut bytes = b"GET / HTTP/1.1\r\n".to_vec();
        bytes.extend_from_slice(line);
        bytes.extend_from_slice(b"\r\n\r\n");
        assert_refused(
            parse_error(&bytes),
            RequestError::Head(HeadError::BadHeaderName),
            400,
        );
    }
}

#[test]
fn control_characters_in_values_are_rejected() {
    for value in [&b"a\x00b"[..], b"a\x7fb", b"a\x1bb"] {
        let mut bytes = b"GET / HTTP/1.1\r\nHost: a\r\nX-Value: ".to_vec();
        bytes.extend_from_slice(value);
        bytes.extend_from_slice(b"\r\n\r\n");
        assert_refused(
            parse_error(&bytes),
            RequestError::Head(HeadError::BadHeaderValue),
            400,
        );
    }
}

#[test]
fn obsolete_line_folding_is_rejected() {
    let error = parse_error(b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\n\r\n");
    assert_refused(
        error,
        RequestError::Head(HeadError::ObsoleteLineFolding),
        400,
    );
}

#[test]
fn whitespace_after_the_request_line_is_rejected() {
    let error = parse_error(b"GET / HTTP/1.1\r\n\tHost: a\r\n\r\n");
    assert_refused(
        error,
        RequestError::Head(HeadError::ObsoleteLineFolding),
        400,
    );
}

#[test]
fn more_headers_than_storage_is_431() {
    let bytes = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    let mut headers = [EMPTY_HEADER; 3];
    assert!(matches!(
        parse_request(bytes, &mut headers),
        Ok(Status::Complete(_))
    ));
    let mut headers = [EMPTY_HEADER; 2];
    let error = parse_request(bytes, &mut headers).unwrap_err();
    assert_refused(error, RequestError::Head(HeadError::TooManyHeaders), 431);
    // Known as soon as the extra line is in, before the head ends.
    let mut headers = [EMPTY_HEADER; 2];
    let error = parse_request(&bytes[..bytes.len() - 2], &mut headers).unwrap_err();
    assert_eq!(error, RequestError::Head(HeadError::TooManyHeaders));
}

#[test]
fn head_larger_than_max_head_is_431() {
    let bytes = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let parse = |buf: &[u8], max_head| {
        let mut headers = [EMPTY_HEADER; 4];
        parse_request_with_limits(buf, &mut headers, &ParseLimits { max_head })
            .map(|status| matches!(status, Status::Complete(_)))
    };
    assert_eq!(parse(bytes, bytes.len()), Ok(true));
    let too_large = Err(RequestError::Head(HeadError::HeadTooLarge));
    assert_eq!(parse(bytes, bytes.len() - 1), too_large);
    assert_eq!(
        RequestError::Head(HeadError::HeadTooLarge).status().code(),
        431
    );
    // Fewer bytes than the limit: the head may still end in time.
    assert_eq!(parse(&bytes[..10], bytes.len() - 1), Ok(false));
    // A peer that never ends its head is cut off at the limit.
    let endless = [b'a'; 100];
    assert_eq!(parse(&endless, 64), too_large);
}

#[test]
fn default_limit_is_8_kib() {
    let mut bytes = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ".to_vec();
    bytes.resize(8 * 1024, b'p');
    let mut headers = [EMPTY_HEADER; 4];
    let error = parse_request(&bytes, &mut headers).unwrap_err();
    assert_eq!(error, RequestError::Head(HeadError::HeadTooLarge));
    assert_eq!(ParseLimits::default(), ParseLimits::DEFAULT);
}

#[test]
fn http_1_1_requires_one_host() {
    let error = parse_error(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n");
    assert_refused(error, RequestError::MissingField("Host"), 400);
    let error = parse_error(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n");
    assert_refused(error, RequestError::DuplicateField("Host"), 400);
    let error = parse_error(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
    assert_refused(error, RequestError::InvalidField("Host"), 400);
}

#[test]
fn http_1_0_may_omit_host_and_an_empty_host_is_valid() {
    with_request(b"GET / HTTP/1.0\r\n\r\n", |r| {
        assert_eq!(r.header("Host"), None)
    });
    with_request(b"GET / HTTP/1.1\r\nHost:\r\n\r\n", |r| {
        assert_eq!(r.header("Host"), Some(&b""[..]))
    });
    with_request(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", |r| {
        r.head_len()
    });
}

// --- plain requests: keep-alive and bodies ---

fn plain(fields: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n").into_bytes()
}

#[test]
fn keep_alive_follows_version_and_connection_tokens() {
    let keep_alive = |bytes: &[u8]| with_request(bytes, |r| r.keep_alive());
    assert!(keep_alive(&plain("")));
    assert!(!keep_alive(&plain("Connection: close\r\n")));
    assert!(!keep_alive(&plain("Connection: keep-alive, CLOSE\r\n")));
    assert!(!keep_alive(&plain(
        "Connection: keep-alive\r\nConnection: Close\r\n"
    )));
    assert!(!keep_alive(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(keep_alive(
        b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
    ));
}

#[test]
fn connection_is_a_token_list() {
    with_request(
        &plain("Connection: keep-alive, ,Upgrade\r\nConnection: TE\r\n"),
        |r| {
            let tokens: Vec<&[u8]> = r.connection().collect();
            assert_eq!(tokens, [&b"keep-alive"[..], b"Upgrade", b"TE"]);
        },
    );
}

#[test]
fn content_length_is_parsed() {
    let length = |fields: &str| with_request(&plain(fields), |r| r.content_length());
    assert_eq!(length(""), Ok(None));
    assert_eq!(length("Content-Length: 0\r\n"), Ok(Some(0)));
    assert_eq!(
        length("content-length: 18446744073709551615\r\n"),
        Ok(Some(u64::MAX))
    );
    assert_eq!(length("Content-Length: 5, 5\r\n"), Ok(Some(5)));
    assert_eq!(
        length("Content-Length: 5\r\nContent-Length: 5\r\n"),
        Ok(Some(5))
    );
}

#[test]
fn invalid_content_length_is_400() {
    for fields in [
        "Content-Length: 5, 6\r\n",
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: +1\r\n",
        "Content-Length: 0x10\r\n",
        "Content-Length: 1 2\r\n",
        "Content-Length: 18446744073709551616\r\n",
        "Content-Length:\r\n",
        "Content-Length: ,\r\n",
    ] {
        let error = with_request(&plain(fields), |r| r.content_length()).unwrap_err();
        assert_refused(error, RequestError::InvalidField("Content-Length"), 400);
        assert!(
            !with_request(&plain(fields), |r| r.keep_alive()),
            "{fields}"
        );
    }
}

#[test]
fn transfer_encoding_is_501() {
    let bytes = plain("Transfer-Encoding: chunked\r\n");
    let error = with_request(&bytes, |r| r.content_length()).unwrap_err();
    assert_refused(error, RequestError::TransferEncodingNotImplemented, 501);
    assert!(!with_request(&bytes, |r| r.keep_alive()));
}

#[test]
fn a_get_with_a_body_is_answered_then_closed() {
    with_request(&plain("Content-Length: 5\r\n"), |request| {
        assert_eq!(request.content_length(), Ok(Some(5)));
        assert!(!request.keep_alive());
    });
}

#[test]
fn requests_without_upgrade_are_plain() {
    with_request(&plain("Connection: Upgrade\r\n"), |request| {
        assert!(!request.upgrade_requested());
        assert!(!request.is_websocket_upgrade());
    });
}

// --- upgrade validation, one test per refusal ---

#[test]
fn upgrade_with_another_method_is_405() {
    for line in [
        "POST /chat HTTP/1.1",
        "get /chat HTTP/1.1",
        "HEAD /chat HTTP/1.1",
    ] {
        let error = upgrade_error(&handshake(line, &[]));
        assert_refused(error, RequestError::MethodNotAllowed, 405);
    }
}

#[test]
fn upgrade_in_http_1_0_is_400() {
    let error = upgrade_error(&handshake("GET /chat HTTP/1.0", &[]));
    assert_refused(error, RequestError::UpgradeRequiresHttp11, 400);
}

#[test]
fn upgrade_to_another_protocol_is_400() {
    for upgrade in ["h2c", "websocket/13", "web socket", "IRC/6.9, RTA/x11"] {
        let error = upgrade_error(&handshake(
            "GET /chat HTTP/1.1",
            &[Edit::Set("Upgrade", upgrade)],
        ));
        assert_refused(error, RequestError::NotWebSocketUpgrade, 400);
    }
    let error = upgrade_error(&handshake("GET /chat HTTP/1.1", &[Edit::Remove("Upgrade")]));
    assert_refused(error, RequestError::NotWebSocketUpgrade, 400);
}

#[test]
fn upgrade_without_connection_upgrade_is_400() {
    let bytes = handshake(
        "GET /chat HTTP/1.1",
        &[Edit::Set("Connection", "keep-alive")],
    );
    with_request(&bytes, |r| {
        assert!(r.upgrade_requested() && !r.is_websocket_upgrade())
    });
    assert_refused(
        upgrade_error(&bytes),
        RequestError::MissingConnectionUpgrade,
        400,
    );
    let bytes = handshake("GET /chat HTTP/1.1", &[Edit::Remove("Connection")]);
    assert_refused(
        upgrade_error(&bytes),
        RequestError::MissingConnectionUpgrade,
        400,
    );
}

#[test]
fn unsupported_websocket_version_is_426() {
    let edits: [&[Edit]; 4] = [
        &[Edit::Set("Sec-WebSocket-Version", "8")],
        &[Edit::Set("Sec-WebSocket-Version", "13, 8")],
        &[Edit::Remove("Sec-WebSocket-Version")],
        &[Edit::Add("Sec-WebSocket-Version", "13")],
    ];
    for edit in edits {
        let error = upgrade_error(&handshake("GET /chat HTTP/1.1", edit));
        assert_refused(error, RequestError::UnsupportedWebSocketVersion, 426);
    }
}

#[test]
fn missing_key_is_400() {
    let error = upgrade_error(&handshake(
        "GET /chat HTTP/1.1",
        &[Edit::Remove("Sec-WebSocket-Key")],
    ));
    assert_refused(error, RequestError::MissingField("Sec-WebSocket-Key"), 400);
}

#[test]
fn duplicate_key_is_400() {
    let bytes = handshake(
        "GET /chat HTTP/1.1",
        &[Edit::Add("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA==")],
    );
    assert_refused(
        upgrade_error(&bytes),
        RequestError::DuplicateField("Sec-WebSocket-Key"),
        400,
    );
}

#[test]
fn key_not_decoding_to_16_bytes_is_400() {
    for key in [
        "dGhlIHNhbXBsZSBub25jZQ",   // no padding
        "dGhlIHNhbXBsZSBub25j",     // 15 bytes
        "dGhlIHNhbXBsZSBub25jZTEy", // 18 bytes
        "dGhlIHNhbXBsZSBub25jZR==", // non-zero trailing bits
        "dGhlIHNhbXBsZSBub25jZ*==", // not base64
        "dGhlIHNhbXBsZSBub25jZQ==dGhl",
        "",
    ] {
        let error = upgrade_error(&handshake(
            "GET /chat HTTP/1.1",
            &[Edit::Set("Sec-WebSocket-Key", key)],
        ));
        assert_refused(error, RequestError::InvalidField("Sec-WebSocket-Key"), 400);
    }
}

#[test]
fn empty_host_is_400_for_a_websocket() {
    let error = upgrade_error(&handshake("GET /chat HTTP/1.1", &[Edit::Set("Host", "")]));
    assert_refused(error, RequestError::InvalidField("Host"), 400);
}

#[test]
fn missing_host_is_400_for_a_websocket() {
    let bytes = handshake("GET /chat HTTP/1.1", &[Edit::Remove("Host")]);
    assert_refused(parse_error(&bytes), RequestError::MissingField("Host"), 400);
}

#[test]
fn duplicate_or_non_ascii_origin_is_400() {
    let bytes = handshake(
        "GET /chat HTTP/1.1",
        &[Edit::Add("Origin", "http://evil.example")],
    );
    assert_refused(
        upgrade_error(&bytes),
        RequestError::DuplicateField("Origin"),
        400,
    );
    let mut bytes = handshake(
        "GET /chat HTTP/1.1",
        &[Edit::Set("Origin", "http://caf_.example")],
    );
    let at = bytes.iter().position(|&b| b == b'_').unwrap();
    bytes[at] = 0xe9;
    assert_refused(
        upgrade_error(&bytes),
        RequestError::InvalidField("Origin"),
        400,
    );
}

#[test]
fn non_token_subprotocol_is_400() {
    let edit = Edit::Set("Sec-WebSocket-Protocol", "chat, v1/json");
    let error = upgrade_error(&handshake("GET /chat HTTP/1.1", &[edit]));
    assert_refused(
        error,
        RequestError::InvalidField("Sec-WebSocket-Protocol"),
        400,
    );
}

#[test]
fn non_ascii_extension_is_400() {
    let mut bytes = handshake(
        "GET /chat HTTP/1.1",
        &[Edit::Add("Sec-WebSocket-Extensions", "x-_")],
    );
    let at = bytes.iter().position(|&b| b == b'_').unwrap();
    bytes[at] = 0x80;
    let error = upgrade_error(&bytes);
    assert_refused(
        error,
        RequestError::InvalidField("Sec-WebSocket-Extensions"),
        400,
    );
}

#[test]
fn upgrade_with_a_body_is_400() {
    let error = upgrade_error(&handshake(
        "GET /chat HTTP/1.1",
        &[Edit::Add("Content-Length", "5")],
    ));
    assert_refused(error, RequestError::UpgradeWithBody, 400);
    let bytes = handshake("GET /chat HTTP/1.1", &[Edit::Add("Content-Length", "0")]);
    with_request(&bytes, |request| {
        assert!(validate_upgrade(&request).is_ok())
    });
}

#[test]
fn upgrade_with_transfer_encoding_is_501() {
    let error = upgrade_error(&handshake(
        "GET /chat HTTP/1.1",
        &[Edit::Add("Transfer-Encoding", "chunked")],
    ));
    assert_refused(error, RequestError::TransferEncodingNotImplemented, 501);
}

#[test]
fn upgrade_field_names_and_tokens_are_case_insensitive() {
    let bytes = b"GET /chat HTTP/1.1\r\nHOST: a\r\nupgrade: WebSocket\r\n\
connection: keep-alive, UPGRADE\r\nSEC-WEBSOCKET-KEY: dGhlIHNhbXBsZSBub25jZQ==\r\n\
sec-websocket-version: 13\r\n\r\n";
    with_request(bytes, |request| {
        assert!(request.is_websocket_upgrade());
        let upgrade = validate_upgrade(&request).expect("case does not matter");
        assert_eq!(upgrade.key(), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(upgrade.origin(), None);
    });
}

#[test]
fn upgrade_may_list_other_protocols_too() {
    let bytes = handshake(
        "GET /chat HTTP/1.1",
        &[Edit::Set("Upgrade", "foo, websocket")],
    );
    with_request(&bytes, |request| {
        assert!(validate_upgrade(&request).is_ok())
    });
}

#[test]
fn protocols_and_extensions_span_all_their_lines() {
    let bytes = handshake(
        "GET /chat HTTP/1.1",
        &[
            Edit::Add("sec-websocket-protocol", "v2.chat, ,x"),
            Edit::Add(
                "Sec-WebSocket-Extensions",
                "permessage-deflate; client_max_window_bits",
            ),
            Edit::Add("Sec-WebSocket-Extensions", "x-a, x-b"),
        ],
    );
    with_request(&bytes, |request| {
        let upgrade = validate_upgrade(&request).unwrap();
        assert_eq!(
            upgrade.protocols().collect::<Vec<_>>(),
            ["chat", "superchat", "v2.chat", "x"]
        );
        assert_eq!(
            upgrade.extensions().collect::<Vec<_>>(),
            ["permessage-deflate; client_max_window_bits", "x-a", "x-b"]
        );
    });
}

// --- the refusal → status mapping ---

#[test]
fn every_refusal_maps_to_its_status() {
    let cases = [
        (RequestError::Head(HeadError::BadLineEnding), 400),
        (RequestError::Head(HeadError::BadHeaderName), 400),
        (RequestError::Head(HeadError::BadHeaderValue), 400),
        (RequestError::Head(HeadError::ObsoleteLineFolding), 400),
        (RequestError::Head(HeadError::TooManyHeaders), 431),
        (RequestError::Head(HeadError::HeadTooLarge), 431),
        (RequestError::BadRequestLine, 400),
        (RequestError::BadRequestTarget, 400),
        (RequestError::UnsupportedHttpVersion, 400),
        (RequestError::MissingField("Host"), 400),
        (RequestError::DuplicateField("Host"), 400),
        (RequestError::InvalidField("Host"), 400),
        (RequestError::TransferEncodingNotImplemented, 501),
        (RequestError::MethodNotAllowed, 405),
        (RequestError::UpgradeRequiresHttp11, 400),
        (RequestError::NotWebSocketUpgrade, 400),
        (RequestError::MissingConnectionUpgrade, 400),
        (RequestError::UnsupportedWebSocketVersion, 426),
        (RequestError::UpgradeWithBody, 400),
    ];
    for (error, code) in cases {
        assert_eq!(error.status().code(), code, "{error:?}");
    }
}

#[test]
fn statuses_have_rfc_9110_reasons() {
    let cases = [
        (HttpStatus::SwitchingProtocols, 101, "Switching Protocols"),
        (HttpStatus::Ok, 200, "OK"),
        (HttpStatus::BadRequest, 400, "Bad Request"),
        (HttpStatus::Forbidden, 403, "Forbidden"),
        (HttpStatus::NotFound, 404, "Not Found"),
        (HttpStatus::MethodNotAllowed, 405, "Method Not Allowed"),
        (HttpStatus::ContentTooLarge, 413, "Content Too Large"),
        (HttpStatus::UpgradeRequired, 426, "Upgrade Required"),
        (
            HttpStatus::RequestHeaderFieldsTooLarge,
            431,
            "Request Header Fields Too Large",
        ),
        (
            HttpStatus::InternalServerError,
            500,
            "Internal Server Error",
        ),
        (HttpStatus::NotImplemented, 501, "Not Implemented"),
    ];
    for (status, code, reason) in cases {
        assert_eq!((status.code(), status.reason()), (code, reason));
    }
}

// --- answers ---

/// `write` into buffers of every size: too small fails, large enough gives the same bytes.
fn assert_needs_exactly(
    write: impl Fn(&mut [u8]) -> Result<usize, BufferTooSmall>,
    expected: &[u8],
) {
    for size in 0..expected.len() {
        let mut out = vec![0u8; size];
        assert_eq!(write(&mut out), Err(BufferTooSmall), "size {size}");
    }
    let mut out = vec![0u8; expected.len() + 8];
    let n = write(&mut out).expect("large enough");
    assert_eq!(&out[..n], expected);
}

#[test]
fn writers_fail_instead_of_truncating() {
    assert_needs_exactly(
        |out| write_accept_response("dGhlIHNhbXBsZSBub25jZQ==", Some("chat"), out),
        RFC_RESPONSE,
    );
    let mut out = [0u8; 512];
    let n = write_error_response(HttpStatus::UpgradeRequired, &mut out).unwrap();
    assert_needs_exactly(
        |o| write_error_response(HttpStatus::UpgradeRequired, o),
        &out[..n],
    );
    let n = write_response_head(HttpStatus::Ok, "text/html", 10, true, &mut out).unwrap();
    assert_needs_exactly(
        |o| write_response_head(HttpStatus::Ok, "text/html", 10, true, o),
        &out[..n],
    );
}

#[test]
fn error_response_404_is_exact() {
    let mut out = [0u8; 256];
    let n = write_error_response(HttpStatus::NotFound, &mut out).unwrap();
    let expected = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Length: 14\r\nConnection: close\r\n\r\n404 Not Found\n";
    assert_eq!(&out[..n], expected);
}

/// The answer for `status` split into its head lines and its body.
fn error_response(status: HttpStatus) -> (Vec<String>, String) {
    let mut out = [0u8; 512];
    let n = write_error_response(status, &mut out).unwrap();
    let text = std::str::from_utf8(&out[..n]).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (
        head.split("\r\n").map(str::to_string).collect(),
        body.to_string(),
    )
}

#[test]
fn error_responses_carry_status_body_and_close() {
    for status in [
        HttpStatus::BadRequest,
        HttpStatus::Forbidden,
        HttpStatus::NotFound,
        HttpStatus::MethodNotAllowed,
        HttpStatus::ContentTooLarge,
        HttpStatus::UpgradeRequired,
        HttpStatus::RequestHeaderFieldsTooLarge,
        HttpStatus::NotImplemented,
    ] {
        let (head, body) = error_response(status);
        assert_eq!(
            head[0],
            format!("HTTP/1.1 {} {}", status.code(), status.reason())
        );
        assert_eq!(body, format!("{} {}\n", status.code(), status.reason()));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(
            head.iter()
                .any(|l| l.starts_with("Connection:") && l.ends_with("close"))
        );
        assert_eq!(
            head.contains(&"Allow: GET".to_string()),
            status == HttpStatus::MethodNotAllowed
        );
        let upgrade_required = status == HttpStatus::UpgradeRequired;
        assert_eq!(
            head.contains(&"Sec-WebSocket-Version: 13".to_string()),
            upgrade_required
        );
        assert_eq!(
            head.contains(&"Upgrade: websocket".to_string()),
            upgrade_required
        );
    }
}

#[test]
fn response_head_for_plain_answers() {
    let mut out = [0u8; 256];
    let n = write_response_head(
        HttpStatus::Ok,
        "text/html; charset=utf-8",
        1234,
        true,
        &mut out,
    )
    .unwrap();
    let expected = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
Content-Length: 1234\r\nConnection: keep-alive\r\n\r\n";
    assert_eq!(&out[..n], expected);
    let n = write_response_head(HttpStatus::NotFound, "text/plain", 0, false, &mut out).unwrap();
    let expected = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\
Content-Length: 0\r\nConnection: close\r\n\r\n";
    assert_eq!(&out[..n], expected);
}

#[test]
fn header_storage_is_filled_in_order() {
    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(request)) = parse_request(RFC_REQUEST, &mut headers) else {
        panic!("complete");
    };
    assert_eq!(
        request.headers()[1],
        Header {
            name: "Upgrade",
            value: b"websocket"
        }
    );
}
