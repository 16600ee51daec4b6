//! One IP packet carrying TCP, read once into the fields the ladder shows: the IP header
//! (version, lengths, TTL, identification), the TCP header with its options, and where the
//! payload is. Anything that is not TCP over IPv4/IPv6 reads as `None`: the ladder is about
//! TCP connections, and the packet still reaches `--pcap` and `--trace` as before.

use std::net::{IpAddr, SocketAddr};

use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv6Packet, TcpOption, TcpPacket};

/// The IP header fields of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpInfo {
    /// 4 or 6.
    pub version: u8,
    /// Header length in bytes (IPv6: the fixed 40).
    pub header_len: usize,
    /// Total length field (IPv4) or 40 + payload length (IPv6).
    pub total_len: usize,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// Identification (IPv4 only; 0 for IPv6).
    pub ident: u16,
    /// Don't Fragment (IPv4 only).
    pub dont_frag: bool,
}

/// TCP options as RFC 793/7323/2018 name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TcpOptions {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    /// SACK blocks, absolute sequence numbers (left, right).
    pub sack: [Option<(u32, u32)>; 3],
    /// TSval, TSecr.
    pub timestamp: Option<(u32, u32)>,
}

/// A TCP segment in an IP packet, with absolute sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub ip: IpInfo,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    /// Present when the ACK flag is set.
    pub ack: Option<u32>,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
    pub urg: bool,
    pub ece: bool,
    pub cwr: bool,
    /// The raw window field (not scaled).
    pub window: u16,
    pub options: TcpOptions,
    /// TCP header length.
    pub tcp_header_len: usize,
    /// Payload bytes start at this offset of the packet and run for `payload_len`.
    pub payload_at: usize,
    pub payload_len: usize,
}

impl Segment {
    /// Reads `packet`; `None` when it is not a well-formed TCP segment over IP.
    pub(crate) fn parse(packet: &[u8]) -> Option<Segment> {
        let (src, dst, ip, tcp_at) = match packet.first()? >> 4 {
            4 => {
                let v4 = Ipv4Packet::new_checked(packet).ok()?;
                if v4.next_header() != IpProtocol::Tcp || v4.frag_offset() != 0 || v4.more_frags() {
                    return None;
                }
                let header_len = usize::from(v4.header_len());
                let info = IpInfo {
                    version: 4,
                    header_len,
                    total_len: usize::from(v4.total_len()),
                    ttl: v4.hop_limit(),
                    ident: v4.ident(),
                    dont_frag: v4.dont_frag(),
                };
                (
                    IpAddr::from(v4.src_addr()),
                    IpAddr::from(v4.dst_addr()),
                    info,
                    header_len,
                )
            }
            6 => {
                let v6 = Ipv6Packet::new_checked(packet).ok()?;
                if v6.next_header() != IpProtocol::Tcp {
                    return None;
                }
                let info = IpInfo {
                    version: 6,
                    header_len: 40,
                    total_len: 40 + usize::from(v6.payload_len()),
                    ttl: v6.hop_limit(),
                    ident: 0,
                    dont_frag: false,
                };
                (
                    IpAddr::from(v6.src_addr()),
                    IpAddr::from(v6.dst_addr()),
                    info,
                    40,
                )
            }
            _ => return None,
        };
        // The IP length field bounds the segment (a TUN frame may carry padding).
        let tcp_end = ip.total_len.min(packet.len());
        let tcp_bytes = packet.get(tcp_at..tcp_end)?;
        let tcp = TcpPacket::new_checked(tcp_bytes).ok()?;
        let tcp_header_len = usize::from(tcp.header_len());
        let mut options = TcpOptions::default();
        let mut rest = tcp.options();
        while let Ok((next, option)) = TcpOption::parse(rest) {
            match option {
                TcpOption::EndOfList => break,
                TcpOption::MaxSegmentSize(mss) => options.mss = Some(mss),
                TcpOption::WindowScale(shift) => options.wscale = Some(shift),
                TcpOption::SackPermitted => options.sack_permitted = true,
                TcpOption::SackRange(ranges) => options.sack = ranges,
                TcpOption::TimeStamp { tsval, tsecr } => options.timestamp = Some((tsval, tsecr)),
                _ => {}
            }
            rest = next;
        }
        Some(Segment {
            ip,
            src: SocketAddr::new(src, tcp.src_port()),
            dst: SocketAddr::new(dst, tcp.dst_port()),
            seq: tcp.seq_number().0 as u32,
            ack: tcp.ack().then(|| tcp.ack_number().0 as u32),
            syn: tcp.syn(),
            fin: tcp.fin(),
            rst: tcp.rst(),
            psh: tcp.psh(),
            urg: tcp.urg(),
            ece: tcp.ece(),
            cwr: tcp.cwr(),
            window: tcp.window_len(),
            options,
            tcp_header_len,
            payload_at: tcp_at + tcp_header_len,
            payload_len: tcp_bytes.len().saturating_sub(tcp_header_len),
        })
    }

    /// The flags set, in the order the header carries them, as Wireshark names them.
    pub(crate) fn flag_names(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.syn, "SYN"),
            (self.ack.is_some(), "ACK"),
            (self.fin, "FIN"),
            (self.rst, "RST"),
            (self.psh, "PSH"),
            (self.urg, "URG"),
            (self.ece, "ECE"),
            (self.cwr, "CWR"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
    }

    /// Sequence space this segment occupies: payload plus one for SYN and one for FIN.
    pub(crate) fn seq_len(&self) -> u32 {
        self.payload_len as u32 + u32::from(self.syn) + u32::from(self.fin)
    }
}
