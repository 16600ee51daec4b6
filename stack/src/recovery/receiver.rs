//! The receiving direction: data seen arriving out of order, reported to the peer as full SACK
//! information (RFC 2018 §4) in the ACKs smoltcp sends.
//!
//! smoltcp puts one SACK block in the ACK it sends for an out-of-order segment (the block
//! holding that segment) and none in its other ACKs, so a sender that loses some of those ACKs
//! learns about its holes late. Here every ACK of a connection that negotiated SACK carries up
//! to as many blocks as fit (three or four): the one holding the most recently arrived segment
//! first, then the others from the most recent down, as RFC 2018 §4 asks.
//!
//! A segment that arrives entirely below what we already acknowledged is a duplicate: the next
//! ACK reports it once as a D-SACK block (RFC 2883 §4, the first block, below the cumulative
//! ACK), so the sender learns that its resend was spurious and widens its reordering window
//! (RFC 8985 §6.2 step 4; Linux does the same with the D-SACKs we send).

use crate::packet::{OPT_NOP, OPT_SACK, Segment, options as tcp_options, seq_le, seq_lt};

/// Out-of-order ranges remembered per connection; RFC 2018 §4 reports the most recent ones,
/// and smoltcp's assembler holds at most 32 anyway.
pub const MAX_RANGES: usize = 8;

/// Largest TCP options area (a 60-byte header).
const MAX_OPTIONS: usize = 40;
/// Bytes a packet may grow by when [`write_sack`] rewrites its options: the whole option space
/// (smoltcp's own options may be none). Whoever hands the recovery layer a packet leaves this
/// much room after it.
pub const SACK_ROOM: usize = MAX_OPTIONS;

/// Data received beyond what we have acknowledged, for one connection.
#[derive(Debug, Default)]
pub struct Received {
    /// (left, right) sequence ranges, most recently extended first, disjoint, none adjacent.
    ranges: Vec<(u32, u32)>,
    /// smoltcp has sent a SACK option on this connection: SACK was negotiated.
    pub sack_ok: bool,
    /// A duplicate segment not reported yet (RFC 2883).
    dsack: Option<(u32, u32)>,
}

impl Received {
    /// A data segment `[seq, end)` arrived; `acked` is the last acknowledgment number we sent.
    /// Only data strictly beyond it is out of order (data at it is in order, and smoltcp's next
    /// ACK covers it).
    pub fn on_data(&mut self, seq: u32, end: u32, acked: Option<u32>) {
        let Some(ack) = acked else { return };
        if !self.sack_ok || !seq_lt(seq, end) {
            return;
        }
        if seq_le(end, ack) {
            self.dsack = Some((seq, end));
            return;
        }
        if !seq_lt(ack, seq) {
            return;
        }
        let (mut left, mut right) = (seq, end);
        self.ranges.retain(|&(l, r)| {
            // Overlapping or adjacent ranges merge into the new one.
            let touches = seq_le(l, right) && seq_le(left, r);
            if touches {
                if seq_lt(l, left) {
                    left = l;
                }
                if seq_lt(right, r) {
                    right = r;
                }
            }
            !touches
        });
        self.ranges.insert(0, (left, right));
        self.ranges.truncate(MAX_RANGES);
    }

    /// Our ACK of `ack` goes out: ranges it covers are in order now.
    pub fn on_ack(&mut self, ack: u32) {
        self.ranges.retain_mut(|range| {
            if seq_lt(range.0, ack) {
                range.0 = ack;
            }
            seq_lt(range.0, range.1)
        });
    }

    /// The out-of-order ranges, most recent first.
    pub fn blocks(&self) -> &[(u32, u32)] {
        &self.ranges
    }

    /// Whether an ACK now has anything to report.
    pub fn wants_sack(&self) -> bool {
        self.dsack.is_some() || !self.ranges.is_empty()
    }

    /// The blocks of the next ACK: the duplicate, if one arrived, then the ranges.
    pub fn report(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.dsack.into_iter().chain(self.ranges.iter().copied())
    }

    /// The duplicate went out in an ACK: it is reported once (RFC 2883 §4).
    pub fn on_dsack_sent(&mut self) {
        self.dsack = None;
    }
}

