//! `tunws sim`: the TCP handshake, the WebSocket upgrade and a short chat entirely in memory.
//!
//! Two stacks wired back to back on a virtual clock (`stack::device::memory`): the client
//! (10.0.0.1, the stack's client role, in place of the kernel) and the server (10.0.0.2, the
//! same `Server` with the same `/chat` and `/echo` apps that `tunws` runs over a TUN). Only the
//! server is traced, as `tunws --trace` traces only itself: its packet lines come from the same
//! trace layer and its state, HTTP and frame lines from the same log calls. Time starts at zero
//! and jumps from timer to timer; the ISNs and the losses come from fixed seeds; so the same
//! options print the same bytes every run. With `--loss`, the wire between them drops packets
//! and says so in `lost` lines ([`wire`]). (The client's handshake nonce and masking keys stay random, as RFC 6455
//! asks; they change bytes on the wire, never a length or a line printed here.)

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use stack::client::{Client, ClientApp, ClientConfig, Sender};
use stack::device::memory;
use stack::middleware::{Chain, trace::Trace};
use stack::server::{Server, ServerConfig};
use stack::{Duration, Instant, Net, NetConfig};
use ws::{CloseCode, MessageKind};

use crate::cli::SimArgs;
use crate::{chat, ladder};

mod wire;

const CLIENT_IP: [u8; 4] = [10, 0, 0, 1];
const SERVER_IP: [u8; 4] = [10, 0, 0, 2];
const PORT: u16 = 8080;
/// The MTU of the in-memory link: the TUN default, so segment sizes match a real run.
const MTU: usize = 1500;
/// A run that has not ended by then (virtual time) is reported as stuck.
const LIMIT: Duration = Duration::from_secs(120);
/// After both ends are done, time for the last ACKs and state changes to show.
const TAIL: Duration = Duration::from_secs(1);

/// Lines in the order they were printed: the server's trace layer and its log.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn push(&self, line: String) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }
}

/// The trace layer's writer: each write is one whole line (see `middleware::trace`).
struct LineSink(Lines);

impl Write for LineSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.push(text.trim_end_matches('\n').to_string());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Set while the server side runs, so only its log lines are kept (tunws traces itself only).
static SERVER_TURN: AtomicBool = AtomicBool::new(false);

/// The log for the run: the server's info lines, message only (no wall-clock time).
struct SimLogger(Lines);

