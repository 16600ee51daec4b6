//! A client that resets its connection in the middle of a frame frees its socket: with a small
//! `--max-connections`, many such clients in a row would exhaust the pool if sockets leaked,
//! and the clients that come after them would be refused.

use netns_tests::tungstenite::Message;
use netns_tests::{Netns, Tunws, read_data, require_root, set_linger_zero, ws_connect};
use std::io::Write;
use std::time::Duration;

const MAX_CONNECTIONS: &str = "16";
const RESETS: usize = 48;

#[test]
fn reset_mid_frame_frees_the_socket() {
    require_root!();
    let ns = Netns::new("rst");
    let mut tunws = Tunws::start(&ns, &["--max-connections", MAX_CONNECTIONS]);
    ns.run(|| {
        for i in 0..RESETS {
            let mut ws = ws_connect("/echo");
            // Header of a masked 1000-byte binary frame, its masking key and 10 payload bytes,
            // then RST: the server is left in the middle of the frame.
            let stream = ws.get_mut();
            let mut partial = vec![0x82, 0x80 | 126, 0x03, 0xE8, 1, 2, 3, 4];
            partial.extend_from_slice(&[0x55; 10]);
            stream.write_all(&partial).unwrap_or_else(|e| panic!("reset round {i}: write: {e}"));
            std::thread::sleep(Duration::from_millis(20));
            set_linger_zero(stream);
            drop(ws);
        }
        // Give the stack a moment to process the last resets, then the pool must still serve.
        std::thread::sleep(Duration::from_millis(200));
        for i in 0..4 {
            let mut ws = ws_connect("/echo");
            let text = format!("after resets {i}");
            ws.send(Message::text(text.as_str())).expect("send");
            assert_eq!(read_data(&mut ws), Message::text(text));
        }
    });
    assert!(tunws.proc().is_running(), "tunws exited:\n{}", tunws.output());
}
