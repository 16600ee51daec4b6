//! Polling floods on tunws's `/socket.io/` chat from one client (kernel TCP in the namespace):
//! thousands of requests with made-up session ids, a thousand pipelined POSTs on one session,
//! hundreds of held GETs at once, and a broadcast flood that a silent session cannot keep up
//! with. Each request gets the reference server's precise answer, the sessions not concerned
//! keep working, the silent session is ended by its queue bound ("transport error"), nothing
//! panics and tunws's memory stays bounded.

use netns_tests::{
    Netns, Tunws, connect_tcp, masked_frame, raw_upgrade, read_close_code, require_root, rss_kib,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

const UNKNOWN_SID: &str = r#"{"code":1,"message":"Session ID unknown"}"#;

/// One HTTP/1.1 response read from a keep-alive connection: status code and body.
fn read_response(reader: &mut BufReader<TcpStream>) -> (u16, String) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header line");
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("Content-Length");
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    (status, String::from_utf8(body).expect("UTF-8 body"))
}

fn request(method: &str, query: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "{method} /socket.io/?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// A keep-alive HTTP connection to tunws.
struct Http {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Http {
    fn new() -> Http {
        let stream = connect_tcp();
        Http {
            writer: stream.try_clone().expect("clone stream"),
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, method: &str, query: &str, body: &[u8]) {
        self.writer
            .write_all(&request(method, query, body))
            .expect("send request");
    }

    fn exchange(&mut self, method: &str, query: &str, body: &[u8]) -> (u16, String) {
        self.send(method, query, body);
        read_response(&mut self.reader)
    }
}

/// A polling session: its id and a keep-alive connection for its requests.
struct Session {
    sid: String,
    http: Http,
}

impl Session {
    /// Opens a session; with `join`, also joins the chat (CONNECT to `/`).
    fn open(join: bool) -> Session {
        let mut http = Http::new();
        let (status, body) = http.exchange("GET", "", b"");
        assert_eq!(status, 200, "{body}");
        let sid = body
            .split("\"sid\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no sid in {body}"))
            .to_string();
        let mut session = Session { sid, http };
        if join {
            // The CONNECT answer, then (in the same body or the next) our own `user joined`.
            assert_eq!(session.post(b"40"), (200, "ok".into()));
            let (status, mut body) = session.get();
            assert!(status == 200 && body.starts_with("40{\"sid\":\""), "{body}");
            while !body.contains("user joined") {
                let (status, more) = session.get();
                assert_eq!(status, 200, "{more}");
                body = more;
            }
        }
        session
    }

    fn query(&self) -> String {
        format!("&sid={}", self.sid)
    }

    fn post(&mut self, body: &[u8]) -> (u16, String) {
        let query = self.query();
        self.http.exchange("POST", &query, body)
    }

    fn get(&mut self) -> (u16, String) {
        let query = self.query();
        self.http.exchange("GET", &query, b"")
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn polling_floods_get_precise_answers_and_disturb_no_one() {
    require_root!();
    let ns = Netns::new("sio-flood");
    let mut tunws = Tunws::start(&ns, &[]);
    let pid = tunws.proc().pid();
    let rss = ns.run(move || {
        // The silent session joins first, so the active one has no presence to read later.
        let mut silent = Session::open(true);
        // A WebSocket session that joins and then never reads.
        let mut silent_ws = raw_upgrade("/socket.io/?EIO=4&transport=websocket");
        silent_ws
            .write_all(&masked_frame(0x81, b"40"))
            .expect("send CONNECT");
        let mut active = Session::open(true);
        let rss_start = rss_kib(pid).expect("tunws RSS");

        // 2,000 GETs and POSTs with made-up session ids, pipelined on one connection: each is
        // refused on its own with the reference answer, and the connection stays usable.
        let mut http = Http::new();
        for i in 0..1000 {
            http.send("GET", &format!("&sid=made-up-{i}"), b"");
            http.send("POST", &format!("&sid=made-up-{i}"), b"3");
        }
        for i in 0..2000 {
            let (status, body) = read_response(&mut http.reader);
            assert_eq!((status, body.as_str()), (400, UNKNOWN_SID), "request {i}");
        }

        // 1,000 pipelined POSTs on one session (pongs): every one is taken.
        let mut flooder = Session::open(false);
        let query = flooder.query();
        for _ in 0..1000 {
            flooder.http.send("POST", &query, b"3");
        }
        for i in 0..1000 {
            let answer = read_response(&mut flooder.http.reader);
            assert_eq!(answer, (200, "ok".into()), "POST {i}");
        }

        // 300 sessions, each with a GET held on its own connection.
        let mut holders: Vec<Session> = (0..300).map(|_| Session::open(false)).collect();
        for holder in &mut holders {
            let query = holder.query();
            holder.http.send("GET", &query, b"");
        }
        // A second GET on a session whose GET is held: 400, and that session ends (the held
        // GET is answered with the close packet).
        let mut second = Http::new();
        let (status, _) = second.exchange("GET", &holders[0].query(), b"");
        assert_eq!(status, 400);
        assert_eq!(
            read_response(&mut holders[0].http.reader),
            (200, "1".into())
        );

        // Meanwhile the chat works for the active session: a message comes back to it.
        let (status, _) = active.post(b"42[\"chat message\",\"still here\"]");
        assert_eq!(status, 200);
        let (status, body) = active.get();
        assert_eq!(
            (status, body.as_str()),
            (200, r#"42["chat message","still here","anonymous"]"#)
        );

        // The holders give up (their connections close): their sessions end, and a later GET
        // on one of them is refused.
        let ended: Vec<String> = holders.iter().map(Session::query).collect();
        drop(holders);
        std::thread::sleep(std::time::Duration::from_millis(500));
        let mut late = Http::new();
        for query in &ended {
            let (status, body) = late.exchange("GET", query, b"");
            assert_eq!((status, body.as_str()), (400, UNKNOWN_SID), "{query}");
        }

        // A broadcast flood: 40 chat messages of 60,000 bytes (2.4 MB). The active session
        // takes each one; the silent polling session never polls, so its queue reaches the 1 MiB
        // bound and the session is ended instead of growing; the silent WebSocket fills its TCP
        // window, then its 1 MiB output bound, and is closed with 1008.
        let text = "x".repeat(60_000);
        let packet = format!("42[\"chat message\",\"{text}\"]");
        let expected = format!("42[\"chat message\",\"{text}\",\"anonymous\"]");
        for i in 0..40 {
            assert_eq!(active.post(packet.as_bytes()), (200, "ok".into()), "{i}");
            let (status, body) = active.get();
            assert_eq!(status, 200, "message {i}");
            // Its message, whole, and perhaps (before or after it) the presence of a silent
            // session that ended.
            let (mine, others): (Vec<&str>, Vec<&str>) =
                body.split('\x1e').partition(|p| *p == expected);
            assert_eq!(mine.len(), 1, "message {i}: {} bytes", body.len());
            for other in others {
                assert!(
                    other.starts_with(r#"42["user left""#),
                    "message {i}: {other}"
                );
            }
        }
        assert_eq!(silent.get(), (400, UNKNOWN_SID.into()));
        let rss = rss_kib(pid).expect("tunws RSS") - rss_start;
        assert_eq!(
            read_close_code(&mut silent_ws).expect("close frame"),
            Some(1008)
        );
        rss
    });
    let log = tunws.output();
    assert!(!log.contains("panicked"), "{log}");
    // Both silent sessions (polling and WebSocket) ended for their queue bound.
    assert_eq!(log.matches("left: transport error").count(), 2, "{log}");
    // 300 held connections with their buffers and two silent sessions' bounded queues
    // (measured: ~4.5 MiB).
    assert!(rss < 24 * 1024, "tunws RSS grew by {rss} KiB");
    println!("tunws RSS growth over the floods: {rss} KiB");
}
