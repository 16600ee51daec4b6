//! The event loop: one place that turns the stack and an application over it, and owns the
//! wait. The server ([`crate::server::run`]), the client role ([`crate::client::run`]) and
//! `examples/tcp_echo.rs` are [`Driver`]s run by [`run`].
//!
//! One turn:
//!
//! ```text
//! net.poll_ingress(now)              // packets in; accepts, ready and gone ids queued
//! driver.stop(..)                    // once, when `stop` is set (SIGINT/SIGTERM)
//! driver.handle(net, now)            // accept, read, write, expire: queue sends
//! net.poll_egress(now)               // timers, egress: what `handle` queued leaves now
//! wait(fds, min(net.poll_delay, driver.poll_delay), mask without SIGINT/SIGTERM)
//! driver.handle_input(..)            // the driver's own fd (stdin), when readable
//! ```
//!
//! Together the two halves are one [`Net::poll`]. Egress after `handle` sends an answer in
//! the turn that read its request, with the ACK of the request riding on it (smoltcp delays a
//! bare ACK), and spares the wait and the read that found the link empty which sending it in
//! the next turn's `poll` cost; and smoltcp walks the sockets of the shards with news once a
//! turn, not once before and once after the application.
//!
//! The wait is the link's ([`crate::device::Link::wait`]): `ppoll` on the TUN fd, or, with
//! io_uring ([`crate::device::uring`]), the one `io_uring_enter` that also submits what the
//! turn wrote and reaps what arrived; the driver's fd is polled there too.
//!
//! Signals: SIGINT and SIGTERM are blocked while a turn runs and unblocked only inside
//! the wait (the `sigmask` argument of `ppoll`, or of `io_uring_enter` with
//! `IORING_ENTER_EXT_ARG`, swaps the masks atomically). A signal that arrives between
//! the check of `stop` and the wait stays pending until the wait starts, which it then ends at
//! once (EINTR) with its handler run; so no signal is lost, even on an idle stack with no
//! timer. The handler that sets `stop` is the program's (see `demo/src/signals.rs`).

use std::io;
use std::ops::ControlFlow;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Clock, Duration, Instant, Net};

/// An application the runner turns: the server, the client role, a test or example loop.
pub trait Driver {
    /// What the run ends with.
    type Output;

    /// One turn, between `net.poll_ingress(now)` and `net.poll_egress(now)`: take accepted and
    /// gone connections, service the ready ones, run expired timers. `Break` ends the run
    /// (after one last `poll` that sends what this turn queued).
    fn handle(&mut self, net: &mut Net, now: Instant) -> ControlFlow<Self::Output>;

    /// How long until [`Driver::handle`] must run again without any I/O (`None`: no timer).
    fn poll_delay(&self, now: Instant) -> Option<Duration>;

    /// `stop` was set (SIGINT/SIGTERM): start a graceful end. Called once, before the turn's
    /// `handle`; `Break` ends the run at once.
    fn stop(&mut self, net: &mut Net, now: Instant) -> ControlFlow<Self::Output>;

    /// An fd to wait on besides the TUN device (stdin for the client), if any now.
    fn input(&self) -> Option<RawFd> {
        None
    }

    /// [`Driver::input`] is readable (or hung up).
    fn handle_input(&mut self, _net: &mut Net, _now: Instant) -> ControlFlow<Self::Output> {
        ControlFlow::Continue(())
    }
}

/// Turns `net` and `driver` until the driver breaks, then sends what is queued and flushes the
/// middleware (pcap). `clock` is the one `net` and the driver have been reading. `stop` is the flag the program's SIGINT/SIGTERM handler sets; both
/// signals are blocked while this runs except inside the wait (see the module doc), and the
/// previous mask is restored on return.
pub fn run<D: Driver + ?Sized>(
    net: &mut Net,
    clock: &Clock,
    driver: &mut D,
    stop: &AtomicBool,
) -> io::Result<D::Output> {
    let mask = StopSignalsBlocked::new()?;
    let mut stopping = false;
    let output = loop {
        let now = clock.now();
        net.poll_ingress(now);
        if !stopping && stop.load(Ordering::SeqCst) {
            stopping = true;
            if let ControlFlow::Break(output) = driver.stop(net, now) {
                break output;
            }
        }
        if let ControlFlow::Break(output) = driver.handle(net, now) {
            break output;
        }
        net.poll_egress(now);
        let timeout = [net.poll_delay(now), driver.poll_delay(now)]
            .into_iter()
            .flatten()
            .min();
        let input = driver.input();
        let extra: &[RawFd] = match &input {
            Some(fd) => std::slice::from_ref(fd),
            None => &[],
        };
        let ready = net.wait_masked(extra, timeout, &mask.during_wait)?;
        if ready & 1 != 0 {
            if let ControlFlow::Break(output) = driver.handle_input(net, clock.now()) {
                break output;
            }
        }
    };
    // Close frames, FINs and RSTs the last turn queued leave before the caller exits.
    net.poll(clock.now());
    net.flush()?;
    Ok(output)
}

/// SIGINT and SIGTERM blocked for this thread while it lives; the mask to wait with (the
/// previous one, with both unblocked) and the previous mask, restored on drop.
struct StopSignalsBlocked {
    previous: libc::sigset_t,
    during_wait: libc::sigset_t,
}

impl StopSignalsBlocked {
    fn new() -> io::Result<Self> {
        // SAFETY: sigset_t is plain data; every set is initialised by sigemptyset or by
        // pthread_sigmask before it is read, and the pointers are to live locals.
        unsafe {
            let mut stop: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut stop);
            libc::sigaddset(&mut stop, libc::SIGINT);
            libc::sigaddset(&mut stop, libc::SIGTERM);
            let mut previous: libc::sigset_t = std::mem::zeroed();
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &stop, &mut previous);
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            let mut during_wait = previous;
            libc::sigdelset(&mut during_wait, libc::SIGINT);
            libc::sigdelset(&mut during_wait, libc::SIGTERM);
            Ok(StopSignalsBlocked {
                previous,
                during_wait,
            })
        }
    }
}

impl Drop for StopSignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: `previous` was filled by pthread_sigmask in `new`.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }
}
