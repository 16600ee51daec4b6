//! The official Socket.IO client against tunws's `/socket.io/` (tests/socketio/socketio.test.mjs,
//! socket.io-client from npm pinned in tests/socketio/package-lock.json), run with `node --test`
//! inside the namespace where tunws answers, with the client's defaults (polling, then the
//! upgrade to WebSocket) and with `transports: ["websocket"]`:
//! - the chat as users run it: names, presence, ack'd ping, broadcast across 3 clients, rooms,
//!   then tunws restarted under connected clients, which reconnect by themselves;
//! - `--socketio-test`: binary round trips byte-exact, 3 heartbeat intervals survived, a silent
//!   client dropped with "ping timeout";
//! - python-socketio's client (PyPI, pinned in tests/socketio/requirements.txt, in
//!   tests/socketio/.venv) against `--socketio-test`, both transport choices: auth, ack, binary,
//!   3 heartbeat intervals;
//! - python-socketio on the chat: names, broadcast to 3 clients, rooms, both transport choices,
//!   tunws restarted and both clients reconnecting by themselves (python_chat.py);
//! - headless Chromium on the chat page in Socket.IO mode, with the browser client tunws serves
//!   from that npm package (`--socketio-client`), tests/browser/socketio.test.mjs: two pages
//!   chat, then tunws restarted under a page that reconnects by itself; against
//!   `--socketio-test`, a 100 kB binary round trip from the browser, byte-exact, on both
//!   transport choices.

use netns_tests::{Netns, Proc, Tunws, http_exchange, require_root, wait_for_file};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const NODE_TIMEOUT: Duration = Duration::from_secs(120);

/// The node test directory, with its dependencies installed.
fn client_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("socketio");
    assert!(
        dir.join("node_modules/socket.io-client").is_dir(),
        "socket.io-client is not installed: run `npm ci` in {} (scripts/test.sh does it)",
        dir.display()
    );
    dir
}

/// `node --test socketio.test.mjs` in `ns` with `TUNWS_MODE=mode`.
fn spawn_node(ns: &Netns, mode: &str, restart_dir: Option<&Path>) -> Proc {
    let mut cmd = ns.command("node");
    cmd.current_dir(client_dir())
        .args(["--test", "--test-reporter=spec", "socketio.test.mjs"])
        .env("TUNWS_URL", "http://10.0.0.2:8080")
        .env("TUNWS_MODE", mode);
    if let Some(dir) = restart_dir {
        cmd.env("TUNWS_RESTART_DIR", dir);
    }
    Proc::spawn("node --test socketio.test.mjs", cmd)
}

/// Waits for node to finish and asserts every test passed; returns its report.
fn finish(mut node: Proc, deadline: Instant) -> String {
    let status = node.wait_timeout(deadline.saturating_duration_since(Instant::now()));
    let report = format!("stdout:\n{}\nstderr:\n{}", node.stdout(), node.stderr());
    let status = status.unwrap_or_else(|| {
        panic!("socket.io client still running after {NODE_TIMEOUT:?}\n{report}")
    });
    assert!(
        status.success(),
        "socket.io client tests failed ({status})\n{report}"
    );
    assert!(report.contains("ℹ fail 0"), "{report}");
    report
}

/// When `client`'s reconnect test has its clients connected (it creates `ready` in `dir`),
/// stops tunws (SIGINT) and starts a new one on the same device, then creates `restarted`;
/// the clients must reconnect by themselves. Returns whether the client asked in time.
fn restart_when_ready(
    ns: &Netns,
    tunws: &mut Tunws,
    dir: &Path,
    client: &mut Proc,
    deadline: Instant,
) -> bool {
    let ready = wait_for_file(&dir.join("ready"), client, deadline);
    if ready {
        std::fs::write(dir.join("restarted"), b"").expect("mark restart");
        tunws.restart(ns, &[]);
    }
    ready
}

/// A directory for the restart handshake files of the test in `ns`.
fn restart_dir(ns: &Netns) -> PathBuf {
    let dir = std::env::temp_dir().join(ns.name());
    std::fs::create_dir_all(&dir).expect("create restart dir");
    dir
}

/// The python of tests/socketio/.venv, where python-socketio is installed.
fn venv_python() -> PathBuf {
    let python = client_dir().join(".venv/bin/python");
    assert!(
        python.exists(),
        "python-socketio is not installed: scripts/test.sh makes {} from requirements.txt",
        python.display()
    );
    python
}