/// Rewrites the TCP options of the outgoing packet `buf[start..end]` (parsed as `segment`) so
/// they end with a SACK option holding as many of `blocks` (in order) as fit; any SACK option smoltcp put
/// there is replaced, other options are kept. Fixes the header length, the IP length (and the
/// IPv4 header checksum) and the TCP checksum. Returns the packet's new end; `None` (packet
/// untouched) when not even one block fits, or `buf` has no room after `end` for the longer
/// header (the caller leaves [`SACK_ROOM`] bytes).
pub fn write_sack(
    buf: &mut [u8],
    start: usize,
    end: usize,
    segment: &Segment,
    blocks: impl IntoIterator<Item = (u32, u32)>,
) -> Option<usize> {
    let tcp_at = start + segment.tcp_at;
    let tcp_end = start + segment.tcp_end;
    if tcp_end != end {
        return None;
    }
    let old_len = segment.header_len;
    let mut options = [0u8; MAX_OPTIONS];
    let mut kept = 0;
    for item in tcp_options(&buf[tcp_at + 20..tcp_at + old_len]) {
        let (kind, option) = item?;
        if kind != OPT_SACK {
            options[kept..kept + option.len()].copy_from_slice(option);
            kept += option.len();
        }
    }
    // NOP, NOP, kind, length, then eight bytes a block (RFC 2018 §3's layout).
    let room = MAX_OPTIONS.checked_sub(kept + 4)?;
    let mut count = 0;
    let mut at = kept + 4;
    for (left, right) in blocks.into_iter().take(room / 8) {
        options[at..at + 4].copy_from_slice(&left.to_be_bytes());
        options[at + 4..at + 8].copy_from_slice(&right.to_be_bytes());
        at += 8;
        count += 1;
    }
    if count == 0 {
        return None;
    }
    options[kept] = OPT_NOP;
    options[kept + 1] = OPT_NOP;
    options[kept + 2] = OPT_SACK;
    options[kept + 3] = (2 + 8 * count) as u8;
    let new_len = 20 + at.div_ceil(4) * 4;
    let payload = tcp_end - (tcp_at + old_len);
    let new_end = tcp_at + new_len + payload;
    if new_end > buf.len() {
        return None;
    }
    buf.copy_within(tcp_at + old_len..tcp_end, tcp_at + new_len);
    buf[tcp_at + 20..tcp_at + new_len].copy_from_slice(&options[..new_len - 20]);
    buf[tcp_at + 12] = ((new_len / 4) as u8) << 4 | (buf[tcp_at + 12] & 0x0f);
    set_ip_length(&mut buf[start..new_end])?;
    smoltcp::wire::TcpPacket::new_unchecked(&mut buf[tcp_at..new_end])
        .fill_checksum(&segment.src.addr, &segment.dst.addr);
    Some(new_end)
}

