//! Randomness: the one place the stack asks the operating system for it (getrandom(2)), and
//! [`ChaCha20`], the generator seeded from it where many unpredictable values are needed
//! (the client's masking keys).

use std::io;

/// `N` bytes from the operating system's random source (getrandom(2), which blocks only
/// until the kernel's pool is initialised at boot).
pub(crate) fn os_random<const N: usize>() -> io::Result<[u8; N]> {
    let mut buf = [0u8; N];
    let mut filled = 0;
    while filled < N {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`, which lives
        // across the call.
        let rc = unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), N - filled, 0) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        } else {
            filled += rc as usize;
        }
    }
    Ok(buf)
}

/// 64 bits from the OS, for ISNs and the ephemeral port start.
pub(crate) fn random_seed() -> io::Result<u64> {
    Ok(u64::from_ne_bytes(os_random::<8>()?))
}

/// The ChaCha20 keystream (RFC 8439 §2.3) as a random number generator: a 256-bit key from
/// the OS, a zero nonce, the block counter counting up. Its output cannot be predicted from
/// earlier output without the key, which is what RFC 6455 §5.3 asks of masking keys (a fast
/// non-cryptographic generator such as xorshift gives its state away in a few outputs).
pub(crate) struct ChaCha20 {
    key: [u32; 8],
    counter: u64,
    block: [u8; 64],
    /// Bytes of `block` already handed out.
    used: usize,
}

impl ChaCha20 {
    /// A generator keyed from the operating system.
    pub(crate) fn from_os() -> io::Result<Self> {
        Ok(ChaCha20::from_key(os_random::<32>()?))
    }

    /// A generator with a given key (tests).
    fn from_key(key: [u8; 32]) -> Self {
        let mut words = [0u32; 8];
        for (word, bytes) in words.iter_mut().zip(key.chunks_exact(4)) {
            *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        ChaCha20 {
            key: words,
            counter: 0,
            block: [0; 64],
            used: 64,
        }
    }

    /// Fills `out` with the next bytes of the keystream.
    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        for byte in out {
            if self.used == self.block.len() {
                // 2^64 blocks are never reached: at a block per nanosecond, 584 years.
                self.block = block(&self.key, self.counter, [0; 3]);
                self.counter = self.counter.wrapping_add(1);
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }
}

/// The quarter round of RFC 8439 §2.1 on four words of the state.
fn quarter_round(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

/// One 64-byte ChaCha20 block (RFC 8439 §2.3). The 64-bit `counter` fills the RFC's 32-bit
/// counter word and the first nonce word, as in the original ChaCha (64-bit counter, 64-bit
/// nonce); `nonce[0]` must then be 0 for the RFC's layout, which the test vector uses.
fn block(key: &[u32; 8], counter: u64, nonce: [u32; 3]) -> [u8; 64] {
    let mut state = [0u32; 16];
    // "expand 32-byte k"
    state[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    state[4..12].copy_from_slice(key);
    state[12] = counter as u32;
    state[13] = nonce[0] ^ (counter >> 32) as u32;
    state[14] = nonce[1];
    state[15] = nonce[2];
    let mut working = state;
    for _ in 0..10 {
        quarter_round(&mut working, 0, 4, 8, 12);
        quarter_round(&mut working, 1, 5, 9, 13);
        quarter_round(&mut working, 2, 6, 10, 14);
        quarter_round(&mut working, 3, 7, 11, 15);
        quarter_round(&mut working, 0, 5, 10, 15);
        quarter_round(&mut working, 1, 6, 11, 12);
        quarter_round(&mut working, 2, 7, 8, 13);
        quarter_round(&mut working, 3, 4, 9, 14);
    }
    let mut out = [0u8; 64];
    for (i, chunk) in out.chunks_exact_mut(4).enumerate() {
        chunk.copy_from_slice(&working[i].wrapping_add(state[i]).to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn block_matches_rfc_8439_section_2_3_2() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let mut words = [0u32; 8];
        for (word, bytes) in words.iter_mut().zip(key.chunks_exact(4)) {
            *word = u32::from_le_bytes(bytes.try_into().unwrap());
        }
        // Block counter 1, nonce 00 00 00 09 00 00 00 4a 00 00 00 00 (as words, LE).
        let out = block(&words, 1, [0x0900_0000, 0x4a00_0000, 0]);
        let expected = hex("10 f1 e7 e4 d1 3b 59 15 50 0f dd 1f a3 20 71 c4
             c7 d1 f4 c7 33 c0 68 03 04 22 aa 9a c3 d4 6c 4e
             d2 82 64 46 07 9f aa 09 14 c2 d7 05 d9 8b 02 a2
             b5 12 9c d1 de 16 4e b9 cb d0 83 e8 a2 50 3c 4e");
        assert_eq!(out.as_slice(), expected.as_slice());
    }

    #[test]
    fn the_stream_crosses_blocks_without_repeating_and_keys_differ() {
        let mut rng = ChaCha20::from_key([7; 32]);
        let mut first = [0u8; 100];
        rng.fill(&mut first);
        // The stream is the blocks for counters 0 and 1, back to back.
        let mut words = [0u32; 8];
        for (word, bytes) in words.iter_mut().zip([7u8; 32].chunks_exact(4)) {
            *word = u32::from_le_bytes(bytes.try_into().unwrap());
        }
        assert_eq!(&first[..64], &block(&words, 0, [0; 3])[..]);
        assert_eq!(&first[64..], &block(&words, 1, [0; 3])[..36]);
        let mut other = ChaCha20::from_key([8; 32]);
        let mut second = [0u8; 100];
        other.fill(&mut second);
        assert_ne!(first, second);
    }

    #[test]
    fn os_keys_give_different_streams() {
        let (mut a, mut b) = (ChaCha20::from_os().unwrap(), ChaCha20::from_os().unwrap());
        let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_ne!(x, y);
        assert_ne!(os_random::<16>().unwrap(), os_random::<16>().unwrap());
    }
}
