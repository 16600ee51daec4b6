//! The packet link under smoltcp, and the smoltcp `phy::Device` built on it.
//!
//! A [`Link`] moves whole IP packets (one `read`/`write` each), nothing more: the TUN fd in
//! production ([`tun::TunLink`]), an in-memory pair in tests ([`memory::pair`]). [`Port`] turns
//! any link into a smoltcp device with two reused buffers (no allocation per packet; a link
//! that reads into memory of its own, [`uring::UringLink`], lends smoltcp its frames instead
//! of copying them into the receive buffer, see [`Link::lends`]), runs
//! the middleware [`Chain`] on every packet in both directions and, when configured, the
//! [`Impair`] stage on the wire side with its delay queues.
//!
//! With offload (a TUN opened with a virtio-net header, see [`vnet`]) the link moves frames:
//! a header, then a packet that may be a TCP super-packet of up to 64 KiB. The port checks and
//! strips the header on the way in and writes it on the way out, so the middleware chain and
//! smoltcp see IP packets only; the impairment sits on the wire side and judges whole frames,
//! one super-packet at a time.

pub mod memory;
mod tokens;
pub mod tun;
pub mod uring;
pub mod vnet;

use std::io;
use std::num::NonZeroUsize;
use std::os::fd::RawFd;

use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::IpEndpoint;

use crate::middleware::impair::{Admit, Impair, ImpairStats};
use crate::middleware::{Chain, Direction};
use crate::packet::{Headers, Segment};
use crate::recovery::{Recovery, RecoveryStats};

use tokens::{Out, Outgoing};
pub use tokens::{PortRx, PortTx};

/// A source and sink of raw IP packets.
pub trait Link: Send {
    /// Reads one packet into `buf`. `Ok(None)` when none is queued now (never blocks).
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// Writes one packet. A full queue may drop it silently: TCP retransmits.
    fn send(&mut self, packet: &[u8]) -> io::Result<()>;
    /// Largest IP packet this link carries (the TUN MTU).
    fn mtu(&self) -> usize;
    /// File descriptor that becomes readable when a packet is queued, for ppoll. `None` for
    /// links that are driven by a test harness and never block.
    fn fd(&self) -> Option<RawFd>;
    /// Every frame read and written starts with a virtio-net header ([`vnet`]) and may be a TCP
    /// super-packet larger than the MTU. False for links that move bare IP packets.
    fn offload(&self) -> bool {
        false
    }
    /// Sleeps until a packet can be read, one of `extra` (at most 31 fds) is readable,
    /// `timeout` passes or a signal is handled, with `sigmask` as the signal mask meanwhile
    /// (by default a `ppoll` on [`Link::fd`], the read/write path's wait). Also sends
    /// what [`Link::send`] queued, for links that queue. Returns bit `i` set when `extra[i]`
    /// is readable or hung up.
    fn wait(
        &mut self,
        extra: &[RawFd],
        timeout: Option<crate::Duration>,
        sigmask: Option<&libc::sigset_t>,
    ) -> io::Result<u32> {
        crate::ppoll::wait(self.fd(), extra, timeout, sigmask)
    }
    /// Sends what [`Link::send`] queued (links that queue writes: [`uring::UringLink`]).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Whether the link reads into memory of its own and lends each frame in place
    /// ([`Link::recv_held`], [`Link::held`]) instead of copying it into the caller's buffer
    /// ([`uring::UringLink`]); false by default.
    fn lends(&self) -> bool {
        false
    }
    /// For a link that [`lends`](Link::lends): reads the next frame and holds it in the link's
    /// memory, where [`Link::held`] reaches it, until the next `recv_held`, `recv` or `wait`
    /// (which give its memory back to the link). `Ok(None)` when none is queued now; the
    /// default, for links that do not lend, reads nothing.
    fn recv_held(&mut self) -> io::Result<Option<usize>> {
        Ok(None)
    }
    /// The frame [`Link::recv_held`] holds (all of its bytes, writable in place), with the
    /// link's way out that may be used while the frame is borrowed; `None` when no frame is
    /// held.
    fn held(&mut self) -> Option<(&mut [u8], &mut dyn Sink)> {
        None
    }
    /// The link's sending half, for a link that builds frames in its own write memory
    /// ([`Sink::slot`]); `None` by default.
    fn sink(&mut self) -> Option<&mut dyn Sink> {
        None
    }
}

