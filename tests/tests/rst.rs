//! A client that resets its connection in the middle of a frame frees its socket: with a small
//! `--max-connections`, many such clients in a row would exhaust the pool if sockets leaked,
//! and the clients that come after them would be refused.

use netns_tests::tungstenite::Message;
use netns_tests::{
    Netns, Tunws, read_data, require_root, set_linger_zero, tunws_endpoint, wait_acked, ws_connect,
    ws_connect_when_free,
};
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

const MAX_CONNECTIONS: &str = "16";
const RESETS: usize = 48;

#[test]
#[ignore = "needs root: run scripts/test.sh"]
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
            stream
                .write_all(&partial)
                .unwrap_or_else(|e| panic!("reset round {i}: write: {e}"));
            // The partial frame is in tunws's socket before the RST follows it.
            wait_acked(stream);
            set_linger_zero(stream);
            drop(ws);
        }
        // Once the stack has processed the last resets, the pool must still serve.
        for i in 0..4 {
            let mut ws = ws_connect_when_free("a client after the resets");
            let text = format!("after resets {i}");
            ws.send(Message::text(text.as_str())).expect("send");
            assert_eq!(read_data(&mut ws), Message::text(text));
        }
    });
    assert!(
        tunws.proc().is_running(),
        "tunws exited:\n{}",
        tunws.output()
    );
    // Each reset reached the application: 1006 is "closed without a close frame".
    let left = tunws.output().matches("left (1006)").count();
    assert!(
        left >= RESETS,
        "{left} of {RESETS} reset clients logged as left (1006):\n{}",
        tunws.output()
    );
}

/// The premise of the test above: the cap is real (one more connection is refused), and a
/// reset connection gives its place back at once.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn max_connections_is_enforced_and_a_reset_frees_a_place() {
    require_root!();
    let ns = Netns::new("cap");
    let _tunws = Tunws::start(&ns, &["--max-connections", "4"]);
    ns.run(|| {
        let mut held: Vec<_> = (0..4).map(|_| ws_connect("/echo")).collect();
        let refused = TcpStream::connect_timeout(&tunws_endpoint(), Duration::from_secs(5));
        assert!(
            refused.is_err(),
            "a 5th connection was accepted with --max-connections 4"
        );
        let first = held.remove(0);
        set_linger_zero(first.get_ref());
        drop(first);
        let mut ws = ws_connect_when_free("a client in the freed place");
        ws.send(Message::text("in the freed place")).expect("send");
        assert_eq!(read_data(&mut ws), Message::text("in the freed place"));
    });
}
