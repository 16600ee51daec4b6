//! The base framing protocol (RFC 6455 §5.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! | Masking-key (continued)       |          Payload Data         |
//! +-------------------------------- - - - - - - - - - - - - - - - +
//! ```
//!
//! Parsing has two steps, as in smoltcp's `wire` module: [`HeaderView`] is a cheap view over
//! header bytes that only guarantees they are all there; [`FrameHeader::parse`] turns it into a
//! value that cannot hold an illegal header. [`FrameHeader::emit`] is the mirror of parse.
//! Payloads are not part of this module: the connection streams them.

/// Longest frame header: 2 fixed bytes, an 8-byte extended length and a 4-byte masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// Largest payload of a control frame (§5.5).
pub const MAX_CONTROL_PAYLOAD_LEN: usize = 125;

/// Largest whole control frame: header with a 7-bit length and a masking key, plus payload.
/// An output buffer this big always fits the next frame [`crate::Connection::poll_transmit`] has.
pub const MAX_CONTROL_FRAME_LEN: usize = 2 + 4 + MAX_CONTROL_PAYLOAD_LEN;

/// Header bytes produced by [`FrameHeader::to_bytes`].
pub type HeaderBytes = heapless::Vec<u8, MAX_HEADER_LEN>;

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const RSV2: u8 = 0x20;
const RSV3: u8 = 0x10;
const OPCODE: u8 = 0x0F;
const MASK: u8 = 0x80;
const PAYLOAD_LEN: u8 = 0x7F;
/// 7-bit length values that announce a 16-bit or a 64-bit extended length.
const LEN_16: u8 = 126;
const LEN_64: u8 = 127;

/// The frame opcodes defined by RFC 6455 §5.2; the reserved values have no variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation = 0x0,
    /// 0x1: first frame of a text message.
    Text = 0x1,
    /// 0x2: first frame of a binary message.
    Binary = 0x2,
    /// 0x8: connection close.
    Close = 0x8,
    /// 0x9: ping.
    Ping = 0x9,
    /// 0xA: pong.
    Pong = 0xA,
}

impl OpCode {
    /// The opcode for a 4-bit value, `None` for reserved values.
    #[inline]
    pub const fn from_bits(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// Whether this is a control opcode (most significant opcode bit set, §5.5).
    #[inline]
    pub const fn is_control(self) -> bool {
        self as u8 & 0x8 != 0
    }
}

/// The type of a data message, fixed by the opcode of its first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text (opcode 0x1).
    Text,
    /// Arbitrary bytes (opcode 0x2).
    Binary,
}

impl MessageKind {
    /// The opcode of the first frame of a message of this kind.
    #[inline]
    pub const fn opcode(self) -> OpCode {
        match self {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        }
    }
}

/// Why header bytes could not be parsed or emitted as a frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated {
    /// Bytes the header needs in total (known once the first two are there).
    pub needed: usize,
}

/// A view over the bytes of a frame header, guaranteed complete but not validated.
#[derive(Debug, Clone, Copy)]
pub struct HeaderView<'a> {
    bytes: &'a [u8],
}

impl<'a> HeaderView<'a> {
    /// Bytes the header that `bytes` starts takes: 2 while fewer than 2 are known, then the
    /// exact length implied by the 7-bit length and the MASK bit.
    #[inline]
    pub fn required_len(bytes: &[u8]) -> usize {
        match bytes {
            [_, second, ..] => {
                let extended = match second & PAYLOAD_LEN {
                    LEN_16 => 2,
                    LEN_64 => 8,
                    _ => 0,
                };
                let key = if second & MASK != 0 { 4 } else { 0 };
                2 + extended + key
            }
            _ => 2,
        }
    }

    /// A view over `bytes` if they hold a whole header (trailing payload bytes are ignored).
    #[inline]
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, Truncated> {
        let needed = Self::required_len(bytes);
        match bytes.get(..needed) {
            Some(bytes) if bytes.len() >= 2 => Ok(HeaderView { bytes }),
            _ => Err(Truncated { needed }),
        }
    }

