//! The command line (DESIGN.md, "The command-line contract"). Only this file parses arguments.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use sio::engine;
use stack::{CongestionControl, IoMode};

// The defaults are the library's, written once there (each with its reason).
use stack::config::{DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PER_SOURCE, DEFAULT_SOCKET_BUFFER};
use stack::server::{DEFAULT_CLOSE_TIMEOUT, DEFAULT_KEEPALIVE};
use stack::{DEFAULT_MAX_MESSAGE, HANDSHAKE_TIMEOUT};

/// Shown after the options of `tunws --help`: examples and the limits that are not flags.
const AFTER_HELP: &str = "\
Examples:
  sudo scripts/demo.sh                  create tun0 (kernel side 10.0.0.1) and run tunws
  tunws --trace --pcap /tmp/tunws.pcap  watch the TCP and WebSocket handshakes
  tunws client ws://10.0.0.1:9001/      the client role, stdin lines out, text lines in
  tunws sim                             the handshake and a chat in memory: no TUN, no root
  tunws ladder trace.log                the ladder diagram of a --trace log (2>trace.log)

Impairment (labs): --loss, --reorder, --duplicate, --delay and --jitter act on every packet in
both directions, chosen by a PRNG seeded with --loss-seed, so a run repeats exactly. With offload
(the default) a packet may be a TCP super-packet of up to 64 KiB that the kernel cuts into MTU
segments beyond the TUN: one loss then loses all of them; add --no-offload for per-segment labs.
--pcap and --trace show super-packets as single large packets (checksums of outgoing ones are
left to the kernel, so capture tools may flag them).

Timeouts (flags above): a request head must arrive within --handshake-timeout (silent
connections are closed); a WebSocket silent for --keepalive seconds is pinged and failed with
1011 if still silent --keepalive-timeout seconds later; the close handshake, and then the
peer's acknowledgement of our FIN, each get --close-timeout.
Fixed limit: a /chat client whose outgoing queue would pass 1 MiB is closed with 1008.

Admission: at --max-connections, a SYN is dropped unanswered while half-open connections hold
sockets (the client retries, after 1 s on Linux, and gets the socket of the oldest half-open
one older than 200 ms); it is refused with RST only when no connection is half-open.
Exposing tunws beyond the host (forwarding or routing to the TUN): set --max-per-source (e.g.
64) so one address cannot take every connection, keep --max-connections to what the machine
can carry, leave --stats off, and rate-limit new connections in a firewall in front of it;
tunws has no TLS (put a TLS-terminating proxy in front).
Log level: RUST_LOG (default info), e.g. RUST_LOG=debug.";

/// tunws: a WebSocket chat and echo server on a userspace TCP/IP stack over a TUN device.
///
/// Every step from raw IP packet to WebSocket frame happens in this program: the TCP
/// three-way handshake (smoltcp), the HTTP upgrade and the WebSocket frames.
/// The kernel side of the TUN device (address .1, link up, MTU) is configured by
/// scripts/demo.sh or by hand; tunws opens the device by name or creates it.
///
/// Endpoints on one port: GET / serves the chat page, /chat broadcasts every text message to
/// every /chat client, /echo sends every message back to its sender, /trace streams the
/// packets of the page's own connections to its packet ladder (see --trace-web).
#[derive(Debug, Parser)]
#[command(name = "tunws", version, args_conflicts_with_subcommands = true, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub server: ServerArgs,
}

/// Subcommands: without one, tunws runs the server.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect to a WebSocket server through the same userspace stack (the client role).
    ///
    /// Prints every received text message as a line on stdout and sends every stdin line as a
    /// text message; with --echo, sends every received message back instead. Exits 0 after a
    /// clean close.
    Client(ClientArgs),

    /// The handshake and a short chat entirely in memory: no TUN, no root.
    ///
    /// A client stack (10.0.0.1) and the tunws server stack (10.0.0.2) wired back to back on a
    /// virtual clock: the client connects to /chat, sends each message and waits for the
    /// broadcast of it, then closes with 1000. Prints the server's --trace lines (times are
    /// virtual seconds) and then a ladder diagram of the exchange. Same options, same output,
    /// byte for byte.
    Sim(SimArgs),

    /// Draws the ladder diagram of a --trace log (from tunws or tunws sim), read from FILE or
    /// standard input: one ladder per TCP connection, in the order they first appear.
    Ladder(LadderArgs),
}

