//! The tap end to end on hand-made packets: event encoding, retransmission and drop labels,
//! token scoping, the lost marker and the pcap export.

use super::*;
use crate::packet::emit_tcp;
use smoltcp::wire::{Ipv4Address, TcpControl, TcpRepr, TcpSeqNumber};

const TOKEN_A: &str = "AAAAAAAAAAAAAAAAAAAAAA";
const TOKEN_B: &str = "BBBBBBBBBBBBBBBBBBBBBB";
const CLIENT_ISN: u32 = 1_000_000;
const SERVER_ISN: u32 = 7_000;

/// One TCP/IPv4 packet between 10.0.0.1:`port` and 10.0.0.2:8080.
fn packet(
    dir: Direction,
    port: u16,
    control: TcpControl,
    seq: u32,
    ack: Option<u32>,
    payload: &[u8],
) -> Vec<u8> {
    let (client, server) = (Ipv4Address::new(10, 0, 0, 1), Ipv4Address::new(10, 0, 0, 2));
    let (src, dst, src_port, dst_port) = match dir {
        Direction::Ingress => (client, server, port, 8080),
        Direction::Egress => (server, client, 8080, port),
    };
    let syn = control == TcpControl::Syn;
    let tcp = TcpRepr {
        src_port,
        dst_port,
        control,
        seq_number: TcpSeqNumber(seq as i32),
        ack_number: ack.map(|a| TcpSeqNumber(a as i32)),
        window_len: 64240,
        window_scale: syn.then_some(7),
        max_seg_size: syn.then_some(1460),
        sack_permitted: syn,
        sack_ranges: [None; 3],
        timestamp: None,
        payload,
    };
    let mut packet = vec![0u8; 120 + tcp.payload.len()];
    let len = emit_tcp(src.into(), dst.into(), &tcp, &mut packet).expect("fits");
    packet.truncate(len);
    packet
}

/// A page's WebSocket connection from `port`: handshake, upgrade with `?t=token`, one masked
/// "Hello" in and its echo out. Returns the packets in order.
fn websocket_exchange(port: u16, token: &str) -> Vec<(Direction, Vec<u8>)> {
    exchange(port, &format!("/chat?t={token}"))
}

/// [`websocket_exchange`] with the upgrade on `target`.
fn exchange(port: u16, target: &str) -> Vec<(Direction, Vec<u8>)> {
    exchange_with(port, target, "")
}

/// [`exchange`] with `extra` header lines (each ending in CRLF) in the request.
fn exchange_with(port: u16, target: &str, extra: &str) -> Vec<(Direction, Vec<u8>)> {
    use Direction::{Egress as Out, Ingress as In};
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    let response =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    let hello: &[u8] = &[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let echo: &[u8] = &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o'];
    let (c, s) = (CLIENT_ISN + 1, SERVER_ISN + 1);
    let r = request.len() as u32;
    let w = response.len() as u32;
    vec![
        (In, packet(In, port, TcpControl::Syn, CLIENT_ISN, None, b"")),
        (
            Out,
            packet(Out, port, TcpControl::Syn, SERVER_ISN, Some(c), b""),
        ),
        (In, packet(In, port, TcpControl::None, c, Some(s), b"")),
        (
            In,
            packet(In, port, TcpControl::Psh, c, Some(s), request.as_bytes()),
        ),
        (
            Out,
            packet(Out, port, TcpControl::Psh, s, Some(c + r), response),
        ),
        (
            In,
            packet(In, port, TcpControl::Psh, c + r, Some(s + w), hello),
        ),
        (
            Out,
            packet(Out, port, TcpControl::Psh, s + w, Some(c + r + 11), echo),
        ),
    ]
}

fn play(tap: &Tap, packets: &[(Direction, Vec<u8>)]) {
    for (i, (dir, bytes)) in packets.iter().enumerate() {
        tap.record_bytes(*dir, bytes, Instant::from_micros(1_000 * i as i64), false);
    }
}

fn peer(port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], port))
}

