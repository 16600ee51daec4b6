//! Sending compressed messages (RFC 7692 §7.2.1): a small DEFLATE (RFC 1951) compressor of
//! our own, allocation-free and `no_std`, that honours any agreed window (8–15 bits).
//!
//! Why not a library: `miniz_oxide`'s compressor needs an allocator and ignores window sizes
//! below 32 KiB (its distances reach 32 KiB, which peers that asked for a smaller window
//! reject); `zlib-rs` honours window bits but takes 137–380 KB a compressor and C-style
//! allocation callbacks (unsafe code in this crate). This one takes 8 KiB (a hash table, in
//! the [`Compressor`]) and the caller's output buffer.
//!
//! How: greedy LZ77 with one candidate per 3-byte hash, matches no farther back than
//! 2^max(bits, 9) − 262 bytes (zlib's own limit at that window, so 8 bits is treated as 9 and
//! stays inside 256 bytes), coded with the fixed Huffman codes (RFC 1951 §3.2.6); input that
//! does not shrink is sent in stored blocks. Each call compresses one piece on its own: the
//! compressor never refers to earlier messages (context takeover is the peer's option to use,
//! never our obligation), so `*_no_context_takeover` costs nothing here. The output ends with a
//! sync flush (an empty stored block), whose last four bytes `00 00 ff ff` are removed from a
//! message's last piece (§7.2.1).

use super::params::WindowBits;

const HASH_BITS: u32 = 12;
/// Matches are found within chunks of this many bytes (positions fit in `u16`, one stored
/// block fits a chunk).
const CHUNK: usize = 65_535;
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;

/// The output buffer given to [`Compressor::compress`] cannot hold the result; one of
/// [`max_compressed_len`] bytes always can.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputTooSmall;

/// The largest output [`Compressor::compress`] writes for `len` input bytes: the input in
/// stored blocks (≤ 6 bytes of header and padding per 64 KiB chunk), the few bytes by which a
/// chunk's Huffman attempt may pass that before it is abandoned, and the sync flush.
pub const fn max_compressed_len(len: usize) -> usize {
    len + 10 * (len / CHUNK + 1) + 6
}

/// A DEFLATE compressor for one direction of one connection. See the module doc.
#[derive(Clone)]
pub struct Compressor {
    /// Position + 1 within the current chunk of the last occurrence of each 3-byte hash
    /// (0: none).
    head: [u16; 1 << HASH_BITS],
    max_distance: usize,
}

impl core::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Compressor")
            .field("max_distance", &self.max_distance)
            .finish_non_exhaustive()
    }
}

impl Compressor {
    /// A compressor whose back-references stay within a window of `window_bits` (the
    /// agreement's `send_window_bits`).
    pub fn new(window_bits: WindowBits) -> Self {
        Compressor {
            head: [0; 1 << HASH_BITS],
            max_distance: (1 << window_bits.get().max(9)) - 262,
        }
    }

    /// Compresses `input`, one piece of a message, into `out` and returns the length written.
    /// With `last` the piece ends the message and the trailing `00 00 ff ff` is left out: the
    /// bytes of all the pieces, in order, are the message's compressed payload. An empty last
    /// piece of an empty message is the single byte `00` (RFC 7692 §7.2.3.6).
    pub fn compress(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut [u8],
    ) -> Result<usize, OutputTooSmall> {
        let mut w = BitWriter::new(out);
        for chunk in input.chunks(CHUNK) {
            let saved = w.save();
            if !self.fixed_block(chunk, &mut w)? {
                w.restore(saved);
                stored_block(chunk, &mut w)?;
            }
        }
        // Sync flush: an empty stored block, not final.
        stored_block(&[], &mut w)?;
        let len = w.len();
        Ok(if last { len - 4 } else { len })
    }

    /// Writes `chunk` as one fixed-Huffman block. `Ok(false)` when that would be longer than a
    /// stored block (the caller rewinds and stores it instead).
    fn fixed_block(&mut self, chunk: &[u8], w: &mut BitWriter<'_>) -> Result<bool, OutputTooSmall> {
        // BFINAL 0, BTYPE 01.
        w.put(0b010, 3)?;
        let budget = w.bits() + 8 * (chunk.len() as u64 + 5);
        self.head.fill(0);
        let mut i = 0;
        while i < chunk.len() {
            if w.bits() > budget {
                return Ok(false);
            }
            let found = self.find_match(chunk, i);
            match found {
                Some((len, distance)) => {
                    put_length(w, len)?;
                    put_distance(w, distance)?;
                    for j in i + 1..i + len {
                        self.insert(chunk, j);
                    }
                    i += len;
                }
                None => {
                    put_literal(w, chunk[i])?;
                    i += 1;
                }
            }
        }
        // End of block.
        put_literal_code(w, 256)?;
        Ok(w.bits() <= budget)
    }

