//! The server glue and the client role against each other, on two stacks wired back to back in
//! memory with a simulated clock (no root, deterministic).

mod common;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use common::*;
use stack::client::{Client, ClientApp, ClientConfig, Sender};
use stack::server::{App, EngineEcho, Outbox, Page, Server, ServerConfig};
use stack::{ConnId, Duration, Net, RecvError};
use ws::deflate::DeflatePolicy;
use ws::{CloseCode, Keepalive, MessageKind};

/// What the server-side apps saw: opens and closes with their codes.
#[derive(Default)]
struct Journal {
    opened: Vec<ConnId>,
    closed: Vec<(ConnId, CloseCode)>,
}

type Shared = Rc<RefCell<Journal>>;

/// Echoes every message; records opens and closes.
struct EchoApp(Shared);

impl App for EchoApp {
    fn on_open(&mut self, _out: &mut Outbox<'_>, client: ConnId, _peer: std::net::SocketAddr) {
        self.0.borrow_mut().opened.push(client);
    }
    fn on_message(&mut self, out: &mut Outbox<'_>, client: ConnId, kind: MessageKind, data: &[u8]) {
        out.send(client, kind, data).unwrap();
    }
    fn on_close(&mut self, _out: &mut Outbox<'_>, client: ConnId, code: CloseCode) {
        self.0.borrow_mut().closed.push((client, code));
    }
}

/// Echoes piece by piece as the pieces arrive (the streaming app API).
struct StreamingEchoApp;

impl App for StreamingEchoApp {
    fn streams(&self) -> bool {
        true
    }
    fn on_piece(
        &mut self,
        out: &mut Outbox<'_>,
        client: ConnId,
        kind: MessageKind,
        data: &[u8],
        first: bool,
        fin: bool,
    ) {
        out.send_piece(client, kind, data, first, fin).unwrap();
    }
}

/// Sends every message to every open connection; records opens and closes.
struct BroadcastApp(Shared, BTreeSet<ConnId>);

impl App for BroadcastApp {
    fn on_open(&mut self, _out: &mut Outbox<'_>, client: ConnId, _peer: std::net::SocketAddr) {
        self.1.insert(client);
        self.0.borrow_mut().opened.push(client);
    }
    fn on_message(
        &mut self,
        out: &mut Outbox<'_>,
        _client: ConnId,
        kind: MessageKind,
        data: &[u8],
    ) {
        for &member in &self.1 {
            let _ = out.send(member, kind, data);
        }
    }
    fn on_close(&mut self, _out: &mut Outbox<'_>, client: ConnId, code: CloseCode) {
        self.1.remove(&client);
        self.0.borrow_mut().closed.push((client, code));
    }
}

/// A client-side app that sends a script of messages once open and collects what comes back.
#[derive(Default)]
struct Script {
    to_send: Vec<(MessageKind, Vec<u8>)>,
    received: Vec<(MessageKind, Vec<u8>)>,
}

impl ClientApp for Script {
    fn on_open(&mut self, out: &mut Sender<'_>) {
        for (kind, data) in self.to_send.drain(..) {
            out.send(kind, &data).unwrap();
        }
    }
    fn on_message(&mut self, _out: &mut Sender<'_>, kind: MessageKind, data: &[u8]) {
        self.received.push((kind, data.to_vec()));
    }
}

/// Echoes every message and notes how many bytes were left queued (not in the TCP send
/// buffer) right after each reply.
struct QueueProbeApp(Rc<RefCell<Vec<usize>>>);

impl App for QueueProbeApp {
    fn on_message(&mut self, out: &mut Outbox<'_>, client: ConnId, kind: MessageKind, data: &[u8]) {
        out.send(client, kind, data).unwrap();
        self.0.borrow_mut().push(out.queued(client).unwrap());
    }
}

fn server_with(config: ServerConfig, journal: &Shared) -> Server {
    let mut server = Server::new(config);
    server.page(Page {
        path: "/".into(),
        content_type: "text/html; charset=utf-8",
        body: b"<p>page</p>",
    });
    server.route("/echo", Box::new(EchoApp(journal.clone())));
    server.route(
        "/chat",
        Box::new(BroadcastApp(journal.clone(), BTreeSet::new())),
    );
    server.route("/stream", Box::new(StreamingEchoApp));
    server
}

fn client_config(path: &str) -> ClientConfig {
    ClientConfig {
        remote: Pair::server_addr(),
        host: "10.0.0.2:8080".into(),
        path: path.into(),
        origin: None,
        max_message: 64 << 20,
        trace: false,
        deflate: None,
    }
}

/// One client connection with its app and, once over, its close code.
struct Peer {
    client: Client,
    app: Script,
    ended: Option<CloseCode>,
}

