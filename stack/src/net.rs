//! `Net`: the smoltcp interface over the device, the listen pool and the connection table.
//!
//! The event loop that drives it, once per iteration:
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
//! [`crate::shard`]): a packet costs a scan of one shard, and `poll` runs egress only on the
//! shards that had ingress, application calls or a due timer. Sends queued by the
//! application go out at the next `poll`; `poll_delay` is zero until then.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;

use smoltcp::iface::{Config, Interface, PollIngressSingleResult, PollResult, SocketHandle};
use smoltcp::phy::{Device, DeviceCapabilities};
use smoltcp::socket::AnySocket;
use smoltcp::socket::tcp::{self, CongestionControl, RecvError, State};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};

use crate::config::NetConfig;
use crate::device::tun::TunLink;
use crate::device::{Link, Port, PortStats, TcpFlow};
use crate::middleware::Chain;
use crate::middleware::impair::{Impair, ImpairConfig};
use crate::pool::{Census, Pool, SOCKET_TIMEOUT, half_open_budget, spare_for};
use crate::recovery::Recovery;
use crate::shard::{FlowHasher, Shard, Staged, mix, shard_count};

/// Ingress packets handled per [`Net::poll`] before egress gets its turn, so a flood of input
/// cannot starve output and application work.
const INGRESS_BUDGET: usize = 256;

/// First port of the ephemeral range used by [`Net::connect`] (RFC 6335).
const EPHEMERAL_FIRST: u16 = 49152;

/// A half-open connection younger than this is never evicted for a new SYN, at the cap or
/// beyond the half-open budget (see `Net::evict_oldest_half_open`): a real handshake
/// completes within a round trip, so a burst
/// of real connects beyond the cap is refused as before instead of evicting itself, while
/// the half-open sockets of a SYN flood, which never complete, make room after this long.
const HALF_OPEN_GRACE: Duration = Duration::from_millis(200);

/// Identifies one TCP connection for its whole life. Never reused within a `Net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a per-connection operation did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnError {
    /// No such connection: never existed, or already reported by [`Net::poll_gone`].
    Unknown,
    /// recv: the peer closed its side and every byte it sent has been read.
    /// send: our sending side is closed.
    Closed,
    /// The connection was reset by the peer, aborted, or timed out.
    Reset,
    /// connect: no address of ours can reach the remote, or the remote is unspecified/port 0.
    Unaddressable,
    /// connect: `max_connections` reached, or no free ephemeral port.
    Exhausted,
    /// listen: port 0.
    InvalidPort,
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnError::Unknown => "unknown connection",
            ConnError::Closed => "connection closed",
            ConnError::Reset => "connection reset",
            ConnError::Unaddressable => "remote address unreachable from our addresses",
            ConnError::Exhausted => "no socket or ephemeral port left",
            ConnError::InvalidPort => "invalid port",
        })
    }
}

impl std::error::Error for ConnError {}

/// Hasher for `ConnId` keys: ids are sequential, so one multiply spreads them well, and the
/// table is looked up on every application call (SipHash showed up in profiles).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap<V> = HashMap<ConnId, V, BuildHasherDefault<IdHasher>>;

/// A snapshot of the socket bookkeeping, for tests, logs and leak checks (`GET /stats`).
/// After connections come and go, every gauge here returns to its idle value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetStats {
    /// TCP sockets allocated in the socket sets: listeners, connections, draining and free.
    pub sockets: usize,
    /// Spare listeners on the listening port.
    pub listeners: usize,
    /// Connections in the table (half-open, established, closing).
    pub connections: usize,
    /// Of those, in ESTABLISHED.
    pub established: usize,
    /// Of those, in SYN-RECEIVED or SYN-SENT.
    pub handshaking: usize,
    /// Remote addresses with at least one incoming connection in the table (the per-source
    /// cap's bookkeeping).
    pub sources: usize,
    /// Bytes received and not yet read, over the connections and the draining sockets.
    pub rx_buffered: usize,
    /// Bytes queued for sending and not yet acknowledged, over the connections and the
    /// draining sockets.
    pub tx_buffered: usize,
    /// Packets held by the impairment stage now (delay, reorder, duplicates).
    pub held_packets: usize,
    /// SYNs refused because their source address had `max_per_source` connections.
    pub refused_per_source: u64,
    /// Half-open (SYN-RECEIVED) connections dropped to make room for a new SYN, at the cap
    /// or beyond the half-open budget.
    pub evicted_half_open: u64,
    /// SYNs dropped unanswered (no RST) at the cap while half-open connections held the
    /// sockets: their senders retry and get a socket once the oldest half-open one is evicted.
    pub dropped_syns: u64,
    /// Sockets released by the application, waiting out TIME-WAIT or a pending RST.
    pub draining: usize,
    /// Closed sockets kept for reuse.
    pub free: usize,
    /// Duplicate SYN-RECEIVED sockets removed (a retransmitted SYN caught by a second listener).
    pub duplicates: u64,
    /// Packet counters of the device.
    pub port: PortStats,
}

/// How the sockets are spread over the shards (see [`crate::shard`]), from [`Net::shard_load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardLoad {
    /// smoltcp interfaces the sockets are spread over.
    pub shards: usize,
    /// Sockets in the fullest shard: what one packet's scan costs.
    pub largest: usize,
}

