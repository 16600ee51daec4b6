//! The ladder diagram of a `--trace` log: one arrow per TCP segment between the client (left)
//! and tunws (right) drawn with `-`, one per HTTP message and WebSocket frame tunws read or
//! sent drawn with `=`, and its TCP state changes written beside the tunws column.
//!
//! ```text
//!     time  10.0.0.1:49152                                  10.0.0.2:8080
//! 0.000000  |--[SYN] seq=0 mss=1460 wscale=7------------->|  LISTEN → SYN-RECEIVED
//! 0.000000  |<-[SYN,ACK] seq=0 ack=1 mss=1460 wscale=1----|
//! ```
//!
//! Sequence and acknowledgement numbers are relative to each side's ISN (the SYN's sequence
//! number) in its connection, as Wireshark shows them; segments seen before their side's SYN
//! keep absolute numbers. A log of several connections (a browser's or Socket.IO client's
//! parallel requests) gives one ladder per connection (its 4-tuple), in the order each first
//! appears, under a title naming it; tunws's `conn N` and `client N` lines go to the ladder
//! of the connection they name. It reads the trace's own text, so it draws a real run (`tunws --trace 2>log`) as
//! well as `tunws sim`, whose `lost` lines (same format, from its simulated wire) become arrows
//! that end in `X` before they reach the other side; lines of other kinds are left out.

use std::collections::HashMap;
use std::fmt::Write as _;

/// Characters between the two columns.
const WIDTH: usize = 48;

/// One TCP line of the trace.
struct Segment<'a> {
    time: &'a str,
    /// Towards tunws (`in`).
    inbound: bool,
    /// A `lost` line: the wire dropped it.
    lost: bool,
    src: &'a str,
    dst: &'a str,
    flags: &'a str,
    seq: u32,
    ack: Option<u32>,
    len: &'a str,
    /// `mss=… wscale=…`, as printed.
    options: Vec<&'a str>,
}

/// Parses `trace    0.104211 in  10.0.0.1:53122 → 10.0.0.2:8080 TCP [SYN] seq=… ack=… win=… len=0 mss=1460`
/// (or the same after `lost `).
fn parse_segment(line: &str) -> Option<Segment<'_>> {
    let (lost, rest) = match line.strip_prefix("trace ") {
        Some(rest) => (false, rest),
        None => (true, line.strip_prefix("lost ")?),
    };
    let mut words = rest.split_whitespace();
    let time = words.next()?;
    let inbound = match words.next()? {
        "in" => true,
        "out" => false,
        _ => return None,
    };
    let src = words.next()?;
    if words.next()? != "→" {
        return None;
    }
    let dst = words.next()?;
    if words.next()? != "TCP" {
        return None;
    }
    let flags = words.next()?.strip_prefix('[')?.strip_suffix(']')?;
    let mut segment = Segment {
        time,
        inbound,
        lost,
        src,
        dst,
        flags,
        seq: 0,
        ack: None,
        len: "0",
        options: Vec::new(),
    };
    for word in words {
        let (key, value) = word.split_once('=')?;
        match key {
            "seq" => segment.seq = value.parse().ok()?,
            "ack" => segment.ack = Some(value.parse().ok()?),
            "len" => segment.len = value,
            "win" => {}
            _ => segment.options.push(word),
        }
    }
    Some(segment)
}

/// A row drawn for a line tunws logged beside the packets.
enum Row {
    /// An HTTP message or a WebSocket frame: an arrow of the application layer (`==`),
    /// rightwards when tunws read it.
    Message { label: String, rightwards: bool },
    /// Anything else (TCP states, clients arriving and leaving), in the margin.
    Note(String),
}

