//! Waiting for a condition instead of sleeping for a guessed time.

use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use crate::IO_TIMEOUT;

/// Calls `probe` every 10 ms until it gives a value, for up to `timeout`, and returns that
/// value; panics naming `what` if it never does. Tests wait for the condition they need with
/// this instead of sleeping for a guessed time.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Bytes written on `stream` that its peer has not acknowledged yet (SIOCOUTQ).
pub fn unacked_bytes(stream: &TcpStream) -> usize {
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) on a TCP socket writes one int through the pointer, which
    // points to a live local.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    assert_eq!(rc, 0, "SIOCOUTQ: {}", std::io::Error::last_os_error());
    usize::try_from(queued).unwrap_or(0)
}

/// Waits until tunws's stack has acknowledged every byte written on `stream` (up to
/// [`IO_TIMEOUT`]): the bytes are in its socket buffer, not in flight.
pub fn wait_acked(stream: &TcpStream) {
    wait_for("the peer acknowledges every byte sent", IO_TIMEOUT, || {
        (unacked_bytes(stream) == 0).then_some(())
    });
}