struct Conn {
    /// Index of the shard whose socket set holds `handle`.
    shard: usize,
    handle: SocketHandle,
    local: IpEndpoint,
    remote: IpEndpoint,
    /// Accepted from a listener (counted in `Net::sources`), not made by `connect`.
    inbound: bool,
    /// When the connection entered the table.
    opened: Instant,
    /// The application knows this id: returned by `accept()` or by `connect()`.
    announced: bool,
    /// The application called close/abort: report it gone even with unread data.
    released: bool,
    /// Last state seen, to log transitions.
    state: State,
    /// A packet for this connection arrived since it was last examined.
    news: bool,
    /// In `Net::touched`: a packet, timer or application call may have changed it.
    touched: bool,
    /// In `Net::ready`: the application has not yet been told about the latest change.
    ready: bool,
}

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
    tuples: HashMap<(IpEndpoint, IpEndpoint), ConnId>,
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
    /// The last poll moved packets or changed sockets; see [`Net::poll_delay`].
    unseen_activity: bool,
    /// Congestion control of the connections `connect` opens (the pools set it for accepted
    /// ones).
    congestion: CongestionControl,
}

impl Net {
    /// Opens the TUN device named in `config` (created if missing), wraps it in the configured
    /// middleware and brings the interface up with the configured addresses.
    pub fn open(config: &NetConfig) -> io::Result<Net> {
        let link = TunLink::open(&config.tun, config.mtu, config.offload)?;
        log::info!(
            "opened TUN {} (MTU {}, offload {})",
            link.name(),
            link.mtu(),
            if link.offload() { "on" } else { "off" }
        );
        Net::with_link(Box::new(link), config, Instant::ZERO)
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
                Shard::new(iface, Pool::new(spare, config.congestion))
            })
            .collect();
        Ok(Net {
            caps: device.capabilities(),
            device,
            shards,
            flows: FlowHasher::new(mix(seed.rotate_left(32)), count),
            census: Census::new(max_connections, rx_buffer, tx_buffer)?,
            conns: IdMap::default(),
            tuples: HashMap::new(),
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
            unseen_activity: false,
            congestion: config.congestion,
            taken: Vec::new(),
            scratch: Vec::new(),
            log_states: config.trace,
        })
    }

    /// Accepts connections on `port` from now on (all our addresses). One port at a time.
    pub fn listen(&mut self, port: u16) -> Result<(), ConnError> {
        if port == 0 {
            return Err(ConnError::InvalidPort);
        }
        for index in 0..self.shards.len() {
            let shard = &mut self.shards[index];
            shard
                .pool
                .set_port(&mut shard.sockets, port, &mut self.census);
            self.top_up(index);
        }
        Ok(())
    }

    /// The listening port, if [`Net::listen`] was called.
    pub fn listen_port(&self) -> Option<u16> {
        self.shards[0].pool.port()
    }

    /// Processes everything that is due at `now`: incoming packets one at a time (topping up
    /// the listen pool after each), timers, outgoing packets. Then updates the accept and gone
    /// queues.
    ///
    /// Returns true when anything happened (a packet in or out, a state change) in this poll
    /// or in the one before it. The carry-over makes a second `poll` per loop turn (to send
    /// what the application just queued) safe: whatever that one received is reported again
    /// by the next turn's first `poll`, so the application looks at its sockets. Reporting
    /// twice costs one extra pass; missing once would strand received data.
    pub fn poll(&mut self, now: Instant) -> bool {
        self.now = now;
        let mut activity = false;
        let port = self.listen_port();
        if self.census.listeners == 0 && port.is_some() {
            // At the cap: a half-open connection may have outlived its grace since the last
            // top-up, and the next SYN should find its socket listening.
            self.evict_oldest_half_open(HALF_OPEN_GRACE);
        }
        for _ in 0..INGRESS_BUDGET {
            let Some((rx, tx)) = self.device.receive(now) else {
                break;
            };
            let flow = rx.flow();
            let index = flow.map_or(0, |f| self.flows.shard_of(f.src, f.dst));
            // A new connection needs a listener in its shard; a retransmitted SYN of one we
            // already have does not.
            let opens = flow.is_some_and(|f| {
                f.syn && Some(f.dst.port) == port && !self.tuples.contains_key(&(f.dst, f.src))
            });
            if let Some(f) = flow.filter(|_| opens) {
                // A TIME-WAIT socket of the same 4-tuple would take this SYN before any
                // listener and never answer it with a SYN-ACK (see `take_time_wait_of`).
                let connections = self.conns.len();
                let shard = &mut self.shards[index];
                if let Some(handle) = shard.take_time_wait_of(f.dst, f.src) {
                    shard.pool.recycle_silently(
                        &mut shard.sockets,
                        handle,
                        &mut self.census,
                        connections,
                    );
                }
                ensure_listener(&mut self.shards, &mut self.census, self.conns.len(), index);
                if self.shards[index].pool.listeners() == 0 && self.half_open > 0 {
                    // smoltcp would answer with a RST, refusing a client for whom a half-open
                    // connection (a flood's, most likely) makes room within its grace. Drop
                    // the SYN instead: the client retransmits it (after 1 s on Linux) and
                    // finds a listener then.
                    self.dropped_syns += 1;
                    activity = true;
                    continue;
                }
            }
            let shard = &mut self.shards[index];
            let mut staged = Staged::new(rx, tx, &self.caps);
            match shard
                .iface
                .poll_ingress_single(now, &mut staged, &mut shard.sockets)
            {
                PollIngressSingleResult::None => break,
                PollIngressSingleResult::PacketProcessed
                | PollIngressSingleResult::SocketStateChanged => {
                    activity = true;
                    self.mark_dirty(index);
                    self.after_ingress(index, flow);
                }
            }
        }
        // Shards whose timers are due join the ones with news: O(shards), not O(sockets),
        // and only when the earliest timer is due.
        if self.earliest.is_some_and(|at| now >= at) {
            for index in 0..self.deadlines.len() {
                if self.is_due(index, now) {
                    self.mark_dirty(index);
                }
            }
        }
        // Held packets that are due go out before anything newer.
        activity |= self.device.release_due(now) > 0;
        let dirty = std::mem::take(&mut self.dirty);
        for &index in &dirty {
            let due = self.is_due(index, now);
            let shard = &mut self.shards[index];
            shard.iface.poll_maintenance(now);
            while shard
                .iface
                .poll_egress(now, &mut self.device, &mut shard.sockets)
                == PollResult::SocketStateChanged
            {
                activity = true;
            }
            if due {
                // Sockets change state without a packet or an application call only through
                // smoltcp's timers (retransmission timeout, TIME-WAIT expiry): look at every
                // connection of this shard, as egress just looked at every socket.
                let mut members = std::mem::take(&mut self.scratch);
                members.extend(shard.members.iter().copied());
                for id in members.drain(..) {
                    self.touch(id, false);
                }
                self.scratch = members;
            }
        }
        for &index in &dirty {
            self.check_pending(index);
        }
        self.examine_touched();
        for &index in &dirty {
            let due = self.is_due(index, now);
            let shard = &mut self.shards[index];
            // Draining sockets finish by a timer (TIME-WAIT) or right after their RST went
            // out, which is when they were added: no need to look at them on other polls.
            let added = std::mem::take(&mut shard.draining_added);
            if added || due {
                activity |= self.recycle_draining(index);
            }
            // Releasing sockets may have made room for listeners.
            self.top_up(index);
            let shard = &mut self.shards[index];
            self.deadlines[index] = shard.iface.poll_at(now, &shard.sockets);
            shard.dirty = false;
        }
        if !dirty.is_empty() {
            self.earliest = self.deadlines.iter().flatten().min().copied();
        }
        // Shards marked by this poll's own bookkeeping stay listed for the next one.
        if self.dirty.is_empty() {
            let mut dirty = dirty;
            dirty.clear();
            self.dirty = dirty;
        }
        let report = activity || self.unseen_activity;
        self.unseen_activity = activity;
        report
    }

    /// How long the loop may sleep before smoltcp needs [`Net::poll`] again (`None`: until a
    /// packet arrives). Zero when work is already waiting: queued accepts or gone ids, sends
    /// not yet polled out, or a last poll that moved packets — its effects (data received, a
    /// handshake completed) may not have been seen by the application yet, so the loop must
    /// turn once more before sleeping. O(1): the earliest shard deadline is kept by `poll`.
    pub fn poll_delay(&mut self, now: Instant) -> Option<Duration> {
        if !self.dirty.is_empty()
            || self.unseen_activity
            || !self.accepted.is_empty()
            || !self.gone.is_empty()
            || !self.ready.is_empty()
        {
            return Some(Duration::ZERO);
        }
        // Packets held by the impairment are timers too: the loop must wake to release them.
        let next = self
            .earliest
            .into_iter()
            .chain(self.device.next_release())
            .min()?;
        Some(if next > now {
            next - now
        } else {
            Duration::ZERO
        })
    }

    /// Sleeps until the TUN fd is readable or `timeout` passes (`None`: no timeout), with
    /// microsecond precision. Returns at once for links without an fd (tests drive those).
    /// A signal also ends the wait (`Ok`), so a SIGINT handler's flag is seen promptly.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.wait_with(timeout, &[]).map(|_| ())
    }

    /// Like [`Net::wait`], also waking when one of `extra` (at most 31 fds, e.g. stdin) is
    /// readable. Returns a bit mask: bit `i` set when `extra[i]` is readable (or hung up).
    pub fn wait_with(&mut self, timeout: Option<Duration>, extra: &[RawFd]) -> io::Result<u32> {
        const MAX_EXTRA: usize = 31;
        if extra.len() > MAX_EXTRA {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "too many fds to wait on",
            ));
        }
        let mut fds = [libc::pollfd {
            fd: -1,
            events: 0,
            revents: 0,
        }; MAX_EXTRA + 1];
        let link_fd = self.device.link().fd();
        if link_fd.is_none() && extra.is_empty() {
            return Ok(0);
        }
        fds[0].fd = link_fd.unwrap_or(-1);
        fds[0].events = libc::POLLIN;
        for (slot, &fd) in fds[1..].iter_mut().zip(extra) {
            slot.fd = fd;
            slot.events = libc::POLLIN;
        }
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
        // SAFETY: `fds` outlives the call and holds `1 + extra.len()` initialised entries; a
        // negative fd is ignored by ppoll. Null sigmask: the current mask stays.
        let rc = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                (1 + extra.len()) as libc::nfds_t,
                ts_ptr,
                std::ptr::null(),
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

    /// The next newly established incoming connection and its remote endpoint.
    pub fn accept(&mut self) -> Option<(ConnId, SocketAddr)> {
        self.accepted.pop_front()
    }

    /// The next connection whose socket closed, reset or timed out (and whose received data
    /// has been read, or which the application closed itself). Its id is forgotten: free the
    /// application state that belongs to it.
    pub fn poll_gone(&mut self) -> Option<ConnId> {
        self.gone.pop_front()
    }

    /// The next connection with news since it was last returned here: a packet for it
    /// arrived (data to read, send space freed by an ACK, FIN, RST) or its state changed; also
    /// every newly accepted connection once. Edge-triggered: read until `Ok(0)` and send what
    /// fits, or remember the unfinished work yourself. Lets a loop with thousands of idle
    /// connections touch only the busy ones.
    ///
    /// Once this returns `None`, the application has seen everything the last poll did, so
    /// [`Net::poll_delay`] no longer asks for an extra loop turn on its account.
    pub fn poll_ready(&mut self) -> Option<ConnId> {
        while let Some(id) = self.ready.pop_front() {
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.ready = false;
                return Some(id);
            }
        }
        self.unseen_activity = false;
        None
    }

    /// Reads received bytes into `buf`. `Ok(0)`: nothing now (or not yet established).
    /// `Err(Closed)`: the peer sent FIN and everything has been read. `Err(Reset)`: reset or
    /// timed out.
    pub fn recv(&mut self, id: ConnId, buf: &mut [u8]) -> Result<usize, ConnError> {
        self.recv_with(id, |data| {
            let n = data.len().min(buf.len());
            buf[..n].copy_from_slice(&data[..n]);
            (n, n)
        })
        .map(|n| n.unwrap_or(0))
    }

    /// Zero-copy receive: `f` gets the largest contiguous run of received bytes (mutable, so
    /// WebSocket payloads can be unmasked in place) and returns how many it consumed plus a
    /// result. `Ok(None)` when nothing is buffered now. Errors as for [`Net::recv`].
    pub fn recv_with<R>(
        &mut self,
        id: ConnId,
        f: impl FnOnce(&mut [u8]) -> (usize, R),
    ) -> Result<Option<R>, ConnError> {
        let socket = self.socket_mut(id)?;
        let state = socket.state();
        match state {
            State::SynSent | State::SynReceived => return Ok(None),
            _ => {}
        }
        if !socket.can_recv() && socket.may_recv() {
            return Ok(None);
        }
        let result = match socket.recv(f) {
            Ok(r) => Ok(Some(r)),
            Err(RecvError::Finished) => Err(ConnError::Closed),
            Err(RecvError::InvalidState) => Err(ConnError::Reset),
        };
        if result.is_ok() {
            // Reading opens the receive window: the shard's egress may owe a window update.
            let shard = self.conns[&id].shard;
            self.mark_dirty(shard);
        }
        if matches!(state, State::Closed | State::TimeWait) {
            // Reading the last bytes of a finished connection makes it gone: the next poll
            // must look at it.
            self.touch(id, false);
        }
        result
    }

    /// Queues bytes for sending; returns how many fit in the send buffer (0 when full, or
    /// before the handshake completes). `Err(Closed)` after our close, `Err(Reset)` after a
    /// reset or timeout.
    pub fn send(&mut self, id: ConnId, data: &[u8]) -> Result<usize, ConnError> {
        self.send_with(id, |buf| {
            let n = buf.len().min(data.len());
            buf[..n].copy_from_slice(&data[..n]);
            (n, n)
        })
        .map(|n| n.unwrap_or(0))
    }

    /// Zero-copy send: `f` gets the largest contiguous free run of the send buffer and returns
    /// how many bytes it wrote plus a result. `Ok(None)` when there is no room now or the
    /// handshake is not complete. Errors as for [`Net::send`].
    pub fn send_with<R>(
        &mut self,
        id: ConnId,
        f: impl FnOnce(&mut [u8]) -> (usize, R),
    ) -> Result<Option<R>, ConnError> {
        let shard = self.conns.get(&id).ok_or(ConnError::Unknown)?.shard;
        self.mark_dirty(shard);
        let socket = self.socket_mut(id)?;
        match socket.state() {
            State::SynSent | State::SynReceived => return Ok(None),
            State::Established | State::CloseWait => {}
            State::Closed => return Err(ConnError::Reset),
            _ => return Err(ConnError::Closed),
        }
        if !socket.can_send() {
            return Ok(None);
        }
        socket.send(f).map(Some).map_err(|_| ConnError::Closed)
    }

    /// Free bytes in the send buffer now (0 when our side cannot send). Stop producing data for
    /// a connection while this is small: that is the backpressure signal.
    pub fn send_capacity(&self, id: ConnId) -> Result<usize, ConnError> {
        let socket = self.socket(id)?;
        if !socket.may_send() {
            return Ok(0);
        }
        Ok(socket.send_capacity() - socket.send_queue())
    }

    /// Bytes queued for sending and not yet acknowledged.
    pub fn send_queue(&self, id: ConnId) -> Result<usize, ConnError> {
        Ok(self.socket(id)?.send_queue())
    }

    /// Bytes received and not yet read.
    pub fn recv_queue(&self, id: ConnId) -> Result<usize, ConnError> {
        Ok(self.socket(id)?.recv_queue())
    }

    /// Closes our sending side (FIN after the queued data). The connection is reported by
    /// [`Net::poll_gone`] once both sides are closed, even if received data is left unread;
    /// the socket is recycled after that.
    pub fn close(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.released = true;
            let socket = self.shards[conn.shard]
                .sockets
                .get_mut::<tcp::Socket>(conn.handle);
            socket.close();
            self.touch(id, false);
        }
    }

    /// Resets the connection (one RST). Reported by [`Net::poll_gone`] on the next poll.
    pub fn abort(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.released = true;
            let socket = self.shards[conn.shard]
                .sockets
                .get_mut::<tcp::Socket>(conn.handle);
            socket.abort();
            self.touch(id, false);
        }
    }

    /// Disables (true) or enables (false) Nagle's algorithm, like TCP_NODELAY. WebSocket
    /// traffic wants it off: small frames must not wait for the previous ACK.
    pub fn set_nodelay(&mut self, id: ConnId, nodelay: bool) -> Result<(), ConnError> {
        self.socket_mut(id)?.set_nagle_enabled(!nodelay);
        Ok(())
    }

    /// Sets the delayed-ACK time (`None`: ACK every segment at once). smoltcp's default is 10 ms.
    pub fn set_ack_delay(&mut self, id: ConnId, delay: Option<Duration>) -> Result<(), ConnError> {
        self.socket_mut(id)?.set_ack_delay(delay);
        Ok(())
    }

    /// Opens a connection to `remote` from one of our addresses and an ephemeral port (client
    /// role). The id is valid at once; [`Net::is_established`] turns true after the handshake,
    /// and a refused or timed-out attempt is reported by [`Net::poll_gone`].
    pub fn connect(&mut self, remote: SocketAddr) -> Result<ConnId, ConnError> {
        let remote = IpEndpoint::from(remote);
        if remote.port == 0 || remote.addr.is_unspecified() {
            return Err(ConnError::Unaddressable);
        }
        let local_addr = self.shards[0]
            .iface
            .get_source_address(&remote.addr)
            .ok_or(ConnError::Unaddressable)?;
        if self.conns.len() >= self.census.max_connections {
            return Err(ConnError::Exhausted);
        }
        let local = self
            .ephemeral_endpoint(local_addr, remote)
            .ok_or(ConnError::Exhausted)?;
        let index = self.flows.shard_of(remote, local);
        let handle = match socket_for(&mut self.shards, &mut self.census, index) {
            Some(handle) => handle,
            None => steal_listener(&mut self.shards, &mut self.census, index)
                .ok_or(ConnError::Exhausted)?,
        };
        let shard = &mut self.shards[index];
        let socket = shard.sockets.get_mut::<tcp::Socket>(handle);
        socket.set_timeout(Some(SOCKET_TIMEOUT));
        socket.set_nagle_enabled(true);
        socket.set_congestion_control(self.congestion);
        if let Err(err) = socket.connect(shard.iface.context(), remote, local) {
            log::warn!("connect to {remote} failed: {err}");
            let connections = self.conns.len();
            shard
                .pool
                .release(&mut shard.sockets, handle, &mut self.census, connections);
            return Err(ConnError::Unaddressable);
        }
        let id = self.new_id();
        self.insert_conn(
            id,
            Conn {
                shard: index,
                handle,
                local,
                remote,
                inbound: false,
                opened: self.now,
                announced: true,
                released: false,
                state: State::SynSent,
                news: false,
                touched: false,
                ready: false,
            },
        );
        self.mark_dirty(index);
        Ok(id)
    }

    /// True once the handshake is complete and the connection can carry data.
    pub fn is_established(&self, id: ConnId) -> bool {
        self.socket(id)
            .is_ok_and(|s| matches!(s.state(), State::Established | State::CloseWait))
    }

    /// The TCP state of the connection (RFC 793 names), for logs and tests.
    pub fn state(&self, id: ConnId) -> Option<State> {
        self.socket(id).ok().map(|s| s.state())
    }

    /// The remote endpoint of a connection.
    pub fn remote_addr(&self, id: ConnId) -> Option<SocketAddr> {
        self.conns.get(&id).map(|c| c.remote.into())
    }

    /// The local endpoint of a connection.
    pub fn conn_local_addr(&self, id: ConnId) -> Option<SocketAddr> {
        self.conns.get(&id).map(|c| c.local.into())
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

    /// Flushes the middleware (pcap records). Also happens when `Net` is dropped.
    pub fn flush(&mut self) -> io::Result<()> {
        self.device.chain_mut().flush()
    }

    /// Socket bookkeeping and packet counters. Walks every socket: meant for tests, logs and
    /// `GET /stats`, not for every loop turn.
    pub fn stats(&self) -> NetStats {
        let mut sockets = 0;
        for shard in &self.shards {
            sockets += shard
                .sockets
                .iter()
                .filter(|(_, s)| tcp::Socket::downcast(s).is_some())
                .count();
        }
        // Only sockets that belong to a connection or drain one: a recycled socket keeps the
        // stale bytes of its last connection until it listens again, and they are nobody's.
        let (mut rx_buffered, mut tx_buffered) = (0, 0);
        let handles = self.conns.values().map(|c| (c.shard, c.handle));
        let draining =
            self.shards.iter().enumerate().flat_map(|(index, shard)| {
                shard.draining.iter().map(move |&handle| (index, handle))
            });
        for (index, handle) in handles.chain(draining) {
            let socket = self.shards[index].sockets.get::<tcp::Socket>(handle);
            rx_buffered += socket.recv_queue();
            tx_buffered += socket.send_queue();
        }
        let (mut established, mut handshaking) = (0, 0);
        for conn in self.conns.values() {
            match self.shards[conn.shard]
                .sockets
                .get::<tcp::Socket>(conn.handle)
                .state()
            {
                State::Established => established += 1,
                State::SynReceived | State::SynSent => handshaking += 1,
                _ => {}
            }
        }
        NetStats {
            sockets,
            listeners: self.census.listeners,
            connections: self.conns.len(),
            established,
            handshaking,
            sources: self.sources.len(),
            rx_buffered,
            tx_buffered,
            held_packets: self.device.held(),
            refused_per_source: self.refused_per_source,
            evicted_half_open: self.evicted_half_open,
            dropped_syns: self.dropped_syns,
            draining: self.shards.iter().map(|s| s.draining.len()).sum(),
            free: self.census.free,
            duplicates: self.duplicates,
            port: self.device.stats(),
        }
    }

    /// The shard count and the fullest shard's socket count. Walks the shards' socket sets:
    /// for tests and logs.
    pub fn shard_load(&self) -> ShardLoad {
        ShardLoad {
            shards: self.shards.len(),
            largest: self
                .shards
                .iter()
                .map(|s| s.sockets.iter().count())
                .max()
                .unwrap_or(0),
        }
    }

    fn socket(&self, id: ConnId) -> Result<&tcp::Socket<'static>, ConnError> {
        let conn = self.conns.get(&id).ok_or(ConnError::Unknown)?;
        Ok(self.shards[conn.shard]
            .sockets
            .get::<tcp::Socket>(conn.handle))
    }

    fn socket_mut(&mut self, id: ConnId) -> Result<&mut tcp::Socket<'static>, ConnError> {
        let conn = self.conns.get(&id).ok_or(ConnError::Unknown)?;
        Ok(self.shards[conn.shard]
            .sockets
            .get_mut::<tcp::Socket>(conn.handle))
    }

    fn new_id(&mut self) -> ConnId {
        let id = ConnId(self.next_id);
        self.next_id += 1;
        id
    }

    /// Adds a connection to the table, the tuple index and its shard's members.
    fn insert_conn(&mut self, id: ConnId, conn: Conn) {
        self.tuples.insert((conn.local, conn.remote), id);
        self.shards[conn.shard].members.insert(id);
        self.conns.insert(id, conn);
    }

    /// True when shard `index`'s timer is due at `now`.
    fn is_due(&self, index: usize, now: Instant) -> bool {
        self.deadlines[index].is_some_and(|at| now >= at)
    }

    /// Lists shard `index` for the next (or current) poll.
    fn mark_dirty(&mut self, index: usize) {
        let shard = &mut self.shards[index];
        if !shard.dirty {
            shard.dirty = true;
            self.dirty.push(index);
        }
    }

    fn ephemeral_endpoint(
        &mut self,
        addr: smoltcp::wire::IpAddress,
        remote: IpEndpoint,
    ) -> Option<IpEndpoint> {
        let span = u16::MAX - EPHEMERAL_FIRST + 1;
        for _ in 0..span {
            let port = self.next_ephemeral;
            self.next_ephemeral = if port == u16::MAX {
                EPHEMERAL_FIRST
            } else {
                port + 1
            };
            let local = IpEndpoint::new(addr, port);
            if Some(port) != self.listen_port() && !self.tuples.contains_key(&(local, remote)) {
                return Some(local);
            }
        }
        None
    }

    /// After each ingress packet into shard `index`: note which connection it concerned,
    /// adopt listeners that took a SYN (dropping a duplicate socket for a 4-tuple we already
    /// have), settle half-open connections, top the shard's pool up.
    fn after_ingress(&mut self, index: usize, flow: Option<TcpFlow>) {
        if let Some(flow) = flow {
            if let Some(&id) = self.tuples.get(&(flow.dst, flow.src)) {
                self.touch(id, true);
            }
        }
        let mut taken = std::mem::take(&mut self.taken);
        let shard = &mut self.shards[index];
        shard
            .pool
            .collect_taken(&shard.sockets, &mut taken, &mut self.census);
        for handle in taken.drain(..) {
            self.adopt(index, handle);
        }
        self.taken = taken;
        if !self.shards[index].pending.is_empty() {
            self.check_pending(index);
            // After check_pending, this shard's `pending` holds only half-open connections.
            // Young ones are kept (a burst of real connects completes within a round trip),
            // so the budget may be exceeded briefly, and the cap still holds.
            while self.half_open > self.max_half_open
                && self.evict_oldest_half_open(HALF_OPEN_GRACE)
            {}
        }
        self.top_up(index);
    }

    fn adopt(&mut self, index: usize, handle: SocketHandle) {
        let shard = &mut self.shards[index];
        let socket = shard.sockets.get::<tcp::Socket>(handle);
        let state = socket.state();
        let (Some(local), Some(remote)) = (socket.local_endpoint(), socket.remote_endpoint())
        else {
            let connections = self.conns.len();
            shard
                .pool
                .release(&mut shard.sockets, handle, &mut self.census, connections);
            return;
        };
        if let Some(&existing) = self.tuples.get(&(local, remote)) {
            let existing_state = self.state(existing);
            if existing_state.is_some_and(|s| s != State::TimeWait && s != State::Closed) {
                // A retransmitted SYN reached a listener ahead of the socket that already owns
                // this 4-tuple. The newcomer has not sent its SYN-ACK yet (egress comes after
                // ingress), so removing it outright is invisible to the peer; closing it would
                // send a RST that could kill the real connection.
                log::debug!(
                    "dropping duplicate SYN-RECEIVED socket for {} (conn {existing} owns it)",
                    SocketAddr::from(remote)
                );
                let shard = &mut self.shards[index];
                shard
                    .pool
                    .remove(&mut shard.sockets, handle, &mut self.census);
                self.duplicates += 1;
                return;
            }
            // The old connection is in TIME-WAIT and the peer reuses its port: the new one wins.
            self.forget_socket_of(existing);
        }
        if self.max_per_source > 0
            && self.sources.get(&remote.addr).copied().unwrap_or(0) >= self.max_per_source
        {
            // One address may not take the whole pool. The socket has not answered the SYN
            // yet (egress comes after ingress); aborting it makes its next packet a RST, so
            // the peer's connect fails at once instead of retrying. It drains like any
            // aborted socket and goes back to the pool.
            self.refused_per_source += 1;
            if self.refused_per_source.is_power_of_two() {
                log::warn!(
                    "refusing connections from {}: {} already open (--max-per-source); \
                     {} refused so far",
                    remote.addr,
                    self.max_per_source,
                    self.refused_per_source
                );
            }
            let shard = &mut self.shards[index];
            shard.sockets.get_mut::<tcp::Socket>(handle).abort();
            shard.drain(handle);
            return;
        }
        *self.sources.entry(remote.addr).or_insert(0) += 1;
        let id = self.new_id();
        self.insert_conn(
            id,
            Conn {
                shard: index,
                handle,
                local,
                remote,
                inbound: true,
                opened: self.now,
                announced: false,
                released: false,
                state,
                news: false,
                touched: false,
                ready: false,
            },
        );
        self.shards[index].pending.push(id);
        self.half_open += 1;
        if self.log_states {
            log::info!("conn {id} {}: LISTEN → {state}", SocketAddr::from(remote));
        }
    }

    /// Removes the TIME-WAIT socket of `id` at once (its tuple is being reused).
    fn forget_socket_of(&mut self, id: ConnId) {
        if let Some(conn) = self.unlink(id) {
            self.tuples.remove(&(conn.local, conn.remote));
            let shard = &mut self.shards[conn.shard];
            let before = shard.pending.len();
            shard.pending.retain(|&p| p != id);
            self.half_open -= before - shard.pending.len();
            if conn.announced {
                self.gone.push_back(id);
            }
            shard
                .pool
                .remove(&mut shard.sockets, conn.handle, &mut self.census);
        }
    }

    /// Half-open connections of shard `index`: announce the established ones, return the
    /// reset ones to the pool, drop the failed ones.
    fn check_pending(&mut self, index: usize) {
        let mut i = 0;
        while i < self.shards[index].pending.len() {
            let id = self.shards[index].pending[i];
            let Some(conn) = self.conns.get_mut(&id) else {
                self.shards[index].pending.swap_remove(i);
                self.half_open -= 1;
                continue;
            };
            let handle = conn.handle;
            let state = self.shards[index]
                .sockets
                .get::<tcp::Socket>(handle)
                .state();
            match state {
                State::SynReceived | State::SynSent => {
                    i += 1;
                    continue;
                }
                State::Listen => {
                    // RST during the handshake: smoltcp put the socket back to LISTEN but
                    // kept the old peer's sequence state (`remote_last_ack` of the SYN-ACK it
                    // sent, window scale, MSS). A SYN taken in that state is checked against
                    // the stale window, so a RST arriving before the new SYN-ACK goes out is
                    // dropped as out of window and the socket stays half-open. Close it
                    // (silently: no peer is attached any more) and listen afresh, which
                    // resets every field.
                    self.drop_conn(id);
                    let connections = self.conns.len();
                    let shard = &mut self.shards[index];
                    shard.pool.recycle_silently(
                        &mut shard.sockets,
                        handle,
                        &mut self.census,
                        connections,
                    );
                }
                State::Closed | State::TimeWait => {
                    self.drop_conn(id);
                    self.shards[index].drain(handle);
                }
                _ => {
                    // Listeners carry the short handshake timeout; a live connection may be
                    // silent for longer.
                    self.shards[index]
                        .sockets
                        .get_mut::<tcp::Socket>(handle)
                        .set_timeout(Some(SOCKET_TIMEOUT));
                    conn.announced = true;
                    conn.state = state;
                    // Data may have come with the ACK that completed the handshake.
                    conn.ready = true;
                    self.ready.push_back(id);
                    self.accepted.push_back((id, conn.remote.into()));
                    if self.log_states {
                        log::info!(
                            "conn {id} {}: SYN-RECEIVED → {state}",
                            SocketAddr::from(conn.remote)
                        );
                    }
                }
            }
            self.shards[index].pending.swap_remove(i);
            self.half_open -= 1;
        }
    }

    /// Forgets a connection's table entries (not its socket).
    fn drop_conn(&mut self, id: ConnId) {
        if let Some(conn) = self.unlink(id) {
            if self.tuples.get(&(conn.local, conn.remote)) == Some(&id) {
                self.tuples.remove(&(conn.local, conn.remote));
            }
        }
    }

    /// Removes a connection from the table, its shard's members and the per-source counts:
    /// every removal goes through here, so the counts cannot leak.
    fn unlink(&mut self, id: ConnId) -> Option<Conn> {
        let conn = self.conns.remove(&id)?;
        self.shards[conn.shard].members.remove(&id);
        if conn.inbound {
            if let Some(count) = self.sources.get_mut(&conn.remote.addr) {
                *count -= 1;
                if *count == 0 {
                    self.sources.remove(&conn.remote.addr);
                }
            }
        }
        Some(conn)
    }

    /// Marks a connection for examination after this poll (and its shard for polling);
    /// `news`: a packet for it arrived.
    fn touch(&mut self, id: ConnId, news: bool) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.news |= news;
        let shard = conn.shard;
        if !conn.touched {
            conn.touched = true;
            self.touched.push(id);
        }
        self.mark_dirty(shard);
    }

    /// Touched, announced connections: log state changes, report the finished ones as gone,
    /// queue the others for [`Net::poll_ready`] when a packet arrived or their state changed.
    fn examine_touched(&mut self) {
        let mut touched = std::mem::take(&mut self.touched);
        for id in touched.drain(..) {
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            conn.touched = false;
            let news = std::mem::take(&mut conn.news);
            if !conn.announced {
                continue;
            }
            let socket = self.shards[conn.shard]
                .sockets
                .get::<tcp::Socket>(conn.handle);
            let state = socket.state();
            let changed = state != conn.state;
            if changed {
                if self.log_states {
                    log::info!(
                        "conn {id} {}: {} → {state}",
                        SocketAddr::from(conn.remote),
                        conn.state
                    );
                }
                conn.state = state;
            }
            let over = matches!(state, State::Closed | State::TimeWait);
            if over && (conn.released || !socket.can_recv()) {
                let (index, handle) = (conn.shard, conn.handle);
                self.drop_conn(id);
                self.shards[index].drain(handle);
                self.gone.push_back(id);
            } else if (news || changed) && !conn.ready {
                conn.ready = true;
                self.ready.push_back(id);
            }
        }
        self.touched = touched;
    }

    /// Recycles shard `index`'s draining sockets that are fully closed (RST sent). TIME-WAIT
    /// ones wait for their timer, or are reaped early when the cap needs their room.
    fn recycle_draining(&mut self, index: usize) -> bool {
        let connections = self.conns.len();
        let shard = &mut self.shards[index];
        let mut recycled = false;
        let mut i = 0;
        while i < shard.draining.len() {
            let handle = shard.draining[i];
            let socket = shard.sockets.get::<tcp::Socket>(handle);
            if socket.state() == State::Closed && socket.remote_endpoint().is_none() {
                shard.draining.swap_remove(i);
                shard
                    .pool
                    .release(&mut shard.sockets, handle, &mut self.census, connections);
                recycled = true;
            } else {
                i += 1;
            }
        }
        recycled
    }

    /// Opens listeners in shard `index` until its pool has its spare or the cap is reached.
    fn top_up(&mut self, index: usize) {
        let connections = self.conns.len();
        while self.shards[index]
            .pool
            .wants_listener(&self.census, connections)
        {
            let Some(handle) = socket_for(&mut self.shards, &mut self.census, index) else {
                break;
            };
            let shard = &mut self.shards[index];
            shard
                .pool
                .listen_on(&mut shard.sockets, handle, &mut self.census);
        }
        if self.census.listeners == 0 && self.listen_port().is_some() {
            self.evict_oldest_half_open(HALF_OPEN_GRACE);
        }
    }

    /// At the cap with no listener left in any shard, the next SYN would get a RST. If some
    /// slots are half-open (SYN-RECEIVED) for longer than [`HALF_OPEN_GRACE`] (in a SYN flood
    /// from spoofed addresses they never complete), the oldest gives its socket to a new
    /// listener in its shard (a SYN for another shard takes it over, see `ensure_listener`),
    /// so a flood cannot lock real clients out for the 60 s a half-open socket would otherwise
    /// wait. Established connections are never evicted.
    ///
    /// Also called when a SYN takes the half-open count beyond `max_half_open` (see
    /// [`half_open_budget`]). Returns false when no connection was older than `min_age`.
    /// Scans every shard's pending list: only at the cap or beyond the budget.
    fn evict_oldest_half_open(&mut self, min_age: Duration) -> bool {
        let now = self.now;
        let mut oldest: Option<(usize, usize, ConnId)> = None;
        for (index, shard) in self.shards.iter().enumerate() {
            for (pos, &id) in shard.pending.iter().enumerate() {
                let Some(conn) = self.conns.get(&id) else {
                    continue;
                };
                let half_open = now >= conn.opened + min_age
                    && shard.sockets.get::<tcp::Socket>(conn.handle).state() == State::SynReceived;
                if half_open && oldest.is_none_or(|(_, _, o)| id < o) {
                    oldest = Some((index, pos, id));
                }
            }
        }
        let Some((index, pos, id)) = oldest else {
            return false;
        };
        self.shards[index].pending.swap_remove(pos);
        self.half_open -= 1;
        let Some(handle) = self.conns.get(&id).map(|c| c.handle) else {
            return true;
        };
        self.drop_conn(id);
        let connections = self.conns.len();
        let shard = &mut self.shards[index];
        shard
            .pool
            .recycle_silently(&mut shard.sockets, handle, &mut self.census, connections);
        self.evicted_half_open += 1;
        if self.evicted_half_open.is_power_of_two() {
            log::warn!(
                "half-open budget or connection cap reached: dropping the oldest half-open \
                 connections for new SYNs (SYN flood?); {} dropped so far",
                self.evicted_half_open
            );
        }
        true
    }
}

