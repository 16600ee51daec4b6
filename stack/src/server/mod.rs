//! The server glue: HTTP and WebSocket on one port of [`Net`], routed by path.
//!
//! Each accepted connection is a `Conn` (conn.rs): HTTP requests (parsed by `ws::handshake`)
//! get a [`Page`], a refusal with the status `ws` names, or a 101 that turns the connection
//! into a WebSocket handled by the [`App`] registered for its path. [`run`] runs it on
//! [`crate::runner`]'s loop.
//!
//! Policies, with their reasons:
//! - Handshake timeout ([`ServerConfig::handshake_timeout`], default 10 s): a connection must deliver a
//!   complete request head within it after accept or after the previous response; otherwise
//!   it is closed quietly (browsers open spare connections that never send anything).
//! - Keepalive ([`ServerConfig::keepalive`], default [`DEFAULT_KEEPALIVE`]): a WebSocket
//!   silent for 30 s gets a Ping; silent 30 s more, it is failed with 1011 (`ws` decides the
//!   code).
//! - Backpressure: a connection is not read while its queued output (what does not fit in its
//!   TCP send buffer) is above its read pause, so its bytes stay in the stack's receive buffer
//!   and the TCP window closes. The pause is 0 for apps that take whole messages (they read a
//!   whole message before answering) and `max_message` for streaming apps ([`App::streams`]),
//!   which answer while reading: a blocking client that writes a whole message before reading
//!   would otherwise wait on us while we wait on it.
//! - Bounded queues: a message for another connection than the one being handled is refused
//!   when that connection's queue already holds bytes and would exceed
//!   [`ServerConfig::queue_limit`], and that connection is closed with [`OVERLOADED`] (1008).
//!   An empty queue always accepts one message, so a single message of up to `max_message`
//!   bytes always gets through. Replies to the connection being handled are bounded by its
//!   read pause instead.
//! - Close: the server closes TCP after the WebSocket close handshake; if the peer does not
//!   finish it within [`ServerConfig::close_timeout`], TCP is closed anyway, and a connection
//!   whose FIN is not acknowledged within the same time is reset.
//! - Readiness: a turn services only the connections [`Net::poll_ready`] reports: a packet
//!   arrived for them or their state changed, or the server woke them ([`Net::wake`]: just
//!   accepted, a timer expired, an app or mount gave them output), so thousands of idle
//!   connections cost nothing per packet. Work left undone
//!   (output waiting for send space, input paused behind it) resumes when the peer's ACK
//!   makes the connection ready again.

mod app;
mod conn;
mod echo;
mod engine_echo;
mod http;
mod mount;
mod serving;
mod socket_io;
pub mod stats;

pub use serving::run;

use std::collections::BTreeSet;

use ws::{CloseCode, Duration, Instant, Keepalive};

use crate::id::IdMap;
use crate::{ConnId, Net, RecvError};

pub use app::{App, OVERLOADED, Outbox, SendError};
pub use echo::Echo;
pub use engine_echo::EngineEcho;
pub use http::Page;
pub use mount::Endpoint;
pub use socket_io::{Io, SessionIds, SocketIo, SocketIoApp};

use crate::clock::{delay_until, ws_instant};
use crate::session::{Step, TcpEnd};
use conn::{Conn, HttpStep, Phase, Route, WsConn};
use http::Site;

/// How long a shutdown waits for close handshakes and FINs before exiting anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Default keepalive: a WebSocket silent this long is pinged, then failed with 1011 if it
/// stays silent as long again.
pub const DEFAULT_KEEPALIVE: Keepalive = Keepalive {
    idle: Duration::from_secs(30),
    timeout: Duration::from_secs(30),
};

