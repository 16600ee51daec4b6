//! The buffer a session assembles messages (or streamed pieces) in, written once per payload
//! byte: the engine's `read_into` copies each byte from the TCP receive ring and unmasks it in
//! the same pass, straight into [`MessageBuf::spare`].

/// Above this, storage a large message grew is given back once the message is delivered.
const KEEP: usize = 64 * 1024;

/// Storage that only grows (its new part is zero-filled once, when it grows), and the length
/// of the message assembled at its start. Reused from message to message, so steady traffic
/// writes each payload byte once and allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct MessageBuf {
    storage: Vec<u8>,
    len: usize,
}

impl MessageBuf {
    /// The message assembled so far.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.storage[..self.len]
    }

    /// Starts a new message.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Room for at least `want` more bytes after the message, to write into and then
    /// [`MessageBuf::commit`].
    pub(crate) fn spare(&mut self, want: usize) -> &mut [u8] {
        let need = self.len.saturating_add(want);
        if self.storage.len() < need {
            self.storage.resize(need, 0);
        }
        &mut self.storage[self.len..]
    }

    /// Adds the first `n` bytes of the last [`MessageBuf::spare`] to the message.
    pub(crate) fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.storage.len());
    }

    /// Ends a delivered message: keeps everyday storage, releases what a large one grew.
    pub(crate) fn recycle(&mut self) {
        self.len = 0;
        if self.storage.len() > KEEP {
            self.storage.truncate(KEEP);
            self.storage.shrink_to(KEEP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_written_into_spare_and_committed_form_the_message() {
        let mut buf = MessageBuf::default();
        buf.spare(3)[..3].copy_from_slice(b"abc");
        buf.commit(3);
        let spare = buf.spare(2);
        assert!(spare.len() >= 2);
        spare[..2].copy_from_slice(b"de");
        buf.commit(2);
        assert_eq!(buf.as_slice(), b"abcde");
        buf.clear();
        assert_eq!(buf.as_slice(), b"");
        buf.spare(1)[0] = b'x';
        buf.commit(1);
        assert_eq!(buf.as_slice(), b"x");
    }

    #[test]
    fn recycling_keeps_everyday_storage_and_drops_a_large_message() {
        let mut buf = MessageBuf::default();
        buf.spare(1000);
        buf.commit(1000);
        buf.recycle();
        assert_eq!(buf.as_slice(), b"");
        assert_eq!(
            buf.storage.len(),
            1000,
            "kept: no zero-fill for the next message"
        );
        buf.spare(1 << 20);
        buf.commit(1 << 20);
        buf.recycle();
        assert_eq!(buf.storage.len(), KEEP);
        assert!(buf.storage.capacity() <= 2 * KEEP);
    }
}
