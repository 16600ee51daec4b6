//! The memory the io_uring path reads into and writes from: the provided-buffer ring of the
//! multishot read and the arena of queued writes (see [`super`]).

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types;

use super::{MAX_READ_BUFFERS, MIN_READ_BUFFERS, READ_MEMORY, WRITE_ARENA};

/// The provided-buffer ring and the buffers it hands to the multishot read.
pub(super) struct ReadBuffers {
    /// `count` ring entries, page-aligned (mmap), shared with the kernel.
    ring: *mut types::BufRingEntry,
    /// Buffers (a power of two).
    pub(super) count: u16,
    memory: Vec<u8>,
    buf_len: usize,
    /// The ring's tail as this side last published it.
    tail: u16,
}

// SAFETY: the ring memory is owned by this struct alone (and the kernel); nothing aliases it
// across threads.
unsafe impl Send for ReadBuffers {}

impl ReadBuffers {
    pub(super) fn new(buf_len: usize) -> io::Result<ReadBuffers> {
        let fit = (READ_MEMORY / buf_len.max(1)).clamp(MIN_READ_BUFFERS, MAX_READ_BUFFERS);
        // The largest power of two not above `fit` (both bounds are powers of two).
        let count = 1u16 << (usize::BITS - 1 - fit.leading_zeros());
        let ring_bytes = usize::from(count) * std::mem::size_of::<types::BufRingEntry>();
        // SAFETY: an anonymous private mapping; checked for failure below.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut reads = ReadBuffers {
            ring: ring.cast(),
            count,
            memory: vec![0; buf_len * usize::from(count)],
            buf_len,
            tail: 0,
        };
        for bid in 0..count {
            reads.give_back(bid);
        }
        Ok(reads)
    }

    pub(super) fn ring_addr(&self) -> u64 {
        self.ring as u64
    }

    pub(super) fn buffer(&self, bid: u16) -> &[u8] {
        let start = usize::from(bid % self.count) * self.buf_len;
        &self.memory[start..start + self.buf_len]
    }

    /// Buffer `bid`, writable: only while the kernel does not own it (taken from a completion
    /// and not yet given back).
    pub(super) fn buffer_mut(&mut self, bid: u16) -> &mut [u8] {
        let start = usize::from(bid % self.count) * self.buf_len;
        &mut self.memory[start..start + self.buf_len]
    }

    /// Hands buffer `bid` to the kernel again (published at once).
    pub(super) fn give_back(&mut self, bid: u16) {
        let bid = bid % self.count;
        let index = usize::from(self.tail % self.count);
        let addr = self.memory.as_ptr() as u64 + (usize::from(bid) * self.buf_len) as u64;
        // SAFETY: `index` < `count` entries of the mapping; the kernel reads only entries
        // between its head and the published tail, and this one is past the tail until the
        // store below. The tail shares memory with entry 0's reserved field, which the setters
        // do not touch, and is written atomically (the kernel reads it with acquire).
        unsafe {
            let entry = &mut *self.ring.add(index);
            entry.set_addr(addr);
            entry.set_len(self.buf_len as u32);
            entry.set_bid(bid);
            self.tail = self.tail.wrapping_add(1);
            let tail = types::BufRingEntry::tail(self.ring) as *mut u16;
            AtomicU16::from_ptr(tail).store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for ReadBuffers {
    fn drop(&mut self) {
        let ring_bytes = usize::from(self.count) * std::mem::size_of::<types::BufRingEntry>();
        // SAFETY: the mapping made in `new`, unmapped once; the io_uring that used it is gone.
        unsafe {
            libc::munmap(self.ring.cast(), ring_bytes);
        }
    }
}

/// The frames written and not yet completed, packed one after the other.
pub(super) struct WriteArena {
    memory: Vec<u8>,
    /// Bytes taken since the arena last started over.
    used: usize,
    /// Writes submitted or queued whose completion has not been reaped.
    pub(super) in_flight: usize,
    /// Writes queued since the last submit.
    pub(super) queued: usize,
    /// Bytes of room the last `slot` gave, not yet taken.
    slot: usize,
}

impl WriteArena {
    pub(super) fn new() -> WriteArena {
        WriteArena {
            memory: vec![0; WRITE_ARENA],
            used: 0,
            in_flight: 0,
            queued: 0,
            slot: 0,
        }
    }

    /// Whether `len` bytes fit now (after the arena starts over when nothing is in flight).
    pub(super) fn fits(&self, len: usize) -> bool {
        self.in_flight == 0 || self.used + len <= self.memory.len()
    }

    /// Room for `len` bytes after the frames in flight (the arena starts over when none
    /// is); `None` when it does not fit. Taken only by [`WriteArena::take`].
    pub(super) fn slot(&mut self, len: usize) -> Option<&mut [u8]> {
        if self.in_flight == 0 {
            self.used = 0;
        }
        let end = self.used.checked_add(len)?;
        self.slot = len;
        self.memory.get_mut(self.used..end)
    }

    /// Takes the first `len` bytes of the last [`WriteArena::slot`] as a frame in flight;
    /// `None` when `len` is more than that room.
    pub(super) fn take(&mut self, len: usize) -> Option<&[u8]> {
        if len > self.slot {
            return None;
        }
        let start = self.used;
        self.used += len;
        self.slot = 0;
        self.in_flight += 1;
        self.queued += 1;
        Some(&self.memory[start..start + len])
    }

    /// One write completed.
    pub(super) fn complete(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }
}