/// Makes sure shard `index` has a listener for the SYN about to reach it, if the cap has room
/// for one more connection. Pools are topped up after every packet, so this acts only near
/// the cap, when the listeners the cap still allows may all sit in other shards: one of them
/// then moves here. Without it a SYN could be refused below `max_connections`.
fn ensure_listener(shards: &mut [Shard], census: &mut Census, connections: usize, index: usize) {
    if shards[index].pool.listeners() > 0 {
        return;
    }
    let handle = if census.may_listen(connections) {
        socket_for(shards, census, index)
    } else {
        steal_listener(shards, census, index)
    };
    if let Some(handle) = handle {
        let shard = &mut shards[index];
        shard.pool.listen_on(&mut shard.sockets, handle, census);
    }
}

/// A closed socket in shard `index`, cheapest source first: its own free list, another
/// shard's free list (moved over, so freed buffers are reused before new ones are
/// allocated), a new socket if the cap has room, a TIME-WAIT socket of its own or of another
/// shard cut short (see [`Shard::reap_time_wait`]).
fn socket_for(shards: &mut [Shard], census: &mut Census, index: usize) -> Option<SocketHandle> {
    if shards[index].pool.free() > 0 || census.free == 0 {
        let shard = &mut shards[index];
        if let Some(handle) = shard.pool.take_socket(&mut shard.sockets, census) {
            return Some(handle);
        }
    } else if let Some(other) = shards.iter().position(|s| s.pool.free() > 0) {
        let from = &mut shards[other];
        if let Some((socket, slot)) = from.pool.give_free(&mut from.sockets, census) {
            let to = &mut shards[index];
            return Some(to.pool.adopt(&mut to.sockets, socket, slot));
        }
    }
    if let Some(handle) = shards[index].reap_time_wait() {
        return Some(handle);
    }
    // Any other shard with a TIME-WAIT socket: the first one with draining sockets may hold
    // only sockets whose RST is still to go out.
    for other in (0..shards.len()).filter(|&o| o != index) {
        if let Some(handle) = shards[other].reap_time_wait() {
            return Some(move_socket(shards, other, handle, index));
        }
    }
    None
}

