//! Half-open (SYN-RECEIVED) connections against hand-made segments: a RST during the
//! handshake frees the socket at once, whatever the socket did before; a SYN flood's half-open
//! sockets neither outlive the handshake timeout nor take more than their budget.

mod common;

use common::{MTU, PORT, SERVER_IP, config};
use smoltcp::wire::{Ipv4Address, TcpControl, TcpRepr, TcpSeqNumber};
use stack::device::Link;
use stack::device::memory::{self, MemoryLink};
use stack::packet::emit_tcp;
use stack::{Duration, Instant, Net, NetConfig};

/// A server `Net` and the raw far end of its link, where the test plays any number of peers.
struct Raw {
    server: Net,
    wire: MemoryLink,
    now: Instant,
}

impl Raw {
    fn new(server_config: NetConfig) -> Raw {
        let (a, b) = memory::pair(MTU);
        let now = Instant::ZERO;
        let mut server = Net::with_link_seeded(Box::new(a), &server_config, now, 1).unwrap();
        server.listen(PORT).unwrap();
        Raw {
            server,
            wire: b,
            now,
        }
    }

    /// Queues one segment from `peer` (10.0.0.`peer`:`sport`) to the server's port.
    fn send(&mut self, peer: u8, sport: u16, seq: u32, control: TcpControl) {
        self.send_ack(peer, sport, seq, None, control);
    }

    /// Like [`Raw::send`], with an acknowledgement number.
    fn send_ack(&mut self, peer: u8, sport: u16, seq: u32, ack: Option<u32>, control: TcpControl) {
        let src = Ipv4Address::new(10, 0, 0, peer);
        let dst = Ipv4Address::from(SERVER_IP);
        let tcp = TcpRepr {
            src_port: sport,
            dst_port: PORT,
            control,
            seq_number: TcpSeqNumber(seq as i32),
            ack_number: ack.map(|a| TcpSeqNumber(a as i32)),
            window_len: 64240,
            window_scale: None,
            max_seg_size: (control == TcpControl::Syn).then_some(1460),
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: &[],
        };
        let mut buf = vec![0; MTU];
        let len = emit_tcp(src.into(), dst.into(), &tcp, &mut buf).expect("fits the MTU");
        buf.truncate(len);
        self.wire.send(&buf).unwrap();
    }

    /// Polls the server once at `now` and returns the (SYN, RST) flags of every segment it sent.
    fn poll(&mut self) -> Vec<(bool, bool)> {
        self.poll_segments()
            .into_iter()
            .map(|s| (s.syn, s.rst))
            .collect()
    }

    /// Polls the server once at `now` and returns every segment it sent.
    fn poll_segments(&mut self) -> Vec<Segment> {
        self.server.poll(self.now);
        let mut out = Vec::new();
        let mut buf = vec![0; MTU];
        while let Some(n) = self.wire.recv(&mut buf).unwrap() {
            let tcp = stack::packet::Segment::parse(&buf[..n]).expect("a TCP segment");
            out.push(Segment {
                dst_port: tcp.dst.port,
                seq: tcp.seq,
                syn: tcp.syn,
                rst: tcp.rst,
            });
        }
        out
    }

    /// Polls at every timer the server asks for until `span` of simulated time has passed.
    fn run_for(&mut self, span: Duration) {
        let end = self.now + span;
        while self.now < end {
            self.poll();
            let step = self
                .server
                .poll_delay(self.now)
                .unwrap_or(Duration::from_millis(100))
                .max(Duration::from_millis(1));
            self.now = (self.now + step).min(end);
        }
        self.poll();
    }

    /// A real peer from 10.0.0.`peer`:`sport` completes the handshake; true when the server
    /// accepted it.
    fn handshake(&mut self, peer: u8, sport: u16) -> bool {
        self.send(peer, sport, 7000, TcpControl::Syn);
        let Some(syn_ack) = self
            .poll_segments()
            .into_iter()
            .find(|s| s.dst_port == sport && s.syn)
        else {
            return false;
        };
        self.send_ack(
            peer,
            sport,
            7001,
            Some(syn_ack.seq.wrapping_add(1)),
            TcpControl::None,
        );
        self.poll();
        std::iter::from_fn(|| self.server.accept()).any(|(_, addr)| addr.port() == sport)
    }
}

