//! The bounded per-connection queue of bytes waiting for room in the TCP send buffer.
//!
//! Whole frames (or whole HTTP responses) go in; bytes come out as fast as the socket takes
//! them. The queue never splits or reorders what was pushed, so a frame queued here reaches
//! the wire intact and in order, or the connection is closed — nothing is dropped silently.

use std::collections::VecDeque;

// The queue holds only what did not fit in the TCP send buffer (a frame goes straight into
// the buffer while nothing is queued), so it is empty most of the time. Once it drains, its
// room is given back: a burst (a chat's join storm: a presence packet from every other client)
// would otherwise leave each of a thousand idle connections holding a few KiB it never uses
// again. Refilling it costs one allocation per burst that outgrows the send buffer.
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
        if self.bytes.is_empty() && self.bytes.capacity() > 0 {
            self.bytes = VecDeque::new();
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
    fn room_is_given_back_once_drained() {
        for size in [45, 256 * 1024] {
            let mut q = OutQueue::new();
            q.push(&[&vec![7u8; size]]);
            // A partial drain keeps the rest and its room.
            q.drain_into::<()>(|b| Ok(b.len().min(10))).unwrap();
            assert_eq!(q.len(), size - 10);
            assert!(q.bytes.capacity() >= size - 10);
            q.drain_into::<()>(|b| Ok(b.len())).unwrap();
            assert!(q.is_empty());
            assert_eq!(q.bytes.capacity(), 0, "after {size} bytes");
        }
    }
}
