//! Packet loss at 1 %, 5 % and 10 % in both directions (nftables `numgen random` on the
//! interfaces inside the namespace; netem is not in the test kernels): a WebSocket echo of a
//! large binary and a large text message through tunws, and a raw TCP echo through the stack's
//! `tcp_echo` example, arrive byte-exact (SHA-1 of what came back equals SHA-1 of what was sent).
//!
//! Each test first runs every transfer without loss, then with loss, and prints both times next
//! to the same transfer between two kernels over a veth pair under the same rule, so the cost of
//! smoltcp's recovery (minimum RTO 1 s, no congestion control) is visible against the kernel's
//! (SACK, fast retransmit, 200 ms minimum RTO). The figures go to `target/battery/loss-N.json`.
//!
//! tunws and `tcp_echo` run with offload (the default): one nftables verdict on their TUN covers
//! a whole TCP super-packet (up to 64 KiB), while the veth is held to MTU-sized packets, so the
//! comparison is per packet on each side, not per segment.
//!
//! Sizes are chosen so 10 % loss still finishes in well under a minute on a loaded 2-core
//! machine: every lost segment that fast retransmit does not recover costs smoltcp a full RTO.

use netns_tests::tungstenite::Message;
use netns_tests::{
    IO_TIMEOUT, Netns, Proc, Tunws, ip, pattern_bytes, pattern_text, read_data, require_root,
    save_figures, veth_pair, ws_connect,
};
use sha1::{Digest, Sha1};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// Bytes of each WebSocket message and of each raw TCP transfer.
const PAYLOAD: usize = 1 << 20;

/// Longest any single transfer may take under loss before the test fails: a stall (lost
/// retransmission that is never repeated) must fail the test, not hang it.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

/// The stack's raw TCP echo server (`stack/examples/tcp_echo.rs`) on a second TUN device.
const TCP_ECHO: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 1, 2)),
    7,
);

/// A kernel TCP echo server in a peer namespace, at the other end of a veth pair.
const KERNEL_ECHO: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 9, 0, 2)),
    7,
);

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn one_percent_loss_loses_nothing() {
    loss_battery(1);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn five_percent_loss_loses_nothing() {
    loss_battery(5);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn ten_percent_loss_loses_nothing() {
    loss_battery(10);
}

/// One transfer's name and its time without and with loss.
struct Row {
    what: &'static str,
    clean: Duration,
    lossy: Duration,
}

fn loss_battery(percent: u32) {
    require_root!();
    let ns = Netns::new(&format!("loss{percent}"));
    add_tun(&ns, "tun1", "10.0.1.1/24");
    let _tunws = Tunws::start(&ns, &[]);
    let _tcp_echo = start_tcp_echo(&ns);
    let peer = Netns::new(&format!("kpeer{percent}"));
    veth_pair(&ns, &peer, 1500);
    start_kernel_echo(&peer);

    let clean = measure_all(&ns);
    for iface in ["tun0", "tun1", "twa"] {
        ns.add_loss_on(iface, percent);
    }
    let lossy = measure_all(&ns);
    let dropped = ns.dropped_packets();
    assert!(
        dropped > 0,
        "nftables dropped no packet at {percent} %: the loss rules do not match"
    );

    let rows: Vec<Row> = clean
        .into_iter()
        .zip(lossy)
        .map(|((what, clean), (_, lossy))| Row { what, clean, lossy })
        .collect();
    println!(
        "\n{percent} % loss each way, {PAYLOAD} bytes each way per transfer, {dropped} packets dropped"
    );
    println!(
        "{:<34} {:>10} {:>10} {:>8}",
        "transfer", "no loss", "loss", "ratio"
    );
    for row in &rows {
        println!(
            "{:<34} {:>9.3}s {:>9.3}s {:>7.1}x",
            row.what,
            row.clean.as_secs_f64(),
            row.lossy.as_secs_f64(),
            row.lossy.as_secs_f64() / row.clean.as_secs_f64().max(1e-6)
        );
    }
    let entries: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "    {{\"transfer\": \"{}\", \"no_loss_s\": {:.4}, \"loss_s\": {:.4}}}",
                r.what,
                r.clean.as_secs_f64(),
                r.lossy.as_secs_f64()
            )
        })
        .collect();
    let json = format!(
        "{{\n  \"loss_percent_each_way\": {percent},\n  \"bytes_each_way\": {PAYLOAD},\n  \"packets_dropped\": {dropped},\n  \"byte_exact\": true,\n  \"transfers\": [\n{}\n  ]\n}}\n",
        entries.join(",\n")
    );
    let path = save_figures(&format!("loss-{percent}"), &json);
    println!("figures saved to {}", path.display());
}

