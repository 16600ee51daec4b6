//! One IP packet's headers, read once: the IP header, and for TCP the whole TCP header with
//! its options and where the payload lies.
//!
//! Every packet is parsed here exactly once in each direction, by [`crate::device::Port`]:
//! on the way in after the virtio-net header is checked, on the way out once smoltcp has
//! built it (and again only if the recovery layer rewrote its options). The result,
//! [`Headers`], is handed to everything that reads headers: the virtio-net checks
//! ([`crate::device::vnet`]), the middleware layers (trace, the packet ladder's recorder,
//! pcap), the loss-recovery layer ([`crate::recovery`]) and the routing of a packet to its
//! shard ([`crate::device::TcpFlow`]).
//!
//! Smoltcp's checked views (`Ipv4Packet::new_checked`, `TcpPacket::new_checked`) bound the
//! lengths; the options are read here (RFC 9293 §3.2, RFC 7323, RFC 2018). Nothing here
//! panics on any input: a packet that is not IP reads as [`Headers::Unreadable`], an IP packet
//! that is not a whole TCP segment (another protocol, an IPv4 fragment, IPv6 extension
//! headers, a truncated or malformed TCP header) as [`Headers::Ip`], and a malformed option
//! list ends the options read (those before it count).
//!
//! [`emit_tcp`] is the mirror for tests and fuzz targets that play a peer: a TCP segment in an
//! IPv4 or IPv6 packet with every checksum filled in.

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IpAddress, IpEndpoint, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TcpPacket,
    TcpRepr,
};

/// At most four SACK blocks fit in the 40 bytes of TCP options (RFC 2018 §3).
pub const MAX_SACK_BLOCKS: usize = 4;

/// TCP option kind: end of the option list (RFC 9293 §3.2).
pub const OPT_END: u8 = 0;
/// TCP option kind: no-operation, padding (RFC 9293 §3.2).
pub const OPT_NOP: u8 = 1;
/// TCP option kind: maximum segment size, on a SYN (RFC 9293 §3.2).
pub const OPT_MSS: u8 = 2;
/// TCP option kind: window scale, on a SYN (RFC 7323 §2.2).
pub const OPT_WINDOW_SCALE: u8 = 3;
/// TCP option kind: SACK permitted, on a SYN (RFC 2018 §2).
pub const OPT_SACK_PERMITTED: u8 = 4;
/// TCP option kind: SACK blocks (RFC 2018 §3).
pub const OPT_SACK: u8 = 5;
/// TCP option kind: timestamps (RFC 7323 §3.2).
pub const OPT_TIMESTAMP: u8 = 8;

/// Offsets in the TCP header (RFC 9293 §3.1).
const ACK_AT: usize = 8;
const FLAGS_AT: usize = 13;
const WINDOW_AT: usize = 14;
/// The fixed part of a TCP header.
const TCP_FIXED_LEN: usize = 20;

/// TCP header flag bits (RFC 9293 §3.1, RFC 3168 §6.1 for ECE and CWR).
const FLAG_FIN: u8 = 0x01;
const FLAG_SYN: u8 = 0x02;
const FLAG_RST: u8 = 0x04;
const FLAG_PSH: u8 = 0x08;
const FLAG_ACK: u8 = 0x10;
const FLAG_URG: u8 = 0x20;
const FLAG_ECE: u8 = 0x40;
const FLAG_CWR: u8 = 0x80;

/// What one IP packet's headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Headers {
    /// A whole TCP segment over IPv4 or IPv6.
    Tcp(Segment),
    /// An IP packet that is not a whole TCP segment: another protocol (ICMP), an IPv4
    /// fragment, IPv6 with extension headers, or TCP whose header does not fit.
    Ip(IpHeader),
    /// Not an IPv4 or IPv6 packet whose header and length fields fit the bytes.
    Unreadable,
}

