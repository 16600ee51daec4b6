//! The `/trace` route: a WebSocket per viewer. The viewer sends `watch TOKEN` (its page's
//! token; in all scope plain `watch` will do) and gets a `hello` event, then its events as
//! JSON arrays in text messages; `pcap` asks for the packets it was shown as a pcap file, sent
//! back as one binary message. Anything else is answered with close 1008 (policy violation).
//!
//! Events are pumped from the [`Tap`] once per server turn ([`App::poll`]), only while the
//! viewer's own send queue is below [`ROOM`]: a viewer that does not read stops receiving,
//! its events pile up in the tap's bounded queue and are then counted as lost.

use std::collections::HashMap;
use std::net::SocketAddr;

use ws::{CloseCode, MessageKind};

use super::Tap;
use crate::ConnId;
use crate::server::{App, Outbox};

/// Bytes queued on a viewer's socket above which no more events are moved to it.
pub const ROOM: usize = 64 * 1024;
/// Size of one message of events.
const BATCH_BYTES: usize = 16 * 1024;

/// The `/trace` app over a [`Tap`].
pub struct TraceApp {
    tap: Tap,
    /// Open trace sockets and their remote endpoints.
    peers: HashMap<ConnId, SocketAddr>,
    /// Reused list of viewers to pump.
    ready: Vec<ConnId>,
}

impl TraceApp {
    /// The route's app, sharing `tap` with the [`super::layer::Watch`] layer.
    pub fn new(tap: Tap) -> Self {
        TraceApp {
            tap,
            peers: HashMap::new(),
            ready: Vec::new(),
        }
    }
}

impl App for TraceApp {
    fn on_open(&mut self, _out: &mut Outbox<'_>, client: ConnId, peer: SocketAddr) {
        self.peers.insert(client, peer);
    }

    fn on_message(&mut self, out: &mut Outbox<'_>, client: ConnId, kind: MessageKind, data: &[u8]) {
        let Some(&peer) = self.peers.get(&client) else {
            return;
        };
        let command = match (kind, std::str::from_utf8(data)) {
            (MessageKind::Text, Ok(text)) => text.trim(),
            _ => "",
        };
        let (verb, argument) = command.split_once(' ').unwrap_or((command, ""));
        match verb {
            "watch" => {
                let token = Some(argument.trim()).filter(|t| !t.is_empty());
                match self.tap.subscribe(client, peer, token) {
                    Ok(hello) => {
                        let _ =
                            out.send(client, MessageKind::Text, format!("[{hello}]").as_bytes());
                    }
                    Err(e) => out.close(client, CloseCode::POLICY, &e.to_string()),
                }
            }
            "pcap" => {
                let file = self.tap.pcap(client);
                let _ = out.send(client, MessageKind::Binary, &file);
            }
            _ => out.close(
                client,
                CloseCode::POLICY,
                "expected `watch TOKEN` or `pcap`",
            ),
        }
    }

    fn max_message(&self) -> Option<u64> {
        // Commands are short.
        Some(256)
    }

    fn on_close(&mut self, _out: &mut Outbox<'_>, client: ConnId, _code: CloseCode) {
        if let Some(peer) = self.peers.remove(&client) {
            self.tap.unsubscribe(client, peer);
        }
    }

    fn poll(&mut self, out: &mut Outbox<'_>) {
        if !self.tap.is_watched() {
            return;
        }
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        self.tap.ready_viewers(&mut ready);
        for &client in &ready {
            let mut blocked = false;
            loop {
                if out.queued(client).is_none_or(|q| q >= ROOM) {
                    blocked = true;
                    break;
                }
                let Some(batch) = self.tap.take_batch(client, BATCH_BYTES) else {
                    break;
                };
                if out
                    .send(client, MessageKind::Text, batch.as_bytes())
                    .is_err()
                {
                    break;
                }
            }
            self.tap.set_blocked(client, blocked);
        }
        self.ready = ready;
    }

    fn wants_poll(&self) -> bool {
        self.tap.has_ready_viewers()
    }
}
