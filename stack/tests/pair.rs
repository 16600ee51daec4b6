//! Deterministic no-root tests: two stacks back to back in memory on a simulated clock.

mod common;

use std::collections::HashSet;

use common::*;
use stack::{
    ConnId, ConnectError, Duration, ListenError, NetConfig, RecvError, SendError, TcpState,
    UnknownConn,
};

#[test]
fn three_way_handshake_then_accept() {
    let mut pair = Pair::listening();
    let spare = pair.server.stats().listeners;
    assert!(spare >= 8, "pool has {spare} listeners");
    let (cid, sid) = connect(&mut pair);
    assert_eq!(pair.server.state(sid), Some(TcpState::Established));
    assert_eq!(pair.client.state(cid), Some(TcpState::Established));
    assert_eq!(
        pair.server.remote_addr(sid).unwrap().ip().to_string(),
        "10.0.0.1"
    );
    // Exactly SYN, SYN-ACK, ACK crossed the wire.
    assert_eq!(pair.client.stats().port.tx_packets, 2);
    assert_eq!(pair.server.stats().port.tx_packets, 1);
    // The listener that took the SYN was replaced.
    assert_eq!(pair.server.stats().listeners, spare);
    assert_eq!(pair.server.stats().connections, 1);
    assert!(pair.server.accept().is_none());
}

#[test]
fn one_mebibyte_each_way_byte_exact() {
    let mut pair = Pair::listening();
    let (cid, sid) = connect(&mut pair);
    let up = pattern(1 << 20, 7);
    assert_eq!(
        transfer(&mut pair, true, cid, sid, &up, Duration::from_secs(30)),
        up
    );
    let down = pattern(1 << 20, 8);
    assert_eq!(
        transfer(&mut pair, false, sid, cid, &down, Duration::from_secs(30)),
        down
    );
}