impl Peer {
    fn new(pair: &mut Pair, path: &str, to_send: Vec<(MessageKind, Vec<u8>)>) -> Peer {
        Peer::with_config(pair, client_config(path), to_send)
    }

    fn with_config(
        pair: &mut Pair,
        config: ClientConfig,
        to_send: Vec<(MessageKind, Vec<u8>)>,
    ) -> Peer {
        let client = Client::connect(&mut pair.client, config, pair.now).unwrap();
        Peer {
            client,
            app: Script {
                to_send,
                received: Vec::new(),
            },
            ended: None,
        }
    }

    fn handle(&mut self, net: &mut Net, now: stack::Instant) {
        if self.ended.is_none() {
            self.ended = self
                .client
                .handle(net, now, &mut self.app)
                .expect("client failed");
        }
    }
}

/// Like `Pair::run_until`, but never lets simulated time jump past the server's next timer
/// (the pair only knows the stacks' timers).
fn run_with_server(
    pair: &mut Pair,
    server: &mut Server,
    limit: Duration,
    mut step: impl FnMut(&mut Pair, &mut Server) -> bool,
) -> bool {
    let end = pair.now + limit;
    loop {
        let remaining = end - pair.now;
        let slice = server
            .poll_delay(pair.now)
            .map_or(remaining, |d| d.min(remaining))
            .max(Duration::from_millis(1));
        if pair.run_until(slice, |p| step(p, server)) {
            return true;
        }
        if pair.now >= end {
            return false;
        }
    }
}

/// Opens one client on `path` and waits until both ends see the WebSocket open, so the
/// journal's `opened` lists clients in the order they were made.
fn open_peer(pair: &mut Pair, server: &mut Server, journal: &Shared, path: &str) -> Peer {
    let before = journal.borrow().opened.len();
    let mut peer = Peer::new(pair, path, vec![]);
    let ok = drive(
        pair,
        server,
        &mut [&mut peer],
        Duration::from_secs(5),
        |_, p| p[0].client.is_open() && journal.borrow().opened.len() == before + 1,
    );
    assert!(ok, "WebSocket to {path} did not open");
    peer
}

/// Runs the pair with `server` and `peers` until `done`, for at most `limit`.
fn drive(
    pair: &mut Pair,
    server: &mut Server,
    peers: &mut [&mut Peer],
    limit: Duration,
    mut done: impl FnMut(&Server, &mut [&mut Peer]) -> bool,
) -> bool {
    run_with_server(pair, server, limit, |p, server| {
        server.handle(&mut p.server, p.now);
        drain_client_news(&mut p.client);
        for peer in peers.iter_mut() {
            peer.handle(&mut p.client, p.now);
        }
        done(server, peers)
    })
}

#[test]
fn client_and_server_echo_text_and_binary_then_close_normally() {
    let journal = Shared::default();
    let mut pair = Pair::listening();
    let mut server = server_with(ServerConfig::default(), &journal);
    let script = vec![
        (MessageKind::Text, "hello, 𝄞".as_bytes().to_vec()),
        (MessageKind::Binary, Vec::new()),
        (MessageKind::Binary, pattern(300_000, 7)),
    ];
    let mut peer = Peer::new(&mut pair, "/echo?x=1", script.clone());
    let ok = drive(
        &mut pair,
        &mut server,
        &mut [&mut peer],
        Duration::from_secs(20),
        |_, peers| peers[0].app.received.len() == 3,
    );
    assert!(ok, "echo incomplete: {} replies", peer.app.received.len());
    assert_eq!(peer.app.received, script);

    peer.client.close(CloseCode::NORMAL, "done");
    let ok = drive(
        &mut pair,
        &mut server,
        &mut [&mut peer],
        Duration::from_secs(20),
        |server, peers| peers[0].ended.is_some() && server.connections() == 0,
    );
    assert!(
        ok,
        "close did not finish: ended {:?}, {} server connections",
        peer.ended,
        server.connections()
    );
    assert_eq!(peer.ended, Some(CloseCode::NORMAL));
    let journal = journal.borrow();
    assert_eq!(journal.opened.len(), 1);
    assert_eq!(journal.closed, [(journal.opened[0], CloseCode::NORMAL)]);
}

#[test]
fn chat_reaches_every_member_including_the_sender() {
    let journal = Shared::default();
    let mut pair = Pair::listening();
    let mut server = server_with(ServerConfig::default(), &journal);
    let mut a = Peer::new(&mut pair, "/chat", vec![]);
    let mut b = Peer::new(&mut pair, "/chat", vec![]);
    let ok = drive(
        &mut pair,
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_secs(5),
        |_, p| p[0].client.is_open() && p[1].client.is_open(),
    );
    assert!(ok);
    // Let the server register both before anyone speaks.
    drive(
        &mut pair,
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_secs(1),
        |_, _| journal.borrow().opened.len() == 2,
    );
    a.client.send(MessageKind::Text, b"hi all").unwrap();
    let ok = drive(
        &mut pair,
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_secs(5),
        |_, p| !p[0].app.received.is_empty() && !p[1].app.received.is_empty(),
    );
    assert!(ok);
    assert_eq!(a.app.received, [(MessageKind::Text, b"hi all".to_vec())]);
    assert_eq!(b.app.received, [(MessageKind::Text, b"hi all".to_vec())]);
}

