//! The TCP fields the recovery layer reads from a packet, and the two it rewrites.
//!
//! A view over an IPv4 or IPv6 packet carrying TCP: endpoints, sequence and acknowledgment
//! numbers, window, flags, payload length and the SACK options (RFC 2018 §3). Anything else
//! (not TCP, truncated, IPv6 extension headers, a malformed option list) is `None` or yields
//! no SACK blocks: the layer then leaves the packet to smoltcp alone.

use smoltcp::wire::{IpAddress, IpEndpoint, IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket};

/// At most four SACK blocks fit in the 40 bytes of TCP options (RFC 2018 §3).
pub const MAX_SACK_BLOCKS: usize = 4;

/// TCP option kind: end of the option list (RFC 9293 §3.2).
pub const OPT_END: u8 = 0;
/// TCP option kind: no-operation, padding (RFC 9293 §3.2).
pub const OPT_NOP: u8 = 1;
/// TCP option kind: SACK permitted, on a SYN (RFC 2018 §2).
pub const OPT_SACK_PERMITTED: u8 = 4;
/// TCP option kind: SACK blocks (RFC 2018 §3).
pub const OPT_SACK: u8 = 5;

/// Offsets in the TCP header (RFC 9293 §3.1).
const ACK_AT: usize = 8;
const FLAGS_AT: usize = 13;
const WINDOW_AT: usize = 14;
const FLAG_ACK: u8 = 0x10;

/// One TCP segment as the recovery layer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Sender's endpoint.
    pub src: IpEndpoint,
    /// Receiver's endpoint.
    pub dst: IpEndpoint,
    /// Where the TCP header starts in the packet.
    pub tcp_at: usize,
    /// Where the TCP segment ends (the IP length; trailing bytes are not part of it).
    pub tcp_end: usize,
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
    /// Bytes of payload.
    pub payload: usize,
    /// SACK-permitted option present (on a SYN).
    pub sack_permitted: bool,
    /// SACK blocks (left edge, right edge), in the order the option lists them.
    pub sack: [Option<(u32, u32)>; MAX_SACK_BLOCKS],
}

impl Segment {
    /// Reads a TCP segment from an IP packet; `None` for anything else or garbage.
    pub fn parse(packet: &[u8]) -> Option<Segment> {
        let (src, dst, tcp_at, tcp_end) = match packet.first()? >> 4 {
            4 => {
                let ip = Ipv4Packet::new_checked(packet).ok()?;
                // A fragment is not a whole segment.
                if ip.next_header() != IpProtocol::Tcp || ip.more_frags() || ip.frag_offset() != 0 {
                    return None;
                }
                let at = usize::from(ip.header_len());
                let end = usize::from(ip.total_len());
                (
                    IpAddress::from(ip.src_addr()),
                    IpAddress::from(ip.dst_addr()),
                    at,
                    end,
                )
            }
            6 => {
                let ip = Ipv6Packet::new_checked(packet).ok()?;
                if ip.next_header() != IpProtocol::Tcp {
                    return None;
                }
                let end = 40 + usize::from(ip.payload_len());
                (ip.src_addr().into(), ip.dst_addr().into(), 40, end)
            }
            _ => return None,
        };
        let tcp = TcpPacket::new_checked(packet.get(tcp_at..tcp_end)?).ok()?;
        let header_len = usize::from(tcp.header_len());
        let mut segment = Segment {
            src: IpEndpoint::new(src, tcp.src_port()),
            dst: IpEndpoint::new(dst, tcp.dst_port()),
            tcp_at,
            tcp_end,
            seq: tcp.seq_number().0 as u32,
            ack: tcp.ack().then(|| tcp.ack_number().0 as u32),
            window: tcp.window_len(),
            syn: tcp.syn(),
            fin: tcp.fin(),
            rst: tcp.rst(),
            payload: tcp_end - tcp_at - header_len,
            sack_permitted: false,
            sack: [None; MAX_SACK_BLOCKS],
        };
        segment.read_options(&packet[tcp_at + 20..tcp_at + header_len]);
        Some(segment)
    }