impl Headers {
    /// Reads the headers of `packet` (one IP packet, nothing before it).
    pub fn parse(packet: &[u8]) -> Headers {
        let Some(ip) = IpHeader::parse(packet) else {
            return Headers::Unreadable;
        };
        match Segment::read(packet, ip) {
            Some(segment) => Headers::Tcp(segment),
            None => Headers::Ip(ip),
        }
    }

    /// The TCP segment, when the packet is one.
    pub fn tcp(&self) -> Option<&Segment> {
        match self {
            Headers::Tcp(segment) => Some(segment),
            _ => None,
        }
    }

    /// The IP header, when the packet has a readable one.
    pub fn ip(&self) -> Option<&IpHeader> {
        match self {
            Headers::Tcp(segment) => Some(&segment.ip),
            Headers::Ip(ip) => Some(ip),
            Headers::Unreadable => None,
        }
    }
}

/// The IP header fields of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpHeader {
    /// 4 or 6.
    pub version: u8,
    /// Source address.
    pub src: IpAddress,
    /// Destination address.
    pub dst: IpAddress,
    /// The protocol field (IPv4) or next header (IPv6).
    pub protocol: IpProtocol,
    /// Header length in bytes (IPv6: the fixed 40).
    pub header_len: usize,
    /// Total length field (IPv4) or 40 + payload length (IPv6); at most the packet's length
    /// (bytes after it, a TUN frame's padding, belong to no layer).
    pub total_len: usize,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// Identification (IPv4 only; 0 for IPv6).
    pub ident: u16,
    /// Don't Fragment (IPv4 only).
    pub dont_frag: bool,
    /// An IPv4 fragment (More Fragments set or a non-zero offset): not a whole segment.
    pub fragment: bool,
}

impl IpHeader {
    /// Reads an IPv4 or IPv6 header whose lengths fit `packet`.
    fn parse(packet: &[u8]) -> Option<IpHeader> {
        match packet.first()? >> 4 {
            4 => {
                let ip = Ipv4Packet::new_checked(packet).ok()?;
                Some(IpHeader {
                    version: 4,
                    src: ip.src_addr().into(),
                    dst: ip.dst_addr().into(),
                    protocol: ip.next_header(),
                    header_len: usize::from(ip.header_len()),
                    total_len: usize::from(ip.total_len()),
                    ttl: ip.hop_limit(),
                    ident: ip.ident(),
                    dont_frag: ip.dont_frag(),
                    fragment: ip.more_frags() || ip.frag_offset() != 0,
                })
            }
            6 => {
                let ip = Ipv6Packet::new_checked(packet).ok()?;
                Some(IpHeader {
                    version: 6,
                    src: ip.src_addr().into(),
                    dst: ip.dst_addr().into(),
                    protocol: ip.next_header(),
                    header_len: ip.header_len(),
                    total_len: ip.header_len() + usize::from(ip.payload_len()),
                    ttl: ip.hop_limit(),
                    ident: 0,
                    dont_frag: false,
                    fragment: false,
                })
            }
            _ => None,
        }
    }

    /// Bytes after the IP header, by the length field.
    pub fn payload_len(&self) -> usize {
        self.total_len - self.header_len
    }
}

/// The TCP options this stack reads, named as in their RFCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size (on a SYN).
    pub mss: Option<u16>,
    /// Window scale shift (on a SYN).
    pub wscale: Option<u8>,
    /// SACK permitted (on a SYN).
    pub sack_permitted: bool,
    /// SACK blocks (left edge, right edge), in the order the option lists them.
    pub sack: [Option<(u32, u32)>; MAX_SACK_BLOCKS],
    /// TSval, TSecr.
    pub timestamp: Option<(u32, u32)>,
}

