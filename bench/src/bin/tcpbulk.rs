//! Raw TCP bulk transfer over kernel sockets, for the TCP throughput figures of scripts/bench.sh.
//!
//! `send` and `recv` are the measuring ends (they print the JSON line); `serve` is the kernel-side
//! server of the kernel↔kernel reference run, and `tunbulk` the same server on the userspace
//! stack. The client's first byte picks the direction: [`bench::BULK_SINK`] (the server reads
//! and discards until EOF, then closes) or [`bench::BULK_SOURCE`] (the server writes until the
//! client goes away). Rates count payload bytes after that byte.

use bench::stats::JsonLine;
use clap::{Parser, Subcommand};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Size of each read/write: large enough that syscalls are not what is measured.
const CHUNK: usize = 256 * 1024;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "kernel TCP bulk transfer (bench helper)")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
    /// Pin to this CPU.
    #[arg(long, global = true)]
    cpu: Option<usize>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Connect and write for DURATION seconds, half-close, wait for the peer to finish reading
    /// (its FIN); the rate is bytes over the time until then.
    Send {
        #[arg(long)]
        connect: SocketAddr,
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Connect and read for DURATION seconds; the rate is bytes received over that time.
    Recv {
        #[arg(long)]
        connect: SocketAddr,
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Serve sink or source connections (chosen by the client's first byte), one at a time.
    Serve {
        #[arg(long)]
        listen: SocketAddr,
    },
}

fn connect(addr: SocketAddr, mode: u8) -> io::Result<TcpStream> {
    let mut s = connect_retrying(addr)?;
    s.set_nodelay(true)?;
    s.write_all(&[mode])?;
    Ok(s)
}

fn connect_retrying(addr: SocketAddr) -> io::Result<TcpStream> {
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

fn report(label: &str, dir: &str, bytes: u64, secs: f64) {
    let line = JsonLine::default()
        .str("label", label)
        .str("mode", dir)
        .num("bytes", bytes as f64)
        .num("duration_s", secs)
        .num("mib_per_s", bytes as f64 / secs / (1024.0 * 1024.0))
        .finish();
    println!("{line}");
}

fn send(addr: SocketAddr, duration: f64, label: &str) -> io::Result<()> {
    let mut s = connect(addr, bench::BULK_SINK)?;
    let buf = vec![0x5a_u8; CHUNK];
    let start = Instant::now();
    let stop = start + Duration::from_secs_f64(duration);
    let mut bytes = 0u64;
    while Instant::now() < stop {
        bytes += s.write(&buf)? as u64;
    }
    s.shutdown(Shutdown::Write)?;
    // The peer closes after reading everything; until then our bytes are only in buffers.
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut rest = [0u8; 4096];
    while s.read(&mut rest)? > 0 {}
    report(label, "send", bytes, start.elapsed().as_secs_f64());
    Ok(())
}

fn recv(addr: SocketAddr, duration: f64, label: &str) -> io::Result<()> {
    let mut s = connect(addr, bench::BULK_SOURCE)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = vec![0u8; CHUNK];
    let start = Instant::now();
    let stop = start + Duration::from_secs_f64(duration);
    let mut bytes = 0u64;
    while Instant::now() < stop {
        match s.read(&mut buf)? {
            0 => break,
            n => bytes += n as u64,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    report(label, "recv", bytes, secs);
    Ok(())
}

fn serve(addr: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    println!("listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        // One transfer at a time is all the benchmark does; an error ends only that transfer.
        let _ = stream.and_then(|mut s| {
            let mut mode = [0u8];
            s.read_exact(&mut mode)?;
            match mode[0] {
                bench::BULK_SINK => sink(s),
                bench::BULK_SOURCE => source(s),
                _ => Ok(()),
            }
        });
    }
    Ok(())
}

fn sink(mut s: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    while s.read(&mut buf)? > 0 {}
    Ok(())
}

fn source(mut s: TcpStream) -> io::Result<()> {
    let buf = vec![0xa5_u8; CHUNK];
    loop {
        s.write_all(&buf)?;
    }
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    if let Some(cpu) = args.cpu {
        bench::pin_to_cpu(cpu)?;
    }
    match args.cmd {
        Cmd::Send {
            connect,
            duration,
            label,
        } => send(connect, duration, &label),
        Cmd::Recv {
            connect,
            duration,
            label,
        } => recv(connect, duration, &label),
        Cmd::Serve { listen } => serve(listen),
    }
}
