//! WebSocket load generator: closed-loop echo or connection churn against any echo server.
//!
//! Echo mode: C connections each send one S-byte binary message, wait for the echo, check it byte
//! for byte, and repeat. Connect mode: C workers each loop connect + upgrade + one echo + close.
//! Both print one JSON line. The client is fastwebsockets over kernel TCP on a current-thread
//! tokio runtime (one core, like the servers); see docs/BENCHMARKS.md for what limits it.

use bench::Window;
use bench::stats::{JsonLine, Latencies};
use bench::{handshake, procstat};
use clap::{Parser, ValueEnum};
use fastwebsockets::{FragmentCollector, Frame, OpCode, Payload, Role, WebSocket};
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// What each connection does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Closed-loop request/response echo over long-lived connections.
    Echo,
    /// connect + upgrade + one echo + close, in a loop.
    Connect,
}

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "WebSocket echo load generator (fastwebsockets client, kernel TCP)")]
struct Args {
    /// Server address.
    #[arg(long)]
    server: SocketAddr,
    /// Request path of the echo endpoint.
    #[arg(long, default_value = "/echo")]
    path: String,
    /// Echo or connection churn.
    #[arg(long, value_enum, default_value = "echo")]
    mode: Mode,
    /// Concurrent active connections (echo) or workers (connect).
    #[arg(short = 'c', long, default_value_t = 1)]
    connections: usize,
    /// Message payload size in bytes.
    #[arg(short = 's', long, default_value_t = 32)]
    size: usize,
    /// Idle WebSocket connections opened (and held) before the active ones.
    #[arg(long, default_value_t = 0)]
    idle: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Server process to read CPU time (over the measured window) and RSS (around idle opens) from.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Pin the load generator to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
    /// Connections set up concurrently while opening (a listen backlog larger than this is not
    /// needed by the server under test).
    #[arg(long, default_value_t = 64)]
    connect_batch: usize,
    /// Free-form label copied into the JSON line.
    #[arg(long, default_value = "")]
    label: String,
}

type Ws = FragmentCollector<TcpStream>;

/// What one task measured.
#[derive(Default)]
struct Tally {
    msgs: u64,
    latencies: Latencies,
    errors: u64,
    mismatches: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e.to_string());
        }
    }

    fn merge(&mut self, o: Tally) {
        self.msgs += o.msgs;
        self.latencies.merge(o.latencies);
        self.errors += o.errors;
        self.mismatches += o.mismatches;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }
}

/// Why one echo failed.
enum EchoError {
    Io(String),
    Mismatch(String),
}

fn ws_err(e: fastwebsockets::WebSocketError) -> EchoError {
    EchoError::Io(e.to_string())
}

/// Opens one WebSocket.
async fn open(args: &Args, id: u64) -> io::Result<Ws> {
    let mut stream = bench::connect(args.server).await?;
    let host = args.server.to_string();
    handshake::client(&mut stream, &host, &args.path, bench::nonce(id)).await?;
    let mut ws = WebSocket::after_handshake(stream, Role::Client);
    ws.set_auto_close(true);
    ws.set_max_message_size(args.size.max(1 << 20) * 2);
    Ok(FragmentCollector::new(ws))
}

/// Opens `n` WebSockets, `batch` at a time, ids starting at `first_id`.
async fn open_many(args: &Rc<Args>, first_id: u64, n: usize) -> io::Result<Vec<Ws>> {
    let mut all = Vec::with_capacity(n);
    let mut next = 0;
    while next < n {
        let k = args.connect_batch.max(1).min(n - next);
        let handles: Vec<_> = (0..k)
            .map(|i| {
                let a = Rc::clone(args);
                let id = first_id + (next + i) as u64;
                tokio::task::spawn_local(async move { open(&a, id).await })
            })
            .collect();
        for h in handles {
            all.push(h.await.map_err(io::Error::other)??);
        }
        next += k;
    }
    Ok(all)
}

