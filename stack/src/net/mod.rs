//! `Net`: the smoltcp interfaces over the device, the listen pool and the connection table.
//!
//! The event loop that drives it ([`crate::runner::run`] is this loop, with signal handling),
//! once per iteration:
//!
//! ```text
//! let now = clock.now();
//! net.poll(now);                       // ingress one packet at a time (+ pool top-up), egress
//! while let Some((id, peer)) = net.accept() { ... }
//! while let Some(id) = net.poll_ready() { ... net.recv / net.send on `id` ... }
//! while let Some(id) = net.poll_gone() { ... free per-connection state ... }
//! net.wait(net.poll_delay(clock.now()))?;   // ppoll on the TUN fd, µs precision
//! ```
//!
//! `poll_ready` names only connections that got a packet or changed state, so the loop's
//! cost follows the busy connections, not the open ones. smoltcp scans every socket of its
//! set per packet, so the sockets are split over several interfaces by flow hash (see
//! `shard.rs`): a packet costs a scan of one shard, and `poll` runs egress only on the
//! shards that had ingress, application calls or a due timer. Sends queued by the
//! application go out at the next `poll`; `poll_delay` is zero until then. The runner splits
//! `poll` in two around the application (`poll_ingress`, then `poll_egress`), so what a turn
//! queues leaves in that turn.
//!
//! The files of this module, one job each:
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | [`Net`] itself and its construction |
//! | `engine.rs` | [`Net::poll`]: packets to their shard's interface, timers, egress, settling |
//! | `admission.rs` | the SYN policy: listeners for SYNs, half-open budget and eviction, per-source cap |
//! | `supply.rs` | closed sockets for new listeners and connections, moving them between shards |
//! | `table.rs` | the connection table and when the application hears about a connection |
//! | `idle_rings.rs` | giving back the transmit ring pages of connections that went quiet |
//! | `socket.rs` | the socket API: accept, readiness, recv/send, close, connect |
//! | `wait.rs` | sleeping on the TUN fd |
//! | `stats.rs` | [`NetStats`], [`ShardLoad`] |
//! | `error.rs` | one error enum per operation: [`RecvError`], [`SendError`], [`ConnectError`], [`ListenError`], [`UnknownConn`] |

mod admission;
mod engine;
mod error;
mod idle_rings;
mod socket;
mod stats;
mod supply;
mod table;
mod wait;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};

use smoltcp::iface::{Config, Interface, SocketHandle};
use smoltcp::phy::{Device, DeviceCapabilities};
use smoltcp::socket::tcp::CongestionControl;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use self::idle_rings::IdleRings;
use crate::config::{IoMode, NetConfig};
use crate::device::tun::TunLink;
use crate::device::uring::UringLink;
use crate::device::{Link, Port};
use crate::entropy::random_seed;
use crate::id::{ConnId, IdMap};
use crate::middleware::Chain;
use crate::middleware::impair::{Impair, ImpairConfig};
use crate::pool::{Census, Pool};
use crate::recovery::Recovery;
use crate::shard::{FlowHasher, Shard, TupleMap, mix, shard_count};

pub use admission::{
    HALF_OPEN_GRACE, SOCKET_TIMEOUT, SYN_RECEIVED_TIMEOUT, half_open_budget, spare_for,
};
pub use error::{ConnectError, ListenError, RecvError, SendError, UnknownConn};
pub use stats::{NetStats, ShardLoad};
use table::Conn;

/// How the connections a listener accepts are set up ([`Net::listen_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListenOptions {
    /// Receive ring of each connection, bytes: the most the stack advertises as its window.
    /// `None`: [`NetConfig::rx_buffer`]. At most [`NetConfig::max_rx_buffer`]; raised to four
    /// device MTUs. A bulk receiver wants several of the peer's largest segments in flight
    /// (with offload the kernel sends 64 KiB super-packets: 256 KiB holds four).
    pub rx_buffer: Option<usize>,
}

/// Ingress packets that carry something (data, SYN, FIN, RST, or anything but TCP) handled
/// per [`Net::poll`] before egress gets its turn, so a flood of input cannot starve output and
/// application work ([`IngressBudget`]).
const INGRESS_BUDGET: usize = 256;

