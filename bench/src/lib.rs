//! Shared pieces of the benchmark tools (`loadgen`, the kernel-TCP bench peers and `tcpbulk`).
//!
//! Nothing here uses the project's own `ws` crate: the load generator and the peers are built on
//! independent WebSocket implementations (fastwebsockets, tokio-tungstenite) so that a bug in
//! `ws` cannot hide itself by being on both ends of a measurement.

pub mod handshake;
pub mod peer;
pub mod procstat;
pub mod stats;

use std::io;

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
