//! The trace events, one JSON object each; the schema is documented in docs/TRACE.md and
//! every field written here is listed there. Events are rendered once, when they happen, and
//! the same text goes to every viewer allowed to see them.

use std::net::SocketAddr;

use super::flow::TcpState;
use super::json::{Object, hex};
use super::stream::{Frame, Head};
use crate::packet::Segment;

/// Which way a packet went, as the ladder draws it: `in` from the peer (left) to tunws
/// (right), `out` back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    In,
    Out,
}

impl Dir {
    fn name(self) -> &'static str {
        match self {
            Dir::In => "in",
            Dir::Out => "out",
        }
    }
}

/// What every event of one packet shares: when, which connection, which way, which packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// Stack clock, microseconds.
    pub t: i64,
    pub conn: u64,
    pub dir: Dir,
    /// Packet number (in the order the watch layer saw them), the key to the bytes kept for
    /// the pcap export.
    pub pkt: u64,
}

/// Header bytes shown in the packet view: IPv6 (40) + TCP with all options (60).
const MAX_HEADER_HEX: usize = 100;

fn start(kind: &str, stamp: Stamp) -> Object {
    let mut obj = Object::new();
    obj.str("type", kind)
        .num("t", stamp.t)
        .num("conn", stamp.conn)
        .str("dir", stamp.dir.name())
        .num("pkt", stamp.pkt);
    obj
}

/// A TCP segment. `base`/`ack_base` are what seq and ack are made relative to (the ISNs).
pub(crate) fn tcp(
    stamp: Stamp,
    seg: &Segment,
    packet: &[u8],
    base: u32,
    ack_base: Option<u32>,
    retransmission: bool,
    dropped: bool,
) -> String {
    let mut obj = start("tcp", stamp);
    // As std writes endpoints: an IPv6 address in brackets.
    obj.str("src", &SocketAddr::from(seg.src).to_string())
        .str("dst", &SocketAddr::from(seg.dst).to_string())
        .strs("flags", flag_names(seg))
        .num("seq", seg.seq.wrapping_sub(base))
        .num("seq_abs", seg.seq);
    if let Some(ack) = seg.ack {
        // Before the peer's ISN is known (a late join), ack is shown absolute.
        obj.num("ack", ack.wrapping_sub(ack_base.unwrap_or(0)))
            .num("ack_abs", ack);
    }
    obj.num("win", seg.window)
        .num("len", seg.payload_len as u64);
    let mut opts = Object::new();
    if let Some(mss) = seg.options.mss {
        opts.num("mss", mss);
    }
    if let Some(shift) = seg.options.wscale {
        opts.num("wscale", shift);
    }
    if seg.options.sack_permitted {
        opts.bool("sack_perm", true);
    }
    let blocks: Vec<String> = seg
        .options
        .sack
        .iter()
        .flatten()
        .map(|(l, r)| {
            let b = ack_base.unwrap_or(0);
            format!("[{},{}]", l.wrapping_sub(b), r.wrapping_sub(b))
        })
        .collect();
    if !blocks.is_empty() {
        opts.raw("sack", &format!("[{}]", blocks.join(",")));
    }
    if let Some((tsval, tsecr)) = seg.options.timestamp {
        opts.raw("ts", &format!("[{tsval},{tsecr}]"));
    }
    obj.raw("opts", &opts.end())
        .bool("retrans", retransmission)
        .bool("dropped", dropped);
    let mut ip = Object::new();
    ip.num("v", seg.ip.version)
        .num("hlen", seg.ip.header_len as u64)
        .num("total", seg.ip.total_len as u64)
        .num("ttl", seg.ip.ttl)
        .num("id", seg.ip.ident)
        .bool("df", seg.ip.dont_frag);
    obj.raw("ip", &ip.end())
        .num("tcp_hlen", seg.header_len as u64)
        .str("hdr", &hex(&packet[..seg.payload_at.min(MAX_HEADER_HEX)]));
    obj.end()
}

