//! The TUN device driven through io_uring: one `io_uring_enter` per runner turn submits every
//! frame the turn wrote and is the turn's wait, which reaps every frame that arrived.
//!
//! Reads: one multishot read (`IORING_OP_READ_MULTISHOT`) stays armed on the fd, picking
//! buffers from a provided-buffer ring of frame-sized buffers (about [`READ_MEMORY`] bytes of
//! them, at least [`MIN_READ_BUFFERS`]); each arriving
//! frame is one completion, posted in the order the frames were read. The link lends them
//! ([`Link::recv_held`]): the port hands smoltcp each frame where the kernel wrote it, with no
//! copy, and its buffer goes back to the ring at the next read or wait (smoltcp is done with
//! it by then); the replies smoltcp makes meanwhile leave through the link's sending half
//! ([`Link::held`]), which touches no read buffer. [`Link::recv`] copies instead, and gives
//! the buffer back at once.
//! When the ring runs dry the kernel ends the multishot read (`-ENOBUFS`); the next wait arms
//! it again. The fd stays `O_NONBLOCK`: the read is issued non-blocking and, finding the
//! device empty, waits on the kernel's poll of the fd instead of a worker thread (tested by
//! `reads_wait_for_frames_without_busy_completions` below).
//!
//! Writes: the port has smoltcp build each frame in a write arena of [`WRITE_ARENA`] bytes,
//! right after the frames before it ([`Sink::slot`], [`Sink::send_slot`]: no copy), or
//! [`Link::send`] copies the frame there; either queues a write; the arena starts over once every write in
//! it has completed. The queue is submitted by the next wait (or [`Link::flush`]), or at once
//! when the arena or the submission queue is full. Packing the frames keeps the resident
//! memory to what a turn writes (a 64 KiB slot per frame would make every small frame's page
//! resident in its own slot). A TUN
//! write never blocks (the device's send buffer is unlimited and the fd non-blocking), so
//! every write completes inside the submitting call, in submission order: frames leave in the
//! order smoltcp made them. A write that fails with `EAGAIN` is a frame dropped, like the
//! read/write path drops it; other failures and short writes are counted and logged.
//!
//! The wait: `io_uring_enter` with `IORING_ENTER_EXT_ARG`, the timeout and the caller's
//! signal mask, so SIGINT/SIGTERM are let in only there, exactly like `ppoll` (see
//! [`crate::runner`]). An extra fd (stdin for the client role) is waited on with a poll
//! request.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use io_uring::{IoUring, cqueue, opcode, squeue, types};

mod buffers;
mod setup;
use buffers::{ReadBuffers, WriteArena};
use setup::{Parts, probe};

use super::tun::TunLink;
use super::{Link, MAX_EGRESS_PACKET, Sink, vnet};
use crate::Duration;

/// Bytes of read buffers: 16 frames of 64 KiB with offload, 64 of at most 16 KiB without. A
/// small packet makes only its buffer's first page resident, a super-packet all of it.
pub const READ_MEMORY: usize = 1 << 20;
/// Read buffers at least (the ring's size is a power of two, at most 64).
pub const MIN_READ_BUFFERS: usize = 16;
pub(crate) const MAX_READ_BUFFERS: usize = 64;
/// Bytes of frames a turn may queue before the queue is submitted early: four of the largest.
pub const WRITE_ARENA: usize = 4 * (vnet::HEADER_LEN + MAX_EGRESS_PACKET);
/// Submission queue entries: writes (submitted early when these run out), the read, the
/// extra-fd polls and a cancel.
const RING_ENTRIES: u32 = 128;
/// The buffer group of the read buffers.
const BUFFER_GROUP: u16 = 0;

/// `user_data` of the multishot read; writes carry `WRITE | length`, polls `POLL | fd`.
const READ: u64 = 1 << 32;
const WRITE: u64 = 2 << 32;
const POLL: u64 = 3 << 32;
const CANCEL: u64 = 4 << 32;
const PROBE: u64 = 5 << 32;
const KIND: u64 = 0xffff_ffff << 32;

/// `IORING_ENTER_GETEVENTS` and `IORING_ENTER_EXT_ARG`.
const ENTER_GETEVENTS: u32 = 1;
const ENTER_EXT_ARG: u32 = 1 << 3;
/// The kernel's `sigset_t`: 64 signals.
const KERNEL_SIGSET_SIZE: u32 = 8;

