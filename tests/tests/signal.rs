//! SIGINT and SIGTERM: every open WebSocket gets a close frame with 1001 (going away), then
//! tunws exits 0.

use netns_tests::tungstenite::{Message, protocol::frame::coding::CloseCode};
use netns_tests::{Netns, Tunws, read_data, require_root, ws_connect};
use std::time::Duration;

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn sigint_closes_with_1001_and_exits_zero() {
    require_root!();
    closes_with_1001_and_exits_zero(libc::SIGINT, "sigint");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn sigterm_closes_with_1001_and_exits_zero() {
    require_root!();
    closes_with_1001_and_exits_zero(libc::SIGTERM, "sigterm");
}

fn closes_with_1001_and_exits_zero(signal: libc::c_int, name: &str) {
    let ns = Netns::new(name);
    let mut tunws = Tunws::start(&ns, &[]);
    let mut clients = ns.run(|| {
        let mut clients = vec![ws_connect("/echo"), ws_connect("/chat")];
        // Both connections are fully open (a round trip each) before the signal.
        for ws in &mut clients {
            ws.send(Message::text("before")).expect("send");
            assert_eq!(read_data(ws), Message::text("before"));
        }
        clients
    });
    tunws.proc().signal(signal);
    for (i, ws) in clients.iter_mut().enumerate() {
        let code = loop {
            match ws.read() {
                Ok(Message::Close(frame)) => break frame.map(|f| f.code),
                Ok(_) => {}
                Err(e) => panic!("client {i}: no close frame before the connection ended: {e}"),
            }
        };
        assert_eq!(code, Some(CloseCode::Away), "client {i}: close code");
        // Answer the close (tungstenite queued the reply; reading flushes it).
        while ws.read().is_ok() {}
    }
    let status = tunws.proc().wait_timeout(Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("tunws still running 10 s after {name}"));
    assert!(status.success(), "tunws exit status after {name}: {status}");
}

/// An idle tunws (no connection, no timer: it waits with no timeout) exits within a second of
/// SIGINT, every time: the signal cannot slip in between the loop's check of its flag and the
/// wait (SIGINT and SIGTERM are unblocked only inside ppoll, see stack/src/runner.rs). The
/// signal is sent at once after `listening on`, while the loop is still settling into its wait,
/// and again after a pause, when it sits in the wait.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn sigint_to_an_idle_tunws_exits_within_a_second_fifty_times() {
    require_root!();
    let ns = Netns::new("idle-sigint");
    for round in 0..50 {
        let mut tunws = Tunws::start(&ns, &[]);
        if round % 2 == 1 {
            std::thread::sleep(Duration::from_millis(20));
        }
        tunws.proc().signal(libc::SIGINT);
        let status = tunws.proc().wait_timeout(Duration::from_secs(1));
        let status = status.unwrap_or_else(|| {
            panic!(
                "round {round}: tunws still running 1 s after SIGINT\n{}",
                tunws.output()
            )
        });
        assert!(status.success(), "round {round}: exit status {status}");
    }
}
