//! permessage-deflate (RFC 7692) with two independent, widely used implementations, installed
//! pinned by scripts/test.sh into tests/interop/: Node's `ws` (package-lock.json) and Python
//! `websockets` (requirements.txt, in tests/interop/.venv). Each exchanges messages of 1 B,
//! 125, 126, 65535, 65536 B and 1 MiB, text and binary, chat-like and random, with compression
//! on, checks them byte for byte, checks the 101's `Sec-WebSocket-Extensions`, and checks that
//! the 1 MiB chat text crossed the wire compressed:
//! - both libraries as clients of `tunws --deflate` /echo, with their default offer and with a
//!   strict one (no context takeover both ways, small windows);
//! - `tunws client --deflate --echo` against a Python `websockets` server on the namespace's
//!   kernel side, with the server's default answer (12-bit windows) and a strict one.

use netns_tests::{KERNEL_ADDR, Netns, Proc, Tunws, require_root, spawn_tunws};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Time for one peer program to run all its checks (two connections of 24 messages, up to
/// 1 MiB each, through a debug build of tunws).
const PEER_TIMEOUT: Duration = Duration::from_secs(180);

/// tests/interop, with `what` (a path inside it) installed.
fn interop_dir(what: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop");
    assert!(
        dir.join(what).exists(),
        "{what} is missing in {}: scripts/test.sh installs it (npm ci; python3 -m venv .venv and pip install -r requirements.txt)",
        dir.display()
    );
    dir
}

/// A command running `program` with `args` inside `ns`, in tests/interop.
fn peer_command(ns: &Netns, program: &str, args: &[&str]) -> Command {
    let mut cmd = ns.command(program);
    cmd.current_dir(interop_dir("")).args(args);
    cmd
}

/// The Python of tests/interop/.venv, where `websockets` is installed.
fn python() -> String {
    let python = interop_dir(".venv/bin/python").join(".venv/bin/python");
    python.to_str().expect("utf-8 path").to_string()
}

/// Waits for a peer program and asserts that it exited 0 after `all checks passed`; returns
/// its output.
fn finish(mut peer: Proc, label: &str) -> String {
    let status = peer.wait_timeout(PEER_TIMEOUT);
    let report = format!("stdout:\n{}\nstderr:\n{}", peer.stdout(), peer.stderr());
    let status =
        status.unwrap_or_else(|| panic!("{label} still running after {PEER_TIMEOUT:?}\n{report}"));
    assert!(status.success(), "{label} failed ({status})\n{report}");
    assert!(report.contains("all checks passed"), "{report}");
    report
}

/// Runs a client program against `tunws --deflate` in a fresh namespace.
fn client_against_tunws(test: &str, program: &str, args: &[&str]) {
    let ns = Netns::new(test);
    let tunws = Tunws::start(&ns, &["--deflate"]);
    let mut cmd = peer_command(&ns, program, args);
    cmd.env("TUNWS_URL", "ws://10.0.0.2:8080/echo");
    let report = finish(Proc::spawn(program, cmd), program);
    let log = tunws.output();
    assert!(!log.contains("panicked"), "tunws log:\n{log}");
    println!("{report}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn node_ws_client_echoes_through_deflate() {
    require_root!();
    interop_dir("node_modules/ws");
    client_against_tunws("ilnode", "node", &["ws_echo.mjs"]);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn python_websockets_client_echoes_through_deflate() {
    require_root!();
    client_against_tunws("ilpyclient", &python(), &["websockets_client.py"]);
}

/// `tunws client --deflate --echo` against websockets_server.py in `variant`.
fn client_role_against_python_server(variant: &str) {
    let ns = Netns::new("ilpyserver");
    let port = "9001";
    let cmd = peer_command(
        &ns,
        &python(),
        &["websockets_server.py", variant, KERNEL_ADDR, port],
    );
    let mut server = Proc::spawn("websockets_server.py", cmd);
    assert!(
        server.wait_for_output("listening", Duration::from_secs(20)),
        "the Python server did not start:\n{}",
        server.stderr()
    );
    let url = format!("ws://{KERNEL_ADDR}:{port}/");
    let mut client = spawn_tunws(
        &ns,
        "tunws client --deflate --echo",
        &["client", "--deflate", "--echo", &url],
    );
    let report = finish(server, "websockets_server.py");
    let status = client
        .wait_timeout(Duration::from_secs(10))
        .expect("tunws client still running after the server closed");
    assert!(
        status.success(),
        "tunws client exit status: {status}\n{}",
        client.stderr()
    );
    println!("{report}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn client_role_with_python_websockets_default_answer() {
    require_root!();
    client_role_against_python_server("default");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn client_role_with_python_websockets_strict_answer() {
    require_root!();
    client_role_against_python_server("strict");
}
