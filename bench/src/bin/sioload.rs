//! Socket.IO load generator: the same client for every server `scripts/bench.sh --only sio`
//! compares (tunws's `/socket.io/` chat, Node's `socket.io`, socketioxide, all running the chat's
//! handlers). Each client opens an Engine.IO v4 session on the WebSocket transport directly
//! (`?EIO=4&transport=websocket`, as `socket.io-client` with `transports: ["websocket"]`),
//! joins the main namespace (`40`), answers the server's heartbeat (`2` → `3`) and counts what
//! it receives. Modes:
//!
//! - `ack`: each of C clients emits `ping` with an ack id and waits for the ack (`43<id>`),
//!   closed loop: acks/s and round-trip latency.
//! - `broadcast`: C clients; client 0 emits `chat message`, which the server sends to every
//!   client (`io.emit`); at most `--window` messages are in flight (a message is sent once
//!   every client has received all but `window` of the earlier ones): deliveries/s.
//! - `idle`: C sessions opened and left idle: server RSS growth per session.
//!
//! Before measuring, the presence storm of the joins (`user joined` to everyone, C²/2 packets)
//! is drained until it has been quiet for `--settle-ms`. Prints one JSON line, with the server's
//! and the generator's own CPU use over the measured window (a generator near 1.0 is the
//! ceiling). With `--iface`, the packets the server sent and received over the measured window
//! too, from that interface's counters on the generator's side (the TUN, or the clients' end of
//! the veth): its `rx_packets` are the server's output, its `tx_packets` the server's input.
//! Framing is `bench::wsframe`, not the project's `ws`/`sio` crates.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bench::Window;
use bench::stats::{JsonLine, Latencies};
use bench::wsframe::{FrameReader, FrameWriter, Opcode};
use bench::{handshake, procstat};
use clap::{Parser, ValueEnum};
use tokio::sync::{Mutex, Notify, watch};

/// What the clients do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Emit + ack round trips, closed loop on every client.
    Ack,
    /// One client emits `chat message`, the server sends it to every client.
    Broadcast,
    /// Sessions opened and held idle (memory per session).
    Idle,
}

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Socket.IO load generator (Engine.IO v4 over WebSocket, kernel TCP)")]
struct Args {
    /// Server address.
    #[arg(long)]
    server: SocketAddr,
    /// Engine.IO path of the server.
    #[arg(long, default_value = "/socket.io/")]
    path: String,
    /// What the clients do.
    #[arg(long, value_enum, default_value = "ack")]
    mode: Mode,
    /// Number of clients (Socket.IO sessions).
    #[arg(short = 'c', long, default_value_t = 100)]
    connections: usize,
    /// Length of the `chat message` text in broadcast mode, in bytes.
    #[arg(short = 's', long, default_value_t = 32)]
    size: usize,
    /// Broadcast mode: messages in flight (sent but not yet received by every client).
    #[arg(long, default_value_t = 8)]
    window: u64,
    /// Measured seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// The presence storm of the joins counts as drained once quiet this long (ms).
    #[arg(long, default_value_t = 300)]
    settle_ms: u64,
    /// Server process to read CPU time (measured window) and RSS (around the opens) from.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Pin the load generator to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
    /// Sessions set up concurrently while opening.
    #[arg(long, default_value_t = 64)]
    connect_batch: usize,
    /// Free-form label copied into the JSON line.
    #[arg(long, default_value = "")]
    label: String,
    /// Interface between the clients and the server, in the generator's namespace (the TUN
    /// for tunws, the clients' veth end for kernel-TCP servers): packets per message from its
    /// counters over the measured window.
    #[arg(long)]
    iface: Option<String>,
}

/// Packets out of and into the server so far, from the counters of `iface` on the clients'
/// side (what it received came from the server).
fn server_packets(iface: &str) -> Option<(u64, u64)> {
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/sys/class/net/{iface}/statistics/{name}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some((read("rx_packets")?, read("tx_packets")?))
}

/// Counters every client task updates.
#[derive(Default)]
struct Counters {
    /// `user joined` / `user left` packets received.
    presence: Cell<u64>,
    /// `chat message` packets received.
    delivered: Cell<u64>,
    /// The broadcaster may send again once `delivered` reaches this.
    threshold: Cell<u64>,
    /// Wakes the broadcaster at `threshold`.
    progress: Notify,
    errors: Cell<u64>,
    first_error: std::cell::RefCell<Option<String>>,
}

impl Counters {
    fn error(&self, e: impl std::fmt::Display) {
        self.errors.set(self.errors.get() + 1);
        let mut first = self.first_error.borrow_mut();
        if first.is_none() {
            *first = Some(e.to_string());
        }
    }
}

