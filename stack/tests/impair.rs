//! The impairment stage on a real transfer: TCP must deliver every byte, in order, whatever
//! the wire loses, reorders, duplicates or delays (deterministic: seeded, simulated clock).

mod common;

use common::*;
use stack::{Duration, NetConfig};

fn impaired(ip: [u8; 4], seed: u64) -> NetConfig {
    NetConfig {
        loss_percent: 1.0,
        reorder_percent: 5.0,
        duplicate_percent: 3.0,
        delay: Duration::from_millis(1),
        jitter: Duration::from_millis(1),
        loss_seed: seed,
        ..config(ip)
    }
}

#[test]
fn one_mebibyte_each_way_byte_exact_under_loss_reorder_duplicate_delay() {
    let mut pair = Pair::new(impaired(SERVER_IP, 21), impaired(CLIENT_IP, 22));
    pair.server.listen(PORT).unwrap();
    let (cid, sid) = connect(&mut pair);
    let up = pattern(1 << 20, 31);
    let got = transfer(&mut pair, true, cid, sid, &up, Duration::from_secs(900));
    assert!(got == up, "upload differs from what was sent");
    let down = pattern(1 << 20, 32);
    let got = transfer(&mut pair, false, sid, cid, &down, Duration::from_secs(900));
    assert!(got == down, "download differs from what was sent");
    for (side, stats) in [
        ("client", pair.client.stats()),
        ("server", pair.server.stats()),
    ] {
        let i = stats.port.impair;
        assert!(
            i.lost > 0 && i.held > 0 && i.duplicated > 0,
            "{side}: every impairment happened: {i:?}"
        );
        assert_eq!(i.overflowed, 0, "{side}: delay queue never full");
    }
}

#[test]
fn delay_alone_slows_the_handshake_by_the_round_trips() {
    let delayed = |ip| NetConfig {
        delay: Duration::from_millis(50),
        ..config(ip)
    };
    let mut pair = Pair::new(delayed(SERVER_IP), delayed(CLIENT_IP));
    pair.server.listen(PORT).unwrap();
    let start = pair.now;
    connect(&mut pair);
    // SYN out (client egress + server ingress: 100 ms), SYN-ACK back (100 ms): the client is
    // established after one round trip of 4 × 50 ms, the server half a round trip later.
    let took = pair.now - start;
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(400),
        "handshake took {took}"
    );
    let stats = pair.client.stats().port.impair;
    assert_eq!((stats.lost, stats.duplicated), (0, 0));
}