/// `struct io_uring_getevents_arg`.
#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// `struct __kernel_timespec`.
#[repr(C)]
struct KernelTimespec {
    sec: i64,
    nsec: i64,
}

/// Counters of the io_uring path, for tests and the final log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UringStats {
    /// `io_uring_enter` calls (each turn's wait, plus early submits and flushes).
    pub enters: u64,
    /// Frames read.
    pub reads: u64,
    /// Frames written.
    pub writes: u64,
    /// Frames dropped because the device refused them (`EAGAIN`) or the arena stayed full.
    pub dropped_writes: u64,
    /// Failed or short writes, and failed reads.
    pub errors: u64,
    /// Times the multishot read was armed again (it ends when the buffers run out).
    pub rearms: u64,
}

/// A frame-moving fd (a TUN device) driven through io_uring; see the module doc.
pub struct UringLink {
    /// Declared first: dropped (and the kernel's requests cancelled) before the memory below.
    io: Io,
    reads: ReadBuffers,
    /// The frame lent to the caller ([`Link::recv_held`]): `(buffer id, length)`; its buffer
    /// goes back to the ring at the next read or wait.
    lent: Option<(u16, usize)>,
}

/// Everything but the read buffers: the ring, the writes, what was reaped. Apart so that
/// frames can be sent ([`Sink`]) while a read buffer is lent out.
struct Io {
    ring: IoUring,
    writes: WriteArena,
    file: File,
    mtu: usize,
    offload: bool,
    /// Frames read, in order, not yet handed over: `Ok((buffer id, length))` or a read error.
    ready: VecDeque<io::Result<(u16, usize)>>,
    read_armed: bool,
    /// Writes carry `RWF_NOWAIT` ([`UringLink::nowait`]).
    nowait: bool,
    /// Extra fds with a poll request in flight, and those that reported readiness.
    polling: Vec<RawFd>,
    readable: Vec<RawFd>,
    stats: UringStats,
}

impl UringLink {
    /// Drives `tun` through a new io_uring. On failure (io_uring disabled by sysctl or seccomp,
    /// a kernel without multishot reads or buffer rings) gives `tun` back with the reason.
    pub fn new(tun: TunLink) -> Result<UringLink, (TunLink, io::Error)> {
        let parts = probe().and_then(|()| Parts::new(tun.mtu(), tun.offload()));
        match parts {
            Ok(parts) => {
                let (file, name, mtu, offload) = tun.into_parts();
                parts
                    .attach(file, mtu, offload)
                    .map_err(|(file, err)| (TunLink::from_parts(file, name, mtu, offload), err))
            }
            Err(err) => Err((tun, err)),
        }
    }

    /// Drives any non-blocking, pollable fd that moves one frame per read and write (a TUN
    /// device; a `SOCK_SEQPACKET` socket in tests).
    pub fn from_file(file: File, mtu: usize, offload: bool) -> io::Result<UringLink> {
        Parts::new(mtu, offload)?
            .attach(file, mtu, offload)
            .map_err(|(_, err)| err)
    }

    /// Whether writes carry `RWF_NOWAIT` (the fd supports it): a write the device cannot take
    /// now then fails with `EAGAIN` (the frame is dropped) instead of waiting in the kernel for
    /// room while later frames overtake it.
    pub fn nowait(&self) -> bool {
        self.io.nowait
    }

    /// Counters so far.
    pub fn stats(&self) -> UringStats {
        self.io.stats
    }

    /// Gives the lent frame's buffer back to the ring.
    fn give_back_lent(&mut self) {
        if let Some((bid, _)) = self.lent.take() {
            self.reads.give_back(bid);
        }
    }

    /// The next frame read, in order (reaping, and entering once when the kernel may hold
    /// more, see `recv`); `None` when there is none now.
    fn next_frame(&mut self) -> io::Result<Option<(u16, usize)>> {
        let io = &mut self.io;
        if io.ready.is_empty() {
            io.reap();
        }
        // Empty only when the kernel holds nothing either: the read armed and no frame
        // waiting to be completed (the kernel raises IORING_SQ_TASKRUN for one that arrived
        // since the last enter). Else one enter (no wait) fetches them all: callers take
        // `None` as "every frame that arrived has been read" (the recovery layer's timers
        // wait for that, or fire spuriously while the ACKs they wait for sit unread).
        if io.ready.is_empty() && (!io.read_armed || io.ring.submission().taskrun()) {
            io.arm_read()?;
            io.enter(0, None, None)?;
            io.reap();
        }
        match io.ready.pop_front() {
            None => Ok(None),
            Some(Err(err)) => Err(err),
            Some(Ok((bid, len))) => Ok(Some((bid, len.min(self.reads.buffer(bid).len())))),
        }
    }
}

