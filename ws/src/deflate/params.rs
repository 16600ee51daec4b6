//! The permessage-deflate extension parameters (RFC 7692 §7.1): the validated value of one
//! `Sec-WebSocket-Extensions` element, parsed from an [`ExtensionView`] and emitted back.

use crate::handshake::{BufferTooSmall, ExtensionView};

/// The extension token (RFC 7692 §7).
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// A LZ77 window size as a base-2 logarithm: 8 to 15 (RFC 7692 §7.1.2), i.e. 256 bytes to
/// 32 KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowBits(u8);

impl WindowBits {
    /// The smallest window the RFC allows.
    pub const MIN: WindowBits = WindowBits(8);
    /// The largest window, and the one in use when no parameter limits it.
    pub const MAX: WindowBits = WindowBits(15);

    /// `bits` if it is in 8..=15.
    pub const fn new(bits: u8) -> Option<WindowBits> {
        if bits >= 8 && bits <= 15 {
            Some(WindowBits(bits))
        } else {
            None
        }
    }

    /// The base-2 logarithm, 8 to 15.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The window in bytes, 2^bits.
    pub const fn bytes(self) -> usize {
        1 << self.0
    }
}

/// `client_max_window_bits` as it may appear: in an offer without a value ("I can limit my
/// window if you ask"), or with one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientMaxWindowBits {
    /// The parameter without a value (offers only).
    Supported,
    /// The parameter with a value.
    Bits(WindowBits),
}

/// The parameters of one permessage-deflate offer or response. A value of this type holds no
/// duplicate, unknown or out-of-range parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// `server_no_context_takeover`: the server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover`: the client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits`: the largest window the server's compressor may use.
    pub server_max_window_bits: Option<WindowBits>,
    /// `client_max_window_bits`: see [`ClientMaxWindowBits`].
    pub client_max_window_bits: Option<ClientMaxWindowBits>,
}

/// Why an element is not a permessage-deflate offer or response this end can take. A server
/// declines such an offer and looks at the next (RFC 7692 §5); a client fails the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamError {
    /// The element names another extension.
    OtherExtension,
    /// A parameter RFC 7692 does not define (§7: "MUST decline").
    UnknownParameter,
    /// A parameter appears twice (§7).
    DuplicateParameter,
    /// A `*_no_context_takeover` with a value, `server_max_window_bits` without one, or a
    /// window size that is not a decimal 8–15 (§7.1.1, §7.1.2).
    InvalidValue,
}

impl DeflateParams {
    /// Validates one element (the view checked its syntax; this checks its meaning).
    pub fn parse(view: &ExtensionView<'_>) -> Result<Self, ParamError> {
        if !view
            .name()
            .eq_ignore_ascii_case(PERMESSAGE_DEFLATE.as_bytes())
        {
            return Err(ParamError::OtherExtension);
        }
        let mut params = DeflateParams::default();
        let mut seen = [false; 4];
        for param in view.params() {
            let param = param.map_err(|_| ParamError::InvalidValue)?;
            let window = || {
                param
                    .value
                    .and_then(|v| v.small_decimal())
                    .and_then(|bits| u8::try_from(bits).ok())
                    .and_then(WindowBits::new)
                    .ok_or(ParamError::InvalidValue)
            };
            let name = param.name;
            let index = if name.eq_ignore_ascii_case(b"server_no_context_takeover") {
                0
            } else if name.eq_ignore_ascii_case(b"client_no_context_takeover") {
                1
            } else if name.eq_ignore_ascii_case(b"server_max_window_bits") {
                2
            } else if name.eq_ignore_ascii_case(b"client_max_window_bits") {
                3
            } else {
                return Err(ParamError::UnknownParameter);
            };
            if core::mem::replace(&mut seen[index], true) {
                return Err(ParamError::DuplicateParameter);
            }
            match index {
                0 | 1 if param.value.is_some() => return Err(ParamError::InvalidValue),
                0 => params.server_no_context_takeover = true,
                1 => params.client_no_context_takeover = true,
                2 => params.server_max_window_bits = Some(window()?),
                _ => {
                    params.client_max_window_bits = Some(match param.value {
                        None => ClientMaxWindowBits::Supported,
                        Some(_) => ClientMaxWindowBits::Bits(window()?),
                    })
                }
            }
        }
        Ok(params)
    }

    /// Writes the element, `permessage-deflate` then each parameter present, in the order of
    /// the fields, e.g. `permessage-deflate; server_no_context_takeover; client_max_window_bits=10`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let mut len = 0;
        let mut put = |bytes: &[u8]| -> Result<(), BufferTooSmall> {
            let end = len + bytes.len();
            out.get_mut(len..end)
                .ok_or(BufferTooSmall)?
                .copy_from_slice(bytes);
            len = end;
            Ok(())
        };
        put(PERMESSAGE_DEFLATE.as_bytes())?;
        if self.server_no_context_takeover {
            put(b"; server_no_context_takeover")?;
        }
        if self.client_no_context_takeover {
            put(b"; client_no_context_takeover")?;
        }
        if let Some(bits) = self.server_max_window_bits {
            put(b"; server_max_window_bits=")?;
            put(&window_digits(bits))?;
        }
        match self.client_max_window_bits {
            None => {}
            Some(ClientMaxWindowBits::Supported) => put(b"; client_max_window_bits")?,
            Some(ClientMaxWindowBits::Bits(bits)) => {
                put(b"; client_max_window_bits=")?;
                put(&window_digits(bits))?;
            }
        }
        Ok(len)
    }

    /// The element as [`DeflateParams::emit`] writes it, in a buffer that always fits it.
    pub fn to_bytes(&self) -> heapless::Vec<u8, MAX_PARAMS_LEN> {
        let mut bytes = [0; MAX_PARAMS_LEN];
        let len = self.emit(&mut bytes).unwrap_or(0);
        let mut out = heapless::Vec::new();
        // Cannot fail: MAX_PARAMS_LEN is the longest element emit writes.
        let _ = out.extend_from_slice(&bytes[..len]);
        out
    }
}

