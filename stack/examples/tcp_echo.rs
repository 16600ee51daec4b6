//! Raw TCP echo (or sink) on the stack over a real TUN — for smoke tests and benchmarks.
//!
//! ```text
//! tcp_echo [--tun tun0] [--addr 10.0.0.2/24] [--addr6 fd00::2/64] [--port 7] [--mtu N]
//!          [--pcap FILE] [--trace] [--loss PERCENT] [--max-connections N]
//!          [--max-per-source N] [--sink]
//!          [--connect IP:PORT [--bytes N]]
//! ```
//! Server (default): echo mode sends every byte back; `--sink` discards input and logs the
//! byte count per connection when it closes. Stops on SIGINT/SIGTERM after flushing the pcap.
//!
//! Client (`--connect`): the stack's client role. Sends `--bytes` (default 1 MiB) of a test
//! pattern to an echo server, checks that exactly those bytes come back, prints the rate, and
//! exits 0 on success.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use stack::runner::{self, Driver};
use stack::{Clock, ConnId, Duration, Instant, IpCidr, Net, NetConfig, RecvError};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

struct Options {
    config: NetConfig,
    port: u16,
    sink: bool,
    connect: Option<SocketAddr>,
    bytes: usize,
}

fn parse_args() -> Result<Options, String> {
    fn value<T: FromStr>(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<T, String> {
        let text = args.next().ok_or(format!("{flag} needs a value"))?;
        text.parse()
            .map_err(|_| format!("bad value for {flag}: {text}"))
    }
    let mut options = Options {
        config: NetConfig::default(),
        port: 7,
        sink: false,
        connect: None,
        bytes: 1 << 20,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let config = &mut options.config;
        match flag.as_str() {
            "--tun" => config.tun = value(&mut args, &flag)?,
            "--addr" => config.addr = value::<IpCidr>(&mut args, &flag)?,
            "--addr6" => config.addr6 = Some(value::<IpCidr>(&mut args, &flag)?),
            "--mtu" => config.mtu = Some(value(&mut args, &flag)?),
            "--pcap" => config.pcap = Some(value::<String>(&mut args, &flag)?.into()),
            "--trace" => config.trace = true,
            "--loss" => config.loss_percent = value(&mut args, &flag)?,
            "--max-connections" => config.max_connections = value(&mut args, &flag)?,
            "--max-per-source" => config.max_per_source = value(&mut args, &flag)?,
            "--port" => options.port = value(&mut args, &flag)?,
            "--sink" => options.sink = true,
            "--connect" => options.connect = Some(value(&mut args, &flag)?),
            "--bytes" => options.bytes = value(&mut args, &flag)?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

/// Per-connection state: bytes read but not yet echoed (the peer is not reading fast enough).
#[derive(Default)]
struct Conn {
    pending: Vec<u8>,
    total: u64,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let options = match parse_args() {
        Ok(options) => options,
        Err(err) => {
            eprintln!("tcp_echo: {err}");
            return ExitCode::from(2);
        }
    };
    // SAFETY: the handler only stores to an atomic. No SA_RESTART: ppoll returns EINTR.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let result = match options.connect {
        Some(remote) => run_client(&options, remote),
        None => run(options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tcp_echo: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: Options) -> io::Result<()> {
    let mut net = Net::open(&options.config)?;
    net.listen(options.port).map_err(io::Error::other)?;
    println!("listening on {}:{}", net.local_addr(), options.port);
    let mut echo = Echo {
        conns: HashMap::new(),
        buf: vec![0u8; 64 * 1024],
        sink: options.sink,
    };
    runner::run(&mut net, &Clock::new(), &mut echo, &STOP)?;
    log::info!("stopping: {:?}", net.stats());
    Ok(())
}

/// The echo (or sink) server as a runner driver.
struct Echo {
    conns: HashMap<ConnId, Conn>,
    buf: Vec<u8>,
    sink: bool,
}

impl Driver for Echo {
    type Output = ();

    fn handle(&mut self, net: &mut Net, _now: Instant) -> ControlFlow<()> {
        while let Some((id, peer)) = net.accept() {
            log::info!("conn {id} from {peer}");
            // Echo latency matters more than segment count here.
            let _ = net.set_nodelay(id, true);
            self.conns.insert(id, Conn::default());
        }
        // Only connections with news: a packet arrived (data, or an ACK that frees room for
        // a backed-up echo) or the state changed.
        while let Some(id) = net.poll_ready() {
            if let Some(conn) = self.conns.get_mut(&id) {
                serve(net, id, conn, &mut self.buf, self.sink);
            }
        }
        while let Some(id) = net.poll_gone() {
            if let Some(conn) = self.conns.remove(&id) {
                log::info!("conn {id} gone after {} bytes", conn.total);
            }
        }
        ControlFlow::Continue(())
    }

    fn poll_delay(&self, _now: Instant) -> Option<Duration> {
        None
    }

    fn stop(&mut self, _net: &mut Net, _now: Instant) -> ControlFlow<()> {
        ControlFlow::Break(())
    }
}

/// Sends `options.bytes` to an echo server at `remote` and checks the echo, byte for byte.
fn run_client(options: &Options, remote: SocketAddr) -> io::Result<()> {
    let mut net = Net::open(&options.config)?;
    let id = net.connect(remote).map_err(io::Error::other)?;
    let _ = net.set_nodelay(id, true);
    let mut client = EchoClient {
        id,
        remote,
        data: (0..options.bytes).map(|i| (i % 251) as u8).collect(),
        sent: 0,
        received: 0,
        buf: vec![0u8; 64 * 1024],
        started: None,
    };
    runner::run(&mut net, &Clock::new(), &mut client, &STOP)??;
    let elapsed = client.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
    println!(
        "echoed {} bytes via {remote} in {elapsed:.3} s ({:.1} MB/s each way)",
        client.received,
        client.received as f64 / elapsed.max(1e-9) / 1e6
    );
    Ok(())
}

/// The checking client as a runner driver; it ends when the whole echo came back.
struct EchoClient {
    id: ConnId,
    remote: SocketAddr,
    data: Vec<u8>,
    sent: usize,
    received: usize,
    buf: Vec<u8>,
    started: Option<std::time::Instant>,
}

impl EchoClient {
    /// Sends what fits and checks what came back; `Ok(true)` once everything is back.
    fn step(&mut self, net: &mut Net) -> io::Result<bool> {
        if net.poll_gone() == Some(self.id) {
            return Err(io::Error::other(format!(
                "connection to {} failed or closed early",
                self.remote
            )));
        }
        if net.is_established(self.id) {
            self.started.get_or_insert_with(std::time::Instant::now);
            self.sent += net
                .send(self.id, &self.data[self.sent..])
                .map_err(io::Error::other)?;
            loop {
                let n = net.recv(self.id, &mut self.buf).map_err(io::Error::other)?;
                if n == 0 {
                    break;
                }
                let (at, data) = (self.received, &self.data);
                if at + n > data.len() || self.buf[..n] != data[at..at + n] {
                    return Err(io::Error::other(format!("echo differs at byte {at}")));
                }
                self.received += n;
            }
        }
        Ok(self.received == self.data.len())
    }
}

impl Driver for EchoClient {
    type Output = io::Result<()>;

    fn handle(&mut self, net: &mut Net, _now: Instant) -> ControlFlow<io::Result<()>> {
        while net.poll_ready().is_some() {}
        match self.step(net) {
            Ok(false) => ControlFlow::Continue(()),
            Ok(true) => {
                net.close(self.id);
                ControlFlow::Break(Ok(()))
            }
            Err(e) => ControlFlow::Break(Err(e)),
        }
    }

    fn poll_delay(&self, _now: Instant) -> Option<Duration> {
        None
    }

    fn stop(&mut self, _net: &mut Net, _now: Instant) -> ControlFlow<io::Result<()>> {
        ControlFlow::Break(Err(io::Error::other("interrupted")))
    }
}

/// Moves as many bytes as the buffers allow; stops reading while the echo is backed up.
fn serve(net: &mut Net, id: ConnId, conn: &mut Conn, buf: &mut [u8], sink: bool) {
    loop {
        if !conn.pending.is_empty() {
            match net.send(id, &conn.pending) {
                Ok(n) => {
                    conn.pending.drain(..n);
                }
                Err(_) => conn.pending.clear(),
            }
            if !conn.pending.is_empty() {
                return;
            }
        }
        match net.recv(id, buf) {
            Ok(0) => return,
            Ok(n) => {
                conn.total += n as u64;
                if !sink {
                    conn.pending.extend_from_slice(&buf[..n]);
                }
            }
            Err(RecvError::Closed) => {
                net.close(id);
                return;
            }
            Err(_) => return,
        }
    }
}
