//! The TUN device: one IP packet per `read`/`write` on a non-blocking fd (tun-tap).

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use tun_tap::{Iface, Mode};

use super::Link;

/// A TUN device opened by name (created when it does not exist), non-blocking.
pub struct TunLink {
    iface: Iface,
    mtu: usize,
}

impl TunLink {
    /// Opens or creates the TUN `name` without packet-info header. With `mtu = Some(n)` the
    /// device MTU is set to `n` first; if that is not permitted (a persistent device owned by an
    /// unprivileged user) the current MTU is kept and a warning logged, because the stack's MTU
    /// must equal the device's.
    pub fn open(name: &str, mtu: Option<usize>) -> io::Result<TunLink> {
        let iface = Iface::without_packet_info(name, Mode::Tun)?;
        iface.set_non_blocking()?;
        if let Some(want) = mtu {
            if let Err(err) = set_mtu(iface.name(), want) {
                log::warn!(
                    "cannot set MTU {want} on {}: {err}; using its current MTU",
                    iface.name()
                );
            }
        }
        let mtu = get_mtu(iface.name())?;
        Ok(TunLink { iface, mtu })
    }

    /// The kernel's name for the device (as given, or chosen by the kernel for a pattern).
    pub fn name(&self) -> &str {
        self.iface.name()
    }
}

impl Link for TunLink {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.iface.recv(buf) {
            Ok(len) => Ok(Some(len)),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        match self.iface.send(packet) {
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
        Some(self.iface.as_raw_fd())
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
