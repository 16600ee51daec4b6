//! Configuration of the network half of the stack: which TUN, which addresses, which middleware.

use std::path::PathBuf;

use smoltcp::wire::{IpCidr, Ipv4Address, Ipv4Cidr};

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
    /// Write every packet in and out to this pcap file (LINKTYPE_RAW).
    pub pcap: Option<PathBuf>,
    /// Print one line per packet (direction, endpoints, TCP flags, seq/ack, window, length).
    pub trace: bool,
    /// Drop this percentage (0–100) of packets, independently in each direction.
    pub loss_percent: f64,
    /// Seed of the loss PRNG, so a lossy run can be repeated exactly.
    pub loss_seed: u64,
    /// Cap on TCP sockets (established, half-open, closing and spare listeners together).
    /// SYNs beyond it find no listener and get a RST from smoltcp.
    pub max_connections: usize,
    /// Receive buffer per TCP socket, bytes.
    pub rx_buffer: usize,
    /// Send buffer per TCP socket, bytes.
    pub tx_buffer: usize,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            tun: "tun0".into(),
            addr: IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 2), 24)),
            addr6: None,
            mtu: None,
            pcap: None,
            trace: false,
            loss_percent: 0.0,
            loss_seed: 0,
            max_connections: 1024,
            rx_buffer: 64 * 1024,
            tx_buffer: 64 * 1024,
        }
    }
}
