//! The counts tunws answers on `GET /stats`, and waiting for them to settle (leak checks).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use crate::connect_tcp;

/// The counts a tunws started with `--stats` answers on `GET /stats` (one flat JSON object of
/// integers), by field name. Call inside [`Netns::run`]; the asking connection is counted in
/// them (see the stats note in docs).
///
/// The request is keep-alive and the client closes first once the body is read, so the TIME-WAIT
/// state stays on the kernel side: polling the counts does not itself fill the stack's
/// `draining` count.
pub fn tunws_stats() -> HashMap<String, u64> {
    let mut stream = connect_tcp();
    stream
        .write_all(b"GET /stats HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n")
        .expect("send GET /stats");
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    let body = loop {
        let n = stream.read(&mut buf).expect("read the /stats answer");
        assert!(
            n > 0,
            "connection closed during the /stats answer: {}",
            String::from_utf8_lossy(&response)
        );
        response.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&response).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        assert!(
            head.starts_with("HTTP/1.1 200 "),
            "GET /stats (is tunws started with --stats?): {text}"
        );
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("Content-Length in the /stats answer");
        if body.len() >= length {
            break body.to_string();
        }
    };
    body.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(',')
        .filter_map(|field| {
            let (name, value) = field.split_once(':')?;
            Some((
                name.trim().trim_matches('"').to_string(),
                value.trim().parse().ok()?,
            ))
        })
        .collect()
}

/// Gauges that must return to their baseline once vanished peers are gone (stats note).
pub const STATS_GAUGES: [&str; 5] = [
    "connections",
    "handshaking",
    "sources",
    "server_connections",
    "websockets",
];

/// True when `now` is back at `baseline`: every gauge equal, and no more sockets allocated than
/// the baseline plus the pool's spare listeners (closed sockets kept for reuse).
pub fn stats_at_baseline(now: &HashMap<String, u64>, baseline: &HashMap<String, u64>) -> bool {
    STATS_GAUGES.iter().all(|g| now.get(*g) == baseline.get(*g))
        && now["sockets"] <= baseline["sockets"] + baseline["listeners"]
}

/// Polls `/stats` every 200 ms, up to 15 s (call inside [`Netns::run`]), until the counts
/// settle: until they stop changing and nothing is draining (no `baseline` given), or until they
/// are back at `baseline`; panics with both if they do not.
pub fn settled_stats(baseline: Option<&HashMap<String, u64>>) -> HashMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = tunws_stats();
    loop {
        thread::sleep(Duration::from_millis(200));
        let now = tunws_stats();
        let done = match &baseline {
            Some(b) => stats_at_baseline(&now, b),
            None => {
                STATS_GAUGES.iter().all(|g| now.get(*g) == last.get(*g)) && now["draining"] == 0
            }
        };
        if done {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "stats did not settle{}:\nnow      {now:?}\nbaseline {baseline:?}",
            if baseline.is_some() {
                " back to the baseline"
            } else {
                ""
            }
        );
        last = now;
    }
}
