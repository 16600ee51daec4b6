//! `/chat` broadcasts every text message to every open chat connection, the sender included.

use netns_tests::tungstenite::Message;
use netns_tests::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};
use netns_tests::{Netns, Tunws, read_data, require_root, ws_connect};

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn three_clients_each_receive_every_message() {
    require_root!();
    let ns = Netns::new("chat");
    let mut tunws = Tunws::start(&ns, &[]);
    ns.run(|| {
        let mut clients: Vec<_> = (0..3).map(|_| ws_connect("/chat")).collect();
        let sent: Vec<String> = (0..3).map(|i| format!("hello from client {i}")).collect();
        for (ws, text) in clients.iter_mut().zip(&sent) {
            ws.send(Message::text(text.as_str())).expect("send");
        }
        for (i, ws) in clients.iter_mut().enumerate() {
            let mut seen = Vec::new();
            // Messages that are not ours (a join notice, say) are allowed but must not make us
            // miss one of ours: read until all three arrived or the read times out (panic).
            while sent.iter().any(|s| !seen.contains(s)) {
                if let Message::Text(t) = read_data(ws) {
                    let t = t.to_string();
                    assert!(
                        !seen.contains(&t) || !sent.contains(&t),
                        "client {i} got {t:?} twice"
                    );
                    seen.push(t);
                }
            }
        }
        for mut ws in clients {
            ws.close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .expect("close");
            while ws.read().is_ok() {}
        }
    });
    // Proof of life in the server log, as DESIGN.md promises.
    let proc = tunws.proc();
    assert!(
        proc.wait_for_output(
            "connected from 10.0.0.1:",
            std::time::Duration::from_secs(2)
        ),
        "no connection log line"
    );
    assert!(
        proc.wait_for_output("left (1000)", std::time::Duration::from_secs(5)),
        "no `left (1000)` log line"
    );
}

/// `/chat` holds each message whole while it delivers it, so it takes at most 64 KiB whatever
/// `--max-message` says (the bound on its memory per member): one byte more is closed with 1009,
/// and 64 KiB exactly is delivered.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn chat_messages_over_64_kib_are_closed_with_1009() {
    require_root!();
    let ns = Netns::new("chatbig");
    let _tunws = Tunws::start(&ns, &[]);
    ns.run(|| {
        let mut ws = ws_connect("/chat");
        let limit = 64 * 1024;
        ws.send(Message::text("x".repeat(limit))).expect("send");
        match read_data(&mut ws) {
            Message::Text(t) => assert_eq!(t.len(), limit),
            other => panic!("expected the 64 KiB message back, got {other:?}"),
        }
        ws.send(Message::text("x".repeat(limit + 1))).expect("send");
        let code = loop {
            match ws.read() {
                Ok(Message::Close(frame)) => break frame.map(|f| f.code),
                Ok(_) => continue,
                Err(e) => panic!("connection ended without a close frame: {e}"),
            }
        };
        assert_eq!(code, Some(CloseCode::Size));
    });
}

/// Presence is opt-in: a client that says `{"type":"hello","name":...}` gets
/// `{"type":"presence",...}` messages; a plain-text client sees only the chat.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn presence_goes_to_clients_that_said_hello_only() {
    require_root!();
    let ns = Netns::new("chat-presence");
    let _tunws = Tunws::start(&ns, &[]);
    ns.run(|| {
        let text = |ws: &mut netns_tests::Client| match read_data(ws) {
            Message::Text(t) => t.to_string(),
            other => panic!("expected text, got {other:?}"),
        };
        let mut plain = ws_connect("/chat");
        let mut bee = ws_connect("/chat");
        let mut cee = ws_connect("/chat");
        bee.send(Message::text(r#"{"type":"hello","name":"bee"}"#))
            .expect("send");
        let joined = r#"{"count":3,"event":"joined","name":"bee","type":"presence"}"#;
        assert_eq!(text(&mut bee), joined);
        cee.send(Message::text(r#"{"type":"hello","name":"cee"}"#))
            .expect("send");
        let joined = r#"{"count":3,"event":"joined","name":"cee","type":"presence"}"#;
        assert_eq!(text(&mut bee), joined);
        assert_eq!(text(&mut cee), joined);
        // Plain chat still reaches everyone; the plain client's first message is this one.
        plain.send(Message::text("just text")).expect("send");
        for ws in [&mut plain, &mut bee, &mut cee] {
            assert_eq!(text(ws), "just text");
        }
        cee.close(None).expect("close");
        while cee.read().is_ok() {}
        let left = r#"{"count":2,"event":"left","name":"cee","type":"presence"}"#;
        assert_eq!(text(&mut bee), left);
        plain.send(Message::text("still plain")).expect("send");
        assert_eq!(text(&mut plain), "still plain");
    });
}
