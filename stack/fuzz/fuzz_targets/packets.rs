//! The stack's packet path: arbitrary IP packets into a `Net` (in-memory link, simulated
//! clock) listening on 8080 with the real server glue on top (a page, `/echo`, `/stats`).
//!
//! The input is a list of records (first byte of each picks the kind):
//! - TCP segment (kinds 0–2): peer, flags, sequence mode, payload. "Auto" sequence and ACK
//!   numbers follow what the stack sent to that peer, so the fuzzer completes handshakes and
//!   reaches HTTP and WebSocket; explicit numbers reach the out-of-window paths. Checksums are
//!   right, so smoltcp looks past them.
//! - raw IP packet (kind 3): any bytes, any length up to the MTU (bad checksums, garbage
//!   headers, IPv6, ICMP, other protocols).
//! - time (kinds 4, 5): milliseconds or seconds pass (handshake timeout, keepalive, RTO).
//! - a plain loop turn (kinds 6, 7).
//!
//! An input whose first byte is 0xA5 also runs the impairment stage (loss, reorder,
//! duplicate, delay, jitter) on the wire side of the stack.
//!
//! A `/trace` viewer (scope all, no socket of its own) watches throughout, so every packet in
//! and out also goes through the trace decoders (TCP, HTTP heads, WebSocket frames).
//!
//! Checked: no panic anywhere; never more connections than the cap; and after five quiet
//! minutes every connection is gone from the stack, the per-source table and the server
//! (timeouts reclaim whatever the input left half-open, mid-request or mid-frame).
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use smoltcp::wire::{
    IpAddress, IpCidr, Ipv4Address, Ipv4Cidr, Ipv6Address, Ipv6Cidr, TcpControl, TcpRepr,
    TcpSeqNumber,
};
use stack::device::Link;
use stack::device::memory::{self, MemoryLink};
use stack::packet::{Segment, emit_tcp};
use stack::server::{App, Outbox, Page, Server, ServerConfig};
use stack::watch::{Scope, Tap, app::TraceApp};
use stack::{ConnId, Duration, Instant, Net, NetConfig};
use ws::MessageKind;

const MTU: usize = 1500;
const PORT: u16 = 8080;
const MAX_CONNECTIONS: usize = 12;
const MAX_PER_SOURCE: usize = 6;
/// The trace viewer that watches every run (it has no socket; its events are drained).
const VIEWER: ConnId = ConnId(u64::MAX);
const STACK_V4: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const STACK_V6: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
/// Peer addresses: two on the IPv4 prefix, one IPv6, one off-link IPv4.
const PEERS: [IpAddress; 4] = [
    IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 1)),
    IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 3)),
    IpAddress::Ipv6(Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
    IpAddress::Ipv4(Ipv4Address::new(192, 0, 2, 7)),
];
/// Canned payloads that get the fuzzer to the interesting parts quickly.
const CANNED: [&[u8]; 3] = [
    b"GET /echo HTTP/1.1\r\nHost: 10.0.0.2\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
      Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"GET /stats HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n",
];

/// Echoes every message.
struct Echo;

impl App for Echo {
    fn on_message(&mut self, out: &mut Outbox<'_>, client: ConnId, kind: MessageKind, data: &[u8]) {
        let _ = out.send(client, kind, data);
    }
}

/// What the stack last told one peer endpoint: its next sequence number and its ACK.
#[derive(Default, Clone, Copy)]
struct PeerState {
    /// The stack's next sequence number (what the peer should ACK).
    stack_next: Option<u32>,
    /// The sequence number the stack expects from the peer.
    peer_next: Option<u32>,
}

struct Harness {
    tap: Tap,
    net: Net,
    server: Server,
    wire: MemoryLink,
    now: Instant,
    peers: HashMap<(IpAddress, u16), PeerState>,
    packet: Vec<u8>,
}

/// Reads input bytes front to back; missing bytes read as zero.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

impl Harness {
    fn new(impaired: bool) -> Harness {
        let (stack_end, wire) = memory::pair(MTU);
        let tap = Tap::new(Scope::All);
        let nobody = std::net::SocketAddr::from(([192, 0, 2, 200], 1));
        tap.subscribe(VIEWER, nobody, None).expect("subscribe");
        let mut config = NetConfig {
            watch: Some(tap.clone()),
            addr: IpCidr::Ipv4(Ipv4Cidr::new(STACK_V4, 24)),
            addr6: Some(IpCidr::Ipv6(Ipv6Cidr::new(STACK_V6, 64))),
            max_connections: MAX_CONNECTIONS,
            max_per_source: MAX_PER_SOURCE,
            rx_buffer: 4096,
            tx_buffer: 4096,
            ..NetConfig::default()
        };
        if impaired {
            config.loss_percent = 5.0;
            config.reorder_percent = 10.0;
            config.duplicate_percent = 10.0;
            config.delay = Duration::from_millis(3);
            config.jitter = Duration::from_millis(2);
        }
        let mut net = Net::with_link_seeded(Box::new(stack_end), &config, Instant::ZERO, 7)
            .expect("in-memory stack");
        net.listen(PORT).expect("listen");
        let mut server = Server::new(ServerConfig {
            max_message: 4096,
            stats: true,
            ..ServerConfig::default()
        });
        server.page(Page {
            path: "/".into(),
            content_type: "text/html",
            body: b"<p>hi</p>",
        });
        server.route("/echo", Box::new(Echo));
        server.route("/trace", Box::new(TraceApp::new(tap.clone())));
        Harness {
            tap,
            net,
            server,
            wire,
            now: Instant::ZERO,
            peers: HashMap::new(),
            packet: vec![0; MTU],
        }
    }

