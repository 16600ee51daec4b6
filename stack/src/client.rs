//! The client role: connect through the stack, send the opening handshake, then run a
//! WebSocket with masked frames. [`run`] drives it on [`crate::runner`]'s loop.
//!
//! ```text
//!   connect ──▶ TcpConnecting ──(ESTABLISHED)──▶ Handshake ──(101 valid)──▶ Open ──▶ Done(code)
//!                     │ refused / timeout             │ other answer / timeout      │
//!                     └───────────────▶ error ◀───────┘                  close handshake, FIN
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::os::fd::RawFd;
use std::sync::atomic::AtomicBool;

use ws::handshake::{self, ClientRequest, EMPTY_HEADER, Status};
use ws::{CloseCode, Connection, Duration, Instant, MaskKeySource, MessageKind, Role};

use crate::clock::{delay_until, ws_instant};
use crate::entropy::{ChaCha20, os_random};
use crate::runner::{self, Driver};
use crate::session::{Session, Step};
use crate::{Clock, ConnId, ConnectError, HANDSHAKE_TIMEOUT, Net, RecvError, SendError};

/// After the input (stdin) ended, the client closes once the server has sent nothing for this
/// long, so replies to the last lines still arrive (a peer may drop messages that cross our
/// Close frame).
const INPUT_LINGER: Duration = Duration::from_secs(1);

/// After the close handshake, time for the server to close TCP before we do (RFC 6455 §7.1.1
/// lets the server go first).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest response head read (RFC 6455 answers are a few hundred bytes).
const MAX_RESPONSE_HEAD: usize = 8 * 1024;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server's address (an IP literal: the stack has no DNS).
    pub remote: SocketAddr,
    /// The `Host` header, as written in the URL (`10.0.0.1:9001`).
    pub host: String,
    /// The request target (`/chat`, may hold a query).
    pub path: String,
    /// An `Origin` header to send, if any.
    pub origin: Option<String>,
    /// Largest message (and frame) accepted; bigger ones fail the connection with 1009.
    pub max_message: u64,
    /// Log the handshake and one line per WebSocket frame (`--trace`).
    pub trace: bool,
}

/// Why the client did not get a WebSocket, or lost it abnormally.
#[derive(Debug)]
pub enum ClientError {
    /// The TCP connection was refused (RST) or timed out before it was established.
    Refused,
    /// The TCP connection could not be opened.
    Connect(ConnectError),
    /// The TCP connection broke while the request was sent.
    Send(SendError),
    /// The TCP connection broke while the response was read.
    Recv(RecvError),
    /// The server's answer to the opening handshake was not a valid 101.
    Handshake(handshake::ResponseError),
    /// The request could not be written (invalid host or path).
    Request(handshake::ClientRequestError),
    /// No complete handshake within the timeout.
    Timeout,
    /// Stopped (SIGINT/SIGTERM) before the WebSocket was open.
    Interrupted,
    /// The operating system (TUN, random numbers, stdin).
    Io(io::Error),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Refused => f.write_str("TCP connection refused or timed out"),
            ClientError::Connect(e) => write!(f, "TCP connect: {e}"),
            ClientError::Send(e) => write!(f, "TCP send: {e}"),
            ClientError::Recv(e) => write!(f, "TCP receive: {e}"),
            ClientError::Handshake(handshake::ResponseError::Rejected(code)) => {
                write!(f, "handshake refused by the server: HTTP {code}")
            }
            ClientError::Handshake(e) => write!(f, "invalid handshake response: {e:?}"),
            ClientError::Request(e) => write!(f, "cannot write the request: {e:?}"),
            ClientError::Timeout => write!(
                f,
                "no WebSocket handshake within {} s",
                HANDSHAKE_TIMEOUT.as_millis() / 1000
            ),
            ClientError::Interrupted => f.write_str("interrupted before the WebSocket opened"),
            ClientError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// What the application on the client side sees.
pub trait ClientApp {
    /// The WebSocket is open.
    fn on_open(&mut self, _out: &mut Sender<'_>) {}
    /// A whole message arrived.
    fn on_message(&mut self, out: &mut Sender<'_>, kind: MessageKind, data: &[u8]);
    /// The extra fd given to [`run`] is readable (for example stdin). Return `Ok(false)` at
    /// end of input to stop watching it.
    fn on_input(&mut self, _out: &mut Sender<'_>) -> io::Result<bool> {
        Ok(false)
    }
}

/// Sends on the client's WebSocket from inside a [`ClientApp`] callback.
pub struct Sender<'a> {
    session: &'a mut Session<OsMaskKeys>,
}

impl Sender<'_> {
    /// Queues a whole message (masked). Fails once a close frame was queued.
    pub fn send(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), ws::SendError> {
        self.session.send(kind, data)
    }

