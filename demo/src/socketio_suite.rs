//! `--socketio-test`: the server the official Socket.IO v5 test suite expects
//! (socketio/socket.io, docs/socket.io-protocol/v5-current.md, "Test suite"): namespaces `/`
//! and `/custom`; on connection, an `auth` event carrying the CONNECT payload (`{}` without
//! one); `message` answered with `message-back` and the same arguments; `message-with-ack`
//! acknowledged with its arguments.

use serde_json::{Map, Value};
use sio::engine;
use sio::socket::{self, Emit, Event};
use stack::server::{Io, SocketIoApp};
use ws::{Duration, Instant};

/// The suite's server settings.
pub fn config() -> socket::Config {
    socket::Config {
        engine: engine::Config {
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(200),
            max_payload: 1_000_000,
            max_buffered: 1 << 20,
        },
        connect_timeout: Duration::from_secs(1),
        max_attachments: socket::MAX_ATTACHMENTS,
    }
}

/// The suite's application.
#[derive(Debug, Default)]
pub struct SuiteApp;

impl SocketIoApp for SuiteApp {
    fn on_event(&mut self, io: &mut Io, event: Event, _now: Instant) {
        match event {
            Event::Connection { socket, auth, .. } => {
                log::info!("socket.io {socket} connected");
                let auth = Value::Object(auth.unwrap_or_else(Map::new));
                io.emit(&socket, Emit::event("auth", [auth]));
            }
            Event::Event {
                socket,
                mut emit,
                ack,
            } => match (emit.data[0].as_str(), ack) {
                (Some("message"), _) => {
                    emit.data[0] = Value::String("message-back".into());
                    io.emit(&socket, emit);
                }
                (Some("message-with-ack"), Some(id)) => {
                    emit.data.remove(0);
                    io.ack(&socket, id, emit);
                }
                _ => {}
            },
            Event::Disconnect { socket, reason, .. } => {
                log::info!("socket.io {socket} left: {reason}");
            }
            Event::Ack { .. } | Event::AckTimeout { .. } => {}
        }
    }
}