/// `tunws sim` options.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Drop this share of packets on the wire, each direction, chosen by --loss-seed; each
    /// loss is printed as a `lost` line and drawn as an arrow that ends in X
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0, value_parser = parse_percent)]
    pub loss: f64,

    /// Seed of the loss choices: same seed, same run
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub loss_seed: u64,

    /// One-way delay of the link in milliseconds (the round trip is twice this)
    #[arg(long, value_name = "MS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(..=60_000))]
    pub delay: u32,

    /// A chat message to send (repeatable, in order); default: "hello" and "how are you?"
    #[arg(long = "message", value_name = "TEXT")]
    pub messages: Vec<String>,
}

/// `tunws ladder` options.
#[derive(Debug, Args)]
pub struct LadderArgs {
    /// The trace log (tunws --trace 2>FILE); standard input when absent
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// Options shared by the server and the client: the TUN device and the stack's address.
#[derive(Debug, Args)]
pub struct TunArgs {
    /// TUN device to open (created if it does not exist)
    #[arg(long, value_name = "NAME", default_value = "tun0")]
    pub tun: String,

    /// IPv4 address and prefix of the userspace stack (the kernel side is usually .1)
    #[arg(long, value_name = "CIDR", default_value = "10.0.0.2/24", value_parser = parse_cidr)]
    pub addr: Cidr,

    /// Device MTU; defaults to the TUN's current MTU (a larger MTU means fewer packets per byte)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1280..))]
    pub mtu: Option<u16>,

    /// Receive and send buffer of each TCP socket, in bytes (each; at least four MTUs). Only
    /// the pages a connection has written are resident, so this costs address space, not memory,
    /// until the connection moves that much data; it bounds the TCP window
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_SOCKET_BUFFER,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(4096..=16 << 20))]
    pub socket_buffer: usize,

    /// Exchange plain MTU-sized packets with the kernel: no virtio-net header, no TCP
    /// segmentation or checksum offload (on by default: 64 KiB TCP super-packets cross the TUN
    /// in one read/write, the kernel cuts them to the MTU for peers beyond it)
    #[arg(long)]
    pub no_offload: bool,

    /// How the TUN is read and written: uring (io_uring: one system call a loop turn submits
    /// every outgoing packet, reaps every incoming one and waits; falls back to read-write,
    /// with a warning, where io_uring is unavailable) or read-write (one read/write per packet,
    /// ppoll to wait)
    #[arg(long, value_name = "MODE", default_value = "uring", value_parser = parse_io)]
    pub io: IoMode,

    /// TCP congestion control: cubic (as Linux), reno, or none (only the peer's window limits
    /// what is in flight; sends faster into a lossy path and loses more)
    #[arg(long, value_name = "ALGORITHM", default_value = "cubic", value_parser = parse_congestion)]
    pub congestion: CongestionControl,

    /// Leave loss recovery to smoltcp alone (1 s minimum retransmission timeout, no SACK
    /// repair, no tail-loss probes): for A/B comparisons
    #[arg(long)]
    pub no_recovery: bool,

    /// Write every packet in and out to this pcap file (open it in Wireshark or tshark)
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,

    /// Print one line per TCP segment, state change and WebSocket handshake/frame
    #[arg(long)]
    pub trace: bool,

    /// Drop this percentage of packets in each direction (seeded; for labs)
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0, value_parser = parse_percent)]
    pub loss: f64,

    /// Hold back this percentage of packets by 2 ms so later ones overtake them (seeded)
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0, value_parser = parse_percent)]
    pub reorder: f64,

    /// Deliver this percentage of packets twice (seeded)
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0, value_parser = parse_percent)]
    pub duplicate: f64,

    /// Delay every packet by this many milliseconds, in each direction
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(..=60_000))]
    pub delay: u32,

    /// Add a random extra delay of 0 to this many milliseconds per packet (order is kept)
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(..=60_000))]
    pub jitter: u32,

    /// Seed of the loss, reorder, duplicate and jitter choices
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub loss_seed: u64,
}

/// Server options.
#[derive(Debug, Args)]
pub struct ServerArgs {
    #[command(flatten)]
    pub tun: TunArgs,

    /// Also serve on this IPv6 address and prefix
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    pub addr6: Option<Cidr>,

    /// TCP port for HTTP and WebSocket
    #[arg(long, value_name = "N", default_value_t = 8080, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,

