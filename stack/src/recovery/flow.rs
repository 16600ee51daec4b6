//! The sender side of one connection: its unacknowledged records, RTT estimate, RACK state
//! and timer.

use std::collections::VecDeque;

use smoltcp::time::{Duration, Instant};

use super::receiver::Received;
use super::{
    DELAYED_ACK_ALLOWANCE, INITIAL_RTT, MAX_REORDER_WINDOW, MIN_PTO, MIN_REORDER_WINDOW,
    REO_WND_PERSIST, Reason,
};
use crate::packet::{Segment, seq_le, seq_lt};

/// One data segment as sent and not yet acknowledged.
pub(super) struct Record {
    pub(super) seq: u32,
    pub(super) end: u32,
    /// When it was (last) sent.
    pub(super) sent: Instant,
    pub(super) retransmitted: bool,
    pub(super) sacked: bool,
    /// Marked lost, waiting in [`Recovery::pending`] to be resent for this reason.
    pub(super) repair: Option<Reason>,
    /// The IP packet as smoltcp built it.
    pub(super) packet: Vec<u8>,
    /// Its parsed headers, to refresh the ACK on resend.
    pub(super) segment: Segment,
    /// Segment size the kernel cuts it to when it is a super-packet (offload).
    pub(super) gso: Option<usize>,
}

/// What the single timer of a flow is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// Tail-loss probe.
    Probe,
    /// Retransmission timeout after an unanswered probe.
    Timeout,
    /// A record RACK may declare lost once its reordering window has passed.
    Reorder,
}

/// The sender-side state of one connection.
pub(super) struct Flow {
    pub(super) records: VecDeque<Record>,
    /// Oldest unacknowledged sequence number (SND.UNA) and the highest sent (SND.MAX).
    pub(super) snd_una: u32,
    pub(super) snd_max: u32,
    /// The newest acknowledgment number and window we sent (copied into resends).
    pub(super) ack_sent: Option<(u32, u16)>,
    /// The peer's last window field, to tell duplicate ACKs from window updates.
    pub(super) window_rcvd: Option<u16>,
    pub(super) dup_acks: u32,
    /// The peer has sent SACK blocks on this connection.
    pub(super) sack_seen: bool,
    /// NewReno recovery point (peers without SACK): partial ACKs below it resend at once.
    pub(super) recover: Option<u32>,
    pub(super) srtt: Option<Duration>,
    pub(super) min_rtt: Option<Duration>,
    /// RACK.xmit_ts, RACK.end_seq, RACK.rtt (RFC 8985 §6.1): the most recently sent record
    /// known delivered.
    pub(super) rack: Option<(Instant, u32, Duration)>,
    /// RACK.reo_wnd_mult (RFC 8985 §6.2 step 4): the reordering window in units of its base,
    /// raised by one for each round trip in which a D-SACK showed a resend was spurious.
    pub(super) reo_wnd_mult: u32,
    /// RACK.reo_wnd_persist: recoveries left before the multiplier falls back to one.
    pub(super) reo_wnd_persist: u32,
    /// RACK.dsack_round: SND.MAX when the last D-SACK counted; one increase per round trip.
    pub(super) dsack_round: Option<u32>,
    /// SND.MAX when the layer last resent after a detected loss: the recovery ends once the
    /// cumulative ACK passes it.
    pub(super) recovery_point: Option<u32>,
    pub(super) timer: Option<(Instant, Timer)>,
    /// Earliest deadline of this flow in the timer heap, to avoid pushing duplicates.
    pub(super) queued: Option<Instant>,
    pub(super) backoff: u32,
    /// Last packet in either direction.
    pub(super) active: Instant,
    /// What arrived out of order, for the SACK blocks of our ACKs.
    pub(super) received: Received,
    /// Our FIN was sent: once it is acknowledged we send nothing more, and the layer
    /// forgets the connection (out-of-order data the peer still sends on a half-closed
    /// connection brings it back through smoltcp's SACK option).
    pub(super) fin_sent: bool,
}

impl Flow {
    pub(super) fn new(now: Instant) -> Flow {
        Flow {
            records: VecDeque::new(),
            snd_una: 0,
            snd_max: 0,
            ack_sent: None,
            window_rcvd: None,
            dup_acks: 0,
            sack_seen: false,
            recover: None,
            srtt: None,
            min_rtt: None,
            rack: None,
            reo_wnd_mult: 1,
            reo_wnd_persist: 0,
            dsack_round: None,
            recovery_point: None,
            timer: None,
            queued: None,
            backoff: 0,
            active: now,
            received: Received::default(),
            fin_sent: false,
        }
    }

