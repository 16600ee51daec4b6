//! Live trace for web viewers: the `/trace` WebSocket behind the chat page's packet ladder.
//!
//! A [`Tap`] is shared by two ends on the event loop thread:
//! - the [`layer::Watch`] middleware layer, which sees every IP packet in and out (the same
//!   bytes as `--pcap`) and the packets the impairment drops, and turns them into events:
//!   TCP segments, tunws's TCP state, HTTP heads and WebSocket frames, decoded from the
//!   packets themselves (`flow.rs`, `stream.rs`), and routed to viewers or held back (`record.rs`);
//! - the `/trace` route ([`app::TraceApp`]), which subscribes viewers and sends each one its
//!   events as JSON text messages (schema: docs/TRACE.md).
//!
//! Cost: while nobody watches, the layer reads one atomic flag per packet and records nothing.
//!
//! Scope ([`Scope`]): with [`Scope::Own`] (the default) a viewer sees only the connections whose
//! first HTTP request carried its token (`?t=TOKEN` on the page, `/chat`, `/echo`); the page
//! makes the token, a random 128-bit value, and sends it on the trace socket (`watch TOKEN`).
//! Every browser on the TUN's host comes from the same address, so the address cannot tell
//! viewers apart. A connection is held back (bounded backlog) until its first request decides
//! whose it is; one without a token goes to no own-scope viewer. With [`Scope::All`] (a
//! teacher's projector) every viewer sees every connection. Trace sockets never see
//! themselves.
//!
//! Bounds: a viewer's queue holds [`MAX_QUEUE_BYTES`] of events; past that events are dropped
//! and counted, and the viewer gets a `lost` event with the count before the next one: a slow
//! viewer never slows the stack or grows its memory. Each viewer keeps the raw packets it was
//! shown, up to [`MAX_KEPT_BYTES`] (oldest go first), for its pcap export. At most
//! [`MAX_VIEWERS`] viewers and [`MAX_FLOWS`] tracked connections; what unclaimed connections
//! hold back and what the decoders hold after gaps have global bounds ([`MAX_PENDING_BYTES`],
//! [`MAX_HELD_BYTES`]). A viewer with a token outlives its socket by [`LINGER_US`], so a
//! reloaded page takes over its recording (docs/TRACE.md).

pub mod app;
mod event;
mod flow;
mod json;
pub mod layer;
mod record;
mod stream;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smoltcp::time::Instant;

use crate::ConnId;
use crate::middleware::Direction;
use crate::middleware::pcap::Pcap;
use crate::packet::Headers;

use event::Stamp;
use flow::Flow;

/// Bytes of events queued per viewer before events are dropped (and counted as lost).
pub const MAX_QUEUE_BYTES: usize = 1024 * 1024;
/// Bytes of raw packets kept per viewer for its pcap export.
pub const MAX_KEPT_BYTES: usize = 1024 * 1024;
/// Viewers at once; more are refused.
pub const MAX_VIEWERS: usize = 16;
/// Connections tracked at once while someone watches; packets of further ones are not shown.
pub const MAX_FLOWS: usize = 4096;
/// Events held for a connection whose first request has not yet said whose it is.
const MAX_BACKLOG_EVENTS: usize = 64;
/// Bytes (events and packets) held for all such connections together; past it a connection's
/// backlog is released as unclaimed.
pub const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;
/// Bytes all decoders together may hold after gaps (out-of-order segments); past it a
/// direction with a gap stops being decoded.
pub const MAX_HELD_BYTES: usize = 4 * 1024 * 1024;
/// A tracked connection silent this long is forgotten (after its close: [`ENDED_LINGER_US`]).
const IDLE_US: i64 = 120_000_000;
/// An ended connection is kept this long for its last ACKs and retransmitted FINs.
const ENDED_LINGER_US: i64 = 10_000_000;
/// A viewer with a token whose trace socket closed keeps recording this long, for a socket
/// with the same token to take over: a page reloaded with its ladder open gets the old page's
/// closing connections and its own page load, handshake included.
pub const LINGER_US: i64 = 10_000_000;
/// Path of the trace endpoint: requests for it mark trace sockets.
pub const TRACE_PATH: &str = "/trace";
/// Query parameter that carries a viewer's token.
pub const TOKEN_PARAM: &str = "t";
/// Cookie that carries a viewer's token while its ladder is open, so that a reload's page
/// load (`GET /`, no query) is claimed too.
pub const TOKEN_COOKIE: &str = "tunws_t";

/// Which connections a viewer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only those its own page opened (token on their first request).
    Own,
    /// Every connection (`--trace-web all`).
    All,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Own => "own",
            Scope::All => "all",
        }
    }
}

