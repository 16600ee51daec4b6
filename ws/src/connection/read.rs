//! Bytes in: frame headers (possibly split over reads), data payloads handed out unmasked,
//! control frames gathered and acted on, and the checks a frame header must pass (role,
//! limits, fragmentation, the RSV1 rules of permessage-deflate).

use core::mem;

use super::{Connection, Content, Event, IncomingFrame, IncomingMessage, Role, State};
use crate::close::{ClosePayload, CloseReason};
use crate::error::ProtocolError;
use crate::frame::{FrameHeader, HeaderView, MessageKind, OpCode};
use crate::mask::{MaskKeySource, apply_mask, copy_masked};
use crate::time::Instant;
use crate::utf8::Utf8Validator;

impl<K: MaskKeySource> Connection<K> {
    /// Consumes bytes read from the transport. Returns how many bytes were consumed and at most
    /// one event; call again with the rest until everything is consumed and no event comes.
    /// Bytes that complete no event are remembered (headers, control payloads) or, for data,
    /// delivered as soon as they arrive, so any split of the input yields the same messages.
    /// After a Close or a failure all input is consumed and ignored.
    ///
    /// Data payloads are unmasked in place and handed out as slices of `input`. To have them
    /// land in a buffer of your own instead, unmasked in the same pass as the copy, use
    /// [`Connection::read_into`].
    #[must_use = "the consumed count and the event must be acted on"]
    pub fn handle_read<'a>(
        &mut self,
        input: &'a mut [u8],
        now: Instant,
    ) -> (usize, Option<Event<'a>>) {
        let (pos, take, offset) = match self.read_to_payload(input, usize::MAX, now) {
            Ok(found) => found,
            Err((consumed, event)) => return (consumed, event),
        };
        let total = input.len();
        let payload = &mut input[pos..pos + take];
        if let Some(key) = self.incoming_key() {
            apply_mask(payload, key, offset);
        }
        self.deliver(payload, pos, total)
    }

    /// [`Connection::handle_read`] that leaves `input` untouched: a data payload is copied
    /// into `out` (at most `out.len()` bytes of it per call) and unmasked while it is copied,
    /// and the event's payload is a slice of `out`. Consumed input counts as for
    /// `handle_read`, and any split of the input, or of the payload over calls with small
    /// `out` buffers, yields the same bytes. With an empty `out` no payload byte is consumed.
    ///
    /// This is one pass over the payload where `handle_read` followed by a copy is two: for a
    /// caller that keeps messages (assembles them, or queues them) rather than using them in
    /// the input buffer.
    #[must_use = "the consumed count and the event must be acted on"]
    pub fn read_into<'o>(
        &mut self,
        input: &[u8],
        out: &'o mut [u8],
        now: Instant,
    ) -> (usize, Option<Event<'o>>) {
        let (pos, take, offset) = match self.read_to_payload(input, out.len(), now) {
            Ok(found) => found,
            Err((consumed, event)) => return (consumed, event),
        };
        let payload = &mut out[..take];
        match self.incoming_key() {
            Some(key) => copy_masked(&input[pos..pos + take], payload, key, offset),
            None => payload.copy_from_slice(&input[pos..pos + take]),
        }
        self.deliver(payload, pos, input.len())
    }

    /// The masking key of the frame being read, if it is masked.
    fn incoming_key(&self) -> Option<[u8; 4]> {
        self.frame.and_then(|frame| frame.header.masking_key())
    }

    /// Reads headers and control frames up to the next data payload bytes. `Ok((pos, take,
    /// offset))`: `input[pos..pos + take]` are the next `take` (≥ 1, at most `room`) payload
    /// bytes of the current data frame, which starts `offset` bytes earlier in its payload.
    /// `Err`: what `handle_read` returns (an event or a need for more input).
    // The `Err` side carries an Event (a control payload inline): it is built once per call
    // and returned straight to the caller, never stored.
    #[allow(clippy::result_large_err)]
    fn read_to_payload(
        &mut self,
        input: &[u8],
        room: usize,
        now: Instant,
    ) -> Result<(usize, usize, u64), (usize, Option<Event<'static>>)> {
        let total = input.len();
        if self.failed || self.close_received {
            return Err((total, None));
        }
        if total > 0 {
            self.last_received = now;
        }
        let mut pos = 0;
        // Headers and control frames never borrow the input; a data payload does, so the loop
        // ends at the first data frame with a payload to deliver.
        let frame = loop {
            let Some(frame) = self.frame else {
                let (used, header) = self.read_header(&input[pos..]);
                pos += used;
                match header.and_then(|header| header.map(|h| self.start_frame(h)).transpose()) {
                    Ok(Some(())) => continue,
                    Ok(None) => return Err((pos, None)),
                    Err(error) => return Err((total, Some(self.fail(error)))),
                }
            };
            if let Content::Data(_) = frame.content {
                break frame;
            }
            let take = usize::try_from(frame.remaining())
                .unwrap_or(usize::MAX)
                .min(total - pos);
            // Cannot overflow: start_frame checked that the payload fits the 125-byte buffer.
            let _ = self.control.extend_from_slice(&input[pos..pos + take]);
            pos += take;
            if self.control.len() as u64 != frame.header.payload_len() {
                self.frame = Some(IncomingFrame {
                    received: self.control.len() as u64,
                    ..frame
                });
                return Err((pos, None));
            }
            let event = self.finish_control(frame.header);
            let consumed = if matches!(event, Event::Failed(_)) {
                total
            } else {
                pos
            };
            return Err((consumed, Some(event)));
        };

        let take = usize::try_from(frame.remaining())
            .unwrap_or(usize::MAX)
            .min(total - pos)
            .min(room);
        if take == 0 && frame.remaining() > 0 {
            return Err((pos, None));
        }
        Ok((pos, take, frame.received))
    }

    /// Hands out the next `payload` bytes (unmasked) of the current data frame, which came
    /// from `input[pos..]` of an input of `total` bytes.
    fn deliver<'p>(
        &mut self,
        payload: &'p [u8],
        pos: usize,
        total: usize,
    ) -> (usize, Option<Event<'p>>) {
        let Some(mut frame) = self.frame else {
            return (pos, None);
        };
        let Content::Data(kind) = frame.content else {
            return (pos, None);
        };
        let take = payload.len();
        frame.received += take as u64;
        let frame_done = frame.remaining() == 0;
        let fin = frame_done && frame.header.fin();
        if kind == MessageKind::Text
            && !self.incoming_compressed
            && (self.utf8.feed(payload).is_err() || (fin && !self.utf8.is_complete()))
        {
            return (total, Some(self.fail(ProtocolError::InvalidUtf8)));
        }
        let first = mem::replace(&mut self.first_piece_pending, false);
        self.frame = if frame_done { None } else { Some(frame) };
        if fin {
            self.message = None;
        }
        (
            pos + take,
            Some(Event::Data {
                kind,
                payload,
                first,
                fin,
            }),
        )
    }

    /// Gathers header bytes; returns the bytes used and the header once it is complete.
    fn read_header(&mut self, input: &[u8]) -> (usize, Result<Option<FrameHeader>, ProtocolError>) {
        // Common case: the whole header is in this input, parse it where it lies.
        if self.header_len == 0 {
            if let Ok(view) = HeaderView::new_checked(input) {
                return (view.header_len(), FrameHeader::parse(&view).map(Some));
            }
        }
        let mut used = 0;
        loop {
            let needed = HeaderView::required_len(&self.header[..self.header_len]);
            if self.header_len == needed {
                break;
            }
            let take = (needed - self.header_len).min(input.len() - used);
            if take == 0 {
                return (used, Ok(None));
            }
            self.header[self.header_len..self.header_len + take]
                .copy_from_slice(&input[used..used + take]);
            self.header_len += take;
            used += take;
        }
        let bytes = &self.header[..mem::take(&mut self.header_len)];
        // The loop above gathered exactly the bytes the header needs, so the view is complete.
        let header = match HeaderView::new_checked(bytes) {
            Ok(view) => FrameHeader::parse(&view).map(Some),
            Err(_) => Ok(None),
        };
        (used, header)
    }

    /// Checks a parsed header against the role, the limits and the fragmentation state, and
    /// makes it the current frame.
    fn start_frame(&mut self, header: FrameHeader) -> Result<(), ProtocolError> {
        match (self.role, header.masking_key()) {
            (Role::Server, None) => return Err(ProtocolError::UnmaskedClientFrame),
            (Role::Client, Some(_)) => return Err(ProtocolError::MaskedServerFrame),
            _ => {}
        }
        if header.rsv1() {
            if !self.compression {
                return Err(ProtocolError::ReservedBitsSet);
            }
            match header.opcode() {
                OpCode::Continuation => return Err(ProtocolError::CompressedContinuation),
                OpCode::Close | OpCode::Ping | OpCode::Pong => {
                    return Err(ProtocolError::CompressedControlFrame);
                }
                OpCode::Text | OpCode::Binary => {}
            }
        }
        let len = header.payload_len();
        if len > self.config.max_frame_size {
            return Err(ProtocolError::FrameTooBig);
        }
        let content = match header.opcode() {
            OpCode::Continuation => {
                let message = self
                    .message
                    .as_mut()
                    .ok_or(ProtocolError::UnexpectedContinuation)?;
                message.announced_len = message.announced_len.saturating_add(len);
                if message.announced_len > self.config.max_message_size {
                    return Err(ProtocolError::MessageTooBig);
                }
                Content::Data(message.kind)
            }
            OpCode::Text | OpCode::Binary => {
                if self.message.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                if len > self.config.max_message_size {
                    return Err(ProtocolError::MessageTooBig);
                }
                let kind = if header.opcode() == OpCode::Text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                self.message = Some(IncomingMessage {
                    kind,
                    announced_len: len,
                });
                self.first_piece_pending = true;
                self.incoming_compressed = header.rsv1();
                self.utf8 = Utf8Validator::new();
                Content::Data(kind)
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => {
                self.control.clear();
                Content::Control
            }
        };
        self.frame = Some(IncomingFrame {
            header,
            content,
            received: 0,
        });
        Ok(())
    }

    /// Acts on a complete control frame.
    fn finish_control(&mut self, header: FrameHeader) -> Event<'static> {
        self.frame = None;
        let mut payload = mem::take(&mut self.control);
        if let Some(key) = header.masking_key() {
            apply_mask(&mut payload, key, 0);
        }
        match header.opcode() {
            OpCode::Ping => {
                if self.config.auto_pong && self.state == State::Open {
                    self.pending_pong = Some(payload.clone());
                }
                Event::Ping(payload)
            }
            OpCode::Pong => {
                self.keepalive_ping_sent = None;
                Event::Pong(payload)
            }
            _ => match ClosePayload::parse(&payload) {
                Err(error) => self.fail(error),
                Ok(close) => {
                    self.close_received = true;
                    if self.state == State::Open {
                        // Echo the code only (§5.5.1); an empty Close is answered with an empty one.
                        self.queue_close(ClosePayload {
                            code: close.code,
                            reason: "",
                        });
                    }
                    self.advance_closing();
                    let mut reason = CloseReason::new();
                    // Cannot overflow: the reason came out of a 125-byte payload after a 2-byte code.
                    let _ = reason.push_str(close.reason);
                    Event::Close {
                        code: close.code,
                        reason,
                    }
                }
            },
        }
    }
}