/// The most ingress packets of any kind, bare ACKs included, one turn handles.
const INGRESS_BUDGET_MAX: usize = 4096;

/// How many packets one turn reads before egress: [`INGRESS_BUDGET`] that carry something,
/// bare ACKs free up to [`INGRESS_BUDGET_MAX`] in all. A turn that sent one segment to each of
/// N connections (a broadcast) gets N bare ACKs back, and the next messages to send come in
/// among them: a budget that counted the ACKs would split those messages over several turns,
/// each sending one segment per connection per message, while one turn that reads them all
/// sends each connection one segment with every message that came (the Socket.IO broadcast
/// cell of bench.sh: 1.0 → 0.2 packets per delivery at 1000 clients). Data is held to 256 a
/// turn as before, so an echo at C = 1000 keeps its turns short. Nothing waits for more input:
/// the turn ends as soon as the link is empty.
#[derive(Debug, Clone, Copy)]
struct IngressBudget {
    carrying: usize,
    all: usize,
}

impl IngressBudget {
    fn new() -> IngressBudget {
        IngressBudget {
            carrying: INGRESS_BUDGET,
            all: INGRESS_BUDGET_MAX,
        }
    }

    /// Whether the turn may read another packet.
    fn open(&self) -> bool {
        self.carrying > 0 && self.all > 0
    }

    /// Counts a packet read; `bare_ack` ones count only against the total.
    fn spend(&mut self, bare_ack: bool) {
        self.all = self.all.saturating_sub(1);
        if !bare_ack {
            self.carrying = self.carrying.saturating_sub(1);
        }
    }
}

/// First port of the ephemeral range used by [`Net::connect`] (RFC 6335).
const EPHEMERAL_FIRST: u16 = 49152;

/// The userspace TCP/IP stack: device + middleware, smoltcp interface, sockets, listen pool and
/// connection table. See the module documentation for the loop that drives it.
pub struct Net {
    device: Port<Box<dyn Link>>,
    /// The port's capabilities, lent to each shard's interface with the packet it gets.
    caps: DeviceCapabilities,
    /// Declared before `census`: fields drop in order, and the sockets in the shards hold
    /// slices of the census's ring arena (see [`crate::rings`]).
    shards: Vec<Shard>,
    flows: FlowHasher,
    /// Socket counts over all shards, against the one connection cap, and their rings.
    census: Census,
    conns: IdMap<Conn>,
    /// (local, remote) → connection, to spot a second socket for the same 4-tuple.
    tuples: TupleMap<ConnId>,
    /// Shards to poll: ingress, an application call or a due timer since their last poll.
    dirty: Vec<usize>,
    /// Per shard, when smoltcp next needs it polled (as of its last poll); `None`: no timer.
    /// Kept apart from the shards so scanning them touches a few cache lines, not 256 shards.
    deadlines: Vec<Option<Instant>>,
    /// The earliest of `deadlines`.
    earliest: Option<Instant>,
    accepted: VecDeque<(ConnId, SocketAddr)>,
    gone: VecDeque<ConnId>,
    /// Connections to re-examine after this poll (state, gone, ready).
    touched: Vec<ConnId>,
    /// Connections with news for the application, see [`Net::poll_ready`].
    ready: VecDeque<ConnId>,
    next_id: u64,
    next_ephemeral: u16,
    /// Reused scratch list of listeners that took a SYN.
    taken: Vec<SocketHandle>,
    /// Reused scratch list of connections to examine after a shard's timer fired.
    scratch: Vec<ConnId>,
    log_states: bool,
    duplicates: u64,
    /// Incoming connections in the table per remote address (only addresses with one or more).
    sources: HashMap<IpAddress, usize>,
    /// Cap on `sources` values; 0: none.
    max_per_source: usize,
    refused_per_source: u64,
    evicted_half_open: u64,
    dropped_syns: u64,
    /// Cap on half-open (SYN-RECEIVED) connections, see [`half_open_budget`].
    max_half_open: usize,
    /// Connections in the shards' `pending` lists (half-open, or not yet examined).
    half_open: usize,
    /// The `now` of the current (or last) poll.
    now: Instant,
    /// Congestion control of the connections `connect` opens (the pools set it for accepted
    /// ones).
    congestion: CongestionControl,
    /// Connections whose transmit ring may be given back once they go quiet.
    idle_rings: IdleRings,
}

