//! Properties of the handshake parsers: any split of the input gives the same answer, no input
//! panics, and whatever a valid client writes, the server accepts and vice versa.

use proptest::prelude::*;
use ws::handshake::{
    ClientRequest, EMPTY_HEADER, ParseLimits, RequestError, ResponseError, Status,
    parse_request_with_limits, parse_response, validate_upgrade, write_accept_response,
    write_client_request,
};

const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n\
Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

const RFC_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat\r\n\r\n";

const RFC_NONCE: [u8; 16] = *b"the sample nonce";

/// Everything the server learns from a request, owned, so answers for different inputs compare.
#[derive(Debug, PartialEq)]
struct Seen {
    method: String,
    path: String,
    minor_version: u8,
    head_len: usize,
    headers: Vec<(String, Vec<u8>)>,
    keep_alive: bool,
    content_length: Result<Option<u64>, RequestError>,
    upgrade: Result<SeenUpgrade, RequestError>,
}

/// Everything `validate_upgrade` hands out, owned.
#[derive(Debug, PartialEq)]
struct SeenUpgrade {
    path: String,
    host: String,
    key: String,
    origin: Option<String>,
    protocols: Vec<String>,
    extensions: Vec<String>,
}

/// Parses `bytes` and asks every question of the result (so each accessor runs on it).
fn server_sees(
    bytes: &[u8],
    storage: usize,
    max_head: usize,
) -> Result<Status<Seen>, RequestError> {
    let mut headers = vec![EMPTY_HEADER; storage];
    let status = parse_request_with_limits(bytes, &mut headers, &ParseLimits { max_head })?;
    let Status::Complete(request) = status else {
        return Ok(Status::Partial);
    };
    assert!(request.head_len() <= bytes.len() && request.head_len() <= max_head);
    assert!(bytes[..request.head_len()].ends_with(b"\r\n\r\n"));
    let _ = (
        request.upgrade_requested(),
        request.is_websocket_upgrade(),
        request.connection().count(),
    );
    let upgrade = validate_upgrade(&request).map(|u| SeenUpgrade {
        path: u.path().to_string(),
        host: u.host().to_string(),
        key: u.key().to_string(),
        origin: u.origin().map(str::to_string),
        protocols: u.protocols().map(str::to_string).collect(),
        extensions: u.extensions().map(str::to_string).collect(),
    });
    if let Ok(upgrade) = &upgrade {
        let mut out = [0u8; 256];
        write_accept_response(&upgrade.key, None, &mut out).expect("a 101 fits in 256 bytes");
    }
    Ok(Status::Complete(Seen {
        method: request.method().to_string(),
        path: request.path().to_string(),
        minor_version: request.minor_version(),
        head_len: request.head_len(),
        headers: request
            .headers()
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect(),
        keep_alive: request.keep_alive(),
        content_length: request.content_length(),
        upgrade,
    }))
}

/// What the client makes of `bytes`, owned.
fn client_sees(
    bytes: &[u8],
    storage: usize,
) -> Result<Status<(usize, Option<String>)>, ResponseError> {
    let mut headers = vec![EMPTY_HEADER; storage];
    Ok(
        match parse_response(bytes, &mut headers, RFC_NONCE, &["chat", "superchat"])? {
            Status::Complete(a) => {
                Status::Complete((a.head_len(), a.protocol().map(str::to_string)))
            }
            Status::Partial => Status::Partial,
        },
    )
}

/// Every prefix of the input gives `Partial` or the answer for the whole input, so a caller
/// that re-parses as bytes arrive, split anywhere, ends with the same answer.
fn assert_prefixes_agree<T, E>(bytes: &[u8], parse: impl Fn(&[u8]) -> Result<Status<T>, E>)
where
    T: PartialEq + std::fmt::Debug,
    E: PartialEq + std::fmt::Debug,
{
    let whole = parse(bytes);
    for len in 0..bytes.len() {
        let prefix = parse(&bytes[..len]);
        let agrees = matches!(prefix, Ok(Status::Partial)) || prefix == whole;
        assert!(
            agrees,
            "prefix {len} gives {prefix:?}, the whole input {whole:?}"
        );
    }
}