#[test]
fn fin_close_reports_gone_and_pool_returns_to_baseline() {
    let mut pair = Pair::listening();
    let baseline = pair.server.stats();
    let (cid, sid) = connect(&mut pair);
    let data = pattern(5000, 3);
    assert_eq!(
        transfer(&mut pair, true, cid, sid, &data, Duration::from_secs(5)),
        data
    );

    // Client closes first: the server reads to the end, sees Closed, closes its side.
    pair.client.close(cid);
    let mut server_gone = false;
    let mut client_gone = false;
    let ok = pair.run_until(Duration::from_secs(5), |p| {
        let mut buf = [0u8; 64];
        if !server_gone {
            match p.server.recv(sid, &mut buf) {
                Err(RecvError::Closed) => p.server.close(sid),
                Ok(0) | Err(RecvError::Unknown) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        while let Some(id) = p.server.poll_gone() {
            assert_eq!(id, sid);
            server_gone = true;
        }
        while let Some(id) = p.client.poll_gone() {
            assert_eq!(id, cid);
            client_gone = true;
        }
        server_gone && client_gone
    });
    assert!(
        ok,
        "close did not finish (server gone {server_gone}, client gone {client_gone})"
    );
    // The loss-recovery layer forgot the connection on both sides: closed both ways, all
    // acknowledged.
    for side in [pair.server.stats(), pair.client.stats()] {
        let r = side.port.recovery;
        assert_eq!((r.connections, r.held_bytes), (0, 0), "{r:?}");
    }
    assert_eq!(
        pair.server.recv(sid, &mut [0u8; 1]),
        Err(RecvError::Unknown)
    );
    // The server was passive closer (LAST-ACK → CLOSED): its socket is back in the pool now.
    let after = pair.server.stats();
    assert_eq!(
        (after.listeners, after.connections, after.draining),
        (baseline.listeners, 0, 0)
    );
    // The client waits in TIME-WAIT, then its socket is recycled too.
    assert_eq!(pair.client.stats().draining, 1);
    pair.run_for(Duration::from_secs(11));
    let client = pair.client.stats();
    assert_eq!(
        (client.connections, client.draining, client.free),
        (0, 0, 1)
    );
    // A second connection reuses recycled sockets instead of growing the set.
    let sockets_before = pair.server.stats().listeners + pair.server.stats().free;
    let (cid2, sid2) = connect(&mut pair);
    assert_ne!(sid2, sid, "ids are never reused");
    assert_ne!(cid2, cid);
    let s = pair.server.stats();
    assert_eq!(
        s.listeners + s.free + s.connections,
        sockets_before,
        "no new socket allocated"
    );
}

#[test]
fn active_close_by_server_goes_through_time_wait() {
    let mut pair = Pair::listening();
    let (cid, sid) = connect(&mut pair);
    assert_eq!(pair.server.send(sid, b"bye").unwrap(), 3);
    pair.server.close(sid);
    let mut got = Vec::new();
    let ok = pair.run_until(Duration::from_secs(5), |p| {
        let mut buf = [0u8; 16];
        match p.client.recv(cid, &mut buf) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(RecvError::Closed) => p.client.close(cid),
            Err(e) => panic!("{e}"),
        }
        p.server.poll_gone() == Some(sid)
    });
    assert!(ok);
    assert_eq!(got, b"bye");
    assert_eq!(
        pair.server.stats().draining,
        1,
        "server socket waits in TIME-WAIT"
    );
    pair.run_for(Duration::from_secs(11));
    assert_eq!(pair.server.stats().draining, 0);
    assert_eq!(pair.server.stats().connections, 0);
}

#[test]
fn two_hundred_simultaneous_connects_all_accepted() {
    let client_config = small_config(CLIENT_IP);
    let server_config = small_config(SERVER_IP);
    let mut pair = Pair::new(server_config, client_config);
    pair.server.listen(PORT).unwrap();
    let ids: Vec<ConnId> = (0..200)
        .map(|_| pair.client.connect(Pair::server_addr()).unwrap())
        .collect();
    let mut accepted = HashSet::new();
    let ok = pair.run_until(Duration::from_secs(5), |p| {
        while let Some((id, _)) = p.server.accept() {
            assert!(accepted.insert(id));
        }
        assert!(p.client.poll_gone().is_none(), "a connect was refused");
        accepted.len() == 200 && ids.iter().all(|&id| p.client.is_established(id))
    });
    assert!(ok, "accepted {} of 200", accepted.len());
    // No retransmission was needed: 200 SYNs went out once (and 200 ACKs).
    assert_eq!(pair.client.stats().port.tx_packets, 400);
}

#[test]
fn connections_beyond_max_connections_get_rst() {
    let mut server_config = config(SERVER_IP);
    server_config.max_connections = 4;
    let mut pair = Pair::new(server_config, config(CLIENT_IP));
    pair.server.listen(PORT).unwrap();
    let ids: Vec<ConnId> = (0..6)
        .map(|_| pair.client.connect(Pair::server_addr()).unwrap())
        .collect();
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    pair.run_until(Duration::from_secs(3), |p| {
        while let Some((id, _)) = p.server.accept() {
            accepted.push(id);
        }
        while let Some(id) = p.client.poll_gone() {
            refused.push(id);
        }
        false
    });
    assert_eq!(accepted.len(), 4);
    assert_eq!(refused.len(), 2);
    assert_eq!(
        ids.iter()
            .filter(|&&id| pair.client.is_established(id))
            .count(),
        4
    );
    assert_eq!(pair.server.stats().listeners, 0);

    // Freeing one connection makes room for exactly one more.
    pair.server.abort(accepted[0]);
    let mut gone = false;
    pair.run_until(Duration::from_secs(1), |p| {
        gone |= p.server.poll_gone() == Some(accepted[0]);
        gone && p.server.stats().listeners == 1
    });
    assert!(gone);
    let late = pair.client.connect(Pair::server_addr()).unwrap();
    let ok = pair.run_until(Duration::from_secs(3), |p| {
        p.server.accept().is_some() && p.client.is_established(late)
    });
    assert!(ok, "connection after a slot freed up was not accepted");
}

#[test]
fn five_percent_loss_both_ways_transfer_intact() {
    let mut server_config = config(SERVER_IP);
    server_config.loss_percent = 5.0;
    server_config.loss_seed = 11;
    let mut client_config = config(CLIENT_IP);
    client_config.loss_percent = 5.0;
    client_config.loss_seed = 12;
    let mut pair = Pair::new(server_config, client_config);
    pair.server.listen(PORT).unwrap();
    let (cid, sid) = connect(&mut pair);
    let data = pattern(256 * 1024, 5);
    assert_eq!(
        transfer(&mut pair, true, cid, sid, &data, Duration::from_secs(600)),
        data
    );
    let back = pattern(256 * 1024, 6);
    assert_eq!(
        transfer(&mut pair, false, sid, cid, &back, Duration::from_secs(600)),
        back
    );
    assert!(pair.client.stats().port.dropped > 0 && pair.server.stats().port.dropped > 0);
}

#[test]
fn retransmitted_syn_caught_by_second_listener_is_removed() {
    // With a cap of 3 the pool is small, so a recycled socket in a lower slot becomes a
    // listener while a SYN-RECEIVED socket sits in a higher slot: smoltcp matches sockets in
    // slot order, so the retransmitted SYN goes to that listener.
    let mut server_config = config(SERVER_IP);
    server_config.max_connections = 3;
    let mut pair = Pair::new(server_config, config(CLIENT_IP));
    pair.server.listen(PORT).unwrap();
    let (a_client, a_server) = connect(&mut pair);

    // Lose the server's first SYN-ACK to the next connection.
    let mut armed = true;
    *pair.server_rule.lock().unwrap() = Some(Box::new(move |packet| {
        let hit = armed && tcp_of(packet).is_some_and(|t| t.syn() && t.ack());
        if hit {
            armed = false;
        }
        hit
    }));
    let c_client = pair.client.connect(Pair::server_addr()).unwrap();
    pair.run_for(Duration::from_millis(50));
    assert_eq!(
        pair.server.stats().connections,
        2,
        "A plus C in SYN-RECEIVED"
    );

    // Close A (client first) so its socket, in the lowest slot, listens again.
    pair.client.close(a_client);
    let ok = pair.run_until(Duration::from_millis(500), |p| {
        if p.server.recv(a_server, &mut [0u8; 8]) == Err(RecvError::Closed) {
            p.server.close(a_server);
        }
        p.server.poll_gone() == Some(a_server)
    });
    assert!(ok);
    assert_eq!(pair.server.stats().connections, 1);

    // The client retransmits its SYN after 1 s; C must come up exactly once.
    let mut accepted = Vec::new();
    let ok = pair.run_until(Duration::from_secs(5), |p| {
        while let Some((id, _)) = p.server.accept() {
            accepted.push(id);
        }
        p.client.is_established(c_client) && !accepted.is_empty()
    });
    assert!(ok, "C did not connect");
    pair.run_for(Duration::from_secs(3));
    while let Some((id, _)) = pair.server.accept() {
        accepted.push(id);
    }
    assert_eq!(accepted.len(), 1, "one accept for one connection");
    // Without the removal, the stale SYN-RECEIVED socket would linger as a second connection.
    assert_eq!(pair.server.stats().connections, 1);
    assert_eq!(
        pair.server.stats().duplicates,
        1,
        "the duplicate was detected"
    );
    // And it carries data both ways.
    let c_server = accepted[0];
    let data = pattern(10_000, 9);
    assert_eq!(
        transfer(
            &mut pair,
            true,
            c_client,
            c_server,
            &data,
            Duration::from_secs(5)
        ),
        data
    );
    assert_eq!(
        transfer(
            &mut pair,
            false,
            c_server,
            c_client,
            &data,
            Duration::from_secs(5)
        ),
        data
    );
}

#[test]
fn reset_by_peer_is_reported_after_unread_data() {
    let mut pair = Pair::listening();
    let (cid, sid) = connect(&mut pair);
    assert_eq!(pair.client.send(cid, b"abc"), Ok(3));
    assert!(
        pair.run_until(Duration::from_secs(1), |p| p.server.recv_queue(sid)
            == Ok(3))
    );
    pair.client.abort(cid);
    assert!(
        pair.run_until(Duration::from_secs(1), |p| p.server.state(sid)
            == Some(TcpState::Closed))
    );
    // Data that arrived before the RST is still delivered, then the reset.
    let mut buf = [0u8; 8];
    assert_eq!(pair.server.recv(sid, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"abc");
    assert_eq!(pair.server.recv(sid, &mut buf), Err(RecvError::Reset));
    assert_eq!(pair.server.send(sid, b"x"), Err(SendError::Reset));
    assert!(
        pair.run_until(Duration::from_secs(1), |p| p.server.poll_gone()
            == Some(sid))
    );
    assert_eq!(pair.server.stats().connections, 0);
}

#[test]
fn reset_without_pending_data_is_gone_at_once() {
    let mut pair = Pair::listening();
    let (cid, sid) = connect(&mut pair);
    pair.client.abort(cid);
    assert!(
        pair.run_until(Duration::from_secs(1), |p| p.server.poll_gone()
            == Some(sid))
    );
    assert_eq!(
        pair.server.recv(sid, &mut [0u8; 4]),
        Err(RecvError::Unknown)
    );
    assert_eq!(pair.client.poll_gone(), Some(cid));
    assert_eq!(pair.server.stats().connections, 0);
}

#[test]
fn unknown_ids_are_errors_not_panics() {
    let mut pair = Pair::listening();
    let bogus = ConnId(999);
    assert_eq!(
        pair.server.recv(bogus, &mut [0u8; 4]),
        Err(RecvError::Unknown)
    );
    assert_eq!(pair.server.send(bogus, b"x"), Err(SendError::Unknown));
    assert_eq!(pair.server.send_capacity(bogus), Err(UnknownConn));
    pair.server.close(bogus);
    pair.server.abort(bogus);
    assert_eq!(pair.server.listen(0), Err(ListenError::InvalidPort));
    assert_eq!(
        pair.client.connect(([10, 0, 0, 2], 0).into()),
        Err(ConnectError::Unaddressable)
    );
    let _ = NetConfig::default();
}

#[test]
fn data_received_by_a_second_poll_is_not_stranded() {
    // Loop shape of a loop of one's own: poll, application work, poll again to send, sleep
    // for poll_delay.
    let mut pair = Pair::listening();
    let (cid, sid) = connect(&mut pair);
    pair.run_for(Duration::from_millis(100));
    let now = pair.now;
    while pair.server.poll_ready().is_some() {}
    assert!(!pair.server.poll(now), "quiet before the test");
    pair.client.send(cid, b"late").unwrap();
    pair.client.poll(now);
    // The application's second poll of the turn picks the data up …
    assert!(pair.server.poll(now));
    // … so the loop must not sleep: the connection waits in the ready list.
    assert_eq!(pair.server.poll_delay(now), Some(Duration::ZERO));
    assert_eq!(pair.server.poll_ready(), Some(sid));
    let mut buf = [0u8; 8];
    assert_eq!(pair.server.recv(sid, &mut buf), Ok(4));
}

#[test]
fn time_wait_sockets_make_room_when_the_cap_is_reached() {
    let mut server_config = config(SERVER_IP);
    server_config.max_connections = 4;
    let mut pair = Pair::new(server_config, config(CLIENT_IP));
    pair.server.listen(PORT).unwrap();
    // Four connections, each closed by the server first: four server sockets in TIME-WAIT.
    for _ in 0..4 {
        let (cid, sid) = connect(&mut pair);
        pair.server.close(sid);
        let (mut server_gone, mut client_gone) = (false, false);
        let ok = pair.run_until(Duration::from_secs(1), |p| {
            if p.client.recv(cid, &mut [0u8; 4]) == Err(RecvError::Closed) {
                p.client.close(cid);
            }
            server_gone |= p.server.poll_gone() == Some(sid);
            client_gone |= p.client.poll_gone() == Some(cid);
            server_gone && client_gone
        });
        assert!(ok);
    }
    let stats = pair.server.stats();
    assert_eq!(stats.connections, 0);
    assert!(
        stats.draining + stats.listeners + stats.free <= 4,
        "{stats:?}"
    );
    // Well within the 10 s TIME-WAIT, four new connections are still all accepted.
    let ids: Vec<ConnId> = (0..4)
        .map(|_| pair.client.connect(Pair::server_addr()).unwrap())
        .collect();
    let mut accepted = 0;
    let ok = pair.run_until(Duration::from_millis(500), |p| {
        while p.server.accept().is_some() {
            accepted += 1;
        }
        assert!(p.client.poll_gone().is_none(), "a connect was refused");
        accepted == 4 && ids.iter().all(|&id| p.client.is_established(id))
    });
    assert!(ok, "accepted {accepted} of 4");
    assert!(pair.now < stack::Instant::from_secs(10));
}

#[test]
fn pcap_holds_every_packet_in_and_out_starting_with_the_handshake() {
    let path = std::env::temp_dir().join(format!("tw-stack-pcap-{}.pcap", std::process::id()));
    let mut server_config = config(SERVER_IP);
    server_config.pcap = Some(path.clone());
    let mut pair = Pair::new(server_config, config(CLIENT_IP));
    pair.server.listen(PORT).unwrap();
    let (cid, sid) = connect(&mut pair);
    let data = pattern(20_000, 4);
    assert_eq!(
        transfer(&mut pair, true, cid, sid, &data, Duration::from_secs(5)),
        data
    );
    let stats = pair.server.stats().port;
    drop(pair); // flushes the capture
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();

    assert_eq!(&bytes[0..4], &0xa1b2_c3d4u32.to_le_bytes());
    assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 101);
    let mut records = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        records.push(&bytes[at + 16..at + 16 + caplen]);
        at += 16 + caplen;
    }
    assert_eq!(
        at,
        bytes.len(),
        "records end exactly at the end of the file"
    );
    assert_eq!(records.len() as u64, stats.rx_packets + stats.tx_packets);
    let flags: Vec<(bool, bool)> = records[..3]
        .iter()
        .map(|r| {
            let tcp = tcp_of(r).expect("TCP");
            (tcp.syn(), tcp.ack())
        })
        .collect();
    assert_eq!(
        flags,
        [(true, false), (true, true), (false, true)],
        "SYN, SYN-ACK, ACK"
    );
}

