//! Userspace TCP/IP stack over a TUN device, and the glue that runs `ws` over it.
//!
//! # The packet path, with the file of each step
//!
//! ```text
//!  kernel ─ TUN fd
//!    │ read(): one IP packet, or with offload a virtio-net header + a TCP super-packet
//!  device/tun.rs        TunLink: the fd, opened with our own ioctls (TUNSETIFF, IFF_VNET_HDR)
//!  device/uring.rs      UringLink: the same fd through io_uring (multishot read, queued writes,
//!                       the turn's wait), the default; TunLink's read/write is the fallback
//!  device/vnet.rs       virtio-net header checked and stripped, partial checksum completed
//!  device/mod.rs        Port: middleware both ways, the impairment stage; each packet's
//!                       headers read once (packet.rs: IP + TCP header, options, payload range)
//!                       and handed to vnet.rs, the middleware, recovery/ and shard routing
//!    recovery/            loss recovery around smoltcp: segments kept until acknowledged,
//!                         SACK/RACK repair, tail-loss probes, full SACK blocks in our ACKs
//!    middleware/trace.rs, middleware/pcap.rs    observe every packet (--trace, --pcap)
//!    middleware/impair.rs                       loss, delay, reorder, duplicates (--loss ...)
//!  net/engine.rs        Net::poll: each packet routed to its shard's smoltcp interface
//!    shard.rs             flow hash → shard; Staged hands smoltcp the one packet
//!    time_wait.rs         TIME-WAIT sockets' own set: their packets only, no egress walk
//!    net/admission.rs     a SYN gets a listener (pool.rs), half-open budget, per-source cap
//!    smoltcp              TCP: handshake, sequence numbers, windows, retransmission
//!    rings.rs             every socket's receive/transmit ring in one reservation
//!  net/table.rs         which connection got news: the ready list, accept, gone
//!  net/socket.rs        the socket API: accept, poll_ready, recv_with / send_with, close
//!  runner.rs            the loop: poll_ingress, the driver's turn, poll_egress, the link's wait
//!                       (io_uring_enter, or ppoll)
//!  server/mod.rs        the server's turn: ready connections, timers (client.rs: the client's)
//!  server/conn.rs       HTTP phase: request head parsed by ws::handshake, routed (server/http.rs)
//!  session/mod.rs       a WebSocket: socket bytes → ws::Connection (frames parsed in ws's
//!                       frame.rs and connection.rs), messages out; frames → session/outqueue.rs
//!  server/app.rs        App::on_message: where the application sees a message
//!  server/mount.rs      or, on an Engine.IO path (/socket.io/): polling requests and WebSocket
//!                       messages to sio's sans-IO server (server/socket_io.rs, engine_echo.rs)
//! ```
//!
//! The way out is the mirror: the app's `Outbox` queues frames in the session's output queue,
//! `Net::send_with` writes them into the socket's ring, `Net::poll_egress` at the end of the
//! same turn runs smoltcp's egress into `Port` (middleware, impairment, virtio-net header) and
//! `UringLink` queues them for the turn's one `io_uring_enter` (`TunLink` writes each).
//!
//! # Which connection needs attention this turn
//!
//! One ledger, in `Net`, fed link by link, each link deduplicated by a flag on the shard or
//! the connection, so a turn touches only what changed:
//!
//! ```text
//!  packet routed to shard i / shard i's timer due / socket API call on a connection of i
//!    │ Net::mark_dirty            net/engine.rs   Net::dirty: shards to poll (Shard::dirty)
//!    ▼
//!  connection with a packet, a state change or a timer of its shard
//!    │ Net::touch                 net/table.rs    Net::touched: to examine after the poll
//!    ▼                                            (Conn::touched)
//!  what the role must hear
//!    │ Net::check_pending         net/engine.rs   Net::accepted (SYN-RECEIVED → announced)
//!    │ Net::examine_touched       net/table.rs    Net::ready (Conn::ready), Net::gone
//!    │ Net::wake                  net/socket.rs   Net::ready, for the role's own reasons:
//!    ▼                                            accepted, role timer expired, output from
//!                                                 an app (server::Outbox) or a mount
//!  the role's turn: Net::accept, Net::poll_ready until empty, Net::poll_gone
//!                                 server/mod.rs (client.rs: one connection, drains the list)
//! ```
//!
//! The rest: `net/mod.rs` builds [`Net`]; `net/supply.rs` finds closed sockets for new
//! listeners and connections and moves them between shards; `ppoll.rs` is the one blocking
//! call (ppoll with a signal mask), for the runner and for `net/wait.rs` (loops of one's own);
//! `net/stats.rs` and `server/stats.rs` answer `GET /stats`; [`config`] and [`clock`] hold the
//! settings and the time; `entropy.rs` is the one call for OS randomness (ISNs, the client's
//! ChaCha20 masking keys, Engine.IO session ids); [`id`] names connections.
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

#![warn(missing_docs)]

pub mod client;
pub mod clock;
pub mod config;
pub mod device;
mod entropy;
pub mod id;
pub mod middleware;
pub mod net;
pub mod packet;
pub(crate) mod pool;
mod ppoll;
pub mod recovery;
pub(crate) mod rings;
pub mod runner;
pub mod server;
mod session;
pub(crate) mod shard;
pub(crate) mod time_wait;
pub mod watch;

pub use clock::{Clock, Duration, Instant};
pub use config::{IoMode, NetConfig};
pub use id::ConnId;
pub use net::{
    ConnectError, ListenError, ListenOptions, Net, NetStats, RecvError, SendError, ShardLoad,
    UnknownConn,
};
pub use session::{DEFAULT_MAX_MESSAGE, HANDSHAKE_TIMEOUT};
pub use smoltcp::socket::tcp::CongestionControl;
pub use smoltcp::socket::tcp::State as TcpState;
pub use smoltcp::wire::IpCidr;