    /// SEG.LEN: the sequence space the segment occupies, payload plus one for SYN and FIN each.
    pub fn seg_len(&self) -> u32 {
        self.payload as u32 + u32::from(self.syn) + u32::from(self.fin)
    }

    /// SEG.SEQ + SEG.LEN.
    pub fn end(&self) -> u32 {
        self.seq.wrapping_add(self.seg_len())
    }

    /// The SACK blocks present.
    pub fn sack_blocks(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.sack.iter().flatten().copied()
    }

    /// Reads SACK-permitted and SACK options; stops at the first malformed option.
    fn read_options(&mut self, bytes: &[u8]) {
        for item in options(bytes) {
            let Some((kind, option)) = item else { return };
            let body = &option[2..];
            match kind {
                OPT_SACK_PERMITTED => self.sack_permitted = true,
                OPT_SACK if body.len() % 8 == 0 => {
                    for (slot, block) in self.sack.iter_mut().zip(body.chunks_exact(8)) {
                        let left = u32::from_be_bytes([block[0], block[1], block[2], block[3]]);
                        let right = u32::from_be_bytes([block[4], block[5], block[6], block[7]]);
                        *slot = Some((left, right));
                    }
                }
                _ => {}
            }
        }
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

/// Gives an outgoing segment (parsed as `segment`) a newer acknowledgment number and window,
/// so that a retransmission also acknowledges what arrived since it was first sent, and
/// recomputes its TCP checksum.
pub fn refresh_ack(packet: &mut [u8], segment: &Segment, ack: u32, window: u16) {
    let tcp = &mut packet[segment.tcp_at..segment.tcp_end];
    tcp[ACK_AT..ACK_AT + 4].copy_from_slice(&ack.to_be_bytes());
    tcp[FLAGS_AT] |= FLAG_ACK;
    tcp[WINDOW_AT..WINDOW_AT + 2].copy_from_slice(&window.to_be_bytes());
    TcpPacket::new_unchecked(tcp).fill_checksum(&segment.src.addr, &segment.dst.addr);
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
            (s.seq, s.ack, s.payload, s.seg_len()),
            (7, Some(50), 10, 10)
        );
        assert_eq!(
            s.sack_blocks().collect::<Vec<_>>(),
            [(100, 200), (300, 400)]
        );
        assert_eq!(s.src.port, 8080);
    }

    #[test]
    fn malformed_options_yield_no_blocks_and_no_panic() {
        for options in [
            &[OPT_SACK, 1, 0, 0][..],
            // A body that is not whole blocks.
            &[OPT_SACK, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[OPT_SACK, 40, 0, 0],
            &[OPT_NOP, OPT_NOP, OPT_NOP, 9],
        ] {
            let mut padded = options.to_vec();
            padded.resize(options.len().div_ceil(4) * 4, 0);
            let s = Segment::parse(&packet(1, 2, &padded, 0)).unwrap();
            assert_eq!(s.sack_blocks().count(), 0, "{options:?}");
        }
        assert!(Segment::parse(&[0x45, 0, 0]).is_none());
        assert!(Segment::parse(&[]).is_none());
    }

    #[test]
    fn refreshed_ack_and_window_keep_the_checksum_valid() {
        let mut p = packet(1, 2, &[], 5);
        let s = Segment::parse(&p).unwrap();
        refresh_ack(&mut p, &s, 0xdead_beef, 77);
        let again = Segment::parse(&p).unwrap();
        assert_eq!((again.ack, again.window), (Some(0xdead_beef), 77));
        let tcp = TcpPacket::new_checked(&p[20..]).unwrap();
        assert!(tcp.verify_checksum(&s.src.addr, &s.dst.addr));
    }

    #[test]
    fn sequence_comparison_wraps() {
        assert!(seq_lt(u32::MAX - 5, 3));
        assert!(!seq_lt(3, u32::MAX - 5));
        assert!(seq_le(9, 9));
    }
}
