//! Plain HTTP on the WebSocket port: the page, the raw upgrade, and every refusal with its status.

use netns_tests::{Netns, TUNWS_ADDR, Tunws, http_exchange, http_exchange_at, require_root};

/// Status code of the first response in `response` (panics with the response if there is none).
fn status_of(response: &str) -> u16 {
    response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP/1.1 response: {response:?}"))
}

/// An upgrade request for `path` with the given key, version and method; `extra` is appended
/// to the header block.
fn upgrade_request(method: &str, path: &str, key: &str, version: &str, extra: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {TUNWS_ADDR}:8080\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: {version}\r\nSec-WebSocket-Key: {key}\r\n{extra}\r\n"
    )
    .into_bytes()
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn get_root_serves_the_chat_page() {
    require_root!();
    let ns = Netns::new("page");
    let _tunws = Tunws::start(&ns, &[]);
    let response = ns.run(|| {
        http_exchange(b"GET / HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nConnection: close\r\n\r\n")
    });
    assert_eq!(status_of(&response), 200, "{response}");
    let lower = response.to_ascii_lowercase();
    assert!(lower.contains("content-type: text/html"), "{response}");
    for id in [
        r#"id="status""#,
        r#"id="msg""#,
        r#"id="send""#,
        r#"id="log""#,
    ] {
        assert!(response.contains(id), "page lacks {id}: {response}");
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn page_is_served_over_ipv6_with_addr6() {
    require_root!();
    let ns = Netns::new("ipv6");
    let _tunws = Tunws::start(&ns, &["--addr6", "fd00::2/64"]);
    let response = ns.run(|| {
        let endpoint = "[fd00::2]:8080".parse().unwrap();
        http_exchange_at(
            endpoint,
            b"GET / HTTP/1.1\r\nHost: [fd00::2]:8080\r\nConnection: close\r\n\r\n",
        )
    });
    assert_eq!(status_of(&response), 200, "{response}");
    assert!(response.contains(r#"id="status""#), "{response}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn keep_alive_serves_two_requests_on_one_connection() {
    require_root!();
    let ns = Netns::new("keepalive");
    let _tunws = Tunws::start(&ns, &[]);
    let response = ns.run(|| {
        http_exchange(
            b"GET / HTTP/1.1\r\nHost: 10.0.0.2:8080\r\n\r\nGET /nope HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nConnection: close\r\n\r\n",
        )
    });
    let statuses: Vec<&str> = response
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &response[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "404"], "{response}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn curl_upgrade_gets_101_with_rfc_accept_key() {
    require_root!();
    let ns = Netns::new("curl");
    let _tunws = Tunws::start(&ns, &[]);
    // -N: no buffering; --max-time: curl keeps the upgraded connection open, so it ends by timeout.
    let out = ns
        .command("curl")
        .args([
            "-s",
            "-i",
            "-N",
            "--max-time",
            "3",
            "-H",
            "Connection: Upgrade",
            "-H",
            "Upgrade: websocket",
            "-H",
            "Sec-WebSocket-Version: 13",
            "-H",
            &format!("Sec-WebSocket-Key: {KEY}"),
            "http://10.0.0.2:8080/echo",
        ])
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("HTTP/1.1 101"),
        "curl got: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The accept value for the RFC 6455 §1.3 sample key.
    assert!(text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(lower.contains("upgrade: websocket"), "{text}");
    assert!(lower.contains("connection: upgrade"), "{text}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn every_refusal_gets_its_status() {
    require_root!();
    let ns = Netns::new("refuse");
    let _tunws = Tunws::start(&ns, &[]);
    let huge = format!("X-Filler: {}\r\n", "a".repeat(32 * 1024));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "bad key",
            upgrade_request("GET", "/echo", "not-a-key", "13", ""),
            400,
        ),
        (
            "unknown upgrade path",
            upgrade_request("GET", "/nope", KEY, "13", ""),
            404,
        ),
        (
            "unknown plain path",
            b"GET /nope HTTP/1.1\r\nHost: 10.0.0.2\r\nConnection: close\r\n\r\n".to_vec(),
            404,
        ),
        (
            "POST upgrade",
            upgrade_request("POST", "/echo", KEY, "13", "Content-Length: 0\r\n"),
            405,
        ),
        (
            "version 8",
            upgrade_request("GET", "/echo", KEY, "8", ""),
            426,
        ),
        (
            "huge header",
            upgrade_request("GET", "/echo", KEY, "13", &huge),
            431,
        ),
    ];
    let results = ns.run(move || {
        cases
            .into_iter()
            .map(|(what, req, want)| (what, want, http_exchange(&req)))
            .collect::<Vec<_>>()
    });
    let mut failures = Vec::new();
    for (what, want, response) in &results {
        let got = response
            .strip_prefix("HTTP/1.1 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse::<u16>().ok());
        if got != Some(*want) {
            failures.push(format!(
                "{what}: want {want}, got {:?}",
                response.lines().next()
            ));
        }
        if *want == 426
            && !response
                .to_ascii_lowercase()
                .contains("sec-websocket-version: 13")
        {
            failures.push(format!(
                "{what}: 426 without `Sec-WebSocket-Version: 13`: {response:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