impl Net {
    /// Opens the TUN device named in `config` (created if missing), wraps it in the configured
    /// middleware and brings the interface up with the configured addresses.
    pub fn open(config: &NetConfig) -> io::Result<Net> {
        let tun = TunLink::open(&config.tun, config.mtu, config.offload)?;
        let (name, mtu, offload) = (tun.name().to_owned(), tun.mtu(), tun.offload());
        let (link, io): (Box<dyn Link>, _) = match config.io {
            IoMode::ReadWrite => (Box::new(tun), "read/write"),
            IoMode::Uring => match UringLink::new(tun) {
                Ok(link) if link.nowait() => (Box::new(link), "io_uring"),
                Ok(link) => (Box::new(link), "io_uring, writes may wait"),
                Err((tun, err)) => {
                    log::warn!("io_uring unavailable ({err}): TUN I/O by read/write");
                    (Box::new(tun), "read/write")
                }
            },
        };
        log::info!(
            "opened TUN {name} (MTU {mtu}, offload {}, I/O {io})",
            if offload { "on" } else { "off" }
        );
        Net::with_link(link, config, Instant::ZERO)
    }

    /// Builds the stack over any [`Link`] (an in-memory pair in tests); `config.tun` and
    /// `config.mtu` are ignored, the middleware and addresses are used. `now` is the clock's
    /// current reading.
    pub fn with_link(link: Box<dyn Link>, config: &NetConfig, now: Instant) -> io::Result<Net> {
        Net::with_link_seeded(link, config, now, random_seed()?)
    }

    /// Like [`Net::with_link`] with a fixed random seed (ISNs, ephemeral ports), so a test on
    /// a simulated clock replays exactly.
    pub fn with_link_seeded(
        link: Box<dyn Link>,
        config: &NetConfig,
        now: Instant,
        seed: u64,
    ) -> io::Result<Net> {
        let chain = Chain::from_config(config)?;
        let mut device = Port::new(link, chain);
        let impair = ImpairConfig::from_net(config);
        if impair.is_active() {
            device = device.with_impair(Impair::new(&impair));
        }
        if config.recovery {
            device = device.with_recovery(Recovery::new(config.trace));
        }
        // A send buffer of one segment is stop-and-wait (at MTU 65000, 64 KiB holds one): keep
        // room for at least four full segments in each direction whatever the configuration.
        let min_buffer = 4 * device.capabilities().max_transmission_unit;
        let (rx_buffer, tx_buffer) = (
            config.rx_buffer.max(min_buffer),
            config.tx_buffer.max(min_buffer),
        );
        let max_rx_buffer = config.max_rx_buffer.max(rx_buffer);
        let max_connections = config.max_connections.max(1);
        let count = shard_count(max_connections);
        let spare = spare_for(max_connections).div_ceil(count);
        let mut addrs: Vec<IpCidr> = vec![config.addr];
        addrs.extend(config.addr6);
        let shards = (0..count)
            .map(|index| {
                let mut iface_config = Config::new(HardwareAddress::Ip);
                // smoltcp's default seed is 0, which repeats the same ISNs every run; each
                // shard gets its own sequence.
                iface_config.random_seed = mix(seed ^ index as u64);
                let mut iface = Interface::new(iface_config, &mut device, now);
                iface.update_ip_addrs(|list| {
                    for &cidr in &addrs {
                        if list.push(cidr).is_err() && index == 0 {
                            log::error!("too many addresses, {cidr} not configured");
                        }
                    }
                });
                Shard::new(
                    iface,
                    Pool::new(spare, SYN_RECEIVED_TIMEOUT, config.congestion),
                )
            })
            .collect();
        Ok(Net {
            caps: device.capabilities(),
            device,
            shards,
            flows: FlowHasher::new(mix(seed.rotate_left(32)), count),
            census: Census::new(max_connections, rx_buffer, max_rx_buffer, tx_buffer)?,
            conns: IdMap::default(),
            tuples: TupleMap::default(),
            dirty: Vec::new(),
            deadlines: vec![None; count],
            earliest: None,
            accepted: VecDeque::new(),
            gone: VecDeque::new(),
            touched: Vec::new(),
            ready: VecDeque::new(),
            next_id: 1,
            next_ephemeral: EPHEMERAL_FIRST + (seed % 16384) as u16,
            duplicates: 0,
            sources: HashMap::new(),
            max_per_source: config.max_per_source,
            refused_per_source: 0,
            evicted_half_open: 0,
            dropped_syns: 0,
            max_half_open: half_open_budget(max_connections),
            half_open: 0,
            now,
            taken: Vec::new(),
            scratch: Vec::new(),
            log_states: config.trace,
            congestion: config.congestion,
            idle_rings: IdleRings::default(),
        })
    }

