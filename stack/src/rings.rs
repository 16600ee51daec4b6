//! Storage for the sockets' receive and transmit rings: one anonymous mapping for all of them.
//!
//! Each socket holds a 64 KiB receive ring and a 64 KiB transmit ring by default, but an idle
//! WebSocket uses a few hundred bytes of each (the request and the 101). Taken from `malloc`,
//! how much of a ring becomes resident depends on the allocator (glibc carves some 64 KiB
//! requests out of the heap and zeroes them, others are fresh mappings), and a recycled socket
//! keeps every page its last connection touched. Here every socket owns a page-aligned
//! [`Slot`] of one `mmap(MAP_NORESERVE)` reservation: a page becomes resident only when a byte
//! of it is written, and [`RingArena::trim`] gives a slot's pages back to the kernel
//! (`MADV_DONTNEED`) when its connection is over. [`RingArena::trim_tx`] gives back the
//! transmit ring of a live connection whose send queue stayed empty (see `net/idle_rings.rs`):
//! a burst of sends would otherwise keep every page it touched resident for the connection's
//! life.
//!
//! A slot reserves room for a receive ring of up to `rx_max` bytes (address space, not memory):
//! sockets take `rx` bytes of it by default, and a listener that asks for bulk-sized rings
//! (`Net::listen_with`) gets its sockets rebuilt over more of the same slot
//! ([`RingArena::rings`]), so one arena serves both sizes and a slot never moves.
//!
//! The slices handed out are `'static` so smoltcp's sockets can hold them; they are not, so
//! [`RingArena::take`] and [`RingArena::rings`] are `unsafe fn`s whose `# Safety` sections
//! state the contract. The
//! arena is owned by [`crate::Net`] behind its shards, which own every socket: Rust drops
//! struct fields in declaration order, so all sockets are gone before the mapping is unmapped
//! (see the field order note in `Net`). Nothing else may keep a slice.

use std::io;
use std::ptr::NonNull;

/// A socket's place in the arena: its rings are up to `rx_max` then `tx` bytes from
/// `index * stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(u32);

/// One reservation split into `slots` equal, page-aligned slots of a receive and a transmit
/// ring each. See the module doc.
pub struct RingArena {
    base: NonNull<u8>,
    /// Bytes reserved: `slots * stride`.
    len: usize,
    stride: usize,
    /// Default receive ring length.
    rx: usize,
    /// Largest receive ring a slot holds (its reserved room).
    rx_max: usize,
    tx: usize,
    /// Slots never handed out are `next..slots`; returned ones wait here.
    free: Vec<Slot>,
    next: u32,
    slots: u32,
}

impl RingArena {
    /// Reserves address space (not memory) for `slots` sockets with rings of `rx` (up to
    /// `rx_max`, raised to `rx`) and `tx` bytes. Nothing is resident until written.
    pub fn new(slots: usize, rx: usize, rx_max: usize, tx: usize) -> io::Result<Self> {
        let page = page_size();
        let rx_max = rx_max.max(rx);
        let stride = rx_max
            .max(1)
            .next_multiple_of(page)
            .checked_add(tx.max(1).next_multiple_of(page))
            .ok_or_else(too_big)?;
        let count = u32::try_from(slots.max(1)).map_err(|_| too_big())?;
        let len = stride.checked_mul(count as usize).ok_or_else(too_big)?;
        // SAFETY: a fresh private anonymous mapping: no address hint, no file; the result is
        // checked against MAP_FAILED before use.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(addr.cast::<u8>()).ok_or_else(too_big)?;
        Ok(RingArena {
            base,
            len,
            stride,
            rx,
            rx_max,
            tx,
            free: Vec::new(),
            next: 0,
            slots: count,
        })
    }

    /// Slots not handed out.
    pub fn available(&self) -> usize {
        self.free.len() + (self.slots - self.next) as usize
    }

    /// The default receive ring length.
    pub fn rx(&self) -> usize {
        self.rx
    }

    /// The largest receive ring a slot holds.
    pub fn rx_max(&self) -> usize {
        self.rx_max
    }

