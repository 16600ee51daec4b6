//! The counters answered on `GET /stats` (switched on by [`super::ServerConfig::stats`]): one
//! JSON object on one line, so leak checks can compare a baseline with the state after a storm
//! of connections without parsing logs.

use std::fmt::Write as _;

use super::Server;
use crate::{Net, NetStats};

/// What the server itself tracks, next to the stack's [`NetStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerCounts {
    /// Connections the server tracks in any phase (HTTP, WebSocket, closing).
    pub connections: usize,
    /// Of those, open WebSocket sessions.
    pub websockets: usize,
}

/// Renders the counters as one JSON object (field names are documented in docs/SECURITY.md).
pub fn render(net: &NetStats, server: ServerCounts) -> String {
    let fields: [(&str, u64); 30] = [
        ("sockets", net.sockets as u64),
        ("listeners", net.listeners as u64),
        ("connections", net.connections as u64),
        ("established", net.established as u64),
        ("handshaking", net.handshaking as u64),
        ("draining", net.draining as u64),
        ("free", net.free as u64),
        ("sources", net.sources as u64),
        ("rx_buffered", net.rx_buffered as u64),
        ("tx_buffered", net.tx_buffered as u64),
        ("held_packets", net.held_packets as u64),
        ("server_connections", server.connections as u64),
        ("websockets", server.websockets as u64),
        ("refused_per_source", net.refused_per_source),
        ("evicted_half_open", net.evicted_half_open),
        ("dropped_syns", net.dropped_syns),
        ("duplicates", net.duplicates),
        ("gso_rx", net.port.gso_rx),
        ("gso_tx", net.port.gso_tx),
        ("malformed", net.port.malformed),
        ("rx_packets", net.port.rx_packets),
        ("tx_packets", net.port.tx_packets),
        ("dropped", net.port.dropped),
        ("sack_repairs", net.port.recovery.sack_repairs),
        ("fast_retransmits", net.port.recovery.fast_retransmits),
        ("tail_probes", net.port.recovery.tail_probes),
        ("recovery_timeouts", net.port.recovery.timeouts),
        ("stack_retransmits", net.port.recovery.stack_retransmits),
        ("dup_acks_absorbed", net.port.recovery.dup_acks_absorbed),
        ("recovery_connections", net.port.recovery.connections),
    ];
    let mut out = String::with_capacity(512);
    out.push('{');
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "\"{name}\":{value}");
    }
    out.push_str("}\n");
    out
}

impl Server {
    /// The `GET /stats` body: the stack's counters and the server's, as one line of JSON.
    pub fn stats_json(&self, net: &Net) -> String {
        render(
            &net.stats(),
            ServerCounts {
                connections: self.connections(),
                websockets: self.websockets(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::PortStats;

    #[test]
    fn one_line_of_json_with_every_counter() {
        let net = NetStats {
            sockets: 9,
            listeners: 8,
            connections: 1,
            established: 1,
            handshaking: 0,
            sources: 1,
            rx_buffered: 0,
            tx_buffered: 17,
            held_packets: 0,
            refused_per_source: 3,
            evicted_half_open: 0,
            dropped_syns: 2,
            draining: 0,
            free: 0,
            duplicates: 0,
            port: PortStats {
                rx_packets: 5,
                ..PortStats::default()
            },
        };
        let text = render(
            &net,
            ServerCounts {
                connections: 1,
                websockets: 0,
            },
        );
        assert!(text.starts_with("{\"sockets\":9,\"listeners\":8,\"connections\":1,"));
        assert!(text.contains(",\"tx_buffered\":17,"), "{text}");
        assert!(
            text.contains(",\"server_connections\":1,\"websockets\":0,"),
            "{text}"
        );
        assert!(text.contains(",\"refused_per_source\":3,"), "{text}");
        assert!(text.contains(",\"dropped\":0,"), "{text}");
        assert!(text.ends_with(",\"recovery_connections\":0}\n"), "{text}");
        assert!(text.contains(",\"dropped_syns\":2,"), "{text}");
        assert_eq!(text.matches(':').count(), 30);
        assert_eq!(text.lines().count(), 1);
    }
}