#[test]
fn poll_ready_names_only_connections_with_news() {
    let mut pair = Pair::listening();
    let mut conns = Vec::new();
    for _ in 0..50 {
        conns.push(connect(&mut pair));
    }
    pair.run_for(Duration::from_millis(100));
    // Every accepted connection is ready once, then nothing is.
    let mut initial = HashSet::new();
    while let Some(id) = pair.server.poll_ready() {
        initial.insert(id);
    }
    assert_eq!(initial.len(), 50);
    pair.run_for(Duration::from_millis(100));
    assert_eq!(pair.server.poll_ready(), None);

    for &(cid, _) in [conns[3], conns[17], conns[42]].iter() {
        pair.client.send(cid, b"news").unwrap();
    }
    pair.run_for(Duration::from_millis(100));
    let mut ready = Vec::new();
    while let Some(id) = pair.server.poll_ready() {
        ready.push(id);
    }
    ready.sort();
    assert_eq!(ready, vec![conns[3].1, conns[17].1, conns[42].1]);
}

#[test]
fn a_timeout_without_any_packet_is_still_reported_gone() {
    let mut pair = Pair::listening();
    // The server's answers are all lost: the client's SYN-SENT can only time out.
    *pair.server_rule.lock().unwrap() = Some(Box::new(|_| true));
    let cid = pair.client.connect(Pair::server_addr()).unwrap();
    let mut gone_at = None;
    pair.run_until(Duration::from_secs(90), |p| {
        if p.client.poll_gone() == Some(cid) {
            gone_at = Some(p.now);
        }
        gone_at.is_some()
    });
    let gone_at = gone_at.expect("the timed-out connect was never reported");
    let timeout = stack::net::SOCKET_TIMEOUT;
    assert!(
        gone_at >= stack::Instant::ZERO + timeout,
        "gone at {gone_at}"
    );
    assert!(
        gone_at < stack::Instant::ZERO + timeout + Duration::from_secs(2),
        "gone at {gone_at}"
    );
}