    /// Accepts connections on `port` from now on (all our addresses). One port at a time.
    /// The connections get the default rings ([`Net::listen_with`] to choose).
    pub fn listen(&mut self, port: u16) -> Result<(), ListenError> {
        self.listen_with(port, ListenOptions::default())
    }

    /// [`Net::listen`] with `options` for the connections it accepts: e.g. a receive ring
    /// (the window the stack advertises) larger than [`NetConfig::rx_buffer`], up to
    /// [`NetConfig::max_rx_buffer`], for a bulk receiver. Listeners already open on the port
    /// are closed and reopened, so every later connection gets the options.
    pub fn listen_with(&mut self, port: u16, options: ListenOptions) -> Result<(), ListenError> {
        if port == 0 {
            return Err(ListenError::InvalidPort);
        }
        let (_, max) = self.census.rx_buffers();
        let min = 4 * self.caps.max_transmission_unit;
        let rx = match options.rx_buffer {
            Some(rx) if rx > max => return Err(ListenError::RxBufferTooLarge { max }),
            other => other.map(|rx| rx.max(min)),
        };
        for index in 0..self.shards.len() {
            let shard = &mut self.shards[index];
            shard
                .pool
                .set_port(&mut shard.sockets, port, rx, &mut self.census);
            self.top_up(index);
        }
        Ok(())
    }

    /// The listening port, if [`Net::listen`] was called.
    pub fn listen_port(&self) -> Option<u16> {
        self.shards[0].pool.port()
    }

    /// The stack's first address (the one from `config.addr`).
    pub fn local_addr(&self) -> IpAddr {
        self.shards[0]
            .iface
            .ip_addrs()
            .first()
            .map(|c| IpAddr::from(c.address()))
            .unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    /// The device MTU (equal to the TUN MTU).
    pub fn mtu(&self) -> usize {
        self.device.link().mtu()
    }

    /// The middleware every packet passes (`[trace, pcap]` from the configuration), for a
    /// program that traces into a sink of its own (`tunws sim` prints the lines it collects).
    pub fn middleware_mut(&mut self) -> &mut Chain {
        self.device.chain_mut()
    }

    /// Flushes the middleware (pcap records). Also happens when `Net` is dropped.
    pub fn flush(&mut self) -> io::Result<()> {
        self.device.link_mut().flush()?;
        self.device.chain_mut().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_acks_do_not_use_up_the_ingress_budget_of_packets_that_carry_something() {
        let read = |pattern: &dyn Fn(usize) -> bool| {
            let mut budget = IngressBudget::new();
            let mut n = 0;
            while budget.open() {
                budget.spend(pattern(n));
                n += 1;
            }
            n
        };
        assert_eq!(read(&|_| false), INGRESS_BUDGET, "data alone: 256 a turn");
        assert_eq!(
            read(&|_| true),
            INGRESS_BUDGET_MAX,
            "bare ACKs alone: up to the total"
        );
        // A broadcast's ACKs with a message every tenth packet: the 256th message ends the turn.
        assert_eq!(read(&|n| n % 10 != 9), INGRESS_BUDGET * 10);
        // A thousand ACKs and eight messages among them fit one turn.
        assert_eq!(read(&|n| n >= 8), INGRESS_BUDGET_MAX);
    }
}