    /// A slot and its two rings (receive of the default length, transmit), or `None` when
    /// every slot is in use. A returned slot reads as zeros until written (it was trimmed when
    /// given back).
    ///
    /// # Safety
    ///
    /// The slices are not `'static`: they point into the mapping, which [`Drop`] unmaps. The
    /// caller must stop using them (drop whatever holds them) before the arena is dropped and
    /// before it passes this slot to [`RingArena::give_back`]; [`RingArena::trim`] only zeroes
    /// them. In the stack, the census owns the arena and `Net` declares its shards (which own
    /// every socket holding a slice) before the census, so the sockets drop first.
    pub unsafe fn take(&mut self) -> Option<(Slot, &'static mut [u8], &'static mut [u8])> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None if self.next < self.slots => {
                self.next += 1;
                Slot(self.next - 1)
            }
            None => return None,
        };
        // SAFETY: the slot was free, so no slice of it is alive; the rest is this function's
        // own contract, passed on.
        let (rx, tx) = unsafe { self.rings(slot, self.rx) };
        Some((slot, rx, tx))
    }

    /// The rings of `slot`, which the caller holds (from [`RingArena::take`]), again: a
    /// receive ring of `rx` bytes (clamped to `1..=rx_max`) and the transmit ring. For
    /// rebuilding a closed socket with a receive ring of another size; the bytes are what the
    /// slot holds (zeros, or what the last socket wrote).
    ///
    /// # Safety
    ///
    /// As for [`RingArena::take`], and in addition no slice of `slot` handed out before may be
    /// alive: drop the socket that held them first (replace it with one over empty buffers).
    pub unsafe fn rings(&self, slot: Slot, rx: usize) -> (&'static mut [u8], &'static mut [u8]) {
        debug_assert!(slot.0 < self.next);
        let rx = rx.clamp(1, self.rx_max);
        let start = slot.0 as usize * self.stride;
        let tx_start = start + self.stride - self.tx.max(1).next_multiple_of(page_size());
        // SAFETY: `start + rx <= start + rx_max <= tx_start` and `tx_start + tx <= start +
        // stride <= len`, so both ranges lie inside the mapping and do not overlap each other
        // or any other slot; a slot is handed out once until `give_back`, and its earlier
        // slices are dead (the caller's contract). That the slices are not used after
        // `give_back` or after the arena drops is the caller's contract too. Anonymous memory
        // is always initialised (zeros or what was written).
        unsafe {
            let rx = std::slice::from_raw_parts_mut(self.base.as_ptr().add(start), rx);
            let tx = std::slice::from_raw_parts_mut(self.base.as_ptr().add(tx_start), self.tx);
            (rx, tx)
        }
    }

    /// Gives the pages of `slot` back to the kernel; they read as zeros afterwards. For a socket
    /// whose connection is over (its rings hold nothing anyone will read).
    pub fn trim(&self, slot: Slot) {
        self.release(slot.0 as usize * self.stride, self.stride);
    }

    /// Gives the pages of `slot`'s transmit ring back to the kernel; they read as zeros
    /// afterwards, the receive ring is left alone. For a live connection whose send queue is
    /// empty: smoltcp keeps no byte of an empty transmit ring (nothing is unacknowledged, and
    /// the next `send` starts writing at the ring's start again), so every page may go.
    pub fn trim_tx(&self, slot: Slot) {
        let tx_pages = self.tx.max(1).next_multiple_of(page_size());
        let start = slot.0 as usize * self.stride + self.stride - tx_pages;
        self.release(start, tx_pages);
    }

    /// `MADV_DONTNEED` on `len` bytes at offset `start` of the mapping.
    fn release(&self, start: usize, len: usize) {
        debug_assert!(start % page_size() == 0 && start + len <= self.len);
        // SAFETY: callers pass a page-aligned range of one slot, inside the mapping;
        // MADV_DONTNEED on private anonymous memory only replaces its contents with zeros,
        // which is what they ask for (rings whose bytes nobody will read again).
        let rc = unsafe {
            libc::madvise(
                self.base.as_ptr().add(start).cast(),
                len,
                libc::MADV_DONTNEED,
            )
        };
        if rc != 0 {
            log::warn!(
                "rings: madvise(MADV_DONTNEED): {}",
                io::Error::last_os_error()
            );
        }
    }

    /// Returns `slot` for reuse. The socket that held its rings must be dropped already.
    pub fn give_back(&mut self, slot: Slot) {
        debug_assert!(slot.0 < self.next && !self.free.contains(&slot));
        self.trim(slot);
        self.free.push(slot);
    }
}