/// Sets the IP length field to the packet's length (and refreshes the IPv4 header checksum).
fn set_ip_length(packet: &mut [u8]) -> Option<()> {
    match packet.first()? >> 4 {
        4 => {
            let mut ip = smoltcp::wire::Ipv4Packet::new_unchecked(packet);
            ip.set_total_len(u16::try_from(ip.as_ref().len()).ok()?);
            ip.fill_checksum();
        }
        6 => {
            let mut ip = smoltcp::wire::Ipv6Packet::new_unchecked(packet);
            let payload = ip.as_ref().len().checked_sub(40)?;
            ip.set_payload_len(u16::try_from(payload).ok()?);
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::OPT_END;
    use smoltcp::wire::{IpAddress, Ipv4Address, Ipv4Packet, TcpPacket};

    fn received() -> Received {
        Received {
            sack_ok: true,
            ..Received::default()
        }
    }

    #[test]
    fn a_duplicate_is_reported_once_first_then_the_ranges() {
        let mut r = received();
        r.on_data(300, 400, Some(200));
        r.on_data(100, 200, Some(200));
        assert!(r.wants_sack());
        assert_eq!(r.report().collect::<Vec<_>>(), [(100, 200), (300, 400)]);
        r.on_dsack_sent();
        assert_eq!(r.report().collect::<Vec<_>>(), [(300, 400)]);
        // Straddling the ACK is not a duplicate: smoltcp takes the new part.
        r.on_data(150, 250, Some(200));
        assert_eq!(r.report().collect::<Vec<_>>(), [(300, 400)]);
    }

    #[test]
    fn ranges_merge_and_the_most_recent_comes_first() {
        let mut r = received();
        r.on_data(200, 300, Some(100));
        r.on_data(500, 600, Some(100));
        assert_eq!(r.blocks(), [(500, 600), (200, 300)]);
        // Adjacent to the first: merges and moves to the front.
        r.on_data(300, 400, Some(100));
        assert_eq!(r.blocks(), [(200, 400), (500, 600)]);
        // In order (at the ACK) is not out of order.
        r.on_data(100, 200, Some(100));
        assert_eq!(r.blocks().len(), 2);
        r.on_ack(450);
        assert_eq!(r.blocks(), [(500, 600)]);
        r.on_ack(600);
        assert!(r.blocks().is_empty());
    }

    #[test]
    fn nothing_is_tracked_without_sack() {
        let mut r = Received::default();
        r.on_data(200, 300, Some(100));
        assert!(r.blocks().is_empty());
    }

    /// IPv4 10.0.0.2:8080 → 10.0.0.1:5000, ACK 100, smoltcp's one-block SACK option, `payload`.
    fn ack_with_one_block(payload: &[u8]) -> Vec<u8> {
        let options = [OPT_NOP, OPT_NOP, OPT_SACK, 10, 0, 0, 0, 200, 0, 0, 1, 44];
        let mut p = crate::packet::tests::packet(0, 100, &options, payload.len());
        let at = p.len() - payload.len();
        p[at..].copy_from_slice(payload);
        p
    }

    #[test]
    fn the_option_is_rewritten_with_every_block_that_fits_and_the_packet_stays_valid() {
        let mut buf = vec![9u8; 3];
        buf.extend(ack_with_one_block(b"data"));
        let end = buf.len();
        let segment = Segment::parse(&buf[3..]).unwrap();
        let blocks = [
            (200, 300),
            (500, 600),
            (700, 800),
            (900, 1000),
            (1100, 1200),
        ];
        assert_eq!(
            write_sack(&mut buf, 3, end, &segment, blocks.iter().copied()),
            None,
            "no room after the packet"
        );
        buf.resize(end + SACK_ROOM, 0);
        let new_end = write_sack(&mut buf, 3, end, &segment, blocks.iter().copied()).unwrap();
        let packet = &buf[3..new_end];
        let parsed = Segment::parse(packet).unwrap();
        // No other options: four blocks fit (4 + 32 bytes).
        assert_eq!(
            parsed.sack_blocks().collect::<Vec<_>>(),
            blocks[..4].to_vec()
        );
        assert_eq!(parsed.payload_len, 4);
        assert_eq!(&packet[packet.len() - 4..], b"data");
        let ip = Ipv4Packet::new_checked(packet).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(usize::from(ip.total_len()), packet.len());
        let src = IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 2));
        let dst = IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 1));
        assert!(
            TcpPacket::new_checked(&packet[20..])
                .unwrap()
                .verify_checksum(&src, &dst)
        );
        assert_eq!(buf[..3], [9, 9, 9], "bytes before the packet untouched");
    }

    #[test]
    fn other_options_are_kept_and_fewer_blocks_fit() {
        let mut p = ack_with_one_block(b"");
        // Replace the NOP NOP in front by a 10-byte timestamps option: the header grows.
        let ts = [8u8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
        let mut with_ts = p[..40].to_vec();
        with_ts.extend_from_slice(&ts);
        with_ts.extend_from_slice(&[OPT_NOP, OPT_NOP]);
        with_ts.extend_from_slice(&p[42..]);
        // 22 bytes of options, padded to 24.
        with_ts.extend_from_slice(&[OPT_END, OPT_END]);
        with_ts[32] = (((with_ts.len() - 20) / 4) as u8) << 4;
        let total = with_ts.len() as u16;
        with_ts[2..4].copy_from_slice(&total.to_be_bytes());
        p = with_ts;
        let end = p.len();
        let segment = Segment::parse(&p).unwrap();
        let blocks = [(200, 300), (500, 600), (700, 800), (900, 1000)];
        p.resize(end + SACK_ROOM, 0);
        let new_end = write_sack(&mut p, 0, end, &segment, blocks.iter().copied()).unwrap();
        let header_len = usize::from(p[32] >> 4) * 4;
        assert_eq!(&p[40..50], &ts, "timestamps kept first");
        let parsed = Segment::parse(&p[..new_end]).unwrap();
        assert_eq!(
            parsed.sack_blocks().count(),
            3,
            "10 + 4 + 24 bytes fit in 40"
        );
        assert!(header_len <= 60);
    }
}
