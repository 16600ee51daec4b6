//! Shared pieces of the benchmark tools (`loadgen`, the kernel-TCP bench peers and `tcpbulk`).
//!
//! Nothing here uses the project's own `ws` crate: the load generator and the peers are built on
//! independent WebSocket implementations (fastwebsockets, tokio-tungstenite) so that a bug in
//! `ws` cannot hide itself by being on both ends of a measurement.

pub mod handshake;
pub mod peer;
pub mod procstat;
pub mod stats;
pub mod wsframe;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// A load generator's measurement window, fixed once every connection is open: what completes
/// in `[measure_from, end)` counts.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Start of the measured interval (after the warm-up).
    pub measure_from: Instant,
    /// End of the run.
    pub end: Instant,
}

impl Window {
    /// A window that starts measuring `warmup` seconds from now and lasts `duration` seconds.
    pub fn after_warmup(warmup: f64, duration: f64) -> Window {
        let measure_from = Instant::now() + Duration::from_secs_f64(warmup);
        Window {
            measure_from,
            end: measure_from + Duration::from_secs_f64(duration),
        }
    }

    /// Whether something completed at `t` counts.
    pub fn measures(&self, t: Instant) -> bool {
        t >= self.measure_from && t < self.end
    }
}

/// tcpbulk/tunbulk protocol: a client's first byte asking the server to read and discard.
pub const BULK_SINK: u8 = b's';
/// tcpbulk/tunbulk protocol: a client's first byte asking the server to send until it leaves.
pub const BULK_SOURCE: u8 = b'r';

/// Pins the calling thread (and so a current-thread runtime) to one CPU, so that every server in a
/// comparison gets exactly one core, like single-threaded tunws.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is a plain bit array; zeroed is its documented empty state, and
    // sched_setaffinity only reads it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Raises the soft open-file limit to the hard limit: the scale runs hold 10 000 sockets.
pub fn raise_nofile_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Per-connection key material for the WebSocket handshake: a deterministic xorshift of the
/// connection's id, so runs are repeatable.
pub fn nonce(id: u64) -> [u8; 16] {
    let mut x = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = [0u8; 16];
    for b in &mut out {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    out
}

/// Connects to `server` with TCP_NODELAY. A refused connect is retried for up to 5 s: a server
/// may refuse a SYN burst briefly (smoltcp's listen pool), which is not what the load
/// generators measure.
pub async fn connect(server: SocketAddr) -> io::Result<TcpStream> {
    let give_up = Instant::now() + Duration::from_secs(5);
    let stream = loop {
        match TcpStream::connect(server).await {
            Ok(s) => break s,
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && Instant::now() < give_up => {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(e) => return Err(e),
        }
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Runs a load generator's `main` future: pinned to `cpu` (if given), with the open-file limit
/// raised, on a current-thread runtime with a `LocalSet` (its tasks share `Rc`s). An error
/// means the pinning failed.
pub fn run_local<F: std::future::Future>(cpu: Option<usize>, main: F) -> io::Result<F::Output> {
    if let Some(cpu) = cpu {
        pin_to_cpu(cpu).map_err(|e| io::Error::other(format!("cannot pin to CPU {cpu}: {e}")))?;
    }
    raise_nofile_limit();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(tokio::task::LocalSet::new().run_until(main)))
}