/// Sharded stack: `max_connections` holds across shards, connections spread over them, and
/// when the listeners the cap still allows sit in other shards, a SYN is not refused.
#[test]
fn the_cap_holds_across_shards_and_connections_spread() {
    let mut server_config = small_config(SERVER_IP);
    server_config.max_connections = 256;
    let client_config = small_config(CLIENT_IP);
    let mut pair = Pair::new(server_config, client_config);
    pair.server.listen(PORT).unwrap();
    assert_eq!(pair.server.shard_load().shards, 4);
    let ids: Vec<ConnId> = (0..262)
        .map(|_| pair.client.connect(Pair::server_addr()).unwrap())
        .collect();
    let mut accepted = Vec::new();
    let mut refused = 0;
    pair.run_until(Duration::from_secs(3), |p| {
        while let Some((id, _)) = p.server.accept() {
            accepted.push(id);
        }
        while p.client.poll_gone().is_some() {
            refused += 1;
        }
        false
    });
    assert_eq!(
        (accepted.len(), refused),
        (256, 6),
        "exactly the cap accepted"
    );
    let stats = pair.server.stats();
    assert_eq!((stats.connections, stats.listeners), (256, 0));
    // Four shards of ~64: a shard scan is a fraction of the table's (every shard used).
    let load = pair.server.shard_load();
    assert!(load.largest < 100, "{load:?}");
    let established = ids.iter().filter(|&&id| pair.client.is_established(id));
    assert_eq!(established.count(), 256);

    // Free several slots, all in whichever shards: as many new connections get in, wherever
    // they hash.
    for &id in &accepted[..8] {
        pair.server.abort(id);
    }
    let (mut server_gone, mut client_gone) = (0, 0);
    pair.run_until(Duration::from_secs(1), |p| {
        while p.server.poll_gone().is_some() {
            server_gone += 1;
        }
        while p.client.poll_gone().is_some() {
            client_gone += 1;
        }
        server_gone == 8 && client_gone == 8
    });
    assert_eq!(
        (server_gone, client_gone),
        (8, 8),
        "the aborts reached both sides"
    );
    let late: Vec<ConnId> = (0..8)
        .map(|_| pair.client.connect(Pair::server_addr()).unwrap())
        .collect();
    let mut accepted_late = 0;
    let ok = pair.run_until(Duration::from_secs(3), |p| {
        while p.server.accept().is_some() {
            accepted_late += 1;
        }
        assert!(
            p.client.poll_gone().is_none(),
            "a connect was refused below the cap"
        );
        accepted_late == 8 && late.iter().all(|&id| p.client.is_established(id))
    });
    assert!(ok, "accepted {accepted_late} of 8 after freeing 8 slots");
    assert_eq!(pair.server.stats().connections, 256);
}