    /// Starts the close handshake.
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        self.session.close(code, reason);
    }
}

/// Masking keys from ChaCha20 keyed by the operating system (RFC 6455 §5.3 and §10.3: an
/// intermediary must not be able to predict the next key from the ones it has seen on the
/// wire; a cryptographic generator meets that, a fast PRNG such as xorshift does not).
pub struct OsMaskKeys {
    rng: ChaCha20,
}

impl OsMaskKeys {
    /// Keys the generator from the operating system's random source.
    pub fn new() -> io::Result<Self> {
        Ok(OsMaskKeys {
            rng: ChaCha20::from_os()?,
        })
    }
}

impl MaskKeySource for OsMaskKeys {
    fn next_key(&mut self) -> [u8; 4] {
        let mut key = [0u8; 4];
        self.rng.fill(&mut key);
        key
    }
}

/// The client connection's phase.
enum Phase {
    /// Waiting for the TCP handshake, then for the 101: `request` is sent once established,
    /// `response` collects the answer's head.
    Handshake {
        nonce: [u8; 16],
        request: Vec<u8>,
        sent: usize,
        response: Vec<u8>,
        deadline: Instant,
    },
    /// The WebSocket.
    Open {
        session: Box<Session<OsMaskKeys>>,
        close_deadline: Option<Instant>,
    },
}

/// A WebSocket client connection over the stack.
pub struct Client {
    id: ConnId,
    config: ClientConfig,
    phase: Phase,
    /// When the last message arrived (or the WebSocket opened): [`run`] closes only after the
    /// server has been quiet for a while once the input ended.
    last_message: Instant,
}

impl Client {
    /// Starts connecting (SYN) and prepares the opening handshake with a fresh random nonce.
    pub fn connect(
        net: &mut Net,
        config: ClientConfig,
        now: crate::Instant,
    ) -> Result<Client, ClientError> {
        let now = ws_instant(now);
        let nonce = os_random::<16>()?;
        let mut request = vec![0u8; 1024 + config.host.len() + config.path.len()];
        let n = handshake::write_client_request(
            &ClientRequest {
                host: &config.host,
                path: &config.path,
                origin: config.origin.as_deref(),
                protocols: &[],
            },
            nonce,
            &mut request,
        )
        .map_err(ClientError::Request)?;
        request.truncate(n);
        let id = net.connect(config.remote).map_err(ClientError::Connect)?;
        let deadline = now + HANDSHAKE_TIMEOUT;
        Ok(Client {
            id,
            config,
            last_message: now,
            phase: Phase::Handshake {
                nonce,
                request,
                sent: 0,
                response: Vec::new(),
                deadline,
            },
        })
    }

    /// The stack's id of the TCP connection.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// How long until [`Client::handle`] must run again without I/O.
    pub fn poll_delay(&self, now: crate::Instant) -> Option<crate::Duration> {
        self.poll_timeout().map(|t| delay_until(t, ws_instant(now)))
    }

