//! Loss recovery around smoltcp, in the device path: SACK-based repair (RFC 2018, RFC 6675's
//! "repair what the scoreboard says is lost"), RACK loss detection and tail-loss probes
//! (RFC 8985), sans-IO.
//!
//! smoltcp alone resends only from its retransmission timer (1 s minimum, doubling) or, after
//! three duplicate ACKs, the oldest segment; it reads SACK blocks but does not use them. So a
//! window with several holes, or a lost last segment, costs whole seconds. This layer sees
//! every segment both ways (the [`crate::device::Port`] calls it) and does what smoltcp does
//! not, without touching smoltcp's state:
//!
//! - Egress: each data segment (payload or FIN) smoltcp sends is kept, as sent, until the
//!   peer acknowledges it: a `Record` with its send time.
//! - Ingress ACKs: the cumulative ACK frees records; SACK blocks mark records delivered. RACK
//!   (RFC 8985 §6.2): a record sent before some record that was delivered, and older than the
//!   delivered one's round trip plus a reordering window, is lost — time-based, so reordering
//!   within the window and duplicated packets cause no retransmission. A lost record is resent
//!   once (again only if RACK finds the resend lost too). Peers that never send SACK get
//!   classic fast retransmit (three duplicate ACKs) and NewReno's partial-ACK rule instead.
//! - Timers: the probe timeout (PTO, 2 × smoothed RTT, RFC 8985 §7) resends the last record so
//!   the peer's answer (a SACK for it) reveals any tail loss within about two round trips; if
//!   that is unanswered too, the timeout resends every record not SACKed, with exponential
//!   backoff, long before smoltcp's 1 s timer.
//! - Duplicate ACKs the layer has acted on are not passed to smoltcp, so its own fast
//!   retransmit does not resend the same segment a second time.
//!
//! A retransmission is the recorded packet with the current acknowledgment number and window
//! written in (so it acknowledges what arrived since), never other bytes: the stream cannot
//! change. smoltcp's own retransmissions replace the records they cover.
//!
//! The receiving direction ([`receiver`]): out-of-order data seen arriving is reported as full
//! SACK information (RFC 2018 §4) in the ACKs smoltcp sends, where smoltcp puts at most one
//! block.
//!
//! Reordering: RACK's window starts at a quarter of the minimum RTT (at least 2 ms) and widens
//! by that much for each round trip in which the peer reports a duplicate with a D-SACK block
//! (RFC 2883; RFC 8985 §6.2 step 4), up to the larger of SRTT and 16 ms; 16 recoveries without
//! one bring it back. Our own ACKs carry D-SACK blocks for duplicates ([`receiver`]).
//!
//! Not done: pacing of repairs (a whole lost window goes out at once, as smoltcp's go-back-N
//! would); undoing congestion-window cuts after a spurious resend (smoltcp's, not ours); SACK
//! blocks in segments that would outgrow the MTU with them (full-size data segments and
//! super-packets keep smoltcp's options).

mod flow;
pub mod receiver;
mod stats;

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, VecDeque};

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::IpEndpoint;

use crate::packet::{Headers, refresh_ack, seq_le, seq_lt};
use crate::shard::TupleMap;
pub use receiver::SACK_ROOM;
use receiver::write_sack;

use flow::{Flow, Record, Timer};
pub use stats::{Reason, RecoveryStats};

/// A connection as (our endpoint, the peer's endpoint).
type FlowKey = (IpEndpoint, IpEndpoint);

/// Smallest probe timeout: below it timers fire on scheduling noise (RFC 8985 §7.2 allows a
/// floor; Linux uses 10 ms too).
const MIN_PTO: Duration = Duration::from_millis(10);

/// Added to the probe timeout when a single segment is in flight: the peer may wait this long
/// to acknowledge it (a delayed ACK; Linux's usual one is 40 ms), and probing earlier would
/// resend a segment that is not lost.
const DELAYED_ACK_ALLOWANCE: Duration = Duration::from_millis(50);

/// Round-trip time assumed before the first measurement.
const INITIAL_RTT: Duration = Duration::from_millis(100);