    /// PTO (RFC 8985 §7.2): two smoothed round trips, plus the peer's delayed-ACK allowance
    /// when one segment is all that is in flight.
    pub(super) fn probe_timeout(&self) -> Duration {
        let srtt = self.srtt.unwrap_or(INITIAL_RTT);
        let mut pto = (srtt * 2).max(MIN_PTO);
        let single = self.records.len() == 1
            && self.records[0]
                .gso
                .is_none_or(|size| self.records[0].segment.payload_len <= size);
        if single {
            pto += DELAYED_ACK_ALLOWANCE;
        }
        pto
    }

    /// The reordering window (RFC 8985 §6.2 step 4): a quarter of the minimum RTT with a floor,
    /// times RACK.reo_wnd_mult, at most the smoothed RTT or [`MAX_REORDER_WINDOW`] whichever is
    /// larger (the RFC's cap is SRTT alone, which over a TUN is microseconds and would keep
    /// the window below any real reordering).
    pub(super) fn reorder_window(&self) -> Duration {
        let base = (self.min_rtt.unwrap_or(Duration::ZERO) / 4).max(MIN_REORDER_WINDOW);
        let cap = self.srtt.unwrap_or(Duration::ZERO).max(MAX_REORDER_WINDOW);
        (base * self.reo_wnd_mult).min(cap)
    }

    /// RFC 8985 §6.2 step 4, on every ACK: `dsack` says whether it carried a D-SACK block
    /// (RFC 2883: the peer got a segment twice, so a resend was spurious). The window widens
    /// once per round trip of D-SACKs and narrows again after [`REO_WND_PERSIST`] recoveries
    /// without one.
    pub(super) fn update_reorder_window(&mut self, dsack: bool) {
        if self
            .dsack_round
            .is_some_and(|round| seq_le(round, self.snd_una))
        {
            self.dsack_round = None;
        }
        let recovered = self
            .recovery_point
            .is_some_and(|point| seq_le(point, self.snd_una));
        if recovered {
            self.recovery_point = None;
        }
        if dsack && self.dsack_round.is_none() {
            self.dsack_round = Some(self.snd_max);
            self.reo_wnd_mult = self.reo_wnd_mult.saturating_add(1);
            self.reo_wnd_persist = REO_WND_PERSIST;
        } else if recovered {
            self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
    }

    /// RFC 8985 §6.2 step 2: `record` was delivered; keep the most recently sent one.
    pub(super) fn note_delivered(
        &mut self,
        sent: Instant,
        end: u32,
        retransmitted: bool,
        now: Instant,
    ) {
        let rtt = now - sent;
        // An ACK quicker than any round trip was for the original, not the resend.
        if retransmitted && self.min_rtt.is_some_and(|min| rtt < min) {
            return;
        }
        let newer = self
            .rack
            .is_none_or(|(at, rack_end, _)| sent > at || (sent == at && seq_lt(rack_end, end)));
        if newer {
            self.rack = Some((sent, end, rtt));
        }
    }

    pub(super) fn sample_rtt(&mut self, rtt: Duration) {
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        self.srtt = Some(match self.srtt {
            None => rtt,
            Some(srtt) => (srtt * 7 + rtt) / 8,
        });
    }

    /// RACK loss detection (RFC 8985 §6.2 step 5): marks lost records for repair, returns
    /// whether any was, and the earliest time a not-yet-lost record may become lost.
    pub(super) fn detect_lost(&mut self, now: Instant) -> (bool, Option<Instant>) {
        let Some((rack_sent, rack_end, rack_rtt)) = self.rack else {
            return (false, None);
        };
        let window = self.reorder_window();
        let (mut marked, mut wake) = (false, None::<Instant>);
        for record in &mut self.records {
            if record.sacked || record.repair.is_some() {
                continue;
            }
            let before = record.sent < rack_sent
                || (record.sent == rack_sent && seq_lt(record.end, rack_end));
            if !before {
                continue;
            }
            let deadline = record.sent + rack_rtt + window;
            if now >= deadline {
                record.repair = Some(Reason::SackRepair);
                marked = true;
                self.recovery_point.get_or_insert(self.snd_max);
            } else {
                wake = Some(wake.map_or(deadline, |w| w.min(deadline)));
            }
        }
        (marked, wake)
    }

    /// Marks the first unacknowledged, un-SACKed record for repair.
    pub(super) fn mark_first(&mut self, reason: Reason) -> bool {
        match self.records.iter_mut().find(|r| !r.sacked) {
            Some(record) if record.repair.is_none() => {
                record.repair = Some(reason);
                true
            }
            _ => false,
        }
    }
}
