//! Sleeping until the TUN fd is readable or a timeout passes (ppoll, µs precision).

use std::io;
use std::os::fd::RawFd;

use smoltcp::time::Duration;

use super::Net;

impl Net {
    /// Sleeps until the TUN fd is readable or `timeout` passes (`None`: no timeout), with
    /// microsecond precision. Returns at once for links without an fd (tests drive those).
    /// A signal also ends the wait (`Ok`), so a SIGINT handler's flag is seen promptly.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.wait_with(timeout, &[]).map(|_| ())
    }

    /// Like [`Net::wait`], also waking when one of `extra` (at most 31 fds, e.g. stdin) is
    /// readable. Returns a bit mask: bit `i` set when `extra[i]` is readable (or hung up).
    pub fn wait_with(&mut self, timeout: Option<Duration>, extra: &[RawFd]) -> io::Result<u32> {
        const MAX_EXTRA: usize = 31;
        if extra.len() > MAX_EXTRA {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "too many fds to wait on",
            ));
        }
        let mut fds = [libc::pollfd {
            fd: -1,
            events: 0,
            revents: 0,
        }; MAX_EXTRA + 1];
        let link_fd = self.device.link().fd();
        if link_fd.is_none() && extra.is_empty() {
            return Ok(0);
        }
        fds[0].fd = link_fd.unwrap_or(-1);
        fds[0].events = libc::POLLIN;
        for (slot, &fd) in fds[1..].iter_mut().zip(extra) {
            slot.fd = fd;
            slot.events = libc::POLLIN;
        }
        let timespec = timeout.map(|d| {
            let micros = d.total_micros();
            libc::timespec {
                tv_sec: (micros / 1_000_000) as libc::time_t,
                tv_nsec: ((micros % 1_000_000) * 1000) as libc::c_long,
            }
        });
        let ts_ptr = timespec
            .as_ref()
            .map_or(std::ptr::null(), |ts| ts as *const libc::timespec);
        // SAFETY: `fds` outlives the call and holds `1 + extra.len()` initialised entries; a
        // negative fd is ignored by ppoll. Null sigmask: the current mask stays.
        let rc = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                (1 + extra.len()) as libc::nfds_t,
                ts_ptr,
                std::ptr::null(),
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::Interrupted {
                Ok(0)
            } else {
                Err(err)
            };
        }
        let ready = fds[1..=extra.len()]
            .iter()
            .enumerate()
            .filter(|(_, p)| p.revents != 0)
            .fold(0u32, |mask, (i, _)| mask | (1 << i));
        Ok(ready)
    }
}
