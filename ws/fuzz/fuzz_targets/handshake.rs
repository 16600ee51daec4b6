//! Arbitrary bytes through the server's request parser and upgrade validation and through the
//! client's response parser. Beyond "never panics", it checks that a prefix of the input gives
//! `Partial` or the same answer as the whole input (the parsers' any-split property).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ws::handshake::{
    EMPTY_HEADER, ParseLimits, Status, parse_request_with_limits, parse_response,
    validate_upgrade, write_accept_response,
};

const NONCE: [u8; 16] = *b"the sample nonce";
const OFFERED: &[&str] = &["chat", "superchat"];

fuzz_target!(|input: &[u8]| {
    // The first bytes choose the limits and where to split, the rest is the head.
    let [storage, max_head, split, bytes @ ..] = input else {
        return;
    };
    let storage = usize::from(*storage % 33);
    let limits = ParseLimits { max_head: usize::from(*max_head) * 16 };
    let split = usize::from(*split) * bytes.len() / 256;

    let mut headers = vec![EMPTY_HEADER; storage];
    let whole = parse_request_with_limits(bytes, &mut headers, &limits);
    let mut prefix_headers = vec![EMPTY_HEADER; storage];
    let prefix = parse_request_with_limits(&bytes[..split], &mut prefix_headers, &limits);
    assert!(prefix == Ok(Status::Partial) || prefix == whole, "{prefix:?} vs {whole:?}");
    if let Ok(Status::Complete(request)) = whole {
        assert!(request.head_len() <= bytes.len().min(limits.max_head));
        let _ = (request.keep_alive(), request.content_length(), request.connection().count());
        if let Ok(upgrade) = validate_upgrade(&request) {
            let protocol = upgrade.protocols().next();
            let _ = upgrade.extensions().count();
            // Status line, Upgrade, Connection and Accept take 129 bytes with the blank line; the protocol header 26
            // more plus the token, which the peer chose and may make as long as the head allows.
            let needed = 129 + protocol.map_or(0, |p| 26 + p.len());
            let mut out = vec![0u8; needed];
            let n = write_accept_response(upgrade.key(), protocol, &mut out).expect("a 101 fits");
            assert_eq!(n, needed);
            assert!(write_accept_response(upgrade.key(), protocol, &mut out[..needed - 1]).is_err());
        }
    }

    let mut headers = vec![EMPTY_HEADER; storage];
    let whole = parse_response(bytes, &mut headers, NONCE, OFFERED);
    let mut prefix_headers = vec![EMPTY_HEADER; storage];
    let prefix = parse_response(&bytes[..split], &mut prefix_headers, NONCE, OFFERED);
    assert!(prefix == Ok(Status::Partial) || prefix == whole, "{prefix:?} vs {whole:?}");
});
