//! `--pcap FILE` records the TCP three-way handshake: SYN from the kernel, SYN-ACK from the
//! stack (10.0.0.2), ACK from the kernel acknowledging the stack's initial sequence number; and
//! tshark reads it.

use netns_tests::{Netns, Tunws, http_exchange, pcap_packets, require_root};
use std::time::Duration;

/// One IPv4 TCP segment seen in the capture.
#[derive(Debug)]
struct Segment {
    src: [u8; 4],
    dst: [u8; 4],
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// The IPv4 TCP segments of a classic pcap file whose link type carries bare IP packets.
fn tcp_segments(file: &[u8]) -> Vec<Segment> {
    let mut segments = Vec::new();
    for packet in pcap_packets(file) {
        if packet.len() < 20 || packet[0] >> 4 != 4 || packet[9] != 6 {
            continue;
        }
        let ihl = usize::from(packet[0] & 0x0f) * 4;
        let tcp = &packet[ihl.min(packet.len())..];
        if tcp.len() < 20 {
            continue;
        }
        segments.push(Segment {
            src: packet[12..16].try_into().unwrap(),
            dst: packet[16..20].try_into().unwrap(),
            src_port: u16_at(tcp, 0),
            dst_port: u16_at(tcp, 2),
            seq: u32_at(tcp, 4),
            ack: u32_at(tcp, 8),
            flags: tcp[13],
        });
    }
    segments
}

/// `tshark -r FILE` output, or `None` when tshark is not installed.
fn tshark_summary(path: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(path)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "tshark -r failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn pcap_holds_the_three_way_handshake() {
    require_root!();
    let ns = Netns::new("pcap");
    let path = std::env::temp_dir().join(format!("{}.pcap", ns.name()));
    let _ = std::fs::remove_file(&path);
    let mut tunws = Tunws::start(&ns, &["--pcap", path.to_str().unwrap()]);
    let response =
        ns.run(|| http_exchange(b"GET / HTTP/1.1\r\nHost: 10.0.0.2\r\nConnection: close\r\n\r\n"));
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // The capture is complete once tunws has flushed it on exit.
    tunws.proc().signal(libc::SIGINT);
    let status = tunws.proc().wait_timeout(Duration::from_secs(10));
    assert!(status.is_some(), "tunws did not exit on SIGINT");
    let file = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let tshark = tshark_summary(&path);
    let _ = std::fs::remove_file(&path);
    // The README promises the file opens in Wireshark/tshark; scripts/test.sh installs tshark.
    match tshark {
        Some(summary) => assert!(
            summary.contains("[SYN]")
                && summary.contains("[SYN, ACK]")
                && summary.contains("HTTP/1.1 200"),
            "tshark does not see the handshake and the response:\n{summary}"
        ),
        None => eprintln!("tshark not installed: the capture was checked by the parser below only"),
    }
    let segments = tcp_segments(&file);
    let (kernel, stack) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let syn = segments
        .iter()
        .find(|s| {
            s.src == kernel
                && s.dst == stack
                && s.dst_port == 8080
                && s.flags & (SYN | ACK | RST | FIN) == SYN
        })
        .unwrap_or_else(|| panic!("no SYN from 10.0.0.1 to :8080 in {segments:#?}"));
    let syn_ack = segments
        .iter()
        .find(|s| {
            s.src == stack && s.dst_port == syn.src_port && s.flags & (SYN | ACK | RST) == SYN | ACK
        })
        .unwrap_or_else(|| panic!("no SYN-ACK from 10.0.0.2 in {segments:#?}"));
    assert_eq!(
        syn_ack.ack,
        syn.seq.wrapping_add(1),
        "SYN-ACK does not acknowledge the SYN"
    );
    let ack = segments
        .iter()
        .find(|s| s.src == kernel && s.src_port == syn.src_port && s.flags & (SYN | ACK) == ACK)
        .unwrap_or_else(|| panic!("no ACK from 10.0.0.1 after the SYN-ACK in {segments:#?}"));
    assert_eq!(
        ack.ack,
        syn_ack.seq.wrapping_add(1),
        "ACK does not acknowledge the SYN-ACK"
    );
}
