//! The loss-recovery layer on the in-memory pair (simulated clock, seeded impairment): every
//! byte arrives in order, and losses are repaired within a few round trips instead of
//! smoltcp's 1 s retransmission timeout.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use proptest::prelude::*;
use stack::{Duration, NetConfig};

/// One-way delay added by the server's impairment in each direction: a 10 ms round trip.
const ONE_WAY: Duration = Duration::from_millis(5);
const RTT: Duration = Duration::from_millis(10);

/// The server side of a path with a 10 ms round trip and `loss` percent loss each way.
fn lossy(loss: f64, seed: u64, recovery: bool) -> NetConfig {
    NetConfig {
        loss_percent: loss,
        loss_seed: seed,
        delay: ONE_WAY,
        recovery,
        ..config(SERVER_IP)
    }
}

fn client(recovery: bool) -> NetConfig {
    NetConfig {
        recovery,
        ..config(CLIENT_IP)
    }
}

/// Echo-like exchange: `len` bytes from server to client, then back; returns the simulated
/// time it took.
fn round_trip_transfer(pair: &mut Pair, len: usize, seed: u64) -> Duration {
    let (cid, sid) = connect(pair);
    let start = pair.now;
    let down = pattern(len, seed);
    let got = transfer(pair, false, sid, cid, &down, Duration::from_secs(3600));
    assert!(got == down, "server → client stream differs");
    let up = pattern(len, seed + 1);
    let got = transfer(pair, true, cid, sid, &up, Duration::from_secs(3600));
    assert!(got == up, "client → server stream differs");
    pair.now - start
}

#[test]
fn one_to_ten_percent_loss_both_ways_is_repaired_far_faster_than_smoltcps_timer() {
    let mut clean = Pair::new(lossy(0.0, 7, true), client(true));
    clean.server.listen(PORT).unwrap();
    let clean = round_trip_transfer(&mut clean, 512 * 1024, 3);
    for loss in [1.0, 2.0, 5.0, 10.0] {
        let mut with = Pair::new(lossy(loss, 7, true), client(true));
        with.server.listen(PORT).unwrap();
        let fast = round_trip_transfer(&mut with, 512 * 1024, 3);
        let mut without = Pair::new(lossy(loss, 7, false), client(false));
        without.server.listen(PORT).unwrap();
        let slow = round_trip_transfer(&mut without, 512 * 1024, 3);
        let s = with.server.stats().port;
        let c = with.client.stats().port;
        println!(
            "{loss}% loss: 512 KiB each way in {} ms with the layer, {} ms without, {} ms \
             clean; server {:?}, client {:?}",
            fast.total_millis(),
            slow.total_millis(),
            clean.total_millis(),
            s.recovery,
            c.recovery
        );
        assert!(s.impair.lost > 0, "the wire lost packets");
        assert!(
            s.recovery.sack_repairs + c.recovery.sack_repairs > 0,
            "SACK repaired holes"
        );
        assert!(
            fast < clean * 3,
            "{loss}%: {} ms with recovery, {} ms without loss",
            fast.total_millis(),
            clean.total_millis()
        );
        // The time the losses cost, over a clean run: a fraction of what smoltcp alone loses.
        assert!(
            (fast - clean) * 4 < slow - clean,
            "{loss}%: {} ms with recovery vs {} ms without",
            fast.total_millis(),
            slow.total_millis()
        );
    }
}

/// Counts data segments (payload > 0) the server sends to the client, and drops the ones
/// `lose` picks by their (sequence number, first transmission?).
type Picker = Box<dyn FnMut(u32, bool) -> bool + Send>;

fn drop_server_data(pair: &mut Pair, mut lose: Picker) -> Arc<Mutex<Vec<u32>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    *pair.server_rule.lock().unwrap() = Some(Box::new(move |packet| {
        let Some(tcp) = tcp_of(packet) else {
            return false;
        };
        if tcp.payload().is_empty() {
            return false;
        }
        let seq = tcp.seq_number().0 as u32;
        let mut seen = log.lock().unwrap();
        let first = !seen.contains(&seq);
        seen.push(seq);
        lose(seq, first)
    }));
    seen
}

/// A connected pair on a clean 10 ms path whose server has measured the round trip.
fn warmed_pair() -> (Pair, stack::ConnId, stack::ConnId) {
    let mut pair = Pair::new(lossy(0.0, 0, true), client(true));
    pair.server.listen(PORT).unwrap();
    let (cid, sid) = connect(&mut pair);
    let warm = pattern(20_000, 1);
    transfer(&mut pair, false, sid, cid, &warm, Duration::from_secs(5));
    (pair, cid, sid)
}