impl TcpOptions {
    /// Reads an options area; stops at END or at the first malformed option.
    fn read(bytes: &[u8]) -> TcpOptions {
        let mut read = TcpOptions::default();
        for item in options(bytes) {
            let Some((kind, option)) = item else { break };
            let body = &option[2..];
            match (kind, body.len()) {
                (OPT_MSS, 2) => read.mss = Some(u16::from_be_bytes([body[0], body[1]])),
                (OPT_WINDOW_SCALE, 1) => read.wscale = Some(body[0]),
                (OPT_SACK_PERMITTED, 0) => read.sack_permitted = true,
                (OPT_SACK, len) if len % 8 == 0 => {
                    read.sack = [None; MAX_SACK_BLOCKS];
                    for (slot, block) in read.sack.iter_mut().zip(body.chunks_exact(8)) {
                        *slot = Some((be32(&block[..4]), be32(&block[4..])));
                    }
                }
                (OPT_TIMESTAMP, 8) => read.timestamp = Some((be32(&body[..4]), be32(&body[4..]))),
                _ => {}
            }
        }
        read
    }
}

/// A big-endian u32 from exactly four bytes.
fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// A TCP segment in an IP packet: its endpoints, header fields with absolute sequence numbers,
/// options, and where its parts lie in the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// The IP header around it.
    pub ip: IpHeader,
    /// Sender's endpoint.
    pub src: IpEndpoint,
    /// Receiver's endpoint.
    pub dst: IpEndpoint,
    /// Where the TCP header starts in the packet.
    pub tcp_at: usize,
    /// Where the TCP segment ends (the IP length; trailing bytes are not part of it).
    pub tcp_end: usize,
    /// TCP header length, options included.
    pub header_len: usize,
    /// SEG.SEQ.
    pub seq: u32,
    /// SEG.ACK when the ACK flag is set.
    pub ack: Option<u32>,
    /// The raw window field (scaled by the receiver of this segment).
    pub window: u16,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// PSH flag.
    pub psh: bool,
    /// URG flag.
    pub urg: bool,
    /// ECE flag (RFC 3168).
    pub ece: bool,
    /// CWR flag (RFC 3168).
    pub cwr: bool,
    /// The options read.
    pub options: TcpOptions,
    /// Payload bytes start at this offset of the packet and run for `payload_len`.
    pub payload_at: usize,
    /// Bytes of payload.
    pub payload_len: usize,
}

impl Segment {
    /// Reads a TCP segment from an IP packet; `None` for anything else or garbage (what
    /// [`Headers::parse`] reads, for callers that want the segment only).
    pub fn parse(packet: &[u8]) -> Option<Segment> {
        match Headers::parse(packet) {
            Headers::Tcp(segment) => Some(segment),
            _ => None,
        }
    }

    /// The TCP segment of `packet`, whose IP header is `ip`.
    fn read(packet: &[u8], ip: IpHeader) -> Option<Segment> {
        if ip.protocol != IpProtocol::Tcp || ip.fragment {
            return None;
        }
        let (tcp_at, tcp_end) = (ip.header_len, ip.total_len);
        let tcp = TcpPacket::new_checked(packet.get(tcp_at..tcp_end)?).ok()?;
        let header_len = usize::from(tcp.header_len());
        let flags = packet[tcp_at + FLAGS_AT];
        let flag = |bit: u8| flags & bit != 0;
        Some(Segment {
            ip,
            src: IpEndpoint::new(ip.src, tcp.src_port()),
            dst: IpEndpoint::new(ip.dst, tcp.dst_port()),
            tcp_at,
            tcp_end,
            header_len,
            seq: tcp.seq_number().0 as u32,
            ack: flag(FLAG_ACK).then(|| tcp.ack_number().0 as u32),
            window: tcp.window_len(),
            syn: flag(FLAG_SYN),
            fin: flag(FLAG_FIN),
            rst: flag(FLAG_RST),
            psh: flag(FLAG_PSH),
            urg: flag(FLAG_URG),
            ece: flag(FLAG_ECE),
            cwr: flag(FLAG_CWR),
            options: TcpOptions::read(&packet[tcp_at + TCP_FIXED_LEN..tcp_at + header_len]),
            payload_at: tcp_at + header_len,
            payload_len: tcp_end - tcp_at - header_len,
        })
    }