/// Sends `msg` (masked in a scratch copy: fastwebsockets masks in place) and checks the echo.
async fn echo_once(ws: &mut Ws, msg: &[u8], scratch: &mut Vec<u8>) -> Result<(), EchoError> {
    scratch.clear();
    scratch.extend_from_slice(msg);
    ws.write_frame(Frame::binary(Payload::BorrowedMut(scratch)))
        .await
        .map_err(ws_err)?;
    let frame = ws.read_frame().await.map_err(ws_err)?;
    if frame.opcode != OpCode::Binary {
        return Err(EchoError::Mismatch(format!(
            "echo came back as {:?}",
            frame.opcode
        )));
    }
    if &*frame.payload != msg {
        return Err(EchoError::Mismatch(format!(
            "echo of {} bytes came back as {} different bytes",
            msg.len(),
            frame.payload.len()
        )));
    }
    Ok(())
}

/// A message pattern unique to the connection; each send stamps its sequence number on it.
fn pattern(id: u64, size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u64).wrapping_mul(31).wrapping_add(id) as u8)
        .collect()
}

fn stamp(msg: &mut [u8], seq: u64) {
    let n = msg.len().min(8);
    msg[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
}

/// Closed-loop echo on one connection until the window ends.
async fn echo_loop(mut ws: Ws, id: u64, size: usize, win: Window) -> Tally {
    let mut t = Tally::default();
    let mut msg = pattern(id, size);
    let mut scratch = Vec::with_capacity(size);
    let mut seq = 0u64;
    loop {
        let start = Instant::now();
        if start >= win.end {
            break;
        }
        seq += 1;
        stamp(&mut msg, seq);
        match echo_once(&mut ws, &msg, &mut scratch).await {
            Ok(()) => {
                let done = Instant::now();
                if win.measures(done) {
                    t.msgs += 1;
                    t.latencies.record(done - start);
                }
            }
            Err(EchoError::Mismatch(e)) => {
                t.mismatches += 1;
                t.error(e);
                break;
            }
            Err(EchoError::Io(e)) => {
                t.error(e);
                break;
            }
        }
    }
    // Best effort: a clean close lets the server free the connection at once.
    let _ = ws.write_frame(Frame::close(1000, b"")).await;
    t
}

/// One connect-mode cycle: connect, upgrade, one echo, close handshake, wait for the server's FIN.
async fn connect_cycle(
    args: &Args,
    id: u64,
    msg: &[u8],
    scratch: &mut Vec<u8>,
) -> Result<(), EchoError> {
    let stage = |what: &'static str| {
        move |e: tokio::time::error::Elapsed| EchoError::Io(format!("{what}: {e}"))
    };
    let limit = Duration::from_secs(5);
    let mut ws = tokio::time::timeout(limit, open(args, id))
        .await
        .map_err(stage("connect + upgrade"))?
        .map_err(|e| EchoError::Io(e.to_string()))?;
    tokio::time::timeout(limit, echo_once(&mut ws, msg, scratch))
        .await
        .map_err(stage("echo"))??;
    ws.write_frame(Frame::close(1000, b""))
        .await
        .map_err(ws_err)?;
    let reply = tokio::time::timeout(limit, ws.read_frame())
        .await
        .map_err(stage("close reply"))?
        .map_err(ws_err)?;
    if reply.opcode != OpCode::Close {
        return Err(EchoError::Mismatch(format!(
            "expected Close, got {:?}",
            reply.opcode
        )));
    }
    // The server closes TCP first (RFC 6455 §7.1.1), so TIME-WAIT stays on its side.
    let mut stream = ws.into_inner();
    let mut sink = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut sink)).await {
        Ok(Ok(0)) => Ok(()),
        Ok(Ok(_)) => Err(EchoError::Mismatch("data after the close handshake".into())),
        Ok(Err(e)) => Err(EchoError::Io(e.to_string())),
        Err(_) => Err(EchoError::Io("server did not close TCP within 2 s".into())),
    }
}