    /// Maximum number of TCP connections at once; further SYNs are answered with RST
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65535))]
    pub max_connections: usize,

    /// Maximum number of connections from one IP address; its further SYNs are answered with
    /// RST (0, the default: no limit, since every client on the TUN's host shares one address).
    /// Set it (e.g. 64) when peers beyond the host can reach tunws
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PER_SOURCE)]
    pub max_per_source: usize,

    /// Largest WebSocket message accepted, in bytes; bigger ones are closed with 1009.
    /// /chat holds messages whole and takes at most 64 KiB whatever this says
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_MESSAGE)]
    pub max_message: u64,

    /// Answer GET /stats with the stack's socket and connection counts as JSON (off by
    /// default: they are not for strangers)
    #[arg(long)]
    pub stats: bool,

    /// Allowed Origin for WebSocket upgrades (repeatable); requests with another Origin get
    /// 403. Without this option every origin is allowed.
    #[arg(long = "origin", value_name = "ORIGIN")]
    pub origins: Vec<String>,

    /// Seconds a new connection has to deliver a complete request head before it is closed
    /// (slow or silent clients, and the spare connections browsers open)
    #[arg(long, value_name = "SECS", default_value_t = HANDSHAKE_TIMEOUT.as_millis() / 1000,
          value_parser = seconds)]
    pub handshake_timeout: u64,

    /// Seconds of silence from a WebSocket peer before it is pinged (0: no keepalive)
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_KEEPALIVE.idle.as_millis() / 1000,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub keepalive: u64,

    /// Seconds a pinged peer has to say anything before the connection fails with 1011
    #[arg(long, value_name = "SECS",
          default_value_t = DEFAULT_KEEPALIVE.timeout.as_millis() / 1000, value_parser = seconds)]
    pub keepalive_timeout: u64,

    /// Seconds for the peer to finish the close handshake, and then to acknowledge our FIN
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_CLOSE_TIMEOUT.as_millis() / 1000,
          value_parser = seconds)]
    pub close_timeout: u64,

    /// The chat page's live packet ladder (/trace): `own` shows each page only the
    /// connections it opened, `all` shows every page every connection (a teacher's projector),
    /// `off` removes /trace. Nothing is recorded while no page watches
    #[arg(long, value_name = "SCOPE", default_value = "own")]
    pub trace_web: TraceWeb,

    /// Serve this file as /socket.io/socket.io.js (the Socket.IO browser client, e.g.
    /// node_modules/socket.io-client/dist/socket.io.min.js from `npm install socket.io-client`)
    #[arg(long, value_name = "PATH")]
    pub socketio_client: Option<PathBuf>,

    /// Socket.IO heartbeat of the /socket.io/ chat: milliseconds between the server's pings
    /// (pingInterval in the Engine.IO open packet; the default is the reference server's).
    /// Short values let a lab watch the heartbeat
    #[arg(long, value_name = "MS", default_value_t = engine::Config::default().ping_interval.as_millis(),
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub socketio_ping_interval: u64,

    /// Milliseconds a Socket.IO client of the chat has to answer a ping with a pong
    /// (pingTimeout); a client silent for pingInterval + pingTimeout is dropped ("ping timeout")
    #[arg(long, value_name = "MS", default_value_t = engine::Config::default().ping_timeout.as_millis(),
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub socketio_ping_timeout: u64,

    /// Protocol test mode: /socket.io/ behaves as the server of the official Engine.IO v4 /
    /// Socket.IO v5 test suites (namespaces / and /custom, `auth`, `message` -> `message-back`,
    /// `message-with-ack`; pingInterval 300 ms, pingTimeout 200 ms, connectTimeout 1 s)
    /// instead of serving the chat
    #[arg(long)]
    pub socketio_test: bool,

    /// Accept permessage-deflate (RFC 7692) on /echo and /chat: clients that offer it (every
    /// browser does) get compressed messages. Costs about 52 KB per connection once messages
    /// have flowed both ways (43 KB to inflate, 8 KB to compress, plus a buffer for the largest
    /// compressed message sent) and CPU per byte. Off by default: frames stay readable in
    /// --pcap, --trace and Wireshark, and idle connections stay small
    #[arg(long)]
    pub deflate: bool,
}

