//! The bounded per-connection queue of bytes waiting for room in the TCP send buffer.
//!
//! Whole frames (or whole HTTP responses) go in; bytes come out as fast as the socket takes
//! them. The queue never splits or reorders what was pushed, so a frame queued here reaches
//! the wire intact and in order, or the connection is closed — nothing is dropped silently.

use std::collections::VecDeque;

/// Capacity kept after a big message drained: large enough for everyday traffic, small
/// enough that a thousand idle connections stay cheap.
const RETAINED_CAPACITY: usize = 64 * 1024;

/// Bytes accepted for sending but not yet taken by the TCP socket.
#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    bytes: VecDeque<u8>,
}

impl OutQueue {
    /// An empty queue.
    pub(crate) fn new() -> Self {
        OutQueue {
            bytes: VecDeque::new(),
        }
    }

    /// Bytes waiting.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether everything pushed has been handed to the socket.
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Appends `parts` back to back (for example a frame header and its payload).
    pub(crate) fn push(&mut self, parts: &[&[u8]]) {
        for part in parts {
            // `&u8` items from a slice iterator take the memcpy path of VecDeque::extend.
            self.bytes.extend(part.iter());
        }
    }

    /// Hands queued bytes to `sink` until it takes fewer than offered (socket full) or the
    /// queue is empty. `sink` returns how many bytes it accepted. Returns the bytes written.
    pub(crate) fn drain_into<E>(
        &mut self,
        mut sink: impl FnMut(&[u8]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        let mut total = 0;
        while !self.bytes.is_empty() {
            let (front, _) = self.bytes.as_slices();
            let offered = front.len();
            let taken = sink(front)?.min(offered);
            self.bytes.drain(..taken);
            total += taken;
            if taken < offered {
                break;
            }
        }
        if self.bytes.is_empty() && self.bytes.capacity() > RETAINED_CAPACITY {
            self.bytes.shrink_to(RETAINED_CAPACITY);
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_in_order_across_partial_writes() {
        let mut q = OutQueue::new();
        q.push(&[b"hello ", b"world"]);
        q.push(&[b"!"]);
        assert_eq!(q.len(), 12);
        let mut wire = Vec::new();
        // A socket that takes at most 5 bytes per call, then is full.
        let mut room = 5;
        let written = q
            .drain_into::<()>(|b| {
                let n = b.len().min(room);
                room -= n;
                wire.extend_from_slice(&b[..n]);
                Ok(n)
            })
            .unwrap();
        assert_eq!((written, q.len()), (5, 7));
        q.drain_into::<()>(|b| {
            wire.extend_from_slice(b);
            Ok(b.len())
        })
        .unwrap();
        assert!(q.is_empty());
        assert_eq!(wire, b"hello world!");
    }

    #[test]
    fn errors_keep_the_bytes() {
        let mut q = OutQueue::new();
        q.push(&[b"abc"]);
        assert_eq!(q.drain_into(|_| Err("reset")), Err("reset"));
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn big_buffers_are_released_once_drained() {
        let mut q = OutQueue::new();
        q.push(&[&vec![7u8; 4 * RETAINED_CAPACITY]]);
        q.drain_into::<()>(|b| Ok(b.len())).unwrap();
        assert!(q.is_empty());
        assert!(q.bytes.capacity() <= 2 * RETAINED_CAPACITY);
    }
}
