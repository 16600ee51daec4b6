//! The tokens [`super::Port`] hands smoltcp, and the way out every packet takes.

use std::io;

use smoltcp::phy::{self, PacketMeta};
use smoltcp::time::Instant;

use super::{Link, PortStats, Sink, TcpFlow, log_link_error, log_malformed, vnet};
use crate::middleware::impair::{Admit, Impair};
use crate::middleware::{Chain, Direction};
use crate::packet::Headers;
use crate::recovery::Recovery;

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
        // smoltcp never asks for more than the MTU (or, with offload, the super-packet limit);
        // grow rather than panic if it ever does.
        let end = self.header + len;
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        let result = f(&mut self.buf[self.header..end]);
        // The one read of this packet's headers (again only if recovery rewrites it).
        let mut headers = Headers::parse(&self.buf[self.header..end]);
        let mut end = end;
        if let Some(recovery) = self.recovery {
            end = recovery.on_egress(
                self.buf,
                self.header,
                end,
                &mut headers,
                self.segment,
                self.mtu,
                self.now,
            );
        }
        let out = Outgoing {
            link: self.link,
            chain: self.chain,
            impair: self.impair,
            stats: self.stats,
            header: self.header,
            now: self.now,
        };
        out.send(&mut self.buf[..end], &headers, self.segment);
        result
    }

    fn set_meta(&mut self, meta: PacketMeta) {
        self.segment = meta
            .segmentation_offload_size
            .map(|size| usize::from(size.get()));
    }
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
}

/// The way out shared by smoltcp's packets and the recovery layer's retransmissions: the
/// virtio-net header (with offload), the chain, the impairment, the link.
pub(super) struct Outgoing<'a, L: Link> {
    pub(super) link: Out<'a, L>,
    pub(super) chain: &'a mut Chain,
    pub(super) impair: Option<&'a mut Impair>,
    pub(super) stats: &'a mut PortStats,
    /// Bytes reserved before the packet for the virtio-net header (0 without offload).
    pub(super) header: usize,
    pub(super) now: Instant,
}

impl<L: Link> Outgoing<'_, L> {
    /// Sends `frame` (header room, then the IP packet, read as `headers`); `segment`: the
    /// payload bytes per segment of a super-packet.
    pub(super) fn send(self, frame: &mut [u8], headers: &Headers, segment: Option<usize>) {
        if self.header > 0 {
            match vnet::prepare_egress(frame, headers, segment) {
                Ok(vnet::Egress::SuperPacket) => self.stats.gso_tx += 1,
                Ok(vnet::Egress::Plain | vnet::Egress::Segment) => {}
                Err(err) => {
                    self.stats.malformed += 1;
                    log_malformed(Direction::Egress, err, self.stats.malformed);
                    return;
                }
            }
        }
        let frame = &*frame;
        let packet = &frame[self.header..];
        self.chain
            .handle(Direction::Egress, packet, headers, self.now);
        if let Some(impair) = self.impair {
            match impair.admit(Direction::Egress, frame, self.now) {
                Admit::Now => {}
                // Sent by `Port::release_due` when its time comes.
                Admit::Held => return,
                Admit::Dropped => {
                    self.chain
                        .on_wire_drop(Direction::Egress, packet, headers, self.now);
                    self.stats.dropped += 1;
                    return;
                }
            }
        }
        let mut link = self.link;
        match link.send(frame) {
            Ok(()) => self.stats.tx_packets += 1,
            Err(err) => {
                self.stats.errors += 1;
                log_link_error("write", &err, self.stats.errors);
            }
        }
    }
}