/// Empties the client stack's news lists: its connections are all looked at every turn.
fn drain_client_news(net: &mut Net) {
    while net.poll_ready().is_some() {}
    while net.poll_gone().is_some() {}
}

/// Opens a plain TCP connection from the client stack (no WebSocket).
fn raw_connect(pair: &mut Pair, server: &mut Server) -> ConnId {
    let id = pair.client.connect(Pair::server_addr()).unwrap();
    let ok = run_with_server(pair, server, Duration::from_secs(5), |p, server| {
        server.handle(&mut p.server, p.now);
        drain_client_news(&mut p.client);
        p.client.is_established(id)
    });
    assert!(ok, "TCP handshake did not complete");
    id
}

/// Reads from a raw client connection until `enough` says so; returns the bytes, and whether
/// the server closed the connection.
fn raw_read(
    pair: &mut Pair,
    server: &mut Server,
    id: ConnId,
    limit: Duration,
    enough: impl Fn(&[u8]) -> bool,
) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut closed = false;
    let mut buf = [0u8; 4096];
    run_with_server(pair, server, limit, |p, server| {
        server.handle(&mut p.server, p.now);
        drain_client_news(&mut p.client);
        loop {
            match p.client.recv(id, &mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(RecvError::Closed | RecvError::Reset | RecvError::Unknown) => {
                    closed = true;
                    break;
                }
            }
        }
        closed || enough(&got)
    });
    (got, closed)
}

#[test]
fn pipelined_plain_requests_are_answered_in_order_then_refusal_closes() {
    let journal = Shared::default();
    let mut pair = Pair::listening();
    let mut server = server_with(ServerConfig::default(), &journal);
    let id = raw_connect(&mut pair, &mut server);
    let requests = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /missing HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(
        pair.client.send(id, requests.as_bytes()).unwrap(),
        requests.len()
    );
    let (got, closed) = raw_read(&mut pair, &mut server, id, Duration::from_secs(5), |_| {
        false
    });
    let text = String::from_utf8(got).unwrap();
    assert!(closed, "connection not closed after the 404");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.contains("<p>page</p>HTTP/1.1 404 Not Found\r\n"),
        "{text}"
    );
    // The 404 closes the connection: the third request is not answered.
    assert_eq!(text.matches("HTTP/1.1 200").count(), 1, "{text}");
}

#[test]
fn silent_connection_is_dropped_after_the_handshake_timeout() {
    let journal = Shared::default();
    let mut pair = Pair::listening();
    let mut server = server_with(ServerConfig::default(), &journal);
    let id = raw_connect(&mut pair, &mut server);
    let start = pair.now;
    let (got, closed) = raw_read(&mut pair, &mut server, id, Duration::from_secs(9), |_| {
        false
    });
    assert!(!closed && got.is_empty(), "dropped too early");
    let (got, closed) = raw_read(&mut pair, &mut server, id, Duration::from_secs(3), |_| {
        false
    });
    assert!(
        closed && got.is_empty(),
        "not dropped after {:?}",
        pair.now - start
    );
    pair.client.close(id);
    let ok = run_with_server(
        &mut pair,
        &mut server,
        Duration::from_secs(10),
        |p, server| {
            server.handle(&mut p.server, p.now);
            drain_client_news(&mut p.client);
            server.connections() == 0
        },
    );
    assert!(ok, "server still tracks the connection");
}