#[test]
fn a_lost_last_segment_costs_a_probe_timeout_not_a_second() {
    let (mut pair, cid, sid) = warmed_pair();
    // Four segments; the wire loses the first transmission of the last one.
    let data = pattern(4 * 1400, 2);
    let mut last_seq = None;
    let mut count = 0;
    drop_server_data(
        &mut pair,
        Box::new(move |seq, first| {
            if first {
                count += 1;
            }
            if count == 4 && first && last_seq.is_none() {
                last_seq = Some(seq);
                return true;
            }
            false
        }),
    );
    let start = pair.now;
    let got = transfer(&mut pair, false, sid, cid, &data, Duration::from_secs(5));
    let took = pair.now - start;
    assert!(got == data);
    let r = pair.server.stats().port.recovery;
    println!("lost tail recovered in {} ms: {r:?}", took.total_millis());
    assert_eq!(r.tail_probes, 1, "{r:?}");
    assert_eq!(r.stack_retransmits, 0, "smoltcp's timer never fired: {r:?}");
    // PTO (2 × SRTT plus the single-segment delayed-ACK allowance) and a round trip.
    assert!(
        took < Duration::from_millis(150),
        "took {} ms",
        took.total_millis()
    );
}

#[test]
fn a_whole_lost_window_is_recovered_within_a_few_round_trips() {
    let (mut pair, cid, sid) = warmed_pair();
    // 40 KB: the first transmission of the first ten segments (all that congestion control
    // lets out at first) is lost.
    let data = pattern(40_000, 3);
    let mut n = 0;
    drop_server_data(
        &mut pair,
        Box::new(move |_, first| {
            n += usize::from(first);
            first && n <= 10
        }),
    );
    let start = pair.now;
    let got = transfer(&mut pair, false, sid, cid, &data, Duration::from_secs(10));
    let took = pair.now - start;
    assert!(got == data);
    let r = pair.server.stats().port.recovery;
    println!("lost window recovered in {} ms: {r:?}", took.total_millis());
    assert!(r.tail_probes >= 1, "{r:?}");
    assert!(
        took < RTT * 12,
        "took {} ms, expected a few round trips",
        took.total_millis()
    );
}

#[test]
fn holes_in_a_window_are_repaired_from_sack_in_one_round_trip() {
    let (mut pair, cid, sid) = warmed_pair();
    // Three holes in one window: the 2nd, 5th and 8th new segments are lost once.
    let data = pattern(30 * 1400, 4);
    let mut n = 0;
    drop_server_data(
        &mut pair,
        Box::new(move |_, first| {
            if !first {
                return false;
            }
            n += 1;
            matches!(n, 2 | 5 | 8)
        }),
    );
    let start = pair.now;
    let got = transfer(&mut pair, false, sid, cid, &data, Duration::from_secs(10));
    let took = pair.now - start;
    assert!(got == data);
    let r = pair.server.stats().port.recovery;
    println!("three holes repaired in {} ms: {r:?}", took.total_millis());
    assert_eq!(r.stack_retransmits, 0, "{r:?}");
    assert!(r.sack_repairs >= 3, "{r:?}");
    assert!(took < RTT * 8, "took {} ms", took.total_millis());
}

