//! Client side of the opening handshake, and the round trip through both sides.

use ws::handshake::{
    ClientRequest, ClientRequestError, EMPTY_HEADER, HeadError, ResponseError, Status,
    parse_request, parse_response, validate_upgrade, write_accept_response, write_client_request,
    write_error_response,
};

/// The nonce whose base64 is the key of RFC 6455 §1.2, `dGhlIHNhbXBsZSBub25jZQ==`.
const RFC_NONCE: [u8; 16] = *b"the sample nonce";

/// The server handshake of RFC 6455 §1.2.
const RFC_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat\r\n\
\r\n";

const OFFERED: &[&str] = &["chat", "superchat"];

/// `RFC_RESPONSE` with the field line starting with `name` replaced by `line` (removed when
/// `line` is empty) — or, when no line starts with `name`, with `line` added.
fn response_with(name: &str, line: &str) -> Vec<u8> {
    let text = std::str::from_utf8(RFC_RESPONSE).unwrap();
    let mut lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    match lines.iter().position(|l| l.starts_with(name)) {
        Some(at) if line.is_empty() => drop(lines.remove(at)),
        Some(at) => lines[at] = line,
        None => lines.push(line),
    }
    format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes()
}

/// What the client makes of `bytes`: head length and selected subprotocol once complete.
fn parse(bytes: &[u8], offered: &[&str]) -> Result<Status<(usize, Option<String>)>, ResponseError> {
    let mut headers = [EMPTY_HEADER; 16];
    let status = parse_response(bytes, &mut headers, RFC_NONCE, offered)?;
    Ok(match status {
        Status::Complete(accepted) => {
            Status::Complete((accepted.head_len(), accepted.protocol().map(str::to_string)))
        }
        Status::Partial => Status::Partial,
    })
}

fn refusal(bytes: &[u8], offered: &[&str]) -> ResponseError {
    parse(bytes, offered).expect_err("the client must fail the connection")
}

#[test]
fn client_request_for_the_rfc_example_is_exact() {
    let request = ClientRequest {
        host: "server.example.com",
        path: "/chat",
        origin: Some("http://example.com"),
        protocols: OFFERED,
    };
    let mut out = [0u8; 512];
    let n = write_client_request(&request, RFC_NONCE, &mut out).unwrap();
    let expected = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
\r\n";
    assert_eq!(
        std::str::from_utf8(&out[..n]).unwrap(),
        std::str::from_utf8(expected).unwrap()
    );
}

#[test]
fn minimal_client_request_has_no_origin_or_protocol() {
    let request = ClientRequest {
        host: "10.0.0.2:8080",
        path: "/echo",
        origin: None,
        protocols: &[],
    };
    let mut out = [0u8; 512];
    let n = write_client_request(&request, [0; 16], &mut out).unwrap();
    let text = std::str::from_utf8(&out[..n]).unwrap();
    assert!(text.starts_with("GET /echo HTTP/1.1\r\nHost: 10.0.0.2:8080\r\n"));
    assert!(text.contains("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"));
    assert!(!text.contains("Origin") && !text.contains("Protocol"));
}

#[test]
fn client_request_fails_instead_of_truncating() {
    let request = ClientRequest {
        host: "a",
        path: "/",
        origin: Some("http://a"),
        protocols: OFFERED,
    };
    let mut out = [0u8; 512];
    let n = write_client_request(&request, RFC_NONCE, &mut out).unwrap();
    for size in 0..n {
        let mut out = vec![0u8; size];
        let result = write_client_request(&request, RFC_NONCE, &mut out);
        assert_eq!(
            result,
            Err(ClientRequestError::BufferTooSmall),
            "size {size}"
        );
    }
}

#[test]
fn client_request_fields_that_would_break_the_head_are_refused() {
    let valid = ClientRequest {
        host: "a",
        path: "/",
        origin: None,
        protocols: &[],
    };
    let cases = [
        (ClientRequest { host: "", ..valid }, "Host"),
        (
            ClientRequest {
                host: "a b",
                ..valid
            },
            "Host",
        ),
        (
            ClientRequest {
                host: "a\r\nX: y",
                ..valid
            },
            "Host",
        ),
        (
            ClientRequest {
                path: "chat",
                ..valid
            },
            "path",
        ),
        (
            ClientRequest {
                path: "/a b",
                ..valid
            },
            "path",
        ),
        (
            ClientRequest {
                path: "/\r\n",
                ..valid
            },
            "path",
        ),
        (
            ClientRequest {
                origin: Some(""),
                ..valid
            },
            "Origin",
        ),
        (
            ClientRequest {
                origin: Some("http://a\r\n"),
                ..valid
            },
            "Origin",
        ),
        (
            ClientRequest {
                protocols: &["chat", "a b"],
                ..valid
            },
            "Sec-WebSocket-Protocol",
        ),
        (
            ClientRequest {
                protocols: &[""],
                ..valid
            },
            "Sec-WebSocket-Protocol",
        ),
    ];
    let mut out = [0u8; 512];
    for (request, field) in cases {
        let result = write_client_request(&request, RFC_NONCE, &mut out);
        assert_eq!(
            result,
            Err(ClientRequestError::InvalidField(field)),
            "{request:?}"
        );
    }
}

