//! Peers that vanish: a reset in the middle of the request head, of a frame and of the close
//! handshake, a half-close after a frame, peers that go silent before and after the upgrade,
//! and thousands of such connections in a row — after which every socket, buffer and table
//! entry must be back where it started.

use netns_tests::tungstenite::Message;
use netns_tests::{
    Netns, Tunws, connect_tcp, masked_frame, raw_upgrade, read_data, read_server_frame,
    require_root, rss_kib, save_figures, set_linger_zero, settled_stats, ws_connect,
};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// Close frame with status 1000 and no reason, as a client sends it.
fn close_frame() -> Vec<u8> {
    masked_frame(0x88, &1000u16.to_be_bytes())
}

/// Reads until the server ends the stream (FIN or RST) and returns what it sent before that;
/// panics if it is still open after `within`.
fn read_to_end_within(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    match stream.read_to_end(&mut got) {
        Ok(_) => got,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => got,
        Err(e) => panic!("connection still open after {within:?} ({e}); got {got:?}"),
    }
}

/// On a WebSocket that we leave silent: reads the keepalive Ping, then the Close the server
/// fails us with, then the end of the TCP stream. Returns when each came (since `start`) and
/// the close code.
fn keepalive_sequence(
    stream: &mut TcpStream,
    start: Instant,
) -> (Duration, Duration, Option<u16>, Duration) {
    let ping = read_server_frame(stream).expect("the keepalive ping");
    assert_eq!(ping.opcode(), 0x9, "expected a Ping first, got {ping:?}");
    let ping_at = start.elapsed();
    // We never answer: the peer is silent, so the keepalive must give up on it.
    let close = read_server_frame(stream).expect("the keepalive close");
    let close_at = start.elapsed();
    let rest = read_to_end_within(stream, Duration::from_secs(15));
    assert!(rest.is_empty(), "bytes after the Close: {rest:?}");
    (ping_at, close_at, close.close_code(), start.elapsed())
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn half_close_after_a_frame_gets_the_echo_then_the_close() {
    require_root!();
    let ns = Netns::new("halfclose");
    let mut tunws = Tunws::start(&ns, &[]);
    ns.run(|| {
        let mut stream = raw_upgrade("/echo");
        stream.write_all(&masked_frame(0x81, b"half")).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        // What the peer sent before its FIN is still served: the echo comes back.
        let echo = read_server_frame(&mut stream).expect("read the echo");
        assert_eq!((echo.first, echo.payload.as_slice()), (0x81, &b"half"[..]));
        // Then the server ends the connection (it may send a Close first: the peer's FIN
        // means no close handshake can complete, so 1006 is not sent on the wire).
        let rest = read_to_end_within(&mut stream, Duration::from_secs(10));
        if !rest.is_empty() {
            let frame = read_server_frame(&mut rest.as_slice()).expect("a frame");
            assert_eq!(
                frame.opcode(),
                0x8,
                "after the echo only a Close may come: {rest:?}"
            );
        }
    });
    assert!(
        tunws
            .proc()
            .wait_for_output("left (", Duration::from_secs(5)),
        "the half-closed client was never logged as left:\n{}",
        tunws.output()
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn silent_peer_before_the_request_is_dropped_after_the_handshake_timeout() {
    require_root!();
    let ns = Netns::new("silent");
    let _tunws = Tunws::start(&ns, &[]);
    let (elapsed, got) = ns.run(|| {
        let start = Instant::now();
        let mut stream = connect_tcp();
        let got = read_to_end_within(&mut stream, Duration::from_secs(20));
        (start.elapsed(), got)
    });
    println!("silent connection closed after {elapsed:?}");
    assert!(got.is_empty(), "a silent peer was sent {got:?}");
    // The documented handshake timeout is 10 s (tunws --help, "Fixed limits").
    assert!(
        (Duration::from_millis(9500)..Duration::from_secs(13)).contains(&elapsed),
        "silent connection closed after {elapsed:?}, expected about 10 s"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn silent_websocket_peer_is_pinged_then_failed_with_1011() {
    require_root!();
    let ns = Netns::new("keepalive");
    let mut tunws = Tunws::start(&ns, &[]);
    let (ping_at, close_at, code, end_at) = ns.run(|| {
        let start = Instant::now();
        let mut stream = raw_upgrade("/echo");
        stream
            .set_read_timeout(Some(Duration::from_secs(75)))
            .unwrap();
        keepalive_sequence(&mut stream, start)
    });
    println!(
        "keepalive: ping at {ping_at:?}, close {code:?} at {close_at:?}, TCP end at {end_at:?}"
    );
    // Documented: pinged after 30 s idle, failed with 1011 if still silent 30 s later, and the
    // close handshake gets 5 s before TCP is closed anyway.
    assert!((Duration::from_secs(29)..Duration::from_secs(33)).contains(&ping_at));
    assert_eq!(code, Some(1011));
    assert!((Duration::from_secs(59)..Duration::from_secs(64)).contains(&close_at));
    assert!(
        end_at < close_at + Duration::from_secs(8),
        "TCP lingered until {end_at:?}"
    );
    assert!(
        tunws
            .proc()
            .wait_for_output("left (1011)", Duration::from_secs(2))
    );
}

/// The timeout flags replace the defaults: a silent connection is closed after
/// `--handshake-timeout`, a silent WebSocket is pinged after `--keepalive` and failed with 1011
/// `--keepalive-timeout` later, and TCP ends within `--close-timeout` (twice) after that.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn timeout_flags_set_the_handshake_keepalive_and_close_timeouts() {
    require_root!();
    let ns = Netns::new("timeoutflags");
    let mut tunws = Tunws::start(
        &ns,
        &[
            "--handshake-timeout",
            "2",
            "--keepalive",
            "2",
            "--keepalive-timeout",
            "3",
            "--close-timeout",
            "1",
        ],
    );
    let (silent_end, ping_at, close_at, code, end_at) = ns.run(|| {
        let start = Instant::now();
        let mut silent = connect_tcp();
        let mut ws = raw_upgrade("/echo");
        ws.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let rest = read_to_end_within(&mut silent, Duration::from_secs(10));
        assert!(rest.is_empty(), "a silent connection got {rest:?}");
        let silent_end = start.elapsed();
        let (ping_at, close_at, code, end_at) = keepalive_sequence(&mut ws, start);
        (silent_end, ping_at, close_at, code, end_at)
    });
    println!(
        "flags: silent closed at {silent_end:?}, ping at {ping_at:?}, close {code:?} at {close_at:?}, TCP end at {end_at:?}"
    );
    assert!((Duration::from_millis(1800)..Duration::from_secs(4)).contains(&silent_end));
    assert!((Duration::from_millis(1800)..Duration::from_secs(4)).contains(&ping_at));
    assert_eq!(code, Some(1011));
    assert!((Duration::from_millis(4800)..Duration::from_secs(8)).contains(&close_at));
    assert!(
        end_at < close_at + Duration::from_secs(3),
        "TCP lingered until {end_at:?}"
    );
    assert!(
        tunws
            .proc()
            .wait_for_output("left (1011)", Duration::from_secs(2))
    );
}

/// A peer that stops reading while the server still has data for it, so the server stops
/// reading it in turn (backpressure) with unread bytes in the stack's receive buffer, and then
/// resets: everything must be freed even though those bytes are never read.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn reset_while_backpressured_frees_everything() {
    require_root!();
    const PEERS: usize = 3;
    let ns = Netns::new("rstbusy");
    let _tunws = Tunws::start(&ns, &["--stats"]);
    let baseline = ns.run(|| settled_stats(None));
    ns.run(|| {
        let blocked: Vec<TcpStream> = (0..PEERS)
            .map(|_| {
                // Every /chat message comes back to its sender, who never reads it.
                let mut s = raw_upgrade("/chat");
                s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
                let message = masked_frame(0x81, &[b'x'; 1000]);
                let start = Instant::now();
                while start.elapsed() < Duration::from_secs(5) && s.write_all(&message).is_ok() {}
                s
            })
            .collect();
        for s in &blocked {
            set_linger_zero(s);
        }
    });
    let after = ns.run(move || settled_stats(Some(&baseline)));
    println!("after {PEERS} resets of backpressured peers: {after:?}");
}

/// How a peer of the storm below disappears.
#[derive(Clone, Copy, Debug)]
enum Vanish {
    /// RST after part of the request head.
    ResetMidHandshake,
    /// RST after the header and 10 payload bytes of a 1000-byte frame.
    ResetMidFrame,
    /// RST right after sending a Close, before the server's Close arrives.
    ResetMidClose,
    /// A frame, then FIN; the socket is dropped without reading.
    HalfClose,
    /// A plain GET of the page on a keep-alive connection, then RST.
    ResetAfterPage,
}

const SHAPES: [Vanish; 5] = [
    Vanish::ResetMidHandshake,
    Vanish::ResetMidFrame,
    Vanish::ResetMidClose,
    Vanish::HalfClose,
    Vanish::ResetAfterPage,
];

/// Connections that vanish in a row in the storm test.
const STORM: usize = 2000;
/// The cap during the storm: a leak of one socket in `STORM / CAP` connections exhausts it.
const CAP: usize = 32;

fn vanish(shape: Vanish) {
    let stream = match shape {
        Vanish::ResetMidHandshake => {
            let mut s = connect_tcp();
            s.write_all(b"GET /echo HTTP/1.1\r\nHost: 10.0.0.2\r\nUpgr")
                .unwrap();
            s
        }
        Vanish::ResetMidFrame => {
            let mut s = raw_upgrade("/echo");
            let mut partial = netns_tests::masked_frame_header(0x82, 1000);
            partial.extend_from_slice(&[0x55; 10]);
            s.write_all(&partial).unwrap();
            s
        }
        Vanish::ResetMidClose => {
            let mut s = raw_upgrade("/chat");
            s.write_all(&close_frame()).unwrap();
            s
        }
        Vanish::HalfClose => {
            let mut s = raw_upgrade("/echo");
            s.write_all(&masked_frame(0x82, b"bye")).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            return;
        }
        Vanish::ResetAfterPage => {
            let mut s = connect_tcp();
            s.write_all(b"GET / HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n")
                .unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200 "), "{:?}", &buf[..n]);
            s
        }
    };
    set_linger_zero(&stream);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn thousands_of_vanishing_peers_leak_nothing() {
    require_root!();
    let ns = Netns::new("storm");
    let cap = CAP.to_string();
    let mut tunws = Tunws::start(&ns, &["--max-connections", &cap, "--stats"]);
    let pid = tunws.proc().pid();
    // Warm up (buffers allocated, pool filled), then take the baseline.
    ns.run(|| {
        for shape in SHAPES {
            vanish(shape);
        }
    });
    let baseline = ns.run(|| settled_stats(None));
    let rss_before = rss_kib(pid).expect("tunws RSS");
    let elapsed = ns.run(|| {
        let start = Instant::now();
        for i in 0..STORM {
            vanish(SHAPES[i % SHAPES.len()]);
        }
        start.elapsed()
    });
    // Every table is back at its baseline (half-closed peers take up to the 5 s close timeout).
    let expected = baseline.clone();
    let after = ns.run(move || settled_stats(Some(&expected)));
    let rss_after = rss_kib(pid).expect("tunws RSS");
    // Every place is free again: CAP connections at once are all accepted and served.
    ns.run(|| {
        let mut held: Vec<_> = (0..CAP).map(|_| ws_connect("/echo")).collect();
        for (i, ws) in held.iter_mut().enumerate() {
            let text = format!("after the storm {i}");
            ws.send(Message::text(text.as_str())).expect("send");
            assert_eq!(read_data(ws), Message::text(text));
        }
    });
    // The check's clients closed too: every WebSocket ever opened must be logged as left.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (connected, left) = loop {
        let out = tunws.output();
        let counts = (
            out.matches("connected from").count(),
            out.matches(" left (").count(),
        );
        if counts.0 == counts.1 || Instant::now() > deadline {
            break counts;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    println!(
        "{STORM} vanishing peers in {elapsed:?} with --max-connections {CAP}: \
         RSS {rss_before} KiB before, {rss_after} KiB after; {connected} WebSockets opened, {left} left\n\
         stats before {baseline:?}\nstats after  {after:?}"
    );
    save_figures(
        "vanish-storm",
        &format!(
            "{{\"connections\": {STORM}, \"max_connections\": {CAP}, \"seconds\": {:.2}, \
             \"rss_kib_before\": {rss_before}, \"rss_kib_after\": {rss_after}}}\n",
            elapsed.as_secs_f64()
        ),
    );
    assert_eq!(
        left, connected,
        "WebSockets opened but never logged as left"
    );
    assert!(
        rss_after < rss_before + 4 * 1024,
        "tunws RSS grew from {rss_before} KiB to {rss_after} KiB over {STORM} vanished peers"
    );
}
