//! `--trace`, the course-lab view: the three-way handshake, the state changes, the HTTP upgrade
//! and the WebSocket frames of a connection show up in this order.

use netns_tests::tungstenite::Message;
use netns_tests::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};
use netns_tests::{Netns, Tunws, read_data, require_root, ws_connect};
use std::time::Duration;

#[test]
fn trace_shows_handshake_upgrade_and_frames_in_order() {
    require_root!();
    let ns = Netns::new("trace");
    let mut tunws = Tunws::start(&ns, &["--trace"]);
    ns.run(|| {
        let mut ws = ws_connect("/echo");
        ws.send(Message::text("traced")).expect("send");
        assert_eq!(read_data(&mut ws), Message::text("traced"));
        ws.close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        }))
        .expect("close");
        while ws.read().is_ok() {}
    });
    assert!(
        tunws
            .proc()
            .wait_for_output("left (1000)", Duration::from_secs(5)),
        "no `left (1000)`"
    );
    let output = tunws.output();
    let mut from = 0;
    for step in [
        "[SYN]",
        "[SYN,ACK]",
        "ESTABLISHED",
        "101 Switching Protocols",
        "ws in",
        "ws out",
        "Close",
    ] {
        match output[from..].find(step) {
            Some(at) => from += at + step.len(),
            None => panic!("trace lacks {step:?} after byte {from}:\n{output}"),
        }
    }
}
