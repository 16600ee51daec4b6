//! Limits and leak accounting: the per-source connection cap and `Net::stats` returning to
//! its baseline after many connections come and go (deterministic, no root).

mod common;

use common::*;
use smoltcp::wire::{IpCidr, Ipv6Address, Ipv6Cidr};
use stack::{ConnId, Duration, NetConfig, NetStats};

const SERVER_V6: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const CLIENT_V6: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);

/// A config with an IPv6 address too, so the client has a second source address.
fn dual(ip: [u8; 4], v6: Ipv6Address) -> NetConfig {
    NetConfig {
        addr6: Some(IpCidr::Ipv6(Ipv6Cidr::new(v6, 64))),
        ..config(ip)
    }
}

/// Starts connects to `remote` and drives the pair for a second; returns (established, gone).
fn connect_many(
    pair: &mut Pair,
    remote: std::net::SocketAddr,
    n: usize,
) -> (Vec<ConnId>, Vec<ConnId>) {
    let ids: Vec<ConnId> = (0..n)
        .map(|_| pair.client.connect(remote).unwrap())
        .collect();
    let mut gone = Vec::new();
    pair.run_until(Duration::from_secs(1), |p| {
        while p.server.accept().is_some() {}
        while let Some(id) = p.client.poll_gone() {
            gone.push(id);
        }
        false
    });
    let established = ids
        .iter()
        .copied()
        .filter(|&id| pair.client.is_established(id))
        .collect();
    (established, gone)
}

#[test]
fn per_source_cap_refuses_the_extra_syn_with_rst_and_serves_other_sources() {
    let mut server_config = dual(SERVER_IP, SERVER_V6);
    server_config.max_per_source = 3;
    let mut pair = Pair::new(server_config, dual(CLIENT_IP, CLIENT_V6));
    pair.server.listen(PORT).unwrap();
    let baseline = pair.server.stats();

    let (v4, gone) = connect_many(&mut pair, Pair::server_addr(), 5);
    assert_eq!(v4.len(), 3, "three from 10.0.0.1 accepted");
    assert_eq!(gone.len(), 2, "the other two were refused at once");
    let s = pair.server.stats();
    assert_eq!((s.connections, s.sources, s.refused_per_source), (3, 1, 2));
    // Refused sockets went back to the pool: nothing is left half-open.
    assert_eq!((s.handshaking, s.draining), (0, 0));

    // Another address is not affected by 10.0.0.1's cap.
    let v6_server = std::net::SocketAddr::from((SERVER_V6, PORT));
    let (v6, gone) = connect_many(&mut pair, v6_server, 3);
    assert_eq!((v6.len(), gone.len()), (3, 0), "fd00::1 has its own three");
    assert_eq!(pair.server.stats().sources, 2);

    // Freeing one slot of 10.0.0.1 lets exactly one more in.
    pair.client.abort(v4[0]);
    pair.run_until(Duration::from_secs(1), |p| {
        p.client.poll_gone() == Some(v4[0])
    });
    pair.run_for(Duration::from_millis(10));
    assert_eq!(
        pair.server.stats().connections,
        5,
        "the RST freed the server's side"
    );
    let (more, _) = connect_many(&mut pair, Pair::server_addr(), 2);
    assert_eq!(more.len(), 1);
    assert_eq!(pair.server.stats().refused_per_source, 3);

    // Everything closed: the table and the per-source counts are back to the baseline.
    for id in v4[1..].iter().chain(&v6).chain(&more) {
        pair.client.abort(*id);
    }
    pair.run_for(Duration::from_secs(2));
    let s = pair.server.stats();
    assert_eq!((s.connections, s.sources), (0, 0));
    assert_eq!(s.listeners, baseline.listeners);
}

#[test]
fn zero_means_no_per_source_cap() {
    let mut server_config = config(SERVER_IP);
    server_config.max_per_source = 0;
    server_config.max_connections = 64;
    let mut pair = Pair::new(server_config, config(CLIENT_IP));
    pair.server.listen(PORT).unwrap();
    let (ok, gone) = connect_many(&mut pair, Pair::server_addr(), 40);
    assert_eq!((ok.len(), gone.len()), (40, 0));
    assert_eq!(pair.server.stats().refused_per_source, 0);
}