/// Every event queued for `conn`, one JSON object a string.
fn drain(tap: &Tap, conn: ConnId) -> Vec<String> {
    let mut events = Vec::new();
    while let Some(batch) = tap.take_batch(conn, 4096) {
        let inner = &batch[1..batch.len() - 1];
        // Events are flat objects whose nested values never hold `},{"type"`.
        events.extend(inner.split(r#"},{"type""#).enumerate().map(|(i, e)| {
            let e = if i > 0 {
                format!(r#"{{"type"{e}"#)
            } else {
                e.to_string()
            };
            if e.ends_with('}') {
                e
            } else {
                format!("{e}}}")
            }
        }));
    }
    events
}

#[test]
fn nothing_is_recorded_while_nobody_watches() {
    let tap = Tap::new(Scope::Own);
    play(&tap, &websocket_exchange(50000, TOKEN_A));
    assert!(!tap.is_watched());
    assert!(tap.hub().flows.is_empty());
    assert_eq!(tap.hub().next_pkt, 1);
}

#[test]
fn a_websocket_connection_reads_as_the_ladder_shows_it() {
    let tap = Tap::new(Scope::Own);
    let viewer = ConnId(1);
    tap.subscribe(viewer, peer(40000), Some(TOKEN_A)).unwrap();
    play(&tap, &websocket_exchange(50000, TOKEN_A));
    let events = drain(&tap, viewer);
    let kinds: Vec<String> = events
        .iter()
        .map(|e| {
            let field = |name: &str| {
                let at = e
                    .find(&format!("\"{name}\":"))
                    .map(|i| i + name.len() + 3)?;
                Some(
                    e[at..]
                        .split([',', '}'])
                        .next()?
                        .trim_matches('"')
                        .to_string(),
                )
            };
            match field("type").as_deref() {
                Some("tcp") => format!(
                    "tcp {} seq={} {}",
                    field("dir")?,
                    field("seq")?,
                    &e[e.find("\"flags\":")? + 8..e.find("],\"seq")? + 1]
                ),
                Some("state") => format!("state {}", field("to")?),
                Some("http") => format!("http {}", field("line")?),
                Some("ws") => format!(
                    "ws {} {} masked={} len={} {}",
                    field("dir")?,
                    field("op")?,
                    field("masked")?,
                    field("len")?,
                    field("head_text")?
                ),
                other => format!("{other:?}"),
            }
            .into()
        })
        .map(|s: Option<String>| s.unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        [
            r#"tcp in seq=0 ["SYN"]"#,
            "state SYN-RECEIVED",
            r#"tcp out seq=0 ["SYN","ACK"]"#,
            r#"tcp in seq=1 ["ACK"]"#,
            "state ESTABLISHED",
            r#"tcp in seq=1 ["ACK","PSH"]"#,
            &format!("http GET /chat?t={TOKEN_A} HTTP/1.1"),
            r#"tcp out seq=1 ["ACK","PSH"]"#,
            "http HTTP/1.1 101 Switching Protocols",
            &format!(
                r#"tcp in seq={} ["ACK","PSH"]"#,
                1 + websocket_exchange(0, TOKEN_A)[3].1.len() - 40
            ),
            "ws in text masked=true len=5 Hello",
            r#"tcp out seq=130 ["ACK","PSH"]"#,
            "ws out text masked=false len=5 Hello",
        ]
    );
    // The SYN's options, ack relative to the peer's ISN, the Accept worked out from the key.
    assert!(
        events[0].contains(r#""opts":{"mss":1460,"wscale":7,"sack_perm":true}"#),
        "{}",
        events[0]
    );
    assert!(events[2].contains(r#""ack":1,"#), "{}", events[2]);
    assert!(
        events[6].contains(r#""ws_accept":"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=""#),
        "{}",
        events[6]
    );
    assert!(
        events[10].contains(r#""key":"37fa213d""#)
            && events[10].contains(r#""head_hex":"48656c6c6f""#)
    );
    assert!(events.iter().all(|e| e.contains(r#""conn":1"#)));
}

#[test]
fn own_scope_shows_each_viewer_only_its_token_and_all_scope_shows_everything() {
    let tap = Tap::new(Scope::Own);
    let (a, b) = (ConnId(1), ConnId(2));
    tap.subscribe(a, peer(40000), Some(TOKEN_A)).unwrap();
    tap.subscribe(b, peer(40001), Some(TOKEN_B)).unwrap();
    play(&tap, &websocket_exchange(50000, TOKEN_A));
    play(&tap, &websocket_exchange(50001, TOKEN_B));
    let only = |events: Vec<String>, port: &str, other: &str| {
        assert!(events.iter().any(|e| e.contains(port)), "{events:?}");
        assert!(!events.iter().any(|e| e.contains(other)), "{events:?}");
        events.len()
    };
    let seen_a = only(drain(&tap, a), ":50000", ":50001");
    let seen_b = only(drain(&tap, b), ":50001", ":50000");
    assert_eq!(seen_a, seen_b);
    // A bad token is refused; a connection without a token goes to nobody.
    assert_eq!(
        tap.subscribe(ConnId(3), peer(40002), Some("short")),
        Err(SubscribeError::BadToken)
    );
    assert_eq!(
        tap.subscribe(ConnId(3), peer(40002), None),
        Err(SubscribeError::BadToken)
    );
    play(&tap, &websocket_exchange(50002, "none"));
    assert!(drain(&tap, a).is_empty() && drain(&tap, b).is_empty());

    let all = Tap::new(Scope::All);
    all.subscribe(a, peer(40000), None).unwrap();
    play(&all, &websocket_exchange(50000, TOKEN_A));
    play(&all, &websocket_exchange(50002, "none"));
    let events = drain(&all, a);
    assert!(
        events.iter().any(|e| e.contains(":50000")) && events.iter().any(|e| e.contains(":50002"))
    );
}

#[test]
fn trace_sockets_never_see_themselves() {
    let tap = Tap::new(Scope::All);
    let viewer = ConnId(1);
    tap.subscribe(viewer, peer(40000), None).unwrap();
    // The viewer's own socket, and a second trace socket whose upgrade request says /trace.
    play(&tap, &websocket_exchange(40000, TOKEN_A));
    play(&tap, &exchange(40001, "/trace"));
    // Another connection is seen (the viewer is alive).
    play(&tap, &websocket_exchange(50000, TOKEN_A));
    let events = drain(&tap, viewer);
    assert!(!events.iter().any(|e| e.contains(":40000")), "{events:?}");
    assert!(!events.iter().any(|e| e.contains(":40001")), "{events:?}");
    assert!(events.iter().any(|e| e.contains(":50000")), "{events:?}");
}

#[test]
fn retransmissions_and_impairment_drops_are_labelled() {
    let tap = Tap::new(Scope::Own);
    let viewer = ConnId(1);
    tap.subscribe(viewer, peer(40000), Some(TOKEN_A)).unwrap();
    let packets = websocket_exchange(50000, TOKEN_A);
    play(&tap, &packets);
    let echo = &packets[6].1;
    // The echo is dropped on the way out, then sent again.
    tap.record_bytes(Direction::Egress, echo, Instant::from_micros(9_000), true);
    tap.record_bytes(
        Direction::Egress,
        echo,
        Instant::from_micros(1_009_000),
        false,
    );
    // An incoming packet lost on the wire.
    tap.record_bytes(
        Direction::Ingress,
        &packets[5].1,
        Instant::from_micros(1_010_000),
        true,
    );
    let events = drain(&tap, viewer);
    let tail = &events[events.len() - 3..];
    assert!(
        tail[0].starts_with(r#"{"type":"drop""#) && tail[0].contains(r#""pkt":7"#),
        "{tail:?}"
    );
    assert!(
        tail[1].contains(r#""retrans":true"#) && tail[1].contains(r#""dir":"out""#),
        "{tail:?}"
    );
    assert!(
        tail[2].contains(r#""dropped":true"#) && tail[2].contains(r#""dir":"in""#),
        "{tail:?}"
    );
    // Decoded once: the resent echo is not a second frame.
    assert_eq!(
        events
            .iter()
            .filter(|e| e.starts_with(r#"{"type":"ws""#))
            .count(),
        2
    );
    // The pcap holds what the stack saw: not the packet lost on the way in.
    let pcap = tap.pcap(viewer);
    let records = count_pcap_records(&pcap);
    assert_eq!(records, packets.len() + 1);
}

fn count_pcap_records(pcap: &[u8]) -> usize {
    assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    let (mut at, mut n) = (24, 0);
    while at + 16 <= pcap.len() {
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
        n += 1;
    }
    assert_eq!(at, pcap.len());
    n
}

#[test]
fn a_slow_viewer_loses_events_counted_never_more_than_its_bound() {
    let tap = Tap::new(Scope::All);
    let viewer = ConnId(1);
    tap.subscribe(viewer, peer(40000), None).unwrap();
    let mut port = 10_000;
    while tap.hub().viewers[0].lost == 0 {
        play(&tap, &websocket_exchange(port, TOKEN_A));
        port += 1;
        assert!(tap.hub().viewers[0].queued_bytes <= MAX_QUEUE_BYTES);
    }
    assert!(tap.hub().viewers[0].kept_bytes <= MAX_KEPT_BYTES);
    // The loss is marked where it happened: inside what was queued (a smaller event fitted
    // after a lost one), or at the head of what comes once the viewer has read.
    let first = tap.take_batch(viewer, usize::MAX).unwrap();
    let still_lost = tap.hub().viewers[0].lost;
    play(&tap, &websocket_exchange(port, TOKEN_A));
    let next = tap.take_batch(viewer, usize::MAX).unwrap();
    let marker = r#"{"type":"lost","count":"#;
    assert!(still_lost > 0 || first.contains(marker));
    assert_eq!(
        still_lost > 0,
        next.starts_with(&format!("[{marker}{still_lost}}}")),
        "{}",
        &next[..80]
    );
    // The last viewer leaving frees everything.
    tap.unsubscribe(viewer, peer(40000));
    assert!(!tap.is_watched() && tap.hub().flows.is_empty());
}

#[test]
fn a_reloaded_page_takes_over_its_lingering_viewer_with_the_page_load_recorded() {
    let tap = Tap::new(Scope::Own);
    let (old, new) = (ConnId(1), ConnId(2));
    tap.subscribe(old, peer(40000), Some(TOKEN_A)).unwrap();
    tap.subscribe(ConnId(3), peer(40003), Some(TOKEN_B))
        .unwrap();
    play(&tap, &websocket_exchange(50000, TOKEN_A));
    // The page unloads: its trace socket closes, the viewer lingers and keeps recording; the
    // reload's page load carries the token in its cookie only.
    tap.unsubscribe(old, peer(40000));
    assert!(
        tap.take_batch(old, usize::MAX).is_none(),
        "a lingering viewer has no socket"
    );
    let cookie = format!("Cookie: theme=dark; {TOKEN_COOKIE}={TOKEN_A}\r\n");
    play(&tap, &exchange_with(50001, "/", &cookie));
    let hello = tap.subscribe(new, peer(40001), Some(TOKEN_A)).unwrap();
    assert!(hello.contains(r#""resumed":true"#), "{hello}");
    let events = drain(&tap, new);
    assert!(
        events.iter().any(|e| e.contains(":50000")),
        "what the old socket had not read"
    );
    let page_load: Vec<_> = events.iter().filter(|e| e.contains(":50001")).collect();
    assert!(page_load[0].contains(r#""flags":["SYN"]"#), "{page_load:?}");
    assert!(
        events
            .iter()
            .any(|e| e.contains(r#""line":"GET / HTTP/1.1""#))
    );
    // Another token's viewer saw none of it; a fresh subscription is not resumed.
    assert!(!drain(&tap, ConnId(3)).iter().any(|e| e.contains(":5000")));
    let fresh = tap
        .subscribe(ConnId(4), peer(40004), Some(TOKEN_B))
        .unwrap();
    assert!(fresh.contains(r#""resumed":false"#), "{fresh}");
}

#[test]
fn a_lingering_viewer_expires_and_the_last_one_gone_stops_recording() {
    let tap = Tap::new(Scope::Own);
    tap.subscribe(ConnId(1), peer(40000), Some(TOKEN_A))
        .unwrap();
    tap.unsubscribe(ConnId(1), peer(40000));
    assert!(tap.is_watched(), "it lingers");
    let late = websocket_exchange(50000, TOKEN_A);
    tap.record_bytes(
        Direction::Ingress,
        &late[0].1,
        Instant::from_micros(LINGER_US + 2_000_000),
        false,
    );
    assert!(!tap.is_watched() && tap.hub().flows.is_empty() && tap.hub().viewers.is_empty());
    // Without a token (all scope) nothing lingers.
    let all = Tap::new(Scope::All);
    all.subscribe(ConnId(1), peer(40000), None).unwrap();
    all.unsubscribe(ConnId(1), peer(40000));
    assert!(!all.is_watched());
}

#[test]
fn the_t_parameter_counts_only_with_a_valid_token() {
    assert_eq!(token_in(&format!("a=1&t={TOKEN_A}")), Some(TOKEN_A));
    assert_eq!(token_in("t=short"), None);
    assert_eq!(token_in(&format!("tt={TOKEN_A}")), None);
    assert_eq!(token_in(&format!("t={TOKEN_A}%00")), None);
}

#[test]
fn mangled_packets_never_panic_the_decoders() {
    // Every byte of a real exchange flipped, truncated at every length, plus random bytes: the
    // decoders must say what they can and never panic.
    let tap = Tap::new(Scope::All);
    tap.subscribe(ConnId(1), peer(40000), None).unwrap();
    let packets = websocket_exchange(50000, TOKEN_A);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut t = 0;
    for round in 0..200u16 {
        for (dir, packet) in &packets {
            let mut mangled = packet.clone();
            let at = (next() as usize) % mangled.len();
            mangled[at] ^= (next() as u8) | 1;
            if round % 3 == 0 {
                mangled.truncate((next() as usize) % (mangled.len() + 1));
            }
            t += 10;
            // Each round on its own port, so the streams see mangled payloads from the start.
            if mangled.len() > 23 && *dir == Direction::Ingress {
                mangled[20..22].copy_from_slice(&(10_000 + round).to_be_bytes());
            }
            tap.record_bytes(*dir, &mangled, Instant::from_micros(t), next() % 7 == 0);
        }
        let noise: Vec<u8> = (0..(next() % 200)).map(|_| next() as u8).collect();
        tap.record_bytes(Direction::Ingress, &noise, Instant::from_micros(t), false);
        let _ = tap.take_batch(ConnId(1), usize::MAX);
    }
    assert!(tap.is_watched());
}

#[test]
fn held_back_and_out_of_order_bytes_are_bounded_over_all_connections() {
    use Direction::Ingress as In;
    let tap = Tap::new(Scope::Own);
    tap.subscribe(ConnId(1), peer(40000), Some(TOKEN_A))
        .unwrap();
    let chunk = [b'a'; 1400];
    let head = b"GET / HTTP/1.1\r\nX-Long: ";
    let mut t = 0;
    for port in 10_000..12_000u16 {
        let c = CLIENT_ISN + 1;
        t += 10;
        tap.record_bytes(
            In,
            &packet(In, port, TcpControl::Syn, CLIENT_ISN, None, b""),
            Instant::from_micros(t),
            false,
        );
        // A head that never ends (pending: no request yet), then bytes after a gap (held).
        tap.record_bytes(
            In,
            &packet(In, port, TcpControl::Psh, c, Some(1), head),
            Instant::from_micros(t),
            false,
        );
        for i in 0..3u32 {
            let seq = c + head.len() as u32 + i * 1400;
            tap.record_bytes(
                In,
                &packet(In, port, TcpControl::Psh, seq, Some(1), &chunk),
                Instant::from_micros(t),
                false,
            );
        }
        let far = c + 100_000;
        tap.record_bytes(
            In,
            &packet(In, port, TcpControl::Psh, far, Some(1), &chunk),
            Instant::from_micros(t),
            false,
        );
        let hub = tap.hub();
        assert!(
            hub.pending_bytes <= MAX_PENDING_BYTES + 2 * 1500,
            "{}",
            hub.pending_bytes
        );
        let held: usize = hub.flows.values().map(|f| f.flow.held_bytes()).sum();
        assert_eq!(
            held + hub.held_room,
            MAX_HELD_BYTES,
            "held bytes and room add up"
        );
    }
    // Every connection forgotten (idle), every byte given back.
    tap.record_bytes(
        In,
        &packet(In, 9, TcpControl::Rst, 0, None, b""),
        Instant::from_micros(t + IDLE_US + 2_000_000),
        false,
    );
    let hub = tap.hub();
    assert_eq!(
        hub.held_room
            + hub
                .flows
                .values()
                .map(|f| f.flow.held_bytes())
                .sum::<usize>(),
        MAX_HELD_BYTES
    );
    let pending: usize = hub
        .flows
        .values()
        .map(|f| match &f.owner {
            Owner::Pending(b) => b.bytes,
            _ => 0,
        })
        .sum();
    assert_eq!(hub.pending_bytes, pending);
}
