//! Packet loss at 1 %, 5 % and 10 % in both directions (nftables `numgen random` on the
//! interfaces inside the namespace; netem is not in the test kernels): a WebSocket echo of a
//! large binary and a large text message through tunws, and a raw TCP echo through the stack's
//! `tcp_echo` example, arrive byte-exact (SHA-1 of what came back equals SHA-1 of what was sent).
//!
//! The echo cells of issue 9 (a 4 MiB echo in 16 KiB messages at 1, 2 and 5 %, offload on and
//! off) run next to a 4 MiB raw TCP echo between two kernels under the same rule.
//!
//! Each battery test first runs every transfer without loss, then with loss, and prints both times next
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
    tcp_echo_of(server, seed, PAYLOAD)
}

/// Sends `len` bytes to a TCP echo server while reading the echo back, and checks its digest.
fn tcp_echo_of(server: SocketAddr, seed: u64, len: usize) -> Duration {
    let data = pattern_bytes(len, seed);
    let sent = digest(&data);
    let start = Instant::now();
    let mut stream = TcpStream::connect_timeout(&server, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {server}: {e}"));
    stream.set_read_timeout(Some(TRANSFER_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TRANSFER_TIMEOUT)).unwrap();
    let mut writer = stream.try_clone().expect("clone the stream");
    // Written from another thread: the echo server sends back while we are still sending.
    let sender = thread::spawn(move || writer.write_all(&data));
    let mut back = vec![0u8; len];
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

/// Total bytes of the issue-9 echo cell, sent in `CELL_MESSAGE`-byte binary messages.
const CELL_TOTAL: usize = 4 << 20;
const CELL_MESSAGE: usize = 16 * 1024;

/// Slowest single 16 KiB echo allowed under loss: the recovery layer repairs our losses within
/// a few round trips (the kernel's own recovery of what it sends us can still take its 200 ms
/// RTO, backed off); smoltcp alone backed off to RTOs of many seconds, long enough for a
/// client's 20 s keepalive timeout to give up. Measured up to 1.5 s on a loaded machine.
const CELL_SLOWEST: Duration = Duration::from_secs(5);

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn four_mib_echo_in_16_kib_messages_at_1_2_5_percent_with_offload() {
    echo_cells("cello", &[]);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn four_mib_echo_in_16_kib_messages_at_1_2_5_percent_without_offload() {
    echo_cells("celln", &["--no-offload"]);
}

/// The issue-9 cells: a 4 MiB binary echo in 16 KiB messages (one at a time, as a client
/// waiting for each echo) at 1, 2 and 5 % nftables loss each way, byte-exact, timed next to a
/// 4 MiB raw TCP echo between two kernels over a veth pair under the same rule.
fn echo_cells(label: &str, args: &[&str]) {
    require_root!();
    let mut rows = Vec::new();
    for percent in [1u32, 2, 5] {
        let ns = Netns::new(&format!("{label}{percent}"));
        let _tunws = Tunws::start(&ns, args);
        let peer = Netns::new(&format!("{label}k{percent}"));
        veth_pair(&ns, &peer, 1500);
        start_kernel_echo(&peer);
        for iface in ["tun0", "twa"] {
            ns.add_loss_on(iface, percent);
        }
        let (tunws, slowest, kernel) = ns.run(move || {
            let (tunws, slowest) = ws_echo_in_messages(u64::from(percent));
            (tunws, slowest, tcp_echo_of(KERNEL_ECHO, 14, CELL_TOTAL))
        });
        let dropped = ns.dropped_packets();
        println!(
            "{label} {percent} % loss each way: tunws 4 MiB echo in 16 KiB messages {:.3} s \
             (slowest message {:.3} s), kernel<->kernel raw TCP 4 MiB echo {:.3} s, ratio \
             {:.1}x; {dropped} packets dropped",
            tunws.as_secs_f64(),
            slowest.as_secs_f64(),
            kernel.as_secs_f64(),
            tunws.as_secs_f64() / kernel.as_secs_f64().max(1e-6)
        );
        assert!(dropped > 0, "nftables dropped nothing at {percent} %");
        assert!(
            slowest < CELL_SLOWEST,
            "{percent} %: one 16 KiB echo took {slowest:?}"
        );
        rows.push(format!(
            "    {{\"loss_percent\": {percent}, \"tunws_s\": {:.4}, \"slowest_message_s\": {:.4}, \"kernel_raw_tcp_s\": {:.4}, \"dropped\": {dropped}}}",
            tunws.as_secs_f64(),
            slowest.as_secs_f64(),
            kernel.as_secs_f64()
        ));
    }
    let json = format!(
        "{{\n  \"tunws_args\": \"{}\",\n  \"cells\": [\n{}\n  ]\n}}\n",
        args.join(" "),
        rows.join(",\n")
    );
    let path = save_figures(&format!("echo-cells-{label}"), &json);
    println!("figures saved to {}", path.display());
}

/// `CELL_TOTAL` bytes echoed through `/echo` in `CELL_MESSAGE`-byte binary messages, each
/// checked; returns the total time and the slowest message's round trip.
fn ws_echo_in_messages(seed: u64) -> (Duration, Duration) {
    let data = pattern_bytes(CELL_TOTAL, seed);
    let start = Instant::now();
    let mut ws = ws_connect("/echo");
    ws.get_mut()
        .set_read_timeout(Some(TRANSFER_TIMEOUT))
        .unwrap();
    let mut slowest = Duration::ZERO;
    for chunk in data.chunks(CELL_MESSAGE) {
        let sent = Instant::now();
        ws.send(Message::binary(chunk.to_vec())).expect("send");
        let back = read_data(&mut ws);
        slowest = slowest.max(sent.elapsed());
        assert!(
            back.is_binary() && back.into_data() == chunk,
            "an echoed message differs"
        );
    }
    (start.elapsed(), slowest)
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