/// Data and close work on every shard, and an idle sharded stack asks for no wake-ups.
#[test]
fn sharded_connections_carry_data_and_idle_needs_no_polling() {
    let mut pair = Pair::listening();
    assert_eq!(pair.server.shard_load().shards, 16);
    let conns: Vec<(ConnId, ConnId)> = (0..40).map(|_| connect(&mut pair)).collect();
    for (i, &(cid, sid)) in conns.iter().enumerate() {
        let data = pattern(3000 + i, i as u64);
        assert_eq!(
            transfer(&mut pair, true, cid, sid, &data, Duration::from_secs(5)),
            data
        );
    }
    // Delayed ACKs and the like settle; then nothing is due until a packet arrives.
    pair.run_for(Duration::from_millis(500));
    while pair.server.poll_ready().is_some() {}
    pair.server.poll(pair.now);
    while pair.server.poll_ready().is_some() {}
    // Only the 60 s socket timeouts remain: no busy loop, no short wake-ups.
    let delay = pair.server.poll_delay(pair.now);
    assert!(
        delay.is_none_or(|d| d > Duration::from_secs(50)),
        "idle server wakes after {delay:?}"
    );
}

/// With several shards, the half-open connection evicted at the cap may sit in another shard
/// than the real client's SYN: its socket moves over and the client gets in.
#[test]
fn at_the_cap_an_evicted_half_open_socket_serves_a_syn_of_another_shard() {
    let mut server_config = small_config(SERVER_IP);
    server_config.max_connections = 128;
    server_config.max_per_source = 0;
    let client_config = small_config(CLIENT_IP);
    let mut pair = Pair::new(server_config, client_config);
    pair.server.listen(PORT).unwrap();
    assert_eq!(pair.server.shard_load().shards, 2);
    let real: Vec<ConnId> = (0..124).map(|_| connect(&mut pair).0).collect();

    // Four flood connections whose SYN-ACKs are lost fill the cap.
    pair.flood(4);
    pair.run_for(Duration::from_millis(100));
    let s = pair.server.stats();
    assert_eq!(
        (s.connections, s.handshaking, s.listeners),
        (128, 4, 0),
        "{s:?}"
    );
    pair.run_for(Duration::from_millis(200));

    // Real clients, whichever shard they hash to, each get an evicted socket.
    for _ in 0..3 {
        connect(&mut pair);
    }
    let s = pair.server.stats();
    assert!(s.evicted_half_open >= 3, "{s:?}");
    assert!(s.connections <= 128, "cap held: {s:?}");
    assert!(real.iter().all(|&id| pair.client.is_established(id)));
}

