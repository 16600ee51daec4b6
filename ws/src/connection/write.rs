//! Bytes out: queued control frames (Pong, Ping, Close), whole messages, and streamed data
//! frames whose payload the caller writes (masked for a client).

use super::{Connection, ControlPayload, Role, State};
use crate::close::{CloseCode, ClosePayload};
use crate::error::SendError;
use crate::frame::{FrameHeader, HeaderBytes, MessageKind, OpCode};
use crate::mask::{MaskKeySource, apply_mask, copy_masked};

impl<K: MaskKeySource> Connection<K> {
    /// Whether control frames are waiting for [`Connection::poll_transmit`].
    pub fn wants_transmit(&self) -> bool {
        self.pending_pong.is_some() || self.pending_ping.is_some() || self.pending_close.is_some()
    }

    /// Writes the queued control frames (Pong, then Ping, then Close) that fit into `out` and
    /// returns the bytes written. An `out` of [`crate::MAX_CONTROL_FRAME_LEN`] bytes always
    /// fits the next one. Write the result to the transport between whole data frames, never
    /// inside one that is being streamed.
    #[must_use = "the written bytes must be sent"]
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> usize {
        let mut written = 0;
        for opcode in [OpCode::Pong, OpCode::Ping, OpCode::Close] {
            let Some(payload) = self.pending(opcode).take() else {
                continue;
            };
            match self.write_frame(opcode, true, &payload, &mut out[written..]) {
                Ok(len) => written += len,
                Err(_) => {
                    *self.pending(opcode) = Some(payload);
                    break;
                }
            }
            if opcode == OpCode::Close {
                self.close_sent = true;
                self.advance_closing();
            }
        }
        written
    }

    fn pending(&mut self, opcode: OpCode) -> &mut Option<ControlPayload> {
        match opcode {
            OpCode::Pong => &mut self.pending_pong,
            OpCode::Ping => &mut self.pending_ping,
            _ => &mut self.pending_close,
        }
    }

    /// Writes one whole frame (header and payload, masked for a client) to the start of `out`.
    fn write_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        let len = payload.len() as u64;
        let probe = FrameHeader::new(fin, opcode, len, self.masks().then_some([0; 4]))
            .map_err(|_| SendError::PayloadTooLong)?;
        let needed = probe.header_len() + payload.len();
        let Some(out) = out.get_mut(..needed) else {
            return Err(SendError::BufferTooSmall { needed });
        };
        let key = self.next_masking_key();
        let header =
            FrameHeader::new(fin, opcode, len, key).map_err(|_| SendError::PayloadTooLong)?;
        let header_len = header
            .emit(out)
            .map_err(|_| SendError::BufferTooSmall { needed })?;
        let body = &mut out[header_len..];
        match key {
            // Masked while copied: one pass over the payload.
            Some(key) => copy_masked(payload, body, key, 0),
            None => body.copy_from_slice(payload),
        }
        Ok(needed)
    }

    fn masks(&self) -> bool {
        self.role == Role::Client
    }

    fn next_masking_key(&mut self) -> Option<[u8; 4]> {
        self.masks().then(|| self.mask_keys.next_key())
    }

    fn check_can_send(&self) -> Result<(), SendError> {
        if self.state != State::Open || self.failed {
            Err(SendError::Closed)
        } else {
            Ok(())
        }
    }

    /// Writes a whole message as one frame (header ≤ 14 bytes, then the payload, masked for a
    /// client) to the start of `out` and returns its length. Text must be UTF-8; the engine does
    /// not re-check outgoing text.
    pub fn send(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.check_can_send()?;
        if self.outgoing_message_open {
            return Err(SendError::FragmentOrder);
        }
        self.write_frame(kind.opcode(), true, payload, out)
    }

    /// Starts a streamed data frame of `payload_len` bytes and returns its header; the caller
    /// then writes exactly `payload_len` payload bytes, passing each piece through
    /// [`Connection::mask_payload`] first. A message is one `Text`/`Binary` frame followed by
    /// `Continuation` frames, the last with `fin` set.
    pub fn send_frame_header(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload_len: u64,
    ) -> Result<HeaderBytes, SendError> {
        self.frame_header(opcode, fin, payload_len, false)
    }

    /// [`Connection::send_frame_header`] for the first frame of a compressed message: RSV1
    /// set (RFC 7692 §6). The payload is the compressed bytes
    /// (`deflate::Compressor`, behind the `compress` feature); the message's further frames are started with
    /// `send_frame_header` (continuations never carry RSV1). Needs
    /// [`Connection::set_compression`] and a `Text` or `Binary` opcode.
    pub fn send_compressed_frame_header(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload_len: u64,
    ) -> Result<HeaderBytes, SendError> {
        if !self.compression || !matches!(opcode, OpCode::Text | OpCode::Binary) {
            return Err(SendError::NotCompressible);
        }
        self.frame_header(opcode, fin, payload_len, true)
    }

    fn frame_header(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload_len: u64,
        rsv1: bool,
    ) -> Result<HeaderBytes, SendError> {
        self.check_can_send()?;
        match opcode {
            OpCode::Continuation if !self.outgoing_message_open => {
                return Err(SendError::FragmentOrder);
            }
            OpCode::Text | OpCode::Binary if self.outgoing_message_open => {
                return Err(SendError::FragmentOrder);
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => return Err(SendError::NotDataOpcode),
            _ => {}
        }
        let key = self.next_masking_key();
        let header = FrameHeader::new(fin, opcode, payload_len, key)
            .map_err(|_| SendError::PayloadTooLong)?
            .with_rsv1(rsv1);
        self.outgoing_message_open = !fin;
        self.outgoing_mask = key.map(|key| (key, 0));
        Ok(header.to_bytes())
    }

    /// Masks the next piece of the payload of the frame started with
    /// [`Connection::send_frame_header`] in place (a no-op for the server role).
    pub fn mask_payload(&mut self, piece: &mut [u8]) {
        if let Some((key, offset)) = &mut self.outgoing_mask {
            apply_mask(piece, *key, *offset);
            *offset += piece.len() as u64;
        }
    }

    /// Queues a Ping (payload at most 125 bytes) for [`Connection::poll_transmit`]. It replaces
    /// a Ping still queued.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.check_can_send()?;
        let payload =
            ControlPayload::from_slice(payload).map_err(|_| SendError::ControlPayloadTooLong)?;
        self.pending_ping = Some(payload);
        Ok(())
    }

    /// Starts the closing handshake: queues a Close with `code` (which must be valid on the
    /// wire) and `reason` (at most 123 bytes). No data may be sent afterwards.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.check_can_send()?;
        if !code.is_valid_on_wire() {
            return Err(SendError::InvalidCloseCode);
        }
        let mut payload = ControlPayload::new();
        ClosePayload {
            code: Some(code),
            reason,
        }
        .emit(&mut payload)
        .map_err(|_| SendError::ControlPayloadTooLong)?;
        self.pending_close = Some(payload);
        self.state = State::Closing;
        Ok(())
    }
}
