//! `/chat`: every text message goes to every open `/chat` connection, the sender included.
//!
//! Presence, for clients that ask for it: a client that sends `{"type":"hello","name":"ada"}`
//! is named (not broadcast as chat) and from then on gets presence messages
//! `{"type":"presence","event":"joined"|"left","name":"ada","count":N}` (N: `/chat`
//! connections now) when a named client says hello or leaves. Clients that only send plain text
//! never get them, so they see exactly the chat as before.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use serde_json::{Value, json};
use stack::ConnId;
use stack::server::{App, Outbox};
use ws::{CloseCode, MessageKind};

use crate::socketio_chat::MAX_NAME;

/// The chat room: the set of open `/chat` connections.
#[derive(Debug, Default)]
pub struct Chat {
    members: BTreeSet<ConnId>,
    /// Clients that said hello, with their names: they get presence messages.
    named: BTreeMap<ConnId, String>,
}

impl Chat {
    /// Tells every named client that `name` joined or left.
    fn presence(&self, out: &mut Outbox<'_>, event: &str, name: &str) {
        let message = json!({
            "type": "presence", "event": event, "name": name, "count": self.members.len(),
        })
        .to_string();
        for &member in self.named.keys() {
            if let Err(e) = out.send(member, MessageKind::Text, message.as_bytes()) {
                log::warn!("client {member}: presence message not delivered: {e}");
            }
        }
    }
}

/// The name in a `{"type":"hello","name":...}` message, trimmed and cut to [`MAX_NAME`]
/// characters; `None` for any other message (which is chat).
fn hello_name(data: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(data).ok()?;
    if value.get("type")?.as_str()? != "hello" {
        return None;
    }
    let name: String = value
        .get("name")?
        .as_str()?
        .trim()
        .chars()
        .take(MAX_NAME)
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The largest chat message: a room holds each message whole while it is delivered, so a
/// small limit keeps memory per member small (16 MiB messages are for `/echo`, which streams).
pub const MAX_CHAT_MESSAGE: u64 = 64 * 1024;

impl App for Chat {
    fn max_message(&self) -> Option<u64> {
        Some(MAX_CHAT_MESSAGE)
    }

    fn on_open(&mut self, _out: &mut Outbox<'_>, client: ConnId, _peer: SocketAddr) {
        self.members.insert(client);
    }

    fn on_message(&mut self, out: &mut Outbox<'_>, client: ConnId, kind: MessageKind, data: &[u8]) {
        if kind != MessageKind::Text {
            // The room is text only (the page shows text); 1003 is RFC 6455's "cannot accept
            // this data type".
            out.close(
                client,
                CloseCode::UNSUPPORTED,
                "chat accepts text messages only",
            );
            return;
        }
        if let Some(name) = hello_name(data) {
            self.named.insert(client, name.clone());
            self.presence(out, "joined", &name);
            return;
        }
        for &member in &self.members {
            // A member that cannot keep up is closed by the server (1008) and leaves the room
            // in on_close; the others still get the message.
            if let Err(e) = out.send(member, MessageKind::Text, data) {
                log::warn!("client {member}: chat message not delivered: {e}");
            }
        }
    }

    fn on_close(&mut self, out: &mut Outbox<'_>, client: ConnId, _code: CloseCode) {
        self.members.remove(&client);
        if let Some(name) = self.named.remove(&client) {
            self.presence(out, "left", &name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_hello_object_with_a_name_is_a_hello() {
        let cases: [(&[u8], Option<&str>); 7] = [
            (br#"{"type":"hello","name":"ada"}"#, Some("ada")),
            (br#"{"type":"hello","name":"  ada  "}"#, Some("ada")),
            (br#"{"type":"hello","name":""}"#, None),
            (br#"{"type":"hello"}"#, None),
            (br#"{"type":"chat","name":"ada"}"#, None),
            (b"hello", None),
            (br#"["hello","ada"]"#, None),
        ];
        for (data, name) in cases {
            assert_eq!(
                hello_name(data).as_deref(),
                name,
                "{}",
                String::from_utf8_lossy(data)
            );
        }
        let long = format!(r#"{{"type":"hello","name":"{}"}}"#, "é".repeat(40));
        assert_eq!(
            hello_name(long.as_bytes()).map(|n| n.chars().count()),
            Some(MAX_NAME)
        );
    }
}
