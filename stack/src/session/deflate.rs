//! permessage-deflate (RFC 7692) for one [`super::Session`]: the inflater and the
//! compressor of `ws::deflate`, with their memory allocated when first used.
//!
//! Memory: nothing until a compressed message arrives or a message is sent; then the inflater
//! (its window, 2^`receive_window_bits` bytes, 32 KiB by default, and ~11 KB of decoder state)
//! and the compressor (8 KiB of hash table, plus an output buffer as large as the largest
//! piece sent, shrunk back after large ones). Both stay for the connection's life.

use ws::deflate::{Agreement, Compressor, Inflater, max_compressed_len};

/// Capacity kept in the compressed-output buffer between messages.
const KEEP_OUTPUT: usize = 64 * 1024;

/// The agreed parameters and, once used, the inflater and compressor.
pub(crate) struct Deflate {
    agreement: Agreement,
    inflater: Option<Box<Inflater<Box<[u8]>>>>,
    compressor: Option<Box<Compressor>>,
    output: Vec<u8>,
}

impl Deflate {
    pub(crate) fn new(agreement: Agreement) -> Self {
        Deflate {
            agreement,
            inflater: None,
            compressor: None,
            output: Vec::new(),
        }
    }

    /// What the handshake agreed.
    pub(crate) fn agreement(&self) -> Agreement {
        self.agreement
    }

    /// Whether the inflater has more of a message to hand out without more input.
    pub(crate) fn wants_read(&self) -> bool {
        self.inflater.as_ref().is_some_and(|i| i.wants_read())
    }

    /// The inflater, made on first use.
    pub(crate) fn inflater(&mut self) -> &mut Inflater<Box<[u8]>> {
        let agreement = self.agreement;
        self.inflater.get_or_insert_with(|| {
            let window = vec![0u8; agreement.receive_window_bits.bytes()].into_boxed_slice();
            // Cannot fail: the window has exactly the agreed size, a power of two.
            Box::new(Inflater::new(window, &agreement).expect("window of the agreed size"))
        })
    }

    /// Compresses one piece of an outgoing message (`last`: it ends the message) and returns
    /// the bytes to send as that frame's payload.
    pub(crate) fn compress(&mut self, piece: &[u8], last: bool) -> &[u8] {
        let bits = self.agreement.send_window_bits;
        let compressor = self
            .compressor
            .get_or_insert_with(|| Box::new(Compressor::new(bits)));
        if self.output.capacity() > KEEP_OUTPUT {
            self.output = Vec::new();
        }
        self.output.resize(max_compressed_len(piece.len()), 0);
        // Cannot fail: the buffer has the size max_compressed_len guarantees.
        let n = compressor
            .compress(piece, last, &mut self.output)
            .expect("output of max_compressed_len");
        &self.output[..n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ws::deflate::WindowBits;

    #[test]
    fn memory_comes_when_used() {
        let bits = WindowBits::new(10).unwrap();
        let mut deflate = Deflate::new(Agreement {
            send_window_bits: bits,
            send_no_context_takeover: false,
            receive_window_bits: bits,
            receive_no_context_takeover: false,
        });
        assert!(deflate.inflater.is_none() && deflate.compressor.is_none());
        assert_eq!(deflate.compress(b"", true), [0x00]);
        assert!(deflate.compressor.is_some());
        let _ = deflate.inflater();
        assert!(deflate.inflater.is_some());
        let big = vec![7u8; 1 << 20];
        assert!(deflate.compress(&big, true).len() < big.len() / 10);
        let _ = deflate.compress(b"x", true);
        assert!(deflate.output.capacity() <= KEEP_OUTPUT);
    }
}