    /// Length of the header in bytes.
    #[inline]
    pub fn header_len(&self) -> usize {
        self.bytes.len()
    }

    /// FIN: this is the final fragment of a message.
    #[inline]
    pub fn fin(&self) -> bool {
        self.bytes[0] & FIN != 0
    }

    /// RSV1 (extension-defined).
    #[inline]
    pub fn rsv1(&self) -> bool {
        self.bytes[0] & RSV1 != 0
    }

    /// RSV2 (extension-defined).
    #[inline]
    pub fn rsv2(&self) -> bool {
        self.bytes[0] & RSV2 != 0
    }

    /// RSV3 (extension-defined).
    #[inline]
    pub fn rsv3(&self) -> bool {
        self.bytes[0] & RSV3 != 0
    }

    /// The raw 4-bit opcode, reserved values included.
    #[inline]
    pub fn opcode_bits(&self) -> u8 {
        self.bytes[0] & OPCODE
    }

    /// MASK: a masking key follows the length.
    #[inline]
    pub fn mask(&self) -> bool {
        self.bytes[1] & MASK != 0
    }

    /// The payload length as encoded (7, 7+16 or 7+64 bits; non-minimal encodings are kept).
    #[inline]
    pub fn payload_len(&self) -> u64 {
        match self.bytes[1] & PAYLOAD_LEN {
            LEN_16 => u64::from(u16::from_be_bytes([self.bytes[2], self.bytes[3]])),
            LEN_64 => {
                let mut len = [0; 8];
                len.copy_from_slice(&self.bytes[2..10]);
                u64::from_be_bytes(len)
            }
            short => u64::from(short),
        }
    }

    /// The masking key, present when MASK is set.
    #[inline]
    pub fn masking_key(&self) -> Option<[u8; 4]> {
        // The key is always the last 4 header bytes.
        match self.bytes {
            [.., a, b, c, d] if self.mask() => Some([*a, *b, *c, *d]),
            _ => None,
        }
    }
}

/// A validated frame header. RSV2 and RSV3 are always clear (no extension defines them), RSV1
/// may be set (permessage-deflate's "Per-Message Compressed" bit, RFC 7692 §6: whether it is
/// allowed depends on the negotiation, which [`crate::Connection`] checks), the opcode is a
/// defined one, the length fits in 63 bits, and a control frame has FIN set and at most 125
/// bytes of payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    fin: bool,
    rsv1: bool,
    opcode: OpCode,
    payload_len: u64,
    masking_key: Option<[u8; 4]>,
}

impl FrameHeader {
    /// A header with the given fields, checked like a parsed one.
    #[inline]
    pub fn new(
        fin: bool,
        opcode: OpCode,
        payload_len: u64,
        masking_key: Option<[u8; 4]>,
    ) -> Result<Self, crate::ProtocolError> {
        use crate::ProtocolError;
        if payload_len >> 63 != 0 {
            return Err(ProtocolError::PayloadLengthTopBitSet);
        }
        if opcode.is_control() {
            if payload_len > MAX_CONTROL_PAYLOAD_LEN as u64 {
                return Err(ProtocolError::ControlFrameTooLong);
            }
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
        }
        Ok(FrameHeader {
            fin,
            rsv1: false,
            opcode,
            payload_len,
            masking_key,
        })
    }

    /// Validates a header view. Masking is not checked here because it depends on the role.
    #[inline]
    pub fn parse(view: &HeaderView<'_>) -> Result<Self, crate::ProtocolError> {
        use crate::ProtocolError;
        if view.rsv2() || view.rsv3() {
            return Err(ProtocolError::ReservedBitsSet);
        }
        let opcode = OpCode::from_bits(view.opcode_bits()).ok_or(ProtocolError::ReservedOpcode)?;
        Ok(
            FrameHeader::new(view.fin(), opcode, view.payload_len(), view.masking_key())?
                .with_rsv1(view.rsv1()),
        )
    }

    /// This header with RSV1 set or clear.
    #[inline]
    pub fn with_rsv1(self, rsv1: bool) -> Self {
        FrameHeader { rsv1, ..self }
    }