#[test]
fn rfc_example_response_is_accepted() {
    let accepted = parse(RFC_RESPONSE, OFFERED);
    assert_eq!(
        accepted,
        Ok(Status::Complete((
            RFC_RESPONSE.len(),
            Some("chat".to_string())
        )))
    );
}

#[test]
fn every_proper_prefix_of_a_response_is_partial() {
    for len in 0..RFC_RESPONSE.len() {
        assert_eq!(
            parse(&RFC_RESPONSE[..len], OFFERED),
            Ok(Status::Partial),
            "{len}"
        );
    }
}

#[test]
fn frames_after_the_response_are_not_part_of_it() {
    let mut bytes = RFC_RESPONSE.to_vec();
    bytes.extend_from_slice(b"\x81\x05Hello");
    let accepted = parse(&bytes, OFFERED);
    assert_eq!(
        accepted,
        Ok(Status::Complete((
            RFC_RESPONSE.len(),
            Some("chat".to_string())
        )))
    );
}

#[test]
fn response_without_protocol_selects_none() {
    let bytes = response_with("Sec-WebSocket-Protocol", "");
    assert_eq!(
        parse(&bytes, OFFERED),
        Ok(Status::Complete((bytes.len(), None)))
    );
}

#[test]
fn response_fields_are_case_insensitive() {
    let bytes = b"HTTP/1.1 101 Switching Protocols\r\nUPGRADE: WebSocket\r\n\
connection: keep-alive, upgrade\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    assert!(matches!(parse(bytes, &[]), Ok(Status::Complete(_))));
}

#[test]
fn status_line_without_reason_is_accepted() {
    let text = std::str::from_utf8(RFC_RESPONSE).unwrap();
    for line in [
        "HTTP/1.1 101",
        "HTTP/1.1 101 ",
        "HTTP/1.1 101 Whatever\tit says",
    ] {
        let bytes = text.replacen("HTTP/1.1 101 Switching Protocols", line, 1);
        assert!(
            matches!(parse(bytes.as_bytes(), OFFERED), Ok(Status::Complete(_))),
            "{line}"
        );
    }
}

#[test]
fn malformed_status_lines_fail() {
    let text = std::str::from_utf8(RFC_RESPONSE).unwrap();
    for line in [
        "HTTP/1.1  101 x",
        "HTTP/1.1 1O1 x",
        "HTTP/1.1 1011 x",
        "HTTP/1.1",
        "HTTP/x.1 101 x",
        "HTTP/1.1 101x",
        "HTTP/1.1 101 a\x01b",
    ] {
        let bytes = text.replacen("HTTP/1.1 101 Switching Protocols", line, 1);
        assert_eq!(
            refusal(bytes.as_bytes(), OFFERED),
            ResponseError::BadStatusLine,
            "{line}"
        );
    }
}

#[test]
fn http_1_0_or_2_response_fails() {
    let text = std::str::from_utf8(RFC_RESPONSE).unwrap();
    for version in ["HTTP/1.0", "HTTP/2.0"] {
        let bytes = text.replacen("HTTP/1.1", version, 1);
        assert_eq!(
            refusal(bytes.as_bytes(), OFFERED),
            ResponseError::UnsupportedHttpVersion
        );
    }
}

#[test]
fn a_status_other_than_101_is_reported_as_soon_as_it_arrives() {
    let mut out = [0u8; 256];
    let n = write_error_response(ws::HttpStatus::UpgradeRequired, &mut out).unwrap();
    assert_eq!(refusal(&out[..n], OFFERED), ResponseError::Rejected(426));
    assert_eq!(
        refusal(b"HTTP/1.1 403 Forbidden\r\n", OFFERED),
        ResponseError::Rejected(403)
    );
    assert_eq!(
        refusal(b"HTTP/1.1 200 OK\r\n\r\n", OFFERED),
        ResponseError::Rejected(200)
    );
}

#[test]
fn upgrade_other_than_websocket_fails() {
    for line in [
        "",
        "Upgrade: h2c",
        "Upgrade: websocket, h2c",
        "Upgrade: websocket/13",
    ] {
        let bytes = response_with("Upgrade", line);
        assert_eq!(
            refusal(&bytes, OFFERED),
            ResponseError::NotWebSocketUpgrade,
            "{line:?}"
        );
    }
}

#[test]
fn connection_without_upgrade_fails() {
    for line in ["", "Connection: keep-alive"] {
        let bytes = response_with("Connection", line);
        assert_eq!(
            refusal(&bytes, OFFERED),
            ResponseError::MissingConnectionUpgrade,
            "{line:?}"
        );
    }
}