/// Longest element [`DeflateParams::emit`] writes (every parameter, two-digit values).
pub const MAX_PARAMS_LEN: usize = 18 + 28 + 28 + 27 + 27;

fn window_digits(bits: WindowBits) -> heapless::Vec<u8, 2> {
    let mut digits = heapless::Vec::new();
    let bits = bits.get();
    if bits >= 10 {
        let _ = digits.push(b'0' + bits / 10);
    }
    let _ = digits.push(b'0' + bits % 10);
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(element: &str) -> Result<DeflateParams, ParamError> {
        let view = ExtensionView::new_checked(element.as_bytes()).expect("well-formed");
        DeflateParams::parse(&view)
    }

    #[test]
    fn every_parameter_with_its_values() {
        assert_eq!(parse("permessage-deflate"), Ok(DeflateParams::default()));
        assert_eq!(
            parse(
                "Permessage-Deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10; client_max_window_bits=\"9\""
            ),
            Ok(DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: WindowBits::new(10),
                client_max_window_bits: Some(ClientMaxWindowBits::Bits(WindowBits(9))),
            })
        );
        assert_eq!(
            parse("permessage-deflate; client_max_window_bits").map(|p| p.client_max_window_bits),
            Ok(Some(ClientMaxWindowBits::Supported))
        );
        for bits in 8..=15 {
            let params = parse(&format_bits(bits)).unwrap();
            assert_eq!(params.server_max_window_bits, WindowBits::new(bits));
        }
    }

    fn format_bits(bits: u8) -> heapless::String<64> {
        let mut s = heapless::String::new();
        let _ = core::fmt::write(
            &mut s,
            format_args!("permessage-deflate; server_max_window_bits={bits}"),
        );
        s
    }

    #[test]
    fn declined_offers() {
        let table = [
            ("x-webkit-deflate-frame", ParamError::OtherExtension),
            ("permessage-deflate; foo", ParamError::UnknownParameter),
            ("permessage-deflate; foo=1", ParamError::UnknownParameter),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                ParamError::DuplicateParameter,
            ),
            (
                "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
                ParamError::DuplicateParameter,
            ),
            (
                "permessage-deflate; server_no_context_takeover=1",
                ParamError::InvalidValue,
            ),
            (
                "permessage-deflate; client_no_context_takeover=\"x\"",
                ParamError::InvalidValue,
            ),
            (
                "permessage-deflate; server_max_window_bits",
                ParamError::InvalidValue,
            ),
            (
                "permessage-deflate; server_max_window_bits=7",
                ParamError::InvalidValue,
            ),
            (
                "permessage-deflate; server_max_window_bits=16",
                ParamError::InvalidValue,
            ),
            (
                "permessage-deflate; client_max_window_bits=0",
                ParamError::InvalidValue,
            ),
            (
                "permessage-deflate; client_max_window_bits=a",
                ParamError::InvalidValue,
            ),
            (
                "permessage-deflate; client_max_window_bits=1000",
                ParamError::InvalidValue,
            ),
        ];
        for (element, error) in table {
            assert_eq!(parse(element), Err(error), "{element}");
        }
    }

    #[test]
    fn emit_is_the_mirror_of_parse() {
        let cases = [
            DeflateParams::default(),
            DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: WindowBits::new(15),
                client_max_window_bits: Some(ClientMaxWindowBits::Bits(WindowBits(8))),
            },
            // The longest element: it fills MAX_PARAMS_LEN exactly.
            DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: WindowBits::new(15),
                client_max_window_bits: Some(ClientMaxWindowBits::Bits(WindowBits(15))),
            },
            DeflateParams {
                client_max_window_bits: Some(ClientMaxWindowBits::Supported),
                ..DeflateParams::default()
            },
        ];
        for params in cases {
            let bytes = params.to_bytes();
            let view = ExtensionView::new_checked(&bytes).unwrap();
            assert_eq!(DeflateParams::parse(&view), Ok(params));
        }
        assert_eq!(
            &DeflateParams {
                server_no_context_takeover: true,
                client_max_window_bits: Some(ClientMaxWindowBits::Bits(WindowBits(10))),
                ..DeflateParams::default()
            }
            .to_bytes()[..],
            b"permessage-deflate; server_no_context_takeover; client_max_window_bits=10"
        );
        assert_eq!(
            DeflateParams::default().emit(&mut [0; 5]),
            Err(BufferTooSmall)
        );
    }
}