/// Bytes that look like a handshake: pieces of valid heads, separators and noise.
fn head_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"GET / HTTP/1.1\r\n".to_vec()),
        Just(b"HTTP/1.1 101 Switching Protocols\r\n".to_vec()),
        Just(b"Host: a\r\n".to_vec()),
        Just(b"Upgrade: websocket\r\n".to_vec()),
        Just(b"Connection: keep-alive, Upgrade\r\n".to_vec()),
        Just(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n".to_vec()),
        Just(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n".to_vec()),
        Just(b"Sec-WebSocket-Version: 13\r\n".to_vec()),
        Just(b"Sec-WebSocket-Protocol: chat, , x\r\n".to_vec()),
        Just(b"Sec-WebSocket-Extensions: a; b=1\r\n".to_vec()),
        Just(b"Content-Length: 5, 5\r\n".to_vec()),
        Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
        Just(b"Origin: http://a\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b": \t,\r\n\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ];
    proptest::collection::vec(piece, 0..14).prop_map(|pieces| pieces.concat())
}

/// `base` with up to three bytes replaced, inserted or deleted.
fn mutated(base: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<prop::sample::Index>(), any::<u8>(), 0..3u8);
    proptest::collection::vec(edit, 0..4).prop_map(move |edits| {
        let mut bytes = base.to_vec();
        for (at, byte, kind) in edits {
            let at = at.index(bytes.len() + 1);
            match kind {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if at < bytes.len() => drop(bytes.remove(at)),
                _ => {}
            }
        }
        bytes
    })
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,12}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_split_of_a_request_gives_the_same_answer(
        bytes in prop_oneof![mutated(RFC_REQUEST), head_like()],
        storage in 0..12usize,
        max_head in 0..400usize,
    ) {
        assert_prefixes_agree(&bytes, |b| server_sees(b, storage, max_head));
    }

    #[test]
    fn any_split_of_a_response_gives_the_same_answer(
        bytes in prop_oneof![mutated(RFC_RESPONSE), head_like()],
        storage in 0..8usize,
    ) {
        assert_prefixes_agree(&bytes, |b| client_sees(b, storage));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = server_sees(&bytes, 8, 512);
        let _ = client_sees(&bytes, 8);
    }

    #[test]
    fn what_a_client_writes_the_server_accepts(
        host in "[a-z0-9.-]{1,20}(:[0-9]{1,5})?",
        path in "/[!-~]{0,30}",
        origin in proptest::option::of("https?://[a-z0-9.-]{1,20}"),
        protocols in proptest::collection::vec(token(), 0..4),
        nonce in any::<[u8; 16]>(),
        pick in any::<prop::sample::Index>(),
    ) {
        let protocols: Vec<&str> = protocols.iter().map(String::as_str).collect();
        let request = ClientRequest { host: &host, path: &path, origin: origin.as_deref(), protocols: &protocols };
        let mut wire = [0u8; 1024];
        let n = write_client_request(&request, nonce, &mut wire).expect("valid fields fit");

        let mut headers = [EMPTY_HEADER; 16];
        let Ok(Status::Complete(parsed)) = parse_request_with_limits(&wire[..n], &mut headers, &ParseLimits::DEFAULT) else {
            panic!("the server parses the client's request");
        };
        prop_assert_eq!(parsed.head_len(), n);
        let upgrade = validate_upgrade(&parsed).expect("a valid handshake");
        prop_assert_eq!(upgrade.path(), path.as_str());
        prop_assert_eq!(upgrade.host(), host.as_str());
        prop_assert_eq!(upgrade.origin(), origin.as_deref());
        prop_assert_eq!(upgrade.protocols().collect::<Vec<_>>(), protocols.clone());

        let chosen = (!protocols.is_empty()).then(|| protocols[pick.index(protocols.len())]);
        let mut answer = [0u8; 256];
        let m = write_accept_response(upgrade.key(), chosen, &mut answer).expect("fits");
        let mut headers = [EMPTY_HEADER; 8];
        let accepted = parse_response(&answer[..m], &mut headers, nonce, &protocols);
        let Ok(Status::Complete(accepted)) = accepted else { panic!("the client accepts: {accepted:?}") };
        prop_assert_eq!(accepted.protocol(), chosen);
        prop_assert_eq!(accepted.head_len(), m);
    }
}