/// Default [`ServerConfig::close_timeout`].
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Limits and timeouts of the server. `Default` gives the values documented on each field.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest WebSocket message (and frame) accepted; bigger ones are failed with 1009.
    /// Default [`DEFAULT_MAX_MESSAGE`](crate::DEFAULT_MAX_MESSAGE), 16 MiB + 64 KiB.
    pub max_message: u64,
    /// Allowed `Origin` values for upgrades; a request carrying another Origin gets 403.
    /// Empty (the default) allows every origin.
    pub origins: Vec<String>,
    /// Time to deliver a complete request head. Default
    /// [`HANDSHAKE_TIMEOUT`](crate::HANDSHAKE_TIMEOUT), 10 s.
    pub handshake_timeout: Duration,
    /// WebSocket keepalive. Default [`DEFAULT_KEEPALIVE`]: ping after 30 s idle, fail 30 s
    /// later.
    pub keepalive: Option<Keepalive>,
    /// Time for the peer to finish the close handshake, and then to acknowledge our FIN.
    /// Default [`DEFAULT_CLOSE_TIMEOUT`], 5 s.
    pub close_timeout: Duration,
    /// Bound on bytes queued for one connection (see the module doc). Default 1 MiB.
    pub queue_limit: usize,
    /// Log one line per HTTP request (request line and answer) and per WebSocket frame, under
    /// the connection id the stack's TCP trace uses (`--trace`). Default off.
    pub trace: bool,
    /// Answer plain `GET /stats` with the stack's and the server's counters as JSON (see
    /// [`stats`]), for leak checks. Default off: the counts are not for strangers.
    pub stats: bool,
    /// Accept permessage-deflate (RFC 7692) offers within this policy; `None` (the default)
    /// declines them, so frames stay readable in captures and traces.
    pub deflate: Option<ws::deflate::DeflatePolicy>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_message: crate::DEFAULT_MAX_MESSAGE,
            origins: Vec::new(),
            handshake_timeout: crate::HANDSHAKE_TIMEOUT,
            keepalive: Some(DEFAULT_KEEPALIVE),
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            queue_limit: 1024 * 1024,
            trace: false,
            stats: false,
            deflate: None,
        }
    }
}

/// The HTTP + WebSocket server over a [`Net`]. Register pages and routes, then drive it with
/// [`run`] (or [`Server::handle`] from a loop of your own).
pub struct Server {
    config: ServerConfig,
    pages: Vec<Page>,
    route_paths: Vec<String>,
    apps: Vec<Box<dyn App>>,
    conns: IdMap<Conn>,
    /// (deadline, connection), earliest first; each connection appears at most once.
    timers: BTreeSet<(Instant, ConnId)>,
    shutting_down: bool,
    /// Engine.IO / Socket.IO endpoints and their paths (mount.rs).
    mounts: Vec<mount::Mount>,
    mount_paths: Vec<String>,
}

impl Server {
    /// A server with no pages and no routes.
    pub fn new(config: ServerConfig) -> Self {
        Server {
            config,
            pages: Vec::new(),
            route_paths: Vec::new(),
            apps: Vec::new(),
            conns: IdMap::default(),
            timers: BTreeSet::new(),
            shutting_down: false,
            mounts: Vec::new(),
            mount_paths: Vec::new(),
        }
    }

    /// Serves `page` on plain `GET`/`HEAD` of its path.
    pub fn page(&mut self, page: Page) {
        self.pages.push(page);
    }

    /// Accepts WebSocket upgrades on `path` (query ignored) and hands them to `app`.
    pub fn route(&mut self, path: &str, app: Box<dyn App>) {
        self.route_paths.push(path.to_string());
        self.apps.push(app);
    }

    /// Connections the server is tracking (any phase).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Open WebSocket sessions (walks the connections).
    pub fn websockets(&self) -> usize {
        self.conns
            .values()
            .filter(|c| matches!(&c.phase, Phase::Ws(ws) if ws.open))
            .count()
    }

    /// How long until a connection needs [`Server::handle`] without any I/O (`None`: no timer).
    /// Zero while an app has output waiting ([`App::wants_poll`]).
    pub fn poll_delay(&self, now: crate::Instant) -> Option<crate::Duration> {
        if self.apps.iter().any(|app| app.wants_poll()) {
            return Some(crate::Duration::ZERO);
        }
        let connections = self.timers.first().map(|(at, _)| *at);
        [connections, self.mount_deadline()]
            .into_iter()
            .flatten()
            .min()
            .map(|at| delay_until(at, ws_instant(now)))
    }