/// Smallest reordering window: packets overtaken by less than this are not taken for lost
/// (RFC 8985 §6.2 uses min_RTT / 4, which is microseconds over a TUN).
const MIN_REORDER_WINDOW: Duration = Duration::from_millis(2);

/// Largest reordering window the layer learns from D-SACKs on a path whose smoothed RTT is
/// smaller (RFC 8985 caps it at SRTT): reordering of up to this much costs a sub-millisecond
/// path no spurious resends, and a real loss at most this much more time to detect.
const MAX_REORDER_WINDOW: Duration = Duration::from_millis(16);

/// Recoveries without a D-SACK after which the reordering window falls back to its base
/// (RACK.reo_wnd_persist, RFC 8985 §6.2 step 4).
const REO_WND_PERSIST: u32 = 16;

/// Duplicate ACKs that signal a loss when the peer sends no SACK blocks (RFC 5681 §3.2).
const DUP_THRESH: u32 = 3;

/// Consecutive timeouts without progress after which the layer stops and leaves the
/// connection to smoltcp's own timer (which times the connection out eventually).
const MAX_BACKOFF: u32 = 6;

/// A flow with nothing in flight and no packet for this long is forgotten.
const IDLE_FLOW: Duration = Duration::from_secs(120);

/// Bytes of packet buffers kept for reuse, so recording a segment does not allocate in steady
/// state: a thousand connections with a 4 KiB message in flight each fit.
const SPARE_BYTES: usize = 8 << 20;

/// Bytes of packet buffers kept for reuse however little is in flight. Beyond it the spare
/// buffers are at most as many bytes as the records held: a burst that is acknowledged leaves
/// no pool of its size behind (a chat's join storm left 8 MiB of spare buffers resident for
/// connections that then sat idle), while steady traffic still reuses every buffer.
const SPARE_FLOOR: usize = 256 << 10;

/// The loss-recovery layer: every flow's records and timers. See the module documentation.
pub struct Recovery {
    flows: TupleMap<Flow>,
    /// Flow deadlines, earliest first; entries may be stale (checked when they come due).
    timers: BinaryHeap<Reverse<(Instant, FlowKey)>>,
    /// Flows with records marked for repair.
    pending: Vec<FlowKey>,
    spare: Spare,
    /// Reused buffer for the packet being resent.
    scratch: Vec<u8>,
    stats: RecoveryStats,
    trace: bool,
    last_sweep: Instant,
}

impl Recovery {
    /// An empty layer; `trace` prints a line per retransmission, labelled with its reason.
    pub fn new(trace: bool) -> Recovery {
        Recovery {
            flows: TupleMap::default(),
            timers: BinaryHeap::new(),
            pending: Vec::new(),
            spare: Spare::default(),
            scratch: Vec::new(),
            stats: RecoveryStats::default(),
            trace,
            last_sweep: Instant::ZERO,
        }
    }

    /// Counters so far, and the gauges now.
    pub fn stats(&self) -> RecoveryStats {
        RecoveryStats {
            connections: self.flows.len() as u64,
            ..self.stats
        }
    }