/// Why [`Tap::subscribe`] refused a viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeError {
    /// [`MAX_VIEWERS`] are watching.
    TooManyViewers,
    /// Own scope needs a token of 16 to 64 characters from `A-Z a-z 0-9 - _`.
    BadToken,
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubscribeError::TooManyViewers => "too many viewers",
            SubscribeError::BadToken => "token must be 16-64 characters of A-Z a-z 0-9 - _",
        })
    }
}

/// The shared handle: cheap to clone, one per layer and per app.
#[derive(Clone)]
pub struct Tap {
    shared: Arc<Shared>,
}

impl fmt::Debug for Tap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tap")
            .field("scope", &self.shared.scope)
            .finish()
    }
}

struct Shared {
    scope: Scope,
    /// Someone watches: the layer's one check per packet.
    watching: AtomicBool,
    hub: Mutex<Hub>,
}

/// Whose a connection is.
enum Owner {
    /// Not known yet: events wait here.
    Pending(Backlog),
    /// Its first request carried this token.
    Token(Arc<str>),
    /// No token. `settled`: no request can follow (WebSocket, or undecodable), so with own
    /// scope the connection is skipped at once.
    Unwatched { settled: bool },
    /// A trace socket: never shown.
    Trace,
}

#[derive(Default)]
struct Backlog {
    events: Vec<Arc<str>>,
    packets: Vec<Kept>,
    /// Bytes of `events` and `packets`, counted in [`Hub::pending_bytes`].
    bytes: usize,
}

/// A raw packet kept for the pcap export.
#[derive(Clone)]
struct Kept {
    t: i64,
    bytes: Arc<[u8]>,
}

struct Tracked {
    flow: Flow,
    owner: Owner,
}

struct Viewer {
    /// Its trace socket; `None` while it lingers after the socket closed (see [`LINGER_US`]).
    conn: Option<ConnId>,
    /// When its trace socket closed (stack clock µs), while it lingers.
    left_at: Option<i64>,
    token: Option<Arc<str>>,
    queue: VecDeque<Arc<str>>,
    queued_bytes: usize,
    lost: u64,
    kept: VecDeque<Kept>,
    kept_bytes: usize,
    /// The last pump found its connection's send queue full.
    blocked: bool,
}

impl Viewer {
    /// Queues `event`, preceded by a `lost` marker if events were lost since the last one.
    fn push(&mut self, event: &Arc<str>) {
        let marker = (self.lost > 0).then(|| Arc::<str>::from(event::lost(self.lost)));
        let need = event.len() + marker.as_ref().map_or(0, |m| m.len());
        if self.queued_bytes + need > MAX_QUEUE_BYTES {
            self.lost += 1;
            return;
        }
        if let Some(marker) = marker {
            self.queue.push_back(marker);
            self.lost = 0;
        }
        self.queued_bytes += need;
        self.queue.push_back(event.clone());
    }

    fn keep(&mut self, packet: &Kept) {
        self.kept_bytes += packet.bytes.len();
        self.kept.push_back(packet.clone());
        while self.kept_bytes > MAX_KEPT_BYTES {
            let Some(old) = self.kept.pop_front() else {
                break;
            };
            self.kept_bytes -= old.bytes.len();
        }
    }

    fn sees(&self, scope: Scope, owner: &Owner) -> bool {
        match owner {
            Owner::Token(token) => scope == Scope::All || self.token.as_ref() == Some(token),
            Owner::Unwatched { .. } => scope == Scope::All,
            Owner::Pending(_) | Owner::Trace => false,
        }
    }
}

struct Hub {
    flows: HashMap<(SocketAddr, SocketAddr), Tracked>,
    viewers: Vec<Viewer>,
    /// Remote endpoints of the trace sockets.
    trace_peers: HashSet<SocketAddr>,
    next_flow: u64,
    next_pkt: u64,
    last_sweep: i64,
    /// Stack clock of the last packet recorded.
    now: i64,
    /// Bytes in all pending backlogs (bounded by [`MAX_PENDING_BYTES`]).
    pending_bytes: usize,
    /// Bytes the decoders may still hold after gaps (starts at [`MAX_HELD_BYTES`]).
    held_room: usize,
    /// The last packet recorded going out: (flow key, its stamp), for a drop that follows.
    last_out: Option<((SocketAddr, SocketAddr), Stamp)>,
    /// Reused event list.
    scratch: Vec<String>,
    /// Wall-clock time at which the stack clock read zero, for pcap timestamps.
    base: Duration,
}

impl Tap {
    /// A tap with no viewers.
    pub fn new(scope: Scope) -> Tap {
        Tap {
            shared: Arc::new(Shared {
                scope,
                watching: AtomicBool::new(false),
                hub: Mutex::new(Hub {
                    flows: HashMap::new(),
                    viewers: Vec::new(),
                    trace_peers: HashSet::new(),
                    next_flow: 1,
                    next_pkt: 1,
                    last_sweep: 0,
                    now: 0,
                    pending_bytes: 0,
                    held_room: MAX_HELD_BYTES,
                    last_out: None,
                    scratch: Vec::new(),
                    base: SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default(),
                }),
            }),
        }
    }