/// A link's sending half: sends while a frame it read is still borrowed ([`Link::held`]), and
/// may build frames in the link's own write memory ([`Sink::slot`], reached by [`Link::sink`]).
pub trait Sink {
    /// Writes one frame, like [`Link::send`].
    fn send_frame(&mut self, frame: &[u8]) -> io::Result<()>;
    /// Room for a frame of at most `len` bytes in the link's own write memory, to build the
    /// frame in place and send it with [`Sink::send_slot`] (or leave it unsent); `None` when
    /// the link has no such memory or no room now (then [`Sink::send_frame`] copies).
    fn slot(&mut self, _len: usize) -> Option<&mut [u8]> {
        None
    }
    /// Sends the first `len` bytes of the room the last [`Sink::slot`] gave (at most its
    /// size; nothing else may have been sent since).
    fn send_slot(&mut self, _len: usize) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this link builds no frame in place",
        ))
    }
}

impl<L: Link + ?Sized> Link for Box<L> {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        (**self).recv(buf)
    }
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        (**self).send(packet)
    }
    fn mtu(&self) -> usize {
        (**self).mtu()
    }
    fn fd(&self) -> Option<RawFd> {
        (**self).fd()
    }
    fn offload(&self) -> bool {
        (**self).offload()
    }
    fn wait(
        &mut self,
        extra: &[RawFd],
        timeout: Option<crate::Duration>,
        sigmask: Option<&libc::sigset_t>,
    ) -> io::Result<u32> {
        (**self).wait(extra, timeout, sigmask)
    }
    fn flush(&mut self) -> io::Result<()> {
        (**self).flush()
    }
    fn lends(&self) -> bool {
        (**self).lends()
    }
    fn recv_held(&mut self) -> io::Result<Option<usize>> {
        (**self).recv_held()
    }
    fn held(&mut self) -> Option<(&mut [u8], &mut dyn Sink)> {
        (**self).held()
    }
    fn sink(&mut self) -> Option<&mut dyn Sink> {
        (**self).sink()
    }
}

/// Largest packet the kernel hands over with offload: an IPv6 packet with the largest payload
/// its 16-bit length field describes (IPv4 super-packets are smaller). The TUN's GSO limit is
/// 64 KiB, so nothing larger comes; a larger one would be cut short and fail smoltcp's checks.
pub(crate) const MAX_INGRESS_PACKET: usize = 40 + 65_535;

/// Largest packet smoltcp may build for the kernel to segment: the largest IPv4 packet, whose
/// total-length field must stay exact (the kernel checks it against the frame).
pub(crate) const MAX_EGRESS_PACKET: usize = 65_535;

/// Counters of what crossed the port, for tests and the final log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PortStats {
    /// Packets read from the link and handed to smoltcp.
    pub rx_packets: u64,
    /// Packets smoltcp produced and the link accepted.
    pub tx_packets: u64,
    /// Packets the impairment dropped (both directions).
    pub dropped: u64,
    /// Link read/write errors other than "would block" (logged, then ignored).
    pub errors: u64,
    /// What the impairment did (all zero without one).
    pub impair: ImpairStats,
    /// TCP super-packets read from the link (offload only).
    pub gso_rx: u64,
    /// TCP super-packets smoltcp produced for the kernel to segment (offload only).
    pub gso_tx: u64,
    /// Frames dropped for a malformed virtio-net header or super-packet, or a bad TCP checksum
    /// (offload only: smoltcp checks TCP checksums itself otherwise).
    pub malformed: u64,
    /// What the loss-recovery layer did (all zero without one).
    pub recovery: RecoveryStats,
}

/// smoltcp device over a [`Link`], with the middleware chain around it.
pub struct Port<L: Link> {
    link: L,
    chain: Chain,
    rx_buf: Vec<u8>,
    tx_buf: Vec<u8>,
    mtu: usize,
    /// Bytes of virtio-net header before each packet: [`vnet::HEADER_LEN`] with offload, else 0.
    header: usize,
    stats: PortStats,
    /// Loss, reorder, duplicate, delay on the wire side; `None` when switched off.
    impair: Option<Impair>,
    /// Loss recovery for what smoltcp sends ([`crate::recovery`]); `None` when switched off.
    recovery: Option<Recovery>,
    /// The last `receive` found the link empty: every packet that arrived has been read.
    drained: bool,
    /// The link lends its frames ([`Link::lends`]): smoltcp reads them where the link read
    /// them, with no copy into `rx_buf` (which then holds only released held packets).
    lends: bool,
}

impl<L: Link> Port<L> {
    /// Wraps `link`; the buffers are allocated once here, sized to the link MTU, or with
    /// offload to the largest super-packet plus its header.
    pub fn new(link: L, chain: Chain) -> Self {
        let mtu = link.mtu();
        let link_lends = link.lends();
        let (header, rx_len, tx_len) = if link.offload() {
            (vnet::HEADER_LEN, MAX_INGRESS_PACKET, MAX_EGRESS_PACKET)
        } else {
            (0, mtu, mtu)
        };
        Port {
            link,
            chain,
            rx_buf: vec![0; header + rx_len],
            tx_buf: vec![0; header + tx_len],
            mtu,
            header,
            stats: PortStats::default(),
            impair: None,
            recovery: None,
            drained: true,
            lends: link_lends,
        }
    }