/// The gauges a leak would move.
fn gauges(s: &NetStats) -> [usize; 7] {
    [
        s.connections,
        s.established,
        s.handshaking,
        s.draining,
        s.sources,
        s.rx_buffered,
        s.tx_buffered,
    ]
}

#[test]
fn stats_return_to_baseline_after_hundreds_of_vanished_connections() {
    let mut server_config = config(SERVER_IP);
    server_config.max_connections = 32;
    let mut pair = Pair::new(server_config, config(CLIENT_IP));
    pair.server.listen(PORT).unwrap();
    let baseline = pair.server.stats();
    assert_eq!(gauges(&baseline), [0; 7]);
    assert_eq!(baseline.sockets, baseline.listeners);

    let mut accepted = 0;
    for round in 0..40 {
        // Ten peers connect, send a little, and vanish in different ways.
        let ids: Vec<ConnId> = (0..10)
            .map(|_| pair.client.connect(Pair::server_addr()).unwrap())
            .collect();
        pair.run_until(Duration::from_secs(1), |p| {
            while p.server.accept().is_some() {
                accepted += 1;
            }
            ids.iter().all(|&id| p.client.is_established(id))
        });
        for (i, &id) in ids.iter().enumerate() {
            match (round + i) % 3 {
                0 => pair.client.abort(id),
                1 => {
                    pair.client.send(id, b"GET / HTTP/1.1\r\n").unwrap();
                    pair.client.abort(id);
                }
                _ => {
                    pair.client
                        .send(id, b"bytes the server never reads")
                        .unwrap();
                    pair.client.close(id);
                }
            }
        }
        // The server application closes whatever its peer finished.
        pair.run_until(Duration::from_secs(2), |p| {
            while let Some(id) = p.server.poll_ready() {
                let mut sink = [0u8; 64];
                loop {
                    match p.server.recv(id, &mut sink) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(stack::RecvError::Closed) => {
                            p.server.close(id);
                            break;
                        }
                        Err(_) => break,
                    }
                }
            }
            while p.server.poll_gone().is_some() {}
            while p.client.poll_gone().is_some() {}
            p.server.stats().connections == 0 && p.client.stats().connections == 0
        });
    }
    assert_eq!(accepted, 400);
    pair.run_for(Duration::from_secs(5));
    let after = pair.server.stats();
    assert_eq!(gauges(&after), [0; 7], "{after:?}");
    assert_eq!(after.listeners, baseline.listeners);
    assert!(
        after.sockets <= baseline.sockets + after.free,
        "socket set grew: {baseline:?} -> {after:?}"
    );
    assert!(after.sockets <= 32, "cap respected: {after:?}");
}

#[test]
fn only_our_address_and_port_answer_a_syn_elsewhere_gets_rst_or_nothing() {
    let mut pair = Pair::listening();
    // Another port of our address: smoltcp answers the SYN with a RST, the connect fails.
    let other_port = pair.client.connect((SERVER_IP, PORT + 1).into()).unwrap();
    let refused = pair.run_until(Duration::from_secs(1), |p| {
        p.client.poll_gone() == Some(other_port)
    });
    assert!(refused, "SYN to another port was not refused");
    assert_eq!(pair.server.stats().port.tx_packets, 1, "exactly one RST");
    assert_eq!(pair.server.stats().connections, 0);

    // Another address on the link: not ours, so not answered at all (no RST, no ICMP).
    let before = pair.server.stats().port;
    let elsewhere = pair.client.connect(([10, 0, 0, 9], PORT).into()).unwrap();
    pair.run_for(Duration::from_secs(3));
    let after = pair.server.stats().port;
    assert!(
        after.rx_packets > before.rx_packets,
        "the SYNs reached the stack"
    );
    assert_eq!(after.tx_packets, before.tx_packets, "and got no answer");
    assert!(!pair.client.is_established(elsewhere));
}

