//! `/socket.io/`: the chat as Socket.IO events, with presence.
//!
//! - CONNECT auth `{"name": "..."}` names the user (`anonymous` without one; at most
//!   [`MAX_NAME`] characters).
//! - `user joined` / `user left` go to everyone with `{"name": ..., "count": N}` (N: users
//!   now in the room).
//! - `chat message` (a string) goes to everyone, the sender included (`io.emit`), as
//!   `chat message`, text, name: clients that only read the first argument see the plain
//!   Socket.IO chat example.
//! - `ping` with an ack is acknowledged at once (the page shows the round trip as latency).
//! - Rooms: `join` (a room name, ack'd once joined) adds the socket to a room; `room message`
//!   (room, text) goes to that room's members as `chat message`, text, name (`io.to(room)`).

use std::collections::HashMap;

use serde_json::{Value, json};
use sio::socket::{BroadcastOptions, Emit, Event};
use stack::server::{Io, SocketIoApp};
use ws::Instant;

/// Longest user name kept, in characters.
pub const MAX_NAME: usize = 32;

/// Longest chat message relayed, in bytes (as `/chat`).
pub const MAX_TEXT: usize = 64 * 1024;

/// The room: a name for each connected socket.
#[derive(Debug, Default)]
pub struct SocketIoChat {
    names: HashMap<String, String>,
}

impl SocketIoChat {
    fn presence(&self, io: &mut Io, event: &str, name: &str) {
        let body = json!({ "name": name, "count": self.names.len() });
        io.broadcast("/", &BroadcastOptions::all(), Emit::event(event, [body]));
    }
}

impl SocketIoApp for SocketIoChat {
    fn on_event(&mut self, io: &mut Io, event: Event, _now: Instant) {
        match event {
            Event::Connection { socket, auth, .. } => {
                let name = auth
                    .as_ref()
                    .and_then(|auth| auth.get("name"))
                    .and_then(Value::as_str)
                    .map(|n| n.trim().chars().take(MAX_NAME).collect::<String>())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "anonymous".into());
                log::info!("socket.io {socket} joined as {name:?}");
                self.names.insert(socket, name.clone());
                self.presence(io, "user joined", &name);
            }
            Event::Event { socket, emit, ack } => {
                let name = self.names.get(&socket).cloned().unwrap_or_default();
                match (emit.data.first().and_then(Value::as_str), ack) {
                    (Some("chat message"), _) => {
                        let Some(text) = emit.data.get(1).and_then(Value::as_str) else {
                            return;
                        };
                        if text.len() > MAX_TEXT {
                            return;
                        }
                        let message = Emit::event("chat message", [json!(text), json!(name)]);
                        io.broadcast("/", &BroadcastOptions::all(), message);
                    }
                    (Some("ping"), Some(id)) => io.ack(&socket, id, Emit::args([])),
                    (Some("join"), ack) => {
                        let Some(room) = emit.data.get(1).and_then(Value::as_str) else {
                            return;
                        };
                        io.join(&socket, room);
                        if let Some(id) = ack {
                            io.ack(&socket, id, Emit::args([]));
                        }
                    }
                    (Some("room message"), _) => {
                        let (Some(room), Some(text)) = (
                            emit.data.get(1).and_then(Value::as_str),
                            emit.data.get(2).and_then(Value::as_str),
                        ) else {
                            return;
                        };
                        if text.len() > MAX_TEXT {
                            return;
                        }
                        let message = Emit::event("chat message", [json!(text), json!(name)]);
                        io.broadcast("/", &BroadcastOptions::to(room), message);
                    }
                    _ => {}
                }
            }
            Event::Disconnect { socket, reason, .. } => {
                if let Some(name) = self.names.remove(&socket) {
                    log::info!("socket.io {socket} ({name:?}) left: {reason}");
                    self.presence(io, "user left", &name);
                }
            }
            Event::Ack { .. } | Event::AckTimeout { .. } => {}
        }
    }
}
