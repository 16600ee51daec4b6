//! Capture of every packet in and out, in the classic pcap format (opens in Wireshark/tshark).
//!
//! Link type LINKTYPE_RAW (101): each record is a bare IPv4 or IPv6 packet, which is exactly
//! what crosses a TUN. Records are buffered and written on [`Layer::flush`] and on drop.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use smoltcp::time::Instant;

use super::{Direction, Layer};
use crate::packet::Headers;

/// pcap magic for microsecond timestamps; readers detect the byte order from it.
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// LINKTYPE_RAW: the packet starts with the IP header, version in the first nibble.
pub const LINKTYPE_RAW: u32 = 101;
/// Largest packet recorded whole: the largest IP packet.
const SNAPLEN: u32 = 65_535;

/// Writes pcap records to `W` (a file in production, a `Vec` in tests).
pub struct Pcap<W: Write + Send> {
    out: W,
    /// Wall-clock time (since the Unix epoch) at which the stack clock read zero.
    base: Duration,
    /// First write error; later packets are not written and `flush` reports it.
    failed: Option<io::Error>,
}

impl Pcap<BufWriter<File>> {
    /// Creates (truncates) `path` and writes the file header.
    pub fn create(path: &Path, base: Duration) -> io::Result<Self> {
        let file = File::create(path)?;
        Pcap::new(BufWriter::with_capacity(256 * 1024, file), base)
    }
}

impl<W: Write + Send> Pcap<W> {
    /// Writes the file header to `out`. Record timestamps are `base + now`.
    pub fn new(mut out: W, base: Duration) -> io::Result<Self> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes()); // version 2.4
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // 8..16: thiszone and sigfigs, both zero.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&header)?;
        Ok(Pcap {
            out,
            base,
            failed: None,
        })
    }

    /// The writer, e.g. to inspect the bytes in a test.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Writes one record for `packet` at `now`; after a write error the capture stops (the
    /// error is logged once and reported by `flush`).
    pub fn capture(&mut self, packet: &[u8], now: Instant) {
        if self.failed.is_none() {
            if let Err(err) = self.record(packet, now) {
                log::error!("pcap: write failed, capture stops here: {err}");
                self.failed = Some(err);
            }
        }
    }

    fn record(&mut self, packet: &[u8], now: Instant) -> io::Result<()> {
        let micros = u64::try_from(now.total_micros()).unwrap_or(0);
        let at = self.base + Duration::from_micros(micros);
        let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let caplen = len.min(SNAPLEN);
        let mut header = [0u8; 16];
        // The classic format has 32-bit seconds; it wraps in 2106.
        header[0..4].copy_from_slice(&(at.as_secs() as u32).to_le_bytes());
        header[4..8].copy_from_slice(&at.subsec_micros().to_le_bytes());
        header[8..12].copy_from_slice(&caplen.to_le_bytes());
        header[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(&packet[..caplen as usize])
    }
}

impl<W: Write + Send> Layer for Pcap<W> {
    fn handle(&mut self, _direction: Direction, packet: &[u8], _headers: &Headers, now: Instant) {
        self.capture(packet, now);
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(err) = &self.failed {
            return Err(io::Error::new(err.kind(), err.to_string()));
        }
        self.out.flush()
    }
}

impl<W: Write + Send> Drop for Pcap<W> {
    fn drop(&mut self) {
        if let Err(err) = Layer::flush(self) {
            log::error!("pcap: final flush failed: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let base = Duration::from_secs(1_700_000_000);
        let mut pcap = Pcap::new(Vec::new(), base).unwrap();
        let packet = [
            0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let headers = Headers::parse(&packet);
        pcap.handle(
            Direction::Ingress,
            &packet,
            &headers,
            Instant::from_micros(2_500_001),
        );
        let bytes = pcap.get_ref().clone();
        assert_eq!(bytes.len(), 24 + 16 + packet.len());
        assert_eq!(&bytes[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 101);
        let rec = &bytes[24..];
        assert_eq!(
            u32::from_le_bytes(rec[0..4].try_into().unwrap()),
            1_700_000_002
        );
        assert_eq!(u32::from_le_bytes(rec[4..8].try_into().unwrap()), 500_001);
        assert_eq!(u32::from_le_bytes(rec[8..12].try_into().unwrap()), 20);
        assert_eq!(u32::from_le_bytes(rec[12..16].try_into().unwrap()), 20);
        assert_eq!(&rec[16..], &packet);
    }
}
