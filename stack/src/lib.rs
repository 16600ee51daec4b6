//! Userspace TCP/IP stack over a TUN device, and the server glue that runs `ws` over it.
//!
//! The network half: [`device`] (the TUN link and the smoltcp device over it), [`middleware`]
//! (pcap, trace, loss around the device), [`pool`] (spare listeners), [`rings`] (every
//! socket's buffers in one lazily resident reservation), [`shard`] (sockets spread over several
//! smoltcp interfaces by flow hash), [`Net`] (interfaces, sockets, connection table, the calls
//! an event loop makes) and [`Clock`].
//!
//! Not implemented in the network half: IPv4/IPv6 routing beyond the on-link prefixes (no
//! default route, so `connect` reaches only on-link peers); IP fragmentation and IPv6
//! extension headers on the TCP path; more than one
//! listening port per `Net`. smoltcp matches every segment against every socket of its
//! interface; sharding keeps that to ~64 sockets up to 16 384 connections, beyond which
//! per-packet cost grows again (the shard count stops at 256); IP fragments of a TCP segment
//! are not routed to its shard (smoltcp is built without reassembly anyway). smoltcp has no
//! SACK-based recovery and a 1 s minimum retransmission timeout; [`recovery`] repairs losses
//! from the device path instead (SACK, RACK, tail-loss probes). smoltcp's receive side keeps
//! up to 32 out-of-order ranges (the `assembler-max-segment-count-32` feature; 4 by default).

pub mod client;
pub mod clock;
pub mod config;
pub mod device;
mod entropy;
pub mod id;
pub mod middleware;
pub mod net;
pub(crate) mod pool;
pub mod recovery;
pub(crate) mod rings;
pub mod runner;
pub mod server;
mod session;
pub(crate) mod shard;

pub use clock::{Clock, Duration, Instant};
pub use config::NetConfig;
pub use id::ConnId;
pub use net::{
    ConnectError, ListenError, Net, NetStats, RecvError, SendError, ShardLoad, UnknownConn,
};
pub use smoltcp::socket::tcp::CongestionControl;
pub use smoltcp::socket::tcp::State as TcpState;
pub use smoltcp::wire::IpCidr;
