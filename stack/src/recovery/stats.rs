//! What the recovery layer did and why: the resend reasons and the `/stats` counters.

/// Why a segment was sent again; the `--trace` label and the `/stats` counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// RACK, from the peer's SACK blocks, found it lost (RFC 8985 §6.2, RFC 6675).
    SackRepair,
    /// Three duplicate ACKs without SACK, or a partial ACK in that recovery (RFC 6582).
    Fast,
    /// Tail-loss probe: nothing acknowledged for a probe timeout (RFC 8985 §7).
    TailProbe,
    /// The layer's retransmission timeout, after an unanswered probe.
    Timeout,
}

impl Reason {
    /// The label `--trace` prints.
    pub fn label(self) -> &'static str {
        match self {
            Reason::SackRepair => "SACK repair",
            Reason::Fast => "fast retransmit",
            Reason::TailProbe => "tail probe",
            Reason::Timeout => "RTO (recovery layer)",
        }
    }
}

/// What the layer did, for `/stats` and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryStats {
    /// Segments resent because RACK/SACK found them lost.
    pub sack_repairs: u64,
    /// Segments resent after three duplicate ACKs or a partial ACK (peers without SACK).
    pub fast_retransmits: u64,
    /// Tail-loss probes sent.
    pub tail_probes: u64,
    /// Segments resent by the layer's own timeout.
    pub timeouts: u64,
    /// Segments smoltcp itself sent again (its 1 s retransmission timer or its fast
    /// retransmit): what the layer did not repair in time.
    pub stack_retransmits: u64,
    /// Duplicate ACKs kept from smoltcp because the layer handles the loss they signal.
    pub dup_acks_absorbed: u64,
    /// Bytes of unacknowledged segments held now.
    pub held_bytes: u64,
    /// Connections the layer holds state for now (a gauge: back to zero once every
    /// connection has closed or reset).
    pub connections: u64,
}
