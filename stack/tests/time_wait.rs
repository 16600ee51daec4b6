//! TIME-WAIT sockets wait outside smoltcp's per-poll walk (`stack/src/time_wait.rs`) and
//! still do what RFC 9293 keeps TIME-WAIT for: a peer whose FIN lost its ACK retransmits it
//! and is answered with an ACK, not a RST.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use stack::{Duration, RecvError};

/// What the server sent, by kind, while a rule watched it.
#[derive(Default, Debug)]
struct Seen {
    /// Pure ACKs (no payload, no SYN/FIN/RST).
    acks: usize,
    resets: usize,
    /// Pure ACKs the wire lost on purpose.
    dropped: usize,
}

#[test]
fn a_retransmitted_fin_is_acknowledged_from_outside_the_walk() {
    // A cap of 64 connections: one shard, so `shard_load().largest` is its whole set.
    let mut server_config = config(SERVER_IP);
    server_config.max_connections = 64;
    let mut pair = Pair::new(server_config, config(CLIENT_IP));
    pair.server.listen(PORT).unwrap();
    assert_eq!(pair.server.shard_load().shards, 1);
    let (cid, sid) = connect(&mut pair);
    // The server closes first (as tunws does after the WebSocket close handshake), so its
    // socket is the one that ends in TIME-WAIT.
    pair.server.close(sid);
    let ok = pair.run_until(Duration::from_secs(2), |p| {
        p.client.recv(cid, &mut [0u8; 8]) == Err(RecvError::Closed)
    });
    assert!(ok, "the client saw the server's FIN");

    // From now on the wire loses the server's first pure ACK: the one for the client's FIN.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let watch = seen.clone();
    *pair.server_rule.lock().unwrap() = Some(Box::new(move |packet| {
        let Some(tcp) = tcp_of(packet) else {
            return false;
        };
        let mut seen = watch.lock().unwrap();
        if tcp.rst() {
            seen.resets += 1;
        }
        let pure_ack = tcp.ack() && !tcp.syn() && !tcp.fin() && !tcp.rst();
        if pure_ack && tcp.payload().is_empty() {
            if seen.dropped == 0 {
                seen.dropped += 1;
                return true;
            }
            seen.acks += 1;
        }
        false
    }));
    pair.client.close(cid);
    let ok = pair.run_until(Duration::from_secs(1), |p| {
        p.server.poll_gone() == Some(sid)
    });
    assert!(ok, "the server's connection ended");
    let stats = pair.server.stats();
    assert_eq!(stats.draining, 1, "the server's socket waits in TIME-WAIT");
    assert_eq!(
        stats.sockets,
        pair.server.shard_load().largest + 1,
        "the TIME-WAIT socket is not in the set smoltcp walks: {stats:?}"
    );

    // The client's FIN goes unanswered, so it retransmits it (smoltcp: after its 1 s RTO);
    // the TIME-WAIT socket answers with an ACK and the client's connection ends cleanly.
    let ok = pair.run_until(Duration::from_secs(5), |p| {
        p.client.poll_gone() == Some(cid)
    });
    assert!(ok, "the client's LAST-ACK ended");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.dropped, 1, "{seen:?}");
    assert!(
        seen.acks >= 1,
        "the retransmitted FIN was acknowledged: {seen:?}"
    );
    assert_eq!(seen.resets, 0, "no RST for the retransmitted FIN: {seen:?}");

    // The wait ends by the clock (10 s, smoltcp's delay) and the socket goes back to the pool.
    pair.run_for(Duration::from_secs(11));
    let stats = pair.server.stats();
    assert_eq!(stats.draining, 0, "{stats:?}");
    assert_eq!(stats.sockets, pair.server.shard_load().largest, "{stats:?}");
}
