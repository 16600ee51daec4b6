//! The virtio-net header that precedes every packet on a TUN opened with `IFF_VNET_HDR`.
//!
//! With the header, the kernel and the stack exchange TCP super-packets (up to 64 KiB) in one
//! `read`/`write` instead of one per MTU-sized segment, and leave checksums partial where the
//! other side finishes them (segmentation and checksum offload, as between a virtual machine and
//! its host). Layout (`struct virtio_net_hdr`, `linux/virtio_net.h`), ten bytes, multi-byte
//! fields in the host's byte order (a TUN without TUNSETVNETLE/BE uses native order):
//!
//! ```text
//! 0 flags  1 gso_type  2..4 hdr_len  4..6 gso_size  6..8 csum_start  8..10 csum_offset
//! ```
//!
//! Sans-IO: [`accept_ingress`] checks a frame read from the TUN, completes a partial checksum
//! and verifies the TCP checksum of the rest, so smoltcp (with TCP checksums switched off) sees
//! an ordinary packet and every TCP checksum is computed once ([`accept_ingress_keeping_partial`]
//! leaves the kernel's partial TCP checksum as it is, computed never, when nothing but smoltcp
//! reads the packet); [`prepare_egress`] writes the
//! header (and the TCP checksum smoltcp left out) for a frame about to be written. Neither
//! panics on any input: a frame they refuse is dropped by the caller and counted.

use std::fmt;

use smoltcp::wire::{IpProtocol, TcpPacket, checksum};

use crate::packet::{Headers, Segment};

/// Bytes of header before each packet: the plain `virtio_net_hdr`. The TUN is told this size
/// explicitly (TUNSETVNETHDRSZ) because the size is a property of the device, and a persistent
/// device may carry another value from an earlier user.
pub const HEADER_LEN: usize = 10;

/// `flags`: the checksum from `csum_start` to the end is still to be computed and stored at
/// `csum_start + csum_offset`; the field holds the pseudo-header sum.
pub const F_NEEDS_CSUM: u8 = 1;
/// `flags`: the sender vouches for the checksum (it was verified or never corrupted).
pub const F_DATA_VALID: u8 = 2;

/// `gso_type`: not a super-packet.
pub const GSO_NONE: u8 = 0;
/// `gso_type`: IPv4 TCP super-packet, to be cut into segments of `gso_size` payload bytes.
pub const GSO_TCPV4: u8 = 1;
/// `gso_type`: IPv6 TCP super-packet.
pub const GSO_TCPV6: u8 = 4;
/// `gso_type` bit: the super-packet carries ECN (CWR) and segments must keep it on the first.
pub const GSO_ECN: u8 = 0x80;

/// Offset of the checksum field inside a TCP header.
const TCP_CHECKSUM_OFFSET: u16 = 16;

/// The decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// [`F_NEEDS_CSUM`], [`F_DATA_VALID`].
    pub flags: u8,
    /// [`GSO_NONE`], [`GSO_TCPV4`], [`GSO_TCPV6`], possibly with [`GSO_ECN`]; others exist
    /// (UDP) but this stack never asks the kernel for them.
    pub gso_type: u8,
    /// Length of the headers (IP + TCP) to copy onto every segment.
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where checksumming starts (the TCP header), from the start of the packet.
    pub csum_start: u16,
    /// Where the checksum is stored, from `csum_start`.
    pub csum_offset: u16,
}