impl log::Log for SimLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) && SERVER_TURN.load(Ordering::Relaxed) {
            self.0.push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

/// The client's side of the chat: sends each message once the previous one came back.
struct Talker {
    to_send: VecDeque<String>,
}

impl Talker {
    fn next(&mut self, out: &mut Sender<'_>) {
        match self.to_send.pop_front() {
            Some(text) => {
                // Only fails once closing, which this app starts only after the last message.
                let _ = out.send(MessageKind::Text, text.as_bytes());
            }
            None => out.close(CloseCode::NORMAL, "bye"),
        }
    }
}

impl ClientApp for Talker {
    fn on_open(&mut self, out: &mut Sender<'_>) {
        self.next(out);
    }
    fn on_message(&mut self, out: &mut Sender<'_>, _kind: MessageKind, _data: &[u8]) {
        self.next(out);
    }
}

fn net_config(ip: [u8; 4]) -> NetConfig {
    NetConfig {
        addr: stack::config::cidr(ip.into(), 24),
        ..NetConfig::default()
    }
}

/// Runs the exchange and prints the trace, then the ladder, to stdout.
pub fn run(args: &SimArgs) -> io::Result<std::process::ExitCode> {
    let lines = Lines::default();
    log::set_boxed_logger(Box::new(SimLogger(lines.clone())))
        .map_err(|e| io::Error::other(format!("cannot install the log: {e}")))?;
    log::set_max_level(log::LevelFilter::Info);

    let result = exchange(args, &lines);
    let lines = std::mem::take(&mut *lines.0.lock().unwrap_or_else(PoisonError::into_inner));
    let mut stdout = io::stdout().lock();
    for line in &lines {
        writeln!(stdout, "{line}")?;
    }
    writeln!(stdout)?;
    write!(stdout, "{}", ladder::render(&lines))?;
    match result {
        Ok(code) => {
            writeln!(stdout, "\nclosed with {code}")?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Err(e) => {
            writeln!(stdout, "\nfailed: {e}")?;
            Ok(std::process::ExitCode::FAILURE)
        }
    }
}

/// The client connects to /chat and talks; returns the close code the client saw.
fn exchange(args: &SimArgs, lines: &Lines) -> Result<CloseCode, String> {
    let (server_link, client_link) = memory::pair(MTU);
    let mut now = Instant::ZERO;
    let server_config = NetConfig {
        trace: true,
        // The server's impairment stage delays both directions, as `tunws --delay` does.
        delay: Duration::from_millis(u64::from(args.delay)),
        ..net_config(SERVER_IP)
    };
    let mut server_net = Net::with_link_seeded(Box::new(server_link), &server_config, now, 1)
        .map_err(|e| e.to_string())?;
    // The trace layer as --trace builds it, writing into our line list instead of stderr.
    let mut chain = Chain::new();
    chain.push(Box::new(Trace::new(Box::new(LineSink(lines.clone())))));
    *server_net.middleware_mut() = chain;
    let clock = Arc::new(AtomicI64::new(0));
    let wire = wire::LossyWire::new(
        client_link,
        args.loss,
        args.loss_seed,
        lines.clone(),
        clock.clone(),
    );
    let mut client_net = Net::with_link_seeded(Box::new(wire), &net_config(CLIENT_IP), now, 2)
        .map_err(|e| e.to_string())?;

    let mut server = Server::new(ServerConfig {
        trace: true,
        ..ServerConfig::default()
    });
    server.route("/echo", Box::new(stack::server::Echo));
    server.route("/chat", Box::new(chat::Chat::default()));
    server_net.listen(PORT).map_err(|e| e.to_string())?;

    let messages = if args.messages.is_empty() {
        vec!["hello".to_string(), "how are you?".to_string()]
    } else {
        args.messages.clone()
    };
    let mut talker = Talker {
        to_send: messages.into(),
    };
    let remote = SocketAddr::from((SERVER_IP, PORT));
    let mut client = Client::connect(
        &mut client_net,
        ClientConfig {
            remote,
            host: remote.to_string(),
            path: "/chat".into(),
            origin: None,
            max_message: stack::DEFAULT_MAX_MESSAGE,
            trace: false,
            // The simulation shows readable frames.
            deflate: None,
        },
        now,
    )
    .map_err(|e| e.to_string())?;

    let mut code = None;
    let mut end = None;
    loop {
        clock.store(now.total_micros(), Ordering::Relaxed);
        // Turn both sides until nothing moves at this instant.
        for _ in 0..64 {
            let mut active = client_net.poll(now);
            // The client looks at its one connection each turn; readiness news is not needed
            // (as in the client role's own loop).
            while client_net.poll_gone().is_some() {}
            while client_net.poll_ready().is_some() {}
            SERVER_TURN.store(true, Ordering::Relaxed);
            active |= server_net.poll(now);
            server.handle(&mut server_net, now);
            SERVER_TURN.store(false, Ordering::Relaxed);
            if code.is_none() {
                code = client
                    .handle(&mut client_net, now, &mut talker)
                    .map_err(|e| e.to_string())?;
            }
            let queued = [client_net.poll_delay(now), server_net.poll_delay(now)]
                .contains(&Some(Duration::ZERO));
            if !active && !queued {
                break;
            }
        }
        if end.is_none() && code.is_some() && server.connections() == 0 {
            end = Some(now + TAIL);
        }
        if end.is_some_and(|end| now >= end) {
            return code.ok_or_else(|| "no close code".to_string());
        }
        if now >= Instant::ZERO + LIMIT {
            return Err(format!(
                "the exchange did not finish within {} s of virtual time",
                LIMIT.total_millis() / 1000
            ));
        }
        let client_delay = if code.is_none() {
            client.poll_delay(now)
        } else {
            None
        };
        let step = [
            client_net.poll_delay(now),
            server_net.poll_delay(now),
            server.poll_delay(now),
            client_delay,
            end.map(|end| end - now),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(Duration::from_millis(100));
        // Never stand still: a zero left after 64 turns would otherwise spin.
        now += step.max(Duration::from_micros(1));
    }
}