/// Runs every transfer once and returns its time; each one checks its digest.
fn measure_all(ns: &Netns) -> Vec<(&'static str, Duration)> {
    ns.run(|| {
        vec![
            (
                "tunws WebSocket echo, binary",
                ws_echo(Message::binary(pattern_bytes(PAYLOAD, 11))),
            ),
            (
                "tunws WebSocket echo, text",
                ws_echo(Message::text(pattern_text(PAYLOAD))),
            ),
            ("stack raw TCP echo (tcp_echo)", tcp_echo(TCP_ECHO, 12)),
            ("kernel<->kernel TCP echo, veth", tcp_echo(KERNEL_ECHO, 13)),
        ]
    })
}

fn digest(bytes: &[u8]) -> [u8; 20] {
    Sha1::digest(bytes).into()
}

/// Sends `msg` to `/echo` on a fresh connection and checks the echo's kind and digest.
fn ws_echo(msg: Message) -> Duration {
    let start = Instant::now();
    let mut ws = ws_connect("/echo");
    ws.get_mut()
        .set_read_timeout(Some(TRANSFER_TIMEOUT))
        .unwrap();
    ws.get_mut()
        .set_write_timeout(Some(TRANSFER_TIMEOUT))
        .unwrap();
    let sent = digest(&msg.clone().into_data());
    let is_text = msg.is_text();
    ws.send(msg).expect("send the message");
    let back = read_data(&mut ws);
    let elapsed = start.elapsed();
    assert_eq!(back.is_text(), is_text, "the echo changed the message type");
    assert_eq!(
        digest(&back.into_data()),
        sent,
        "the echo differs from what was sent (SHA-1)"
    );
    elapsed
}

/// Sends `PAYLOAD` bytes to a TCP echo server while reading the echo back, and checks its digest.
fn tcp_echo(server: SocketAddr, seed: u64) -> Duration {
    let data = pattern_bytes(PAYLOAD, seed);
    let sent = digest(&data);
    let start = Instant::now();
    let mut stream = TcpStream::connect_timeout(&server, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {server}: {e}"));
    stream.set_read_timeout(Some(TRANSFER_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TRANSFER_TIMEOUT)).unwrap();
    let mut writer = stream.try_clone().expect("clone the stream");
    // Written from another thread: the echo server sends back while we are still sending.
    let sender = thread::spawn(move || writer.write_all(&data));
    let mut back = vec![0u8; PAYLOAD];
    stream
        .read_exact(&mut back)
        .unwrap_or_else(|e| panic!("read the echo from {server}: {e}"));
    let elapsed = start.elapsed();
    sender
        .join()
        .expect("sender thread")
        .unwrap_or_else(|e| panic!("send to {server}: {e}"));
    assert_eq!(digest(&back), sent, "echo from {server} differs (SHA-1)");
    elapsed
}

/// Adds a second TUN device `name` with the kernel side at `cidr`.
fn add_tun(ns: &Netns, name: &str, cidr: &str) {
    ip(&["-n", ns.name(), "tuntap", "add", "dev", name, "mode", "tun"]);
    ip(&["-n", ns.name(), "addr", "add", cidr, "dev", name]);
    ip(&["-n", ns.name(), "link", "set", name, "up"]);
}

/// A kernel echo server on `KERNEL_ECHO` inside `peer`; its threads live as long as the test
/// process and die with the namespace's sockets.
fn start_kernel_echo(peer: &Netns) {
    peer.run(|| {
        let listener = TcpListener::bind(KERNEL_ECHO).expect("bind the kernel echo server");
        // Threads spawned here inherit the peer namespace.
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                thread::spawn(move || {
                    let mut reader = stream.try_clone().expect("clone");
                    let _ = std::io::copy(&mut reader, &mut stream);
                });
            }
        });
    });
}

/// Path of the stack's `tcp_echo` example, built once per test binary under `cargo test`.
fn tcp_echo_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        let profile = exe
            .parent()
            .and_then(|d| d.parent())
            .expect("test binary lives in target/<profile>/deps");
        if let Ok(cargo) = std::env::var("CARGO") {
            let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
            let status = Command::new(cargo)
                .args(["build", "--quiet", "-p", "stack", "--example", "tcp_echo"])
                .args(["--manifest-path", manifest])
                .status()
                .expect("run cargo build --example tcp_echo");
            assert!(
                status.success(),
                "cargo build -p stack --example tcp_echo failed"
            );
        }
        let bin = profile.join("examples").join("tcp_echo");
        assert!(
            bin.exists(),
            "{} not found: run `cargo build -p stack --example tcp_echo` first",
            bin.display()
        );
        bin
    })
    .clone()
}

/// Starts `tcp_echo` on `tun1` as 10.0.1.2, port 7, and waits until it listens.
fn start_tcp_echo(ns: &Netns) -> Proc {
    let bin = tcp_echo_bin();
    let mut cmd = ns.command(bin.to_str().expect("utf-8 path"));
    cmd.args(["--tun", "tun1", "--addr", "10.0.1.2/24", "--port", "7"]);
    let mut proc = Proc::spawn("tcp_echo", cmd);
    assert!(
        proc.wait_for_output("listening on", Duration::from_secs(15)),
        "tcp_echo did not start:\n{}{}",
        proc.stdout(),
        proc.stderr()
    );
    proc
}