impl Header {
    /// Reads the header at the start of `frame`; `None` when the frame is shorter.
    pub fn parse(frame: &[u8]) -> Option<Header> {
        let bytes: &[u8; HEADER_LEN] = frame.get(..HEADER_LEN)?.try_into().ok()?;
        let word = |at: usize| u16::from_ne_bytes([bytes[at], bytes[at + 1]]);
        Some(Header {
            flags: bytes[0],
            gso_type: bytes[1],
            hdr_len: word(2),
            gso_size: word(4),
            csum_start: word(6),
            csum_offset: word(8),
        })
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `out`.
    pub fn emit(&self, out: &mut [u8; HEADER_LEN]) {
        out[0] = self.flags;
        out[1] = self.gso_type;
        out[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        out[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        out[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        out[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
    }
}

/// Why a frame was refused. Each is counted as malformed and the frame dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than the header.
    Short,
    /// A `gso_type` this stack did not ask for (UDP, unknown values).
    UnsupportedGso(u8),
    /// A TCP `gso_type` on a packet that is not TCP of that IP version.
    GsoNotTcp,
    /// `csum_start`/`csum_offset` point outside the packet.
    ChecksumOutOfPacket,
    /// Egress: the IP or TCP header of a packet to segment does not parse.
    BadHeaders,
    /// Egress: the segment size does not fit the header's 16 bits or is zero.
    BadSegmentSize,
    /// Ingress: a TCP packet without a partial or vouched-for checksum whose checksum is wrong.
    BadChecksum,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Short => f.write_str("frame shorter than the virtio-net header"),
            Malformed::UnsupportedGso(t) => write!(f, "unsupported gso_type {t}"),
            Malformed::GsoNotTcp => f.write_str("TCP segmentation on a packet that is not TCP"),
            Malformed::ChecksumOutOfPacket => f.write_str("checksum position outside the packet"),
            Malformed::BadHeaders => f.write_str("IP/TCP headers do not parse"),
            Malformed::BadSegmentSize => f.write_str("segment size out of range"),
            Malformed::BadChecksum => f.write_str("bad TCP checksum"),
        }
    }
}

/// What [`accept_ingress`] found in a good frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingress {
    /// The packet is a TCP super-packet (larger than the link MTU is allowed).
    pub gso: bool,
    /// How the TCP checksum came to be trusted.
    pub checksum: TcpChecksum,
}

/// How [`accept_ingress`] settled a packet's TCP checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpChecksum {
    /// Partial (the kernel's own, as for its local sockets): completed here, which makes it
    /// right by construction.
    Completed,
    /// The kernel vouched for it (`F_DATA_VALID`: verified by a card, or never on a wire).
    Vouched,
    /// Computed here and found right.
    Verified,
    /// Partial, exactly over the TCP segment, and left so ([`accept_ingress_keeping_partial`]):
    /// the kernel's own for a local socket, never on a wire, so right by construction once
    /// finished; nothing reads it (smoltcp does not check TCP checksums under offload).
    Partial,
    /// Not a TCP packet: smoltcp checks what it carries (IPv4 header, ICMP checksums).
    NotTcp,
}

/// Checks a frame read from the TUN (header + packet, whose headers were read as `headers`:
/// [`Headers::parse`] of `frame[HEADER_LEN..]`), completes a partial checksum in place
/// and verifies the TCP checksum when the kernel neither left it partial nor vouched for it.
/// On success the packet is `frame[HEADER_LEN..]`, a plain IP packet with full checksums whose
/// TCP checksum needs no further check (smoltcp runs with TCP checksums off under offload:
/// checking a completed checksum again would cost a second pass over up to 64 KiB).
///
/// A super-packet is accepted whole: the stack is its final destination, so it needs no
/// segmenting, only a receive path that takes packets larger than the MTU (smoltcp's does).
pub fn accept_ingress(frame: &mut [u8], headers: &Headers) -> Result<Ingress, Malformed> {
    settle(frame, headers, false)
}

/// [`accept_ingress`], except that a partial checksum that is exactly the TCP segment's is
/// left partial ([`TcpChecksum::Partial`]) instead of completed: one pass fewer over up to
/// 64 KiB per super-packet. Only for a packet no one reads the TCP checksum of (smoltcp under
/// offload does not; a capture would show the partial value, as tcpdump shows a sender's
/// offloaded checksums). Other partial checksums (UDP, odd offsets) are completed as ever.
pub fn accept_ingress_keeping_partial(
    frame: &mut [u8],
    headers: &Headers,
) -> Result<Ingress, Malformed> {
    settle(frame, headers, true)
}

