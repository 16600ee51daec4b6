//! `Sec-WebSocket-Key` and `Sec-WebSocket-Accept` (RFC 6455 §1.3, §4.2.2).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

/// The GUID RFC 6455 §1.3 appends to the key before hashing.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Length of a valid `Sec-WebSocket-Key`: base64 of 16 bytes, with padding.
const KEY_LEN: usize = 24;

/// `Sec-WebSocket-Accept` for the `Sec-WebSocket-Key` value `key` (as sent, in base64):
/// base64(SHA-1(key + GUID)). RFC 6455 §1.3: `dGhlIHNhbXBsZSBub25jZQ==` gives
/// `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    let digest = Sha1::new().chain_update(key).chain_update(GUID).finalize();
    let mut accept = [0u8; 28];
    encode_exact(&digest, &mut accept);
    accept
}

/// Whether `key` is a valid `Sec-WebSocket-Key`: base64 (with padding, canonical) of exactly 16
/// bytes (RFC 6455 §4.1).
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    // Decoding 24 characters yields at most 18 bytes; only 16 is valid.
    let mut nonce = [0u8; 18];
    key.len() == KEY_LEN && STANDARD.decode_slice(key, &mut nonce) == Ok(16)
}

/// The `Sec-WebSocket-Key` a client sends for its 16-byte `nonce`.
pub(crate) fn encode_key(nonce: &[u8; 16]) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    encode_exact(nonce, &mut key);
    key
}

/// Base64 of `input` filling `output` exactly; the callers' sizes are fixed so that it does
/// (16 → 24, 20 → 28), which the tests pin with the RFC vector.
fn encode_exact(input: &[u8], output: &mut [u8]) {
    let written = STANDARD.encode_slice(input, output);
    debug_assert_eq!(written, Ok(output.len()));
}