#[test]
fn slow_chat_reader_is_closed_with_1008_and_others_get_everything() {
    let journal = Shared::default();
    let mut pair = Pair::listening();
    let config = ServerConfig {
        queue_limit: 256 * 1024,
        ..ServerConfig::default()
    };
    let mut server = server_with(config, &journal);
    let mut fast = open_peer(&mut pair, &mut server, &journal, "/chat");
    let mut slow = open_peer(&mut pair, &mut server, &journal, "/chat");
    let slow_id = journal.borrow().opened[1];
    // From now on `slow` is not driven: its stack still ACKs, but nobody reads, so its window
    // closes, the server's send buffer fills, then the server's queue for it.
    let message = pattern(16 * 1024, 3);
    const COUNT: usize = 100;
    let mut sent = 0;
    let ok = drive(
        &mut pair,
        &mut server,
        &mut [&mut fast],
        Duration::from_secs(60),
        |_, p| {
            if sent < COUNT && p[0].app.received.len() == sent {
                // One at a time, so only the slow reader can fall behind.
                sent += 1;
                if let Err(e) = p[0].client.send(MessageKind::Binary, &message) {
                    panic!(
                        "fast send #{sent}: {e:?}; fast ended {:?}, server saw {:?}",
                        p[0].ended,
                        journal.borrow().closed
                    );
                }
            }
            p[0].app.received.len() == COUNT
        },
    );
    assert!(ok, "fast member got {} of {COUNT}", fast.app.received.len());
    assert!(fast.app.received.iter().all(|(_, m)| *m == message));
    assert_eq!(journal.borrow().closed, [(slow_id, CloseCode::POLICY)]);

    // When it finally reads, the slow member gets what was queued before the refusal, then 1008.
    let ok = drive(
        &mut pair,
        &mut server,
        &mut [&mut fast, &mut slow],
        Duration::from_secs(30),
        |_, p| p[1].ended.is_some(),
    );
    assert!(ok);
    assert_eq!(slow.ended, Some(CloseCode::POLICY));
    assert!(
        !slow.app.received.is_empty() && slow.app.received.len() < COUNT,
        "{}",
        slow.app.received.len()
    );
    assert!(slow.app.received.iter().all(|(_, m)| *m == message));
}

#[test]
fn shutdown_closes_websockets_with_1001() {
    let journal = Shared::default();
    let mut pair = Pair::listening();
    let mut server = server_with(ServerConfig::default(), &journal);
    let mut a = Peer::new(&mut pair, "/echo", vec![]);
    let mut b = Peer::new(&mut pair, "/chat", vec![]);
    let ok = drive(
        &mut pair,
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_secs(5),
        |_, _| journal.borrow().opened.len() == 2,
    );
    assert!(ok);
    server.shutdown(&mut pair.server, pair.now);
    let ok = drive(
        &mut pair,
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_secs(5),
        |server, p| p.iter().all(|p| p.ended.is_some()) && server.connections() == 0,
    );
    assert!(ok, "{:?} {:?} {}", a.ended, b.ended, server.connections());
    assert_eq!(
        (a.ended, b.ended),
        (Some(CloseCode::GOING_AWAY), Some(CloseCode::GOING_AWAY))
    );
}

#[test]
fn message_over_max_message_is_refused_with_1009() {
    let journal = Shared::default();
    let mut pair = Pair::listening();
    let mut server = server_with(
        ServerConfig {
            max_message: 1000,
            ..ServerConfig::default()
        },
        &journal,
    );
    let mut peer = Peer::new(
        &mut pair,
        "/echo",
        vec![
            (MessageKind::Binary, vec![1; 1000]),
            (MessageKind::Binary, vec![2; 1001]),
        ],
    );
    let ok = drive(
        &mut pair,
        &mut server,
        &mut [&mut peer],
        Duration::from_secs(10),
        |_, p| p[0].ended.is_some(),
    );
    assert!(ok);
    assert_eq!(peer.app.received, [(MessageKind::Binary, vec![1; 1000])]);
    assert_eq!(peer.ended, Some(CloseCode::TOO_BIG));
    assert_eq!(journal.borrow().closed[0].1, CloseCode::TOO_BIG);
}

#[test]
fn keepalive_pings_idle_clients_and_drops_silent_ones_with_1011() {
    let journal = Shared::default();
    let mut pair = Pair::listening();
    let keepalive = Some(Keepalive {
        idle: ws::Duration::from_secs(2),
        timeout: ws::Duration::from_secs(2),
    });
    let mut server = server_with(
        ServerConfig {
            keepalive,
            ..ServerConfig::default()
        },
        &journal,
    );
    let mut live = open_peer(&mut pair, &mut server, &journal, "/echo");
    let _silent = open_peer(&mut pair, &mut server, &journal, "/echo");
    // `live` answers pings (auto-pong); `silent` is never driven again.
    drive(
        &mut pair,
        &mut server,
        &mut [&mut live],
        Duration::from_secs(20),
        |_, _| false,
    );
    let silent_id = journal.borrow().opened[1];
    assert_eq!(journal.borrow().closed, [(silent_id, CloseCode::INTERNAL)]);
    assert_eq!(live.ended, None);
}