async fn connect_loop(args: Rc<Args>, worker: u64, win: Window, ids: Rc<Cell<u64>>) -> Tally {
    let mut t = Tally::default();
    let msg = pattern(worker, args.size);
    let mut scratch = Vec::with_capacity(args.size);
    loop {
        let start = Instant::now();
        if start >= win.end {
            break;
        }
        let id = ids.get();
        ids.set(id + 1);
        match connect_cycle(&args, id, &msg, &mut scratch).await {
            Ok(()) => {
                let done = Instant::now();
                if win.measures(done) {
                    t.msgs += 1;
                    t.latencies.record(done - start);
                }
            }
            Err(EchoError::Mismatch(e)) => {
                t.mismatches += 1;
                t.error(e);
            }
            Err(EchoError::Io(e)) => {
                t.error(e);
                // Do not spin on a server that is gone.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    t
}

async fn run(args: Rc<Args>) -> Result<String, String> {
    let rss_before = args.server_pid.and_then(|p| procstat::rss_kib(p).ok());
    let idle = open_many(&args, 1_000_000, args.idle)
        .await
        .map_err(|e| format!("opening idle connections: {e}"))?;
    let rss_after = args.server_pid.and_then(|p| procstat::rss_kib(p).ok());

    let active = if args.mode == Mode::Echo {
        open_many(&args, 0, args.connections)
            .await
            .map_err(|e| format!("opening connections: {e}"))?
    } else {
        Vec::new()
    };

    let win = Window::after_warmup(args.warmup, args.duration);
    let cpu0 = tokio::task::spawn_local(procstat::cpu_at(args.server_pid, win.measure_from));
    let cpu1 = tokio::task::spawn_local(procstat::cpu_at(args.server_pid, win.end));

    let tasks: Vec<_> = match args.mode {
        Mode::Echo => active
            .into_iter()
            .enumerate()
            .map(|(i, ws)| tokio::task::spawn_local(echo_loop(ws, i as u64, args.size, win)))
            .collect(),
        Mode::Connect => {
            let ids = Rc::new(Cell::new(2_000_000));
            (0..args.connections)
                .map(|w| {
                    tokio::task::spawn_local(connect_loop(
                        Rc::clone(&args),
                        w as u64,
                        win,
                        Rc::clone(&ids),
                    ))
                })
                .collect()
        }
    };
    let mut total = Tally::default();
    for task in tasks {
        total.merge(task.await.map_err(|e| e.to_string())?);
    }
    let (server0, own0) = cpu0.await.unwrap_or_default();
    let (server1, own1) = cpu1.await.unwrap_or_default();
    let cpu = procstat::elapsed_between(server0, server1);
    let own_cpu = procstat::elapsed_between(own0, own1);
    drop(idle);

    let secs = args.duration;
    let mut json = JsonLine::default()
        .str("label", &args.label)
        .str(
            "mode",
            if args.mode == Mode::Echo {
                "echo"
            } else {
                "connect"
            },
        )
        .num("connections", args.connections as f64)
        .num("size", args.size as f64)
        .num("idle", args.idle as f64)
        .num("duration_s", secs)
        .num("msgs", total.msgs as f64)
        .num("msgs_per_s", total.msgs as f64 / secs)
        .num(
            "mib_per_s",
            total.msgs as f64 * args.size as f64 / secs / (1024.0 * 1024.0),
        )
        .num("errors", total.errors as f64)
        .num("mismatches", total.mismatches as f64);
    let summary = std::mem::take(&mut total.latencies).summary();
    json = json.latency(&summary);
    if let Some(cpu) = cpu {
        json = json
            .num("server_cpu_s", cpu.as_secs_f64())
            .num("server_cpu_util", cpu.as_secs_f64() / secs)
            .num(
                "server_cpu_us_per_msg",
                cpu.as_secs_f64() * 1e6 / total.msgs.max(1) as f64,
            );
    }
    if let Some(own) = own_cpu {
        // Near 1.0 means the figure is bounded by the load generator, not the server.
        json = json.num("loadgen_cpu_util", own.as_secs_f64() / secs);
    }
    if let (Some(a), Some(b)) = (rss_before, rss_after) {
        json = json
            .num("server_rss_kib_before_idle", a as f64)
            .num("server_rss_kib", b as f64);
        if args.idle > 0 {
            json = json.num(
                "rss_bytes_per_idle",
                (b as f64 - a as f64) * 1024.0 / args.idle as f64,
            );
        }
    }
    if let Some(e) = &total.first_error {
        json = json.str("first_error", e);
    }
    if total.mismatches > 0 {
        return Err(json.finish());
    }
    Ok(json.finish())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match bench::run_local(args.cpu, run(Rc::new(args))) {
        Ok(result) => result,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(line) if line.starts_with('{') => {
            // Mismatched echoes: the figures are printed but the run is a failure.
            println!("{line}");
            eprintln!("loadgen: echo verification failed");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