#[test]
fn reordering_and_duplication_cause_no_retransmission_storm() {
    let impaired = |ip, seed| NetConfig {
        reorder_percent: 10.0,
        duplicate_percent: 10.0,
        delay: Duration::from_millis(2),
        loss_seed: seed,
        ..config(ip)
    };
    let mut pair = Pair::new(impaired(SERVER_IP, 5), impaired(CLIENT_IP, 6));
    pair.server.listen(PORT).unwrap();
    round_trip_transfer(&mut pair, 512 * 1024, 9);
    for stats in [pair.server.stats().port, pair.client.stats().port] {
        let r = stats.recovery;
        let resent = r.sack_repairs + r.fast_retransmits + r.tail_probes + r.timeouts;
        println!(
            "no loss, 10 % reordered, 10 % duplicated: {r:?}, {} packets",
            stats.tx_packets
        );
        // Nothing was lost: what is resent at all is spurious, and must stay rare.
        assert!(
            resent * 20 < stats.tx_packets,
            "{resent} retransmissions out of {} packets: {r:?}",
            stats.tx_packets
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Any seed, loss, reordering and duplication: the streams arrive byte-exact, and the
    /// layer keeps transfers well clear of smoltcp's one-second stalls.
    #[test]
    fn any_seeded_impairment_delivers_the_stream_intact(
        seed in 0u64..1_000_000,
        loss in 1u32..=10,
        reorder in 0u32..=5,
        duplicate in 0u32..=5,
    ) {
        let impaired = |ip, seed| NetConfig {
            loss_percent: f64::from(loss),
            reorder_percent: f64::from(reorder),
            duplicate_percent: f64::from(duplicate),
            delay: Duration::from_millis(2),
            loss_seed: seed,
            ..config(ip)
        };
        let mut pair = Pair::new(impaired(SERVER_IP, seed), impaired(CLIENT_IP, seed ^ 0xff));
        pair.server.listen(PORT).unwrap();
        // The client speaks first, as HTTP clients do: its data carries the ACK that completes
        // the handshake, and is retransmitted until it arrives. (A bare handshake whose last
        // ACK is lost leaves the server half-open until its 5 s SYN-RECEIVED timeout.) The
        // handshake is smoltcp's: when every SYN-ACK is lost for those 5 s the server resets
        // it, and the client connects again, as a real one would.
        let up = pattern(128 * 1024, seed);
        let mut cid = pair.client.connect(Pair::server_addr()).unwrap();
        let (mut sent, mut got, mut sid) = (0, Vec::new(), None);
        let mut buf = vec![0u8; 8192];
        let ok = pair.run_until(Duration::from_secs(3600), |p| {
            while let Some(gone) = p.client.poll_gone() {
                if gone == cid && sent == 0 {
                    cid = p.client.connect(Pair::server_addr()).unwrap();
                }
            }
            if let Some((id, _)) = p.server.accept() {
                sid = Some(id);
            }
            if p.client.is_established(cid) && sent < up.len() {
                sent += p.client.send(cid, &up[sent..]).unwrap();
            }
            if let Some(sid) = sid {
                while let Ok(n @ 1..) = p.server.recv(sid, &mut buf) {
                    got.extend_from_slice(&buf[..n]);
                }
            }
            got.len() == up.len()
        });
        prop_assert!(ok && got == up, "client → server stream: {} of {} bytes", got.len(), up.len());
        let down = pattern(128 * 1024, seed + 1);
        let sid = sid.unwrap();
        let back = transfer(&mut pair, false, sid, cid, &down, Duration::from_secs(3600));
        prop_assert!(back == down, "server → client stream differs");
    }
}

#[test]
fn our_acks_report_every_hole_with_full_sack_blocks() {
    let (mut pair, cid, sid) = warmed_pair();
    // The client's congestion window opens, so the holes below fall in one flight.
    let warm = pattern(200_000, 6);
    transfer(&mut pair, true, cid, sid, &warm, Duration::from_secs(5));
    // The client's 2nd, 5th and 8th new segments are lost once: three holes at the server.
    let mut n = 0;
    let mut seen = std::collections::HashSet::new();
    *pair.client_rule.lock().unwrap() = Some(Box::new(move |packet| {
        let Some(tcp) = tcp_of(packet) else {
            return false;
        };
        if tcp.payload().is_empty() || !seen.insert(tcp.seq_number().0) {
            return false;
        }
        n += 1;
        matches!(n, 2 | 5 | 8)
    }));
    let most_blocks = Arc::new(Mutex::new(0));
    let most = most_blocks.clone();
    *pair.server_rule.lock().unwrap() = Some(Box::new(move |packet| {
        if let Some(segment) = stack::packet::Segment::parse(packet) {
            let mut most = most.lock().unwrap();
            *most = (*most).max(segment.sack_blocks().count());
        }
        false
    }));
    let data = pattern(30 * 1400, 5);
    let got = transfer(&mut pair, true, cid, sid, &data, Duration::from_secs(10));
    assert!(got == data);
    let most = *most_blocks.lock().unwrap();
    // smoltcp alone sends one block per ACK.
    assert!(most >= 3, "at most {most} SACK blocks in an ACK");
    assert!(pair.client.stats().port.recovery.sack_repairs >= 3);
}

/// Resends of every kind the layer made.
fn resends(r: &stack::recovery::RecoveryStats) -> u64 {
    r.sack_repairs + r.fast_retransmits + r.tail_probes + r.timeouts
}

/// `tunws --reorder 20` without `--delay`: the TUN's round trip is far below a millisecond
/// while a reordered packet is held back 2 ms ([`stack::middleware::impair::REORDER_HOLD`]),
/// exactly RACK's smallest reordering window. Nothing is lost, so every resend is spurious.
/// The first one comes back as a D-SACK (RFC 2883) and widens the window (RFC 8985 §6.2 step
/// 4); what was sent before that D-SACK returned is all it costs (at most 4 a direction
/// here, against 20–40 each way before the layer read D-SACKs).
#[test]
fn reordering_alone_at_a_sub_millisecond_rtt_resends_only_until_rack_learns_it() {
    for seed in [3, 11, 17, 29] {
        let reordered = NetConfig {
            reorder_percent: 20.0,
            loss_seed: seed,
            recovery: true,
            ..config(SERVER_IP)
        };
        let mut pair = Pair::new(reordered, client(true));
        pair.server.listen(PORT).unwrap();
        round_trip_transfer(&mut pair, 256 * 1024, seed);
        let s = pair.server.stats().port;
        let c = pair.client.stats().port;
        println!(
            "seed {seed}: {} held; server {:?}; client {:?}",
            s.impair.held, s.recovery, c.recovery
        );
        assert!(s.impair.held > 0, "the wire reordered packets");
        for (side, r) in [("server", s.recovery), ("client", c.recovery)] {
            assert!(
                resends(&r) <= 4,
                "seed {seed}: {} spurious resends by the {side}: {r:?}",
                resends(&r)
            );
        }
    }
}