fn settle(frame: &mut [u8], headers: &Headers, keep_partial: bool) -> Result<Ingress, Malformed> {
    let header = Header::parse(frame).ok_or(Malformed::Short)?;
    let packet = &mut frame[HEADER_LEN..];
    let tcp = headers.tcp();
    let gso = match header.gso_type & !GSO_ECN {
        GSO_NONE => false,
        GSO_TCPV4 | GSO_TCPV6 => {
            let version = if header.gso_type & !GSO_ECN == GSO_TCPV4 {
                4
            } else {
                6
            };
            if tcp.is_none_or(|t| t.ip.version != version) {
                return Err(Malformed::GsoNotTcp);
            }
            true
        }
        other => return Err(Malformed::UnsupportedGso(other)),
    };
    let checksum = match tcp {
        _ if header.flags & F_NEEDS_CSUM != 0 => {
            let (start, offset) = (
                usize::from(header.csum_start),
                usize::from(header.csum_offset),
            );
            let packet_len = packet.len();
            let exact = |t: &Segment| {
                (start, offset, t.tcp_end)
                    == (t.tcp_at, usize::from(TCP_CHECKSUM_OFFSET), packet_len)
            };
            if keep_partial && tcp.is_some_and(exact) {
                return Ok(Ingress {
                    gso,
                    checksum: TcpChecksum::Partial,
                });
            }
            complete_checksum(packet, start, offset)?;
            match tcp {
                None => TcpChecksum::NotTcp,
                // The completed checksum is the TCP one, over exactly the TCP segment (the sum
                // ran to the end of the frame).
                Some(t) if exact(t) => TcpChecksum::Completed,
                Some(t) => verify(packet, t)?,
            }
        }
        None => TcpChecksum::NotTcp,
        Some(_) if header.flags & F_DATA_VALID != 0 => TcpChecksum::Vouched,
        Some(t) => verify(packet, t)?,
    };
    Ok(Ingress { gso, checksum })
}

/// Verifies the TCP checksum of the segment `tcp` of `packet`.
fn verify(packet: &[u8], tcp: &Segment) -> Result<TcpChecksum, Malformed> {
    let tcp_bytes = packet
        .get(tcp.tcp_at..tcp.tcp_end)
        .ok_or(Malformed::BadHeaders)?;
    if TcpPacket::new_unchecked(tcp_bytes).verify_checksum(&tcp.src.addr, &tcp.dst.addr) {
        Ok(TcpChecksum::Verified)
    } else {
        Err(Malformed::BadChecksum)
    }
}

/// Computes the Internet checksum from `start` to the end of `packet` (the checksum field holds
/// the pseudo-header sum and is included) and stores its complement at `start + offset`.
fn complete_checksum(packet: &mut [u8], start: usize, offset: usize) -> Result<(), Malformed> {
    let at = start
        .checked_add(offset)
        .filter(|&at| at + 2 <= packet.len())
        .ok_or(Malformed::ChecksumOutOfPacket)?;
    // `at + 2 <= len` and `offset >= 0` put `start` inside the packet too.
    let sum = checksum::data(&packet[start..]);
    packet[at..at + 2].copy_from_slice(&(!sum).to_be_bytes());
    Ok(())
}

/// What [`prepare_egress`] made of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Egress {
    /// Not TCP: an all-zero header, the packet as smoltcp built it.
    Plain,
    /// A TCP segment of at most one MSS, its checksum computed here; all-zero header.
    Segment,
    /// A TCP super-packet: the kernel cuts it into segments (or delivers it whole to a local
    /// socket) and finishes the checksums.
    SuperPacket,
}

