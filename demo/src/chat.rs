//! `/chat`: every text message goes to every open `/chat` connection, the sender included.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use stack::ConnId;
use stack::server::{App, Outbox};
use ws::{CloseCode, MessageKind};

/// The chat room: the set of open `/chat` connections.
#[derive(Debug, Default)]
pub struct Chat {
    members: BTreeSet<ConnId>,
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
        for &member in &self.members {
            // A member that cannot keep up is closed by the server (1008) and leaves the room
            // in on_close; the others still get the message.
            if let Err(e) = out.send(member, MessageKind::Text, data) {
                log::warn!("client {member}: chat message not delivered: {e}");
            }
        }
    }

    fn on_close(&mut self, _out: &mut Outbox<'_>, client: ConnId, _code: CloseCode) {
        self.members.remove(&client);
    }
}