/// Who sees what on `/trace` (`--trace-web`).
/// `--io`: `uring` or `read-write`.
fn parse_io(s: &str) -> Result<IoMode, String> {
    match s {
        "uring" => Ok(IoMode::Uring),
        "read-write" => Ok(IoMode::ReadWrite),
        _ => Err(format!("unknown I/O mode {s:?} (uring, read-write)")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceWeb {
    /// Each page sees the connections that carry its token.
    Own,
    /// Every page sees every connection.
    All,
    /// No /trace endpoint.
    Off,
}

/// A timeout in whole seconds, 1 s to a day.
fn seconds(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(secs @ 1..=86_400) => Ok(secs),
        _ => Err(format!(
            "expected whole seconds from 1 to 86400, not '{text}'"
        )),
    }
}

/// Client options.
#[derive(Debug, Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub tun: TunArgs,

    /// Send every received message (text or binary) back unchanged instead of reading stdin
    #[arg(long)]
    pub echo: bool,

    /// Largest WebSocket message accepted, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_MESSAGE)]
    pub max_message: u64,

    /// Offer permessage-deflate (RFC 7692); if the server accepts, messages are compressed
    /// both ways (about 52 KB of memory, see the server's --deflate)
    #[arg(long)]
    pub deflate: bool,

    /// Server URL: ws://IP:PORT/PATH (the host must be an IP address literal)
    #[arg(value_name = "URL", value_parser = parse_ws_url)]
    pub url: WsUrl,
}

/// An address with a prefix length, as given on the command line (`10.0.0.2/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length in bits.
    pub prefix: u8,
}

fn parse_cidr(s: &str) -> Result<Cidr, String> {
    let (addr, prefix) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not ADDRESS/PREFIX, e.g. 10.0.0.2/24"))?;
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("`{addr}` is not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= max)
        .ok_or_else(|| format!("prefix `{prefix}` must be a number from 0 to {max}"))?;
    Ok(Cidr { addr, prefix })
}

fn parse_congestion(s: &str) -> Result<CongestionControl, String> {
    match s {
        "cubic" => Ok(CongestionControl::Cubic),
        "reno" => Ok(CongestionControl::Reno),
        "none" => Ok(CongestionControl::None),
        _ => Err(format!("`{s}` is not cubic, reno or none")),
    }
}

fn parse_percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("`{s}` is not a percentage from 0 to 100")),
    }
}

/// A parsed `ws://IP:PORT/PATH` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// The server's address (the host part must be an IP literal: the stack has no DNS).
    pub remote: SocketAddr,
    /// The `Host` header value, as written in the URL.
    pub host: String,
    /// The request target, starting with `/` (includes any query).
    pub path: String,
}

