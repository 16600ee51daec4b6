//! The middleware layer that feeds a [`Tap`]: it sits with trace and pcap on the stack side of
//! the chain, so it sees what smoltcp saw and sent, plus what the impairment dropped.

use smoltcp::time::Instant;

use super::Tap;
use crate::middleware::{Direction, Layer};
use crate::packet::Headers;

/// Records packets into its tap while someone watches; passes everything.
pub struct Watch {
    tap: Tap,
}

impl Watch {
    /// A layer recording into `tap`.
    pub fn new(tap: Tap) -> Self {
        Watch { tap }
    }
}

impl Layer for Watch {
    fn handle(&mut self, direction: Direction, packet: &[u8], headers: &Headers, now: Instant) {
        // The whole cost while nobody watches: one flag.
        if self.tap.is_watched() {
            self.tap.record(direction, packet, headers, now, false);
        }
    }

    fn reads_packets(&self) -> bool {
        self.tap.is_watched()
    }

    fn on_wire_drop(
        &mut self,
        direction: Direction,
        packet: &[u8],
        headers: &Headers,
        now: Instant,
    ) {
        if self.tap.is_watched() {
            self.tap.record(direction, packet, headers, now, true);
        }
    }
}
