//! The bench tools against each other on loopback (no root, no namespaces): every peer echoes
//! what loadgen sends, byte for byte, in echo and connect modes, and tcpbulk moves bytes both
//! ways. `cargo test -p bench` (the package is not a default member).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A server child killed on drop, so a failing assertion does not leak it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `exe args`, waits for its "listening on ADDR" line and returns ADDR.
fn start(exe: &str, args: &[&str]) -> (Server, String) {
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read listening line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (Server(child), addr.to_string())
}

/// Runs a measuring tool and returns its JSON line, asserting it succeeded.
fn run(exe: &str, args: &[&str]) -> String {
    let out = Command::new(exe).args(args).output().expect("run tool");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{exe} {args:?} failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The value of a numeric field in a flat JSON line.
fn field(json: &str, name: &str) -> f64 {
    let key = format!("\"{name}\":");
    let start = json
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {json}"))
        + key.len();
    let end = json[start..]
        .find([',', '}'])
        .map_or(json.len(), |i| start + i);
    json[start..end]
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number in {json}"))
}

fn check_peer(exe: &str) {
    let (_server, addr) = start(exe, &["--listen", "127.0.0.1:0"]);
    let loadgen = env!("CARGO_BIN_EXE_loadgen");
    for (mode, c, s) in [
        ("echo", "4", "32"),
        ("echo", "2", "70000"),
        ("connect", "2", "32"),
    ] {
        let json = run(
            loadgen,
            &[
                "--server",
                &addr,
                "--mode",
                mode,
                "-c",
                c,
                "-s",
                s,
                "--duration",
                "0.3",
                "--warmup",
                "0.05",
            ],
        );
        assert!(
            field(&json, "msgs") > 0.0,
            "{exe} {mode}: nothing echoed: {json}"
        );
        assert_eq!(field(&json, "mismatches"), 0.0, "{json}");
        assert_eq!(field(&json, "errors"), 0.0, "{json}");
        assert!(field(&json, "p50_us") > 0.0, "{json}");
    }
}

#[test]
fn loadgen_against_tungstenite_peer() {
    check_peer(env!("CARGO_BIN_EXE_peer-tungstenite"));
}

#[test]
fn loadgen_against_fastwebsockets_peer() {
    check_peer(env!("CARGO_BIN_EXE_peer-fastwebsockets"));
}

#[test]
fn loadgen_reports_idle_connections_and_server_memory() {
    let (server, addr) = start(
        env!("CARGO_BIN_EXE_peer-fastwebsockets"),
        &["--listen", "127.0.0.1:0"],
    );
    let pid = server.0.id().to_string();
    let json = run(
        env!("CARGO_BIN_EXE_loadgen"),
        &[
            "--server",
            &addr,
            "--idle",
            "50",
            "--server-pid",
            &pid,
            "--duration",
            "0.2",
            "--warmup",
            "0.05",
        ],
    );
    assert_eq!(field(&json, "idle"), 50.0);
    assert!(field(&json, "server_rss_kib") > 0.0, "{json}");
    assert!(field(&json, "server_cpu_s") >= 0.0, "{json}");
}

#[test]
fn tcpbulk_moves_bytes_both_ways() {
    let tcpbulk = env!("CARGO_BIN_EXE_tcpbulk");
    let (_server, addr) = start(tcpbulk, &["serve", "--listen", "127.0.0.1:0"]);
    for dir in ["send", "recv"] {
        let json = run(tcpbulk, &[dir, "--connect", &addr, "--duration", "0.2"]);
        assert!(field(&json, "bytes") > 1e6, "{dir}: {json}");
    }
}

/// A WebSocket server that corrupts one byte of every echo: loadgen must notice and fail.
#[test]
fn loadgen_fails_on_a_corrupted_echo() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).expect("request");
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head).to_string();
        let key = text
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .expect("key header")
            .trim()
            .to_string();
        let reply = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            bench::handshake::accept_key(key.as_bytes())
        );
        s.write_all(reply.as_bytes()).expect("101");
        // One masked 32-byte client frame: 2 header bytes, 4 key bytes, payload.
        let mut frame = [0u8; 2 + 4 + 32];
        s.read_exact(&mut frame).expect("frame");
        let key: [u8; 4] = frame[2..6].try_into().expect("4 bytes");
        let mut payload: Vec<u8> = frame[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        payload[31] ^= 1;
        let mut out = vec![0x82, 32];
        out.extend_from_slice(&payload);
        s.write_all(&out).expect("echo");
        std::thread::sleep(std::time::Duration::from_millis(500));
    });
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "--server",
            &addr,
            "-s",
            "32",
            "--duration",
            "0.2",
            "--warmup",
            "0",
        ])
        .output()
        .expect("run loadgen");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        field(&String::from_utf8_lossy(&out.stdout), "mismatches"),
        1.0
    );
}