impl Drop for RingArena {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly the mapping made in `new`; no slice outlives the
        // arena (module doc).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

impl std::fmt::Debug for RingArena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingArena")
            .field("slots", &self.slots)
            .field("available", &self.available())
            .field("rx", &self.rx)
            .field("rx_max", &self.rx_max)
            .field("tx", &self.tx)
            .finish()
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .unwrap_or(4096)
}

fn too_big() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "socket ring reservation too large",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resident pages of `bytes` at `ptr`, from mincore(2).
    fn resident_pages(ptr: *const u8, bytes: usize) -> usize {
        let page = page_size();
        let start = (ptr as usize) & !(page - 1);
        let pages = (ptr as usize + bytes - start).div_ceil(page);
        let mut vec = vec![0u8; pages];
        // SAFETY: the range is inside a live mapping; `vec` has one byte per page.
        let rc = unsafe { libc::mincore(start as *mut _, pages * page, vec.as_mut_ptr()) };
        assert_eq!(rc, 0, "mincore: {}", io::Error::last_os_error());
        vec.iter().filter(|&&b| b & 1 == 1).count()
    }

    #[test]
    fn slots_are_disjoint_page_aligned_and_run_out() {
        let mut arena = RingArena::new(3, 1000, 1000, 5000).unwrap();
        let mut seen = Vec::new();
        for fill in 1..=3u8 {
            // SAFETY: the slices are used only while `arena` lives, and not after `give_back`.
            let (slot, rx, tx) = unsafe { arena.take() }.unwrap();
            assert_eq!((rx.len(), tx.len()), (1000, 5000));
            assert_eq!(rx.as_ptr() as usize % page_size(), 0);
            assert_eq!(tx.as_ptr() as usize % page_size(), 0);
            assert!(
                rx.iter().chain(tx.iter()).all(|&b| b == 0),
                "fresh rings read as zeros"
            );
            rx.fill(fill);
            tx.fill(fill);
            seen.push((slot, rx, tx));
        }
        // SAFETY: nothing is taken.
        assert!(
            unsafe { arena.take() }.is_none(),
            "three slots, three sockets"
        );
        assert_eq!(arena.available(), 0);
        for (i, (_, rx, tx)) in seen.iter().enumerate() {
            let fill = i as u8 + 1;
            assert!(
                rx.iter().chain(tx.iter()).all(|&b| b == fill),
                "slot {i} was overwritten"
            );
        }
    }

    #[test]
    fn only_written_pages_are_resident_and_trim_gives_them_back() {
        let mut arena = RingArena::new(4, 64 * 1024, 64 * 1024, 64 * 1024).unwrap();
        // SAFETY: the slices are used only while `arena` lives, and not after `give_back`.
        let (slot, rx, tx) = unsafe { arena.take() }.unwrap();
        assert_eq!(resident_pages(rx.as_ptr(), rx.len()), 0);
        rx[..300].fill(7);
        tx[..100].fill(9);
        assert_eq!(resident_pages(rx.as_ptr(), rx.len()), 1);
        assert_eq!(resident_pages(tx.as_ptr(), tx.len()), 1);
        rx.fill(1);
        assert_eq!(
            resident_pages(rx.as_ptr(), rx.len()),
            64 * 1024 / page_size()
        );
        arena.trim(slot);
        assert_eq!(resident_pages(rx.as_ptr(), rx.len()), 0);
        assert_eq!(resident_pages(tx.as_ptr(), tx.len()), 0);
        assert!(rx.iter().all(|&b| b == 0), "a trimmed ring reads as zeros");
    }

    /// Resident bytes of the whole process, from /proc/self/statm (field 2, in pages).
    fn process_rss() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * page_size()
    }

    #[test]
    fn trim_tx_gives_back_the_transmit_ring_only() {
        const SLOTS: usize = 64;
        let mut arena = RingArena::new(SLOTS, 64 * 1024, 64 * 1024, 64 * 1024).unwrap();
        let mut rings = Vec::new();
        for _ in 0..SLOTS {
            // SAFETY: the slices are used only while `arena` lives; no slot is given back.
            let (slot, rx, tx) = unsafe { arena.take() }.unwrap();
            rx[..100].fill(3);
            // A presence burst that left the whole transmit ring touched.
            tx.fill(5);
            rings.push((slot, rx, tx));
        }
        let tx_pages = 64 * 1024 / page_size();
        for (_, rx, tx) in &rings {
            assert_eq!(resident_pages(rx.as_ptr(), rx.len()), 1);
            assert_eq!(resident_pages(tx.as_ptr(), tx.len()), tx_pages);
        }
        let before = process_rss();
        for (slot, _, _) in &rings {
            arena.trim_tx(*slot);
        }
        let after = process_rss();
        for (_, rx, tx) in &rings {
            assert_eq!(resident_pages(tx.as_ptr(), tx.len()), 0);
            assert_eq!(resident_pages(rx.as_ptr(), rx.len()), 1, "rx is left alone");
            assert!(rx[..100].iter().all(|&b| b == 3), "rx keeps its bytes");
            assert!(tx.iter().all(|&b| b == 0), "a trimmed ring reads as zeros");
        }
        // 64 × 64 KiB = 4 MiB left the process; allow other threads' noise of 1 MiB.
        let freed = before.saturating_sub(after);
        assert!(
            freed >= SLOTS * 64 * 1024 - 1024 * 1024,
            "RSS fell by {freed} B only ({before} → {after})"
        );
    }

    #[test]
    fn a_slot_rebuilt_with_its_largest_receive_ring_stays_inside_the_slot() {
        let mut arena = RingArena::new(2, 4096, 16 * 1024, 8192).unwrap();
        // SAFETY: the slices are used only while `arena` lives; each slot's first slices are
        // dead (not used again) before `rings` hands out new ones.
        let (first, rx, _) = unsafe { arena.take() }.unwrap();
        assert_eq!(rx.len(), 4096, "take gives the default length");
        let (second, _, other_tx) = unsafe { arena.take() }.unwrap();
        other_tx.fill(0x22);
        let (rx, tx) = unsafe { arena.rings(first, 1 << 20) };
        assert_eq!((rx.len(), tx.len()), (16 * 1024, 8192), "clamped to rx_max");
        rx.fill(0x11);
        assert!(tx.iter().all(|&b| b == 0), "the larger ring ends before tx");
        let (other_rx, other_tx) = unsafe { arena.rings(second, 0) };
        assert_eq!(other_rx.len(), 1, "clamped to one byte");
        assert_eq!(
            other_rx[0], 0,
            "the next slot starts after the first one's rings"
        );
        assert!(other_tx.iter().all(|&b| b == 0x22));
    }

    #[test]
    fn a_slot_given_back_is_reused_trimmed() {
        let mut arena = RingArena::new(1, 4096, 4096, 4096).unwrap();
        // SAFETY: `rx` is not used after `give_back` (it is shadowed below).
        let (slot, rx, _) = unsafe { arena.take() }.unwrap();
        let at = rx.as_ptr();
        rx.fill(0xAA);
        arena.give_back(slot);
        assert_eq!(arena.available(), 1);
        // SAFETY: used only while `arena` lives.
        let (again, rx, _) = unsafe { arena.take() }.unwrap();
        assert_eq!((again, rx.as_ptr()), (slot, at));
        assert!(rx.iter().all(|&b| b == 0));
    }
}
