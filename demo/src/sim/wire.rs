//! The simulated wire between the client stack and tunws: it carries packets both ways and, with
//! `--loss`, drops a seeded share of them, writing a `lost` line for each.
//!
//! Loss lives on the wire, not in tunws, so that the sim knows which packets vanished: a packet
//! tunws sends is traced (`trace … out`) and then lost; a packet the client sends is lost before
//! tunws sees it, so only the `lost … in` line shows it. That is what `tunws --loss` shows over
//! a TUN, plus the `lost` lines, which no program at one end of a real wire can print.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use stack::device::Link;
use stack::device::memory::MemoryLink;
use stack::middleware::{Direction, trace};

use super::Lines;

/// The client's end of the wire: what it sends goes `in` to tunws, what it receives came `out`.
pub(super) struct LossyWire {
    inner: MemoryLink,
    /// Share of packets dropped, in millionths.
    loss_ppm: u64,
    /// xorshift64 state: a fixed sequence per seed, so a lossy run repeats exactly.
    state: u64,
    lines: Lines,
    /// The virtual clock's reading (microseconds), set by the sim's loop.
    now: Arc<AtomicI64>,
}

impl LossyWire {
    pub(super) fn new(
        inner: MemoryLink,
        loss_percent: f64,
        seed: u64,
        lines: Lines,
        now: Arc<AtomicI64>,
    ) -> Self {
        LossyWire {
            inner,
            loss_ppm: (loss_percent * 10_000.0).round() as u64,
            // Any seed, 0 included, must give a non-zero state.
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            lines,
            now,
        }
    }

    /// Decides whether this packet is lost, and writes its `lost` line if so.
    fn loses(&mut self, direction: Direction, packet: &[u8]) -> bool {
        if self.loss_ppm == 0 {
            return false;
        }
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        if self.state % 1_000_000 >= self.loss_ppm {
            return false;
        }
        let mut line = String::new();
        let now = stack::Instant::from_micros(self.now.load(Ordering::Relaxed));
        trace::describe(&mut line, direction, packet, now);
        // "trace" and "lost " have the same width: the columns stay aligned.
        self.lines.push(line.replacen("trace", "lost ", 1));
        true
    }
}

impl Link for LossyWire {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        while let Some(n) = self.inner.recv(buf)? {
            if !self.loses(Direction::Egress, &buf[..n]) {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        if self.loses(Direction::Ingress, packet) {
            return Ok(());
        }
        self.inner.send(packet)
    }

    fn mtu(&self) -> usize {
        self.inner.mtu()
    }

    fn fd(&self) -> Option<RawFd> {
        None
    }
}