    /// Whether the WebSocket is open (handshake done); it stays true while closing.
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open { .. })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Handshake { deadline, .. } => Some(*deadline),
            Phase::Open {
                session,
                close_deadline,
            } => match (session.poll_timeout(), close_deadline) {
                (Some(a), Some(b)) => Some(a.min(*b)),
                (a, b) => a.or(*b),
            },
        }
    }

    /// Queues a whole message (masked); `Err(Closed)` before the WebSocket is open or once a
    /// close frame was queued.
    pub fn send(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), ws::SendError> {
        match &mut self.phase {
            Phase::Open { session, .. } => session.send(kind, data),
            Phase::Handshake { .. } => Err(ws::SendError::Closed),
        }
    }

    /// Starts the close handshake (no effect before the WebSocket is open or once closing).
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        if let Phase::Open { session, .. } = &mut self.phase {
            session.close(code, reason);
        }
    }

    /// Moves the connection forward. Returns `Ok(Some(code))` once the WebSocket is over
    /// (TCP closed): the code of the closing handshake (the first Close frame's, ours or the
    /// server's), or 1006 when the connection ended before the handshake was complete.
    pub fn handle(
        &mut self,
        net: &mut Net,
        now: crate::Instant,
        app: &mut dyn ClientApp,
    ) -> Result<Option<CloseCode>, ClientError> {
        let now = ws_instant(now);
        if let Phase::Handshake { .. } = self.phase {
            if !self.handshake(net, now)? {
                return Ok(None);
            }
            if let Phase::Open { session, .. } = &mut self.phase {
                app.on_open(&mut Sender { session });
            }
        }
        let Phase::Open {
            session,
            close_deadline,
        } = &mut self.phase
        else {
            return Ok(None);
        };
        if close_deadline.is_some_and(|d| d <= now) {
            // The server did not close TCP after the close handshake: we do (RFC 6455 §7.1.1).
            net.close(self.id);
            return Ok(Some(session.final_code()));
        }
        if session.poll_timeout().is_some_and(|t| t <= now) {
            session.handle_timeout(now);
        }
        loop {
            match session.step(net, self.id, now) {
                Step::Message(kind) => {
                    // Delivered even after our own Close: the server may still send messages
                    // until its Close arrives (RFC 6455 §5.5.1), e.g. after stdin ended.
                    self.last_message = now;
                    let data = session.take_message();
                    app.on_message(&mut Sender { session }, kind, data.as_slice());
                    session.restore_message(data);
                }
                // The client session never streams.
                Step::Idle | Step::Piece { .. } => break,
                Step::TcpEnded(_) => {
                    net.close(self.id);
                    return Ok(Some(session.final_code()));
                }
            }
        }
        if session.wants_tcp_close() {
            // After a failure the client closes TCP itself.
            net.close(self.id);
            return Ok(Some(session.final_code()));
        }
        if session.end_code().is_some() && close_deadline.is_none() {
            *close_deadline = Some(now + CLOSE_TIMEOUT);
        }
        Ok(None)
    }

    /// Runs the opening handshake; true once the WebSocket is open.
    fn handshake(&mut self, net: &mut Net, now: Instant) -> Result<bool, ClientError> {
        let Phase::Handshake {
            nonce,
            request,
            sent,
            response,
            deadline,
        } = &mut self.phase
        else {
            return Ok(true);
        };
        if now >= *deadline {
            return Err(ClientError::Timeout);
        }
        if !net.is_established(self.id) {
            // A refused connect (RST) shows up as a reset socket.
            return match net.recv(self.id, &mut []) {
                Err(RecvError::Reset | RecvError::Unknown) => Err(ClientError::Refused),
                _ => Ok(false),
            };
        }
        while *sent < request.len() {
            let n = net
                .send(self.id, &request[*sent..])
                .map_err(ClientError::Send)?;
            if n == 0 {
                return Ok(false);
            }
            *sent += n;
        }
        let mut chunk = [0u8; 4096];
        loop {
            let room = (MAX_RESPONSE_HEAD + 1)
                .saturating_sub(response.len())
                .min(chunk.len());
            let n = net
                .recv(self.id, &mut chunk[..room])
                .map_err(ClientError::Recv)?;
            response.extend_from_slice(&chunk[..n]);
            let mut headers = [EMPTY_HEADER; 64];
            match handshake::parse_response(response, &mut headers, *nonce, &[]) {
                Ok(Status::Complete(accepted)) => {
                    let head_len = accepted.head_len();
                    let config = ws::Config {
                        max_frame_size: self.config.max_message,
                        max_message_size: self.config.max_message,
                        auto_pong: true,
                        keepalive: None,
                    };
                    let conn = Connection::new(Role::Client, config, OsMaskKeys::new()?, now);
                    let mut session = Session::new(conn, &response[head_len..], Default::default());
                    // The app may answer as it reads (--echo): room for one whole message.
                    session.set_read_pause(
                        usize::try_from(self.config.max_message).unwrap_or(usize::MAX),
                    );
                    if self.config.trace {
                        session.trace_as(self.id);
                        let status_line =
                            response.split(|&b| b == b'\r').next().unwrap_or_default();
                        log::info!(
                            "conn {} http {:?} -> WebSocket",
                            self.id,
                            String::from_utf8_lossy(status_line)
                        );
                    }
                    // Frames must not wait for the ACK of the previous one.
                    let _ = net.set_nodelay(self.id, true);
                    log::info!(
                        "connected to ws://{}{} from {:?}",
                        self.config.host,
                        self.config.path,
                        net.conn_local_addr(self.id)
                    );
                    self.phase = Phase::Open {
                        session: Box::new(session),
                        close_deadline: None,
                    };
                    return Ok(true);
                }
                Ok(Status::Partial) if n == 0 => return Ok(false),
                Ok(Status::Partial) => {}
                Err(e) => return Err(ClientError::Handshake(e)),
            }
        }
    }
}

