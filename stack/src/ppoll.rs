//! Waiting on file descriptors with a microsecond timeout and a signal mask (ppoll(2)): the
//! blocking call of the read/write TUN path and of the in-memory links (the default
//! [`crate::device::Link::wait`]); the io_uring path waits in `io_uring_enter` instead
//! ([`crate::device::uring`]). [`crate::runner`] waits through the link, and so does
//! [`crate::Net::wait`] for loops of one's own.

use std::io;
use std::os::fd::RawFd;

use crate::Duration;

/// Sleeps until `link_fd` or one of `extra` (at most 31 fds) is readable, `timeout` passes
/// (`None`: no timeout; microsecond precision) or a signal is handled. `sigmask`: the mask to
/// wait with (`None`: the current one). Returns at once when there is no fd to wait on (links
/// driven by tests), after letting in, under `sigmask`, any signal that is pending. Returns a
/// bit mask: bit `i` set when `extra[i]` is readable or hung up.
pub(crate) fn wait(
    link_fd: Option<RawFd>,
    extra: &[RawFd],
    timeout: Option<Duration>,
    sigmask: Option<&libc::sigset_t>,
) -> io::Result<u32> {
    const MAX_EXTRA: usize = 31;
    if extra.len() > MAX_EXTRA {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many fds to wait on",
        ));
    }
    let nothing_to_wait_on = link_fd.is_none() && extra.is_empty();
    if nothing_to_wait_on && sigmask.is_none() {
        return Ok(0);
    }
    let mut fds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; MAX_EXTRA + 1];
    fds[0].fd = link_fd.unwrap_or(-1);
    fds[0].events = libc::POLLIN;
    for (slot, &fd) in fds[1..].iter_mut().zip(extra) {
        slot.fd = fd;
        slot.events = libc::POLLIN;
    }
    // With nothing to wait on, a zero timeout: the call only delivers pending signals.
    let timeout = if nothing_to_wait_on {
        Some(Duration::ZERO)
    } else {
        timeout
    };
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
    let mask_ptr = sigmask.map_or(std::ptr::null(), |m| m as *const libc::sigset_t);
    // SAFETY: `fds` outlives the call and holds `1 + extra.len()` initialised entries; a
    // negative fd is ignored by ppoll. The timeout and mask pointers are null or point to
    // live locals/borrows.
    let rc = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            (1 + extra.len()) as libc::nfds_t,
            ts_ptr,
            mask_ptr,
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
