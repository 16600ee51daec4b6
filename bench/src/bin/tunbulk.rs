//! Raw TCP sink/source on the userspace stack (`stack::Net` over a TUN), the tunws side of the
//! TCP bulk figures: the same event loop as tunws (`stack::runner`), without HTTP or WebSocket
//! on top.
//! Speaks tcpbulk's protocol: the client's first byte picks sink or source.

use bench::{BULK_SINK, BULK_SOURCE};
use clap::Parser;
use stack::runner::{self, Driver};
use stack::{Clock, ConnId, Duration, Instant, IpCidr, ListenOptions, Net, NetConfig, RecvError};
use std::collections::HashMap;
use std::io;
use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "raw TCP sink/source on the userspace stack (bench helper)")]
struct Args {
    /// TUN device (created if missing; the kernel side is configured by the caller).
    #[arg(long, default_value = "tun0")]
    tun: String,
    /// The stack's address and prefix.
    #[arg(long, default_value = "10.0.0.2/24", value_parser = parse_cidr)]
    addr: IpCidr,
    /// Device MTU (must equal the TUN's).
    #[arg(long)]
    mtu: Option<usize>,
    /// TCP port.
    #[arg(long, default_value_t = 9101)]
    port: u16,
    /// Pin to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
    /// Receive ring of each accepted connection (the most the stack advertises as its window),
    /// asked for on the listener (`Net::listen_with`); 65536 is the stack's default, what
    /// tunws's connections get. Bulk-sized by default: with offload the kernel sends 64 KiB
    /// super-packets, and a 64 KiB ring holds one, so the sender would wait a round trip for
    /// each.
    #[arg(long, default_value_t = BULK_RX_BUFFER)]
    rx_buffer: usize,
    /// Send ring of every socket; 65536 is the stack's default, what tunws's connections get.
    /// Bulk-sized by default, as for --rx-buffer: a 64 KiB ring lets one super-packet be in
    /// flight unacknowledged (the source direction measured 0.40x kernel with it, 1.27x with
    /// 256 KiB, docs/BENCHMARKS.md).
    #[arg(long, default_value_t = BULK_TX_BUFFER)]
    tx_buffer: usize,
    /// Acknowledge at once instead of smoltcp's delayed ACK.
    #[arg(long)]
    no_ack_delay: bool,
    /// MTU-sized packets only: no virtio-net header, no TSO/checksum offload over the TUN.
    #[arg(long)]
    no_offload: bool,
    /// smoltcp's own loss recovery only (no recovery layer) and no congestion control: the
    /// stack as before issue 9, for A/B runs.
    #[arg(long)]
    no_recovery: bool,
}

/// Default `--rx-buffer`: four 64 KiB super-packets in flight.
const BULK_RX_BUFFER: usize = 256 * 1024;

/// Default `--tx-buffer`: four 64 KiB super-packets unacknowledged.
const BULK_TX_BUFFER: usize = 256 * 1024;

fn parse_cidr(s: &str) -> Result<IpCidr, String> {
    s.parse()
        .map_err(|()| format!("not an address/prefix: {s}"))
}

/// What a connection is doing; `Unknown` until its first byte arrives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Unknown,
    Sink,
    Source,
}

/// Moves as many bytes as the stack takes right now; false once the connection is finished.
fn service(net: &mut Net, id: ConnId, role: &mut Role, buf: &mut [u8], fill: &[u8]) -> bool {
    loop {
        let got = match net.recv(id, buf) {
            Ok(n) => n,
            Err(RecvError::Closed) => {
                net.close(id);
                return false;
            }
            Err(_) => return false,
        };
        if *role == Role::Unknown && got > 0 {
            *role = match buf[0] {
                BULK_SINK => Role::Sink,
                BULK_SOURCE => Role::Source,
                _ => {
                    net.abort(id);
                    return false;
                }
            };
        }
        if *role == Role::Source {
            match net.send(id, fill) {
                Ok(0) if got == 0 => return true,
                Ok(_) => {}
                Err(_) => {
                    net.close(id);
                    return false;
                }
            }
        } else if got == 0 {
            return true;
        }
    }
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    if let Some(cpu) = args.cpu {
        bench::pin_to_cpu(cpu)?;
    }
    let defaults = NetConfig::default();
    let config = NetConfig {
        tun: args.tun,
        addr: args.addr,
        mtu: args.mtu,
        offload: !args.no_offload,
        max_rx_buffer: args.rx_buffer,
        tx_buffer: args.tx_buffer,
        recovery: !args.no_recovery,
        congestion: if args.no_recovery {
            stack::CongestionControl::None
        } else {
            defaults.congestion
        },
        ..defaults
    };
    let mut net = Net::open(&config)?;
    let options = ListenOptions {
        rx_buffer: Some(args.rx_buffer),
    };
    net.listen_with(args.port, options)
        .map_err(io::Error::other)?;
    println!("listening on {}:{}", net.local_addr(), args.port);
    let mut bulk = Bulk {
        conns: HashMap::new(),
        buf: vec![0u8; 64 * 1024],
        fill: vec![0xa5u8; 64 * 1024],
        no_ack_delay: args.no_ack_delay,
    };
    // No handler: SIGTERM (how bench.sh stops it) ends the process in the runner's wait.
    static NEVER: AtomicBool = AtomicBool::new(false);
    runner::run(&mut net, &Clock::new(), &mut bulk, &NEVER)
}

/// The sink/source server as a driver of the stack's runner: the same loop as tunws.
struct Bulk {
    conns: HashMap<ConnId, Role>,
    buf: Vec<u8>,
    fill: Vec<u8>,
    no_ack_delay: bool,
}

impl Driver for Bulk {
    type Output = ();

    fn handle(&mut self, net: &mut Net, _now: Instant) -> ControlFlow<()> {
        while let Some((id, _)) = net.accept() {
            if self.no_ack_delay {
                let _ = net.set_ack_delay(id, None);
            }
            self.conns.insert(id, Role::Unknown);
        }
        // Every connection is serviced every turn (a handful in a bulk run), so the ready
        // list is only emptied.
        while net.poll_ready().is_some() {}
        let (buf, fill) = (&mut self.buf, &self.fill);
        self.conns
            .retain(|&id, role| service(net, id, role, buf, fill));
        while let Some(id) = net.poll_gone() {
            self.conns.remove(&id);
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