/// Connects, runs `app` until the WebSocket is over, and returns its close code. `input` is an
/// extra fd to wait on while the WebSocket is open (stdin); `app.on_input` runs when it is
/// readable, until it reports the end of input; once the server has then been silent for a
/// second, the connection is closed with 1000. When `stop` is set, it is closed with 1001.
/// The loop is [`runner::run`]'s.
pub fn run(
    net: &mut Net,
    config: ClientConfig,
    app: &mut dyn ClientApp,
    input: Option<RawFd>,
    stop: &AtomicBool,
) -> Result<CloseCode, ClientError> {
    let clock = Clock::new();
    net.poll(clock.now());
    let client = Client::connect(net, config, clock.now())?;
    let mut driver = Running {
        client,
        app,
        input,
        input_ended: None,
        closed_after_input: false,
    };
    runner::run(net, &clock, &mut driver, stop)?
}

/// The client role as the runner's [`Driver`].
struct Running<'a> {
    client: Client,
    app: &'a mut dyn ClientApp,
    /// The fd `app.on_input` reads, until its input ends.
    input: Option<RawFd>,
    /// When the input ended.
    input_ended: Option<Instant>,
    /// The close that follows the end of input was sent.
    closed_after_input: bool,
}

impl Running<'_> {
    /// When the close that follows the end of input is due, if it is still to come.
    fn linger_deadline(&self) -> Option<Instant> {
        let ended = self.input_ended.filter(|_| !self.closed_after_input)?;
        Some(ended.max(self.client.last_message) + INPUT_LINGER)
    }
}

impl Driver for Running<'_> {
    type Output = Result<CloseCode, ClientError>;

    fn handle(&mut self, net: &mut Net, now: crate::Instant) -> ControlFlow<Self::Output> {
        // One connection, serviced every turn: the stack's news lists only need emptying.
        while net.poll_gone().is_some() {}
        while net.poll_ready().is_some() {}
        // Before `handle`, which sends the close frame this queues.
        if self.linger_deadline().is_some_and(|d| ws_instant(now) >= d) {
            self.client.close(CloseCode::NORMAL, "");
            self.closed_after_input = true;
        }
        match self.client.handle(net, now, self.app) {
            Ok(Some(code)) => ControlFlow::Break(Ok(code)),
            Ok(None) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(Err(e)),
        }
    }

    fn poll_delay(&self, now: crate::Instant) -> Option<crate::Duration> {
        let linger = self
            .linger_deadline()
            .map(|deadline| delay_until(deadline, ws_instant(now)));
        [self.client.poll_delay(now), linger]
            .into_iter()
            .flatten()
            .min()
    }

    fn stop(&mut self, net: &mut Net, _now: crate::Instant) -> ControlFlow<Self::Output> {
        if !self.client.is_open() {
            net.abort(self.client.id());
            return ControlFlow::Break(Err(ClientError::Interrupted));
        }
        self.client.close(CloseCode::GOING_AWAY, "client stopping");
        ControlFlow::Continue(())
    }

    fn input(&self) -> Option<RawFd> {
        self.input.filter(|_| self.client.is_open())
    }

    fn handle_input(&mut self, _net: &mut Net, now: crate::Instant) -> ControlFlow<Self::Output> {
        if let Phase::Open { session, .. } = &mut self.client.phase {
            match self.app.on_input(&mut Sender { session }) {
                Ok(true) => {}
                Ok(false) => {
                    self.input = None;
                    self.input_ended = Some(ws_instant(now));
                }
                Err(e) => return ControlFlow::Break(Err(e.into())),
            }
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keys_come_from_the_os_seed_and_vary() {
        let mut a = OsMaskKeys::new().unwrap();
        let mut b = OsMaskKeys::new().unwrap();
        let keys_a: Vec<[u8; 4]> = (0..64).map(|_| a.next_key()).collect();
        let keys_b: Vec<[u8; 4]> = (0..64).map(|_| b.next_key()).collect();
        // Two OS keys give different streams, and a stream does not repeat.
        assert_ne!(keys_a, keys_b);
        let distinct: std::collections::HashSet<_> = keys_a.iter().collect();
        assert!(
            distinct.len() > 60,
            "{} distinct keys of 64",
            distinct.len()
        );
    }
}