    /// The scope every viewer of this tap gets.
    pub fn scope(&self) -> Scope {
        self.shared.scope
    }

    /// Whether anyone watches (one relaxed load).
    #[inline]
    pub fn is_watched(&self) -> bool {
        self.shared.watching.load(Ordering::Relaxed)
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.shared.hub.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one packet, read as `headers`. `wire_drop`: the impairment dropped it (on the
    /// way in before the stack saw it; on the way out after the stack sent it and this was
    /// called for it).
    pub(crate) fn record(
        &self,
        direction: Direction,
        packet: &[u8],
        headers: &Headers,
        now: Instant,
        wire_drop: bool,
    ) {
        if !self.is_watched() {
            return;
        }
        let scope = self.shared.scope;
        let mut hub = self.hub();
        hub.record(
            scope,
            direction,
            packet,
            headers,
            now.total_micros(),
            wire_drop,
        );
        self.settle(&mut hub);
    }

    /// [`Tap::record`] for tests that hold bytes only.
    #[cfg(test)]
    pub(crate) fn record_bytes(
        &self,
        direction: Direction,
        packet: &[u8],
        now: Instant,
        wire_drop: bool,
    ) {
        let headers = Headers::parse(packet);
        self.record(direction, packet, &headers, now, wire_drop);
    }

    /// Stops recording and frees everything once no viewer is left (attached or lingering).
    fn settle(&self, hub: &mut Hub) {
        if hub.viewers.is_empty() {
            self.shared.watching.store(false, Ordering::Relaxed);
            hub.flows.clear();
            hub.trace_peers.clear();
            hub.last_out = None;
            hub.pending_bytes = 0;
            hub.held_room = MAX_HELD_BYTES;
        }
    }

    /// Adds the viewer on trace socket `conn` (remote endpoint `peer`), returning the `hello`
    /// event to send it. Own scope needs its page's token. A lingering viewer with the same
    /// token is taken over, with what it recorded meanwhile (`"resumed":true` in the hello).
    pub fn subscribe(
        &self,
        conn: ConnId,
        peer: SocketAddr,
        token: Option<&str>,
    ) -> Result<String, SubscribeError> {
        let scope = self.shared.scope;
        let token = match token {
            Some(t) if is_valid_token(t) => Some(Arc::<str>::from(t)),
            None if scope == Scope::All => None,
            _ => return Err(SubscribeError::BadToken),
        };
        let mut hub = self.hub();
        // `watch` again on the same socket starts over.
        hub.viewers.retain(|v| v.conn != Some(conn));
        hub.expire_lingering();
        let lingering = token.as_ref().and_then(|t| {
            hub.viewers
                .iter()
                .position(|v| v.conn.is_none() && v.token.as_ref() == Some(t))
        });
        if lingering.is_none() && hub.viewers.len() >= MAX_VIEWERS {
            return Err(SubscribeError::TooManyViewers);
        }
        hub.trace_peers.insert(peer);
        let Hub {
            flows,
            pending_bytes,
            ..
        } = &mut *hub;
        for (key, tracked) in flows.iter_mut() {
            if key.0 == peer {
                take_backlog(
                    std::mem::replace(&mut tracked.owner, Owner::Trace),
                    pending_bytes,
                );
            }
        }
        if let Some(i) = lingering {
            let viewer = &mut hub.viewers[i];
            viewer.conn = Some(conn);
            viewer.left_at = None;
            viewer.blocked = false;
            return Ok(event::hello(scope.name(), token.as_deref(), true));
        }
        hub.viewers.push(Viewer {
            conn: Some(conn),
            left_at: None,
            token: token.clone(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            lost: 0,
            kept: VecDeque::new(),
            kept_bytes: 0,
            blocked: false,
        });
        self.shared.watching.store(true, Ordering::Relaxed);
        Ok(event::hello(scope.name(), token.as_deref(), false))
    }

    /// The viewer on `conn` left (its socket closed). One with a token lingers for
    /// [`LINGER_US`]; one without is removed. The last one gone stops recording and frees
    /// every tracked connection.
    pub fn unsubscribe(&self, conn: ConnId, peer: SocketAddr) {
        let mut hub = self.hub();
        hub.trace_peers.remove(&peer);
        let now = hub.now;
        hub.viewers.retain_mut(|v| {
            if v.conn != Some(conn) {
                return true;
            }
            v.conn = None;
            v.left_at = Some(now);
            v.blocked = false;
            v.token.is_some()
        });
        self.settle(&mut hub);
    }

    /// The trace sockets with events waiting ([`Tap::take_batch`]).
    pub fn ready_viewers(&self, out: &mut Vec<ConnId>) {
        let hub = self.hub();
        out.extend(
            hub.viewers
                .iter()
                .filter(|v| !v.queue.is_empty() || v.lost > 0)
                .filter_map(|v| v.conn),
        );
    }

    /// Whether any viewer has events waiting and was not blocked.
    pub fn has_ready_viewers(&self) -> bool {
        self.is_watched()
            && self
                .hub()
                .viewers
                .iter()
                .any(|v| v.conn.is_some() && !v.blocked && (!v.queue.is_empty() || v.lost > 0))
    }

    /// Marks whether `conn`'s socket had room when last pumped.
    pub fn set_blocked(&self, conn: ConnId, blocked: bool) {
        if let Some(v) = self.hub().viewers.iter_mut().find(|v| v.conn == Some(conn)) {
            v.blocked = blocked;
        }
    }

    /// Takes queued events of `conn` as one JSON array of about `max_bytes` at most (always
    /// at least one event); `None` when none are queued.
    pub fn take_batch(&self, conn: ConnId, max_bytes: usize) -> Option<String> {
        let mut hub = self.hub();
        let viewer = hub.viewers.iter_mut().find(|v| v.conn == Some(conn))?;
        if viewer.queue.is_empty() && viewer.lost > 0 {
            let marker: Arc<str> = event::lost(viewer.lost).into();
            viewer.lost = 0;
            viewer.queued_bytes += marker.len();
            viewer.queue.push_back(marker);
        }
        if viewer.queue.is_empty() {
            return None;
        }
        let mut batch = String::with_capacity(max_bytes.min(viewer.queued_bytes + 64));
        batch.push('[');
        while let Some(next) = viewer.queue.front() {
            if batch.len() > 1 && batch.len() + next.len() + 2 > max_bytes {
                break;
            }
            if batch.len() > 1 {
                batch.push(',');
            }
            batch.push_str(next);
            viewer.queued_bytes -= next.len();
            viewer.queue.pop_front();
        }
        batch.push(']');
        Some(batch)
    }

    /// The packets kept for `conn`'s viewer as a pcap file (LINKTYPE_RAW, the same bytes and
    /// format as `--pcap`).
    pub fn pcap(&self, conn: ConnId) -> Vec<u8> {
        let hub = self.hub();
        let kept: Vec<Kept> = hub
            .viewers
            .iter()
            .find(|v| v.conn == Some(conn))
            .map(|v| v.kept.iter().cloned().collect())
            .unwrap_or_default();
        let base = hub.base;
        drop(hub);
        let size = 24 + kept.iter().map(|k| 16 + k.bytes.len()).sum::<usize>();
        // Writing to a Vec cannot fail.
        let Ok(mut pcap) = Pcap::new(Vec::with_capacity(size), base) else {
            return Vec::new();
        };
        for k in &kept {
            // The direction is not part of a pcap record.
            pcap.capture(&k.bytes, Instant::from_micros(k.t));
        }
        pcap.get_ref().clone()
    }
}

impl Hub {
    /// Removes the viewers whose trace socket closed more than [`LINGER_US`] ago.
    fn expire_lingering(&mut self) {
        let now = self.now;
        self.viewers
            .retain(|v| v.left_at.is_none_or(|left| now - left < LINGER_US));
    }
}

/// The backlog of a connection that was pending, taken out of the pending count.
fn take_backlog(owner: Owner, pending_bytes: &mut usize) -> Option<Backlog> {
    match owner {
        Owner::Pending(backlog) => {
            *pending_bytes -= backlog.bytes;
            Some(backlog)
        }
        _ => None,
    }
}

/// Hands `first` then `then` to every viewer that sees `owner`'s connections.
fn deliver(
    viewers: &mut [Viewer],
    scope: Scope,
    owner: &Owner,
    first: Backlog,
    then: Option<Backlog>,
) {
    for viewer in viewers.iter_mut().filter(|v| v.sees(scope, owner)) {
        for part in std::iter::once(&first).chain(then.as_ref()) {
            for event in &part.events {
                viewer.push(event);
            }
            for packet in &part.packets {
                viewer.keep(packet);
            }
        }
    }
}

/// A token a page may use: 16-64 characters of the URL-safe base64 alphabet.
fn is_valid_token(token: &str) -> bool {
    (16..=64).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The value of the token parameter in a query string, if it is a valid token.
fn token_in(query: &str) -> Option<&str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == TOKEN_PARAM)
        .map(|(_, value)| value)
        .filter(|value| is_valid_token(value))
}

#[cfg(test)]
mod tests;
