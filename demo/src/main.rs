//! `tunws`: the command-line program. Parses the command line, sets up logging and signals,
//! opens the userspace stack on the TUN device and runs the server or the client role.

mod chat;
mod cli;
mod client;
mod ladder;
mod signals;
mod sim;
mod socketio_chat;
mod socketio_suite;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use stack::server::{EngineEcho, Page, Server, ServerConfig, SocketIo};
use stack::{Net, NetConfig};
use ws::deflate::DeflatePolicy;
use ws::{Duration, Keepalive};

use cli::{Cidr, Cli, Command, ServerArgs, TraceWeb, TunArgs};
use stack::watch::{Scope, TRACE_PATH, Tap, app::TraceApp};

/// The chat page served on `GET /`, embedded so the binary is self-contained.
const CHAT_PAGE: &str = include_str!("chat.html");
/// The packet ladder panel of the chat page (plain JS and CSS, no build step).
const LADDER_JS: &str = include_str!("ladder.js");
const LADDER_CSS: &str = include_str!("ladder.css");

/// The page's transport switch and Socket.IO mode (`/chat-socketio.js`), kept apart from the
/// page's own script.
const CHAT_SOCKETIO_JS: &str = include_str!("chat-socketio.js");

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        // Neither needs a TUN, signals or env_logger; sim installs a log of its own (virtual
        // time), so their errors go to stderr directly.
        Some(Command::Sim(args)) => report(sim::run(&args), |e| eprintln!("tunws: {e}")),
        Some(Command::Ladder(args)) => report(draw_ladder(&args), |e| eprintln!("tunws: {e}")),
        online => {
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
                .init();
            if let Err(e) = signals::install() {
                log::error!("cannot install the SIGINT/SIGTERM handler: {e}");
                return ExitCode::FAILURE;
            }
            let result = match online {
                Some(Command::Client(args)) => client::run(&args),
                _ => serve(&cli.server),
            };
            report(result, |e| log::error!("{e}"))
        }
    }
}

/// The exit code of a run, its error written by `log`.
fn report(result: io::Result<ExitCode>, log: impl FnOnce(&io::Error)) -> ExitCode {
    result.unwrap_or_else(|e| {
        log(&e);
        ExitCode::FAILURE
    })
}