    /// SEG.LEN: the sequence space the segment occupies, payload plus one for SYN and FIN each.
    pub fn seg_len(&self) -> u32 {
        self.payload_len as u32 + u32::from(self.syn) + u32::from(self.fin)
    }

    /// SEG.SEQ + SEG.LEN.
    pub fn end(&self) -> u32 {
        self.seq.wrapping_add(self.seg_len())
    }

    /// The SACK blocks present.
    pub fn sack_blocks(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.options.sack.iter().flatten().copied()
    }

    /// A SYN without ACK: an attempt to open a connection.
    pub fn opens(&self) -> bool {
        self.syn && self.ack.is_none()
    }
}

/// The options of a TCP header, each as `(kind, the whole option)`, NOPs skipped, up to END.
/// A malformed option (length below 2 or past the end) is a `None` item, and the last.
pub fn options(mut bytes: &[u8]) -> impl Iterator<Item = Option<(u8, &[u8])>> {
    std::iter::from_fn(move || {
        loop {
            let &kind = bytes.first()?;
            match kind {
                OPT_END => return None,
                OPT_NOP => {
                    bytes = &bytes[1..];
                    continue;
                }
                _ => {}
            }
            let len = bytes.get(1).map(|&l| usize::from(l));
            let Some(len) = len.filter(|&l| l >= 2 && l <= bytes.len()) else {
                bytes = &[];
                return Some(None);
            };
            let (option, rest) = bytes.split_at(len);
            bytes = rest;
            return Some(Some((kind, option)));
        }
    })
}

/// Gives an outgoing segment (`packet`, read as `segment`) a newer acknowledgment number and
/// window, and recomputes its TCP checksum; `segment` is updated to match.
pub fn refresh_ack(packet: &mut [u8], segment: &mut Segment, ack: u32, window: u16) {
    let tcp = &mut packet[segment.tcp_at..segment.tcp_end];
    tcp[ACK_AT..ACK_AT + 4].copy_from_slice(&ack.to_be_bytes());
    tcp[FLAGS_AT] |= FLAG_ACK;
    tcp[WINDOW_AT..WINDOW_AT + 2].copy_from_slice(&window.to_be_bytes());
    TcpPacket::new_unchecked(tcp).fill_checksum(&segment.src.addr, &segment.dst.addr);
    segment.ack = Some(ack);
    segment.window = window;
}

/// Writes an IP packet carrying `tcp` from `src` to `dst` (IPv4 or IPv6, as the addresses are)
/// into the start of `out`, with every checksum filled in, and returns its length; `None` when
/// it does not fit `out` or the two addresses are of different versions.
pub fn emit_tcp(
    src: IpAddress,
    dst: IpAddress,
    tcp: &TcpRepr<'_>,
    out: &mut [u8],
) -> Option<usize> {
    let caps = ChecksumCapabilities::default();
    let payload_len = tcp.buffer_len();
    let (header_len, tcp_out) = match (src, dst) {
        (IpAddress::Ipv4(src_addr), IpAddress::Ipv4(dst_addr)) => {
            let ip = Ipv4Repr {
                src_addr,
                dst_addr,
                next_header: IpProtocol::Tcp,
                payload_len,
                hop_limit: 64,
            };
            let len = ip.buffer_len() + payload_len;
            let mut packet = Ipv4Packet::new_unchecked(out.get_mut(..len)?);
            ip.emit(&mut packet, &caps);
            (ip.buffer_len(), packet.into_inner())
        }
        (IpAddress::Ipv6(src_addr), IpAddress::Ipv6(dst_addr)) => {
            let ip = Ipv6Repr {
                src_addr,
                dst_addr,
                next_header: IpProtocol::Tcp,
                payload_len,
                hop_limit: 64,
            };
            let len = ip.buffer_len() + payload_len;
            let mut packet = Ipv6Packet::new_unchecked(out.get_mut(..len)?);
            ip.emit(&mut packet);
            (ip.buffer_len(), packet.into_inner())
        }
        _ => return None,
    };
    let segment = &mut tcp_out[header_len..];
    tcp.emit(&mut TcpPacket::new_unchecked(segment), &src, &dst, &caps);
    Some(header_len + payload_len)
}