/// One Socket.IO client: its frame reader (owned by its task) and its writer (shared with the
/// broadcaster for client 0).
struct Client {
    reader: FrameReader,
    writer: Rc<Mutex<FrameWriter>>,
}

/// What one server packet is, for the generator.
#[derive(Debug, PartialEq, Eq)]
enum Packet<'a> {
    /// Engine.IO ping: answer `3`.
    Ping,
    /// A Socket.IO ACK on the main namespace, with its id and the rest.
    Ack(u64),
    /// `chat message` to this client.
    Chat,
    /// `user joined` / `user left`.
    Presence,
    /// Anything else (counted nowhere).
    Other(&'a str),
}

fn classify(text: &str) -> Packet<'_> {
    if text == "2" {
        return Packet::Ping;
    }
    if let Some(rest) = text.strip_prefix("43") {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(id) = rest[..digits].parse() {
            return Packet::Ack(id);
        }
    }
    if text.starts_with("42[\"chat message\"") {
        return Packet::Chat;
    }
    if text.starts_with("42[\"user joined\"") || text.starts_with("42[\"user left\"") {
        return Packet::Presence;
    }
    Packet::Other(text)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Reads the next text packet, answering heartbeats and counting presence and chat packets on
/// the way; returns the packets the caller must act on (acks and anything unexpected).
async fn next_packet(client: &mut Client, counters: &Counters) -> io::Result<Option<u64>> {
    loop {
        let (opcode, payload) = client.reader.read().await?;
        match opcode {
            Opcode::Text => {}
            Opcode::Close => return Err(invalid("the server closed the WebSocket".into())),
            Opcode::Binary => return Err(invalid("unexpected binary frame".into())),
            Opcode::Control => continue,
        }
        let text =
            std::str::from_utf8(payload).map_err(|_| invalid("text frame not UTF-8".into()))?;
        match classify(text) {
            Packet::Ping => {
                client.writer.lock().await.send_text(b"3").await?;
            }
            Packet::Presence => counters.presence.set(counters.presence.get() + 1),
            Packet::Chat => {
                let n = counters.delivered.get() + 1;
                counters.delivered.set(n);
                if n == counters.threshold.get() {
                    counters.progress.notify_one();
                }
            }
            Packet::Ack(id) => return Ok(Some(id)),
            Packet::Other(text) if text.starts_with("41") || text.starts_with("44") => {
                return Err(invalid(format!("disconnected by the server: {text}")));
            }
            Packet::Other(_) => {}
        }
    }
}

/// Opens one session: WebSocket upgrade, Engine.IO open packet, Socket.IO CONNECT to `/`.
async fn open(args: &Args, id: u64, counters: &Counters) -> io::Result<Client> {
    let mut stream = bench::connect(args.server).await?;
    let host = args.server.to_string();
    let path = format!("{}?EIO=4&transport=websocket", args.path);
    let rest = handshake::client_keeping_rest(&mut stream, &host, &path, bench::nonce(id)).await?;
    let (read, write) = stream.into_split();
    let mut client = Client {
        reader: FrameReader::new(read, rest),
        writer: Rc::new(Mutex::new(FrameWriter::new(write, id as u32))),
    };
    let (opcode, open) = client.reader.read().await?;
    if opcode != Opcode::Text || !open.starts_with(b"0{") {
        return Err(invalid(format!(
            "expected the Engine.IO open packet, got {:?}",
            String::from_utf8_lossy(open)
        )));
    }
    client.writer.lock().await.send_text(b"40").await?;
    // The CONNECT answer `40{"sid":...}`; presence may come before or after it.
    loop {
        let (opcode, payload) = client.reader.read().await?;
        if opcode != Opcode::Text {
            continue;
        }
        if payload.starts_with(b"40") {
            return Ok(client);
        }
        match classify(&String::from_utf8_lossy(payload)) {
            Packet::Presence => counters.presence.set(counters.presence.get() + 1),
            Packet::Ping => client.writer.lock().await.send_text(b"3").await?,
            other => return Err(invalid(format!("before CONNECT's answer: {other:?}"))),
        }
    }
}

/// Opens `n` sessions, `batch` at a time.
async fn open_many(args: &Rc<Args>, counters: &Rc<Counters>) -> io::Result<Vec<Client>> {
    let n = args.connections;
    let mut all = Vec::with_capacity(n);
    while all.len() < n {
        let k = args.connect_batch.max(1).min(n - all.len());
        let first = all.len();
        let handles: Vec<_> = (0..k)
            .map(|i| {
                let (a, c) = (Rc::clone(args), Rc::clone(counters));
                tokio::task::spawn_local(async move { open(&a, (first + i) as u64, &c).await })
            })
            .collect();
        for h in handles {
            all.push(h.await.map_err(io::Error::other)??);
        }
    }
    Ok(all)
}

