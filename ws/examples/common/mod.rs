//! Shared by the kernel-TCP development harnesses (`kernel_echo`, `kernel_client`): drives one
//! `ws::Connection` over a blocking `std::net::TcpStream`.
//!
//! The harnesses exist so that `scripts/autobahn.sh --testee kernel` can run wstest against the
//! engine alone: a verdict that differs between `--testee kernel` and the userspace stack points
//! at the stack, one that is the same points at the engine.

// Each harness uses its part of this module.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Instant as StdInstant;

use ws::{Connection, Event, MessageKind, State};

/// Autobahn's largest messages are 16 MiB (group 9).
pub const MAX_MESSAGE: u64 = 16 * 1024 * 1024 + 64 * 1024;

/// Bytes read from the socket per call; frames larger than this arrive as several chunks.
const READ_CHUNK: usize = 64 * 1024;

/// How long a client waits for the server's TCP close after the closing handshake.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// What to do with each complete message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Send it back unchanged (type and bytes).
    Echo,
    /// Print text messages as lines on stdout (how a caller reads `/getCaseCount`).
    Print,
}

/// The engine's clock: microseconds since the harness started.
pub struct Clock(StdInstant);

impl Clock {
    pub fn new() -> Self {
        Clock(StdInstant::now())
    }

    pub fn now(&self) -> ws::Instant {
        ws::Instant::from_micros(self.0.elapsed().as_micros() as u64)
    }
}

/// Reads from `/dev/urandom` (nonce and masking keys for the client role).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut out))
        .expect("/dev/urandom is readable");
    out
}

/// Runs the connection until the TCP connection ends. `pending` holds bytes that arrived with
/// the handshake head. Returns how the WebSocket ended, for the log line.
pub fn run<M: ws::MaskKeySource>(
    conn: &mut Connection<M>,
    stream: &mut TcpStream,
    clock: &Clock,
    mut pending: Vec<u8>,
    mode: Mode,
) -> io::Result<String> {
    let mut input = vec![0u8; READ_CHUNK];
    let mut filled = pending.len().min(READ_CHUNK);
    input[..filled].copy_from_slice(&pending[..filled]);
    pending.drain(..filled);
    let mut message: Vec<u8> = Vec::new();
    let mut kind = MessageKind::Text;
    let mut outcome = String::from("TCP closed by peer");
    let mut out = Vec::new();
    let mut control = [0u8; ws::MAX_CONTROL_FRAME_LEN];

    loop {
        // Feed everything we have; the engine consumes whole frames' headers and payload chunks.
        let mut start = 0;
        loop {
            let (used, event) = conn.handle_read(&mut input[start..filled], clock.now());
            start += used;
            let Some(event) = event else {
                if used == 0 {
                    break;
                }
                continue;
            };
            match event {
                Event::Data {
                    kind: k,
                    payload,
                    first,
                    fin,
                } => {
                    if first {
                        message.clear();
                        kind = k;
                    }
                    message.extend_from_slice(payload);
                    if fin {
                        deliver(conn, stream, mode, kind, &message, &mut out)?;
                    }
                }
                Event::Ping(_) | Event::Pong(_) => {}
                Event::Close { code, reason } => {
                    outcome = format!("close from peer: {code:?} {reason:?}");
                }
                Event::Failed(error) => {
                    outcome = format!(
                        "we failed the connection: {error} ({:?})",
                        error.close_code()
                    );
                }
                Event::TimedOut => outcome = "keepalive timed out".to_string(),
            }
            flush_control(conn, stream, &mut control)?;
        }
        input.copy_within(start..filled, 0);
        filled -= start;
        flush_control(conn, stream, &mut control)?;

        if conn.wants_tcp_close() {
            // Server: the close handshake is done (or we failed it): we close TCP first (§7.1.1).
            let _ = stream.shutdown(Shutdown::Write);
            drain_until_eof(stream);
            return Ok(outcome);
        }

        // Leftover bytes from the handshake read go in before reading the socket again.
        if !pending.is_empty() {
            let n = pending.len().min(READ_CHUNK - filled);
            input[filled..filled + n].copy_from_slice(&pending[..n]);
            pending.drain(..n);
            filled += n;
            continue;
        }

        // The engine's timer (keepalive), or ours: a client whose closing handshake is done
        // waits this long for the server to close TCP (§7.1.1) before closing it itself.
        let timeout = match conn.poll_timeout() {
            Some(at) => Some(std::time::Duration::from_micros(
                at.saturating_duration_since(clock.now())
                    .as_micros()
                    .max(1000),
            )),
            None if conn.state() == State::Closed => Some(CLOSE_GRACE),
            None => None,
        };
        stream.set_read_timeout(timeout)?;
        match stream.read(&mut input[filled..]) {
            Ok(0) => {
                if conn.state() == State::Closed {
                    return Ok(outcome);
                }
                return Ok(format!("{outcome}; TCP closed in state {:?}", conn.state()));
            }
            Ok(n) => filled += n,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                if let Some(Event::TimedOut) = conn.handle_timeout(clock.now()) {
                    outcome = "keepalive timed out".to_string();
                }
                flush_control(conn, stream, &mut control)?;
                if conn.state() == State::Closed && !conn.wants_tcp_close() {
                    // Client: the server did not close TCP in time after the close handshake.
                    let _ = stream.shutdown(Shutdown::Both);
                    return Ok(format!("{outcome}; closed TCP after timeout"));
                }
            }
            // wstest's fuzzingserver aborts TCP (RST) once it has our Close reply: after a
            // completed closing handshake that is an ending, not an error.
            Err(e)
                if e.kind() == io::ErrorKind::ConnectionReset && conn.state() == State::Closed =>
            {
                return Ok(format!(
                    "{outcome}; TCP reset by peer after the closing handshake"
                ));
            }
            Err(e) => return Err(e),
        }
    }
}

fn deliver<M: ws::MaskKeySource>(
    conn: &mut Connection<M>,
    stream: &mut TcpStream,
    mode: Mode,
    kind: MessageKind,
    message: &[u8],
    out: &mut Vec<u8>,
) -> io::Result<()> {
    match mode {
        Mode::Echo => {
            out.resize(message.len() + ws::MAX_HEADER_LEN, 0);
            match conn.send(kind, message, out) {
                Ok(n) => stream.write_all(&out[..n]),
                // Closing: the peer sent close (or we failed); nothing more may be sent.
                Err(e) => {
                    eprintln!("echo not sent: {e:?}");
                    Ok(())
                }
            }
        }
        Mode::Print => {
            if kind == MessageKind::Text {
                println!("{}", String::from_utf8_lossy(message));
            }
            Ok(())
        }
    }
}

fn flush_control<M: ws::MaskKeySource>(
    conn: &mut Connection<M>,
    stream: &mut TcpStream,
    control: &mut [u8],
) -> io::Result<()> {
    while conn.wants_transmit() {
        let n = conn.poll_transmit(control);
        if n == 0 {
            break;
        }
        stream.write_all(&control[..n])?;
    }
    Ok(())
}

fn drain_until_eof(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let mut sink = [0u8; 4096];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}
