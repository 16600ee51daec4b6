//! The chat page's packet ladder (`/trace`) in headless Chromium: tests/browser/ladder.test.mjs
//! run with `node --test` inside a namespace where tunws answers, once per configuration:
//! default scope with `--pcap` (the page's own handshake and frames, a second page that does
//! not see them, the pcap export compared byte for byte with `--pcap`), `--loss 20` (a
//! retransmission row) and `--trace-web all` (a second page sees the first one's frames).

use netns_tests::tungstenite::Message;
use netns_tests::{
    Netns, Proc, Tunws, http_exchange, pcap_packets, read_data, require_root, ws_connect,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const NODE_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs the tests of `scenario` in ladder.test.mjs; panics with node's output if they fail.
fn run_node(ns: &Netns, scenario: &str, export: Option<&Path>) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci` in {} (scripts/test.sh does it)",
        dir.display()
    );
    let mut cmd = ns.command("node");
    cmd.current_dir(&dir)
        .args(["--test", "--test-reporter=spec", "ladder.test.mjs"])
        .env("TUNWS_URL", "http://10.0.0.2:8080/")
        .env("TUNWS_SCENARIO", scenario)
        .env(
            "TUNWS_SCREENSHOT",
            std::env::temp_dir().join(format!("tunws-ladder-{scenario}.png")),
        );
    if let Some(path) = export {
        cmd.env("TUNWS_EXPORT", path);
    }
    let mut node = Proc::spawn("node --test ladder.test.mjs", cmd);
    let status = node.wait_timeout(NODE_TIMEOUT);
    let report = format!("stdout:\n{}\nstderr:\n{}", node.stdout(), node.stderr());
    let status = status
        .unwrap_or_else(|| panic!("browser test still running after {NODE_TIMEOUT:?}\n{report}"));
    assert!(status.success(), "browser test failed ({status})\n{report}");
    assert!(
        !report.contains("# pass 0"),
        "no browser test ran for {scenario}:\n{report}"
    );
    report
}

/// The TCP packets of a capture grouped by the port of the 10.0.0.1 side.
fn by_client_port(packets: Vec<&[u8]>) -> BTreeMap<u16, Vec<&[u8]>> {
    let mut map: BTreeMap<u16, Vec<&[u8]>> = BTreeMap::new();
    for packet in packets {
        if packet.len() < 40 || packet[0] >> 4 != 4 || packet[9] != 6 {
            continue;
        }
        let tcp = &packet[usize::from(packet[0] & 0x0f) * 4..];
        let client_port = if packet[12..16] == [10, 0, 0, 1] {
            u16::from_be_bytes([tcp[0], tcp[1]])
        } else {
            u16::from_be_bytes([tcp[2], tcp[3]])
        };
        map.entry(client_port).or_default().push(packet);
    }
    map
}

fn temp(ns: &Netns, what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{}-{what}", ns.name()))
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn ladder_shows_own_packets_only_and_exports_them_as_pcap() {
    require_root!();
    let ns = Netns::new("ladder");
    let (pcap, export) = (temp(&ns, "stack.pcap"), temp(&ns, "export.pcap"));
    let mut tunws = Tunws::start(&ns, &["--pcap", pcap.to_str().unwrap()]);
    let report = run_node(&ns, "own", Some(&export));
    // --pcap is complete once tunws has flushed it on exit.
    tunws.proc().signal(libc::SIGINT);
    assert!(tunws.proc().wait_timeout(Duration::from_secs(10)).is_some());
    let stack_file = std::fs::read(&pcap).expect("read --pcap file");
    let export_file = std::fs::read(&export).expect("read the exported pcap");
    let tshark = Command::new("tshark").arg("-r").arg(&export).output();
    let _ = std::fs::remove_file(&pcap);
    let _ = std::fs::remove_file(&export);
    let tshark = tshark.expect("run tshark (scripts/test.sh installs it)");
    let summary = String::from_utf8_lossy(&tshark.stdout);
    assert!(tshark.status.success(), "tshark -r export: {tshark:?}");
    assert!(
        summary.contains("[SYN]") && summary.contains("101 Switching Protocols"),
        "tshark does not see the handshake in the export:\n{summary}"
    );

    // The export holds, per connection, a run of exactly the packets --pcap holds.
    let exported = by_client_port(pcap_packets(&export_file));
    let captured = by_client_port(pcap_packets(&stack_file));
    assert!(
        !exported.is_empty(),
        "the export holds no TCP packet\n{report}"
    );
    for (port, packets) in &exported {
        let all = captured
            .get(port)
            .unwrap_or_else(|| panic!("port {port} of the export is not in --pcap"));
        let start = all
            .iter()
            .position(|p| p == &packets[0])
            .unwrap_or_else(|| panic!("the first exported packet of port {port} is not in --pcap"));
        assert_eq!(
            &all[start..(start + packets.len()).min(all.len())],
            packets.as_slice(),
            "port {port}: the export differs from --pcap"
        );
        assert!(
            packets.len() >= 7,
            "port {port}: only {} packets",
            packets.len()
        );
    }
    println!("{report}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn ladder_shows_retransmissions_under_loss() {
    require_root!();
    let ns = Netns::new("ladder-loss");
    let _tunws = Tunws::start(&ns, &["--loss", "20", "--loss-seed", "7"]);
    println!("{}", run_node(&ns, "loss", None));
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn ladder_with_trace_web_all_shows_every_page() {
    require_root!();
    let ns = Netns::new("ladder-all");
    let _tunws = Tunws::start(&ns, &["--trace-web", "all"]);
    println!("{}", run_node(&ns, "all", None));
}

/// The `/trace` protocol from a plain WebSocket client: `watch TOKEN` gets a hello, a bad token
/// or an unknown command gets close 1008; with `--trace-web off` there is no `/trace` at all.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn trace_endpoint_protocol_and_trace_web_off() {
    require_root!();
    let ns = Netns::new("ladder-proto");
    let mut tunws = Tunws::start(&ns, &[]);
    ns.run(|| {
        let mut viewer = ws_connect("/trace");
        viewer
            .send(Message::text("watch abcdefghijklmnop-_0123"))
            .unwrap();
        let hello = read_data(&mut viewer).into_text().unwrap();
        assert!(
            hello.starts_with(r#"[{"type":"hello","version":1,"scope":"own","resumed":false"#),
            "{hello}"
        );
        for bad in ["watch short", "watch", "subscribe everything"] {
            let mut ws = ws_connect("/trace");
            ws.send(Message::text(bad)).unwrap();
            let code = loop {
                match ws.read() {
                    Ok(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
                    Ok(_) => {}
                    Err(e) => panic!("{bad:?}: {e}"),
                }
            };
            assert_eq!(code, Some(1008), "{bad:?}");
        }
    });
    tunws.proc().signal(libc::SIGINT);
    assert!(tunws.proc().wait_timeout(Duration::from_secs(10)).is_some());
    drop(tunws);

    let _off = Tunws::start(&ns, &["--trace-web", "off"]);
    let response = ns.run(|| {
        http_exchange(
            b"GET /trace HTTP/1.1\r\nHost: 10.0.0.2\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
    });
    assert!(response.starts_with("HTTP/1.1 404 "), "{response}");
}