#[test]
fn at_the_cap_a_syn_flood_gives_way_to_a_real_client_and_established_ones_stay() {
    let mut server_config = config(SERVER_IP);
    server_config.max_connections = 6;
    let mut pair = Pair::new(server_config, config(CLIENT_IP));
    pair.server.listen(PORT).unwrap();
    let (a, _) = connect(&mut pair);
    let (b, _) = connect(&mut pair);

    // The flood: peers whose handshakes never complete (their SYN-ACKs are lost), like
    // spoofed sources. They fill the free slots, the rest is refused while they are young.
    pair.flood(10);
    pair.run_for(Duration::from_millis(100));
    let s = pair.server.stats();
    assert_eq!(
        (s.connections, s.handshaking, s.listeners),
        (6, 4, 0),
        "{s:?}"
    );
    assert_eq!(
        s.evicted_half_open, 0,
        "young half-open connections are kept"
    );

    // Later, a real client gets in: the oldest half-open one makes room for it.
    pair.run_for(Duration::from_millis(200));
    let (real, _) = connect(&mut pair);
    let s = pair.server.stats();
    assert!(s.evicted_half_open >= 1, "{s:?}");
    assert!(s.connections <= 6, "cap held: {s:?}");
    for id in [a, b, real] {
        assert!(pair.client.is_established(id), "connection {id} lost");
    }
}

#[test]
fn bytes_of_a_reset_connection_nobody_read_are_not_counted_as_buffered() {
    let mut pair = Pair::listening();
    let ids: Vec<ConnId> = (0..12)
        .map(|_| pair.client.connect(Pair::server_addr()).unwrap())
        .collect();
    pair.run_until(Duration::from_secs(1), |p| {
        while p.server.accept().is_some() {}
        ids.iter().all(|&id| p.client.is_established(id))
    });
    for &id in &ids {
        assert_eq!(pair.client.send(id, &[7u8; 1000]).unwrap(), 1000);
    }
    pair.run_for(Duration::from_millis(50));
    assert_eq!(
        pair.server.stats().rx_buffered,
        12_000,
        "unread on the server"
    );
    // The peers vanish; the server application never reads, it releases each connection as
    // soon as it learns of the reset (as the server glue does), leaving the bytes unread.
    for &id in &ids {
        pair.client.abort(id);
    }
    pair.run_until(Duration::from_secs(1), |p| {
        while let Some(id) = p.server.poll_ready() {
            if p.server.send(id, b"").is_err() {
                p.server.abort(id);
            }
        }
        while p.server.poll_gone().is_some() {}
        p.server.stats().connections == 0
    });
    pair.run_for(Duration::from_millis(50));
    let s = pair.server.stats();
    assert!(s.free > 0, "some sockets wait in the free list: {s:?}");
    assert_eq!((s.rx_buffered, s.tx_buffered), (0, 0), "{s:?}");
}

#[test]
fn a_client_connecting_right_after_a_flood_fills_the_cap_is_not_refused_but_served_within_3_s() {
    let mut server_config = config(SERVER_IP);
    server_config.max_connections = 8;
    let mut pair = Pair::new(server_config, config(CLIENT_IP));
    pair.server.listen(PORT).unwrap();
    // The flood takes every socket; all of it is younger than the half-open grace.
    pair.flood(20);
    pair.run_for(Duration::from_millis(20));
    let s = pair.server.stats();
    assert_eq!((s.handshaking, s.listeners), (8, 0), "{s:?}");

    // A real client at once: its SYN finds no listener, and is dropped rather than refused
    // (a RST would fail its connect); its retransmission finds a socket the flood gave back.
    let start = pair.now;
    let real = pair.client.connect(Pair::server_addr()).unwrap();
    let mut refused = false;
    let ok = pair.run_until(Duration::from_secs(3), |p| {
        refused |= std::iter::from_fn(|| p.client.poll_gone()).any(|id| id == real);
        while p.server.accept().is_some() {}
        refused || p.client.is_established(real)
    });
    assert!(!refused, "the real client was refused");
    assert!(ok, "not established within 3 s");
    let s = pair.server.stats();
    assert!(s.dropped_syns >= 1, "{s:?}");
    assert!(s.evicted_half_open >= 1, "{s:?}");
    println!(
        "established {} ms after connect",
        (pair.now - start).total_millis()
    );
}