impl Io {
    /// Moves every completion the kernel has posted into `ready`, the write arena and
    /// `readable`. No system call.
    fn reap(&mut self) {
        let mut completion = self.ring.completion();
        completion.sync();
        for cqe in completion {
            let (data, res, flags) = (cqe.user_data(), cqe.result(), cqe.flags());
            match data & KIND {
                READ => {
                    if !cqueue::more(flags) {
                        self.read_armed = false;
                    }
                    match (res, cqueue::buffer_select(flags)) {
                        (len, Some(bid)) if len >= 0 => {
                            self.stats.reads += 1;
                            self.ready.push_back(Ok((bid, len as usize)));
                        }
                        // The buffers ran out (re-armed by the next wait), or the request was
                        // cancelled on drop.
                        (res, _) if res == -libc::ENOBUFS || res == -libc::ECANCELED => {}
                        (res, _) => {
                            self.stats.errors += 1;
                            self.ready
                                .push_back(Err(io::Error::from_raw_os_error(-res)));
                        }
                    }
                }
                WRITE => {
                    let expected = (data & !KIND) as usize;
                    self.writes.complete();
                    match res {
                        len if len >= 0 && len as usize == expected => self.stats.writes += 1,
                        len if len >= 0 => {
                            self.stats.errors += 1;
                            log_write_error(
                                &format!("short write: {len} of {expected} bytes"),
                                self.stats.errors,
                            );
                        }
                        res if res == -libc::EAGAIN => self.stats.dropped_writes += 1,
                        res => {
                            self.stats.errors += 1;
                            let err = io::Error::from_raw_os_error(-res);
                            log_write_error(&err.to_string(), self.stats.errors);
                        }
                    }
                }
                POLL => {
                    let fd = (data & !KIND) as RawFd;
                    self.polling.retain(|&f| f != fd);
                    self.readable.push(fd);
                }
                _ => {}
            }
        }
    }

    /// Queues `entry`, submitting what is queued first when the submission queue is full.
    fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry points only into `reads` or `writes` (alive until the ring is
            // dropped) or carries no pointer.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return Ok(());
            }
            self.enter(0, None, None)?;
        }
    }

    /// One `io_uring_enter`: submits what is queued and waits for `want` completions, at
    /// most `timeout`, with `sigmask`; a timeout or a handled signal is not an error.
    fn enter(
        &mut self,
        want: usize,
        timeout: Option<Duration>,
        sigmask: Option<&libc::sigset_t>,
    ) -> io::Result<()> {
        self.stats.enters += 1;
        let ts = timeout.map(|d| {
            let micros = d.total_micros();
            KernelTimespec {
                sec: (micros / 1_000_000) as i64,
                nsec: ((micros % 1_000_000) * 1000) as i64,
            }
        });
        // Built here rather than with `types::SubmitArgs`, which gives the size of libc's
        // 128-byte `sigset_t` where the kernel wants its own 8-byte one (EINVAL).
        let arg = GeteventsArg {
            sigmask: sigmask.map_or(0, |m| m as *const libc::sigset_t as u64),
            sigmask_sz: if sigmask.is_some() {
                KERNEL_SIGSET_SIZE
            } else {
                0
            },
            min_wait_usec: 0,
            ts: ts.as_ref().map_or(0, |t| t as *const KernelTimespec as u64),
        };
        let mut flags = ENTER_EXT_ARG;
        if want > 0 {
            flags |= ENTER_GETEVENTS;
        }
        let to_submit = self.ring.submission().len() as u32;
        // Every queued write is submitted now (and completes inside this call).
        self.writes.queued = 0;
        // SAFETY: `arg` and what it points to (the mask, the timespec) outlive the call; the
        // queued entries point only into memory the ring outlives (see `push`).
        let result = unsafe {
            self.ring
                .submitter()
                .enter(to_submit, want as u32, flags, Some(&arg))
        };
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.raw_os_error() {
                Some(libc::EINTR | libc::ETIME | libc::EBUSY) => Ok(()),
                _ => Err(err),
            },
        }
    }

    /// Submits the queued writes and reaps their completions; waits (at most 10 ms) for one
    /// when the arena is still full.
    fn submit_writes(&mut self) -> io::Result<()> {
        self.enter(0, None, None)?;
        self.reap();
        if self.writes.in_flight > 0 {
            self.enter(1, Some(Duration::from_millis(10)), None)?;
            self.reap();
        }
        Ok(())
    }

    /// Arms the multishot read when it is not.
    fn arm_read(&mut self) -> io::Result<()> {
        if self.read_armed {
            return Ok(());
        }
        let entry = opcode::ReadMulti::new(types::Fd(self.file.as_raw_fd()), 0, BUFFER_GROUP)
            .build()
            .user_data(READ);
        self.push(&entry)?;
        self.read_armed = true;
        if self.stats.enters > 0 {
            self.stats.rearms += 1;
        }
        Ok(())
    }
}

