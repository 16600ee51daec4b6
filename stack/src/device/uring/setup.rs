//! Setting the ring up: what this path needs from the kernel ([`probe`]), the ring and its
//! buffers made before the TUN fd is taken ([`Parts`]), and whether the fd takes
//! `RWF_NOWAIT` writes.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use io_uring::{IoUring, opcode, types};

use super::buffers::{ReadBuffers, WriteArena};
use super::{BUFFER_GROUP, Io, PROBE, RING_ENTRIES, UringLink, UringStats};
use crate::device::MAX_INGRESS_PACKET;
use crate::device::vnet;

/// The ring and its memory, made before the fd is taken so that a failure leaves it to the
/// read/write path.
pub(super) struct Parts {
    ring: IoUring,
    reads: ReadBuffers,
    writes: WriteArena,
}

impl Parts {
    pub(super) fn new(mtu: usize, offload: bool) -> io::Result<Parts> {
        let ring = IoUring::builder()
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .build(RING_ENTRIES)
            .or_else(|_| IoUring::new(RING_ENTRIES))?;
        let frame = if offload {
            vnet::HEADER_LEN + MAX_INGRESS_PACKET
        } else {
            mtu
        };
        let reads = ReadBuffers::new(frame)?;
        // SAFETY: the ring entries and the buffers they point to live in `reads`, which
        // `UringLink` drops after `ring` (field order), and never move (heap memory).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                reads.ring_addr(),
                reads.count,
                BUFFER_GROUP,
                0,
            )?;
        }
        Ok(Parts {
            ring,
            reads,
            writes: WriteArena::new(),
        })
    }

    /// Takes the fd, and finds out whether its writes can be `RWF_NOWAIT`.
    pub(super) fn attach(
        mut self,
        file: File,
        mtu: usize,
        offload: bool,
    ) -> Result<UringLink, (File, io::Error)> {
        let nowait = match probe_nowait(&mut self.ring, file.as_raw_fd()) {
            Ok(nowait) => nowait,
            Err(err) => return Err((file, err)),
        };
        Ok(UringLink {
            io: Io {
                ring: self.ring,
                writes: self.writes,
                file,
                mtu,
                offload,
                ready: VecDeque::new(),
                read_armed: false,
                nowait,
                polling: Vec::new(),
                readable: Vec::new(),
                stats: UringStats::default(),
            },
            reads: self.reads,
            lent: None,
        })
    }
}

/// Finds out whether `fd` takes `RWF_NOWAIT` writes: an empty write with the flag fails with
/// `EOPNOTSUPP` where it does not (before the device sees it; a TUN refuses the empty frame
/// itself with `EINVAL`, a socket sends nothing).
fn probe_nowait(ring: &mut IoUring, fd: RawFd) -> io::Result<bool> {
    let byte = [0u8; 1];
    let entry = opcode::Write::new(types::Fd(fd), byte.as_ptr(), 0)
        .rw_flags(libc::RWF_NOWAIT)
        .build()
        .user_data(PROBE);
    // SAFETY: the entry points to `byte`, alive until the completion is reaped below (the
    // write completes inside the submitting call).
    unsafe { ring.submission().push(&entry) }
        .map_err(|_| io::Error::other("submission queue full"))?;
    ring.submit_and_wait(1)?;
    let supported = ring
        .completion()
        .find(|cqe| cqe.user_data() == PROBE)
        .map(|cqe| cqe.result() != -libc::EOPNOTSUPP);
    supported.ok_or_else(|| io::Error::other("no completion for the RWF_NOWAIT probe"))
}

/// Checks that io_uring is allowed here and has what this path uses.
pub(super) fn probe() -> io::Result<()> {
    let ring = IoUring::new(4)?;
    let mut probe = io_uring::Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    for code in [
        opcode::ReadMulti::CODE,
        opcode::Write::CODE,
        opcode::PollAdd::CODE,
    ] {
        if !probe.is_supported(code) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("io_uring opcode {code} not supported"),
            ));
        }
    }
    Ok(())
}
