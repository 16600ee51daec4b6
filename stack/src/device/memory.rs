//! Two links wired back to back in memory, for deterministic tests without root.
//!
//! What one end sends, the other end receives, in order, with nothing lost (loss comes from the
//! middleware or from a test's own `Link` wrapper). Packet buffers are recycled.

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, PoisonError};

use super::Link;

#[derive(Default)]
struct Wire {
    /// Packets in flight, indexed by the receiving end (0 = first end of the pair).
    queues: [VecDeque<Vec<u8>>; 2],
    /// Buffers of packets already received, reused by later sends.
    spare: Vec<Vec<u8>>,
}

/// One end of an in-memory pair made by [`pair`].
pub struct MemoryLink {
    wire: Arc<Mutex<Wire>>,
    end: usize,
    mtu: usize,
}

/// Makes two connected links carrying packets up to `mtu` bytes.
pub fn pair(mtu: usize) -> (MemoryLink, MemoryLink) {
    let wire = Arc::new(Mutex::new(Wire::default()));
    (
        MemoryLink {
            wire: wire.clone(),
            end: 0,
            mtu,
        },
        MemoryLink { wire, end: 1, mtu },
    )
}

impl MemoryLink {
    /// Packets queued towards this end and not yet received.
    pub fn queued(&self) -> usize {
        self.wire
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .queues[self.end]
            .len()
    }
}

impl Link for MemoryLink {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut wire = self.wire.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(packet) = wire.queues[self.end].pop_front() else {
            return Ok(None);
        };
        // Like a TUN read into a short buffer: the tail is cut off.
        let len = packet.len().min(buf.len());
        buf[..len].copy_from_slice(&packet[..len]);
        wire.spare.push(packet);
        Ok(Some(len))
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        if packet.len() > self.mtu {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "packet larger than MTU",
            ));
        }
        let mut wire = self.wire.lock().unwrap_or_else(PoisonError::into_inner);
        let mut buf = wire.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(packet);
        wire.queues[1 - self.end].push_back(buf);
        Ok(())
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn fd(&self) -> Option<RawFd> {
        None
    }
}