/// permessage-deflate between the client role and the server, both of whom compress: whole
/// messages (/echo) and pieces (/stream, each piece of an inflated message echoed as a frame)
/// come back byte-exact, and a client that does not offer it is served uncompressed.
#[test]
fn deflate_echo_whole_and_streamed_both_ways() {
    let journal = Shared::default();
    let mut pair = Pair::listening();
    let mut server = server_with(
        ServerConfig {
            deflate: Some(DeflatePolicy::default()),
            ..ServerConfig::default()
        },
        &journal,
    );
    let script = vec![
        (MessageKind::Text, "hello, 𝄞 ".repeat(1000).into_bytes()),
        (MessageKind::Binary, Vec::new()),
        (MessageKind::Binary, pattern(1_000_000, 9)),
        (MessageKind::Text, b"last".to_vec()),
    ];
    for (path, offer) in [("/echo", true), ("/stream", true), ("/echo", false)] {
        let config = ClientConfig {
            deflate: offer.then(DeflatePolicy::default),
            ..client_config(path)
        };
        let mut peer = Peer::with_config(&mut pair, config, script.clone());
        echo_all(&mut pair, &mut server, &mut peer, &script);
        assert_eq!(peer.client.deflate().is_some(), offer, "{path}");
    }
}

#[test]
fn streaming_echo_keeps_message_boundaries_and_types() {
    let journal = Shared::default();
    let mut pair = Pair::listening();
    let mut server = server_with(ServerConfig::default(), &journal);
    let script = vec![
        (MessageKind::Binary, pattern(1_000_000, 9)),
        (MessageKind::Text, "é".repeat(50_000).into_bytes()),
        (MessageKind::Binary, Vec::new()),
        (MessageKind::Text, b"last".to_vec()),
    ];
    let mut peer = Peer::new(&mut pair, "/stream", script.clone());
    echo_all(&mut pair, &mut server, &mut peer, &script);
}

/// Runs until `peer` has received as many messages as `script` holds (at most 30 s), and
/// checks they are the script's.
fn echo_all(
    pair: &mut Pair,
    server: &mut Server,
    peer: &mut Peer,
    script: &[(MessageKind, Vec<u8>)],
) {
    let ok = drive(
        pair,
        server,
        &mut [&mut *peer],
        Duration::from_secs(30),
        |_, p| p[0].app.received.len() == script.len(),
    );
    assert!(
        ok,
        "got {} of {} messages, ended {:?}",
        peer.app.received.len(),
        script.len(),
        peer.ended
    );
    assert_eq!(peer.app.received, script);
}

#[test]
fn frames_sent_with_the_upgrade_request_are_not_lost() {
    let journal = Shared::default();
    let mut pair = Pair::listening();
    let mut server = server_with(ServerConfig::default(), &journal);
    let id = raw_connect(&mut pair, &mut server);
    let mut bytes =
        b"GET /stream HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .to_vec();
    // RFC 6455 §5.7: a masked "Hello", in the same segment as the request.
    bytes.extend_from_slice(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    assert_eq!(pair.client.send(id, &bytes).unwrap(), bytes.len());
    let echo: &[u8] = &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o'];
    let (got, _) = raw_read(&mut pair, &mut server, id, Duration::from_secs(5), |got| {
        got.ends_with(echo)
    });
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{text}"
    );
    assert!(text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{text}");
    assert!(got.ends_with(echo), "{got:?}");
}

#[test]
fn peer_reset_frees_the_connection_and_reports_1006() {
    let journal = Shared::default();
    let mut pair = Pair::listening();
    let mut server = server_with(ServerConfig::default(), &journal);
    let peer = open_peer(&mut pair, &mut server, &journal, "/echo");
    pair.client.abort(peer.client.id());
    let ok = run_with_server(
        &mut pair,
        &mut server,
        Duration::from_secs(5),
        |p, server| {
            server.handle(&mut p.server, p.now);
            drain_client_news(&mut p.client);
            server.connections() == 0
        },
    );
    assert!(
        ok,
        "server still tracks {} connection(s)",
        server.connections()
    );
    let id = journal.borrow().opened[0];
    assert_eq!(journal.borrow().closed, [(id, CloseCode::ABNORMAL)]);
}

#[test]
fn stats_answers_one_line_of_json_counting_the_asking_connection() {
    let journal = Shared::default();
    let mut pair = Pair::listening();
    let config = ServerConfig {
        stats: true,
        ..ServerConfig::default()
    };
    let mut server = server_with(config, &journal);
    let _chat = open_peer(&mut pair, &mut server, &journal, "/chat");
    let id = raw_connect(&mut pair, &mut server);
    let request = "GET /stats HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(
        pair.client.send(id, request.as_bytes()).unwrap(),
        request.len()
    );
    let (got, closed) = raw_read(&mut pair, &mut server, id, Duration::from_secs(5), |got| {
        got.ends_with(b"}\n")
    });
    let text = String::from_utf8(got).unwrap();
    assert!(!closed, "keep-alive honoured: {text}");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{text}"
    );
    let body = text.split("\r\n\r\n").nth(1).unwrap();
    for field in [
        "\"connections\":2,",
        "\"established\":2,",
        "\"handshaking\":0,",
        "\"sources\":1,",
        "\"server_connections\":2,",
        "\"websockets\":1,",
    ] {
        assert!(body.contains(field), "{field} missing in {body}");
    }
    assert_eq!(server.websockets(), 1);
}

