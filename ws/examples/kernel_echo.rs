//! Development harness: the `ws` engine as an echo server over kernel TCP (`std::net`).
//!
//! `cargo run -p ws --example kernel_echo -- 127.0.0.1:9001` — every WebSocket message goes back
//! to its sender unchanged, one thread per connection. `scripts/autobahn.sh --testee kernel` runs
//! wstest's fuzzingclient against it to test the engine without the userspace stack.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use common::{Clock, MAX_MESSAGE, Mode};
use ws::handshake::{self, EMPTY_HEADER, Status};
use ws::{Config, Connection};

/// Largest request head we read before answering 431.
const MAX_HEAD: usize = 8 * 1024;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr)?;
    println!("listening on {addr}");
    for (id, stream) in listener.incoming().enumerate() {
        let stream = stream?;
        std::thread::spawn(move || serve(id, stream));
    }
    Ok(())
}

fn serve(id: usize, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let clock = Clock::new();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let mut out = [0u8; 1024];
    // Read until the request head is complete, then answer 101 or an HTTP error.
    let pending = loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        head.extend_from_slice(&buf[..n]);
        let mut headers = [EMPTY_HEADER; 32];
        let answer = match handshake::parse_request(&head, &mut headers) {
            Ok(Status::Partial) if head.len() <= MAX_HEAD => continue,
            Ok(Status::Partial) => Err(handshake::HttpStatus::RequestHeaderFieldsTooLarge),
            Ok(Status::Complete(request)) => match handshake::validate_upgrade(&request) {
                Ok(upgrade) => handshake::write_accept_response(upgrade.key(), None, &mut out)
                    .map(|n| (n, request.head_len()))
                    .map_err(|_| handshake::HttpStatus::BadRequest),
                Err(e) => Err(e.status()),
            },
            Err(e) => Err(e.status()),
        };
        match answer {
            Ok((n, head_len)) => {
                if stream.write_all(&out[..n]).is_err() {
                    return;
                }
                break head.split_off(head_len);
            }
            Err(status) => {
                eprintln!("connection {id}: handshake rejected with {}", status.code());
                if let Ok(n) = handshake::write_error_response(status, &mut out) {
                    let _ = stream.write_all(&out[..n]);
                }
                return;
            }
        }
    };
    let config = Config {
        max_message_size: MAX_MESSAGE,
        max_frame_size: MAX_MESSAGE,
        ..Config::default()
    };
    let mut conn = Connection::server(config, clock.now());
    match common::run(&mut conn, &mut stream, &clock, pending, Mode::Echo) {
        Ok(outcome) => eprintln!("connection {id}: {outcome}"),
        Err(e) => eprintln!("connection {id}: I/O error {e}"),
    }
}