    /// One loop turn as `stack::server::run` does it, then the stack's output is read off
    /// the wire to learn sequence numbers.
    fn turn(&mut self) {
        self.net.poll(self.now);
        self.server.handle(&mut self.net, self.now);
        self.net.poll(self.now);
        while let Ok(Some(len)) = self.wire.recv(&mut self.packet) {
            note_output(&mut self.peers, &self.packet[..len]);
        }
        while self.tap.take_batch(VIEWER, 16 * 1024).is_some() {}
        assert!(self.net.stats().connections <= MAX_CONNECTIONS);
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.turn();
    }

    fn segment(&mut self, input: &mut Input<'_>) {
        let who = input.byte();
        let flags = input.byte();
        let mode = input.byte();
        let peer = PEERS[usize::from(who % 4)];
        let port = 40000 + u16::from(who >> 2);
        let state = self.peers.get(&(peer, port)).copied().unwrap_or_default();
        let seq = if mode & 1 == 0 {
            state.peer_next.unwrap_or(1000 + u32::from(who))
        } else {
            input.u32()
        };
        let ack = if mode & 2 == 0 {
            state.stack_next.unwrap_or(0)
        } else {
            input.u32()
        };
        let dst_port = if mode & 4 == 0 { PORT } else { PORT + 1 };
        let window = match (mode >> 3) & 3 {
            0 => 65535,
            1 => 0,
            2 => 1,
            _ => input.u16(),
        };
        let payload: &[u8] = match (mode >> 5) & 3 {
            0 => {
                let len = usize::from(input.byte());
                input.take(len)
            }
            canned => CANNED[usize::from(canned - 1)],
        };
        let control = match flags & 0x07 {
            0 => TcpControl::None,
            1 => TcpControl::Fin,
            2 => TcpControl::Syn,
            4 => TcpControl::Rst,
            _ if flags & 0x08 != 0 => TcpControl::Psh,
            _ => TcpControl::None,
        };
        let tcp = TcpRepr {
            src_port: port,
            dst_port,
            control,
            seq_number: TcpSeqNumber(seq as i32),
            ack_number: (flags & 0x10 != 0).then_some(TcpSeqNumber(ack as i32)),
            window_len: window,
            window_scale: (flags & 0x20 != 0).then_some(flags >> 6),
            max_seg_size: (flags & 0x40 != 0).then_some(536),
            sack_permitted: flags & 0x80 != 0,
            sack_ranges: [None; 3],
            timestamp: None,
            payload,
        };
        let len = emit(peer, &tcp, &mut self.packet);
        if len > 0 {
            let _ = self.wire.send(&self.packet[..len]);
        }
    }

    fn raw(&mut self, input: &mut Input<'_>) {
        let len = usize::from(input.u16()) % (MTU + 1);
        let bytes = input.take(len);
        let _ = self.wire.send(bytes);
    }

    /// Five quiet minutes: every timeout fires, nothing may be left.
    fn settle(&mut self) {
        let end = self.now + Duration::from_secs(300);
        while self.now < end {
            let step = [
                self.net.poll_delay(self.now),
                self.server.poll_delay(self.now),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(Duration::from_secs(10))
            .clamp(Duration::from_millis(1), Duration::from_secs(10));
            self.advance(step);
        }
        let stats = self.net.stats();
        assert_eq!(
            (
                stats.connections,
                stats.sources,
                stats.held_packets,
                self.server.connections()
            ),
            (0, 0, 0, 0),
            "connections left after five quiet minutes: {stats:?}"
        );
    }
}

/// Writes an IPv4 or IPv6 packet carrying `tcp` from `peer` to the stack; returns its length
/// (0 if it does not fit the MTU).
fn emit(peer: IpAddress, tcp: &TcpRepr<'_>, out: &mut [u8]) -> usize {
    let stack = match peer {
        IpAddress::Ipv4(_) => IpAddress::Ipv4(STACK_V4),
        IpAddress::Ipv6(_) => IpAddress::Ipv6(STACK_V6),
    };
    emit_tcp(peer, stack, tcp, out).unwrap_or(0)
}

/// Learns the stack's sequence and ACK numbers from a packet it sent.
fn note_output(peers: &mut HashMap<(IpAddress, u16), PeerState>, packet: &[u8]) {
    let Some(segment) = Segment::parse(packet) else {
        return;
    };
    let state = peers.entry((segment.dst.addr, segment.dst.port)).or_default();
    state.stack_next = Some(segment.end());
    if let Some(ack) = segment.ack {
        state.peer_next = Some(ack);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut harness = Harness::new(data.first() == Some(&0xA5));
    let mut input = Input(data);
    // Bounded work per input: at most this many records.
    for _ in 0..256 {
        if input.0.is_empty() {
            break;
        }
        match input.byte() & 7 {
            0..=2 => harness.segment(&mut input),
            3 => harness.raw(&mut input),
            4 => {
                let ms = u64::from(input.byte()) * 10;
                harness.advance(Duration::from_millis(ms));
                continue;
            }
            5 => {
                let secs = u64::from(input.byte());
                harness.advance(Duration::from_secs(secs));
                continue;
            }
            _ => {}
        }
        harness.turn();
    }
    harness.settle();
});