/// Keepalive vs backpressure: a peer that sent one big message and now reads its echo slowly
/// sends nothing for far longer than idle + timeout (60 s by default), and our keepalive Ping
/// waits behind the echo, so it cannot answer before it has read the echo. It acknowledges our
/// data all along: it must not get 1011. A peer that is truly silent next to it still does.
#[test]
fn a_slow_reader_of_a_long_echo_is_not_failed_by_the_keepalive() {
    const LEN: usize = 512 * 1024;
    /// Bytes the slow reader takes per second of simulated time: its 64 KiB receive buffer
    /// takes 16 s to read, well within the keepalive's 30 s once the Ping is in it.
    const RATE: u64 = 4 * 1024;
    let journal = Shared::default();
    let mut pair = Pair::listening();
    let mut server = server_with(ServerConfig::default(), &journal);
    let _silent = open_peer(&mut pair, &mut server, &journal, "/echo");
    let id = raw_connect(&mut pair, &mut server);
    let mut request = b"GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n"
        .to_vec();
    // One masked binary frame (64-bit length), mask key 0 so the payload goes as is.
    let payload = pattern(LEN, 3);
    request.extend_from_slice(&[0x82, 0x80 | 127]);
    request.extend_from_slice(&(LEN as u64).to_be_bytes());
    request.extend_from_slice(&[0; 4]);
    request.extend_from_slice(&payload);
    let mut echo = vec![0x82, 127];
    echo.extend_from_slice(&(LEN as u64).to_be_bytes());
    echo.extend_from_slice(&payload);

    let start = pair.now;
    let (mut sent, mut got) = (0, Vec::new());
    let mut echoed_at = None;
    let mut pong_at = None;
    let mut buf = vec![0u8; 4096];
    let done = run_with_server(
        &mut pair,
        &mut server,
        Duration::from_secs(400),
        |p, server| {
            server.handle(&mut p.server, p.now);
            drain_client_news(&mut p.client);
            if sent < request.len() {
                sent += p.client.send(id, &request[sent..]).unwrap();
            }
            let allowed = ((p.now - start).total_millis() * RATE / 1000) as usize;
            while got.len() < allowed {
                let want = (allowed - got.len()).min(buf.len());
                match p.client.recv(id, &mut buf[..want]) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => panic!(
                        "the slow reader's connection ended at {}: {e}; last bytes {:?}",
                        p.now - start,
                        &got[got.len().saturating_sub(12)..]
                    ),
                }
            }
            let head_len = got.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
            let Some(rest) = head_len.and_then(|h| got.get(h..)) else {
                return false;
            };
            if rest.len() >= echo.len() {
                assert_eq!(&rest[..echo.len()], echo, "the echo");
                echoed_at.get_or_insert(p.now);
            }
            // Then the keepalive Ping that waited behind the echo: answer it like any client.
            if let (None, Some(&[0x89, 0])) = (pong_at, rest.get(echo.len()..echo.len() + 2)) {
                assert_eq!(p.client.send(id, &[0x8a, 0x80, 0, 0, 0, 0]), Ok(6));
                pong_at = Some(p.now);
            }
            pong_at.is_some_and(|at| p.now >= at + Duration::from_secs(40))
        },
    );
    let silent = journal.borrow().opened[0];
    let echoed = echoed_at.map(|at| at - start);
    assert!(
        done,
        "no Ping after the echo (echo complete after {echoed:?}, {} bytes read)",
        got.len()
    );
    assert!(
        echoed > Some(Duration::from_secs(90)),
        "the echo took long enough to outlast the keepalive: {echoed:?}"
    );
    assert_eq!(
        journal.borrow().closed,
        [(silent, CloseCode::INTERNAL)],
        "only the silent peer was failed by the keepalive"
    );
}