/// The connection a tunws log line is about: its `conn N` or `client N` number and, where the
/// line names it, the client's endpoint (`conn 1 10.0.0.1:53122: LISTEN → …`, `client 1
/// connected from 10.0.0.1:53122`).
fn owner(line: &str) -> Option<(&str, Option<&str>)> {
    let mut words = line.split_whitespace();
    let kind = words.next()?;
    if kind != "conn" && kind != "client" {
        return None;
    }
    // The kind and the number together, e.g. `conn 3`, as the id.
    let id_end = kind.len() + 1 + words.next()?.len();
    let id = line.get(..id_end)?;
    let endpoint = words
        .map(|w| w.trim_end_matches(':'))
        .find(|w| w.parse::<std::net::SocketAddr>().is_ok());
    Some((id, endpoint))
}

/// The rows for one log line of tunws (`conn N …`, `client N …`); none for other lines.
fn rows(line: &str) -> Vec<Row> {
    if line.starts_with("client ") {
        return vec![Row::Note(line.to_string())];
    }
    let Some((_id, what)) = line.strip_prefix("conn ").and_then(|r| r.split_once(' ')) else {
        return Vec::new();
    };
    let message = |label: &str, rightwards| Row::Message {
        label: label.trim().to_string(),
        rightwards,
    };
    if let Some(frame) = what.strip_prefix("ws in ") {
        return vec![message(frame, true)];
    }
    if let Some(frame) = what.strip_prefix("ws out ") {
        return vec![message(frame, false)];
    }
    // `http "GET /chat HTTP/1.1" -> 101 Switching Protocols: now WebSocket`: request, answer.
    if let Some((request, answer)) = what
        .strip_prefix("http \"")
        .and_then(|r| r.split_once("\" -> "))
    {
        return vec![message(request, true), message(answer, false)];
    }
    // State changes read "10.0.0.1:53122: LISTEN → SYN-RECEIVED": the endpoint is the column's.
    vec![Row::Note(match what.split_once(": ") {
        Some((endpoint, change)) if endpoint.parse::<std::net::SocketAddr>().is_ok() => {
            change.to_string()
        }
        _ => what.to_string(),
    })]
}

/// The log line without env_logger's `[time LEVEL target] ` prefix.
fn strip_log_prefix(line: &str) -> &str {
    match line
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
    {
        Some((_, message)) => message,
        None => line,
    }
}

/// One connection's ladder, drawn as the log is read.
struct Ladder<'a> {
    client: &'a str,
    server: &'a str,
    /// Each side's ISN, by its endpoint.
    isn: HashMap<&'a str, u32>,
    /// The `conn N` / `client N` ids that named it.
    ids: Vec<&'a str>,
    rows: String,
}

impl<'a> Ladder<'a> {
    fn new(client: &'a str, server: &'a str) -> Ladder<'a> {
        Ladder {
            client,
            server,
            isn: HashMap::new(),
            ids: Vec::new(),
            rows: String::new(),
        }
    }

    /// The column header: the client on the left, tunws on the right.
    fn header(&self) -> String {
        format!(
            "{:>9}  {:<width$}{}\n",
            "time",
            self.client,
            self.server,
            width = WIDTH + 2
        )
    }

    fn push_segment(&mut self, segment: &Segment<'a>) {
        if segment.flags.contains("SYN") {
            self.isn.insert(segment.src, segment.seq);
        }
        let isn = &self.isn;
        let relative = |n: u32, side: &str| isn.get(side).map_or(n, |&i| n.wrapping_sub(i));
        let mut label = format!(
            "[{}] seq={}",
            segment.flags,
            relative(segment.seq, segment.src)
        );
        if let Some(ack) = segment.ack {
            let _ = write!(label, " ack={}", relative(ack, segment.dst));
        }
        if segment.len != "0" {
            let _ = write!(label, " len={}", segment.len);
        }
        for option in &segment.options {
            let _ = write!(label, " {option}");
        }
        let _ = writeln!(
            self.rows,
            "{:>9}  |{}|",
            segment.time,
            arrow(&label, segment.inbound, segment.lost, '-')
        );
    }
}