/// Runs `python SCRIPT` (from tests/socketio) in `ns`, restarting tunws when it asks if
/// `restart` is given; asserts it passed every check and returns its report and whether it
/// asked for the restart.
fn run_python(ns: &Netns, script: &str, restart: Option<(&mut Tunws, &Path)>) -> (String, bool) {
    let mut cmd = ns.command(venv_python().to_str().expect("utf-8 path"));
    cmd.current_dir(client_dir())
        .arg(script)
        .env("TUNWS_URL", "http://10.0.0.2:8080");
    if let Some((_, dir)) = &restart {
        cmd.env("TUNWS_RESTART_DIR", dir);
    }
    let mut client = Proc::spawn(&format!("python {script}"), cmd);
    let deadline = Instant::now() + NODE_TIMEOUT;
    let restarted = restart
        .is_some_and(|(tunws, dir)| restart_when_ready(ns, tunws, dir, &mut client, deadline));
    let status = client.wait_timeout(deadline.saturating_duration_since(Instant::now()));
    let report = format!("stdout:\n{}\nstderr:\n{}", client.stdout(), client.stderr());
    assert!(
        status.is_some_and(|s| s.success()),
        "{script} failed ({status:?})\n{report}"
    );
    assert!(report.contains("all checks passed"), "{report}");
    (report, restarted)
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn chat_with_the_official_client_and_a_restart() {
    require_root!();
    let ns = Netns::new("sio-chat");
    let restart_dir = restart_dir(&ns);
    let mut tunws = Tunws::start(&ns, &[]);
    let mut node = spawn_node(&ns, "chat", Some(&restart_dir));
    let deadline = Instant::now() + NODE_TIMEOUT;
    let restarted = restart_when_ready(&ns, &mut tunws, &restart_dir, &mut node, deadline);
    let report = finish(node, deadline);
    let _ = std::fs::remove_dir_all(&restart_dir);
    assert!(
        restarted,
        "the restart test never asked for the restart:\n{report}"
    );
    // Both clients came back to the new tunws on their own.
    let log = tunws.output();
    assert_eq!(
        log.matches("joined as \"anonymous\"").count(),
        2,
        "new tunws log:\n{log}\n{report}"
    );
    println!("{report}");
}

/// `node --test socketio.test.mjs` of tests/browser (headless Chromium) in `ns`, against a
/// tunws started with `tunws_args` and the browser client from npm (`--socketio-client`);
/// `restart` restarts tunws when the page asks.
fn browser_socketio(ns: &Netns, tunws_args: &[&str], mode: &str, restart: bool) -> String {
    let client = client_dir().join("node_modules/socket.io-client/dist/socket.io.min.js");
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci` in {} (scripts/test.sh does it)",
        browser_dir.display()
    );
    let client = client.to_str().expect("utf-8 path");
    let args: Vec<&str> = ["--socketio-client", client]
        .into_iter()
        .chain(tunws_args.iter().copied())
        .collect();
    let mut tunws = Tunws::start(ns, &args);
    let dir = restart_dir(ns);
    let mut cmd = ns.command("node");
    cmd.current_dir(&browser_dir)
        .args(["--test", "--test-reporter=spec", "socketio.test.mjs"])
        .env("TUNWS_URL", "http://10.0.0.2:8080/")
        .env("TUNWS_MODE", mode);
    if restart {
        cmd.env("TUNWS_RESTART_DIR", &dir);
    }
    let mut node = Proc::spawn("node --test socketio.test.mjs", cmd);
    let deadline = Instant::now() + NODE_TIMEOUT;
    let restarted = restart && restart_when_ready(ns, &mut tunws, &dir, &mut node, deadline);
    let report = finish(node, deadline);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        restarted, restart,
        "the restart test never asked:\n{report}"
    );
    report
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn chat_page_in_socketio_mode_in_chromium() {
    require_root!();
    let ns = Netns::new("sio-browser");
    let report = browser_socketio(&ns, &[], "chat", true);
    assert!(
        report.contains("✔ a page in Socket.IO mode reconnects"),
        "{report}"
    );
    println!("{report}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn binary_round_trip_from_chromium() {
    require_root!();
    let ns = Netns::new("sio-browser-bin");
    let report = browser_socketio(&ns, &["--socketio-test"], "protocol", false);
    assert!(
        report.contains("✔ binary round trip from the browser"),
        "{report}"
    );
    println!("{report}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn python_socketio_client() {
    require_root!();
    let ns = Netns::new("sio-python");
    let _tunws = Tunws::start(&ns, &["--socketio-test"]);
    let (report, _) = run_python(&ns, "python_client.py", None);
    println!("{report}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn python_socketio_chat_rooms_and_a_restart() {
    require_root!();
    let ns = Netns::new("sio-pychat");
    let dir = restart_dir(&ns);
    let mut tunws = Tunws::start(&ns, &[]);
    let (report, restarted) = run_python(&ns, "python_chat.py", Some((&mut tunws, &dir)));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        restarted,
        "python_chat.py never asked for the restart:\n{report}"
    );
    // Both clients came back to the new tunws on their own.
    let log = tunws.output();
    assert_eq!(
        log.matches("joined as \"anonymous\"").count(),
        2,
        "new tunws log:\n{log}\n{report}"
    );
    println!("{report}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn protocol_mode_with_the_official_client() {
    require_root!();
    let ns = Netns::new("sio-protocol");
    let tunws = Tunws::start(&ns, &["--socketio-test"]);
    let node = spawn_node(&ns, "protocol", None);
    let report = finish(node, Instant::now() + NODE_TIMEOUT);
    // The silent client's session ended for the reason the reference server gives.
    let log = tunws.output();
    assert!(
        log.contains("left: ping timeout"),
        "tunws log:\n{log}\n{report}"
    );
    println!("{report}");
}

/// One HTTP/1.1 request on `/socket.io/` that asks the server to close after its answer;
/// returns the whole answer.
fn socketio_request(method: &str, query: &str, body: &[u8]) -> String {
    let mut request = format!(
        "{method} /socket.io/?{query} HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    http_exchange(&request)
}

/// The session id of a new polling session.
fn open_polling_session() -> String {
    let answer = socketio_request("GET", "EIO=4&transport=polling", b"");
    let sid = answer
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no sid in the handshake answer:\n{answer}"));
    sid.to_string()
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn bad_input_gets_the_reference_answers_and_disturbs_no_one() {
    require_root!();
    let ns = Netns::new("sio-bad");
    let tunws = Tunws::start(&ns, &[]);
    ns.run(|| {
        let bystander = open_polling_session();
        let bystander_query = format!("EIO=4&transport=polling&sid={bystander}");
        let refusals: [(&str, &str, &[u8], &str); 5] = [
            (
                "GET",
                "EIO=3&transport=polling",
                b"",
                r#"{"code":5,"message":"Unsupported protocol version"}"#,
            ),
            (
                "GET",
                "EIO=4&transport=carrier-pigeon",
                b"",
                r#"{"code":0,"message":"Transport unknown"}"#,
            ),
            (
                "POST",
                "EIO=4&transport=polling",
                b"40",
                r#"{"code":2,"message":"Bad handshake method"}"#,
            ),
            (
                "GET",
                "EIO=4&transport=polling&sid=nope",
                b"",
                r#"{"code":1,"message":"Session ID unknown"}"#,
            ),
            (
                "PUT",
                "EIO=4&transport=polling",
                b"",
                r#"{"code":2,"message":"Bad handshake method"}"#,
            ),
        ];
        for (method, query, body, json) in refusals {
            let answer = socketio_request(method, query, body);
            assert!(
                answer.starts_with("HTTP/1.1 400 "),
                "{method} {query}:\n{answer}"
            );
            assert!(answer.ends_with(json), "{method} {query}:\n{answer}");
        }
        // Each of these ends its own session, with its answer; the next poll on it is refused.
        let session_enders: [(&[u8], &str); 4] = [
            (b"abc", "HTTP/1.1 400 "),
            (b"4ok\x1e\xff\xfe", "HTTP/1.1 400 "),
            (b"bnot-base64!", "HTTP/1.1 400 "),
            (&[b'4'; 1_000_001], "HTTP/1.1 413 "),
        ];
        for (body, status) in session_enders {
            let sid = open_polling_session();
            let query = format!("EIO=4&transport=polling&sid={sid}");
            let answer = socketio_request("POST", &query, body);
            assert!(
                answer.starts_with(status),
                "{} bytes:\n{answer}",
                body.len()
            );
            let after = socketio_request("GET", &query, b"");
            assert!(
                after.contains(r#"{"code":1,"message":"Session ID unknown"}"#),
                "{after}"
            );
        }
        // The bystander session is undisturbed: it still takes packets and answers polls.
        let pushed = socketio_request("POST", &bystander_query, b"40");
        assert!(
            pushed.starts_with("HTTP/1.1 200 ") && pushed.ends_with("ok"),
            "{pushed}"
        );
        let polled = socketio_request("GET", &bystander_query, b"");
        assert!(polled.contains("40{\"sid\":\""), "{polled}");
    });
    assert!(!tunws.output().contains("panicked"), "{}", tunws.output());
}
