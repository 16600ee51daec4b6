//! The transmit ring of a connection that went quiet is given back to the kernel
//! (`net/idle_rings.rs`), without changing a byte of what flows after, and without trimming
//! connections that keep talking.

mod common;

use common::{Pair, connect, pattern, transfer};
use stack::Duration;

#[test]
fn a_quiet_connection_gives_its_transmit_ring_back_and_keeps_its_bytes() {
    let mut pair = Pair::listening();
    let (cid, sid) = connect(&mut pair);
    // More than the 64 KiB ring: the ring wraps, so its indexes end mid-buffer.
    let down = pattern(100_000, 3);
    assert_eq!(
        transfer(&mut pair, false, sid, cid, &down, Duration::from_secs(10)),
        down
    );
    let before = pair.server.tx_rings_trimmed();
    pair.run_for(Duration::from_secs(1));
    assert_eq!(pair.server.send_queue(sid), Ok(0));
    assert_eq!(
        pair.server.tx_rings_trimmed(),
        before + 1,
        "one quiet spell, one trim"
    );
    // What the connection sends after the trim arrives intact, both ways.
    let again = pattern(150_000, 4);
    assert_eq!(
        transfer(&mut pair, false, sid, cid, &again, Duration::from_secs(10)),
        again
    );
    let up = pattern(100_000, 5);
    assert_eq!(
        transfer(&mut pair, true, cid, sid, &up, Duration::from_secs(10)),
        up
    );
    pair.run_for(Duration::from_secs(1));
    assert_eq!(pair.server.tx_rings_trimmed(), before + 2);
    // Nothing more to give back while the connection stays quiet.
    pair.run_for(Duration::from_secs(5));
    assert_eq!(pair.server.tx_rings_trimmed(), before + 2);
}

#[test]
fn a_connection_that_keeps_sending_is_not_trimmed() {
    let mut pair = Pair::listening();
    let (cid, sid) = connect(&mut pair);
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    // A 45-byte message every 40 ms for 3 s: never quiet for a whole sweep period (100 ms).
    for round in 0..75u8 {
        let message = [round; 45];
        assert_eq!(pair.server.send(sid, &message), Ok(45));
        pair.run_for(Duration::from_millis(40));
        while let Ok(n @ 1..) = pair.client.recv(cid, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert_eq!(got.len(), 75 * 45);
    assert!(
        got.chunks(45)
            .enumerate()
            .all(|(i, m)| m.iter().all(|&b| b == i as u8))
    );
    assert_eq!(pair.server.tx_rings_trimmed(), 0);
    pair.run_for(Duration::from_secs(1));
    assert_eq!(pair.server.tx_rings_trimmed(), 1);
}

#[test]
fn unacknowledged_bytes_are_never_given_back() {
    let mut pair = Pair::listening();
    let (cid, sid) = connect(&mut pair);
    // The client does not read: its window closes and the server's ring stays full for
    // seconds with no packet but zero-window probes.
    let down = pattern(200_000, 6);
    let mut sent = 0;
    pair.run_until(Duration::from_secs(2), |p| {
        sent += p.server.send(sid, &down[sent..]).unwrap();
        false
    });
    assert!(pair.server.send_queue(sid).unwrap() > 0);
    pair.run_for(Duration::from_secs(3));
    assert!(pair.server.send_queue(sid).unwrap() > 0);
    assert_eq!(pair.server.tx_rings_trimmed(), 0);
    // Then everything arrives intact.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    let ok = pair.run_until(Duration::from_secs(30), |p| {
        if sent < down.len() {
            sent += p.server.send(sid, &down[sent..]).unwrap();
        }
        while let Ok(n @ 1..) = p.client.recv(cid, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got.len() == down.len()
    });
    assert!(ok, "stalled at {} of {}", got.len(), down.len());
    assert!(got == down, "bytes changed");
}
