//! 5 % packet loss in both directions (nftables on tun0 inside the namespace): a 256 KiB echo
//! still arrives byte-exact, because TCP in the stack retransmits what was lost.
//!
//! With offload (the default) 256 KiB crosses tun0 in a few dozen super-packets, so one echo may
//! see no loss at all: echoes repeat until nftables has dropped something.

use netns_tests::tungstenite::Message;
use netns_tests::{Netns, Tunws, pattern_bytes, read_data, require_root, ws_connect};
use std::time::{Duration, Instant};

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn echo_of_256_kib_survives_five_percent_loss() {
    require_root!();
    let ns = Netns::new("loss");
    let _tunws = Tunws::start(&ns, &[]);
    ns.add_loss(5);
    let mut dropped = 0;
    let mut echoes = 0;
    let mut elapsed = Duration::ZERO;
    // At 5 % per packet, 20 echoes without a single drop would take a broken rule.
    while dropped == 0 && echoes < 20 {
        echoes += 1;
        elapsed += ns.run(move || {
            let start = Instant::now();
            let mut ws = ws_connect("/echo");
            // smoltcp's minimum RTO is 1 s, so a few unlucky losses in a row take several seconds.
            ws.get_mut()
                .set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            let msg = Message::binary(pattern_bytes(256 * 1024, 7 + echoes));
            ws.send(msg.clone()).expect("send");
            let back = read_data(&mut ws);
            assert!(
                back == msg,
                "echo under loss differs: sent {} bytes, got {}",
                msg.len(),
                back.len()
            );
            start.elapsed()
        });
        dropped = ns.dropped_packets();
    }
    println!("{echoes} 256 KiB echoes with 5 % loss: {elapsed:?}, {dropped} packets dropped");
    // Without drops the test would not have exercised retransmission at all.
    assert!(
        dropped > 0,
        "nftables dropped no packet: the loss rules do not match tun0"
    );
}