/// `Net::wake` is the role's way onto the one ready list: a woken connection comes out of
/// `poll_ready` once however often it was woken, and an id the table does not hold is ignored.
#[test]
fn woken_connections_come_out_of_poll_ready_once() {
    let mut pair = Pair::listening();
    let (_cid, sid) = connect(&mut pair);
    while pair.server.poll_ready().is_some() {}
    assert!(!pair.server.has_ready());
    pair.server.wake(sid);
    pair.server.wake(sid);
    pair.server.wake(ConnId(u64::MAX));
    assert!(pair.server.has_ready());
    assert_eq!(pair.server.poll_ready(), Some(sid));
    assert_eq!(pair.server.poll_ready(), None);
    assert!(!pair.server.has_ready());
}

/// `Net::send` takes every byte that fits, also when the send ring's free space wraps around
/// its end (smoltcp's `send` fills one contiguous run; a frame cut there used to wait for the
/// peer's next ACK).
#[test]
fn send_fills_the_ring_across_its_wrap() {
    let server = NetConfig {
        tx_buffer: 16384,
        ..config(SERVER_IP)
    };
    let client = NetConfig {
        rx_buffer: 6000,
        ..config(CLIENT_IP)
    };
    let mut pair = Pair::new(server, client);
    pair.server.listen(PORT).unwrap();
    let (cid, sid) = connect(&mut pair);
    let data = pattern(30_000, 11);
    let first = pair.server.send(sid, &data[..12_000]).unwrap();
    assert_eq!(first, 12_000);
    // The client does not read: its window fills, it acknowledges what it holds, and the
    // server's ring keeps the rest, ending 12,000 bytes into the ring.
    pair.run_for(Duration::from_secs(1));
    let queued = pair.server.send_queue(sid).unwrap();
    assert!(queued > 0 && queued < 12_000, "{queued} bytes queued");
    let room = pair.server.send_capacity(sid).unwrap();
    assert_eq!(room, 16384 - queued);
    assert!(room > 16384 - 12_000, "the free space wraps");
    let second = pair.server.send(sid, &data[first..]).unwrap();
    assert_eq!(second, room, "everything that fits is taken");
    let total = first + second;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    let ok = pair.run_until(Duration::from_secs(10), |p| {
        while let Ok(n @ 1..) = p.client.recv(cid, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got.len() == total
    });
    assert!(ok, "{} of {total} bytes arrived", got.len());
    assert_eq!(got, &data[..total]);
}