/// The flags set, in the order the header carries them, as Wireshark names them.
fn flag_names(seg: &Segment) -> impl Iterator<Item = &'static str> {
    [
        (seg.syn, "SYN"),
        (seg.ack.is_some(), "ACK"),
        (seg.fin, "FIN"),
        (seg.rst, "RST"),
        (seg.psh, "PSH"),
        (seg.urg, "URG"),
        (seg.ece, "ECE"),
        (seg.cwr, "CWR"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
}

/// tunws's TCP state changed (inferred from the segments).
pub(crate) fn state(stamp: Stamp, from: TcpState, to: TcpState) -> String {
    start("state", stamp)
        .str("from", from.name())
        .str("to", to.name())
        .end()
}

fn head_fields(obj: &mut Object, head: &Head) {
    let pairs: Vec<String> = head
        .headers
        .iter()
        .map(|(n, v)| {
            let mut s = String::from("[");
            super::json::push_string(&mut s, n);
            s.push(',');
            super::json::push_string(&mut s, v);
            s.push(']');
            s
        })
        .collect();
    obj.str("line", &head.start_line)
        .raw("headers", &format!("[{}]", pairs.join(",")));
}

/// An HTTP request head; for a WebSocket upgrade, the `Sec-WebSocket-Accept` its key calls
/// for (RFC 6455 §4.2.2: base64(SHA-1(key + GUID))).
pub(crate) fn http_request(stamp: Stamp, head: &Head) -> String {
    let mut obj = start("http", stamp);
    obj.str("kind", "request");
    head_fields(&mut obj, head);
    if let Some(key) = head.header("sec-websocket-key") {
        let accept = ws::handshake::accept_key(key.as_bytes());
        obj.str("ws_key", key)
            .str("ws_accept", core::str::from_utf8(&accept).unwrap_or(""));
    }
    obj.end()
}

/// An HTTP response head.
pub(crate) fn http_response(stamp: Stamp, head: &Head) -> String {
    let mut obj = start("http", stamp);
    obj.str("kind", "response")
        .num("status", head.status().unwrap_or(0));
    head_fields(&mut obj, head);
    if let Some(accept) = head.header("sec-websocket-accept") {
        obj.str("ws_accept", accept);
    }
    obj.end()
}

/// The RFC 6455 §11.8 name of an opcode.
pub(crate) fn opcode_name(opcode: u8) -> &'static str {
    match opcode {
        0 => "continuation",
        1 => "text",
        2 => "binary",
        8 => "close",
        9 => "ping",
        10 => "pong",
        _ => "reserved",
    }
}

/// A WebSocket frame with the first bytes of its payload (unmasked).
pub(crate) fn ws_frame(stamp: Stamp, frame: &Frame) -> String {
    let mut obj = start("ws", stamp);
    obj.bool("fin", frame.fin)
        .num("rsv", frame.rsv)
        .num("opcode", frame.opcode)
        .str("op", opcode_name(frame.opcode))
        .bool("masked", frame.masking_key.is_some());
    if let Some(key) = frame.masking_key {
        obj.str("key", &hex(&key));
    }
    obj.num("len", frame.payload_len)
        .str("hdr", &hex(&frame.header))
        .str("head_hex", &hex(&frame.preview))
        .str("head_text", &String::from_utf8_lossy(&frame.preview));
    if frame.opcode == 8 {
        if let [hi, lo, reason @ ..] = frame.preview.as_slice() {
            obj.num("close_code", u16::from_be_bytes([*hi, *lo]))
                .str("close_reason", &String::from_utf8_lossy(reason));
        }
    }
    obj.end()
}

/// The decoder of one direction stopped (the TCP rows go on).
pub(crate) fn decode_stopped(stamp: Stamp, reason: &str) -> String {
    start("note", stamp).str("text", reason).end()
}

/// The impairment dropped an outgoing packet after the stack sent it (it is in the pcap).
pub(crate) fn dropped_out(stamp: Stamp) -> String {
    start("drop", stamp).str("reason", "impairment").end()
}

/// Events were lost for this viewer: its queue was full.
pub(crate) fn lost(count: u64) -> String {
    Object::new().str("type", "lost").num("count", count).end()
}

/// The first message on a trace socket: the scope the viewer got, and whether it took over a
/// lingering viewer's recording (`resumed`).
pub(crate) fn hello(scope: &str, token: Option<&str>, resumed: bool) -> String {
    let mut obj = Object::new();
    obj.str("type", "hello")
        .num("version", 1u8)
        .str("scope", scope)
        .bool("resumed", resumed);
    if let Some(token) = token {
        obj.str("token", token);
    }
    obj.end()
}
