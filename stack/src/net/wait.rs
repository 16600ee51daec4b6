//! Sleeping until the TUN fd is readable or a timeout passes, for loops of one's own
//! ([`crate::runner::run`] is the loop that also handles SIGINT/SIGTERM without losing one).

use std::io;
use std::os::fd::RawFd;

use smoltcp::time::Duration;

use super::Net;

impl Net {
    /// Sleeps until the TUN fd is readable or `timeout` passes (`None`: no timeout), with
    /// microsecond precision. Returns at once for links without an fd (tests drive those).
    /// A handled signal also ends the wait (`Ok`). A loop that stops on a signal should use
    /// [`crate::runner::run`] instead: checking a flag and then calling this can miss a signal that
    /// lands in between.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.wait_with(timeout, &[]).map(|_| ())
    }

    /// Like [`Net::wait`], also waking when one of `extra` (at most 31 fds, e.g. stdin) is
    /// readable. Returns a bit mask: bit `i` set when `extra[i]` is readable (or hung up).
    pub fn wait_with(&mut self, timeout: Option<Duration>, extra: &[RawFd]) -> io::Result<u32> {
        self.device.link_mut().wait(extra, timeout, None)
    }

    /// Like [`Net::wait_with`] with `sigmask` as the signal mask during the wait (the runner's
    /// wait, see [`crate::runner`]).
    pub(crate) fn wait_masked(
        &mut self,
        extra: &[RawFd],
        timeout: Option<Duration>,
        sigmask: &libc::sigset_t,
    ) -> io::Result<u32> {
        self.device.link_mut().wait(extra, timeout, Some(sigmask))
    }
}
