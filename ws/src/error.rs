//! Errors, split by who is at fault: [`ProtocolError`] when the peer broke RFC 6455 (the
//! connection fails with a close code), [`SendError`] when the local caller misused the API
//! (nothing is sent, the connection is unaffected).
//!
//! [`ProtocolError::close_code`] is the one place where a violation becomes a close code.

use core::fmt;

use crate::close::CloseCode;

/// A violation by the peer. The connection fails: it queues a Close frame carrying
/// [`ProtocolError::close_code`], reports [`crate::Event::Failed`] once and ignores all
/// further input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolError {
    /// RSV1, RSV2 or RSV3 is set but no extension was negotiated (§5.2).
    ReservedBitsSet,
    /// The opcode is one of the reserved values 0x3–0x7 or 0xB–0xF (§5.2).
    ReservedOpcode,
    /// A 64-bit payload length has its most significant bit set (§5.2).
    PayloadLengthTopBitSet,
    /// A server received an unmasked frame from its client (§5.1).
    UnmaskedClientFrame,
    /// A client received a masked frame from its server (§5.1).
    MaskedServerFrame,
    /// A control frame carries more than 125 bytes of payload (§5.5).
    ControlFrameTooLong,
    /// A control frame has FIN clear (§5.5).
    FragmentedControlFrame,
    /// A continuation frame arrived with no fragmented message open (§5.4).
    UnexpectedContinuation,
    /// A Text or Binary frame arrived while a fragmented message is still open (§5.4).
    ExpectedContinuation,
    /// A Close frame has a 1-byte payload: a code needs 2 (§5.5.1).
    CloseLengthOne,
    /// A Close frame carries a code that may not be sent on the wire (§7.4).
    InvalidCloseCode,
    /// A Text message is not valid UTF-8 (§8.1), detected at the first invalid byte or at the
    /// end of the message when a sequence is left incomplete.
    InvalidUtf8,
    /// A Close frame's reason is not valid UTF-8 (§5.5.1).
    InvalidCloseReason,
    /// A frame's payload is longer than [`crate::Config::max_frame_size`].
    FrameTooBig,
    /// A message's payload is longer than [`crate::Config::max_message_size`].
    MessageTooBig,
}

impl ProtocolError {
    /// The close code sent to the peer for this violation.
    pub const fn close_code(self) -> CloseCode {
        use ProtocolError::*;
        match self {
            ReservedBitsSet
            | ReservedOpcode
            | PayloadLengthTopBitSet
            | UnmaskedClientFrame
            | MaskedServerFrame
            | ControlFrameTooLong
            | FragmentedControlFrame
            | UnexpectedContinuation
            | ExpectedContinuation
            | CloseLengthOne
            | InvalidCloseCode => CloseCode::PROTOCOL_ERROR,
            InvalidUtf8 | InvalidCloseReason => CloseCode::INVALID_PAYLOAD,
            FrameTooBig | MessageTooBig => CloseCode::TOO_BIG,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ProtocolError::*;
        let what = match self {
            ReservedBitsSet => "reserved bits set without a negotiated extension",
            ReservedOpcode => "reserved opcode",
            PayloadLengthTopBitSet => "64-bit payload length with the top bit set",
            UnmaskedClientFrame => "unmasked frame from a client",
            MaskedServerFrame => "masked frame from a server",
            ControlFrameTooLong => "control frame payload longer than 125 bytes",
            FragmentedControlFrame => "fragmented control frame",
            UnexpectedContinuation => "continuation frame without a message to continue",
            ExpectedContinuation => "new data frame inside a fragmented message",
            CloseLengthOne => "close payload of length 1",
            InvalidCloseCode => "close code not valid on the wire",
            InvalidUtf8 => "text message is not valid UTF-8",
            InvalidCloseReason => "close reason is not valid UTF-8",
            FrameTooBig => "frame larger than the configured maximum",
            MessageTooBig => "message larger than the configured maximum",
        };
        write!(f, "{what} (close {})", self.close_code())
    }
}

/// A local caller's misuse of the send API. Nothing was written or queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendError {
    /// A Close frame has already been queued or sent (or the connection failed): RFC 6455 §5.5.1
    /// forbids further data frames, and a second Close.
    Closed,
    /// The output buffer cannot hold the frame; `needed` bytes would.
    BufferTooSmall {
        /// Bytes the frame needs.
        needed: usize,
    },
    /// A Text/Binary frame was started while a streamed message is still open, or a
    /// continuation was sent with none open.
    FragmentOrder,
    /// Control frames are sent with `ping`/`close`, not as data frames.
    NotDataOpcode,
    /// A Ping payload is longer than 125 bytes or a close reason longer than 123 bytes.
    ControlPayloadTooLong,
    /// The close code may not be sent on the wire (see [`CloseCode::is_valid_on_wire`]).
    InvalidCloseCode,
    /// The payload length has its top bit set and cannot be encoded.
    PayloadTooLong,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("a close frame was already queued"),
            SendError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small, {needed} bytes needed")
            }
            SendError::FragmentOrder => f.write_str("data frame out of fragmentation order"),
            SendError::NotDataOpcode => f.write_str("not a data opcode"),
            SendError::ControlPayloadTooLong => f.write_str("control payload too long"),
            SendError::InvalidCloseCode => f.write_str("close code not valid on the wire"),
            SendError::PayloadTooLong => f.write_str("payload length not encodable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_violation_maps_to_its_close_code() {
        use ProtocolError::*;
        let table = [
            (ReservedBitsSet, 1002),
            (ReservedOpcode, 1002),
            (PayloadLengthTopBitSet, 1002),
            (UnmaskedClientFrame, 1002),
            (MaskedServerFrame, 1002),
            (ControlFrameTooLong, 1002),
            (FragmentedControlFrame, 1002),
            (UnexpectedContinuation, 1002),
            (ExpectedContinuation, 1002),
            (CloseLengthOne, 1002),
            (InvalidCloseCode, 1002),
            (InvalidUtf8, 1007),
            (InvalidCloseReason, 1007),
            (FrameTooBig, 1009),
            (MessageTooBig, 1009),
        ];
        for (error, code) in table {
            assert_eq!(error.close_code(), CloseCode(code), "{error:?}");
            assert!(error.close_code().is_valid_on_wire());
        }
    }
}
