//! Test data and figures: deterministic payloads, pcap files read back, a process's memory,
//! and measured figures saved for the docs.

use std::path::PathBuf;

/// Deterministic payload bytes (xorshift), so a corrupted echo cannot match by accident.
pub fn pattern_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A valid UTF-8 string of exactly `len` bytes mixing 1-, 2-, 3- and 4-byte characters.
pub fn pattern_text(len: usize) -> String {
    const CHARS: [char; 6] = ['a', 'é', '€', '𝄞', ' ', 'z'];
    let mut s = String::with_capacity(len);
    let mut i = 0;
    while s.len() < len {
        let c = CHARS[i % CHARS.len()];
        if s.len() + c.len_utf8() <= len {
            s.push(c);
        } else {
            s.push('x');
        }
        i += 1;
    }
    s
}

/// Resident set size of process `pid` in KiB (`VmRSS` in /proc), `None` once it has exited.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Saves measured figures as `target/battery/<name>.json` (next to the test binaries' profile
/// directory), for docs/SECURITY.md; returns the path written.
pub fn save_figures(name: &str, json: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test binary> → target/battery
    let target = exe
        .ancestors()
        .nth(3)
        .expect("test binary lives in target/<profile>/deps");
    let dir = target.join("battery");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, json).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// The packets of a classic pcap file (either byte order), in order. Panics on a file that is
/// not one; a truncated last record is cut at the end of the file.
pub fn pcap_packets(file: &[u8]) -> Vec<&[u8]> {
    assert!(
        file.len() >= 24,
        "pcap shorter than its global header ({} bytes)",
        file.len()
    );
    let le = match u32::from_le_bytes(file[..4].try_into().unwrap()) {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        other => panic!("not a pcap file (magic {other:#x})"),
    };
    let word = |i: usize| {
        let b: [u8; 4] = file[i..i + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    // LINKTYPE_RAW (101), LINKTYPE_IPV4 (228), LINKTYPE_IPV6 (229), and DLT_RAW's value 12.
    let linktype = word(20);
    assert!(
        matches!(linktype, 101 | 228 | 229 | 12),
        "link type {linktype} does not hold bare IP packets"
    );
    let mut packets = Vec::new();
    let mut at = 24;
    while at + 16 <= file.len() {
        let caplen = word(at + 8) as usize;
        packets.push(&file[at + 16..(at + 16 + caplen).min(file.len())]);
        at += 16 + caplen;
    }
    packets
}