fn parse_ws_url(s: &str) -> Result<WsUrl, String> {
    let rest = s
        .strip_prefix("ws://")
        .ok_or_else(|| format!("`{s}` must start with ws:// (wss is not implemented)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let remote = if let Ok(remote) = authority.parse::<SocketAddr>() {
        remote
    } else {
        // No port: the WebSocket default for ws:// is 80.
        let host = authority.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = host.parse().map_err(|_| {
            format!("`{authority}` must be IP:PORT (no DNS in the userspace stack)")
        })?;
        SocketAddr::new(ip, 80)
    };
    Ok(WsUrl {
        remote,
        host: authority.to_string(),
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_design() {
        let cli = Cli::try_parse_from(["tunws"]).unwrap();
        assert!(cli.command.is_none());
        let s = cli.server;
        assert_eq!(s.tun.tun, "tun0");
        assert_eq!(
            s.tun.addr,
            Cidr {
                addr: "10.0.0.2".parse().unwrap(),
                prefix: 24
            }
        );
        assert_eq!(s.port, 8080);
        assert_eq!(s.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert!(s.max_message >= 16 * 1024 * 1024);
        assert!(s.origins.is_empty());
        assert_eq!(s.tun.loss, 0.0);
        assert_eq!((s.tun.reorder, s.tun.duplicate), (0.0, 0.0));
        assert_eq!((s.tun.delay, s.tun.jitter, s.tun.loss_seed), (0, 0, 0));
        assert_eq!(s.max_per_source, DEFAULT_MAX_PER_SOURCE);
        assert!(!s.stats);
        assert_eq!(
            (
                s.handshake_timeout,
                s.keepalive,
                s.keepalive_timeout,
                s.close_timeout
            ),
            (10, 30, 30, 5)
        );
        assert_eq!(s.tun.socket_buffer, DEFAULT_SOCKET_BUFFER);
        assert!(!s.tun.no_offload);
        assert_eq!(s.tun.io, IoMode::Uring);
        assert_eq!(s.tun.congestion, CongestionControl::Cubic);
        assert!(!s.tun.no_recovery);
        // The reference Socket.IO server's heartbeat.
        assert_eq!(
            (s.socketio_ping_interval, s.socketio_ping_timeout),
            (25_000, 20_000)
        );
    }

    #[test]
    fn every_server_option_parses() {
        let cli = Cli::try_parse_from([
            "tunws",
            "--tun",
            "tw9",
            "--addr",
            "10.9.0.2/16",
            "--addr6",
            "fd00::2/64",
            "--port",
            "9000",
            "--pcap",
            "/tmp/x.pcap",
            "--trace",
            "--loss",
            "5",
            "--mtu",
            "65000",
            "--max-connections",
            "10",
            "--max-message",
            "100",
            "--origin",
            "http://a",
            "--origin",
            "http://b",
            "--reorder",
            "10",
            "--duplicate",
            "2.5",
            "--delay",
            "20",
            "--jitter",
            "5",
            "--loss-seed",
            "42",
            "--max-per-source",
            "8",
            "--stats",
            "--handshake-timeout",
            "3",
            "--keepalive",
            "0",
            "--keepalive-timeout",
            "7",
            "--close-timeout",
            "2",
            "--socket-buffer",
            "262144",
            "--no-offload",
            "--io",
            "read-write",
            "--congestion",
            "reno",
            "--no-recovery",
            "--socketio-ping-interval",
            "1000",
            "--socketio-ping-timeout",
            "500",
        ])
        .unwrap();
        let s = cli.server;
        assert_eq!(s.tun.tun, "tw9");
        assert_eq!(s.addr6.unwrap().prefix, 64);
        assert_eq!(s.port, 9000);
        assert!(s.tun.trace);
        assert_eq!(s.tun.loss, 5.0);
        assert_eq!(s.tun.mtu, Some(65000));
        assert_eq!(s.max_connections, 10);
        assert_eq!(s.max_message, 100);
        assert_eq!(s.origins, ["http://a", "http://b"]);
        assert_eq!((s.tun.reorder, s.tun.duplicate), (10.0, 2.5));
        assert_eq!((s.tun.delay, s.tun.jitter, s.tun.loss_seed), (20, 5, 42));
        assert_eq!(s.max_per_source, 8);
        assert!(s.stats);
        assert_eq!(
            (
                s.handshake_timeout,
                s.keepalive,
                s.keepalive_timeout,
                s.close_timeout
            ),
            (3, 0, 7, 2)
        );
        assert_eq!(s.tun.socket_buffer, 262_144);
        assert!(s.tun.no_offload);
        assert_eq!(s.tun.io, IoMode::ReadWrite);
        assert_eq!(s.tun.congestion, CongestionControl::Reno);
        assert!(s.tun.no_recovery);
        assert_eq!(
            (s.socketio_ping_interval, s.socketio_ping_timeout),
            (1000, 500)
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &["tunws", "--addr", "10.0.0.2"][..],
            &["tunws", "--addr", "10.0.0.2/33"],
            &["tunws", "--loss", "101"],
            &["tunws", "--congestion", "bbr"],
            &["tunws", "--io", "epoll"],
            &["tunws", "--reorder", "-1"],
            &["tunws", "--duplicate", "100.5"],
            &["tunws", "--delay", "60001"],
            &["tunws", "--jitter", "x"],
            &["tunws", "--port", "70000"],
            &["tunws", "--max-connections", "0"],
            &["tunws", "--handshake-timeout", "0"],
            &["tunws", "--keepalive-timeout", "1.5"],
            &["tunws", "--close-timeout", "86401"],
            &["tunws", "--keepalive", "-1"],
            &["tunws", "--socket-buffer", "4095"],
            &["tunws", "--socket-buffer", "16777217"],
            &["tunws", "--socketio-ping-interval", "99"],
            &["tunws", "--socketio-ping-timeout", "1.5"],
            &["tunws", "client", "http://10.0.0.1:80/"],
            &["tunws", "client", "ws://example.com:80/"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn client_url_and_flags() {
        let cli = Cli::try_parse_from([
            "tunws",
            "client",
            "--tun",
            "tw1",
            "--echo",
            "ws://10.0.0.1:9001/runCase?case=1",
        ])
        .unwrap();
        let Some(Command::Client(c)) = cli.command else {
            panic!("expected client")
        };
        assert_eq!(c.tun.tun, "tw1");
        assert!(c.echo);
        assert_eq!(c.url.remote, "10.0.0.1:9001".parse().unwrap());
        assert_eq!(c.url.host, "10.0.0.1:9001");
        assert_eq!(c.url.path, "/runCase?case=1");
        let url = parse_ws_url("ws://10.0.0.1").unwrap();
        assert_eq!((url.remote.port(), url.path.as_str()), (80, "/"));
        let url = parse_ws_url("ws://[fd00::1]:81/x").unwrap();
        assert_eq!(url.remote, "[fd00::1]:81".parse().unwrap());
    }
}
