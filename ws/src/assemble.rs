//! Whole-message assembly for applications that want complete messages rather than pieces
//! (feature `alloc`). The engine itself never buffers messages; this collects the pieces of
//! [`crate::Event::Data`] in one growable buffer, reused from message to message.
//!
//! The size limit is the connection's [`crate::Config::max_message_size`]: the connection
//! fails a larger message before its pieces could make the buffer grow past it.

extern crate alloc;

use alloc::vec::Vec;

use crate::frame::MessageKind;

/// Collects data pieces into whole messages.
#[derive(Debug, Clone, Default)]
pub struct MessageAssembler {
    kind: Option<MessageKind>,
    buffer: Vec<u8>,
}

impl MessageAssembler {
    /// An empty assembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one piece, with the fields of [`crate::Event::Data`]. Returns the whole message
    /// once the piece with `fin` arrives; it stays borrowed from the assembler until the next
    /// call.
    pub fn push(
        &mut self,
        kind: MessageKind,
        piece: &[u8],
        first: bool,
        fin: bool,
    ) -> Option<(MessageKind, &[u8])> {
        if first {
            self.buffer.clear();
            self.kind = Some(kind);
        }
        self.buffer.extend_from_slice(piece);
        if !fin {
            return None;
        }
        let kind = self.kind.take()?;
        Some((kind, &self.buffer))
    }

    /// Bytes of the unfinished message collected so far.
    pub fn pending_len(&self) -> usize {
        if self.kind.is_some() {
            self.buffer.len()
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_pieces_and_reuses_the_buffer() {
        let mut assembler = MessageAssembler::new();
        assert_eq!(assembler.push(MessageKind::Text, b"Hel", true, false), None);
        assert_eq!(assembler.pending_len(), 3);
        assert_eq!(
            assembler.push(MessageKind::Text, b"lo", false, true),
            Some((MessageKind::Text, &b"Hello"[..]))
        );
        assert_eq!(assembler.pending_len(), 0);
        assert_eq!(
            assembler.push(MessageKind::Binary, b"\x00", true, true),
            Some((MessageKind::Binary, &b"\x00"[..]))
        );
    }

    #[test]
    fn a_piece_without_a_first_is_not_a_message() {
        let mut assembler = MessageAssembler::new();
        assert_eq!(assembler.push(MessageKind::Text, b"lo", false, true), None);
    }
}