    fn hash(bytes: &[u8]) -> usize {
        let v = u32::from(bytes[0]) << 16 | u32::from(bytes[1]) << 8 | u32::from(bytes[2]);
        (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
    }

    fn insert(&mut self, chunk: &[u8], at: usize) {
        if at + MIN_MATCH <= chunk.len() {
            // `at` < CHUNK, so at + 1 fits in u16.
            self.head[Self::hash(&chunk[at..])] = (at + 1) as u16;
        }
    }

    /// The longest match for `chunk[at..]` at the hash's last position, recording `at`.
    fn find_match(&mut self, chunk: &[u8], at: usize) -> Option<(usize, usize)> {
        if at + MIN_MATCH > chunk.len() {
            return None;
        }
        let slot = &mut self.head[Self::hash(&chunk[at..])];
        let candidate = core::mem::replace(slot, (at + 1) as u16);
        let from = usize::from(candidate).checked_sub(1)?;
        let distance = at - from;
        if distance > self.max_distance {
            return None;
        }
        let limit = MAX_MATCH.min(chunk.len() - at);
        let len = chunk[from..]
            .iter()
            .zip(&chunk[at..at + limit])
            .take_while(|(a, b)| a == b)
            .count();
        (len >= MIN_MATCH).then_some((len, distance))
    }
}

/// A stored block (BTYPE 00) holding `chunk` (at most 65,535 bytes), not final.
fn stored_block(chunk: &[u8], w: &mut BitWriter<'_>) -> Result<(), OutputTooSmall> {
    w.put(0b000, 3)?;
    w.align()?;
    let len = chunk.len() as u16;
    w.bytes(&len.to_le_bytes())?;
    w.bytes(&(!len).to_le_bytes())?;
    w.bytes(chunk)
}

/// RFC 1951 §3.2.5: base lengths of codes 257..=285 and their extra bits.
const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// RFC 1951 §3.2.5: base distances of codes 0..=29 and their extra bits.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// The length code index (0..29) for each match length 0..=258 (entries below 3 unused).
const LENGTH_CODE: [u8; MAX_MATCH + 1] = {
    let mut table = [0u8; MAX_MATCH + 1];
    let mut code = 0;
    let mut len = MIN_MATCH;
    while len <= MAX_MATCH {
        while code + 1 < LENGTH_BASE.len() && LENGTH_BASE[code + 1] as usize <= len {
            code += 1;
        }
        table[len] = code as u8;
        len += 1;
    }
    table
};

/// `value` of `len` bits with its bit order reversed: Huffman codes are sent most
/// significant bit first into an LSB-first stream (RFC 1951 §3.1.1).
const fn reverse(value: u16, len: u32) -> u16 {
    value.reverse_bits() >> (16 - len)
}

/// The fixed literal/length code (RFC 1951 §3.2.6): (reversed code, length) per symbol.
const FIXED_LITERAL: [(u16, u8); 288] = {
    let mut table = [(0u16, 0u8); 288];
    let mut symbol = 0;
    while symbol < 288 {
        let (code, len) = match symbol {
            0..=143 => (0x30 + symbol as u16, 8),
            144..=255 => (0x190 + (symbol as u16 - 144), 9),
            256..=279 => (symbol as u16 - 256, 7),
            _ => (0xC0 + (symbol as u16 - 280), 8),
        };
        table[symbol] = (reverse(code, len), len as u8);
        symbol += 1;
    }
    table
};

fn put_literal_code(w: &mut BitWriter<'_>, symbol: usize) -> Result<(), OutputTooSmall> {
    let (code, len) = FIXED_LITERAL[symbol];
    w.put(u64::from(code), u32::from(len))
}

fn put_literal(w: &mut BitWriter<'_>, byte: u8) -> Result<(), OutputTooSmall> {
    put_literal_code(w, usize::from(byte))
}

fn put_length(w: &mut BitWriter<'_>, len: usize) -> Result<(), OutputTooSmall> {
    let code = usize::from(LENGTH_CODE[len]);
    put_literal_code(w, 257 + code)?;
    let extra = u32::from(LENGTH_EXTRA[code]);
    w.put((len - usize::from(LENGTH_BASE[code])) as u64, extra)
}

fn put_distance(w: &mut BitWriter<'_>, distance: usize) -> Result<(), OutputTooSmall> {
    let code = DIST_BASE.partition_point(|&base| usize::from(base) <= distance) - 1;
    // Fixed distance codes are the 5-bit code numbers.
    w.put(u64::from(reverse(code as u16, 5)), 5)?;
    let extra = u32::from(DIST_EXTRA[code]);
    w.put((distance - usize::from(DIST_BASE[code])) as u64, extra)
}

/// Writes bits least significant first into a byte buffer (RFC 1951 §3.1.1).
struct BitWriter<'o> {
    out: &'o mut [u8],
    len: usize,
    acc: u64,
    nbits: u32,
}

/// A position to rewind a [`BitWriter`] to.
#[derive(Clone, Copy)]
struct Saved {
    len: usize,
    acc: u64,
    nbits: u32,
}

impl<'o> BitWriter<'o> {
    fn new(out: &'o mut [u8]) -> Self {
        BitWriter {
            out,
            len: 0,
            acc: 0,
            nbits: 0,
        }
    }

    fn bits(&self) -> u64 {
        self.len as u64 * 8 + u64::from(self.nbits)
    }

    fn put(&mut self, value: u64, count: u32) -> Result<(), OutputTooSmall> {
        self.acc |= value << self.nbits;
        self.nbits += count;
        while self.nbits >= 8 {
            *self.out.get_mut(self.len).ok_or(OutputTooSmall)? = self.acc as u8;
            self.len += 1;
            self.acc >>= 8;
            self.nbits -= 8;
        }
        Ok(())
    }

    /// Pads with zero bits to a byte boundary.
    fn align(&mut self) -> Result<(), OutputTooSmall> {
        let pad = (8 - self.nbits % 8) % 8;
        self.put(0, pad)
    }

    /// Whole bytes, after [`BitWriter::align`].
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), OutputTooSmall> {
        let end = self.len + bytes.len();
        self.out
            .get_mut(self.len..end)
            .ok_or(OutputTooSmall)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Bytes written (call after the final [`BitWriter::align`]).
    fn len(&self) -> usize {
        self.len
    }

    fn save(&self) -> Saved {
        Saved {
            len: self.len,
            acc: self.acc,
            nbits: self.nbits,
        }
    }

    fn restore(&mut self, saved: Saved) {
        self.len = saved.len;
        self.acc = saved.acc;
        self.nbits = saved.nbits;
    }
}
