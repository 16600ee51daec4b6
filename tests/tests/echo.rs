//! `/echo` returns every message unchanged (type and bytes), at the frame-length boundaries of
//! RFC 6455 §5.2 (7-bit, 16-bit and 64-bit lengths) and at 1 MiB, checked with tungstenite.

use netns_tests::tungstenite::Message;
use netns_tests::{Netns, Tunws, pattern_bytes, pattern_text, read_data, require_root, ws_connect};

const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 1 << 20];

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn echo_text_and_binary_of_every_length_class() {
    require_root!();
    let ns = Netns::new("echo");
    let _tunws = Tunws::start(&ns, &[]);
    ns.run(|| {
        let mut ws = ws_connect("/echo");
        for (i, &len) in SIZES.iter().enumerate() {
            let text = Message::text(pattern_text(len));
            let binary = Message::binary(pattern_bytes(len, i as u64 + 1));
            for msg in [text, binary] {
                ws.send(msg.clone())
                    .unwrap_or_else(|e| panic!("send {len} bytes: {e}"));
                let back = read_data(&mut ws);
                assert!(
                    back == msg,
                    "echo of {len} bytes differs (sent {}, got {} of another kind or content)",
                    msg.len(),
                    back.len()
                );
            }
        }
        ws.close(None).expect("close");
        // Drive the close handshake to its end: the server must answer our close.
        loop {
            match ws.read() {
                Ok(_) => {}
                Err(netns_tests::tungstenite::Error::ConnectionClosed) => break,
                Err(e) => panic!("close handshake: {e}"),
            }
        }
    });
}