/// `tunws ladder [FILE]`: the diagram of a trace log.
fn draw_ladder(args: &cli::LadderArgs) -> io::Result<ExitCode> {
    let bytes = match &args.file {
        Some(path) => std::fs::read(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?,
        None => {
            let mut bytes = Vec::new();
            io::Read::read_to_end(&mut io::stdin(), &mut bytes)?;
            bytes
        }
    };
    // A log may hold anything (a request line is logged as received): draw what parses.
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    io::stdout().write_all(ladder::render(&lines).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn stack_cidr(cidr: Cidr) -> stack::IpCidr {
    stack::config::cidr(cidr.addr, cidr.prefix)
}

/// The stack configuration shared by both roles.
fn net_config(tun: &TunArgs, max_connections: usize) -> NetConfig {
    NetConfig {
        tun: tun.tun.clone(),
        addr: stack_cidr(tun.addr),
        mtu: tun.mtu.map(usize::from),
        offload: !tun.no_offload,
        io: tun.io,
        congestion: tun.congestion,
        recovery: !tun.no_recovery,
        pcap: tun.pcap.clone(),
        trace: tun.trace,
        loss_percent: tun.loss,
        loss_seed: tun.loss_seed,
        reorder_percent: tun.reorder,
        duplicate_percent: tun.duplicate,
        delay: stack::Duration::from_millis(u64::from(tun.delay)),
        jitter: stack::Duration::from_millis(u64::from(tun.jitter)),
        max_connections,
        rx_buffer: tun.socket_buffer,
        tx_buffer: tun.socket_buffer,
        ..NetConfig::default()
    }
}

/// The Engine.IO mounts: `/socket.io/` serves the chat, or in the protocol test mode the
/// official suites' servers on `/socket.io/` and `/engine.io/`.
fn mount_engine_io(server: &mut Server, args: &ServerArgs) -> io::Result<()> {
    if args.socketio_test {
        let mut io = SocketIo::new(socketio_suite::config(), Box::new(socketio_suite::SuiteApp))?;
        io.add_namespace("/custom");
        server.mount("/socket.io/", Box::new(io));
        let echo = EngineEcho::new(socketio_suite::config().engine)?;
        server.mount("/engine.io/", Box::new(echo));
    } else {
        let chat = socketio_chat::SocketIoChat::default();
        let mut config = sio::socket::Config::default();
        config.engine.ping_interval = Duration::from_millis(args.socketio_ping_interval);
        config.engine.ping_timeout = Duration::from_millis(args.socketio_ping_timeout);
        let io = SocketIo::new(config, Box::new(chat))?;
        server.mount("/socket.io/", Box::new(io));
    }
    Ok(())
}

fn serve(args: &ServerArgs) -> io::Result<ExitCode> {
    let mut config = net_config(&args.tun, args.max_connections);
    config.addr6 = args.addr6.map(stack_cidr);
    config.max_per_source = args.max_per_source;
    let tap = match args.trace_web {
        TraceWeb::Own => Some(Tap::new(Scope::Own)),
        TraceWeb::All => Some(Tap::new(Scope::All)),
        TraceWeb::Off => None,
    };
    config.watch = tap.clone();
    let mut net = Net::open(&config).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot open TUN device {}: {e}", args.tun.tun),
        )
    })?;

    let mut server = Server::new(ServerConfig {
        max_message: args.max_message,
        origins: args.origins.clone(),
        trace: args.tun.trace,
        stats: args.stats,
        handshake_timeout: Duration::from_secs(args.handshake_timeout),
        keepalive: (args.keepalive > 0).then(|| Keepalive {
            idle: Duration::from_secs(args.keepalive),
            timeout: Duration::from_secs(args.keepalive_timeout),
        }),
        close_timeout: Duration::from_secs(args.close_timeout),
        deflate: args.deflate.then(DeflatePolicy::default),
        ..ServerConfig::default()
    });
    server.page(Page {
        path: "/".into(),
        content_type: "text/html; charset=utf-8",
        body: CHAT_PAGE.as_bytes(),
    });
    server.page(Page {
        path: "/ladder.js".into(),
        content_type: "text/javascript; charset=utf-8",
        body: LADDER_JS.as_bytes(),
    });
    server.page(Page {
        path: "/ladder.css".into(),
        content_type: "text/css; charset=utf-8",
        body: LADDER_CSS.as_bytes(),
    });
    if let Some(tap) = tap {
        server.route(TRACE_PATH, Box::new(TraceApp::new(tap)));
    }
    server.page(Page {
        path: "/chat-socketio.js".into(),
        content_type: "application/javascript; charset=utf-8",
        body: CHAT_SOCKETIO_JS.as_bytes(),
    });
    server.route("/echo", Box::new(stack::server::Echo));
    server.route("/chat", Box::new(chat::Chat::default()));
    mount_engine_io(&mut server, args)?;
    if let Some(path) = &args.socketio_client {
        let body = std::fs::read(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("--socketio-client {}: {e}", path.display()),
            )
        })?;
        server.page(Page {
            path: "/socket.io/socket.io.js".into(),
            content_type: "application/javascript; charset=utf-8",
            // Read once, served until the process ends.
            body: Box::leak(body.into_boxed_slice()),
        });
    }

    net.listen(args.port).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("listen on port {}: {e}", args.port),
        )
    })?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {}:{}", args.tun.addr.addr, args.port)?;
    stdout.flush()?;
    drop(stdout);
    if let Some(addr6) = args.addr6 {
        // The contract is one stdout line (scripts wait for it); the IPv6 address goes to the log.
        log::info!("also listening on [{}]:{}", addr6.addr, args.port);
    }

    stack::server::run(&mut net, &mut server, &signals::STOP)?;
    let r = net.stats().port.recovery;
    log::info!(
        "retransmissions: {} SACK repairs, {} fast, {} tail probes, {} recovery timeouts, {} by \
         smoltcp's timer; {} duplicate ACKs absorbed",
        r.sack_repairs,
        r.fast_retransmits,
        r.tail_probes,
        r.timeouts,
        r.stack_retransmits,
        r.dup_acks_absorbed
    );
    Ok(ExitCode::SUCCESS)
}