/// Closes a listener, of shard `index` if it has one, else of any shard, and hands its socket
/// to shard `index`: for a connection that may not grow the socket count.
fn steal_listener(shards: &mut [Shard], census: &mut Census, index: usize) -> Option<SocketHandle> {
    let from = if shards[index].pool.listeners() > 0 {
        index
    } else {
        shards.iter().position(|s| s.pool.listeners() > 0)?
    };
    let shard = &mut shards[from];
    let handle = shard.pool.steal_listener(&mut shard.sockets, census)?;
    Some(move_socket(shards, from, handle, index))
}

/// Moves a closed socket from one shard's set to another's; its handle changes.
fn move_socket(shards: &mut [Shard], from: usize, handle: SocketHandle, to: usize) -> SocketHandle {
    if from == to {
        return handle;
    }
    let from = &mut shards[from];
    let (socket, slot) = from.pool.detach(&mut from.sockets, handle);
    let to = &mut shards[to];
    to.pool.adopt(&mut to.sockets, socket, slot)
}

/// 64 bits from the OS (getrandom(2)), for ISNs and the ephemeral port start.
fn random_seed() -> io::Result<u64> {
    let mut buf = [0u8; 8];
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: writes at most `buf.len() - filled` bytes into `buf[filled..]`.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        filled += n as usize;
    }
    Ok(u64::from_ne_bytes(buf))
}