/// What a client task measured (ack mode).
#[derive(Default)]
struct Tally {
    acks: u64,
    latencies: Latencies,
}

/// A client's task: drains and answers heartbeats until the window is known, then does its
/// mode's work until the window ends (the receivers read until the process exits).
async fn client_task(
    mut client: Client,
    mode: Mode,
    counters: Rc<Counters>,
    mut start: watch::Receiver<Option<Window>>,
) -> Tally {
    let mut tally = Tally::default();
    let win = loop {
        tokio::select! {
            r = next_packet(&mut client, &counters) => match r {
                Ok(_) => {}
                Err(e) => {
                    counters.error(e);
                    return tally;
                }
            },
            changed = start.changed() => {
                if changed.is_err() {
                    return tally;
                }
                if let Some(win) = *start.borrow() {
                    break win;
                }
            }
        }
    };
    let result = match mode {
        Mode::Ack => ack_loop(&mut client, &counters, win, &mut tally).await,
        Mode::Broadcast | Mode::Idle => loop {
            if let Err(e) = next_packet(&mut client, &counters).await {
                break Err(e);
            }
        },
    };
    if let Err(e) = result {
        counters.error(e);
    }
    tally
}

/// Emit `ping` with an ack id, wait for that ack, repeat until the window ends.
async fn ack_loop(
    client: &mut Client,
    counters: &Counters,
    win: Window,
    tally: &mut Tally,
) -> io::Result<()> {
    let mut id = 0u64;
    let mut packet = String::with_capacity(32);
    loop {
        let sent_at = Instant::now();
        if sent_at >= win.end {
            return Ok(());
        }
        id += 1;
        packet.clear();
        packet.push_str("42");
        packet.push_str(&id.to_string());
        packet.push_str("[\"ping\"]");
        client
            .writer
            .lock()
            .await
            .send_text(packet.as_bytes())
            .await?;
        loop {
            match next_packet(client, counters).await? {
                Some(got) if got == id => break,
                Some(got) => return Err(invalid(format!("ack {got} while waiting for {id}"))),
                None => {}
            }
        }
        let done = Instant::now();
        if win.measures(done) {
            tally.acks += 1;
            tally.latencies.record(done - sent_at);
        }
    }
}

/// Client 0's sending side in broadcast mode: `chat message` with at most `window` messages
/// not yet delivered to every client.
async fn broadcaster(
    writer: Rc<Mutex<FrameWriter>>,
    args: Rc<Args>,
    counters: Rc<Counters>,
    win: Window,
) {
    let clients = args.connections as u64;
    let window = args.window.max(1);
    let packet = format!("42[\"chat message\",\"{}\"]", "x".repeat(args.size));
    let base = counters.delivered.get();
    let mut sent = 0u64;
    while Instant::now() < win.end {
        // Message `sent` may go once every client has all but `window` of the earlier ones.
        while sent < window || counters.delivered.get() - base >= (sent - window + 1) * clients {
            if let Err(e) = writer.lock().await.send_text(packet.as_bytes()).await {
                counters.error(e);
                return;
            }
            sent += 1;
        }
        counters.threshold.set(base + (sent - window + 1) * clients);
        let left = win.end.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left, counters.progress.notified()).await;
    }
}

/// Waits until no presence packet has arrived for `quiet`, at most `limit`.
async fn settle(counters: &Counters, quiet: Duration, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut last = counters.presence.get();
    let mut last_change = Instant::now();
    while last_change.elapsed() < quiet && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = counters.presence.get();
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
    started.elapsed()
}