impl Sink for Io {
    fn send_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        if frame.len() > WRITE_ARENA {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame larger than the write arena",
            ));
        }
        let Some(buf) = self.room(frame.len())? else {
            // The arena still full after the wait: drop like a congested link.
            self.stats.dropped_writes += 1;
            return Ok(());
        };
        buf.copy_from_slice(frame);
        self.send_slot(frame.len())
    }

    fn slot(&mut self, len: usize) -> Option<&mut [u8]> {
        if len > WRITE_ARENA {
            return None;
        }
        // A failure here comes back from the copying send the caller falls back to.
        self.room(len).ok().flatten()
    }

    fn send_slot(&mut self, len: usize) -> io::Result<()> {
        let Some(buf) = self.writes.take(len) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame longer than the room taken for it",
            ));
        };
        let entry = opcode::Write::new(types::Fd(self.file.as_raw_fd()), buf.as_ptr(), len as u32)
            .rw_flags(if self.nowait { libc::RWF_NOWAIT } else { 0 })
            .build()
            .user_data(WRITE | len as u64);
        self.push(&entry)
    }
}

impl Io {
    /// Room for `len` (at most [`WRITE_ARENA`]) bytes in the write arena, after submitting the
    /// queued writes (and waiting for them) when it is full; `None` when it stayed full.
    fn room(&mut self, len: usize) -> io::Result<Option<&mut [u8]>> {
        if !self.writes.fits(len) {
            self.submit_writes()?;
        }
        Ok(self.writes.slot(len))
    }

    fn wait(
        &mut self,
        extra: &[RawFd],
        timeout: Option<Duration>,
        sigmask: Option<&libc::sigset_t>,
    ) -> io::Result<u32> {
        self.reap();
        self.arm_read()?;
        for &fd in extra {
            if !self.polling.contains(&fd) && !self.readable.contains(&fd) {
                let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
                    .build()
                    .user_data(POLL | fd as u32 as u64);
                self.push(&entry)?;
                self.polling.push(fd);
            }
        }
        let news = !self.ready.is_empty() || extra.iter().any(|fd| self.readable.contains(fd));
        // The writes complete inside the call and post their completions before the wait
        // starts: wait for one more than those, a frame, a poll, the timeout or a signal.
        let want = if news { 0 } else { self.writes.queued + 1 };
        let timeout = if news { Some(Duration::ZERO) } else { timeout };
        self.enter(want, timeout, sigmask)?;
        self.reap();
        let mut ready = 0u32;
        for (i, fd) in extra.iter().enumerate() {
            if let Some(at) = self.readable.iter().position(|f| f == fd) {
                self.readable.swap_remove(at);
                ready |= 1 << i;
            }
        }
        Ok(ready)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.enter(0, None, None)?;
        self.reap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(100);
        while self.writes.in_flight > 0 && std::time::Instant::now() < deadline {
            self.enter(1, Some(Duration::from_millis(10)), None)?;
            self.reap();
        }
        Ok(())
    }
}