/// `a` is before `b` in sequence space (RFC 9293 §3.4, modulo 2^32).
pub fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `a` is at or before `b` in sequence space.
pub fn seq_le(a: u32, b: u32) -> bool {
    a == b || seq_lt(a, b)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// IPv4 10.0.0.2:8080 → 10.0.0.1:5000, ACK, with `options` and `payload` bytes (zero).
    pub(crate) fn packet(seq: u32, ack: u32, options: &[u8], payload: usize) -> Vec<u8> {
        let tcp_len = 20 + options.len() + payload;
        let mut p = vec![0u8; 20 + tcp_len];
        p[0] = 0x45;
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 2]);
        p[16..20].copy_from_slice(&[10, 0, 0, 1]);
        p[20..22].copy_from_slice(&8080u16.to_be_bytes());
        p[22..24].copy_from_slice(&5000u16.to_be_bytes());
        p[24..28].copy_from_slice(&seq.to_be_bytes());
        p[28..32].copy_from_slice(&ack.to_be_bytes());
        p[32] = (((20 + options.len()) / 4) as u8) << 4;
        p[33] = FLAG_ACK;
        p[34..36].copy_from_slice(&1000u16.to_be_bytes());
        p[40..40 + options.len()].copy_from_slice(options);
        p
    }

    #[test]
    fn sack_blocks_are_read_after_nops() {
        // NOP NOP SACK with two blocks (RFC 2018 §3 layout), padded to a multiple of 4.
        let mut options = vec![OPT_NOP, OPT_NOP, OPT_SACK, 18];
        for edge in [100u32, 200, 300, 400] {
            options.extend_from_slice(&edge.to_be_bytes());
        }
        let p = packet(7, 50, &options, 10);
        let s = Segment::parse(&p).unwrap();
        assert_eq!(
            (s.seq, s.ack, s.payload_len, s.seg_len()),
            (7, Some(50), 10, 10)
        );
        assert_eq!(
            s.sack_blocks().collect::<Vec<_>>(),
            [(100, 200), (300, 400)]
        );
        assert_eq!(s.src.port, 8080);
        assert_eq!((s.payload_at, s.tcp_end), (60, 70));
    }

    #[test]
    fn four_sack_blocks_fit_and_are_all_read() {
        let mut options = vec![OPT_SACK, 34];
        for edge in 1u32..=8 {
            options.extend_from_slice(&(edge * 10).to_be_bytes());
        }
        options.extend_from_slice(&[OPT_NOP, OPT_NOP]);
        let s = Segment::parse(&packet(1, 2, &options, 0)).unwrap();
        assert_eq!(
            s.sack_blocks().collect::<Vec<_>>(),
            [(10, 20), (30, 40), (50, 60), (70, 80)]
        );
    }

    /// A SYN's options as Linux sends them: MSS, SACK permitted, timestamps, NOP, window scale.
    #[test]
    fn syn_options_are_read_with_their_rfc_names() {
        let options = [
            OPT_MSS,
            4,
            0x05,
            0xb4, // MSS 1460
            OPT_SACK_PERMITTED,
            2, // SACK permitted
            OPT_TIMESTAMP,
            10,
            0,
            0,
            0,
            9,
            0,
            0,
            0,
            0, // TSval 9, TSecr 0
            OPT_NOP,
            OPT_WINDOW_SCALE,
            3,
            7, // window scale 7
        ];
        let mut p = packet(1000, 0, &options, 0);
        p[33] = FLAG_SYN;
        let Headers::Tcp(s) = Headers::parse(&p) else {
            panic!("a segment");
        };
        assert_eq!(
            s.options,
            TcpOptions {
                mss: Some(1460),
                wscale: Some(7),
                sack_permitted: true,
                sack: [None; MAX_SACK_BLOCKS],
                timestamp: Some((9, 0)),
            }
        );
        assert!(s.syn && s.opens() && s.ack.is_none() && !s.fin);
        assert_eq!((s.seg_len(), s.end(), s.header_len), (1, 1001, 40));
    }

    #[test]
    fn malformed_options_yield_no_blocks_and_no_panic() {
        for options in [
            &[OPT_SACK, 1, 0, 0][..],
            // A body that is not whole blocks.
            &[OPT_SACK, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[OPT_SACK, 40, 0, 0],
            &[OPT_NOP, OPT_NOP, OPT_NOP, 9],
            // Known kinds with the wrong length are ignored.
            &[OPT_MSS, 3, 0, OPT_END],
            &[OPT_WINDOW_SCALE, 4, 0, 0],
        ] {
            let mut padded = options.to_vec();
            padded.resize(options.len().div_ceil(4) * 4, 0);
            let s = Segment::parse(&packet(1, 2, &padded, 0)).unwrap();
            assert_eq!(s.sack_blocks().count(), 0, "{options:?}");
            assert_eq!((s.options.mss, s.options.wscale), (None, None));
        }
    }

    #[test]
    fn what_is_not_a_whole_segment_says_what_it_is() {
        assert_eq!(Headers::parse(&[]), Headers::Unreadable);
        assert_eq!(Headers::parse(&[0x45, 0, 0]), Headers::Unreadable);
        assert_eq!(Headers::parse(&[0x75; 60]), Headers::Unreadable);
        // An IP length beyond the bytes.
        let mut long = packet(1, 2, &[], 10);
        long[2..4].copy_from_slice(&200u16.to_be_bytes());
        assert_eq!(Headers::parse(&long), Headers::Unreadable);
        // UDP: the IP header, no segment.
        let mut udp = packet(1, 2, &[], 4);
        udp[9] = 17;
        let ip = Headers::parse(&udp);
        assert!(ip.tcp().is_none());
        assert_eq!(
            ip.ip().map(|ip| (ip.protocol, ip.payload_len())),
            Some((IpProtocol::Udp, 24))
        );
        // A fragment of a TCP segment.
        let mut fragment = packet(1, 2, &[], 4);
        fragment[6] = 0x20;
        let Headers::Ip(ip) = Headers::parse(&fragment) else {
            panic!("an IP header");
        };
        assert!(ip.fragment && ip.protocol == IpProtocol::Tcp);
        // A TCP header cut short by the IP length, and a data offset past the segment.
        let mut cut = packet(1, 2, &[], 0);
        cut[2..4].copy_from_slice(&30u16.to_be_bytes());
        assert!(matches!(Headers::parse(&cut), Headers::Ip(_)));
        let mut offset = packet(1, 2, &[], 0);
        offset[32] = 15 << 4;
        assert!(matches!(Headers::parse(&offset), Headers::Ip(_)));
        // Bytes after the IP length are padding, not payload.
        let mut padded = packet(1, 2, &[], 3);
        padded.extend_from_slice(&[0xff; 5]);
        assert_eq!(Segment::parse(&padded).map(|s| s.payload_len), Some(3));
    }

    #[test]
    fn ipv6_segments_are_read() {
        let mut p = vec![0u8; 40 + 20 + 5];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&25u16.to_be_bytes());
        p[6] = 6;
        p[7] = 64;
        p[8] = 0xfd;
        p[23] = 1;
        p[24] = 0xfd;
        p[39] = 2;
        p[40..42].copy_from_slice(&5000u16.to_be_bytes());
        p[42..44].copy_from_slice(&8080u16.to_be_bytes());
        p[52] = 5 << 4;
        p[53] = FLAG_PSH | FLAG_ACK;
        let s = Segment::parse(&p).unwrap();
        assert_eq!(
            (s.ip.version, s.ip.ttl, s.tcp_at, s.payload_len),
            (6, 64, 40, 5)
        );
        assert_eq!(
            (s.src.port, s.dst.port, s.psh, s.ack),
            (5000, 8080, true, Some(0))
        );
        // Extension headers are not followed.
        p[6] = 0;
        assert!(matches!(Headers::parse(&p), Headers::Ip(ip) if ip.version == 6));
    }

    #[test]
    fn refreshed_ack_and_window_keep_the_checksum_valid() {
        let mut p = packet(1, 2, &[], 5);
        let mut s = Segment::parse(&p).unwrap();
        refresh_ack(&mut p, &mut s, 0xdead_beef, 77);
        let again = Segment::parse(&p).unwrap();
        assert_eq!((again.ack, again.window), (Some(0xdead_beef), 77));
        assert_eq!(again, s, "the segment read matches the rewritten bytes");
        let tcp = TcpPacket::new_checked(&p[20..]).unwrap();
        assert!(tcp.verify_checksum(&s.src.addr, &s.dst.addr));
    }

    /// Emit and parse mirror each other, over IPv4 and IPv6.
    #[test]
    fn emitted_segments_parse_back() {
        use smoltcp::wire::{Ipv4Address, Ipv6Address, TcpControl, TcpSeqNumber};
        let tcp = TcpRepr {
            src_port: 40000,
            dst_port: 8080,
            control: TcpControl::Syn,
            seq_number: TcpSeqNumber(7),
            ack_number: None,
            window_len: 64240,
            window_scale: Some(7),
            max_seg_size: Some(1460),
            sack_permitted: true,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: b"hi",
        };
        let v4 = (
            Ipv4Address::new(10, 0, 0, 1).into(),
            Ipv4Address::new(10, 0, 0, 2).into(),
        );
        let v6 = (
            Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).into(),
            Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).into(),
        );
        for (src, dst) in [v4, v6] {
            let mut out = [0u8; 128];
            let len = emit_tcp(src, dst, &tcp, &mut out).unwrap();
            let s = Segment::parse(&out[..len]).unwrap();
            assert_eq!(
                (s.src.addr, s.dst.addr, s.src.port, s.seq),
                (src, dst, 40000, 7)
            );
            assert!(s.opens() && s.options.sack_permitted && s.payload_len == 2);
            assert_eq!((s.options.mss, s.options.wscale), (Some(1460), Some(7)));
            let tcp_bytes = TcpPacket::new_checked(&out[s.tcp_at..len]).unwrap();
            assert!(tcp_bytes.verify_checksum(&src, &dst));
            assert_eq!(emit_tcp(src, dst, &tcp, &mut out[..len - 1]), None);
        }
        assert_eq!(emit_tcp(v4.0, v6.1, &tcp, &mut [0u8; 128]), None);
    }

    #[test]
    fn sequence_comparison_wraps() {
        assert!(seq_lt(u32::MAX - 5, 3));
        assert!(!seq_lt(3, u32::MAX - 5));
        assert!(seq_le(9, 9));
    }

    /// Arbitrary bytes, biased towards plausible IPv4/IPv6 + TCP starts, never panic, and a
    /// segment read always lies inside its packet.
    #[test]
    fn arbitrary_packets_never_panic() {
        let mut state = 0x0bad_cafe_1234_5678u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..50_000 {
            let len = (next() % 120) as usize;
            let mut p: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if len > 0 {
                p[0] = [0x45, 0x46, 0x4f, 0x60, 0x00][(next() % 5) as usize];
            }
            if len > 9 && next() % 2 == 0 {
                p[9] = 6;
            }
            if len > 6 && p[0] == 0x60 {
                p[6] = 6;
                let payload = (len.saturating_sub(40) as u16).saturating_sub((next() % 3) as u16);
                p[4..6].copy_from_slice(&payload.to_be_bytes());
            } else if len > 6 && next() % 2 == 0 {
                p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                p[6] = 0;
            }
            if let Headers::Tcp(s) = Headers::parse(&p) {
                assert!(s.payload_at + s.payload_len == s.tcp_end && s.tcp_end <= p.len());
                assert!(s.tcp_at + s.header_len <= s.tcp_end);
            }
        }
    }
}