/// What the tests look at in a segment the server sent.
struct Segment {
    dst_port: u16,
    seq: u32,
    syn: bool,
    rst: bool,
}

/// RFC 9293 §3.10.7.4: a RST with the expected sequence number ends SYN-RECEIVED at once. The
/// socket that takes the second SYN already went SYN-RECEIVED → (SYN-ACK sent) → RST → LISTEN
/// for an earlier peer; the RST for the second one arrives before its SYN-ACK goes out.
#[test]
fn a_rst_before_the_syn_ack_frees_a_socket_that_was_reset_before() {
    let mut raw = Raw::new(config(SERVER_IP));
    // First peer: SYN, our SYN-ACK goes out, then the peer resets.
    raw.send(100, 20000, 1000, TcpControl::Syn);
    let sent = raw.poll();
    assert_eq!(sent, [(true, false)], "one SYN-ACK");
    raw.send(100, 20000, 1001, TcpControl::Rst);
    raw.poll();
    assert_eq!(raw.server.stats().handshaking, 0);

    // Second peer, far away in sequence space: SYN and RST in the same poll, before our
    // SYN-ACK is sent.
    raw.now += Duration::from_millis(10);
    let isn = 0x4000_0000;
    raw.send(101, 20001, isn, TcpControl::Syn);
    raw.send(101, 20001, isn + 1, TcpControl::Rst);
    let sent = raw.poll();
    let stats = raw.server.stats();
    assert_eq!(
        (stats.handshaking, stats.connections),
        (0, 0),
        "the RST left a half-open connection: {stats:?}"
    );
    assert!(sent.is_empty(), "nothing to answer: {sent:?}");
}

/// A flood of SYNs that are never answered (spoofed sources) holds at most the half-open
/// budget; the oldest half-open connections give way silently, and a real client still gets in
/// while the others' SYNs keep coming.
#[test]
fn a_syn_flood_holds_at_most_the_half_open_budget() {
    let mut server_config = config(SERVER_IP);
    server_config.max_connections = 64;
    let budget = stack::net::half_open_budget(64);
    assert!(budget < 40, "the flood must exceed the budget");
    let mut raw = Raw::new(server_config);
    let mut answers = Vec::new();
    for i in 0..40u16 {
        raw.send(
            100 + (i % 50) as u8,
            30000 + i,
            1000 * u32::from(i),
            TcpControl::Syn,
        );
        answers.extend(raw.poll());
        // Older than the eviction grace by the time the budget is full.
        raw.now += Duration::from_millis(50);
    }
    let s = raw.server.stats();
    assert_eq!(s.handshaking, budget, "{s:?}");
    assert_eq!(s.evicted_half_open, (40 - budget) as u64, "{s:?}");
    assert!(
        answers.iter().all(|&(syn, rst)| syn && !rst),
        "SYN-ACKs only, no RST for the evicted ones: {answers:?}"
    );
    assert!(raw.handshake(1, 40000), "a real client is accepted");
    let s = raw.server.stats();
    // Its SYN evicted one more flood connection; its ACK then made it established.
    assert_eq!((s.established, s.handshaking), (1, budget - 1), "{s:?}");
    assert!(s.sockets <= budget + 1 + s.listeners, "{s:?}");
}

/// A half-open connection whose peer never answers is gone after the handshake timeout, long
/// before the 60 s a silent established peer gets.
#[test]
fn a_half_open_connection_times_out_after_the_handshake_timeout() {
    let mut raw = Raw::new(config(SERVER_IP));
    raw.send(100, 20000, 1000, TcpControl::Syn);
    raw.poll();
    assert_eq!(raw.server.stats().handshaking, 1);
    assert!(raw.handshake(1, 40000));
    raw.run_for(stack::net::SYN_RECEIVED_TIMEOUT + Duration::from_millis(200));
    let s = raw.server.stats();
    assert_eq!(
        (s.handshaking, s.established),
        (0, 1),
        "the established one stays: {s:?}"
    );
}
