//! `tunws sim` against the real thing: the same exchange (connect to /chat, "hello", "how are
//! you?", close 1000 "bye") once in memory and once over a TUN with a kernel client sending the
//! same bytes' lengths, and the trace lines compared in every field that depends neither on
//! time nor on randomness nor on who the client is:
//!
//! - the lines tunws logs about the connection (TCP states up to the close, the HTTP upgrade,
//!   every WebSocket frame, the client's arrival and departure), with the client port masked;
//! - every segment tunws sent that carried data, SYN or FIN: flags, length, options;
//! - every segment it received that carried data, SYN or FIN: flags and length.
//!
//! Left out: times, sequence numbers (random ISNs), windows and the client's own TCP options
//! (the kernel's differ from smoltcp's), pure ACKs (when and how often a peer acknowledges
//! depends on its delayed-ACK timer), and the TCP states after tunws's FIN (FIN-WAIT-2 or not
//! depends on whether the peer's ACK and FIN travel together).

use std::io::{Read, Write};
use std::net::TcpStream;

use netns_tests::{IO_TIMEOUT, Netns, Tunws, require_root, tunws_bin, tunws_endpoint};

const MESSAGES: [&str; 2] = ["hello", "how are you?"];

/// A client frame: FIN, `opcode`, masked `payload` (RFC 6455 §5.2; payloads under 126 bytes).
fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

/// The kernel side of the exchange `tunws sim` runs.
fn talk() {
    let mut s = TcpStream::connect_timeout(&tunws_endpoint(), IO_TIMEOUT).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    let mut request = [0u8; 1024];
    let host = tunws_endpoint().to_string();
    let n = ws::handshake::write_client_request(
        &ws::handshake::ClientRequest {
            host: &host,
            path: "/chat",
            origin: None,
            protocols: &[],
        },
        [7; 16],
        &mut request,
    )
    .unwrap();
    s.write_all(&request[..n]).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("response head");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    for text in MESSAGES {
        s.write_all(&masked_frame(0x1, text.as_bytes())).unwrap();
        let mut echo = vec![0u8; 2 + text.len()];
        s.read_exact(&mut echo)
            .expect("the broadcast of our message");
        assert_eq!(&echo[2..], text.as_bytes());
    }
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    s.write_all(&masked_frame(0x8, &close)).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)
        .expect("the server's close frame, then its FIN");
    assert_eq!(rest, [0x88, 0x02, 0x03, 0xe8]);
}

/// The compared projection of a trace log (see the module doc).
fn projection(log: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fin_sent = false;
    for line in log.lines() {
        let line = match line.strip_prefix('[').and_then(|l| l.split_once("] ")) {
            Some((_, message)) => message,
            None => line,
        };
        if let Some(rest) = line.strip_prefix("trace ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            if words.get(5) != Some(&"TCP") {
                continue;
            }
            let (dir, flags) = (words[1], words[6]);
            let len = words.iter().find(|w| w.starts_with("len=")).unwrap();
            if *len == "len=0" && !flags.contains("SYN") && !flags.contains("FIN") {
                continue;
            }
            let mut kept = format!("{dir} {flags} {len}");
            if dir == "out" {
                let options = words
                    .iter()
                    .filter(|w| w.starts_with("mss=") || w.starts_with("wscale="));
                for option in options {
                    kept.push(' ');
                    kept.push_str(option);
                }
                fin_sent |= flags.contains("FIN");
            }
            out.push(kept);
        } else if line.starts_with("conn ") || line.starts_with("client ") {
            if fin_sent && line.contains(" → ") {
                continue;
            }
            out.push(mask_port(line));
        }
    }
    out
}

/// `10.0.0.1:53122` → `10.0.0.1:PORT`.
fn mask_port(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("10.0.0.1:") {
        out.push_str(&rest[..at + 9]);
        out.push_str("PORT");
        rest = rest[at + 9..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn sim_matches_a_real_exchange_over_the_tun() {
    require_root!();
    let sim = std::process::Command::new(tunws_bin())
        .args(["sim", "--message", MESSAGES[0], "--message", MESSAGES[1]])
        .output()
        .expect("run tunws sim");
    assert!(sim.status.success(), "{sim:?}");
    let sim = String::from_utf8(sim.stdout).unwrap();
    let sim_trace = sim.split_once("\n\n").unwrap().0;

    let ns = Netns::new("sim");
    let mut tunws = Tunws::start(&ns, &["--trace", "--no-offload"]);
    ns.run(talk);
    // The kernel's FIN (sent when talk() dropped its socket) ends our side in TIME-WAIT.
    assert!(
        tunws.proc().wait_for_output("→ TIME-WAIT", IO_TIMEOUT),
        "tunws never reached TIME-WAIT:\n{}",
        tunws.output()
    );
    tunws.proc().signal(libc::SIGINT);
    assert!(
        tunws.proc().wait_timeout(IO_TIMEOUT).is_some(),
        "tunws did not stop"
    );
    let real = tunws.output();

    let (want, got) = (projection(sim_trace), projection(&real));
    assert!(
        want.len() >= 15,
        "the sim's projection is too thin: {want:#?}"
    );
    assert_eq!(
        got, want,
        "over the TUN (left) vs tunws sim (right)\nreal log:\n{real}\nsim:\n{sim}"
    );
}