#[test]
fn missing_accept_fails() {
    let bytes = response_with("Sec-WebSocket-Accept", "");
    assert_eq!(refusal(&bytes, OFFERED), ResponseError::MissingAccept);
}

#[test]
fn wrong_or_repeated_accept_fails() {
    let bytes = response_with(
        "Sec-WebSocket-Accept",
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo",
    );
    assert_eq!(refusal(&bytes, OFFERED), ResponseError::AcceptMismatch);
    let bytes = response_with("X-", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(refusal(&bytes, OFFERED), ResponseError::AcceptMismatch);
    // The accept value is not case-insensitive: base64 is case-sensitive.
    let bytes = response_with(
        "Sec-WebSocket-Accept",
        "Sec-WebSocket-Accept: S3PPLMBITXAQ9KYGZZHZRBK+XOO=",
    );
    assert_eq!(refusal(&bytes, OFFERED), ResponseError::AcceptMismatch);
    let mut headers = [EMPTY_HEADER; 16];
    let other_nonce = parse_response(RFC_RESPONSE, &mut headers, [7; 16], OFFERED);
    assert_eq!(other_nonce, Err(ResponseError::AcceptMismatch));
}

#[test]
fn protocol_not_offered_fails() {
    assert_eq!(
        refusal(RFC_RESPONSE, &[]),
        ResponseError::UnexpectedProtocol
    );
    assert_eq!(
        refusal(RFC_RESPONSE, &["superchat"]),
        ResponseError::UnexpectedProtocol
    );
    // Subprotocol names compare exactly.
    assert_eq!(
        refusal(RFC_RESPONSE, &["Chat"]),
        ResponseError::UnexpectedProtocol
    );
}

#[test]
fn more_than_one_protocol_fails() {
    let bytes = response_with(
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Protocol: chat, superchat",
    );
    assert_eq!(refusal(&bytes, OFFERED), ResponseError::UnexpectedProtocol);
    let bytes = response_with("X-", "Sec-WebSocket-Protocol: chat");
    assert_eq!(refusal(&bytes, OFFERED), ResponseError::UnexpectedProtocol);
}

#[test]
fn any_extension_fails() {
    let bytes = response_with("X-", "Sec-WebSocket-Extensions: permessage-deflate");
    assert_eq!(refusal(&bytes, OFFERED), ResponseError::UnexpectedExtension);
}

#[test]
fn malformed_response_heads_fail() {
    let bytes = b"HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n";
    assert_eq!(
        refusal(bytes, OFFERED),
        ResponseError::Head(HeadError::BadLineEnding)
    );
    let bytes = response_with("Upgrade", "Upgrade : websocket");
    assert_eq!(
        refusal(&bytes, OFFERED),
        ResponseError::Head(HeadError::BadHeaderName)
    );
    let mut headers = [EMPTY_HEADER; 2];
    let result = parse_response(RFC_RESPONSE, &mut headers, RFC_NONCE, OFFERED);
    assert_eq!(result, Err(ResponseError::Head(HeadError::TooManyHeaders)));
    let endless = vec![b'a'; 8 * 1024];
    assert_eq!(
        refusal(&endless, OFFERED),
        ResponseError::Head(HeadError::HeadTooLarge)
    );
}

#[test]
fn client_request_round_trips_through_the_server() {
    let request = ClientRequest {
        host: "10.0.0.2:8080",
        path: "/chat?room=lobby",
        origin: Some("http://10.0.0.2:8080"),
        protocols: &["v2.chat", "chat"],
    };
    let nonce = *b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\xff";
    let mut wire = [0u8; 512];
    let n = write_client_request(&request, nonce, &mut wire).unwrap();

    let mut headers = [EMPTY_HEADER; 16];
    let Ok(Status::Complete(parsed)) = parse_request(&wire[..n], &mut headers) else {
        panic!("the server parses what the client writes");
    };
    assert_eq!(parsed.head_len(), n);
    let upgrade = validate_upgrade(&parsed).expect("a valid handshake");
    assert_eq!(upgrade.path(), request.path);
    assert_eq!(upgrade.host(), request.host);
    assert_eq!(upgrade.origin(), request.origin);
    assert_eq!(upgrade.protocols().collect::<Vec<_>>(), request.protocols);
    let chosen = upgrade.protocols().find(|p| *p == "chat");

    let mut answer = [0u8; 512];
    let m = write_accept_response(upgrade.key(), chosen, &mut answer).unwrap();
    let mut headers = [EMPTY_HEADER; 16];
    let accepted = parse_response(&answer[..m], &mut headers, nonce, request.protocols);
    let Ok(Status::Complete(accepted)) = accepted else {
        panic!("the client accepts: {accepted:?}")
    };
    assert_eq!(accepted.protocol(), Some("chat"));
    assert_eq!(accepted.head_len(), m);
}