/// A `/trace` viewer that stops reading loses events (counted, then marked `lost` in what it
/// reads next) while the echo it watches goes on at full speed: a slow viewer never slows the
/// stack. Scope `all`, so the echo connection (no token) is shown.
#[test]
fn a_trace_viewer_that_stops_reading_loses_events_and_never_stalls_the_echo() {
    use stack::watch::{Scope, Tap, app::TraceApp};
    let journal = Shared::default();
    let tap = Tap::new(Scope::All);
    let server_net = stack::NetConfig {
        watch: Some(tap.clone()),
        ..config(SERVER_IP)
    };
    let mut pair = Pair::new(server_net, config(CLIENT_IP));
    pair.server.listen(PORT).unwrap();
    let mut server = server_with(ServerConfig::default(), &journal);
    server.route("/trace", Box::new(TraceApp::new(tap.clone())));

    let mut viewer = Peer::new(
        &mut pair,
        "/trace",
        vec![(MessageKind::Text, b"watch".to_vec())],
    );
    let said_hello = |p: &[&mut Peer]| {
        p[0].app
            .received
            .first()
            .is_some_and(|(_, m)| m.starts_with(br#"[{"type":"hello""#))
    };
    let ok = drive(
        &mut pair,
        &mut server,
        &mut [&mut viewer],
        Duration::from_secs(5),
        |_, p| said_hello(p),
    );
    assert!(ok && tap.is_watched(), "the viewer was not subscribed");

    // The viewer stops reading; 10000 echoes (about 5 MB of events) go through regardless.
    let script: Vec<_> = (0..10_000)
        .map(|i| {
            (
                MessageKind::Text,
                format!("message {i:04} {}", "x".repeat(80)).into_bytes(),
            )
        })
        .collect();
    let mut echo = Peer::new(&mut pair, "/echo", script.clone());
    let ok = drive(
        &mut pair,
        &mut server,
        &mut [&mut echo],
        Duration::from_secs(30),
        |_, p| p[0].app.received.len() == script.len(),
    );
    assert!(
        ok,
        "echo stalled behind a viewer that does not read: {} of 10000",
        echo.app.received.len()
    );
    assert_eq!(echo.app.received, script);

    // Once it reads again it learns how many events it lost, then gets new ones.
    let lost = |p: &[&mut Peer]| {
        let marker = br#"{"type":"lost","count":"#;
        p[0].app
            .received
            .iter()
            .any(|(_, m)| m.windows(marker.len()).any(|w| w == marker))
    };
    let ok = drive(
        &mut pair,
        &mut server,
        &mut [&mut viewer, &mut echo],
        Duration::from_secs(30),
        |_, p| lost(p),
    );
    assert!(
        ok,
        "no lost marker after {} messages",
        viewer.app.received.len()
    );
    let shown: usize = viewer.app.received.iter().map(|(_, m)| m.len()).sum();
    assert!(
        shown > 64 * 1024,
        "the viewer got only {shown} bytes of events"
    );
}

// ---- Engine.IO mounts (server/mount.rs): one session over several connections ----

/// A server with the bare Engine.IO echo on `/engine.io/`: heartbeat 300 ms / 200 ms,
/// `maxPayload` 1000 bytes.
fn engine_io_server() -> Server {
    let journal = Shared::default();
    let mut server = server_with(ServerConfig::default(), &journal);
    let config = sio::engine::Config {
        ping_interval: ws::Duration::from_millis(300),
        ping_timeout: ws::Duration::from_millis(200),
        max_payload: 1000,
        max_buffered: 1 << 20,
    };
    server.mount("/engine.io/", Box::new(EngineEcho::new(config).unwrap()));
    server
}

/// Whether `bytes` hold a whole HTTP response (head and the `Content-Length` body).
fn whole_response(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    body.len() >= length
}

/// Sends `request` on `id` and returns the whole response.
fn exchange(pair: &mut Pair, server: &mut Server, id: ConnId, request: &[u8]) -> String {
    assert_eq!(pair.client.send(id, request).unwrap(), request.len());
    let (got, _) = raw_read(pair, server, id, Duration::from_secs(2), whole_response);
    String::from_utf8(got).unwrap()
}

/// Opens a polling session with a handshake on `id`; its sid.
fn open_session(pair: &mut Pair, server: &mut Server, id: ConnId) -> String {
    let open = exchange(
        pair,
        server,
        id,
        engine_io_request("GET", None, "").as_bytes(),
    );
    assert!(open.starts_with("HTTP/1.1 200 OK\r\n"), "{open}");
    let sid = open
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next());
    sid.unwrap_or_else(|| panic!("no sid in {open}"))
        .to_string()
}

fn engine_io_request(method: &str, sid: Option<&str>, body: &str) -> String {
    let sid = sid.map_or(String::new(), |s| format!("&sid={s}"));
    format!(
        "{method} /engine.io/?EIO=4&transport=polling{sid} HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn engine_io_polling_session_spans_connections_and_keeps_them_alive() {
    let mut pair = Pair::listening();
    let mut server = engine_io_server();
    let a = raw_connect(&mut pair, &mut server);
    let b = raw_connect(&mut pair, &mut server);
    let sid = open_session(&mut pair, &mut server, a);

    // A poll on b is held: nothing to send yet.
    let poll = engine_io_request("GET", Some(&sid), "");
    assert_eq!(pair.client.send(b, poll.as_bytes()).unwrap(), poll.len());
    let (held, closed) = raw_read(&mut pair, &mut server, b, Duration::from_millis(100), |g| {
        !g.is_empty()
    });
    assert!(
        held.is_empty() && !closed,
        "{}",
        String::from_utf8_lossy(&held)
    );

    // A POST on a (kept alive), its body in two segments: "ok", and the held poll gets the echo.
    let post = engine_io_request("POST", Some(&sid), "4hello");
    let (first, second) = post.split_at(post.len() - 3);
    pair.client.send(a, first.as_bytes()).unwrap();
    let (nothing, _) = raw_read(&mut pair, &mut server, a, Duration::from_millis(50), |g| {
        !g.is_empty()
    });
    assert!(nothing.is_empty(), "answered before the whole body came");
    let ok = exchange(&mut pair, &mut server, a, second.as_bytes());
    assert!(
        ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.ends_with("\r\n\r\nok"),
        "{ok}"
    );
    let (echo, _) = raw_read(
        &mut pair,
        &mut server,
        b,
        Duration::from_secs(1),
        whole_response,
    );
    let echo = String::from_utf8(echo).unwrap();
    assert!(
        echo.starts_with("HTTP/1.1 200 OK\r\n") && echo.ends_with("\r\n\r\n4hello"),
        "{echo}"
    );
    assert!(echo.contains("Connection: keep-alive"), "{echo}");

    // The next poll on b is held until the ping (300 ms after the handshake).
    let ping = exchange(&mut pair, &mut server, b, poll.as_bytes());
    assert!(ping.ends_with("\r\n\r\n2"), "{ping}");

    // A poll held on a whose client goes away ends the session: the next poll on b is refused.
    pair.client.send(a, poll.as_bytes()).unwrap();
    let _ = raw_read(&mut pair, &mut server, a, Duration::from_millis(50), |g| {
        !g.is_empty()
    });
    pair.client.close(a);
    let _ = raw_read(
        &mut pair,
        &mut server,
        a,
        Duration::from_millis(200),
        |_| false,
    );
    let refused = exchange(&mut pair, &mut server, b, poll.as_bytes());
    assert!(refused.starts_with("HTTP/1.1 400 "), "{refused}");
    assert!(
        refused.ends_with(r#"{"code":1,"message":"Session ID unknown"}"#),
        "{refused}"
    );
}

#[test]
fn engine_io_body_over_max_payload_is_413_and_ends_the_session() {
    let mut pair = Pair::listening();
    let mut server = engine_io_server();
    let a = raw_connect(&mut pair, &mut server);
    let sid = open_session(&mut pair, &mut server, a);
    let big = format!("4{}", "x".repeat(1000));
    let b = raw_connect(&mut pair, &mut server);
    let post = engine_io_request("POST", Some(&sid), &big);
    pair.client.send(b, post.as_bytes()).unwrap();
    let (answer, closed) = raw_read(&mut pair, &mut server, b, Duration::from_secs(2), |_| false);
    let answer = String::from_utf8(answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 413 Content Too Large\r\n"),
        "{answer}"
    );
    assert!(closed, "the connection with the unread body is closed");
    let refused = exchange(
        &mut pair,
        &mut server,
        a,
        engine_io_request("GET", Some(&sid), "").as_bytes(),
    );
    assert!(
        refused.ends_with(r#"{"code":1,"message":"Session ID unknown"}"#),
        "{refused}"
    );
}

/// A reply is written straight into the TCP send buffer while nothing waits before it: a
/// small one leaves nothing queued; of one larger than the buffer only the rest is queued, and
/// it still arrives whole.
#[test]
fn replies_go_straight_into_the_send_buffer_and_only_the_rest_is_queued() {
    let journal = Shared::default();
    let mut pair = Pair::listening();
    let mut server = server_with(ServerConfig::default(), &journal);
    let queued = Rc::new(RefCell::new(Vec::new()));
    server.route("/probe", Box::new(QueueProbeApp(queued.clone())));
    let script = vec![
        (MessageKind::Text, b"small".to_vec()),
        (MessageKind::Binary, pattern(300_000, 5)),
    ];
    let mut peer = Peer::new(&mut pair, "/probe", script.clone());
    let ok = drive(
        &mut pair,
        &mut server,
        &mut [&mut peer],
        Duration::from_secs(20),
        |_, peers| peers[0].app.received.len() == 2,
    );
    assert!(ok, "echo incomplete: {} replies", peer.app.received.len());
    assert_eq!(peer.app.received, script);
    let queued = queued.borrow();
    assert_eq!(queued[0], 0, "a small reply is not queued");
    let buffer = stack::NetConfig::default().tx_buffer;
    // 300,000 bytes and a 10-byte header, less what the empty send buffer took.
    assert!(
        queued[1] > 0 && queued[1] >= 300_010 - buffer,
        "{} bytes queued of a 300 KB reply",
        queued[1]
    );
}
