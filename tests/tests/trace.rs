//! `--trace`, the course-lab view: the three-way handshake, the state changes, the HTTP upgrade
//! and the WebSocket frames of a connection show up in this order.

use netns_tests::tungstenite::Message;
use netns_tests::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};
use netns_tests::{Netns, Tunws, read_data, require_root, ws_connect};
use std::time::Duration;

#[test]
#[ignore = "needs root: run scripts/test.sh"]
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

/// `--socket-buffer` sets the TCP buffers: our SYN-ACK offers the window scale the buffer needs
/// (RFC 7323: shift 0 up to 65,535 bytes, 5 for 1 MiB), and a 1 MiB echo through either window
/// is intact.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn socket_buffer_flag_sets_the_advertised_window() {
    require_root!();
    for (buffer, wscale) in [("32768", "wscale=0"), ("1048576", "wscale=5")] {
        let ns = Netns::new("sockbuf");
        let tunws = Tunws::start(&ns, &["--trace", "--socket-buffer", buffer]);
        ns.run(|| {
            let mut ws = ws_connect("/echo");
            let payload: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
            ws.send(Message::binary(payload.clone())).expect("send");
            assert_eq!(read_data(&mut ws), Message::binary(payload));
        });
        let output = tunws.output();
        let syn_ack = output
            .lines()
            .find(|line| line.contains(" out ") && line.contains("[SYN,ACK]"))
            .unwrap_or_else(|| panic!("no SYN-ACK in the trace:\n{output}"));
        let offered = syn_ack
            .split(' ')
            .find(|field| field.starts_with("wscale="));
        assert_eq!(offered, Some(wscale), "--socket-buffer {buffer}: {syn_ack}");
    }
}

/// Under loss, `--trace` names why each segment went out again (issue 9): a SACK repair or a
/// tail probe of the recovery layer, not only smoltcp's timer.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn trace_labels_each_retransmission_with_its_reason() {
    require_root!();
    let ns = Netns::new("tracertx");
    let tunws = Tunws::start(
        &ns,
        &[
            "--trace",
            "--no-offload",
            "--loss",
            "10",
            "--loss-seed",
            "3",
        ],
    );
    ns.run(|| {
        let mut ws = ws_connect("/echo");
        ws.get_mut()
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let payload: Vec<u8> = (0..256 * 1024).map(|i: u32| (i % 253) as u8).collect();
        ws.send(Message::binary(payload.clone())).expect("send");
        assert_eq!(read_data(&mut ws), Message::binary(payload));
    });
    let output = tunws.output();
    let labelled: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("retransmission seq="))
        .collect();
    assert!(
        labelled
            .iter()
            .any(|line| line.contains("(SACK repair)") || line.contains("(tail probe)")),
        "no retransmission labelled by the recovery layer:\n{}",
        labelled.join("\n")
    );
}
