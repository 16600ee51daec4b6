//! 5 % packet loss in both directions (nftables on tun0 inside the namespace): a 256 KiB echo
//! still arrives byte-exact, because TCP in the stack retransmits what was lost.

use netns_tests::tungstenite::Message;
use netns_tests::{Netns, Tunws, pattern_bytes, pattern_text, read_data, require_root, ws_connect};

#[test]
fn echo_of_256_kib_survives_five_percent_loss() {
    require_root!();
    let ns = Netns::new("loss");
    let _tunws = Tunws::start(&ns, &[]);
    ns.add_loss(5);
    ns.run(|| {
        let mut ws = ws_connect("/echo");
        for msg in [Message::binary(pattern_bytes(256 * 1024, 7)), Message::text(pattern_text(256 * 1024))] {
            ws.send(msg.clone()).expect("send");
            let back = read_data(&mut ws);
            assert!(back == msg, "echo under loss differs: sent {} bytes, got {}", msg.len(), back.len());
        }
    });
}