/// Fills the header of a frame about to be written (`frame[..HEADER_LEN]`) for the packet
/// behind it (read as `headers`), which smoltcp built with TCP checksums switched off
/// (segmentation offload needs them off).
///
/// `segment_size` is smoltcp's request to cut the TCP payload into segments of that many
/// bytes (its effective MSS towards the peer). Then the header asks the kernel for TSO and a
/// partial checksum (the pseudo-header sum goes into the TCP checksum field, the way the
/// kernel's own stack hands TSO packets to a device). Without it, a TCP packet gets its full
/// checksum here, so captures and the kernel see an ordinary packet.
pub fn prepare_egress(
    frame: &mut [u8],
    headers: &Headers,
    segment_size: Option<usize>,
) -> Result<Egress, Malformed> {
    if frame.len() < HEADER_LEN {
        return Err(Malformed::Short);
    }
    let (head, packet) = frame.split_at_mut(HEADER_LEN);
    let head: &mut [u8; HEADER_LEN] = head.try_into().map_err(|_| Malformed::Short)?;
    let mut header = Header::default();
    let Some(segment) = headers.tcp() else {
        header.emit(head);
        return match segment_size {
            None => Ok(Egress::Plain),
            Some(_) => Err(Malformed::GsoNotTcp),
        };
    };
    let (version, tcp_at, tcp_end) = (segment.ip.version, segment.tcp_at, segment.tcp_end);
    let (src, dst) = (segment.src.addr, segment.dst.addr);
    let tcp_len = tcp_end - tcp_at;
    let tcp_len_u32 = u32::try_from(tcp_len).map_err(|_| Malformed::BadHeaders)?;
    let tcp_bytes = packet
        .get_mut(tcp_at..tcp_end)
        .ok_or(Malformed::BadHeaders)?;
    let mut tcp = TcpPacket::new_unchecked(tcp_bytes);
    let result = match segment_size {
        None => {
            tcp.fill_checksum(&src, &dst);
            Egress::Segment
        }
        Some(size) => {
            let gso_size = u16::try_from(size)
                .ok()
                .filter(|&s| s > 0)
                .ok_or(Malformed::BadSegmentSize)?;
            header = Header {
                flags: F_NEEDS_CSUM,
                gso_type: if version == 4 { GSO_TCPV4 } else { GSO_TCPV6 },
                hdr_len: u16::try_from(segment.payload_at).map_err(|_| Malformed::BadHeaders)?,
                gso_size,
                csum_start: u16::try_from(tcp_at).map_err(|_| Malformed::BadHeaders)?,
                csum_offset: TCP_CHECKSUM_OFFSET,
            };
            tcp.set_checksum(checksum::pseudo_header(
                &src,
                &dst,
                IpProtocol::Tcp,
                tcp_len_u32,
            ));
            Egress::SuperPacket
        }
    };
    header.emit(head);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        IpAddress, Ipv4Address, Ipv4Packet, Ipv4Repr, Ipv6Address, Ipv6Packet, Ipv6Repr,
        TcpControl, TcpRepr, TcpSeqNumber,
    };

    /// The headers of the packet in `frame`, as the port reads them.
    fn headers_of(frame: &[u8]) -> Headers {
        frame
            .get(HEADER_LEN..)
            .map_or(Headers::Unreadable, Headers::parse)
    }

    fn accept_ingress(frame: &mut [u8]) -> Result<Ingress, Malformed> {
        let headers = headers_of(frame);
        super::accept_ingress(frame, &headers)
    }

    fn prepare_egress(frame: &mut [u8], segment_size: Option<usize>) -> Result<Egress, Malformed> {
        let headers = headers_of(frame);
        super::prepare_egress(frame, &headers, segment_size)
    }

    const V4_SRC: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
    const V4_DST: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
    const V6_SRC: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
    const V6_DST: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);

    fn tcp_repr(payload: &[u8]) -> TcpRepr<'_> {
        TcpRepr {
            src_port: 8080,
            dst_port: 40000,
            control: TcpControl::Psh,
            seq_number: TcpSeqNumber(1000),
            ack_number: Some(TcpSeqNumber(2000)),
            window_len: 512,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload,
        }
    }

    /// A frame (zeroed header + IPv4/TCP packet with `payload`); TCP checksum computed when
    /// `checksum` is true, zero otherwise (as smoltcp leaves it with offload on).
    fn v4_frame(payload: &[u8], checksum: bool) -> Vec<u8> {
        let tcp = tcp_repr(payload);
        let ip = Ipv4Repr {
            src_addr: V4_SRC,
            dst_addr: V4_DST,
            next_header: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
        };
        let mut frame = vec![0u8; HEADER_LEN + ip.buffer_len() + tcp.buffer_len()];
        let caps = caps(checksum);
        let packet = &mut frame[HEADER_LEN..];
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut *packet), &caps);
        tcp.emit(
            &mut TcpPacket::new_unchecked(&mut packet[ip.buffer_len()..]),
            &V4_SRC.into(),
            &V4_DST.into(),
            &caps,
        );
        frame
    }

    fn v6_frame(payload: &[u8], checksum: bool) -> Vec<u8> {
        let tcp = tcp_repr(payload);
        let ip = Ipv6Repr {
            src_addr: V6_SRC,
            dst_addr: V6_DST,
            next_header: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
        };
        let mut frame = vec![0u8; HEADER_LEN + ip.buffer_len() + tcp.buffer_len()];
        let packet = &mut frame[HEADER_LEN..];
        ip.emit(&mut Ipv6Packet::new_unchecked(&mut *packet));
        tcp.emit(
            &mut TcpPacket::new_unchecked(&mut packet[ip.buffer_len()..]),
            &V6_SRC.into(),
            &V6_DST.into(),
            &caps(checksum),
        );
        frame
    }

    fn caps(tcp_checksum: bool) -> ChecksumCapabilities {
        let mut caps = ChecksumCapabilities::default();
        if !tcp_checksum {
            caps.tcp = smoltcp::phy::Checksum::Rx;
        }
        caps
    }

    fn tcp_checksum_ok(frame: &[u8], src: IpAddress, dst: IpAddress, ip_len: usize) -> bool {
        TcpPacket::new_checked(&frame[HEADER_LEN + ip_len..])
            .unwrap()
            .verify_checksum(&src, &dst)
    }

    fn set_header(frame: &mut [u8], header: Header) {
        header.emit((&mut frame[..HEADER_LEN]).try_into().unwrap());
    }

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn header_round_trips_in_native_byte_order() {
        let header = Header {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4 | GSO_ECN,
            hdr_len: 52,
            gso_size: 1448,
            csum_start: 20,
            csum_offset: 16,
        };
        let mut bytes = [0u8; HEADER_LEN];
        header.emit(&mut bytes);
        assert_eq!(&bytes[4..6], &1448u16.to_ne_bytes());
        assert_eq!(Header::parse(&bytes), Some(header));
        assert_eq!(Header::parse(&bytes[..HEADER_LEN - 1]), None);
    }

    #[test]
    fn plain_frames_pass_untouched() {
        let mut frame = v4_frame(b"hello", true);
        let before = frame.clone();
        assert_eq!(
            accept_ingress(&mut frame),
            Ok(Ingress {
                gso: false,
                checksum: TcpChecksum::Verified
            })
        );
        assert_eq!(frame, before);
    }

    /// The kernel's partial checksum: the pseudo-header sum in the field, NEEDS_CSUM in the
    /// header. Completing it gives the checksum smoltcp verifies.
    #[test]
    fn partial_checksums_are_completed_v4_and_v6() {
        for odd_len in [0usize, 1, 5, 1400, 4097] {
            let data = payload(odd_len);
            let mut frame = v4_frame(&data, false);
            let tcp_len = frame.len() - HEADER_LEN - 20;
            let pseudo = checksum::pseudo_header(
                &V4_SRC.into(),
                &V4_DST.into(),
                IpProtocol::Tcp,
                tcp_len as u32,
            );
            frame[HEADER_LEN + 20 + 16..HEADER_LEN + 20 + 18]
                .copy_from_slice(&pseudo.to_be_bytes());
            set_header(
                &mut frame,
                Header {
                    flags: F_NEEDS_CSUM,
                    csum_start: 20,
                    csum_offset: 16,
                    ..Header::default()
                },
            );
            assert!(!tcp_checksum_ok(&frame, V4_SRC.into(), V4_DST.into(), 20));
            let ingress = accept_ingress(&mut frame).unwrap();
            assert_eq!(
                ingress,
                Ingress {
                    gso: false,
                    checksum: TcpChecksum::Completed
                }
            );
            assert!(
                tcp_checksum_ok(&frame, V4_SRC.into(), V4_DST.into(), 20),
                "len {odd_len}"
            );
            assert_eq!(
                &frame[HEADER_LEN..],
                &v4_frame(&data, true)[HEADER_LEN..],
                "same bytes as a full checksum"
            );
        }
        let data = payload(3000);
        let mut frame = v6_frame(&data, false);
        let pseudo = checksum::pseudo_header(
            &V6_SRC.into(),
            &V6_DST.into(),
            IpProtocol::Tcp,
            (20 + data.len()) as u32,
        );
        frame[HEADER_LEN + 40 + 16..HEADER_LEN + 40 + 18].copy_from_slice(&pseudo.to_be_bytes());
        set_header(
            &mut frame,
            Header {
                flags: F_NEEDS_CSUM,
                gso_type: GSO_TCPV6,
                gso_size: 1428,
                hdr_len: 60,
                csum_start: 40,
                csum_offset: 16,
            },
        );
        let ingress = accept_ingress(&mut frame).unwrap();
        assert_eq!(
            ingress,
            Ingress {
                gso: true,
                checksum: TcpChecksum::Completed
            }
        );
        assert!(tcp_checksum_ok(&frame, V6_SRC.into(), V6_DST.into(), 40));
    }

    /// Without a partial checksum the TCP checksum is verified here (smoltcp does not, under
    /// offload); the kernel's DATA_VALID is taken at its word; a partial checksum completed
    /// somewhere other than the TCP checksum field leaves the TCP one to verify.
    #[test]
    fn tcp_checksums_are_verified_unless_partial_or_vouched_for() {
        let mut bad = v4_frame(b"payload", true);
        let last = bad.len() - 1;
        bad[last] ^= 0x40;
        assert_eq!(
            accept_ingress(&mut bad.clone()),
            Err(Malformed::BadChecksum)
        );
        let mut bad6 = v6_frame(b"payload", true);
        let last6 = bad6.len() - 1;
        bad6[last6] ^= 1;
        assert_eq!(accept_ingress(&mut bad6), Err(Malformed::BadChecksum));
        let mut vouched = bad.clone();
        vouched[0] = F_DATA_VALID;
        assert_eq!(
            accept_ingress(&mut vouched).map(|i| i.checksum),
            Ok(TcpChecksum::Vouched)
        );
        // NEEDS_CSUM pointing at the IPv4 header checksum field (start 0, offset 10): completed
        // there, and the TCP checksum is still checked.
        for (packet, want) in [
            (v4_frame(b"payload", true), Ok(TcpChecksum::Verified)),
            (bad, Err(Malformed::BadChecksum)),
        ] {
            let mut frame = packet;
            frame[HEADER_LEN + 10..HEADER_LEN + 12].fill(0);
            set_header(
                &mut frame,
                Header {
                    flags: F_NEEDS_CSUM,
                    csum_start: 0,
                    csum_offset: 10,
                    ..Header::default()
                },
            );
            assert_eq!(accept_ingress(&mut frame).map(|i| i.checksum), want);
        }
        // Not TCP: left to smoltcp.
        let mut udp = v4_frame(b"abc", true);
        udp[HEADER_LEN + 9] = 17;
        assert_eq!(
            accept_ingress(&mut udp).map(|i| i.checksum),
            Ok(TcpChecksum::NotTcp)
        );
        // Bytes after the IP packet's length are not part of its TCP segment.
        let mut padded = v4_frame(b"payload", true);
        padded.extend_from_slice(&[0xff; 5]);
        assert_eq!(
            accept_ingress(&mut padded.clone()).map(|i| i.checksum),
            Ok(TcpChecksum::Verified)
        );
        // A partial checksum completed over them is not the TCP checksum: checked, and wrong.
        set_header(
            &mut padded,
            Header {
                flags: F_NEEDS_CSUM,
                csum_start: 20,
                csum_offset: 16,
                ..Header::default()
            },
        );
        assert_eq!(
            accept_ingress(&mut padded).map(|i| i.checksum),
            Err(Malformed::BadChecksum)
        );
    }

    #[test]
    fn too_short_frames_are_refused() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                accept_ingress(&mut vec![0u8; len]),
                Err(Malformed::Short),
                "{len}"
            );
        }
        assert_eq!(prepare_egress(&mut [0u8; 3], None), Err(Malformed::Short));
    }

    #[test]
    fn checksum_positions_outside_the_packet_are_refused() {
        let frame = v4_frame(b"abc", true);
        let packet_len = (frame.len() - HEADER_LEN) as u16;
        for (start, offset) in [
            (packet_len, 0),
            (packet_len + 100, 16),
            (20, packet_len),
            (packet_len - 1, 0),
            (u16::MAX, u16::MAX),
            (0, u16::MAX),
        ] {
            let mut frame = frame.clone();
            set_header(
                &mut frame,
                Header {
                    flags: F_NEEDS_CSUM,
                    csum_start: start,
                    csum_offset: offset,
                    ..Header::default()
                },
            );
            assert_eq!(
                accept_ingress(&mut frame),
                Err(Malformed::ChecksumOutOfPacket),
                "{start}+{offset}"
            );
        }
        let mut empty = vec![0u8; HEADER_LEN];
        set_header(
            &mut empty,
            Header {
                flags: F_NEEDS_CSUM,
                ..Header::default()
            },
        );
        assert_eq!(
            accept_ingress(&mut empty),
            Err(Malformed::ChecksumOutOfPacket)
        );
    }

    #[test]
    fn segmentation_of_anything_but_tcp_of_its_version_is_refused() {
        // UDP in an IPv4 packet, flagged as TCPv4 GSO.
        let mut udp = v4_frame(b"abcdef", true);
        udp[HEADER_LEN + 9] = 17;
        set_header(
            &mut udp,
            Header {
                gso_type: GSO_TCPV4,
                gso_size: 1000,
                ..Header::default()
            },
        );
        assert_eq!(accept_ingress(&mut udp), Err(Malformed::GsoNotTcp));
        // TCP over IPv4 flagged as TCPv6.
        let mut v4 = v4_frame(b"abcdef", true);
        set_header(
            &mut v4,
            Header {
                gso_type: GSO_TCPV6,
                gso_size: 1000,
                ..Header::default()
            },
        );
        assert_eq!(accept_ingress(&mut v4), Err(Malformed::GsoNotTcp));
        // Garbage and a truncated TCP header.
        let mut garbage = vec![0u8; HEADER_LEN + 30];
        garbage[1] = GSO_TCPV4;
        assert_eq!(accept_ingress(&mut garbage), Err(Malformed::GsoNotTcp));
        let mut cut = v4_frame(b"", true);
        cut.truncate(HEADER_LEN + 30);
        cut[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&30u16.to_be_bytes());
        cut[1] = GSO_TCPV4;
        assert_eq!(accept_ingress(&mut cut), Err(Malformed::GsoNotTcp));
        // UDP GSO and unknown types.
        for gso_type in [3u8, 5, 0x7f, 0x83] {
            let mut frame = v4_frame(b"x", true);
            frame[1] = gso_type;
            assert_eq!(
                accept_ingress(&mut frame),
                Err(Malformed::UnsupportedGso(gso_type & !GSO_ECN))
            );
        }
        // ECN on a TCP super-packet is fine.
        let mut ecn = v4_frame(&payload(3000), true);
        ecn[1] = GSO_TCPV4 | GSO_ECN;
        assert!(accept_ingress(&mut ecn).unwrap().gso);
    }

    #[test]
    fn egress_segments_get_full_checksums_and_a_zero_header() {
        let mut frame = v4_frame(b"hello world", false);
        frame[..HEADER_LEN].fill(0xaa);
        assert_eq!(prepare_egress(&mut frame, None), Ok(Egress::Segment));
        assert_eq!(&frame[..HEADER_LEN], &[0u8; HEADER_LEN]);
        assert_eq!(frame, v4_frame(b"hello world", true));
        let mut frame = v6_frame(b"hello", false);
        assert_eq!(prepare_egress(&mut frame, None), Ok(Egress::Segment));
        assert_eq!(frame, v6_frame(b"hello", true));
    }

    #[test]
    fn egress_super_packets_ask_for_tso_with_the_pseudo_header_sum() {
        let data = payload(4000);
        let mut frame = v4_frame(&data, false);
        assert_eq!(
            prepare_egress(&mut frame, Some(1460)),
            Ok(Egress::SuperPacket)
        );
        let header = Header::parse(&frame).unwrap();
        assert_eq!(
            header,
            Header {
                flags: F_NEEDS_CSUM,
                gso_type: GSO_TCPV4,
                hdr_len: 40,
                gso_size: 1460,
                csum_start: 20,
                csum_offset: 16,
            }
        );
        // The kernel side of the contract: completing the partial checksum as it would gives
        // the full one.
        let mut completed = frame.clone();
        accept_ingress(&mut completed).unwrap();
        assert!(tcp_checksum_ok(
            &completed,
            V4_SRC.into(),
            V4_DST.into(),
            20
        ));
        assert_eq!(
            &completed[HEADER_LEN..],
            &v4_frame(&data, true)[HEADER_LEN..]
        );

        let mut frame = v6_frame(&data, false);
        assert_eq!(
            prepare_egress(&mut frame, Some(1440)),
            Ok(Egress::SuperPacket)
        );
        let header = Header::parse(&frame).unwrap();
        assert_eq!(
            (header.gso_type, header.hdr_len, header.csum_start),
            (GSO_TCPV6, 60, 40)
        );
        accept_ingress(&mut frame).unwrap();
        assert!(tcp_checksum_ok(&frame, V6_SRC.into(), V6_DST.into(), 40));
    }

    #[test]
    fn keeping_partial_leaves_only_an_exact_tcp_partial_checksum_unfinished() {
        let data = payload(3000);
        let mut frame = v4_frame(&data, false);
        prepare_egress(&mut frame, Some(1460)).unwrap();
        let before = frame.clone();
        let headers = headers_of(&frame);
        assert_eq!(
            super::accept_ingress_keeping_partial(&mut frame, &headers),
            Ok(Ingress {
                gso: true,
                checksum: TcpChecksum::Partial
            })
        );
        assert_eq!(frame, before, "not a byte changed");
        // Completed, the same frame is the one with the full checksum.
        assert_eq!(
            accept_ingress(&mut frame).map(|i| i.checksum),
            Ok(TcpChecksum::Completed)
        );
        assert_eq!(&frame[HEADER_LEN..], &v4_frame(&data, true)[HEADER_LEN..]);
        // A partial checksum elsewhere (the IPv4 header's) is completed and the TCP one still
        // verified: a wrong one is refused.
        let mut bad = v4_frame(b"payload", true);
        let last = bad.len() - 1;
        bad[last] ^= 1;
        bad[HEADER_LEN + 10..HEADER_LEN + 12].fill(0);
        set_header(
            &mut bad,
            Header {
                flags: F_NEEDS_CSUM,
                csum_start: 0,
                csum_offset: 10,
                ..Header::default()
            },
        );
        let headers = headers_of(&bad);
        assert_eq!(
            super::accept_ingress_keeping_partial(&mut bad, &headers),
            Err(Malformed::BadChecksum)
        );
        // Not TCP, no partial checksum: nothing to keep, settled as before.
        let mut plain = v4_frame(b"abc", true);
        let headers = headers_of(&plain);
        assert_eq!(
            super::accept_ingress_keeping_partial(&mut plain, &headers).map(|i| i.checksum),
            Ok(TcpChecksum::Verified)
        );
    }

    #[test]
    fn egress_refuses_segmenting_non_tcp_and_bad_sizes() {
        let mut udp = v4_frame(b"abc", true);
        udp[HEADER_LEN + 9] = 17;
        let before = udp.clone();
        assert_eq!(prepare_egress(&mut udp, None), Ok(Egress::Plain));
        assert_eq!(udp, before);
        assert_eq!(
            prepare_egress(&mut udp, Some(1000)),
            Err(Malformed::GsoNotTcp)
        );
        let mut frame = v4_frame(&payload(100), false);
        assert_eq!(
            prepare_egress(&mut frame, Some(0)),
            Err(Malformed::BadSegmentSize)
        );
        assert_eq!(
            prepare_egress(&mut frame, Some(70_000)),
            Err(Malformed::BadSegmentSize)
        );
        let mut garbage = vec![0x45u8; HEADER_LEN + 50];
        assert!(prepare_egress(&mut garbage, Some(100)).is_err());
    }

    #[test]
    fn arbitrary_frames_never_panic() {
        // A cheap deterministic fuzz: random lengths, headers and bytes, biased towards
        // plausible IP/TCP starts.
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 200) as usize;
            let mut frame: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if len > HEADER_LEN {
                frame[HEADER_LEN] = [0x45, 0x60, 0x46, 0x00][(next() % 4) as usize];
            }
            if len > HEADER_LEN + 9 && next() % 2 == 0 {
                frame[HEADER_LEN + 9] = 6;
            }
            if len > 1 {
                frame[1] = [0, 1, 4, 3, 0x81][(next() % 5) as usize];
            }
            let _ = accept_ingress(&mut frame.clone());
            let size = [None, Some(0), Some(1), Some(1460), Some(100_000)][(next() % 5) as usize];
            let _ = prepare_egress(&mut frame, size);
        }
    }
}