    /// An IP packet smoltcp sends, in `buf[start..end]`, read as `headers` (`gso`: the
    /// segment size of a super-packet). Its ACK gets every SACK block that fits, if the result
    /// stays within `mtu` bytes and `buf` has the room ([`SACK_ROOM`] bytes after `end`) (then `headers` are read again from the rewritten packet);
    /// data segments are recorded; a SYN or RST ends what was known of the connection.
    /// Returns the packet's (new) end in `buf`.
    #[allow(clippy::too_many_arguments)] // the device's view of one outgoing packet
    pub fn on_egress(
        &mut self,
        buf: &mut [u8],
        start: usize,
        end: usize,
        headers: &mut Headers,
        gso: Option<usize>,
        mtu: usize,
        now: Instant,
    ) -> usize {
        let Headers::Tcp(mut segment) = *headers else {
            return end;
        };
        let key = (segment.src, segment.dst);
        if segment.rst || segment.syn {
            self.forget(key);
            return end;
        }
        // A connection gets state here when it sends data or smoltcp reports out-of-order
        // data (a SACK option); a bare ACK (a handshake's, or one after our FIN was
        // acknowledged) does not, so finished connections are not brought back.
        let flow = match self.flows.entry(key) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                if segment.seg_len() == 0 && segment.sack_blocks().next().is_none() {
                    return end;
                }
                entry.insert(Flow::new(now))
            }
        };
        flow.active = now;
        flow.fin_sent |= segment.fin;
        let mut end = end;
        if let Some(ack) = segment.ack {
            flow.ack_sent = Some((ack, segment.window));
            let received = &mut flow.received;
            received.sack_ok |= segment.sack_blocks().next().is_some();
            received.on_ack(ack);
            // Room for the largest SACK option, within the MTU, and not a super-packet.
            let fits = gso.is_none() && end - start + 36 <= mtu;
            if received.sack_ok && received.wants_sack() && fits {
                if let Some(new_end) = write_sack(buf, start, end, &segment, received.report()) {
                    received.on_dsack_sent();
                    end = new_end;
                    *headers = Headers::parse(&buf[start..end]);
                    match headers {
                        Headers::Tcp(rewritten) => segment = *rewritten,
                        _ => return end,
                    }
                }
            }
        }
        let packet = &buf[start..end];
        if segment.seg_len() == 0 {
            return end;
        }
        let (seq, seg_end) = (segment.seq, segment.end());
        if flow.records.is_empty() && flow.snd_una == flow.snd_max {
            // Nothing in flight: this segment starts the sequence space we track.
            if flow.snd_max == 0 || seq_lt(flow.snd_max, seq) || seq == flow.snd_max {
                flow.snd_una = seq;
                flow.snd_max = seq;
            }
        }
        if seq_le(seg_end, flow.snd_una) {
            return end;
        }
        let resend = seq_lt(seq, flow.snd_max);
        if resend {
            self.stats.stack_retransmits += 1;
            if self.trace {
                log::info!(
                    "{} → {} retransmission seq={seq} len={} (smoltcp's timer)",
                    segment.src,
                    segment.dst,
                    segment.seg_len()
                );
            }
            // The resend supersedes the records it covers whole.
            let held = &mut self.stats.held_bytes;
            let spare = &mut self.spare;
            flow.records.retain_mut(|r| {
                let covered = seq_le(seq, r.seq) && seq_le(r.end, seg_end);
                if covered {
                    *held -= r.packet.len() as u64;
                    recycle(spare, std::mem::take(&mut r.packet), *held);
                }
                !covered
            });
        }
        let mut copy = self.spare.take();
        copy.clear();
        copy.extend_from_slice(packet);
        self.stats.held_bytes += copy.len() as u64;
        // New data (the common case) goes after every record: no search.
        let at = match flow.records.back() {
            Some(last) if !seq_lt(last.seq, seq) => {
                flow.records.partition_point(|r| seq_lt(r.seq, seq))
            }
            _ => flow.records.len(),
        };
        flow.records.insert(
            at,
            Record {
                seq,
                end: seg_end,
                sent: now,
                retransmitted: resend,
                sacked: false,
                repair: None,
                packet: copy,
                segment,
                gso,
            },
        );
        if seq_lt(flow.snd_max, seg_end) {
            flow.snd_max = seg_end;
        }
        // New data re-arms the probe (RFC 8985 §7.2); a pending timeout or reorder check
        // stays.
        if !matches!(
            flow.timer,
            Some((_, Timer::Timeout)) | Some((_, Timer::Reorder))
        ) {
            let at = now + flow.probe_timeout();
            arm(&mut self.timers, key, flow, at, Timer::Probe);
        }
        end
    }

    /// An IP packet from the peer, read as `headers`, before smoltcp sees it. Returns false
    /// for a duplicate ACK the layer acts on, which smoltcp should not see (see the module
    /// documentation).
    pub fn on_ingress(&mut self, headers: &Headers, now: Instant) -> bool {
        let Some(segment) = headers.tcp() else {
            return true;
        };
        let key = (segment.dst, segment.src);
        if segment.rst {
            self.forget(key);
            return true;
        }
        let Some(flow) = self.flows.get_mut(&key) else {
            return true;
        };
        flow.active = now;
        if segment.payload_len > 0 && !segment.syn {
            let acked = flow.ack_sent.map(|(ack, _)| ack);
            flow.received.on_data(segment.seq, segment.end(), acked);
        }
        let Some(ack) = segment.ack.filter(|_| !segment.syn) else {
            return true;
        };
        let window_same = flow.window_rcvd == Some(segment.window);
        flow.window_rcvd = Some(segment.window);
        // An ACK beyond what we sent is smoltcp's to judge; below SND.UNA, old news.
        if seq_lt(flow.snd_max, ack) {
            return true;
        }
        let advanced = seq_lt(flow.snd_una, ack);
        let duplicate = !advanced
            && ack == flow.snd_una
            && segment.payload_len == 0
            && !segment.fin
            && window_same
            && !flow.records.is_empty();
        let mut rtt = None;
        if advanced {
            flow.snd_una = ack;
            flow.dup_acks = 0;
            flow.backoff = 0;
            while let Some(record) = flow.records.front() {
                if !seq_le(record.end, ack) {
                    break;
                }
                let Some(record) = flow.records.pop_front() else {
                    break;
                };
                if !record.retransmitted {
                    rtt = Some(now - record.sent);
                }
                flow.note_delivered(record.sent, record.end, record.retransmitted, now);
                self.stats.held_bytes -= record.packet.len() as u64;
                recycle(&mut self.spare, record.packet, self.stats.held_bytes);
            }
            if let Some(rtt) = rtt {
                flow.sample_rtt(rtt);
            }
        }
        // RFC 2883 §4: a first block below the cumulative ACK, or inside the second block,
        // reports a segment received twice.
        let mut blocks = segment.sack_blocks();
        let first = blocks.next();
        let dsack = first.is_some_and(|(left, right)| {
            seq_le(right, ack)
                || blocks
                    .next()
                    .is_some_and(|(l, r)| seq_le(l, left) && seq_le(right, r))
        });
        flow.update_reorder_window(dsack);
        let mut sacked = false;
        for (left, right) in segment.sack_blocks() {
            // Only blocks inside what is in flight mean anything (RFC 2018 §4; a D-SACK
            // block below SND.UNA reports a duplicate, not a delivery).
            if !seq_lt(left, right) || !seq_le(right, flow.snd_max) || seq_le(right, ack) {
                continue;
            }
            flow.sack_seen = true;
            let mut delivered = Vec::new();
            for record in flow.records.iter_mut() {
                if !record.sacked && seq_le(left, record.seq) && seq_le(record.end, right) {
                    record.sacked = true;
                    record.repair = None;
                    delivered.push((record.sent, record.end, record.retransmitted));
                }
            }
            for (sent, end, retransmitted) in delivered {
                flow.note_delivered(sent, end, retransmitted, now);
                sacked = true;
            }
        }
        let mut repair = false;
        let mut wake = None;
        if advanced || sacked {
            (repair, wake) = flow.detect_lost(now);
        }
        if !flow.sack_seen {
            if duplicate {
                flow.dup_acks += 1;
                if flow.dup_acks == DUP_THRESH && flow.recover.is_none() {
                    flow.recover = Some(flow.snd_max);
                    repair |= flow.mark_first(Reason::Fast);
                }
            } else if advanced {
                match flow.recover {
                    // NewReno (RFC 6582 §3.2): a partial ACK means the next hole is lost too.
                    Some(recover) if seq_lt(ack, recover) => {
                        repair |= flow.mark_first(Reason::Fast);
                    }
                    _ => flow.recover = None,
                }
            }
        }
        if repair && !self.pending.contains(&key) {
            self.pending.push(key);
        }
        if flow.records.is_empty() {
            flow.timer = None;
        } else if let Some(at) = wake {
            arm(&mut self.timers, key, flow, at, Timer::Reorder);
        } else if advanced || sacked {
            let at = now + flow.probe_timeout();
            arm(&mut self.timers, key, flow, at, Timer::Probe);
        }
        let over = flow.fin_sent && flow.records.is_empty();
        if duplicate {
            self.stats.dup_acks_absorbed += 1;
        }
        if over {
            self.forget(key);
        }
        !duplicate
    }

    /// When [`Recovery::poll_transmit`] next has work (`None`: no timer running). May be
    /// early (a stale deadline); never late.
    pub fn poll_at(&self) -> Option<Instant> {
        if !self.pending.is_empty() {
            return Some(Instant::ZERO);
        }
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Runs the timers due at `now` (when `timers`; the caller says no while packets it has
    /// not read yet may hold the ACKs they wait for) and hands every retransmission to `send`
    /// (the packet, its headers and its super-packet segment size). Returns how many were
    /// sent.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        timers: bool,
        mut send: impl FnMut(&[u8], &Headers, Option<usize>),
    ) -> usize {
        while let Some(&Reverse((at, key))) = self.timers.peek() {
            if at > now || !timers {
                break;
            }
            self.timers.pop();
            let Some(flow) = self.flows.get_mut(&key) else {
                continue;
            };
            if flow.queued == Some(at) {
                flow.queued = None;
            }
            let Some((due, timer)) = flow.timer else {
                continue;
            };
            if due > now {
                // Re-queue the real deadline if this entry was an earlier, stale one.
                if flow.queued.is_none_or(|q| q > due) {
                    flow.queued = Some(due);
                    self.timers.push(Reverse((due, key)));
                }
                continue;
            }
            flow.timer = None;
            if flow.records.is_empty() {
                // Everything was acknowledged before the timer came due: the flow went
                // quiet, so the room its records took (a burst's) goes back.
                flow.records = VecDeque::new();
                continue;
            }
            let marked = match timer {
                Timer::Reorder => {
                    let (marked, wake) = flow.detect_lost(now);
                    let at = wake.unwrap_or(now + flow.probe_timeout());
                    let kind = if wake.is_some() {
                        Timer::Reorder
                    } else {
                        Timer::Probe
                    };
                    arm(&mut self.timers, key, flow, at, kind);
                    marked
                }
                Timer::Probe => {
                    // RFC 8985 §7.3: no new data to send (that is smoltcp's), so the last
                    // segment not known delivered goes again.
                    let marked = match flow.records.iter_mut().rev().find(|r| !r.sacked) {
                        Some(record) if record.repair.is_none() => {
                            record.repair = Some(Reason::TailProbe);
                            true
                        }
                        _ => false,
                    };
                    let at = now + flow.probe_timeout() * 2;
                    arm(&mut self.timers, key, flow, at, Timer::Timeout);
                    marked
                }
                Timer::Timeout => {
                    // Everything not SACKed is presumed lost (RFC 6675 §5.1), with backoff.
                    let mut marked = false;
                    for record in flow.records.iter_mut().filter(|r| !r.sacked) {
                        if record.repair.is_none() {
                            record.repair = Some(Reason::Timeout);
                            marked = true;
                        }
                    }
                    flow.backoff += 1;
                    if flow.backoff < MAX_BACKOFF {
                        let at = now + flow.probe_timeout() * (2 << flow.backoff);
                        arm(&mut self.timers, key, flow, at, Timer::Timeout);
                    }
                    marked
                }
            };
            if marked && !self.pending.contains(&key) {
                self.pending.push(key);
            }
        }
        let mut sent = 0;
        for key in std::mem::take(&mut self.pending) {
            let Some(flow) = self.flows.get_mut(&key) else {
                continue;
            };
            let ack_sent = flow.ack_sent;
            for record in flow.records.iter_mut() {
                let Some(reason) = record.repair.take() else {
                    continue;
                };
                if record.sacked {
                    continue;
                }
                self.scratch.clear();
                self.scratch.extend_from_slice(&record.packet);
                if let Some((ack, window)) = ack_sent {
                    refresh_ack(&mut self.scratch, &mut record.segment, ack, window);
                }
                send(&self.scratch, &Headers::Tcp(record.segment), record.gso);
                record.sent = now;
                record.retransmitted = true;
                sent += 1;
                let counter = match reason {
                    Reason::SackRepair => &mut self.stats.sack_repairs,
                    Reason::Fast => &mut self.stats.fast_retransmits,
                    Reason::TailProbe => &mut self.stats.tail_probes,
                    Reason::Timeout => &mut self.stats.timeouts,
                };
                *counter += 1;
                if self.trace {
                    log::info!(
                        "{} → {} retransmission seq={} len={} ({})",
                        key.0,
                        key.1,
                        record.seq,
                        record.end.wrapping_sub(record.seq),
                        reason.label()
                    );
                }
            }
        }
        if now >= self.last_sweep + IDLE_FLOW {
            self.last_sweep = now;
            let stale: Vec<FlowKey> = self
                .flows
                .iter()
                .filter(|(_, f)| now >= f.active + IDLE_FLOW)
                .map(|(k, _)| *k)
                .collect();
            for key in stale {
                self.forget(key);
            }
        }
        sent
    }

    /// Drops a connection's records (RST, a new SYN for the tuple, or idleness).
    fn forget(&mut self, key: FlowKey) {
        if let Some(flow) = self.flows.remove(&key) {
            for record in flow.records {
                self.stats.held_bytes -= record.packet.len() as u64;
                recycle(&mut self.spare, record.packet, self.stats.held_bytes);
            }
        }
    }
}