/// Appends the rows of a tunws log line to `out`.
fn push_rows(out: &mut String, line: &str) {
    for row in rows(line) {
        let _ = match row {
            Row::Message { label, rightwards } => {
                writeln!(
                    out,
                    "{:>9}  |{}|",
                    "",
                    arrow(&label, rightwards, false, '=')
                )
            }
            Row::Note(note) => writeln!(out, "{:>9}  |{:width$}|  {note}", "", "", width = WIDTH),
        };
    }
}

/// Draws the diagram of `lines` (a trace log, one line each): one ladder, or one per
/// connection when the log holds several.
pub fn render<S: AsRef<str>>(lines: &[S]) -> String {
    // Lines about no connection seen yet, drawn before the ladders.
    let mut preamble = String::new();
    let mut ladders: Vec<Ladder> = Vec::new();
    // The ladder that last got a segment: where lines naming no known connection go.
    let mut last = None;
    for line in lines {
        let line = strip_log_prefix(line.as_ref());
        if let Some(segment) = parse_segment(line) {
            let (client, server) = if segment.inbound {
                (segment.src, segment.dst)
            } else {
                (segment.dst, segment.src)
            };
            let at = match ladders
                .iter()
                .rposition(|l| l.client == client && l.server == server)
            {
                Some(at) => at,
                None => {
                    ladders.push(Ladder::new(client, server));
                    ladders.len() - 1
                }
            };
            ladders[at].push_segment(&segment);
            last = Some(at);
            continue;
        }
        let target = match owner(line) {
            None => None,
            Some((id, endpoint)) => {
                let named = endpoint.and_then(|e| ladders.iter().rposition(|l| l.client == e));
                if let Some(at) = named {
                    if !ladders[at].ids.contains(&id) {
                        ladders[at].ids.push(id);
                    }
                }
                named
                    .or_else(|| ladders.iter().rposition(|l| l.ids.contains(&id)))
                    .or(last)
            }
        };
        match target {
            Some(at) => push_rows(&mut ladders[at].rows, line),
            None => push_rows(&mut preamble, line),
        }
    }
    let mut out = preamble;
    let count = ladders.len();
    for (n, ladder) in ladders.iter().enumerate() {
        if count > 1 {
            if n > 0 {
                out.push('\n');
            }
            let ids = if ladder.ids.is_empty() {
                String::new()
            } else {
                format!(" ({})", ladder.ids.join(", "))
            };
            let _ = writeln!(
                out,
                "connection {} of {count}: {} ⇄ {}{ids}",
                n + 1,
                ladder.client,
                ladder.server
            );
        }
        out.push_str(&ladder.header());
        out.push_str(&ladder.rows);
    }
    out
}

