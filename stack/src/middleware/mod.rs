//! Middleware around the device: every packet in and out passes a chain of layers.
//!
//! Observing layers are ordered from the stack side to the wire side: `[trace, pcap]`, and
//! the [`impair::Impair`] stage (loss, reorder, duplicate, delay) sits beyond them on the wire
//! side, run by [`crate::device::Port`] because it needs a timed queue. Outgoing packets run
//! through the chain in order and then the impairment; incoming packets meet the impairment
//! first and the chain in reverse, so pcap and trace show exactly what smoltcp saw and sent
//! (a packet lost on the way in never reaches them; one held on the way in reaches them when
//! it is released; one lost on the way out was still sent by the stack, and is shown).
//!
//! Layers observe: none changes or stops a packet. Dropping, delaying, reordering and
//! duplicating is the impairment's job alone, on the wire side, where a dropped packet is
//! reported to the layers through [`Layer::on_wire_drop`].

pub mod impair;
pub mod pcap;
pub mod trace;

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use smoltcp::time::Instant;

use crate::config::NetConfig;
use crate::packet::Headers;

/// Which way a packet is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the wire (TUN) to the stack.
    Ingress,
    /// From the stack to the wire.
    Egress,
}

/// One middleware layer.
pub trait Layer: Send {
    /// Looks at one whole IP packet, whose headers the port read once into `headers`
    /// ([`crate::packet`]). `now` is the stack's clock.
    fn handle(&mut self, direction: Direction, packet: &[u8], headers: &Headers, now: Instant);

    /// Sees a packet the impairment stage dropped: on the way in before any layer saw it, on
    /// the way out after every layer passed it. Only observers care; the default ignores it.
    fn on_wire_drop(
        &mut self,
        _direction: Direction,
        _packet: &[u8],
        _headers: &Headers,
        _now: Instant,
    ) {
    }

    /// Pushes buffered output (pcap records) to its destination.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Whether [`Layer::handle`] would read the packet's bytes now (and so must see every
    /// checksum complete). True unless the layer says otherwise, as one that records only
    /// while someone watches does.
    fn reads_packets(&self) -> bool {
        true
    }
}

/// The layers around one device, stack side first.
#[derive(Default)]
pub struct Chain {
    layers: Vec<Box<dyn Layer>>,
}

impl Chain {
    /// An empty chain: every packet passes untouched.
    pub fn new() -> Self {
        Chain::default()
    }

    /// Builds `[watch, trace, pcap]` from the configuration, each only when switched on. The
    /// impairment is not a layer: see [`impair::ImpairConfig::from_net`].
    pub fn from_config(config: &NetConfig) -> io::Result<Chain> {
        let mut chain = Chain::new();
        if let Some(tap) = &config.watch {
            chain.push(Box::new(crate::watch::layer::Watch::new(tap.clone())));
        }
        if config.trace {
            chain.push(Box::new(trace::Trace::stderr()));
        }
        if let Some(path) = &config.pcap {
            let base = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            chain.push(Box::new(pcap::Pcap::create(path, base)?));
        }
        Ok(chain)
    }

    /// Appends a layer on the wire side of the existing ones.
    pub fn push(&mut self, layer: Box<dyn Layer>) {
        self.layers.push(layer);
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True when no layer is configured.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Whether a layer would read the next packet's bytes ([`Layer::reads_packets`]).
    pub fn reads_packets(&self) -> bool {
        self.layers.iter().any(|layer| layer.reads_packets())
    }

    /// Shows the packet (read as `headers`) to the layers in its direction's order.
    pub fn handle(&mut self, direction: Direction, packet: &[u8], headers: &Headers, now: Instant) {
        let mut run = |layer: &mut Box<dyn Layer>| layer.handle(direction, packet, headers, now);
        match direction {
            Direction::Egress => self.layers.iter_mut().for_each(&mut run),
            Direction::Ingress => self.layers.iter_mut().rev().for_each(&mut run),
        }
    }

    /// Tells every layer that the impairment dropped `packet` (read as `headers`).
    pub fn on_wire_drop(
        &mut self,
        direction: Direction,
        packet: &[u8],
        headers: &Headers,
        now: Instant,
    ) {
        for layer in &mut self.layers {
            layer.on_wire_drop(direction, packet, headers, now);
        }
    }

    /// Flushes every layer; reports the first error after trying all.
    pub fn flush(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        for layer in &mut self.layers {
            if let Err(err) = layer.flush() {
                if result.is_ok() {
                    result = Err(err);
                }
            }
        }
        result
    }
}
