//! Giving back the transmit ring pages of connections that went quiet.
//!
//! A socket's rings live in the census's arena (see [`crate::rings`]), where a page becomes
//! resident when first written and, until now, stayed so until the connection ended. A burst
//! of sends (a chat's presence storm: every join sent to everyone) leaves many pages of each
//! transmit ring resident on connections that then sit idle for hours. An empty transmit ring
//! holds nothing smoltcp will read again, so its pages may go; doing that at every drain would
//! cost a `madvise` and a page fault per message on a busy connection, so it is done only for
//! connections that stayed quiet for a whole sweep period:
//!
//! - a connection that gets a packet (data, or the ACK of what it sent: every byte sent is
//!   acknowledged by one) is marked busy and listed, in [`Net::examine_touched`];
//! - every [`SWEEP_PERIOD`], the listed connections are visited: a busy one is marked not busy
//!   and stays listed; one not busy since the last sweep with an empty send queue has its
//!   transmit ring trimmed and leaves the list. So a connection is trimmed between one and two
//!   periods after its last packet, once per quiet spell, and the sweep's cost follows the
//!   connections that were active, not the open ones.
//!
//! Receive rings are not trimmed: an empty receive ring can still hold out-of-order bytes
//! beyond the read position (smoltcp's reassembly keeps them there, and does not say whether
//! it holds any), and zeroing those would corrupt the stream.

use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};

use super::Net;
use super::table::Conn;
use crate::id::ConnId;

/// How long a connection must go without a packet before its empty transmit ring is trimmed
/// (it is trimmed after one to two periods). Short enough that a session is lean soon after a
/// burst; long enough that a connection exchanging messages every few milliseconds never pays
/// for it, and one that talks less often pays at most one `madvise` and one page fault per
/// period.
pub(super) const SWEEP_PERIOD: Duration = Duration::from_millis(100);

/// The connections that were active since their ring was last trimmed, and when to sweep.
#[derive(Debug, Default)]
pub(super) struct IdleRings {
    listed: Vec<ConnId>,
    /// When the next sweep is due; `None` while nothing is listed.
    next: Option<Instant>,
    /// Transmit rings trimmed so far.
    trimmed: u64,
}

impl IdleRings {
    /// Notes that connection `id` (`conn`) got a packet at `now`: its rings are in use. Called
    /// with the table entry already in hand, so a packet costs no second lookup.
    pub(super) fn activity(&mut self, id: ConnId, conn: &mut Conn, now: Instant) {
        conn.ring_busy = true;
        if !conn.ring_listed {
            conn.ring_listed = true;
            self.listed.push(id);
            if self.next.is_none() {
                self.next = Some(now + SWEEP_PERIOD);
            }
        }
    }

    /// When the event loop must wake for the next sweep, if anything is listed.
    pub(super) fn due(&self) -> Option<Instant> {
        self.next
    }
}

impl Net {
    /// Transmit rings of quiet connections given back to the kernel since the start (see
    /// `net/idle_rings.rs`): one per quiet spell of a connection that had sent something.
    pub fn tx_rings_trimmed(&self) -> u64 {
        self.idle_rings.trimmed
    }

    /// Trims the transmit rings of listed connections that stayed quiet for a whole period
    /// with nothing left to send; a no-op before the sweep is due.
    pub(super) fn sweep_idle_rings(&mut self, now: Instant) {
        if self.idle_rings.next.is_none_or(|at| now < at) {
            return;
        }
        let mut listed = std::mem::take(&mut self.idle_rings.listed);
        let trimmed_before = self.idle_rings.trimmed;
        listed.retain(|id| {
            let Some(conn) = self.conns.get_mut(id) else {
                return false;
            };
            if std::mem::take(&mut conn.ring_busy) {
                return true;
            }
            let shard = &self.shards[conn.shard];
            if shard.sockets.get::<tcp::Socket>(conn.handle).send_queue() > 0 {
                // Unacknowledged bytes (a silent or zero-window peer): look again later.
                return true;
            }
            shard.pool.trim_tx(conn.handle, &self.census);
            self.idle_rings.trimmed += 1;
            conn.ring_listed = false;
            false
        });
        self.idle_rings.next = (!listed.is_empty()).then_some(now + SWEEP_PERIOD);
        self.idle_rings.listed = listed;
        if self.idle_rings.trimmed != trimmed_before {
            release_free_heap();
        }
    }
}

/// Gives the pages of the allocator's free heap memory back to the kernel. The connections
/// that just went quiet freed what their burst had allocated (queued packets, spare buffers,
/// queue room), but glibc keeps freed memory resident unless it is at the top of the heap:
/// after a chat's join storm that was ~9 KiB per idle session. Run at most once per sweep
/// period, and only when a connection went quiet, so a busy server does not pay for it.
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and releases glibc's own free lists; it takes no
    // pointers from us and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
