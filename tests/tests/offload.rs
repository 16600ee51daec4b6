//! Segmentation and checksum offload over the TUN (on by default): TCP super-packets larger
//! than the MTU cross the TUN in both directions, data arrives byte-exact, a capture of them
//! opens in tshark, `--no-offload` goes back to MTU-sized packets, and a peer beyond the
//! kernel, behind a link with a smaller MTU, still gets segments that fit its path.

use std::collections::HashMap;
use std::process::Command;

use netns_tests::tungstenite::{self, Message};
use netns_tests::{
    Client, Netns, Tunws, connect_tcp_to, ip, pattern_bytes, read_data, require_root, tunws_stats,
    veth_pair, ws_connect,
};

/// Echoes messages from 4 KiB (one super-packet each way) to 1 MiB (many, limited by the
/// windows) over IPv4 and checks every byte.
fn echo_sizes() {
    echo_sizes_on(ws_connect("/echo"));
}

fn echo_sizes_on(mut ws: Client) {
    for (i, len) in [4096usize, 65_536, 1 << 20, 4096].into_iter().enumerate() {
        let msg = Message::binary(pattern_bytes(len, 40 + i as u64));
        ws.send(msg.clone())
            .unwrap_or_else(|e| panic!("send {len} bytes: {e}"));
        let back = read_data(&mut ws);
        assert!(
            back == msg,
            "echo of {len} bytes differs (got {})",
            back.len()
        );
    }
    ws.close(None).expect("close");
}

fn stats_in(ns: &Netns) -> HashMap<String, u64> {
    ns.run(tunws_stats)
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn super_packets_cross_the_tun_both_ways_and_data_is_exact() {
    require_root!();
    let ns = Netns::new("offload");
    let pcap = std::env::temp_dir().join(format!("{}.pcap", ns.name()));
    let pcap_arg = pcap.to_str().expect("utf-8 temp path").to_string();
    let mut tunws = Tunws::start(&ns, &["--stats", "--pcap", &pcap_arg]);
    ns.run(echo_sizes);
    let stats = stats_in(&ns);
    assert!(
        stats["gso_rx"] > 0,
        "no super-packet read from the TUN: {stats:?}"
    );
    assert!(
        stats["gso_tx"] > 0,
        "no super-packet written to the TUN: {stats:?}"
    );
    assert_eq!(stats["malformed"], 0, "{stats:?}");

    // SIGTERM flushes the capture; tshark must read it and see packets above the MTU.
    tunws.proc().signal(libc::SIGTERM);
    let status = tunws
        .proc()
        .wait_timeout(std::time::Duration::from_secs(10))
        .expect("tunws exits after SIGTERM");
    assert!(status.success(), "tunws exit: {status:?}");
    let out = Command::new("tshark")
        .args(["-r", &pcap_arg, "-T", "fields", "-e", "ip.len"])
        .output()
        .expect("run tshark");
    let _ = std::fs::remove_file(&pcap);
    assert!(
        out.status.success(),
        "tshark -r: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lengths: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(
        lengths.iter().any(|&l| l > 1500),
        "no packet above the MTU in the capture ({} packets)",
        lengths.len()
    );
}

/// IPv6: the kernel hands over IPv6 super-packets (TSO6) with partial checksums; smoltcp 0.14
/// answers with MSS-sized IPv6 segments (it has no IPv6 segmentation path).
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn ipv6_super_packets_come_in_and_data_is_exact() {
    require_root!();
    let ns = Netns::new("offload6");
    let _tunws = Tunws::start(&ns, &["--stats", "--addr6", "fd00::2/64"]);
    ns.run(|| {
        let config = tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(64 << 20))
            .max_frame_size(Some(64 << 20));
        let stream = connect_tcp_to("[fd00::2]:8080".parse().unwrap());
        let (ws, _) = tungstenite::client::client_with_config(
            "ws://[fd00::2]:8080/echo",
            stream,
            Some(config),
        )
        .expect("WebSocket handshake over IPv6");
        echo_sizes_on(ws);
    });
    let stats = stats_in(&ns);
    assert!(stats["gso_rx"] > 0, "no IPv6 super-packet read: {stats:?}");
    assert_eq!(stats["malformed"], 0, "{stats:?}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn no_offload_keeps_every_packet_within_the_mtu() {
    require_root!();
    let ns = Netns::new("nooffload");
    let _tunws = Tunws::start(&ns, &["--stats", "--no-offload"]);
    ns.run(echo_sizes);
    let stats = stats_in(&ns);
    assert_eq!(
        (stats["gso_rx"], stats["gso_tx"], stats["malformed"]),
        (0, 0, 0),
        "{stats:?}"
    );
    assert!(stats["rx_packets"] > 700, "1 MiB in MTU packets: {stats:?}");
}

/// The offload features belong to the device and outlive tunws: a later `--no-offload` run on
/// the same persistent TUN must switch them off again, or the kernel would keep sending it
/// super-packets it cannot read.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn no_offload_after_offload_on_the_same_device_still_works() {
    require_root!();
    let ns = Netns::new("offload-switch");
    let mut first = Tunws::start(&ns, &[]);
    ns.run(echo_sizes);
    first.proc().signal(libc::SIGTERM);
    first
        .proc()
        .wait_timeout(std::time::Duration::from_secs(10))
        .expect("tunws exits after SIGTERM");
    let _second = Tunws::start(&ns, &["--stats", "--no-offload"]);
    ns.run(echo_sizes);
    let stats = stats_in(&ns);
    assert_eq!((stats["gso_rx"], stats["malformed"]), (0, 0), "{stats:?}");
}

/// A client in a second namespace, behind a veth link with MTU 1280 that takes no GSO packets,
/// reaches tunws through the kernel's forwarding. Its SYN advertises MSS 1240, so tunws must
/// ask the kernel for 1240-byte segments: larger ones (the TUN's own MSS, 1460) would not fit
/// the veth and the forwarding kernel would drop them (smoltcp ignores the ICMP "fragmentation
/// needed" it sends back), stalling the transfer.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_forwarded_peer_behind_a_smaller_mtu_gets_segments_that_fit() {
    require_root!();
    let ns = Netns::new("offload-fwd");
    let peer = Netns::new("offload-peer");
    // The peer reaches 10.0.0.0/24 through the veth, not through a TUN of its own.
    ip(&["-n", peer.name(), "link", "del", "tun0"]);
    veth_pair(&ns, &peer, 1280);
    // The peer's address lies inside tunws's on-link prefix (tunws has no default route), and
    // the kernel routes it over the veth.
    ip(&[
        "-n",
        peer.name(),
        "addr",
        "add",
        "10.0.0.5/32",
        "dev",
        "twb",
    ]);
    ip(&[
        "-n",
        ns.name(),
        "route",
        "add",
        "10.0.0.5/32",
        "via",
        "10.9.0.2",
    ]);
    ip(&[
        "-n",
        peer.name(),
        "route",
        "add",
        "10.0.0.0/24",
        "via",
        "10.9.0.1",
        "src",
        "10.0.0.5",
    ]);
    let out = ns
        .command("sysctl")
        .args(["-qw", "net.ipv4.ip_forward=1"])
        .output()
        .expect("run sysctl");
    assert!(out.status.success(), "sysctl: {out:?}");

    let _tunws = Tunws::start(&ns, &["--stats"]);
    peer.run(echo_sizes);
    let stats = stats_in(&ns);
    assert!(
        stats["gso_tx"] > 0,
        "tunws sent no super-packet towards the forwarded peer: {stats:?}"
    );
}
