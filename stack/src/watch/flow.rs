//! One watched TCP connection: which side opened it, each side's initial sequence number
//! (so seq/ack are shown relative to it, as Wireshark does), the highest sequence each side
//! has sent (a segment that re-sends below it is a retransmission), tunws's TCP state as the
//! segments imply it (RFC 9293 names), and the two byte streams decoded ([`super::stream`]).
//! It turns each packet into trace events ([`super::event`]).

use std::net::SocketAddr;

use super::event::{self, Dir, Stamp};
use super::stream::{Decoded, Stream, Writer};
use crate::packet::Segment;

/// tunws's TCP state, inferred from the segments it sends and receives (RFC 9293 §3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TcpState {
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    Closing,
    TimeWait,
    CloseWait,
    LastAck,
    Closed,
}

impl TcpState {
    /// The RFC's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynReceived => "SYN-RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::Closing => "CLOSING",
            TcpState::TimeWait => "TIME-WAIT",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::LastAck => "LAST-ACK",
            TcpState::Closed => "CLOSED",
        }
    }
}

/// What one packet told about its connection, besides the events.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// The HTTP requests the packet completed: (request target, value of the token cookie).
    pub requests: Vec<(String, Option<String>)>,
    /// The client's stream can no longer carry an HTTP request (decoder stopped, or the
    /// connection is a WebSocket now).
    pub no_more_requests: bool,
}

/// A TCP connection seen by the watch layer. Index 0 of each pair is the remote side (its
/// packets come in), index 1 is tunws.
pub(crate) struct Flow {
    /// Number shown as `conn` in the events.
    pub id: u64,
    /// Sequence numbers are shown relative to this (the ISN, or the first seq seen when the
    /// connection started before anyone watched).
    base: [Option<u32>; 2],
    /// Whether `base` is the ISN (the SYN was seen).
    from_syn: bool,
    /// End of the highest sequence range each side sent.
    high: [Option<u32>; 2],
    /// Sequence number just after tunws's FIN, once sent.
    our_fin_end: Option<u32>,
    streams: [Stream; 2],
    state: TcpState,
    /// Both FINs or a RST seen.
    pub ended: bool,
    /// The last packet, stack clock microseconds.
    pub last_seen: i64,
}

impl Flow {
    /// A flow whose first packet seen is `seg`, going `dir`.
    pub(crate) fn new(id: u64, dir: Dir, seg: &Segment) -> Flow {
        let opened_by_syn = seg.syn && seg.ack.is_none();
        // A SYN coming in: the remote side is the client; one going out: tunws is.
        let (streams, state) = match (opened_by_syn, dir) {
            (true, Dir::In) => (
                [Stream::new(Writer::Client), Stream::new(Writer::Server)],
                TcpState::Listen,
            ),
            (true, Dir::Out) => (
                [Stream::new(Writer::Server), Stream::new(Writer::Client)],
                TcpState::Closed,
            ),
            // Joined late: assume the remote side is the client (tunws serves), and start
            // decoding at the next bytes, which on a keep-alive HTTP connection are a head.
            (false, _) => (
                [Stream::new(Writer::Client), Stream::new(Writer::Server)],
                TcpState::Established,
            ),
        };
        Flow {
            id,
            base: [None; 2],
            from_syn: opened_by_syn,
            high: [None; 2],
            our_fin_end: None,
            streams,
            state,
            ended: false,
            last_seen: 0,
        }
    }

    /// Turns one packet into events (appended to `events`). `dropped`: the impairment
    /// dropped it on the way in, so the stack never saw it. `room`: bytes the streams may
    /// still hold after gaps, over all flows.
    pub(crate) fn on_packet(
        &mut self,
        stamp: Stamp,
        seg: &Segment,
        packet: &[u8],
        dropped: bool,
        events: &mut Vec<String>,
        room: &mut usize,
    ) -> Findings {
        let side = match stamp.dir {
            Dir::In => 0,
            Dir::Out => 1,
        };
        self.last_seen = stamp.t;
        let base = *self.base[side].get_or_insert(if seg.syn || !self.from_syn {
            // The ISN, or for a late join the byte before the first one seen.
            seg.seq.wrapping_sub(u32::from(!seg.syn))
        } else {
            seg.seq
        });
        let end = seg.seq.wrapping_add(seg.seg_len());
        let retransmission = seg.seg_len() > 0
            && self.high[side].is_some_and(|high| high.wrapping_sub(seg.seq) as i32 > 0);
        if seg.seg_len() > 0 && self.high[side].is_none_or(|high| end.wrapping_sub(high) as i32 > 0)
        {
            self.high[side] = Some(end);
        }
        let ack_base = self.base[1 - side];
        events.push(event::tcp(
            stamp,
            seg,
            packet,
            base,
            ack_base,
            retransmission,
            dropped,
        ));
        let mut findings = Findings::default();
        if dropped {
            return findings;
        }
        self.advance_state(stamp, side, seg, events);
        if seg.payload_len > 0 {
            // Offset 0 is the byte after the SYN.
            let offset = seg.seq.wrapping_sub(base).wrapping_sub(1);
            let payload = &packet[seg.payload_at..seg.payload_at + seg.payload_len];
            let mut decoded = Vec::new();
            self.streams[side].push(offset, payload, &mut decoded, room);
            for item in decoded {
                self.on_decoded(stamp, side, item, events, &mut findings);
            }
        }
        findings
    }

