//! `tunws`: the command-line program. Parses the command line, sets up logging and signals,
//! opens the userspace stack on the TUN device and runs the server or the client role.

mod chat;
mod cli;
mod client;
mod echo;
mod signals;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use stack::server::{Page, Server, ServerConfig};
use stack::{Net, NetConfig};
use ws::{Duration, Keepalive};

use cli::{Cidr, Cli, Command, ServerArgs, TraceWeb, TunArgs};
use stack::watch::{Scope, TRACE_PATH, Tap, app::TraceApp};

/// The chat page served on `GET /`, embedded so the binary is self-contained.
const CHAT_PAGE: &str = include_str!("chat.html");
/// The packet ladder panel of the chat page (plain JS and CSS, no build step).
const LADDER_JS: &str = include_str!("ladder.js");
const LADDER_CSS: &str = include_str!("ladder.css");

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    if let Err(e) = signals::install() {
        log::error!("cannot install the SIGINT/SIGTERM handler: {e}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Some(Command::Client(args)) => client::run(&args),
        None => serve(&cli.server),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
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
    server.route("/echo", Box::new(echo::Echo));
    server.route("/chat", Box::new(chat::Chat::default()));

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
