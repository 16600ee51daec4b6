//! Configuration of the network half of the stack: which TUN, which addresses, which middleware.

use std::net::IpAddr;
use std::path::PathBuf;

use smoltcp::socket::tcp::CongestionControl;
use smoltcp::time::Duration;
use smoltcp::wire::{IpAddress, IpCidr, Ipv4Address, Ipv4Cidr};

/// Default [`NetConfig::max_connections`]: enough for classroom use and the 200-connect burst
/// test, small enough that smoltcp's linear socket scan (about 90 ns per socket per packet)
/// stays cheap.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Default [`NetConfig::max_per_source`]: no cap. Every client on the TUN's host reaches the
/// stack from the same address (the kernel side), so a cap would limit the local case users
/// run; it is for deployments that peers beyond the host can reach (see `tunws --help`).
pub const DEFAULT_MAX_PER_SOURCE: usize = 0;

/// Default receive and send buffer per TCP socket ([`NetConfig::rx_buffer`], `tx_buffer`).
pub const DEFAULT_SOCKET_BUFFER: usize = 64 * 1024;

/// The address with prefix `addr/prefix` for [`NetConfig::addr`] from std types, so programs
/// configure the stack without naming smoltcp.
pub fn cidr(addr: IpAddr, prefix: u8) -> IpCidr {
    IpCidr::new(IpAddress::from(addr), prefix)
}

/// How [`crate::Net::open`] drives the TUN device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoMode {
    /// One `read`/`write` system call per frame, `ppoll` to wait ([`crate::device::tun`]).
    ReadWrite,
    /// io_uring: a multishot read, queued writes and the wait in one `io_uring_enter` per
    /// turn ([`crate::device::uring`]); read/write when io_uring is unavailable.
    #[default]
    Uring,
}

/// Everything [`crate::Net`] needs to come up. `Default` matches the CLI defaults of `tunws`
/// (`--tun tun0 --addr 10.0.0.2/24`), so callers set only what they change.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Name of the TUN device; opened if it exists (it may be a persistent device owned by the
    /// user), created otherwise.
    pub tun: String,
    /// The stack's IPv4 (or IPv6) address with prefix; the kernel side is on-link in that prefix.
    pub addr: IpCidr,
    /// Optional second address, normally IPv6.
    pub addr6: Option<IpCidr>,
    /// TUN MTU to set (SIOCSIFMTU). `None` reads the device's current MTU. The smoltcp device MTU
    /// always equals the TUN MTU because smoltcp derives its advertised MSS from it.
    pub mtu: Option<usize>,
    /// Exchange TCP super-packets (up to 64 KiB) and partial checksums with the kernel over
    /// the TUN (virtio-net header, TSO/checksum offload), instead of one MTU-sized packet per
    /// read/write. Only [`crate::Net::open`] looks at it; other links say for themselves.
    pub offload: bool,
    /// How the TUN is read and written: through io_uring (one system call a loop turn for
    /// every frame in and out and the wait), or one `read`/`write` per frame and `ppoll`.
    /// io_uring falls back to read/write, logged, where it is unavailable. Only
    /// [`crate::Net::open`] looks at it.
    pub io: IoMode,
    /// Write every packet in and out to this pcap file (LINKTYPE_RAW).
    pub pcap: Option<PathBuf>,
    /// Record packets for the `/trace` viewers (the chat page's ladder) into this tap; it
    /// costs one flag check per packet while nobody watches. See [`crate::watch`].
    pub watch: Option<crate::watch::Tap>,
    /// Print one line per packet (direction, endpoints, TCP flags, seq/ack, window, length).
    pub trace: bool,
    /// Drop this percentage (0–100) of packets, independently in each direction.
    pub loss_percent: f64,
    /// Seed of the impairment PRNG (loss, reorder, duplicate, jitter), so an impaired run can
    /// be repeated exactly.
    pub loss_seed: u64,
    /// Hold back this percentage (0–100) of packets by [`crate::middleware::impair::REORDER_HOLD`]
    /// (plus any delay), so later packets overtake them.
    pub reorder_percent: f64,
    /// Deliver this percentage (0–100) of packets twice.
    pub duplicate_percent: f64,
    /// Delay every packet by this much, in each direction (zero: no delay).
    pub delay: Duration,
    /// Add a uniformly random extra delay up to this much per packet (reorders as a side effect).
    pub jitter: Duration,
    /// Cap on TCP sockets (established, half-open, closing and spare listeners together).
    /// SYNs beyond it find no listener and get a RST from smoltcp.
    pub max_connections: usize,
    /// Cap on connections (half-open and established) from one remote IP address; the SYN
    /// that would exceed it gets a RST. 0 means no cap, the default
    /// ([`DEFAULT_MAX_PER_SOURCE`]): on a TUN every client on the host shares one address (the
    /// kernel side), so any cap would limit exactly the local load tests and labs tunws
    /// serves. Set it when peers beyond the host (forwarded or routed to the TUN) can reach
    /// the stack.
    pub max_per_source: usize,
    /// Receive buffer per TCP socket, bytes (raised to four device MTUs when smaller).
    pub rx_buffer: usize,
    /// The largest receive buffer a listener may ask for with
    /// [`Net::listen_with`](crate::Net::listen_with) (as a Linux application sets `SO_RCVBUF`
    /// for a bulk transfer); raised to `rx_buffer`. Every socket's slot reserves this much
    /// address space for its receive ring, but memory is taken only as a ring is written, and
    /// only listeners that ask get the larger ring. Default 0: the same as `rx_buffer` (no
    /// larger rings, nothing more reserved).
    pub max_rx_buffer: usize,
    /// Send buffer per TCP socket, bytes (raised to four device MTUs when smaller).
    pub tx_buffer: usize,
    /// Congestion control of every TCP connection (smoltcp's Cubic, Reno, or none: then only
    /// the peer's window limits what is in flight).
    pub congestion: CongestionControl,
    /// Run the loss-recovery layer ([`crate::recovery`]): SACK repair, RACK, tail-loss
    /// probes around smoltcp's own retransmission timer.
    pub recovery: bool,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            tun: "tun0".into(),
            addr: IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 2), 24)),
            addr6: None,
            mtu: None,
            offload: true,
            io: IoMode::default(),
            pcap: None,
            watch: None,
            trace: false,
            loss_percent: 0.0,
            loss_seed: 0,
            reorder_percent: 0.0,
            duplicate_percent: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_source: DEFAULT_MAX_PER_SOURCE,
            rx_buffer: DEFAULT_SOCKET_BUFFER,
            max_rx_buffer: 0,
            tx_buffer: DEFAULT_SOCKET_BUFFER,
            congestion: CongestionControl::Cubic,
            recovery: true,
        }
    }
}
