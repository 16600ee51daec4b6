//! Payload masking (RFC 6455 §5.3): byte `i` of the payload is XORed with
//! `masking_key[i % 4]`. Masking and unmasking are the same operation.
//!
//! [`apply_mask`] works a 64-bit word at a time in safe code, [`copy_masked`] does the same
//! while copying; [`apply_mask_bytewise`] is the literal RFC loop both are tested against.

/// Where a client's masking keys come from. RFC 6455 §5.3 asks for keys that are
/// unpredictable to the application code, so the caller supplies a random source; the engine
/// owns no randomness.
pub trait MaskKeySource {
    /// The masking key for the next frame.
    fn next_key(&mut self) -> [u8; 4];
}

/// The key source of the server role, which never masks. Should it be used by a client
/// anyway, it yields the all-zero key, which is well-formed but hides nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMask;

impl MaskKeySource for NoMask {
    fn next_key(&mut self) -> [u8; 4] {
        [0; 4]
    }
}

impl<F: FnMut() -> [u8; 4]> MaskKeySource for F {
    fn next_key(&mut self) -> [u8; 4] {
        self()
    }
}

/// XORs `buf` with `masking_key`, where `buf` starts `offset` bytes into the frame payload
/// (so a payload can be unmasked in pieces as it arrives).
#[inline]
pub fn apply_mask(buf: &mut [u8], masking_key: [u8; 4], offset: u64) {
    // Rotate the key so that key[0] lines up with buf[0].
    let key = rotated(masking_key, offset);
    let key_word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut words = buf.chunks_exact_mut(8);
    for word in &mut words {
        if let Ok(word) = <&mut [u8; 8]>::try_from(word) {
            *word = (u64::from_ne_bytes(*word) ^ key_word).to_ne_bytes();
        }
    }
    // The tail is shorter than a word and starts at a multiple of 8, so the key is aligned.
    for (byte, k) in words.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// Writes `src` XORed with `masking_key` into `dst` (of the same length), where `src` starts
/// `offset` bytes into the frame payload: [`apply_mask`] fused with the copy, one pass over
/// the bytes instead of two.
///
/// # Panics
/// If `src` and `dst` differ in length (a caller bug, never input-driven).
#[inline]
pub fn copy_masked(src: &[u8], dst: &mut [u8], masking_key: [u8; 4], offset: u64) {
    assert_eq!(
        src.len(),
        dst.len(),
        "copy_masked: source and destination lengths differ"
    );
    let key = rotated(masking_key, offset);
    let key_word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut from = src.chunks_exact(8);
    let mut to = dst.chunks_exact_mut(8);
    for (d, s) in (&mut to).zip(&mut from) {
        if let (Ok(d), Ok(s)) = (<&mut [u8; 8]>::try_from(d), <&[u8; 8]>::try_from(s)) {
            *d = (u64::from_ne_bytes(*s) ^ key_word).to_ne_bytes();
        }
    }
    // The tails are shorter than a word and start at a multiple of 8: the key is aligned.
    let tail = from.remainder().iter().zip(key.iter().cycle());
    for (d, (s, k)) in to.into_remainder().iter_mut().zip(tail) {
        *d = s ^ k;
    }
}

/// The byte-at-a-time reference for [`apply_mask`], exactly as RFC 6455 §5.3 states it.
pub fn apply_mask_bytewise(buf: &mut [u8], masking_key: [u8; 4], offset: u64) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= masking_key[((offset + i as u64) % 4) as usize];
    }
}

/// The key as seen from payload byte `offset`: byte `i` of the result is
/// `masking_key[(offset + i) % 4]`.
fn rotated(masking_key: [u8; 4], offset: u64) -> [u8; 4] {
    // In little-endian order, moving bytes to lower indices is a right rotation.
    let shift = (offset % 4) as u32 * 8;
    u32::from_le_bytes(masking_key)
        .rotate_right(shift)
        .to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_masked_hello() {
        // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }

    #[test]
    fn fast_matches_bytewise_at_every_alignment_length_and_offset() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let mut source = [0u8; 200];
        for (i, b) in source.iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        for start in 0..16 {
            for len in 0..(source.len() - start) {
                for offset in [0u64, 1, 2, 3, 4, 5, 1 << 40 | 3] {
                    let mut fast = source;
                    let mut slow = source;
                    apply_mask(&mut fast[start..start + len], key, offset);
                    apply_mask_bytewise(&mut slow[start..start + len], key, offset);
                    assert_eq!(fast, slow, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn copy_masked_matches_bytewise_at_every_alignment_length_and_offset() {
        let key = [0x9a, 0xbc, 0xde, 0xf0];
        let source: [u8; 100] = core::array::from_fn(|i| (i * 13 + 5) as u8);
        for start in 0..9 {
            for len in 0..(source.len() - start) {
                for offset in [0u64, 1, 2, 3, 7, 1 << 40 | 1] {
                    let src = &source[start..start + len];
                    let mut dst = [0u8; 100];
                    copy_masked(src, &mut dst[start..start + len], key, offset);
                    let mut expected = source;
                    apply_mask_bytewise(&mut expected[start..start + len], key, offset);
                    assert_eq!(&dst[start..start + len], &expected[start..start + len]);
                    assert!(
                        dst[..start]
                            .iter()
                            .chain(&dst[start + len..])
                            .all(|&b| b == 0)
                    );
                }
            }
        }
    }

    #[test]
    fn unmasking_in_pieces_equals_unmasking_at_once() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let original: [u8; 37] = core::array::from_fn(|i| i as u8);
        let mut whole = original;
        apply_mask(&mut whole, key, 0);
        for split in 0..original.len() {
            let mut pieces = original;
            let (a, b) = pieces.split_at_mut(split);
            apply_mask(a, key, 0);
            apply_mask(b, key, split as u64);
            assert_eq!(pieces, whole, "split {split}");
        }
    }

    #[test]
    fn masking_twice_restores() {
        let original = *b"mask me twice, get me back";
        let mut buf = original;
        apply_mask(&mut buf, [1, 2, 3, 4], 0);
        assert_ne!(buf, original);
        apply_mask(&mut buf, [1, 2, 3, 4], 0);
        assert_eq!(buf, original);
    }

    #[test]
    fn closures_are_key_sources() {
        let mut n = 0u8;
        let mut source = || {
            n += 1;
            [n; 4]
        };
        assert_eq!(MaskKeySource::next_key(&mut source), [1; 4]);
        assert_eq!(MaskKeySource::next_key(&mut source), [2; 4]);
        assert_eq!(NoMask.next_key(), [0; 4]);
    }
}