impl Link for UringLink {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.give_back_lent();
        let Some((bid, len)) = self.next_frame()? else {
            return Ok(None);
        };
        let len = len.min(buf.len());
        buf[..len].copy_from_slice(&self.reads.buffer(bid)[..len]);
        self.reads.give_back(bid);
        Ok(Some(len))
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.io.send_frame(frame)
    }

    fn mtu(&self) -> usize {
        self.io.mtu
    }

    fn fd(&self) -> Option<RawFd> {
        Some(self.io.file.as_raw_fd())
    }

    fn offload(&self) -> bool {
        self.io.offload
    }

    fn wait(
        &mut self,
        extra: &[RawFd],
        timeout: Option<Duration>,
        sigmask: Option<&libc::sigset_t>,
    ) -> io::Result<u32> {
        self.give_back_lent();
        self.io.wait(extra, timeout, sigmask)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.io.flush()
    }

    fn lends(&self) -> bool {
        true
    }

    fn recv_held(&mut self) -> io::Result<Option<usize>> {
        self.give_back_lent();
        self.lent = self.next_frame()?;
        Ok(self.lent.map(|(_, len)| len))
    }

    fn sink(&mut self) -> Option<&mut dyn Sink> {
        Some(&mut self.io)
    }

    fn held(&mut self) -> Option<(&mut [u8], &mut dyn Sink)> {
        let (bid, len) = self.lent?;
        let frame = self.reads.buffer_mut(bid).get_mut(..len)?;
        Some((frame, &mut self.io))
    }
}

impl Drop for UringLink {
    fn drop(&mut self) {
        // Queued frames leave; then the read is cancelled and its end awaited, so the kernel
        // writes into no buffer after they are freed.
        let _ = Link::flush(self);
        let io = &mut self.io;
        if io.read_armed {
            let entry = opcode::AsyncCancel::new(READ).build().user_data(CANCEL);
            if io.push(&entry).is_ok() {
                for _ in 0..10 {
                    if io.enter(1, Some(Duration::from_millis(10)), None).is_err() {
                        break;
                    }
                    io.reap();
                    if !io.read_armed {
                        break;
                    }
                }
            }
        }
    }
}

