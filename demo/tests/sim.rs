//! `tunws sim` is repeatable byte for byte: its output is compared with committed golden files
//! (regenerate them after a deliberate change with `TUNWS_UPDATE_GOLDEN=1 cargo test -p demo
//! --test sim`, and read the diff). `tunws ladder` draws the same diagram from the trace lines.

use std::path::PathBuf;
use std::process::Command;

fn tunws(args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tunws"));
    cmd.args(args);
    let out = match stdin {
        None => cmd.output().expect("run tunws"),
        Some(text) => {
            use std::io::Write;
            let mut child = cmd
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("run tunws");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        }
    };
    assert!(out.status.success(), "tunws {args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn check_golden(name: &str, args: &[&str]) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let got = tunws(args, None);
    if std::env::var_os("TUNWS_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want =
        std::fs::read_to_string(&path).expect("golden file (TUNWS_UPDATE_GOLDEN=1 writes it)");
    assert!(
        got == want,
        "tunws {args:?} differs from {}:\n--- got\n{got}",
        path.display()
    );
    got
}

#[test]
fn sim_prints_the_golden_exchange() {
    let out = check_golden("sim.txt", &["sim"]);
    // What the golden file must show, whatever it was regenerated from.
    for needle in [
        "TCP [SYN] seq=",
        "LISTEN → SYN-RECEIVED",
        "SYN-RECEIVED → ESTABLISHED",
        "http \"GET /chat HTTP/1.1\" -> 101 Switching Protocols",
        "ws in  Text piece len=5 first=true fin=true",
        "ws in  Close code=1000",
        "|--[SYN] seq=0 mss=1460",
        "|<-[SYN,ACK] seq=0 ack=1",
        "closed with 1000",
    ] {
        assert!(out.contains(needle), "{needle:?} missing:\n{out}");
    }
}

#[test]
fn sim_with_seeded_loss_prints_the_golden_retransmissions() {
    let out = check_golden("sim-loss.txt", &["sim", "--loss", "20", "--loss-seed", "3"]);
    // The wire says what it lost; the lost SYN costs smoltcp's 1 s minimum RTO (the handshake
    // is smoltcp's alone), so the handshake starts a second late; the ladder draws the loss.
    assert!(
        out.starts_with("lost     0.000000 in  10.0.0.1:49154 → 10.0.0.2:8080 TCP [SYN]"),
        "{out}"
    );
    assert!(
        out.contains("\ntrace    1.001000 in  10.0.0.1:49154 → 10.0.0.2:8080 TCP [SYN]"),
        "{out}"
    );
    assert!(
        out.contains("|--[SYN] seq=0 mss=1460 wscale=1---------------X |"),
        "{out}"
    );
    // A lost last segment of data is the recovery layer's: a tail probe after two round trips
    // and the delayed-ACK allowance (60 ms here), not smoltcp's 1 s.
    assert!(
        out.contains("retransmission seq=1914976079 len=7 (tail probe)"),
        "{out}"
    );
    assert!(out.contains("closed with 1000"), "{out}");
}

#[test]
fn sim_messages_change_the_frame_lengths() {
    let out = tunws(&["sim", "--message", "a much longer message"], None);
    // 21 bytes of text, masked by the client: 2 + 4 + 21 = 27 bytes of TCP payload.
    assert!(
        out.contains("ws in  Text piece len=21 first=true fin=true"),
        "{out}"
    );
    assert!(
        out.contains("TCP [PSH,ACK]") && out.contains("len=27"),
        "{out}"
    );
}

#[test]
fn ladder_draws_the_same_diagram_from_the_trace_lines() {
    let out = tunws(&["sim"], None);
    let (trace, rest) = out.split_once("\n\n").expect("trace, blank line, ladder");
    let ladder = rest
        .rsplit_once("\n\n")
        .expect("ladder, blank line, result")
        .0;
    assert_eq!(
        tunws(&["ladder"], Some(trace)).trim_end(),
        ladder.trim_end()
    );
}