    /// Adds the loss-recovery layer: it sees every TCP segment both ways (on the stack side
    /// of the chain) and resends lost ones through it.
    pub fn with_recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = Some(recovery);
        self
    }

    /// Adds the impairment stage on the wire side of the chain.
    pub fn with_impair(mut self, impair: Impair) -> Self {
        self.impair = Some(impair);
        self
    }

    /// Sends the held outgoing packets that are due at `now` (held incoming ones are handed
    /// to smoltcp by `receive`), and the loss-recovery layer's retransmissions. Returns how
    /// many went out.
    pub fn release_due(&mut self, now: Instant) -> usize {
        let mut released = 0;
        if let Some(recovery) = &mut self.recovery {
            let (link, chain, impair, buf, stats) = (
                &mut self.link,
                &mut self.chain,
                &mut self.impair,
                &mut self.tx_buf,
                &mut self.stats,
            );
            let header = self.header;
            // A timer only fires once every packet that arrived before it was read: under
            // load the ACK it waits for may be sitting in the link, and a probe sent then
            // would be spurious (and add to the load).
            let timers = self.drained;
            released += recovery.poll_transmit(now, timers, |packet, headers, segment| {
                let end = header + packet.len();
                if buf.len() < end {
                    buf.resize(end, 0);
                }
                buf[header..end].copy_from_slice(packet);
                let mut out = Outgoing {
                    chain,
                    impair: impair.as_mut(),
                    stats,
                    header,
                    now,
                };
                if out.pass(&mut buf[..end], headers, segment) {
                    out.sent(link.send(&buf[..end]));
                }
            });
        }
        let Some(impair) = &mut self.impair else {
            return released;
        };
        while let Some(result) = impair.pop_due(Direction::Egress, now, |p| self.link.send(p)) {
            released += 1;
            match result {
                Ok(()) => self.stats.tx_packets += 1,
                Err(err) => {
                    self.stats.errors += 1;
                    log_link_error("write", &err, self.stats.errors);
                }
            }
        }
        released
    }

    /// When the next held packet (either direction) or recovery timer is due; `None` when
    /// neither waits.
    pub fn next_release(&self) -> Option<Instant> {
        let held = self.impair.as_ref().and_then(Impair::next_due);
        let timer = self.recovery.as_ref().and_then(Recovery::poll_at);
        held.into_iter().chain(timer).min()
    }

    /// Packets held by the impairment now (both directions).
    pub fn held(&self) -> usize {
        self.impair.as_ref().map_or(0, Impair::held)
    }

    /// The link underneath.
    pub fn link(&self) -> &L {
        &self.link
    }

    /// The link underneath, to wait on or flush.
    pub fn link_mut(&mut self) -> &mut L {
        &mut self.link
    }

    /// The middleware chain (to flush pcap, for instance).
    pub fn chain_mut(&mut self) -> &mut Chain {
        &mut self.chain
    }

    /// Counters so far.
    pub fn stats(&self) -> PortStats {
        PortStats {
            impair: self.impair.as_ref().map(Impair::stats).unwrap_or_default(),
            recovery: self
                .recovery
                .as_ref()
                .map(Recovery::stats)
                .unwrap_or_default(),
            ..self.stats
        }
    }
}

/// Logs the 1st, 2nd, 4th, 8th … link error: a TUN whose kernel side is down fails every
/// write, and one line per packet would bury everything else.
fn log_link_error(operation: &str, err: &io::Error, count: u64) {
    if count.is_power_of_two() {
        log::warn!("link {operation} failed: {err} ({count} link errors so far)");
    }
}

/// Logs the 1st, 2nd, 4th … malformed frame, for the same reason.
fn log_malformed(direction: Direction, err: vnet::Malformed, count: u64) {
    if count.is_power_of_two() {
        log::warn!("{direction:?} frame dropped: {err} ({count} malformed frames so far)");
    }
}

/// What the stack reads from a TCP packet's headers before smoltcp sees it: enough to route
/// it to its shard and to name its connection without scanning every socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFlow {
    /// Source endpoint (the remote side).
    pub src: IpEndpoint,
    /// Destination endpoint (ours).
    pub dst: IpEndpoint,
    /// SYN without ACK: an attempt to open a connection.
    pub syn: bool,
    /// A bare ACK: no data, SYN, FIN or RST (it only moves the peer's view of our sending).
    pub bare_ack: bool,
}

