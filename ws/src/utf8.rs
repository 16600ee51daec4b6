//! Incremental UTF-8 validation (RFC 3629 §4) for text that arrives in pieces: across frame
//! fragments and across reads, without buffering.
//!
//! The validator fails at the first byte that cannot continue a valid sequence, so a text
//! message is rejected as soon as the offending piece arrives (Autobahn 6.4.x "fail fast").
//! Between calls it remembers only the unfinished sequence: how many continuation bytes are
//! still due and which range the next one must fall in.

/// Input is not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

/// Streaming UTF-8 validator. Feed the pieces of one text in order, then ask
/// [`Utf8Validator::is_complete`] at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Validator {
    /// Continuation bytes still due in the current sequence (0 between characters).
    remaining: u8,
    /// Lowest allowed value of the next continuation byte.
    lower: u8,
    /// Highest allowed value of the next continuation byte.
    upper: u8,
}

impl Default for Utf8Validator {
    fn default() -> Self {
        Self::new()
    }
}

impl Utf8Validator {
    /// A validator at the start of a text.
    pub const fn new() -> Self {
        Utf8Validator {
            remaining: 0,
            lower: 0x80,
            upper: 0xBF,
        }
    }

    /// Validates the next piece of the text. On error the validator's state is unspecified;
    /// start a new one for the next text.
    pub fn feed(&mut self, piece: &[u8]) -> Result<(), InvalidUtf8> {
        // Finish a sequence left open by the previous piece byte by byte...
        let mut rest = piece;
        while self.remaining > 0 {
            let Some((&byte, tail)) = rest.split_first() else {
                return Ok(());
            };
            self.step(byte)?;
            rest = tail;
        }
        // ...then let the standard library's validator (with its ASCII fast path) check the
        // bulk. If it stops at an incomplete but so far valid sequence at the very end, carry
        // that sequence over in the state machine.
        match core::str::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => rest[e.valid_up_to()..]
                .iter()
                .try_for_each(|&byte| self.step(byte)),
        }
    }

    /// Whether the text fed so far ends on a character boundary.
    pub const fn is_complete(&self) -> bool {
        self.remaining == 0
    }

    /// Validates a whole text at once: complete and valid.
    pub fn validate_complete(bytes: &[u8]) -> Result<&str, InvalidUtf8> {
        core::str::from_utf8(bytes).map_err(|_| InvalidUtf8)
    }

    /// One byte through the state machine. The allowed ranges follow the table in RFC 3629 §4,
    /// which excludes overlong forms, surrogates (U+D800–U+DFFF) and values above U+10FFFF.
    fn step(&mut self, byte: u8) -> Result<(), InvalidUtf8> {
        if self.remaining > 0 {
            if byte < self.lower || byte > self.upper {
                return Err(InvalidUtf8);
            }
            self.remaining -= 1;
            self.lower = 0x80;
            self.upper = 0xBF;
            return Ok(());
        }
        let (remaining, lower, upper) = match byte {
            0x00..=0x7F => return Ok(()),
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return Err(InvalidUtf8),
        };
        *self = Utf8Validator {
            remaining,
            lower,
            upper,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate_in_pieces(bytes: &[u8], piece_len: usize) -> Result<bool, InvalidUtf8> {
        let mut v = Utf8Validator::new();
        for piece in bytes.chunks(piece_len.max(1)) {
            v.feed(piece)?;
        }
        Ok(v.is_complete())
    }

    #[test]
    fn accepts_valid_text_split_anywhere() {
        let text = "Hello-µ@ßöäüàá-UTF-8!! κόσμε \u{10FFFF} \u{FFFF} \u{E000}".as_bytes();
        for piece_len in 1..=text.len() {
            assert_eq!(
                validate_in_pieces(text, piece_len),
                Ok(true),
                "piece {piece_len}"
            );
        }
    }

    #[test]
    fn byte_state_machine_agrees_with_std_on_all_short_sequences() {
        // Every 1- and 2-byte input, and every 3-byte input starting with a multi-byte lead,
        // fed one byte at a time (so the hand-written state machine decides every byte).
        let check = |bytes: &[u8]| {
            let std_ok = core::str::from_utf8(bytes).is_ok();
            assert_eq!(
                validate_in_pieces(bytes, 1) == Ok(true),
                std_ok,
                "{bytes:02x?}"
            );
        };
        for a in 0..=255u8 {
            check(&[a]);
            for b in 0..=255u8 {
                check(&[a, b]);
            }
        }
        for a in 0xC0..=0xFFu8 {
            for b in 0x70..=0xC0u8 {
                for c in 0x70..=0xC0u8 {
                    check(&[a, b, c]);
                    check(&[a, b, c, 0x80]);
                    check(&[a, b, c, 0xBF]);
                }
            }
        }
    }

    #[test]
    fn fails_at_first_invalid_byte_of_a_piece() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xce\xba\xe1\xbd"), Ok(()));
        // 0xed 0xa0 opens a surrogate: invalid before the sequence is finished.
        assert_eq!(v.feed(b"\xb9\xcf\x83\xed\xa0"), Err(InvalidUtf8));
    }

    #[test]
    fn rejects_an_invalid_continuation_across_pieces() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"ok\xf4"), Ok(()));
        assert!(!v.is_complete());
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8), "above U+10FFFF");
    }

    #[test]
    fn incomplete_at_end_is_not_complete() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xe2\x82"), Ok(()));
        assert!(!v.is_complete());
        assert_eq!(v.feed(b"\xac"), Ok(()));
        assert!(v.is_complete());
    }

    #[test]
    fn rejects_overlong_surrogates_and_bad_leads() {
        for bad in [
            &b"\xc0\xaf"[..],
            b"\xe0\x80\xaf",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xf5",
            b"\xff",
            b"\x80",
        ] {
            assert_eq!(validate_in_pieces(bad, 1), Err(InvalidUtf8), "{bad:02x?}");
            assert_eq!(
                validate_in_pieces(bad, bad.len()),
                Err(InvalidUtf8),
                "{bad:02x?}"
            );
        }
    }
}