    /// Gives every app its [`App::poll`].
    fn poll_apps(&mut self, net: &mut Net) {
        for app in &mut self.apps {
            let mut out = Outbox {
                conns: &mut self.conns,
                net: &mut *net,
                queue_limit: self.config.queue_limit,
                current: None,
            };
            app.poll(&mut out);
        }
    }

    /// One turn of the server after `net.poll(now)`: accept, free gone connections, service
    /// the connections with news ([`Net::poll_ready`]), run expired timers. `now` is the
    /// reading of the clock that drives `net`.
    pub fn handle(&mut self, net: &mut Net, now: crate::Instant) {
        let now = ws_instant(now);
        while let Some((id, peer)) = net.accept() {
            log::debug!("connection {id} from {peer}");
            self.conns
                .insert(id, Conn::new(peer, now + self.config.handshake_timeout));
            if self.shutting_down {
                self.start_tcp_close(net, id, now);
            }
            net.wake(id);
        }
        while let Some(id) = net.poll_gone() {
            self.forget(net, id);
        }
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.timer = None;
            }
            self.expire(net, id, now);
            net.wake(id);
        }
        self.poll_apps(net);
        self.mount_timers(now);
        // One list: the network's news and the server's own (accepted, timers, output from
        // apps and mounts), each connection once; apps may wake others while these run.
        loop {
            while let Some(id) = net.poll_ready() {
                self.service(net, id, now);
            }
            self.mount_flush(net, now);
            if !net.has_ready() {
                break;
            }
        }
    }

    /// Starts a graceful shutdown: every WebSocket gets a close frame with 1001 (going away),
    /// other connections are closed, new ones are closed as they arrive.
    pub fn shutdown(&mut self, net: &mut Net, now: crate::Instant) {
        let now = ws_instant(now);
        self.shutting_down = true;
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            match self.conns.get_mut(&id).map(|c| &mut c.phase) {
                Some(Phase::Ws(ws)) => ws
                    .session
                    .close(CloseCode::GOING_AWAY, "server shutting down"),
                Some(Phase::Http(_)) => self.start_tcp_close(net, id, now),
                _ => {}
            }
            net.wake(id);
        }
    }

    /// Acts on an expired deadline of `id`.
    fn expire(&mut self, net: &mut Net, id: ConnId, now: Instant) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        match &mut conn.phase {
            Phase::Http(http) if http.deadline <= now => {
                log::debug!("connection {id}: no complete request in time, closing");
                self.start_tcp_close(net, id, now);
            }
            Phase::Ws(ws) if ws.close_deadline.is_some_and(|d| d <= now) => {
                log::debug!("client {id}: close handshake not finished in time, closing TCP");
                self.start_tcp_close(net, id, now);
            }
            Phase::Ws(ws) => ws.session.handle_timeout(now),
            Phase::Closing { deadline } if *deadline <= now => {
                log::debug!("connection {id}: FIN not acknowledged in time, resetting");
                self.forget(net, id);
            }
            _ => {}
        }
    }

    /// Does all the work `id` has now, then files its next deadline.
    fn service(&mut self, net: &mut Net, id: ConnId, now: Instant) {
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            match &mut conn.phase {
                Phase::Http(http) => {
                    let site = Site {
                        pages: &self.pages,
                        routes: &self.route_paths,
                        origins: &self.config.origins,
                        stats: self.config.stats,
                        deflate: self.config.deflate,
                        engine_io: &self.mount_paths,
                    };
                    let max_body = mount::max_body(&self.mounts);
                    match http.step(
                        net,
                        id,
                        &site,
                        now + self.config.handshake_timeout,
                        self.config.trace,
                        max_body,
                    ) {
                        HttpStep::Idle => break,
                        HttpStep::Close => {
                            self.start_tcp_close(net, id, now);
                            break;
                        }
                        HttpStep::Reset => {
                            self.forget(net, id);
                            return;
                        }
                        HttpStep::Upgrade { route, deflate } => {
                            self.upgrade(net, id, Route::App(route), deflate, now)
                        }
                        HttpStep::EngineIo(head) => self.mount_request(net, id, head, now),
                        HttpStep::Stats {
                            keep_alive,
                            head_only,
                        } => {
                            let body = self.stats_json(net);
                            if let Some(Phase::Http(http)) =
                                self.conns.get_mut(&id).map(|c| &mut c.phase)
                            {
                                http.answer(
                                    "application/json",
                                    body.as_bytes(),
                                    keep_alive,
                                    head_only,
                                );
                            }
                        }
                    }
                }
                Phase::Ws(ws) => match ws.session.step(net, id, now) {
                    Step::Message(kind) => {
                        if ws.open && ws.session.end_code().is_none() {
                            let route = ws.route;
                            let data = ws.session.take_message();
                            match route {
                                Route::App(route) => self.with_app(net, route, id, |app, out| {
                                    app.on_message(out, id, kind, data.as_slice())
                                }),
                                Route::EngineIo(mount) => {
                                    self.mount_message(mount, id, kind, data.as_slice(), now)
                                }
                            }
                            if let Some(Phase::Ws(ws)) =
                                self.conns.get_mut(&id).map(|c| &mut c.phase)
                            {
                                ws.session.restore_message(data);
                            }
                        }
                        self.check_ws_end(net, id, now);
                    }
                    Step::Piece { kind, first, fin } => {
                        // Only apps stream; the Socket.IO mount takes whole messages.
                        if let (true, None, Route::App(route)) =
                            (ws.open, ws.session.end_code(), ws.route)
                        {
                            let data = ws.session.take_message();
                            self.with_app(net, route, id, |app, out| {
                                app.on_piece(out, id, kind, data.as_slice(), first, fin)
                            });
                            if let Some(Phase::Ws(ws)) =
                                self.conns.get_mut(&id).map(|c| &mut c.phase)
                            {
                                ws.session.restore_message(data);
                            }
                        }
                        self.check_ws_end(net, id, now);
                    }
                    Step::Idle => {
                        self.check_ws_end(net, id, now);
                        if let Some(Phase::Ws(ws)) = self.conns.get_mut(&id).map(|c| &mut c.phase) {
                            if ws.session.wants_tcp_close() {
                                self.start_tcp_close(net, id, now);
                            }
                        }
                        break;
                    }
                    Step::TcpEnded(error) => {
                        ws.session.tcp_ended();
                        self.check_ws_end(net, id, now);
                        if error == TcpEnd::Finished {
                            self.start_tcp_close(net, id, now);
                        } else {
                            self.forget(net, id);
                            return;
                        }
                        break;
                    }
                },
                Phase::Closing { .. } => {
                    // Read and drop whatever still arrives so the peer's FIN is not stuck
                    // behind a full window.
                    let mut sink = [0u8; 4096];
                    loop {
                        match net.recv(id, &mut sink) {
                            Ok(0) | Err(RecvError::Closed) => break,
                            Ok(_) => {}
                            Err(_) => {
                                self.forget(net, id);
                                return;
                            }
                        }
                    }
                    break;
                }
            }
        }
        self.reschedule(id);
    }

    /// Switches `id` to WebSocket on `route` after its 101 was queued.
    fn upgrade(
        &mut self,
        net: &mut Net,
        id: ConnId,
        route: Route,
        deflate: Option<ws::deflate::Agreement>,
        now: Instant,
    ) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let Phase::Http(http) =
            std::mem::replace(&mut conn.phase, Phase::Closing { deadline: now })
        else {
            return;
        };
        let limit = match route {
            Route::App(route) => self.apps[route].max_message(),
            Route::EngineIo(mount) => self.mounts.get(mount).map(|m| m.max_payload() as u64),
        };
        let max_message = limit.map_or(self.config.max_message, |m| m.min(self.config.max_message));
        let config = ws::Config {
            max_frame_size: max_message,
            max_message_size: max_message,
            auto_pong: true,
            keepalive: self.config.keepalive,
        };
        let mut session = http.into_session(ws::Connection::server(config, now));
        if let Some(agreement) = deflate {
            session.use_deflate(agreement);
        }
        if self.config.trace {
            session.trace_as(id);
        }
        if matches!(route, Route::App(route) if self.apps[route].streams()) {
            session.stream_pieces();
            // It answers as it reads: room for one whole message (see set_read_pause).
            session.set_read_pause(usize::try_from(max_message).unwrap_or(usize::MAX));
        }
        conn.phase = Phase::Ws(Box::new(WsConn {
            session,
            route,
            open: true,
            close_deadline: None,
        }));
        let peer = conn.peer;
        // Frames must not wait for the ACK of the previous one.
        if let Err(e) = net.set_nodelay(id, true) {
            log::debug!("connection {id}: set_nodelay: {e}");
        }
        log::info!("client {id} connected from {peer}");
        if let Route::App(route) = route {
            self.with_app(net, route, id, |app, out| app.on_open(out, id, peer));
        }
        if self.shutting_down {
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.close_ws(CloseCode::GOING_AWAY, "server shutting down");
            }
        }
    }

    /// If `id`'s WebSocket has just stopped being open, tells its app and logs it.
    fn check_ws_end(&mut self, net: &mut Net, id: ConnId, now: Instant) {
        let Some(Phase::Ws(ws)) = self.conns.get_mut(&id).map(|c| &mut c.phase) else {
            return;
        };
        let Some(code) = ws.session.end_code() else {
            return;
        };
        if !ws.open {
            return;
        }
        ws.open = false;
        ws.close_deadline = Some(now + self.config.close_timeout);
        let route = ws.route;
        log::info!("client {id} left ({code})");
        match route {
            Route::App(route) => {
                self.with_app(net, route, id, |app, out| app.on_close(out, id, code))
            }
            Route::EngineIo(mount) => self.mount_ws_ended(mount, id, code, now),
        }
    }

    /// Queues our FIN (after everything queued in the socket) and waits for the socket to go.
    fn start_tcp_close(&mut self, net: &mut Net, id: ConnId, now: Instant) {
        self.mount_conn_gone(id, now);
        if let Some(Phase::Ws(ws)) = self.conns.get_mut(&id).map(|c| &mut c.phase) {
            ws.session.tcp_ended();
            self.check_ws_end(net, id, now);
        }
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if !matches!(conn.phase, Phase::Closing { .. }) {
            conn.phase = Phase::Closing {
                deadline: now + self.config.close_timeout,
            };
            net.close(id);
        }
        self.reschedule(id);
    }

    /// Frees everything about `id` (its socket is gone or reset), and releases it in `net`: a
    /// reset socket with unread bytes stays in the connection table until the application
    /// reads them or releases it, so forgetting it only here would leak the socket.
    fn forget(&mut self, net: &mut Net, id: ConnId) {
        net.abort(id);
        // Any instant will do for an aborted poll: it closes its session at once.
        self.mount_conn_gone(id, Instant::from_micros(0));
        if let Some(Phase::Ws(ws)) = self.conns.get_mut(&id).map(|c| &mut c.phase) {
            ws.session.tcp_ended();
            // Any instant will do: the connection is removed right after.
            self.check_ws_end(net, id, Instant::from_micros(0));
        }
        if let Some(conn) = self.conns.remove(&id) {
            if let Some(at) = conn.timer {
                self.timers.remove(&(at, id));
            }
        }
    }

    /// Files `id` under its current deadline in the timer set.
    ///
    /// A deadline that only moved later (the keepalive, pushed back by every message) keeps
    /// the filed one: it fires early, [`Server::expire`] finds nothing due, and the service
    /// that follows files the new one. So a busy connection costs the timer set one removal
    /// and insertion per keepalive interval instead of per message.
    fn reschedule(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let next = conn.deadline();
        if next == conn.timer || conn.timer.zip(next).is_some_and(|(filed, at)| filed < at) {
            return;
        }
        if let Some(at) = conn.timer {
            self.timers.remove(&(at, id));
        }
        if let Some(at) = next {
            self.timers.insert((at, id));
        }
        conn.timer = next;
    }

    /// Calls the app of `route` with an [`Outbox`] over the connections.
    fn with_app(
        &mut self,
        net: &mut Net,
        route: usize,
        id: ConnId,
        f: impl FnOnce(&mut dyn App, &mut Outbox<'_>),
    ) {
        let mut out = Outbox {
            conns: &mut self.conns,
            net,
            queue_limit: self.config.queue_limit,
            current: Some(id),
        };
        f(self.apps[route].as_mut(), &mut out);
    }
}