/// Logs the 1st, 2nd, 4th … write error, like the read/write path.
fn log_write_error(what: &str, count: u64) {
    if count.is_power_of_two() {
        log::warn!("link write failed: {what} ({count} link errors so far)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;
    use std::time::Instant;

    /// A non-blocking `SOCK_SEQPACKET` pair: one frame per read and write, like a TUN.
    fn pair() -> (File, File) {
        let mut fds = [0; 2];
        // SAFETY: socketpair fills both fds on success; each is owned by one File below.
        unsafe {
            let flags = libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
            assert_eq!(
                libc::socketpair(libc::AF_UNIX, flags, 0, fds.as_mut_ptr()),
                0
            );
            (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1]))
        }
    }

    fn link() -> (UringLink, File) {
        let (ours, mut theirs) = pair();
        let link = UringLink::from_file(ours, 1500, false).unwrap();
        assert!(link.nowait(), "sockets take RWF_NOWAIT");
        // The probe's empty write is an empty message on a socket.
        assert_eq!(drain(&mut theirs), vec![Vec::<u8>::new()]);
        (link, theirs)
    }

    /// Sets the link socket's send buffer (`option`: SO_SNDBUF, or SO_SNDBUFFORCE as root).
    fn set_send_buffer(link: &UringLink, option: libc::c_int, bytes: libc::c_int) -> bool {
        // SAFETY: setsockopt reads one int through the pointer.
        unsafe {
            libc::setsockopt(
                link.io.file.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ) == 0
        }
    }

    /// Frame `i`: its number, then filler of a length that varies with it.
    fn frame(i: u32) -> Vec<u8> {
        let mut f = i.to_be_bytes().to_vec();
        f.resize(4 + (i as usize * 7) % 200, i as u8);
        f
    }

    /// Everything queued at `peer` now, one frame each.
    fn drain(peer: &mut File) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok(len) = peer.read(&mut buf) {
            out.push(buf[..len].to_vec());
        }
        out
    }

    /// Waits and reads until `n` frames came in (or 2 s passed).
    fn receive(link: &mut UringLink, n: usize) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let mut buf = [0u8; 1500];
        let start = Instant::now();
        while got.len() < n && start.elapsed() < std::time::Duration::from_secs(2) {
            link.wait(&[], Some(Duration::from_millis(100)), None)
                .unwrap();
            while let Some(len) = link.recv(&mut buf).unwrap() {
                got.push(buf[..len].to_vec());
            }
        }
        got
    }

    #[test]
    fn frames_in_are_handed_over_in_order_also_past_the_buffers() {
        let (mut link, mut peer) = link();
        // More than the ring has buffers: the multishot read ends (ENOBUFS) and is re-armed.
        assert_eq!(link.reads.count, 64, "1500-byte frames");
        let n = u32::from(link.reads.count) * 2 + 5;
        for i in 0..n {
            peer.write_all(&frame(i)).unwrap();
        }
        let got = receive(&mut link, n as usize);
        assert_eq!(got, (0..n).map(frame).collect::<Vec<_>>());
        let stats = link.stats();
        assert_eq!((stats.reads, stats.errors), (u64::from(n), 0));
        assert!(stats.rearms >= 1, "{stats:?}");
        assert_eq!(link.recv(&mut [0u8; 64]).unwrap(), None);
    }

    #[test]
    fn lent_frames_come_in_order_writable_and_their_buffers_go_back() {
        let (mut link, mut peer) = link();
        assert!(link.lends());
        assert!(link.held().is_none(), "nothing read yet");
        // Twice as many frames as buffers: each lent buffer must go back to the ring.
        let n = u32::from(link.reads.count) * 2 + 3;
        for i in 0..n {
            peer.write_all(&frame(i)).unwrap();
        }
        let mut got = Vec::new();
        let start = Instant::now();
        while got.len() < n as usize && start.elapsed() < std::time::Duration::from_secs(2) {
            link.wait(&[], Some(Duration::from_millis(100)), None)
                .unwrap();
            while let Some(len) = link.recv_held().unwrap() {
                let (held, sink) = link.held().expect("the frame just read");
                assert_eq!(held.len(), len);
                got.push(held.to_vec());
                // Writable in place, and the link sends while the frame is borrowed.
                held[0] ^= 0xff;
                sink.send_frame(&held[..4]).unwrap();
            }
            assert!(link.held().is_none(), "an empty read holds nothing");
        }
        assert_eq!(got, (0..n).map(frame).collect::<Vec<_>>());
        link.flush().unwrap();
        let echoed = drain(&mut peer);
        assert_eq!(echoed.len(), n as usize);
        assert!(echoed.iter().zip(0..n).all(|(e, i)| {
            let mut want = i.to_be_bytes();
            want[0] ^= 0xff;
            e[..] == want[..]
        }));
        let stats = link.stats();
        assert_eq!(
            (stats.reads, stats.writes, stats.errors),
            (u64::from(n), u64::from(n), 0)
        );
        assert!(stats.rearms >= 1, "{stats:?}");
    }

    #[test]
    fn frames_built_in_the_arena_leave_whole_and_in_order_with_copied_ones() {
        let (mut link, mut peer) = link();
        let sink = link.sink().expect("io_uring builds frames in place");
        // Room asked for generously, a shorter frame sent from it; then a copied one.
        let slot = sink.slot(100).expect("room");
        assert_eq!(slot.len(), 100);
        slot[..5].copy_from_slice(b"first");
        sink.send_slot(5).unwrap();
        sink.send_frame(b"second").unwrap();
        // Room taken and left unsent is reused; a frame longer than its room is refused.
        sink.slot(10).unwrap().copy_from_slice(b"abandoned!");
        let slot = sink.slot(8).unwrap();
        slot[..5].copy_from_slice(b"third");
        assert!(sink.send_slot(9).is_err());
        sink.send_slot(5).unwrap();
        assert!(sink.slot(WRITE_ARENA + 1).is_none());
        link.wait(&[], Some(Duration::ZERO), None).unwrap();
        let sent: Vec<&[u8]> = vec![b"first", b"second", b"third"];
        assert_eq!(drain(&mut peer), sent);
        let sink = link.sink().unwrap();
        // More frames than the submission queue holds: submitted early, as with copies.
        for i in 0..300u32 {
            let slot = sink.slot(1400).unwrap();
            slot[..4].copy_from_slice(&i.to_be_bytes());
            sink.send_slot(4).unwrap();
            let _ = drain(&mut peer);
        }
        link.flush().unwrap();
        let stats = link.stats();
        assert_eq!(
            (stats.writes, stats.dropped_writes, stats.errors),
            (303, 0, 0)
        );
        assert!(stats.enters >= 3, "early submits: {stats:?}");
    }

    #[test]
    fn reads_wait_for_frames_without_busy_completions() {
        // The fd is O_NONBLOCK: the read must wait for a frame (poll), not fail with EAGAIN.
        let (mut link, mut peer) = link();
        let start = Instant::now();
        link.wait(&[], Some(Duration::from_millis(60)), None)
            .unwrap();
        assert!(start.elapsed() >= std::time::Duration::from_millis(50));
        assert_eq!(link.recv(&mut [0u8; 64]).unwrap(), None);
        assert_eq!(link.stats().errors, 0);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            peer.write_all(b"late").unwrap();
            peer
        });
        let start = Instant::now();
        link.wait(&[], Some(Duration::from_secs(5)), None).unwrap();
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        let mut buf = [0u8; 64];
        assert_eq!(link.recv(&mut buf).unwrap(), Some(4));
        assert_eq!(&buf[..4], b"late");
        drop(writer.join());
        // One enter per wait: no spin on completions that carry nothing.
        assert_eq!(link.stats().enters, 2);
    }

    #[test]
    fn writes_leave_in_order_in_one_enter_and_past_the_arena() {
        let (mut link, mut peer) = link();
        for i in 0..10 {
            link.send(&frame(i)).unwrap();
        }
        assert!(drain(&mut peer).is_empty(), "queued until the turn's wait");
        link.wait(&[], Some(Duration::ZERO), None).unwrap();
        assert_eq!(link.stats().enters, 1);
        assert_eq!(drain(&mut peer), (0..10).map(frame).collect::<Vec<_>>());
        // More bytes than the arena holds in one turn: submitted early when it is full. The
        // socket must hold them all (root may raise its send buffer; else fewer frames).
        let raised = set_send_buffer(&link, libc::SO_SNDBUFFORCE, 8 << 20);
        let n = if raised { 400 } else { 100 };
        let big = |i: u32| {
            let mut f = frame(i);
            f.resize(1400, i as u8);
            f
        };
        for i in 0..n {
            link.send(&big(i)).unwrap();
        }
        link.flush().unwrap();
        let got = drain(&mut peer);
        assert_eq!(got.len(), n as usize);
        assert!(
            got.iter().zip((0..n).map(big)).all(|(a, b)| *a == b),
            "order"
        );
        let stats = link.stats();
        assert!(!raised || stats.enters >= 3, "early submits: {stats:?}");
        assert_eq!((stats.writes, stats.dropped_writes), (10 + u64::from(n), 0));
        assert_eq!(link.io.writes.in_flight, 0);
    }

    #[test]
    fn a_full_device_drops_frames_and_a_failed_write_is_counted() {
        let (mut link, mut peer) = link();
        assert!(set_send_buffer(&link, libc::SO_SNDBUF, 4096));
        let big = vec![9u8; 1400];
        for _ in 0..40 {
            link.send(&big).unwrap();
        }
        link.flush().unwrap();
        let stats = link.stats();
        assert!(stats.dropped_writes > 0, "{stats:?}");
        assert_eq!(stats.writes + stats.dropped_writes, 40);
        assert_eq!(stats.errors, 0);
        assert_eq!(drain(&mut peer).len() as u64, stats.writes);
        // The far end gone: the write fails (EPIPE), is counted, and the link goes on.
        drop(peer);
        link.send(&big).unwrap();
        link.flush().unwrap();
        assert_eq!(link.stats().errors, 1);
        assert_eq!(link.io.writes.in_flight, 0);
    }

    #[test]
    fn an_extra_fd_ends_the_wait_and_is_reported() {
        let (mut link, _peer) = link();
        let (mut reader, mut writer) = pair();
        let fd = reader.as_raw_fd();
        assert_eq!(
            link.wait(&[fd], Some(Duration::from_millis(20)), None)
                .unwrap(),
            0
        );
        writer.write_all(b"x").unwrap();
        let start = Instant::now();
        let ready = link
            .wait(&[fd], Some(Duration::from_secs(5)), None)
            .unwrap();
        assert_eq!(ready, 1);
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(reader.read(&mut [0u8; 4]).unwrap(), 1);
        // Not readable any more: the next wait polls again and times out.
        assert_eq!(
            link.wait(&[fd], Some(Duration::from_millis(20)), None)
                .unwrap(),
            0
        );
    }
}
