//! Development harness: the `ws` engine as a client over kernel TCP (`std::net`).
//!
//! `kernel_client [--echo] ws://IP:PORT/PATH` — the same command-line shape as `tunws client`:
//! prints received text messages as lines, or with `--echo` sends every message back.
//! `scripts/autobahn.sh --testee kernel` drives wstest's fuzzingserver with it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;

use common::{Clock, MAX_MESSAGE, Mode};
use ws::handshake::{self, ClientRequest, EMPTY_HEADER, Status};
use ws::{Config, Connection, MaskKeySource, Role};

/// Masking keys from a xorshift generator seeded from /dev/urandom: unpredictable enough for
/// a test harness (RFC 6455 §10.3 wants them unpredictable to intermediaries).
struct Keys(u64);

impl MaskKeySource for Keys {
    fn next_key(&mut self) -> [u8; 4] {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 as u32).to_le_bytes()
    }
}

fn main() -> ExitCode {
    let mut mode = Mode::Print;
    let mut url = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--echo" => mode = Mode::Echo,
            _ => url = Some(arg),
        }
    }
    let Some(url) = url else {
        eprintln!("usage: kernel_client [--echo] ws://IP:PORT/PATH");
        return ExitCode::from(2);
    };
    match connect(&url, mode) {
        Ok(outcome) => {
            eprintln!("{outcome}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kernel_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn connect(url: &str, mode: Mode) -> Result<String, String> {
    let rest = url.strip_prefix("ws://").ok_or("only ws:// URLs")?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(host).map_err(|e| format!("connect {host}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let clock = Clock::new();

    let nonce: [u8; 16] = common::random_bytes();
    let mut out = [0u8; 2048];
    let request = ClientRequest {
        host,
        path,
        origin: None,
        protocols: &[],
    };
    let n =
        handshake::write_client_request(&request, nonce, &mut out).map_err(|e| format!("{e:?}"))?;
    stream.write_all(&out[..n]).map_err(|e| e.to_string())?;

    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let head_len = loop {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed during the handshake".into());
        }
        head.extend_from_slice(&buf[..n]);
        let mut headers = [EMPTY_HEADER; 32];
        match handshake::parse_response(&head, &mut headers, nonce, &[]) {
            Ok(Status::Complete(accepted)) => break accepted.head_len(),
            Ok(Status::Partial) => continue,
            Err(e) => return Err(format!("handshake refused: {e:?}")),
        }
    };
    let pending = head.split_off(head_len);

    let seed = u64::from_le_bytes(common::random_bytes()) | 1;
    let config = Config {
        max_message_size: MAX_MESSAGE,
        max_frame_size: MAX_MESSAGE,
        ..Config::default()
    };
    let mut conn = Connection::new(Role::Client, config, Keys(seed), clock.now());
    common::run(&mut conn, &mut stream, &clock, pending, mode).map_err(|e| e.to_string())
}
