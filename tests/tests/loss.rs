//! 5 % packet loss in both directions (nftables on tun0 inside the namespace): a 256 KiB echo
//! still arrives byte-exact, because TCP in the stack retransmits what was lost.

use netns_tests::tungstenite::Message;
use netns_tests::{Netns, Tunws, pattern_bytes, read_data, require_root, ws_connect};
use std::time::{Duration, Instant};

#[test]
fn echo_of_256_kib_survives_five_percent_loss() {
    require_root!();
    let ns = Netns::new("loss");
    let _tunws = Tunws::start(&ns, &[]);
    ns.add_loss(5);
    let elapsed = ns.run(|| {
        let start = Instant::now();
        let mut ws = ws_connect("/echo");
        // smoltcp's minimum RTO is 1 s, so a few unlucky losses in a row take several seconds.
        ws.get_mut()
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let msg = Message::binary(pattern_bytes(256 * 1024, 7));
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
    let dropped = ns.dropped_packets();
    println!("256 KiB echo with 5 % loss: {elapsed:?}, {dropped} packets dropped");
    // Without drops the test would not have exercised retransmission at all.
    assert!(
        dropped > 0,
        "nftables dropped no packet: the loss rules do not match tun0"
    );
}
