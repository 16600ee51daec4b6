//! The tokens [`super::Port`] hands smoltcp, and the way out every packet takes.

use std::io;

use smoltcp::phy::{self, PacketMeta};
use smoltcp::time::Instant;

use super::{Link, PortStats, Sink, TcpFlow, log_link_error, log_malformed, vnet};
use crate::middleware::impair::{Admit, Impair};
use crate::middleware::{Chain, Direction};
use crate::packet::Headers;
use crate::recovery::{Recovery, SACK_ROOM};

/// Receive token: the packet sits in the port's receive buffer, or in the link's memory (a
/// lending link).
pub struct PortRx<'a> {
    pub(super) packet: &'a [u8],
    pub(super) flow: Option<TcpFlow>,
}

impl PortRx<'_> {
    /// The packet's TCP flow, read before smoltcp processes it; `None` when not TCP.
    pub fn flow(&self) -> Option<TcpFlow> {
        self.flow
    }
}

impl phy::RxToken for PortRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.packet)
    }
}

/// Transmit token: smoltcp fills the port's transmit buffer, the chain sees it, the
/// impairment judges it, the link sends it (now, or later from the delay queue).
pub struct PortTx<'a, L: Link> {
    pub(super) link: Out<'a, L>,
    pub(super) chain: &'a mut Chain,
    pub(super) impair: Option<&'a mut Impair>,
    pub(super) recovery: Option<&'a mut Recovery>,
    pub(super) buf: &'a mut Vec<u8>,
    /// The link MTU: the recovery layer may not grow a packet beyond it.
    pub(super) mtu: usize,
    /// Bytes reserved before the packet for the virtio-net header (0 without offload).
    pub(super) header: usize,
    /// Payload bytes per segment when smoltcp hands over a super-packet (via `set_meta`).
    pub(super) segment: Option<usize>,
    pub(super) stats: &'a mut PortStats,
    pub(super) now: Instant,
}

impl<L: Link> phy::TxToken for PortTx<'_, L> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let PortTx {
            mut link,
            chain,
            impair,
            recovery,
            buf,
            mtu,
            header,
            segment,
            stats,
            now,
        } = self;
        let mut out = Outgoing {
            chain,
            impair,
            stats,
            header,
            now,
        };
        // Built where it leaves from when the link has write memory of its own: no copy.
        let end = header + len;
        if let Some(slot) = link.slot(end + SACK_ROOM) {
            let (result, end, send) = build(slot, f, len, header, recovery, segment, mtu, &mut out);
            if send {
                out.sent(link.send_slot(end));
            }
            return result;
        }
        // Else in the port's buffer (smoltcp never asks for more than the MTU, or with
        // offload the super-packet limit; grown rather than panic if it ever does).
        if buf.len() < end + SACK_ROOM {
            buf.resize(end + SACK_ROOM, 0);
        }
        let (result, end, send) = build(buf, f, len, header, recovery, segment, mtu, &mut out);
        if send {
            out.sent(link.send(&buf[..end]));
        }
        result
    }

    fn set_meta(&mut self, meta: PacketMeta) {
        self.segment = meta
            .segmentation_offload_size
            .map(|size| usize::from(size.get()));
    }
}

/// Has smoltcp write a packet of `len` bytes into `buf` after `header` bytes, shows it to
/// the recovery layer (which may add a SACK option in the [`SACK_ROOM`] after it) and readies
/// it with `out`. Returns smoltcp's result, the frame's end in `buf`, and whether to send it now.
#[allow(clippy::too_many_arguments)] // one outgoing packet's view of the port
fn build<R>(
    buf: &mut [u8],
    f: impl FnOnce(&mut [u8]) -> R,
    len: usize,
    header: usize,
    recovery: Option<&mut Recovery>,
    segment: Option<usize>,
    mtu: usize,
    out: &mut Outgoing<'_>,
) -> (R, usize, bool) {
    let mut end = header + len;
    let result = f(&mut buf[header..end]);
    // The one read of this packet's headers (again only if recovery rewrites it).
    let mut headers = Headers::parse(&buf[header..end]);
    if let Some(recovery) = recovery {
        end = recovery.on_egress(buf, header, end, &mut headers, segment, mtu, out.now);
    }
    let send = out.pass(&mut buf[..end], &headers, segment);
    (result, end, send)
}

/// Where a port's packets leave: the link, or the sending half of a lending link while one of
/// its frames is borrowed ([`Link::held`]).
pub(super) enum Out<'a, L: Link> {
    Link(&'a mut L),
    Lent(&'a mut dyn Sink),
}

impl<L: Link> Out<'_, L> {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        match self {
            Out::Link(link) => link.send(frame),
            Out::Lent(sink) => sink.send_frame(frame),
        }
    }

    /// Room in the link's own write memory ([`Sink::slot`]).
    fn slot(&mut self, len: usize) -> Option<&mut [u8]> {
        match self {
            Out::Link(link) => link.sink()?.slot(len),
            Out::Lent(sink) => sink.slot(len),
        }
    }

    fn send_slot(&mut self, len: usize) -> io::Result<()> {
        match self {
            Out::Link(link) => match link.sink() {
                Some(sink) => sink.send_slot(len),
                None => Err(io::Error::from(io::ErrorKind::Unsupported)),
            },
            Out::Lent(sink) => sink.send_slot(len),
        }
    }
}

/// The way out shared by smoltcp's packets and the recovery layer's retransmissions: the
/// virtio-net header (with offload), the chain, the impairment; then the caller sends.
pub(super) struct Outgoing<'a> {
    pub(super) chain: &'a mut Chain,
    pub(super) impair: Option<&'a mut Impair>,
    pub(super) stats: &'a mut PortStats,
    /// Bytes reserved before the packet for the virtio-net header (0 without offload).
    pub(super) header: usize,
    pub(super) now: Instant,
}

impl Outgoing<'_> {
    /// Readies `frame` (header room, then the IP packet, read as `headers`; `segment`: the
    /// payload bytes per segment of a super-packet): true when it is to be sent now, false
    /// when it was refused, dropped or held (the impairment sends it later).
    pub(super) fn pass(
        &mut self,
        frame: &mut [u8],
        headers: &Headers,
        segment: Option<usize>,
    ) -> bool {
        if self.header > 0 {
            match vnet::prepare_egress(frame, headers, segment) {
                Ok(vnet::Egress::SuperPacket) => self.stats.gso_tx += 1,
                Ok(vnet::Egress::Plain | vnet::Egress::Segment) => {}
                Err(err) => {
                    self.stats.malformed += 1;
                    log_malformed(Direction::Egress, err, self.stats.malformed);
                    return false;
                }
            }
        }
        let frame = &*frame;
        let packet = &frame[self.header..];
        self.chain
            .handle(Direction::Egress, packet, headers, self.now);
        if let Some(impair) = &mut self.impair {
            match impair.admit(Direction::Egress, frame, self.now) {
                Admit::Now => {}
                // Sent by `Port::release_due` when its time comes.
                Admit::Held => return false,
                Admit::Dropped => {
                    self.chain
                        .on_wire_drop(Direction::Egress, packet, headers, self.now);
                    self.stats.dropped += 1;
                    return false;
                }
            }
        }
        true
    }

    /// Counts the link's answer to a send.
    pub(super) fn sent(&mut self, result: io::Result<()>) {
        match result {
            Ok(()) => self.stats.tx_packets += 1,
            Err(err) => {
                self.stats.errors += 1;
                log_link_error("write", &err, self.stats.errors);
            }
        }
    }
}
