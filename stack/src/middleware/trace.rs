//! One readable line per packet — the course-lab view of the three-way handshake:
//!
//! ```text
//! trace    0.104211 in  10.0.0.1:53122 → 10.0.0.2:8080 TCP [SYN] seq=2715139204 win=64240 len=0 mss=1460
//! trace    0.104390 out 10.0.0.2:8080 → 10.0.0.1:53122 TCP [SYN,ACK] seq=90421 ack=2715139205 win=64240 len=0 mss=1460
//! trace    0.104452 in  10.0.0.1:53122 → 10.0.0.2:8080 TCP [ACK] seq=2715139205 ack=90422 win=502 len=0
//! ```
//!
//! Sequence numbers are absolute (the ISN arithmetic of the handshake is visible as is); the
//! window is the raw header field (unscaled). Packets the line cannot parse are still reported.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::SocketAddr;

use smoltcp::time::Instant;
use smoltcp::wire::IpProtocol;

use super::{Direction, Layer};
use crate::packet::{Headers, IpHeader, Segment};

/// Writes one line per packet to a sink (stderr by default).
pub struct Trace {
    out: Box<dyn Write + Send>,
    /// Reused line buffer: formatting costs no allocation once it has grown.
    line: String,
}

impl Trace {
    /// Traces to standard error.
    pub fn stderr() -> Self {
        Trace::new(Box::new(io::stderr()))
    }

    /// Traces to any writer (tests capture the lines this way).
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Trace {
            out,
            line: String::with_capacity(160),
        }
    }
}

impl Layer for Trace {
    fn handle(&mut self, direction: Direction, packet: &[u8], headers: &Headers, now: Instant) {
        self.line.clear();
        describe_headers(&mut self.line, direction, packet.len(), headers, now);
        self.line.push('\n');
        // One write per line so lines from other threads do not interleave mid-line.
        if let Err(err) = self.out.write_all(self.line.as_bytes()) {
            log::debug!("trace: write failed: {err}");
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Formats one packet into `line` (without newline), reading its headers.
pub fn describe(line: &mut String, direction: Direction, packet: &[u8], now: Instant) {
    describe_headers(line, direction, packet.len(), &Headers::parse(packet), now);
}

/// Formats one packet of `len` bytes, already read as `headers`, into `line` (without
/// newline).
pub fn describe_headers(
    line: &mut String,
    direction: Direction,
    len: usize,
    headers: &Headers,
    now: Instant,
) {
    let dir = match direction {
        Direction::Ingress => "in ",
        Direction::Egress => "out",
    };
    let micros = now.total_micros();
    // Writing to a String cannot fail.
    let _ = write!(
        line,
        "trace {:4}.{:06} {dir} ",
        micros / 1_000_000,
        micros % 1_000_000
    );
    match headers {
        Headers::Tcp(segment) => describe_tcp(line, segment),
        Headers::Ip(ip) => describe_ip(line, ip),
        Headers::Unreadable => {
            let _ = write!(line, "malformed IP packet, {len} bytes");
        }
    }
}

/// An IP packet that is not a whole TCP segment.
fn describe_ip(line: &mut String, ip: &IpHeader) {
    let (src, dst) = (ip.src, ip.dst);
    let len = ip.payload_len();
    let _ = match ip.protocol {
        IpProtocol::Tcp if ip.fragment => write!(line, "{src} → {dst} TCP fragment, {len} bytes"),
        IpProtocol::Tcp => write!(line, "{src} → {dst} TCP malformed, {len} bytes"),
        other => write!(line, "{src} → {dst} {other} len={len}"),
    };
}

fn describe_tcp(line: &mut String, tcp: &Segment) {
    let _ = write!(
        line,
        "{} → {} TCP [",
        SocketAddr::from(tcp.src),
        SocketAddr::from(tcp.dst)
    );
    let flags = [
        (tcp.syn, "SYN"),
        (tcp.fin, "FIN"),
        (tcp.rst, "RST"),
        (tcp.psh, "PSH"),
        (tcp.ack.is_some(), "ACK"),
        (tcp.urg, "URG"),
        (tcp.ece, "ECE"),
        (tcp.cwr, "CWR"),
    ];
    let mut first = true;
    for (_, name) in flags.iter().filter(|(set, _)| *set) {
        if !first {
            line.push(',');
        }
        line.push_str(name);
        first = false;
    }
    let _ = write!(line, "] seq={}", tcp.seq);
    if let Some(ack) = tcp.ack {
        let _ = write!(line, " ack={ack}");
    }
    let _ = write!(line, " win={} len={}", tcp.window, tcp.payload_len);
    if let Some(mss) = tcp.options.mss {
        let _ = write!(line, " mss={mss}");
    }
    if let Some(shift) = tcp.options.wscale {
        let _ = write!(line, " wscale={shift}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::emit_tcp;
    use smoltcp::wire::{Ipv4Address, TcpControl, TcpRepr, TcpSeqNumber};

    fn syn_packet() -> Vec<u8> {
        let src = Ipv4Address::new(10, 0, 0, 1);
        let dst = Ipv4Address::new(10, 0, 0, 2);
        let tcp = TcpRepr {
            src_port: 53122,
            dst_port: 8080,
            control: TcpControl::Syn,
            seq_number: TcpSeqNumber(1000),
            ack_number: None,
            window_len: 64240,
            window_scale: Some(7),
            max_seg_size: Some(1460),
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: &[],
        };
        let mut packet = vec![0u8; 120 + tcp.payload.len()];
        let len = emit_tcp(src.into(), dst.into(), &tcp, &mut packet).expect("fits");
        packet.truncate(len);
        packet
    }

    #[test]
    fn syn_line_shows_endpoints_flags_seq_window_and_mss() {
        let mut line = String::new();
        describe(
            &mut line,
            Direction::Ingress,
            &syn_packet(),
            Instant::from_micros(1_000_042),
        );
        assert_eq!(
            line,
            "trace    1.000042 in  10.0.0.1:53122 → 10.0.0.2:8080 TCP [SYN] seq=1000 win=64240 len=0 mss=1460 wscale=7"
        );
    }

    #[test]
    fn garbage_is_reported_not_panicked_on() {
        let mut line = String::new();
        describe(&mut line, Direction::Egress, &[0x45, 1, 2], Instant::ZERO);
        assert!(line.ends_with("malformed IP packet, 3 bytes"), "{line}");
        line.clear();
        let mut truncated = syn_packet();
        truncated.truncate(30);
        describe(&mut line, Direction::Egress, &truncated, Instant::ZERO);
        assert!(line.contains("malformed"), "{line}");
    }
}
