//! Two `Net`s wired back to back in memory on a simulated clock (the `Pair` harness).

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::io;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};

use smoltcp::wire::{IpCidr, Ipv4Address, Ipv4Cidr, Ipv4Packet, TcpPacket};
use stack::device::Link;
use stack::device::memory::{self, MemoryLink};
use stack::{ConnId, Duration, Instant, Net, NetConfig};

pub const SERVER_IP: [u8; 4] = [10, 0, 0, 2];
pub const CLIENT_IP: [u8; 4] = [10, 0, 0, 1];
pub const PORT: u16 = 8080;
pub const MTU: usize = 1500;

/// Decides per outgoing packet whether the wire loses it.
pub type DropRule = Box<dyn FnMut(&[u8]) -> bool + Send>;

/// A memory link whose sends pass through a test-controlled rule.
pub struct Filtered {
    inner: MemoryLink,
    rule: Arc<Mutex<Option<DropRule>>>,
}

impl Link for Filtered {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.inner.recv(buf)
    }
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        if let Some(rule) = self.rule.lock().unwrap().as_mut() {
            if rule(packet) {
                return Ok(());
            }
        }
        self.inner.send(packet)
    }
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn fd(&self) -> Option<RawFd> {
        None
    }
}

pub fn config(ip: [u8; 4]) -> NetConfig {
    NetConfig {
        addr: IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::from(ip), 24)),
        ..NetConfig::default()
    }
}

/// `config(ip)` with 4 KiB socket buffers, for tests that open hundreds of connections.
pub fn small_config(ip: [u8; 4]) -> NetConfig {
    NetConfig {
        rx_buffer: 4096,
        tx_buffer: 4096,
        ..config(ip)
    }
}

pub struct Pair {
    pub server: Net,
    pub client: Net,
    pub now: Instant,
    /// Rule applied to packets the server sends.
    pub server_rule: Arc<Mutex<Option<DropRule>>>,
    /// Rule applied to packets the client sends.
    pub client_rule: Arc<Mutex<Option<DropRule>>>,
}

impl Pair {
    pub fn new(server_config: NetConfig, client_config: NetConfig) -> Pair {
        let (a, b) = memory::pair(MTU);
        let now = Instant::ZERO;
        let server_rule = Arc::new(Mutex::new(None));
        let server_link = Filtered {
            inner: a,
            rule: server_rule.clone(),
        };
        let client_rule = Arc::new(Mutex::new(None));
        let client_link = Filtered {
            inner: b,
            rule: client_rule.clone(),
        };
        let server = Net::with_link_seeded(Box::new(server_link), &server_config, now, 1).unwrap();
        let client = Net::with_link_seeded(Box::new(client_link), &client_config, now, 2).unwrap();
        Pair {
            server,
            client,
            now,
            server_rule,
            client_rule,
        }
    }

    /// Server listening on `PORT`, both sides default configuration.
    pub fn listening() -> Pair {
        let mut pair = Pair::new(config(SERVER_IP), config(CLIENT_IP));
        pair.server.listen(PORT).unwrap();
        pair
    }

    pub fn server_addr() -> std::net::SocketAddr {
        (SERVER_IP, PORT).into()
    }

    /// Opens `count` client connections whose server SYN-ACKs the wire loses, like peers with
    /// spoofed sources: they stay half-open on the server until it gives up on them. As from
    /// a spoofing flooder, each sends its SYN once (the wire loses its retransmissions).
    pub fn flood(&mut self, count: usize) {
        let ports = Arc::new(Mutex::new(std::collections::HashSet::new()));
        let lost = ports.clone();
        *self.server_rule.lock().unwrap() = Some(Box::new(move |packet| {
            tcp_of(packet).is_some_and(|t| lost.lock().unwrap().contains(&t.dst_port()))
        }));
        let flooders = ports.clone();
        let mut sent = std::collections::HashSet::new();
        *self.client_rule.lock().unwrap() = Some(Box::new(move |packet| {
            tcp_of(packet).is_some_and(|t| {
                flooders.lock().unwrap().contains(&t.src_port()) && !sent.insert(t.src_port())
            })
        }));
        for _ in 0..count {
            let id = self.client.connect(Pair::server_addr()).unwrap();
            let port = self.client.conn_local_addr(id).unwrap().port();
            ports.lock().unwrap().insert(port);
        }
    }

    /// Drives both stacks on simulated time until `done` returns true (true) or `limit` of
    /// simulated time passes (false). `done` is the applications' step: it may read, write,
    /// accept and close. Time jumps straight to the next timer when nothing moves.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        let deadline = self.now + limit;
        loop {
            let mut active = true;
            while active {
                active = self.client.poll(self.now);
                active |= self.server.poll(self.now);
                if done(self) {
                    return true;
                }
            }
            if self.now >= deadline {
                return false;
            }
            let delays = [
                self.client.poll_delay(self.now),
                self.server.poll_delay(self.now),
            ];
            let step = delays
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(Duration::from_millis(100));
            // Applications may leave work queued (poll_delay 0); time must still move, but
            // never past the deadline, so `run_for` stops exactly where it was asked to.
            self.now += step
                .max(Duration::from_micros(100))
                .min(deadline - self.now);
        }
    }

    /// Runs for `span` of simulated time without a goal.
    pub fn run_for(&mut self, span: Duration) {
        let end = self.now + span;
        self.run_until(span, |p| p.now >= end);
    }
}

/// The TCP header of an IPv4 packet, if it is TCP.
pub fn tcp_of(packet: &[u8]) -> Option<TcpPacket<&[u8]>> {
    let ip = Ipv4Packet::new_checked(packet).ok()?;
    let header_len = usize::from(ip.header_len());
    let total = usize::from(ip.total_len());
    TcpPacket::new_checked(packet.get(header_len..total)?).ok()
}

/// Deterministic test data.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Connects once and returns (client id, server id) after the handshake.
pub fn connect(pair: &mut Pair) -> (ConnId, ConnId) {
    let cid = pair.client.connect(Pair::server_addr()).unwrap();
    let mut sid = None;
    let ok = pair.run_until(Duration::from_secs(5), |p| {
        if let Some((id, peer)) = p.server.accept() {
            assert_eq!(Some(peer), p.client.conn_local_addr(cid));
            sid = Some(id);
        }
        sid.is_some() && p.client.is_established(cid)
    });
    assert!(ok, "handshake did not complete");
    (cid, sid.unwrap())
}

/// Moves `data` from `src` (on the client when `from_client`) to `dst` through the pair,
/// returning what arrived.
pub fn transfer(
    pair: &mut Pair,
    from_client: bool,
    src: ConnId,
    dst: ConnId,
    data: &[u8],
    limit: Duration,
) -> Vec<u8> {
    let mut sent = 0;
    let mut got = Vec::with_capacity(data.len());
    let mut buf = vec![0u8; 8192];
    let ok = pair.run_until(limit, |p| {
        let (tx, rx): (&mut Net, &mut Net) = if from_client {
            (&mut p.client, &mut p.server)
        } else {
            (&mut p.server, &mut p.client)
        };
        if sent < data.len() {
            sent += tx.send(src, &data[sent..]).unwrap();
        }
        loop {
            match rx.recv(dst, &mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("recv failed: {e}"),
            }
        }
        got.len() == data.len()
    });
    assert!(
        ok,
        "transfer stalled at {} of {} bytes ({sent} queued)",
        got.len(),
        data.len()
    );
    got
}
