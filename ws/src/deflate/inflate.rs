//! Receiving compressed messages (RFC 7692 §7.2.2): the [`Inflater`] sits between the caller
//! and [`Connection::handle_read`], and turns the pieces of a compressed message back into the
//! message, without allocating.
//!
//! Memory is the caller's: a window of 2^`receive_window_bits` bytes (the peer's
//! back-references reach that far) and the decoder state of `miniz_oxide`'s core inflater
//! (~11 KB, inside the `Inflater`). Inflated bytes are written into the window, which wraps,
//! and handed out as slices of it: a piece is at most the window long, so a message of any
//! size passes through the same memory. Its inflated size is counted against
//! [`crate::Config::max_message_size`] as it is produced: a decompression bomb fails the
//! connection with 1009 after at most one window more than the limit was inflated, and nothing
//! ever grows.

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_HAS_MORE_INPUT;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress_with_limit};

use super::negotiate::Agreement;
use crate::connection::{Connection, Event};
use crate::error::ProtocolError;
use crate::frame::MessageKind;
use crate::mask::MaskKeySource;
use crate::time::Instant;
use crate::utf8::Utf8Validator;

/// The bytes a sender removes from the end of each compressed message (the empty stored block
/// of a sync flush, RFC 7692 §7.2.1) and the receiver appends again before inflating.
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The window given to [`Inflater::new`] is not a power of two at least as large as the
/// agreed receive window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowTooSmall {
    /// Bytes the window needs.
    pub needed: usize,
}

/// The compressed message being inflated.
#[derive(Clone, Copy, Debug)]
struct Inflating {
    kind: MessageKind,
    /// No piece of it has been handed out yet.
    first: bool,
    /// The connection delivered the message's last compressed piece.
    last_piece_in: bool,
    /// Bytes at the start of the next input that belong to the last piece and are not yet
    /// inflated (the window was full). They are already unmasked.
    pending: usize,
    /// The decoder stopped because the window was full, with input left in its bit buffer.
    more_output: bool,
    /// How much of [`TAIL`] the decoder has taken.
    tail_used: usize,
    /// A block with BFINAL ended the DEFLATE stream: the rest of the message is ignored.
    stream_ended: bool,
    /// Inflated bytes so far.
    total: u64,
}

/// What one step produced; owned, so that the borrow of the input or the window is made once,
/// when it is returned.
enum Outcome {
    /// An event that borrows nothing.
    Owned(usize, Option<Event<'static>>),
    /// An uncompressed piece, `input[start..consumed]`.
    Plain {
        consumed: usize,
        start: usize,
        kind: MessageKind,
        first: bool,
        fin: bool,
    },
    /// An inflated piece, `window[start..end]`.
    Inflated {
        consumed: usize,
        start: usize,
        end: usize,
        kind: MessageKind,
        first: bool,
        fin: bool,
    },
    /// No event: `consumed` bytes were used; `progressed` if anything moved at all (an empty
    /// piece delivered, tail bytes taken), so that the caller tries again.
    Continue { consumed: usize, progressed: bool },
}

fn data(kind: MessageKind, payload: &[u8], first: bool, fin: bool) -> Event<'_> {
    Event::Data {
        kind,
        payload,
        first,
        fin,
    }
}

/// Inflates the compressed messages of one connection. `W` is the window's storage (an array,
/// a `&mut [u8]`, a boxed slice): a power of two of at least 2^`receive_window_bits` bytes.
pub struct Inflater<W> {
    decoder: DecompressorOxide,
    window: W,
    /// Where the next inflated byte goes in the window.
    out_pos: usize,
    reset_each_message: bool,
    message: Option<Inflating>,
    utf8: Utf8Validator,
}