async fn run(args: Rc<Args>) -> Result<String, String> {
    let counters = Rc::new(Counters::default());
    let rss_before = args.server_pid.and_then(|p| procstat::rss_kib(p).ok());
    let opening = Instant::now();
    let clients = open_many(&args, &counters)
        .await
        .map_err(|e| format!("opening sessions: {e}"))?;
    let open_s = opening.elapsed().as_secs_f64();
    let (start_tx, start_rx) = watch::channel(None);
    let broadcast_writer = clients.first().map(|c| Rc::clone(&c.writer));
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| {
            tokio::task::spawn_local(client_task(
                c,
                args.mode,
                Rc::clone(&counters),
                start_rx.clone(),
            ))
        })
        .collect();
    let settle_s = settle(
        &counters,
        Duration::from_millis(args.settle_ms),
        Duration::from_secs(120),
    )
    .await
    .as_secs_f64();
    let rss_after = args.server_pid.and_then(|p| procstat::rss_kib(p).ok());
    let presence = counters.presence.get();

    let mut json = JsonLine::default()
        .str("label", &args.label)
        .str(
            "mode",
            match args.mode {
                Mode::Ack => "ack",
                Mode::Broadcast => "broadcast",
                Mode::Idle => "idle",
            },
        )
        .num("connections", args.connections as f64)
        .num("size", args.size as f64)
        .num("open_s", open_s)
        .num("settle_s", settle_s)
        .num("presence_packets", presence as f64);
    if let (Some(a), Some(b)) = (rss_before, rss_after) {
        json = json
            .num("server_rss_kib_before", a as f64)
            .num("server_rss_kib", b as f64)
            .num(
                "rss_bytes_per_session",
                (b as f64 - a as f64) * 1024.0 / args.connections.max(1) as f64,
            );
    }

    if args.mode != Mode::Idle {
        let win = Window::after_warmup(args.warmup, args.duration);
        let cpu0 = tokio::task::spawn_local(procstat::cpu_at(args.server_pid, win.measure_from));
        let cpu1 = tokio::task::spawn_local(procstat::cpu_at(args.server_pid, win.end));
        let delivered_at = |at: Instant| {
            let c = Rc::clone(&counters);
            tokio::task::spawn_local(async move {
                tokio::time::sleep_until(at.into()).await;
                c.delivered.get()
            })
        };
        let (d0, d1) = (delivered_at(win.measure_from), delivered_at(win.end));
        let packets_at = |at: Instant| {
            let iface = args.iface.clone();
            tokio::task::spawn_local(async move {
                tokio::time::sleep_until(at.into()).await;
                iface.as_deref().and_then(server_packets)
            })
        };
        let (p0, p1) = (packets_at(win.measure_from), packets_at(win.end));
        let _ = start_tx.send(Some(win));
        let msgs = if args.mode == Mode::Broadcast {
            if let Some(writer) = broadcast_writer {
                tokio::task::spawn_local(broadcaster(
                    writer,
                    Rc::clone(&args),
                    Rc::clone(&counters),
                    win,
                ));
            }
            let (a, b) = (d0.await.unwrap_or(0), d1.await.unwrap_or(0));
            b - a
        } else {
            // A server that stops answering must not hang the run past its end.
            let mut total = Tally::default();
            let limit = win.end + Duration::from_secs(10);
            for task in tasks {
                match tokio::time::timeout_at(limit.into(), task).await {
                    Ok(Ok(t)) => {
                        total.acks += t.acks;
                        total.latencies.merge(t.latencies);
                    }
                    _ => counters.error("an ack loop did not end with the window"),
                }
            }
            json = json.latency(&std::mem::take(&mut total.latencies).summary());
            total.acks
        };
        let (server0, own0) = cpu0.await.unwrap_or_default();
        let (server1, own1) = cpu1.await.unwrap_or_default();
        let secs = args.duration;
        json = json
            .num("duration_s", secs)
            .num("msgs", msgs as f64)
            .num("msgs_per_s", msgs as f64 / secs);
        if let Some(cpu) = procstat::elapsed_between(server0, server1) {
            json = json.num("server_cpu_util", cpu.as_secs_f64() / secs).num(
                "server_cpu_us_per_msg",
                cpu.as_secs_f64() * 1e6 / msgs.max(1) as f64,
            );
        }
        if let (Ok(Some((out0, in0))), Ok(Some((out1, in1)))) = (p0.await, p1.await) {
            let per_msg = |n: u64| n as f64 / msgs.max(1) as f64;
            json = json
                .num("server_packets_out_per_msg", per_msg(out1 - out0))
                .num("server_packets_in_per_msg", per_msg(in1 - in0));
        }
        if let Some(own) = procstat::elapsed_between(own0, own1) {
            // Near 1.0 means the figure is bounded by the generator, not the server.
            json = json.num("loadgen_cpu_util", own.as_secs_f64() / secs);
        }
    }
    json = json.num("errors", counters.errors.get() as f64);
    if let Some(e) = counters.first_error.borrow().as_ref() {
        json = json.str("first_error", e);
    }
    Ok(json.finish())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match bench::run_local(args.cpu, run(Rc::new(args))) {
        Ok(result) => result,
        Err(e) => {
            eprintln!("sioload: {e}");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sioload: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_packets_the_generator_acts_on() {
        assert_eq!(classify("2"), Packet::Ping);
        assert_eq!(classify("4317[]"), Packet::Ack(17));
        assert_eq!(classify("431[null]"), Packet::Ack(1));
        assert_eq!(
            classify("42[\"chat message\",\"x\",\"anonymous\"]"),
            Packet::Chat
        );
        assert_eq!(
            classify("42[\"user joined\",{\"name\":\"a\",\"count\":2}]"),
            Packet::Presence
        );
        assert_eq!(classify("42[\"user left\",{}]"), Packet::Presence);
        assert_eq!(classify("43[]"), Packet::Other("43[]"));
        assert_eq!(classify("6"), Packet::Other("6"));
    }
}