    /// RSV1: with permessage-deflate, the first frame of a compressed message.
    #[inline]
    pub fn rsv1(&self) -> bool {
        self.rsv1
    }

    /// FIN: this is the final fragment of a message.
    #[inline]
    pub fn fin(&self) -> bool {
        self.fin
    }

    /// The opcode.
    #[inline]
    pub fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// Payload length in bytes.
    #[inline]
    pub fn payload_len(&self) -> u64 {
        self.payload_len
    }

    /// The masking key, if the payload is masked.
    #[inline]
    pub fn masking_key(&self) -> Option<[u8; 4]> {
        self.masking_key
    }

    /// Length of the emitted header: the shortest length encoding is always used.
    #[inline]
    pub fn header_len(&self) -> usize {
        let extended = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + extended + if self.masking_key.is_some() { 4 } else { 0 }
    }

    /// Writes the header to the start of `out` and returns its length.
    #[inline]
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Truncated> {
        let len = self.header_len();
        let out = out.get_mut(..len).ok_or(Truncated { needed: len })?;
        out[0] =
            if self.fin { FIN } else { 0 } | if self.rsv1 { RSV1 } else { 0 } | self.opcode as u8;
        let mask = if self.masking_key.is_some() { MASK } else { 0 };
        let key_at = match self.payload_len {
            short @ 0..=125 => {
                out[1] = mask | short as u8;
                2
            }
            medium @ 126..=0xFFFF => {
                out[1] = mask | LEN_16;
                out[2..4].copy_from_slice(&(medium as u16).to_be_bytes());
                4
            }
            long => {
                out[1] = mask | LEN_64;
                out[2..10].copy_from_slice(&long.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.masking_key {
            out[key_at..].copy_from_slice(&key);
        }
        Ok(len)
    }

    /// The emitted header as a small owned buffer.
    #[inline]
    pub fn to_bytes(&self) -> HeaderBytes {
        let mut bytes = [0; MAX_HEADER_LEN];
        let len = self.emit(&mut bytes).unwrap_or(0);
        let mut out = HeaderBytes::new();
        // Cannot fail: a header is never longer than MAX_HEADER_LEN.
        let _ = out.extend_from_slice(&bytes[..len]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProtocolError;

    fn parse(bytes: &[u8]) -> Result<FrameHeader, ProtocolError> {
        FrameHeader::parse(&HeaderView::new_checked(bytes).expect("complete header"))
    }

    #[test]
    fn rfc_unmasked_hello() {
        let frame = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let view = HeaderView::new_checked(&frame).unwrap();
        assert_eq!(view.header_len(), 2);
        let h = FrameHeader::parse(&view).unwrap();
        assert_eq!(
            (h.fin(), h.opcode(), h.payload_len(), h.masking_key()),
            (true, OpCode::Text, 5, None)
        );
        assert_eq!(&h.to_bytes()[..], &frame[..2]);
    }

    #[test]
    fn rfc_masked_hello() {
        let frame = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let h = parse(&frame).unwrap();
        assert_eq!(h.masking_key(), Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(h.header_len(), 6);
        assert_eq!(&h.to_bytes()[..], &frame[..6]);
    }

    #[test]
    fn rfc_fragments_and_control_frames() {
        let first = parse(&[0x01, 0x03]).unwrap();
        assert_eq!(
            (first.fin(), first.opcode(), first.payload_len()),
            (false, OpCode::Text, 3)
        );
        let last = parse(&[0x80, 0x02]).unwrap();
        assert_eq!(
            (last.fin(), last.opcode(), last.payload_len()),
            (true, OpCode::Continuation, 2)
        );
        let ping = parse(&[0x89, 0x05]).unwrap();
        assert_eq!(ping.opcode(), OpCode::Ping);
        let pong = parse(&[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d]).unwrap();
        assert_eq!(
            (pong.opcode(), pong.masking_key()),
            (OpCode::Pong, Some([0x37, 0xfa, 0x21, 0x3d]))
        );
    }

    #[test]
    fn rfc_256_byte_and_64k_binary_headers() {
        let h = parse(&[0x82, 0x7E, 0x01, 0x00]).unwrap();
        assert_eq!((h.opcode(), h.payload_len()), (OpCode::Binary, 256));
        assert_eq!(&h.to_bytes()[..], &[0x82, 0x7E, 0x01, 0x00]);
        let big = [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
        let h = parse(&big).unwrap();
        assert_eq!(h.payload_len(), 65536);
        assert_eq!(&h.to_bytes()[..], &big[..]);
    }

    #[test]
    fn non_minimal_lengths_are_accepted() {
        assert_eq!(parse(&[0x82, 0x7E, 0x00, 0x05]).unwrap().payload_len(), 5);
        assert_eq!(
            parse(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0x01, 0x00])
                .unwrap()
                .payload_len(),
            256
        );
    }

    #[test]
    fn required_len_follows_the_second_byte() {
        assert_eq!(HeaderView::required_len(&[]), 2);
        assert_eq!(HeaderView::required_len(&[0x81]), 2);
        assert_eq!(HeaderView::required_len(&[0x81, 0x05]), 2);
        assert_eq!(HeaderView::required_len(&[0x81, 0x85]), 6);
        assert_eq!(HeaderView::required_len(&[0x81, 0x7E]), 4);
        assert_eq!(HeaderView::required_len(&[0x81, 0xFE]), 8);
        assert_eq!(HeaderView::required_len(&[0x81, 0x7F]), 10);
        assert_eq!(HeaderView::required_len(&[0x81, 0xFF]), 14);
        assert_eq!(
            HeaderView::new_checked(&[0x81, 0xFF, 0, 0]).unwrap_err(),
            Truncated { needed: 14 }
        );
        assert_eq!(
            HeaderView::new_checked(&[0x81]).unwrap_err(),
            Truncated { needed: 2 }
        );
    }

    #[test]
    fn rsv2_and_rsv3_are_rejected() {
        for bit in [0x20, 0x10, 0x70] {
            assert_eq!(
                parse(&[0x81 | bit, 0x00]),
                Err(ProtocolError::ReservedBitsSet)
            );
        }
    }

    #[test]
    fn rsv1_is_kept_for_the_connection_to_judge() {
        let h = parse(&[0xC1, 0x05]).unwrap();
        assert!(h.rsv1());
        assert_eq!(&h.to_bytes()[..], &[0xC1, 0x05]);
        assert!(!parse(&[0x81, 0x05]).unwrap().rsv1());
    }

    #[test]
    fn every_reserved_opcode_is_rejected() {
        for bits in [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(
                parse(&[0x80 | bits, 0x00]),
                Err(ProtocolError::ReservedOpcode),
                "opcode {bits:#x}"
            );
        }
    }

    #[test]
    fn length_with_top_bit_is_rejected() {
        assert_eq!(
            parse(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(ProtocolError::PayloadLengthTopBitSet)
        );
        assert_eq!(
            FrameHeader::new(true, OpCode::Binary, 1 << 63, None),
            Err(ProtocolError::PayloadLengthTopBitSet)
        );
    }

    #[test]
    fn long_control_frame_is_rejected() {
        assert_eq!(
            parse(&[0x89, 0x7E, 0x00, 0x7E]),
            Err(ProtocolError::ControlFrameTooLong)
        );
        assert!(parse(&[0x89, 0x7D]).is_ok());
    }

    #[test]
    fn fragmented_control_frame_is_rejected() {
        for opcode in [0x8, 0x9, 0xA] {
            assert_eq!(
                parse(&[opcode, 0x00]),
                Err(ProtocolError::FragmentedControlFrame)
            );
        }
    }

    #[test]
    fn emit_needs_room() {
        let h = FrameHeader::new(true, OpCode::Binary, 70_000, Some([1, 2, 3, 4])).unwrap();
        assert_eq!(h.emit(&mut [0; 13]), Err(Truncated { needed: 14 }));
        assert_eq!(h.emit(&mut [0; 14]), Ok(14));
    }
}