/// `--label---->` (towards tunws, on the right) or `<-label-----` (towards the client), drawn
/// with `line` (`-` a TCP segment, `=` an HTTP message or WebSocket frame); a lost one stops
/// short with an `X`: `--label--X ` or ` X-label---`.
fn arrow(label: &str, rightwards: bool, lost: bool, line: char) -> String {
    let label: String = label.chars().take(WIDTH - 4).collect();
    let fill = WIDTH - 3 - label.chars().count();
    let run = |n: usize| line.to_string().repeat(n);
    match (rightwards, lost) {
        (true, false) => format!("{}{label}{}>", run(2), run(fill)),
        (false, false) => format!("<{}{label}{}", run(1), run(fill + 1)),
        (true, true) => format!("{}{label}{}X ", run(2), run(fill - 1)),
        (false, true) => format!(" X{}{label}{}", run(1), run(fill)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HANDSHAKE: [&str; 5] = [
        "trace    0.833914 in  10.0.0.1:51926 → 10.0.0.2:8080 TCP [SYN] seq=2493774794 win=64240 len=0 mss=1460 wscale=10",
        "[2026-12-03T08:27:37Z INFO  stack::net::admission] conn 1 10.0.0.1:51926: LISTEN → SYN-RECEIVED",
        "trace    0.833914 out 10.0.0.2:8080 → 10.0.0.1:51926 TCP [SYN,ACK] seq=3819143178 ack=2493774795 win=65535 len=0 mss=1460 wscale=1",
        "trace    0.834276 in  10.0.0.1:51926 → 10.0.0.2:8080 TCP [PSH,ACK] seq=2493774795 ack=3819143179 win=63 len=194",
        "[2026-12-03T08:27:37Z INFO  stack::server::conn] conn 1 http \"GET /echo HTTP/1.1\" -> 101 Switching Protocols: now WebSocket",
    ];

    #[test]
    fn a_real_trace_becomes_arrows_with_relative_numbers_and_notes() {
        let text = render(&HANDSHAKE);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 7, "{text}");
        assert!(rows[0].contains("10.0.0.1:51926") && rows[0].ends_with("10.0.0.2:8080"));
        assert!(
            rows[1].contains("|--[SYN] seq=0 mss=1460 wscale=10---"),
            "{text}"
        );
        assert!(rows[1].ends_with("->|"), "{text}");
        assert!(rows[2].ends_with("|  LISTEN → SYN-RECEIVED"), "{text}");
        assert!(
            rows[3].contains("|<-[SYN,ACK] seq=0 ack=1 mss=1460 wscale=1--"),
            "{text}"
        );
        assert!(rows[4].contains("[PSH,ACK] seq=1 ack=1 len=194"), "{text}");
        assert!(
            rows[5].contains("|==GET /echo HTTP/1.1=====") && rows[5].ends_with("=>|"),
            "{text}"
        );
        assert!(
            rows[6].contains("|<=101 Switching Protocols: now WebSocket===")
                && rows[6].ends_with("=|"),
            "{text}"
        );
        // Every row has its bars in the same columns.
        let bars: Vec<usize> = rows[1..].iter().map(|r| r.find('|').unwrap()).collect();
        assert!(bars.iter().all(|&b| b == bars[0]), "{text}");
    }

    #[test]
    fn lost_segments_stop_short_of_the_other_side() {
        let text = render(&[
            "lost     0.001000 in  10.0.0.1:49154 → 10.0.0.2:8080 TCP [SYN] seq=100 win=65535 len=0 mss=1460",
            "trace    1.001000 in  10.0.0.1:49154 → 10.0.0.2:8080 TCP [SYN] seq=100 win=65535 len=0 mss=1460",
            "trace    1.001000 out 10.0.0.2:8080 → 10.0.0.1:49154 TCP [SYN,ACK] seq=7 ack=101 win=65535 len=0",
            "lost     1.002000 out 10.0.0.2:8080 → 10.0.0.1:49154 TCP [SYN,ACK] seq=7 ack=101 win=65535 len=0",
        ]);
        let rows: Vec<&str> = text.lines().collect();
        assert!(
            rows[1].contains("|--[SYN] seq=0 mss=1460---") && rows[1].ends_with("-X |"),
            "{text}"
        );
        assert!(rows[2].ends_with("->|"), "{text}");
        assert!(
            rows[4].contains("| X-[SYN,ACK] seq=0 ack=1---") && rows[4].ends_with("-|"),
            "{text}"
        );
        assert!(
            rows.iter()
                .all(|r| r.chars().count() == rows[1].chars().count() || !r.contains('|'))
        );
    }

    /// Two connections at once, as the Socket.IO client opens them (a polling request and a
    /// WebSocket), their lines interleaved.
    const TWO: [&str; 10] = [
        "trace    0.100000 in  10.0.0.1:40000 → 10.0.0.2:8080 TCP [SYN] seq=1000 win=64240 len=0 mss=1460",
        "[2026-12-03T08:27:37Z INFO  stack::net::admission] conn 1 10.0.0.1:40000: LISTEN → SYN-RECEIVED",
        "trace    0.100010 out 10.0.0.2:8080 → 10.0.0.1:40000 TCP [SYN,ACK] seq=5000 ack=1001 win=65535 len=0 mss=1460",
        "trace    0.100020 in  10.0.0.1:40002 → 10.0.0.2:8080 TCP [SYN] seq=900000 win=64240 len=0 mss=1460",
        "[2026-12-03T08:27:37Z INFO  stack::net::admission] conn 2 10.0.0.1:40002: LISTEN → SYN-RECEIVED",
        "trace    0.100030 out 10.0.0.2:8080 → 10.0.0.1:40002 TCP [SYN,ACK] seq=70000 ack=900001 win=65535 len=0 mss=1460",
        "trace    0.100040 in  10.0.0.1:40000 → 10.0.0.2:8080 TCP [PSH,ACK] seq=1001 ack=5001 win=63 len=120",
        "trace    0.100050 in  10.0.0.1:40002 → 10.0.0.2:8080 TCP [PSH,ACK] seq=900001 ack=70001 win=63 len=194",
        "[2026-12-03T08:27:37Z INFO  stack::server::conn] conn 1 http \"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\" -> 200 OK",
        "[2026-12-03T08:27:37Z INFO  stack::server::conn] conn 2 http \"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\" -> 101 Switching Protocols: now WebSocket",
    ];

    #[test]
    fn several_connections_get_a_ladder_each_with_their_own_relative_numbers() {
        let text = render(&TWO);
        let ladders: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(ladders.len(), 2, "{text}");
        let (first, second) = (ladders[0], ladders[1]);
        assert!(
            first.starts_with("connection 1 of 2: 10.0.0.1:40000 ⇄ 10.0.0.2:8080 (conn 1)\n"),
            "{text}"
        );
        assert!(
            second.starts_with("connection 2 of 2: 10.0.0.1:40002 ⇄ 10.0.0.2:8080 (conn 2)\n"),
            "{text}"
        );
        for ladder in [first, second] {
            let rows: Vec<&str> = ladder.lines().collect();
            assert_eq!(rows.len(), 8, "{ladder}");
            assert!(rows[2].contains("[SYN] seq=0 mss=1460"), "{ladder}");
            assert!(rows[3].ends_with("|  LISTEN → SYN-RECEIVED"), "{ladder}");
            assert!(rows[4].contains("[SYN,ACK] seq=0 ack=1 mss"), "{ladder}");
            assert!(rows[5].contains("[PSH,ACK] seq=1 ack=1 len="), "{ladder}");
        }
        assert!(
            first.contains("len=120") && first.contains("<=200 OK"),
            "{text}"
        );
        assert!(first.contains("transport=polling") && !first.contains("transport=websocket"));
        assert!(second.contains("len=194") && second.contains("<=101 Switching Protocols"));
        assert!(!second.contains("transport=polling"), "{text}");
    }

    #[test]
    fn one_connection_keeps_the_single_ladder_without_a_title() {
        let text = render(&HANDSHAKE);
        assert!(text.starts_with("     time  10.0.0.1:51926"), "{text}");
        assert!(!text.contains("connection 1"), "{text}");
    }

    #[test]
    fn truncated_lines_draw_what_parses_and_never_panic() {
        // Every prefix of every line (a log cut mid-write), and the lines mangled.
        for line in TWO.iter().chain(HANDSHAKE.iter()) {
            for (cut, _) in line.char_indices() {
                render(&[&line[..cut]]);
                render(&[&line[..cut], line]);
            }
            render(&[line.replace("seq=", "seq=-"), line.replace(' ', "")]);
        }
        // A log cut inside its last line still draws every whole line before it.
        let mut cut: Vec<&str> = TWO[..7].to_vec();
        cut.push(&TWO[7][..40]);
        let text = render(&cut);
        assert!(
            text.contains("connection 2 of 2") && text.contains("len=120"),
            "{text}"
        );
    }

    #[test]
    fn other_lines_and_garbage_are_left_out() {
        let text = render(&[
            "listening on 10.0.0.2:8080",
            "trace    0.000002 in  fe80::1 → ff02::2 ICMPv6 len=8",
            "trace nonsense",
            "trace    1.0 in  a → b TCP [SYN] seq=x",
        ]);
        assert_eq!(text, "");
    }
}
