//! Close codes and the Close frame payload (RFC 6455 §5.5.1, §7.4).
//!
//! A Close payload is empty, or a 2-byte big-endian status code followed by a UTF-8 reason.

use core::fmt;

use crate::error::ProtocolError;
use crate::frame::MAX_CONTROL_PAYLOAD_LEN;
use crate::utf8::Utf8Validator;

/// Longest close reason: a control payload is at most 125 bytes and the code takes 2.
pub const MAX_CLOSE_REASON_LEN: usize = MAX_CONTROL_PAYLOAD_LEN - 2;

/// The reason text of a received Close frame, copied out of the connection because a
/// control frame may arrive split over several reads.
pub type CloseReason = heapless::String<MAX_CLOSE_REASON_LEN>;

/// A WebSocket status code (RFC 6455 §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigated away).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer violated the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: the endpoint cannot accept this data type.
    pub const UNSUPPORTED: CloseCode = CloseCode(1003);
    /// 1005: no status code was present. Reported locally, never sent on the wire.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection dropped without a Close frame. Reported locally, never sent.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: message data was inconsistent with its type (for example invalid UTF-8 text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a frame or message is too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL: CloseCode = CloseCode(1011);
    /// 1015: the TLS handshake failed. Reported locally, never sent.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether this code may appear in a Close frame: 1000–1003 and 1007–1011 (defined by
    /// RFC 6455), 3000–3999 (registered with IANA) and 4000–4999 (private use). Everything
    /// else, including 1004–1006 and 1015, is a protocol error when received.
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1011 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A validated Close frame payload as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosePayload<'a> {
    /// The status code, `None` when the payload was empty.
    pub code: Option<CloseCode>,
    /// The reason, empty when absent.
    pub reason: &'a str,
}

impl<'a> ClosePayload<'a> {
    /// Parses and validates a received Close payload: length 1 or a code that is not valid on
    /// the wire is a protocol error (1002), a reason that is not UTF-8 is invalid payload (1007).
    pub fn parse(payload: &'a [u8]) -> Result<Self, ProtocolError> {
        match payload {
            [] => Ok(ClosePayload {
                code: None,
                reason: "",
            }),
            [_] => Err(ProtocolError::CloseLengthOne),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode);
                }
                let reason = Utf8Validator::validate_complete(reason)
                    .map_err(|_| ProtocolError::InvalidCloseReason)?;
                Ok(ClosePayload {
                    code: Some(code),
                    reason,
                })
            }
        }
    }

    /// Bytes `emit` writes.
    pub fn len(&self) -> usize {
        match self.code {
            None => 0,
            Some(_) => 2 + self.reason.len(),
        }
    }

    /// Whether the payload is empty (no code, no reason).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the payload, the mirror of [`ClosePayload::parse`]. A reason without a code
    /// cannot be expressed on the wire and is dropped.
    pub fn emit(
        &self,
        out: &mut heapless::Vec<u8, MAX_CONTROL_PAYLOAD_LEN>,
    ) -> Result<(), CloseReasonTooLong> {
        out.clear();
        if let Some(code) = self.code {
            if self.reason.len() > MAX_CLOSE_REASON_LEN {
                return Err(CloseReasonTooLong);
            }
            out.extend_from_slice(&code.0.to_be_bytes())
                .map_err(|_| CloseReasonTooLong)?;
            out.extend_from_slice(self.reason.as_bytes())
                .map_err(|_| CloseReasonTooLong)?;
        }
        Ok(())
    }
}

/// The reason does not fit in a control frame: it must be at most [`MAX_CLOSE_REASON_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReasonTooLong;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_matches_rfc_ranges() {
        for code in 0..=u16::MAX {
            let expected = (1000..=1003).contains(&code)
                || (1007..=1011).contains(&code)
                || (3000..=4999).contains(&code);
            assert_eq!(CloseCode(code).is_valid_on_wire(), expected, "code {code}");
        }
        for local_only in [
            CloseCode::NO_STATUS,
            CloseCode::ABNORMAL,
            CloseCode::TLS_HANDSHAKE,
        ] {
            assert!(!local_only.is_valid_on_wire());
        }
    }

    #[test]
    fn parse_empty_payload_has_no_code() {
        assert_eq!(
            ClosePayload::parse(&[]),
            Ok(ClosePayload {
                code: None,
                reason: ""
            })
        );
    }

    #[test]
    fn parse_code_and_reason() {
        let p = ClosePayload::parse(b"\x03\xe8bye").unwrap();
        assert_eq!(p.code, Some(CloseCode::NORMAL));
        assert_eq!(p.reason, "bye");
    }

    #[test]
    fn parse_rejects_length_one() {
        assert_eq!(
            ClosePayload::parse(&[0x03]),
            Err(ProtocolError::CloseLengthOne)
        );
    }

    #[test]
    fn parse_rejects_codes_invalid_on_wire() {
        for code in [0u16, 999, 1004, 1005, 1006, 1012, 1015, 2999, 5000, 65535] {
            let bytes = code.to_be_bytes();
            assert_eq!(
                ClosePayload::parse(&bytes),
                Err(ProtocolError::InvalidCloseCode),
                "code {code}"
            );
        }
    }

    #[test]
    fn parse_rejects_invalid_utf8_reason() {
        assert_eq!(
            ClosePayload::parse(
                b"\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
            ),
            Err(ProtocolError::InvalidCloseReason)
        );
        assert_eq!(
            ClosePayload::parse(b"\x03\xe8\xe2\x82"),
            Err(ProtocolError::InvalidCloseReason)
        );
    }

    #[test]
    fn emit_round_trips() {
        let mut buf = heapless::Vec::new();
        for p in [
            ClosePayload {
                code: None,
                reason: "",
            },
            ClosePayload {
                code: Some(CloseCode::GOING_AWAY),
                reason: "",
            },
            ClosePayload {
                code: Some(CloseCode(4000)),
                reason: "κόσμε",
            },
        ] {
            p.emit(&mut buf).unwrap();
            assert_eq!(buf.len(), p.len());
            assert_eq!(ClosePayload::parse(&buf), Ok(p));
        }
    }

    #[test]
    fn emit_rejects_long_reason() {
        let bytes = [b'x'; MAX_CLOSE_REASON_LEN + 1];
        let long = core::str::from_utf8(&bytes).unwrap();
        let mut buf = heapless::Vec::new();
        let p = ClosePayload {
            code: Some(CloseCode::NORMAL),
            reason: long,
        };
        assert_eq!(p.emit(&mut buf), Err(CloseReasonTooLong));
        let fits = &long[..MAX_CLOSE_REASON_LEN];
        ClosePayload {
            code: Some(CloseCode::NORMAL),
            reason: fits,
        }
        .emit(&mut buf)
        .unwrap();
        assert_eq!(buf.len(), MAX_CONTROL_PAYLOAD_LEN);
    }
}