/// Sets a flow's timer and makes sure the heap wakes the layer for it.
fn arm(
    timers: &mut BinaryHeap<Reverse<(Instant, FlowKey)>>,
    key: FlowKey,
    flow: &mut Flow,
    at: Instant,
    timer: Timer,
) {
    flow.timer = Some((at, timer));
    if flow.queued.is_none_or(|q| q > at) {
        flow.queued = Some(at);
        timers.push(Reverse((at, key)));
    }
}

/// Packet buffers kept for reuse, up to [`SPARE_BYTES`] of capacity.
#[derive(Default)]
struct Spare {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

impl Spare {
    /// A buffer to fill (empty; with capacity when one was kept).
    fn take(&mut self) -> Vec<u8> {
        let buffer = self.buffers.pop().unwrap_or_default();
        self.bytes -= buffer.capacity();
        buffer
    }
}

/// Keeps a packet buffer for reuse while the budget allows: [`SPARE_BYTES`] at most, and no
/// more than [`SPARE_FLOOR`] or the bytes still `held` in records, whichever is larger. Spare
/// buffers beyond the budget (kept while more was in flight) are freed.
fn recycle(spare: &mut Spare, mut buffer: Vec<u8>, held: u64) {
    let capacity = buffer.capacity();
    let budget = usize::try_from(held)
        .unwrap_or(usize::MAX)
        .clamp(SPARE_FLOOR, SPARE_BYTES);
    if capacity > 0 && spare.bytes + capacity <= budget {
        buffer.clear();
        spare.bytes += capacity;
        spare.buffers.push(buffer);
    }
    while spare.bytes > budget {
        let Some(extra) = spare.buffers.pop() else {
            break;
        };
        spare.bytes -= extra.capacity();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(len: usize) -> Vec<u8> {
        vec![0; len]
    }

    #[test]
    fn spare_buffers_follow_what_is_in_flight() {
        let mut spare = Spare::default();
        // Much in flight: buffers freed by ACKs are kept, up to what is still held.
        let held = 4 * SPARE_FLOOR as u64;
        for _ in 0..1000 {
            recycle(&mut spare, buffer(1500), held);
        }
        assert!(spare.bytes <= 4 * SPARE_FLOOR && spare.bytes > 3 * SPARE_FLOOR);
        // Everything acknowledged: the spare shrinks to the floor at the next recycle.
        recycle(&mut spare, buffer(1500), 0);
        assert!(spare.bytes <= SPARE_FLOOR && spare.bytes > SPARE_FLOOR - 1500);
        assert_eq!(
            spare.bytes,
            spare.buffers.iter().map(Vec::capacity).sum::<usize>()
        );
        // Steady state below the floor: every buffer is reused, none allocated.
        let mut reused = spare.take();
        assert_eq!(reused.capacity(), 1500);
        reused.extend_from_slice(&[1; 100]);
        recycle(&mut spare, reused, 100);
        assert!(spare.buffers.last().is_some_and(Vec::is_empty));
    }

    #[test]
    fn spare_buffers_never_pass_the_cap() {
        let mut spare = Spare::default();
        for _ in 0..10_000 {
            recycle(&mut spare, buffer(1500), u64::MAX);
        }
        assert!(spare.bytes <= SPARE_BYTES);
    }
}