    /// Bytes both streams hold after gaps (to give back to the room when the flow goes).
    pub(crate) fn held_bytes(&self) -> usize {
        self.streams.iter().map(Stream::held_bytes).sum()
    }

    fn on_decoded(
        &mut self,
        stamp: Stamp,
        side: usize,
        item: Decoded,
        events: &mut Vec<String>,
        findings: &mut Findings,
    ) {
        match item {
            Decoded::Request(head) => {
                let path = head.start_line.split(' ').nth(1).unwrap_or("").to_string();
                let is_head = head.start_line.starts_with("HEAD ");
                let upgrade = head
                    .header("upgrade")
                    .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
                let other = &mut self.streams[1 - side];
                if other.head_requests.len() < 64 {
                    other.head_requests.push_back(is_head);
                }
                let cookie = head.header("cookie").and_then(|cookies| {
                    cookies
                        .split(';')
                        .filter_map(|pair| pair.trim().split_once('='))
                        .find(|(name, _)| *name == super::TOKEN_COOKIE)
                        .map(|(_, value)| value.to_string())
                });
                events.push(event::http_request(stamp, &head));
                findings.requests.push((path, cookie));
                findings.no_more_requests |= upgrade;
            }
            Decoded::Response(head) => events.push(event::http_response(stamp, &head)),
            Decoded::Frame(frame) => events.push(event::ws_frame(stamp, &frame)),
            Decoded::Stopped(reason) => {
                events.push(event::decode_stopped(stamp, reason));
                findings.no_more_requests |= self.streams[side].writer() == Writer::Client;
            }
        }
    }

    /// Moves the inferred state of tunws's side; emits a `state` event on change.
    fn advance_state(
        &mut self,
        stamp: Stamp,
        side: usize,
        seg: &Segment,
        events: &mut Vec<String>,
    ) {
        use TcpState::*;
        let ours = side == 1;
        let acks_our_fin = !ours && seg.ack.is_some() && seg.ack == self.our_fin_end;
        if ours && seg.fin {
            self.our_fin_end = Some(seg.seq.wrapping_add(seg.seg_len()));
        }
        let next = if seg.rst {
            Closed
        } else {
            match (self.state, ours) {
                (Listen, false) if seg.syn => SynReceived,
                (Closed, true) if seg.syn && seg.ack.is_none() => SynSent,
                (SynSent, false) if seg.syn && seg.ack.is_some() => Established,
                (SynReceived, false) if seg.ack.is_some() && !seg.syn => {
                    if seg.fin {
                        CloseWait
                    } else {
                        Established
                    }
                }
                (Established, false) if seg.fin => CloseWait,
                (Established, true) if seg.fin => FinWait1,
                (CloseWait, true) if seg.fin => LastAck,
                (LastAck, false) if acks_our_fin => Closed,
                (FinWait1, false) if seg.fin && acks_our_fin => TimeWait,
                (FinWait1, false) if seg.fin => Closing,
                (FinWait1, false) if acks_our_fin => FinWait2,
                (FinWait2, false) if seg.fin => TimeWait,
                (Closing, false) if acks_our_fin => TimeWait,
                (state, _) => state,
            }
        };
        if next != self.state {
            events.push(event::state(stamp, self.state, next));
            self.state = next;
            self.ended |= matches!(next, Closed | TimeWait);
        }
        self.ended |= seg.rst;
    }
}

/// The endpoints of a packet as (remote, local): the flow key.
pub(crate) fn key(dir: Dir, seg: &Segment) -> (SocketAddr, SocketAddr) {
    match dir {
        Dir::In => (seg.src.into(), seg.dst.into()),
        Dir::Out => (seg.dst.into(), seg.src.into()),
    }
}
