//! The TUN device: one IP packet (or, with offload, one virtio-net frame) per `read`/`write`
//! on a non-blocking fd.
//!
//! The device is opened here with TUNSETIFF rather than through a TUN crate, because offload
//! needs flags and ioctls such crates do not expose: `IFF_VNET_HDR` (a [`super::vnet`] header
//! before every packet), TUNSETVNETHDRSZ and TUNSETOFFLOAD (which lets the kernel hand us TCP
//! super-packets and partial checksums).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use super::{Link, vnet};

/// The clone device every TUN is made through.
const CLONE_DEVICE: &str = "/dev/net/tun";

/// What the kernel may hand us once offload is on: partial checksums, TCP super-packets over
/// IPv4 and IPv6. Not TUN_F_TSO_ECN (the kernel then segments ECN super-packets itself) and
/// not UDP offloads (the stack has no UDP).
const OFFLOADS: libc::c_uint = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;

/// A TUN device opened by name (created when it does not exist), non-blocking.
pub struct TunLink {
    file: File,
    name: String,
    mtu: usize,
    offload: bool,
}

impl TunLink {
    /// Opens or creates the TUN `name` without packet-info header. With `mtu = Some(n)` the
    /// device MTU is set to `n` first; if that is not permitted (a persistent device owned by an
    /// unprivileged user) the current MTU is kept and a warning logged, because the stack's MTU
    /// must equal the device's.
    ///
    /// With `offload`, every frame carries a virtio-net header and the kernel may send TCP
    /// super-packets and partial checksums (see [`super::vnet`]).
    pub fn open(name: &str, mtu: Option<usize>, offload: bool) -> io::Result<TunLink> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(CLONE_DEVICE)
            .map_err(|err| io::Error::new(err.kind(), format!("{CLONE_DEVICE}: {err}")))?;
        let mut req = ifreq_for(name)?;
        let mut flags = libc::IFF_TUN | libc::IFF_NO_PI;
        if offload {
            flags |= libc::IFF_VNET_HDR;
        }
        req.ifr_ifru.ifru_flags = flags as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes the ifreq, which outlives the call.
        if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // The kernel may have chosen the name (a pattern such as `tun%d`).
        let name = req
            .ifr_name
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8 as char)
            .collect::<String>();
        if offload {
            // The header size belongs to the device and survives this fd: set it, do not
            // assume the default.
            let size = vnet::HEADER_LEN as libc::c_int;
            // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer.
            if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETVNETHDRSZ, &size) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // Also without offload: the offload features belong to the device and outlive the fd
        // that set them, so a persistent device last used with offload would otherwise keep
        // handing 64 KiB super-packets to a reader that expects MTU-sized ones.
        let offloads = if offload { OFFLOADS } else { 0 };
        // SAFETY: TUNSETOFFLOAD takes its argument by value.
        if unsafe {
            libc::ioctl(
                file.as_raw_fd(),
                libc::TUNSETOFFLOAD,
                libc::c_ulong::from(offloads),
            )
        } < 0
        {
            let err = io::Error::last_os_error();
            return Err(io::Error::new(
                err.kind(),
                format!("TUNSETOFFLOAD {offloads:#x} on {name}: {err}"),
            ));
        }
        if let Some(want) = mtu {
            if let Err(err) = set_mtu(&name, want) {
                log::warn!("cannot set MTU {want} on {name}: {err}; using its current MTU");
            }
        }
        let mtu = get_mtu(&name)?;
        Ok(TunLink {
            file,
            name,
            mtu,
            offload,
        })
    }

    /// The open device, its MTU and whether frames carry a virtio-net header, for another
    /// driver of the same fd ([`super::uring::UringLink`]).
    pub(crate) fn into_parts(self) -> (File, String, usize, bool) {
        (self.file, self.name, self.mtu, self.offload)
    }

    /// The inverse of [`TunLink::into_parts`].
    pub(crate) fn from_parts(file: File, name: String, mtu: usize, offload: bool) -> TunLink {
        TunLink {
            file,
            name,
            mtu,
            offload,
        }
    }

    /// The kernel's name for the device (as given, or chosen by the kernel for a pattern).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Link for TunLink {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.file.read(buf) {
            Ok(len) => Ok(Some(len)),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        match self.file.write(packet) {
            Ok(_) => Ok(()),
            // The kernel queue is full: drop like a congested link would.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(err) => Err(err),
        }
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn fd(&self) -> Option<RawFd> {
        Some(self.file.as_raw_fd())
    }

    fn offload(&self) -> bool {
        self.offload
    }
}

/// An `ifreq` naming `name`, for the interface ioctls.
fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    for (dst, &src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

/// Runs one interface ioctl on a throwaway datagram socket (the ioctls need some socket).
fn interface_ioctl(request: libc::c_ulong, req: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: plain syscalls; the fd is closed below on every path.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(io::Error::last_os_error());
        }
        let rc = libc::ioctl(sock, request as _, req as *mut libc::ifreq);
        let err = io::Error::last_os_error();
        libc::close(sock);
        if rc < 0 { Err(err) } else { Ok(()) }
    }
}

/// Reads the interface MTU (SIOCGIFMTU).
pub fn get_mtu(name: &str) -> io::Result<usize> {
    let mut req = ifreq_for(name)?;
    interface_ioctl(libc::SIOCGIFMTU, &mut req)?;
    // SAFETY: SIOCGIFMTU fills the mtu member of the union.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    usize::try_from(mtu).map_err(|_| io::Error::other("negative MTU"))
}

/// Sets the interface MTU (SIOCSIFMTU, needs CAP_NET_ADMIN).
pub fn set_mtu(name: &str, mtu: usize) -> io::Result<()> {
    let mut req = ifreq_for(name)?;
    req.ifr_ifru.ifru_mtu = libc::c_int::try_from(mtu)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "MTU too large"))?;
    interface_ioctl(libc::SIOCSIFMTU, &mut req)
}