impl TcpFlow {
    /// The flow of a segment read by [`crate::packet`].
    pub fn of(segment: &Segment) -> TcpFlow {
        TcpFlow {
            src: segment.src,
            dst: segment.dst,
            syn: segment.opens(),
            bare_ack: segment.seg_len() == 0 && !segment.rst,
        }
    }
}

impl<L: Link> phy::Device for Port<L> {
    type RxToken<'a>
        = PortRx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = PortTx<'a, L>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        // Drop decisions happen here, before smoltcp sees the packet, so a dropped packet costs
        // one read and nothing else; keep reading until one passes or the link is empty.
        let (len, flow, lent) = loop {
            // A held packet that is due arrived before anything still in the link.
            let released = self.impair.as_mut().and_then(|impair| {
                let rx_buf = &mut self.rx_buf;
                impair.pop_due(Direction::Ingress, timestamp, |p| {
                    // Held packets were read into this buffer (or a lending link's frame of
                    // the same size): they fit.
                    let len = p.len().min(rx_buf.len());
                    rx_buf[..len].copy_from_slice(&p[..len]);
                    len
                })
            });
            // The frame is in the port's buffer, or (`lent`) in the link's memory.
            let (len, lent) = match released {
                Some(len) => (len, false),
                None => {
                    let read = if self.lends {
                        self.link.recv_held()
                    } else {
                        self.link.recv(&mut self.rx_buf)
                    };
                    match read {
                        Ok(Some(len)) => {
                            self.drained = false;
                            (len, self.lends)
                        }
                        Ok(None) => {
                            self.drained = true;
                            return None;
                        }
                        Err(err) => {
                            self.stats.errors += 1;
                            log_link_error("read", &err, self.stats.errors);
                            return None;
                        }
                    }
                }
            };
            let frame: &mut [u8] = if lent {
                self.link.held().map_or(&mut [][..], |(frame, _)| frame)
            } else {
                &mut self.rx_buf
            };
            let len = len.min(frame.len());
            let frame = &mut frame[..len];
            if released.is_none() {
                if let Some(impair) = &mut self.impair {
                    match impair.admit(Direction::Ingress, frame, timestamp) {
                        Admit::Now => {}
                        Admit::Held => continue,
                        Admit::Dropped => {
                            self.stats.dropped += 1;
                            if !self.chain.is_empty() {
                                let packet = &frame[self.header.min(len)..];
                                let headers = Headers::parse(packet);
                                self.chain.on_wire_drop(
                                    Direction::Ingress,
                                    packet,
                                    &headers,
                                    timestamp,
                                );
                            }
                            continue;
                        }
                    }
                }
            }
            // The one read of this packet's headers; everything below uses it. The checksum
            // completion below changes no field it holds.
            let Some(packet) = frame.get(self.header..) else {
                self.stats.malformed += 1;
                log_malformed(
                    Direction::Ingress,
                    vnet::Malformed::Short,
                    self.stats.malformed,
                );
                continue;
            };
            let headers = Headers::parse(packet);
            // After the impairment, which copies frames as they came from the wire: completing
            // a checksum twice would corrupt it.
            if self.header > 0 {
                // With no layer reading it now (none configured, or the /trace tap with no
                // one watching), only smoltcp reads the packet, and it does not check TCP
                // checksums under offload: the kernel's partial one stays partial.
                let settle = if !self.chain.reads_packets() {
                    vnet::accept_ingress_keeping_partial
                } else {
                    vnet::accept_ingress
                };
                match settle(frame, &headers) {
                    Ok(ingress) => self.stats.gso_rx += u64::from(ingress.gso),
                    Err(err) => {
                        self.stats.malformed += 1;
                        log_malformed(Direction::Ingress, err, self.stats.malformed);
                        continue;
                    }
                }
            }
            self.chain.handle(
                Direction::Ingress,
                &frame[self.header..],
                &headers,
                timestamp,
            );
            // A duplicate ACK the recovery layer acts on stops here (counted there).
            if let Some(recovery) = &mut self.recovery {
                if !recovery.on_ingress(&headers, timestamp) {
                    continue;
                }
            }
            break (len, headers.tcp().map(TcpFlow::of), lent);
        };
        // smoltcp reads the packet where it is; a lent frame stays with the link (which sends
        // meanwhile through its sending half) until the link's next read.
        let (frame, link): (&[u8], Out<'_, L>) = if lent {
            let (frame, sink) = self.link.held()?;
            (frame, Out::Lent(sink))
        } else {
            (&self.rx_buf, Out::Link(&mut self.link))
        };
        let packet = frame.get(self.header..len)?;
        self.stats.rx_packets += 1;
        let rx = PortRx { packet, flow };
        let tx = PortTx {
            link,
            chain: &mut self.chain,
            impair: self.impair.as_mut(),
            recovery: self.recovery.as_mut(),
            buf: &mut self.tx_buf,
            mtu: self.mtu,
            header: self.header,
            segment: None,
            stats: &mut self.stats,
            now: timestamp,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        Some(PortTx {
            link: Out::Link(&mut self.link),
            chain: &mut self.chain,
            impair: self.impair.as_mut(),
            recovery: self.recovery.as_mut(),
            buf: &mut self.tx_buf,
            mtu: self.mtu,
            header: self.header,
            segment: None,
            stats: &mut self.stats,
            now: timestamp,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        // The link MTU, also with offload: smoltcp derives the MSS it advertises from it, and
        // peers beyond the kernel must get segments that fit their path.
        caps.max_transmission_unit = self.mtu;
        // Without offload checksums stay at their default (compute and verify everything): the
        // kernel drops packets with bad checksums that arrive over a TUN.
        if self.header > 0 {
            // smoltcp may then build IPv4 TCP packets larger than the MTU and name the segment
            // size (its effective MSS towards the peer) for the kernel to cut them to; it
            // requires TCP checksums left to the device, which `vnet::prepare_egress` fills in.
            // Incoming TCP checksums are settled by `vnet::accept_ingress` (completed or, with
            // no middleware reading it, left partial as the local kernel made it; vouched
            // for by the kernel, or verified), so smoltcp does not check them a second time.
            // No IPv6: smoltcp 0.14 drops IPv6 packets above the MTU before they reach the
            // device, so it must keep IPv6 segments to the MSS.
            caps.checksum.tcp = Checksum::None;
            caps.segmentation.tcpv4 = NonZeroUsize::new(MAX_EGRESS_PACKET);
        }
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::impair::ImpairConfig;
    use smoltcp::time::Duration;
    use smoltcp::wire::TcpPacket;

    use smoltcp::phy::{Device, PacketMeta, RxToken, TxToken};

    /// A minimal IPv4+TCP header pair: 10.0.0.1:1234 → 10.0.0.2:80, SYN.
    fn tcp_packet() -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&40u16.to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        p[20..22].copy_from_slice(&1234u16.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = 0x02;
        p
    }

    #[test]
    fn packets_pass_both_ways_and_tcp_flows_are_noted() {
        let (a, mut b) = memory::pair(1500);
        let mut port = Port::new(a, Chain::new());
        b.send(&tcp_packet()).unwrap();
        let (rx, _tx) = port.receive(Instant::ZERO).expect("a packet");
        let flow = rx.flow().expect("a TCP flow");
        assert_eq!((flow.src.port, flow.dst.port, flow.syn), (1234, 80, true));
        assert_eq!(rx.consume(|p| p.to_vec()), tcp_packet());

        let tx = port.transmit(Instant::ZERO).unwrap();
        tx.consume(3, |buf| buf.copy_from_slice(b"abc"));
        let mut buf = [0u8; 16];
        assert_eq!(b.recv(&mut buf).unwrap(), Some(3));
        assert_eq!(&buf[..3], b"abc");
        assert_eq!(
            port.stats(),
            PortStats {
                rx_packets: 1,
                tx_packets: 1,
                dropped: 0,
                errors: 0,
                impair: ImpairStats::default(),
                ..PortStats::default()
            }
        );
    }

    /// A memory link that claims offload: frames carry a virtio-net header.
    struct OffloadLink(memory::MemoryLink);

    impl Link for OffloadLink {
        fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
            self.0.recv(buf)
        }
        fn send(&mut self, packet: &[u8]) -> io::Result<()> {
            self.0.send(packet)
        }
        fn mtu(&self) -> usize {
            1500
        }
        fn fd(&self) -> Option<RawFd> {
            None
        }
        fn offload(&self) -> bool {
            true
        }
    }

    /// `packet` (IPv4, 10.0.0.1 → 10.0.0.2) with its TCP checksum filled in.
    fn checksummed(mut packet: Vec<u8>) -> Vec<u8> {
        TcpPacket::new_unchecked(&mut packet[20..]).fill_checksum(
            &smoltcp::wire::Ipv4Address::new(10, 0, 0, 1).into(),
            &smoltcp::wire::Ipv4Address::new(10, 0, 0, 2).into(),
        );
        packet
    }

    fn with_header(header: vnet::Header, packet: &[u8]) -> Vec<u8> {
        let mut frame = vec![0u8; vnet::HEADER_LEN];
        header.emit((&mut frame[..]).try_into().unwrap());
        frame.extend_from_slice(packet);
        frame
    }

    #[test]
    fn offload_strips_headers_in_and_writes_them_out() {
        // The far end carries 64 KiB frames, like the kernel side of the TUN.
        let (a, mut b) = memory::pair(70_000);
        let mut port = Port::new(OffloadLink(a), Chain::new());
        let caps = port.capabilities();
        assert_eq!(
            caps.max_transmission_unit, 1500,
            "MSS still from the link MTU"
        );
        assert!(caps.segmentation.tcpv4.is_some() && caps.segmentation.tcpv6.is_none());
        assert!(!caps.checksum.tcp.tx() && !caps.checksum.tcp.rx());

        // A super-packet in: 4000 payload bytes behind a GSO header; smoltcp sees the packet.
        let mut big = tcp_packet();
        big.resize(40 + 4000, 7);
        big[2..4].copy_from_slice(&4040u16.to_be_bytes());
        let big = checksummed(big);
        let gso = vnet::Header {
            gso_type: vnet::GSO_TCPV4,
            gso_size: 1460,
            hdr_len: 40,
            ..vnet::Header::default()
        };
        b.send(&with_header(gso, &big)).unwrap();
        let (rx, _tx) = port.receive(Instant::ZERO).expect("the super-packet");
        assert_eq!(rx.consume(|p| p.to_vec()), big);

        // Malformed frames are dropped and counted, the next good one still comes through.
        b.send(&[0u8; 4]).unwrap();
        let mut udp = tcp_packet();
        udp[9] = 17;
        b.send(&with_header(gso, &udp)).unwrap();
        let bad_csum = vnet::Header {
            flags: vnet::F_NEEDS_CSUM,
            csum_start: 4000,
            ..vnet::Header::default()
        };
        b.send(&with_header(bad_csum, &tcp_packet())).unwrap();
        // A zero TCP checksum without NEEDS_CSUM or DATA_VALID is checked, and wrong.
        b.send(&with_header(vnet::Header::default(), &tcp_packet()))
            .unwrap();
        let good = checksummed(tcp_packet());
        b.send(&with_header(vnet::Header::default(), &good))
            .unwrap();
        let (rx, _tx) = port.receive(Instant::ZERO).expect("the good frame");
        assert_eq!(rx.consume(|p| p.to_vec()), good);
        assert_eq!((port.stats().malformed, port.stats().gso_rx), (4, 1));

        // Out: smoltcp asks for 1000-byte segments of a 3000-byte payload.
        let mut tx = port.transmit(Instant::ZERO).unwrap();
        let mut meta = PacketMeta::default();
        meta.segmentation_offload_size = std::num::NonZeroU16::new(1000);
        tx.set_meta(meta);
        let mut out = tcp_packet();
        out.resize(40 + 3000, 1);
        out[2..4].copy_from_slice(&3040u16.to_be_bytes());
        tx.consume(out.len(), |buf| buf.copy_from_slice(&out));
        let mut frame = vec![0u8; 70_000];
        let len = b.recv(&mut frame).unwrap().expect("a frame");
        let header = vnet::Header::parse(&frame[..len]).unwrap();
        assert_eq!(
            (header.gso_type, header.gso_size, header.flags),
            (vnet::GSO_TCPV4, 1000, vnet::F_NEEDS_CSUM)
        );
        assert_eq!(len, vnet::HEADER_LEN + out.len());
        // A plain segment out: zero header, full checksum.
        let tx = port.transmit(Instant::ZERO).unwrap();
        tx.consume(40, |buf| buf.copy_from_slice(&tcp_packet()));
        let len = b.recv(&mut frame).unwrap().expect("a frame");
        assert_eq!(&frame[..vnet::HEADER_LEN], &[0u8; vnet::HEADER_LEN]);
        let tcp = TcpPacket::new_checked(&frame[vnet::HEADER_LEN + 20..len]).unwrap();
        assert!(tcp.verify_checksum(
            &smoltcp::wire::Ipv4Address::new(10, 0, 0, 1).into(),
            &smoltcp::wire::Ipv4Address::new(10, 0, 0, 2).into()
        ));
        // A super-packet request on something that is not TCP is dropped, not sent.
        let mut tx = port.transmit(Instant::ZERO).unwrap();
        tx.set_meta(meta);
        tx.consume(udp.len(), |buf| buf.copy_from_slice(&udp));
        assert_eq!(b.recv(&mut frame).unwrap(), None);
        let stats = port.stats();
        assert_eq!((stats.gso_tx, stats.tx_packets, stats.malformed), (1, 2, 5));
    }

    /// A link that lends: frames are read into its own buffer and handed over in place; the
    /// copying `recv` fails, so a port that used it would count errors.
    struct LendingLink {
        sink: MemorySink,
        buf: Vec<u8>,
        held: Option<usize>,
        offload: bool,
        lent: u32,
    }

    /// Sends through a memory link; builds frames in its own room, counting them.
    struct MemorySink(memory::MemoryLink, Vec<u8>, u32);

    impl Sink for MemorySink {
        fn send_frame(&mut self, frame: &[u8]) -> io::Result<()> {
            self.0.send(frame)
        }
        fn slot(&mut self, len: usize) -> Option<&mut [u8]> {
            self.1.resize(len, 0);
            Some(&mut self.1)
        }
        fn send_slot(&mut self, len: usize) -> io::Result<()> {
            self.2 += 1;
            self.0.send(&self.1[..len])
        }
    }

    impl Link for LendingLink {
        fn recv(&mut self, _: &mut [u8]) -> io::Result<Option<usize>> {
            Err(io::Error::other("a lending link is not copied from"))
        }
        fn send(&mut self, packet: &[u8]) -> io::Result<()> {
            self.sink.0.send(packet)
        }
        fn mtu(&self) -> usize {
            1500
        }
        fn fd(&self) -> Option<RawFd> {
            None
        }
        fn offload(&self) -> bool {
            self.offload
        }
        fn lends(&self) -> bool {
            true
        }
        fn recv_held(&mut self) -> io::Result<Option<usize>> {
            self.held = self.sink.0.recv(&mut self.buf)?;
            self.lent += u32::from(self.held.is_some());
            Ok(self.held)
        }
        fn held(&mut self) -> Option<(&mut [u8], &mut dyn Sink)> {
            let len = self.held?;
            Some((&mut self.buf[..len], &mut self.sink))
        }
        fn sink(&mut self) -> Option<&mut dyn Sink> {
            Some(&mut self.sink)
        }
    }

    #[test]
    fn a_lent_frame_is_read_in_place_and_replies_leave_while_it_is_lent() {
        let (a, mut b) = memory::pair(70_000);
        let link = |a, offload| LendingLink {
            sink: MemorySink(a, Vec::new(), 0),
            buf: vec![0; 70_000],
            held: None,
            offload,
            lent: 0,
        };
        // Every incoming packet duplicated: the copy comes from the port's own buffer.
        let impair = Impair::new(&ImpairConfig {
            loss_percent: 0.0,
            reorder_percent: 0.0,
            duplicate_percent: 100.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            seed: 1,
        });
        let mut port = Port::new(link(a, false), Chain::new()).with_impair(impair);
        b.send(&tcp_packet()).unwrap();
        for reply in [&b"one"[..], b"two"] {
            let (rx, tx) = port.receive(Instant::ZERO).expect("a copy");
            assert_eq!(rx.flow().map(|f| f.src.port), Some(1234));
            assert_eq!(rx.consume(|p| p.to_vec()), tcp_packet());
            tx.consume(3, |buf| buf.copy_from_slice(reply));
        }
        assert!(port.receive(Instant::ZERO).is_none());
        let mut buf = [0u8; 16];
        for reply in [&b"one"[..], b"two"] {
            assert_eq!(b.recv(&mut buf).unwrap(), Some(3));
            assert_eq!(&buf[..3], reply);
        }
        let stats = port.stats();
        assert_eq!(
            (stats.rx_packets, stats.tx_packets, stats.errors),
            (2, 2, 0)
        );
        assert_eq!(port.link().lent, 1);
        assert_eq!(
            port.link().sink.2,
            2,
            "both replies built in the link's room"
        );

        // With offload and no middleware, a partial TCP checksum is left as the kernel made it
        // (smoltcp does not check it), the header stripped in place.
        let (a, mut b) = memory::pair(70_000);
        let mut port = Port::new(link(a, true), Chain::new());
        let mut packet = tcp_packet();
        packet[36..38].copy_from_slice(&[0x12, 0x34]);
        let partial = vnet::Header {
            flags: vnet::F_NEEDS_CSUM,
            csum_start: 20,
            csum_offset: 16,
            ..vnet::Header::default()
        };
        b.send(&with_header(partial, &packet)).unwrap();
        let (rx, _tx) = port.receive(Instant::ZERO).expect("the packet");
        assert_eq!(rx.consume(|p| p.to_vec()), packet);
        assert_eq!((port.stats().malformed, port.link().lent), (0, 1));
        // A layer that reads packets now gets the checksum completed; one that does not (an
        // unwatched tap) leaves it partial.
        // (A super-packet as the kernel makes them: the pseudo-header sum in the field.)
        let mut packet = tcp_packet();
        packet.resize(140, 3);
        packet[2..4].copy_from_slice(&140u16.to_be_bytes());
        let mut frame = vec![0u8; vnet::HEADER_LEN];
        frame.extend_from_slice(&packet);
        let headers = Headers::parse(&packet);
        vnet::prepare_egress(&mut frame, &headers, Some(40)).unwrap();
        let packet = frame[vnet::HEADER_LEN..].to_vec();
        for reads in [false, true] {
            let (a, mut b) = memory::pair(70_000);
            let mut chain = Chain::new();
            chain.push(Box::new(Reader(reads)));
            let mut port = Port::new(link(a, true), chain);
            b.send(&frame).unwrap();
            let (rx, _tx) = port.receive(Instant::ZERO).expect("the packet");
            let got = rx.consume(|p| p.to_vec());
            let complete = TcpPacket::new_checked(&got[20..]).unwrap().verify_checksum(
                &smoltcp::wire::Ipv4Address::new(10, 0, 0, 1).into(),
                &smoltcp::wire::Ipv4Address::new(10, 0, 0, 2).into(),
            );
            assert_eq!((got == packet, complete), (!reads, reads), "reads {reads}");
        }
    }

    /// A layer that reads packets, or (false) says it would not now.
    struct Reader(bool);

    impl crate::middleware::Layer for Reader {
        fn handle(&mut self, _: Direction, _: &[u8], _: &Headers, _: Instant) {}
        fn reads_packets(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn non_tcp_and_garbage_have_no_flow() {
        let (a, mut b) = memory::pair(1500);
        let mut port = Port::new(a, Chain::new());
        let mut udp = tcp_packet();
        udp[9] = 17;
        let mut short = tcp_packet();
        short.truncate(30);
        for packet in [&[0x45u8, 0, 0][..], &udp, &short] {
            b.send(packet).unwrap();
            let (rx, _tx) = port.receive(Instant::ZERO).expect("handed to smoltcp");
            assert_eq!(rx.flow(), None, "{packet:?}");
        }
    }

    #[test]
    fn impairment_holds_packets_until_due_in_both_directions() {
        let (a, mut b) = memory::pair(1500);
        let delay = Duration::from_millis(30);
        let impair = Impair::new(&ImpairConfig {
            loss_percent: 0.0,
            reorder_percent: 0.0,
            duplicate_percent: 0.0,
            delay,
            jitter: Duration::ZERO,
            seed: 1,
        });
        let mut port = Port::new(a, Chain::new()).with_impair(impair);
        let t0 = Instant::from_millis(100);

        b.send(&tcp_packet()).unwrap();
        assert!(port.receive(t0).is_none(), "held on the way in");
        assert_eq!(port.held(), 1);
        assert_eq!(port.next_release(), Some(t0 + delay));
        assert!(
            port.receive(t0 + delay - Duration::from_micros(1))
                .is_none()
        );
        let (rx, _tx) = port.receive(t0 + delay).expect("released when due");
        assert_eq!(rx.flow().map(|f| f.src.port), Some(1234));
        assert_eq!(rx.consume(|p| p.to_vec()), tcp_packet());

        let tx = port.transmit(t0).unwrap();
        tx.consume(3, |buf| buf.copy_from_slice(b"out"));
        assert_eq!(b.recv(&mut [0u8; 16]).unwrap(), None, "held on the way out");
        assert_eq!(port.release_due(t0), 0);
        assert_eq!(port.release_due(t0 + delay), 1);
        let mut buf = [0u8; 16];
        assert_eq!(b.recv(&mut buf).unwrap(), Some(3));
        assert_eq!(&buf[..3], b"out");
        assert_eq!(port.next_release(), None);
        let stats = port.stats();
        assert_eq!(
            (stats.rx_packets, stats.tx_packets, stats.impair.held),
            (1, 1, 2)
        );
    }

    #[test]
    fn duplicated_incoming_packet_is_delivered_twice() {
        let (a, mut b) = memory::pair(1500);
        let impair = Impair::new(&ImpairConfig {
            loss_percent: 0.0,
            reorder_percent: 0.0,
            duplicate_percent: 100.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            seed: 1,
        });
        let mut port = Port::new(a, Chain::new()).with_impair(impair);
        b.send(&tcp_packet()).unwrap();
        for _ in 0..2 {
            let (rx, _tx) = port.receive(Instant::ZERO).expect("a copy");
            assert_eq!(rx.consume(|p| p.to_vec()), tcp_packet());
        }
        assert!(port.receive(Instant::ZERO).is_none());
        assert_eq!(port.stats().impair.duplicated, 1);
    }
}