impl<W> core::fmt::Debug for Inflater<W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Inflater")
            .field("out_pos", &self.out_pos)
            .field("reset_each_message", &self.reset_each_message)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl<W: AsRef<[u8]> + AsMut<[u8]>> Inflater<W> {
    /// An inflater for what `agreement` allows the peer, with `window` as its memory.
    pub fn new(window: W, agreement: &Agreement) -> Result<Self, WindowTooSmall> {
        let needed = agreement.receive_window_bits.bytes();
        let len = window.as_ref().len();
        if len < needed || !len.is_power_of_two() {
            return Err(WindowTooSmall { needed });
        }
        Ok(Inflater {
            decoder: DecompressorOxide::new(),
            window,
            out_pos: 0,
            reset_each_message: agreement.receive_no_context_takeover,
            message: None,
            utf8: Utf8Validator::new(),
        })
    }

    /// Whether more of a compressed message comes out without more input (the window filled
    /// up, or the end of the message is still to be inflated): call
    /// [`Inflater::handle_read`] again, with empty input if there is none. A caller that calls
    /// again after every event until one returns `None` never needs to ask.
    pub fn wants_read(&self) -> bool {
        // With input pending, the input is needed first.
        self.message
            .is_some_and(|m| m.pending == 0 && (m.more_output || m.last_piece_in))
    }

    /// [`Connection::handle_read`] with compressed messages inflated: same contract (call
    /// again with the unconsumed rest, even when it is empty, until no event comes), same
    /// events. A compressed message's pieces are slices of the window instead of the input,
    /// at most one window each. Uncompressed messages and control frames pass through.
    ///
    /// When a piece of compressed input does not fit in the window at once, fewer bytes are
    /// reported consumed: pass them again (they are already unmasked, in place) and they are
    /// inflated next.
    ///
    /// Violations in the content fail the connection: invalid DEFLATE data (1007), a message
    /// inflating beyond [`crate::Config::max_message_size`] (1009), invalid UTF-8 in a text
    /// message (1007).
    #[must_use = "the consumed count and the event must be acted on"]
    pub fn handle_read<'a, K: MaskKeySource>(
        &'a mut self,
        conn: &mut Connection<K>,
        input: &'a mut [u8],
        now: Instant,
    ) -> (usize, Option<Event<'a>>) {
        let mut pos = 0;
        // Steps without progress in a row: the decoder always progresses when it wants to,
        // so a second one means it cannot; stop rather than spin.
        let mut stuck = 0;
        loop {
            match self.step(conn, &mut input[pos..], now) {
                Outcome::Owned(consumed, event) => return (pos + consumed, event),
                Outcome::Plain {
                    consumed,
                    start,
                    kind,
                    first,
                    fin,
                } => {
                    let payload = &input[pos + start..pos + consumed];
                    return (pos + consumed, Some(data(kind, payload, first, fin)));
                }
                Outcome::Inflated {
                    consumed,
                    start,
                    end,
                    kind,
                    first,
                    fin,
                } => {
                    let payload = &self.window.as_ref()[start..end];
                    return (pos + consumed, Some(data(kind, payload, first, fin)));
                }
                Outcome::Continue {
                    consumed,
                    progressed,
                } => {
                    pos += consumed;
                    stuck = if progressed { 0 } else { stuck + 1 };
                    if stuck > 1 || (pos == input.len() && !self.wants_read()) {
                        return (pos, None);
                    }
                }
            }
        }
    }

    /// One step: inflate what is left of the current piece, or read the next event.
    fn step<K: MaskKeySource>(
        &mut self,
        conn: &mut Connection<K>,
        input: &mut [u8],
        now: Instant,
    ) -> Outcome {
        if let Some(message) = self.message {
            if message.pending > 0 {
                let n = message.pending.min(input.len());
                if n == 0 {
                    return Outcome::Owned(0, None);
                }
                return self.inflate(conn, &input[..n]);
            }
            if message.more_output || message.last_piece_in {
                return self.inflate(conn, &[]);
            }
        }
        let (consumed, event) = conn.handle_read(input, now);
        let (kind, len, first, fin) = match event {
            Some(Event::Data {
                kind,
                payload,
                first,
                fin,
            }) => (kind, payload.len(), first, fin),
            None if consumed == 0 => return Outcome::Owned(0, None),
            None => {
                return Outcome::Continue {
                    consumed,
                    progressed: true,
                };
            }
            Some(Event::Ping(p)) => return Outcome::Owned(consumed, Some(Event::Ping(p))),
            Some(Event::Pong(p)) => return Outcome::Owned(consumed, Some(Event::Pong(p))),
            Some(Event::Close { code, reason }) => {
                return Outcome::Owned(consumed, Some(Event::Close { code, reason }));
            }
            Some(Event::Failed(error)) => {
                self.message = None;
                return Outcome::Owned(consumed, Some(Event::Failed(error)));
            }
            Some(Event::TimedOut) => {
                self.message = None;
                return Outcome::Owned(consumed, Some(Event::TimedOut));
            }
        };
        // The piece ends where the connection stopped consuming.
        let start = consumed - len;
        if !conn.incoming_compressed() {
            return Outcome::Plain {
                consumed,
                start,
                kind,
                first,
                fin,
            };
        }
        if first {
            if self.reset_each_message {
                self.decoder.init();
            }
            self.utf8 = Utf8Validator::new();
            self.message = Some(Inflating {
                kind,
                first: true,
                last_piece_in: false,
                pending: 0,
                more_output: false,
                tail_used: 0,
                stream_ended: false,
                total: 0,
            });
        }
        let Some(message) = self.message.as_mut() else {
            // The connection only continues a message it started, and it started this one as
            // compressed, so this is not reached; fail rather than guess.
            return Outcome::Owned(
                consumed,
                Some(conn.fail(ProtocolError::InvalidCompressedData)),
            );
        };
        message.last_piece_in = fin;
        message.pending = len;
        match self.inflate(conn, &input[start..consumed]) {
            Outcome::Inflated {
                consumed: used,
                start: window_start,
                end,
                kind,
                first,
                fin,
            } => Outcome::Inflated {
                consumed: start + used,
                start: window_start,
                end,
                kind,
                first,
                fin,
            },
            // The connection delivered a piece: progress even if it was empty.
            Outcome::Continue { consumed: used, .. } => Outcome::Continue {
                consumed: start + used,
                progressed: true,
            },
            Outcome::Owned(_, event) => Outcome::Owned(input.len(), event),
            plain @ Outcome::Plain { .. } => plain,
        }
    }

    /// Inflates `src` (or, once the last piece is in, the restored [`TAIL`]) into the window.
    /// The outcome's consumed count is of `src`.
    fn inflate<K: MaskKeySource>(&mut self, conn: &mut Connection<K>, src: &[u8]) -> Outcome {
        let limit = conn.config().max_message_size;
        let Some(mut m) = self.message else {
            return Outcome::Continue {
                consumed: 0,
                progressed: false,
            };
        };
        let feeding_tail = src.is_empty() && m.last_piece_in;
        let (status, used, produced) = if m.stream_ended {
            (TINFLStatus::Done, src.len(), 0)
        } else {
            let input = if feeding_tail {
                &TAIL[m.tail_used..]
            } else {
                src
            };
            // One byte beyond the limit is enough to know it was passed.
            let allowed = usize::try_from(limit.saturating_sub(m.total).saturating_add(1))
                .unwrap_or(usize::MAX);
            decompress_with_limit(
                &mut self.decoder,
                input,
                self.window.as_mut(),
                self.out_pos,
                allowed,
                TINFL_FLAG_HAS_MORE_INPUT,
            )
        };
        let used = match status {
            TINFLStatus::NeedsMoreInput | TINFLStatus::HasMoreOutput => used,
            // A block with BFINAL ended the stream (RFC 7692 §7.2.3.4): what the message still
            // holds, the restored tail included, is not part of it.
            TINFLStatus::Done => {
                m.stream_ended = true;
                m.tail_used = TAIL.len();
                src.len()
            }
            _ => return self.fail(conn, ProtocolError::InvalidCompressedData),
        };
        if feeding_tail {
            m.tail_used = (m.tail_used + used).min(TAIL.len());
        } else {
            m.pending -= used;
        }
        m.more_output = status == TINFLStatus::HasMoreOutput;
        m.total = m.total.saturating_add(produced as u64);
        if m.total > limit {
            return self.fail(conn, ProtocolError::MessageTooBig);
        }
        let start = self.out_pos;
        let end = start + produced;
        self.out_pos = end & (self.window.as_ref().len() - 1);
        if m.kind == MessageKind::Text && self.utf8.feed(&self.window.as_ref()[start..end]).is_err()
        {
            return self.fail(conn, ProtocolError::InvalidUtf8);
        }
        let fin = m.last_piece_in
            && m.pending == 0
            && !m.more_output
            && (m.stream_ended || m.tail_used == TAIL.len());
        let consumed = if feeding_tail { 0 } else { used };
        if fin {
            if m.kind == MessageKind::Text && !self.utf8.is_complete() {
                return self.fail(conn, ProtocolError::InvalidUtf8);
            }
            self.message = None;
            if m.stream_ended || self.reset_each_message {
                // A new DEFLATE stream starts; with context takeover it still refers back
                // into the window, which is kept.
                self.decoder.init();
            }
        } else {
            if produced == 0 {
                self.message = Some(m);
                return Outcome::Continue {
                    consumed,
                    progressed: used > 0,
                };
            }
            self.message = Some(Inflating { first: false, ..m });
        }
        Outcome::Inflated {
            consumed,
            start,
            end,
            kind: m.kind,
            first: m.first,
            fin,
        }
    }

    fn fail<K: MaskKeySource>(
        &mut self,
        conn: &mut Connection<K>,
        error: ProtocolError,
    ) -> Outcome {
        self.message = None;
        Outcome::Owned(0, Some(conn.fail(error)))
    }
}
