//! `Sec-WebSocket-Extensions` (RFC 6455 §9.1): a list of extensions, each a token with
//! parameters, some of whose values may be quoted strings.
//!
//! ```text
//! extension-list  = 1#extension
//! extension       = extension-token *( ";" extension-param )
//! extension-param = token [ "=" (token | quoted-string) ]
//! ```
//!
//! This is the view step of parsing: [`ExtensionOffers`] walks every field line with the name,
//! in order, and yields each list element as an [`ExtensionView`] whose syntax is checked
//! (commas inside quoted strings do not split elements). What the parameters mean is for the
//! extension to validate (see [`crate::deflate::DeflateParams::parse`]).

use super::Header;
use super::head::trim_whitespace as trim;
use super::token::is_token;

/// The field name.
pub(crate) const EXTENSIONS: &str = "Sec-WebSocket-Extensions";

/// One list element: an extension name and its parameters, syntax checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtensionView<'a> {
    name: &'a [u8],
    /// The parameters as sent, starting at the first `;` (empty without parameters).
    params: &'a [u8],
}

/// A list element that does not follow the grammar above: a name or parameter that is not a
/// token, an unterminated quoted string, a quoted value that is not a token once unescaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedExtension;

impl<'a> ExtensionView<'a> {
    /// Checks the syntax of one list element (without the separating commas).
    pub fn new_checked(element: &'a [u8]) -> Result<Self, MalformedExtension> {
        let element = trim(element);
        let split = element
            .iter()
            .position(|&b| b == b';')
            .unwrap_or(element.len());
        let name = trim(&element[..split]);
        if !is_token(name) {
            return Err(MalformedExtension);
        }
        let view = ExtensionView {
            name,
            params: &element[split..],
        };
        for param in view.params() {
            param?;
        }
        Ok(view)
    }

    /// The extension token, e.g. `permessage-deflate`.
    pub fn name(&self) -> &'a [u8] {
        self.name
    }

    /// The parameters in order. Each item is `Err` only for a view not made by
    /// [`ExtensionView::new_checked`] (which rejects those).
    pub fn params(&self) -> impl Iterator<Item = Result<Param<'a>, MalformedExtension>> + 'a {
        let mut rest = self.params;
        core::iter::from_fn(move || {
            // `rest` is empty or starts with ';'.
            let after = rest.get(1..)?;
            let (param, next) = split_param(after);
            rest = next;
            Some(Param::parse(param))
        })
    }
}

/// Splits `bytes` (after a `;`) at the next `;` outside a quoted string.
fn split_param(bytes: &[u8]) -> (&[u8], &[u8]) {
    bytes.split_at(unquoted_position(bytes, b';'))
}

/// Index of the first `delimiter` outside a quoted string (RFC 9110 §5.6.4: `\` escapes the
/// next byte inside quotes), or the length.
fn unquoted_position(bytes: &[u8], delimiter: u8) -> usize {
    let mut quoted = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        match (quoted, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, false, b'"') => quoted = !quoted,
            (false, _, b) if b == delimiter => return i,
            _ => {}
        }
    }
    bytes.len()
}

/// One `extension-param`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    /// The parameter name, a token.
    pub name: &'a [u8],
    /// The value, if the parameter has one.
    pub value: Option<ParamValue<'a>>,
}

impl<'a> Param<'a> {
    fn parse(param: &'a [u8]) -> Result<Self, MalformedExtension> {
        let param = trim(param);
        let (name, value) = match param.iter().position(|&b| b == b'=') {
            Some(eq) => (trim(&param[..eq]), Some(trim(&param[eq + 1..]))),
            None => (param, None),
        };
        if !is_token(name) {
            return Err(MalformedExtension);
        }
        let value = match value {
            None => None,
            Some(raw) => Some(ParamValue::parse(raw)?),
        };
        Ok(Param { name, value })
    }
}

/// A parameter value: a token, or a quoted string whose unescaped content is a token
/// (RFC 6455 §9.1 requires that of quoted values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamValue<'a> {
    /// As sent, quotes and backslashes included.
    raw: &'a [u8],
}

impl<'a> ParamValue<'a> {
    fn parse(raw: &'a [u8]) -> Result<Self, MalformedExtension> {
        let value = ParamValue { raw };
        let valid = match raw {
            [b'"', inner @ .., b'"'] => {
                // Every backslash escapes the next byte; a lone trailing one would escape the
                // closing quote.
                let mut escaped = false;
                let well_formed = inner.iter().all(|&b| {
                    let ok = escaped || b != b'"';
                    escaped = !escaped && b == b'\\';
                    ok
                }) && !escaped;
                well_formed
                    && value.bytes().all(|b| is_token(&[b]))
                    && value.bytes().next().is_some()
            }
            _ => is_token(raw),
        };
        if valid {
            Ok(value)
        } else {
            Err(MalformedExtension)
        }
    }

    /// The value's bytes with quotes removed and escapes resolved.
    pub fn bytes(&self) -> impl Iterator<Item = u8> + 'a {
        let inner = match self.raw {
            [b'"', inner @ .., b'"'] => inner,
            raw => raw,
        };
        let mut escaped = false;
        inner.iter().filter_map(move |&b| {
            if !escaped && b == b'\\' {
                escaped = true;
                return None;
            }
            escaped = false;
            Some(b)
        })
    }

    /// The value as a decimal number (`1*DIGIT`, at most 3 digits), `None` otherwise.
    pub fn small_decimal(&self) -> Option<u16> {
        let mut digits = 0;
        let mut value = 0u16;
        for b in self.bytes() {
            if !b.is_ascii_digit() || digits == 3 {
                return None;
            }
            digits += 1;
            value = value * 10 + u16::from(b - b'0');
        }
        (digits > 0).then_some(value)
    }
}

/// Every element of every `Sec-WebSocket-Extensions` line, in order: `Ok` for a well-formed
/// one, `Err` for a malformed one (the next element is still found: commas inside quoted
/// strings do not end an element).
#[derive(Clone, Debug)]
pub struct ExtensionOffers<'a> {
    headers: core::slice::Iter<'a, Header<'a>>,
    rest: &'a [u8],
}

impl<'a> ExtensionOffers<'a> {
    /// The extensions listed in `headers`.
    pub fn new(headers: &'a [Header<'a>]) -> Self {
        ExtensionOffers {
            headers: headers.iter(),
            rest: b"",
        }
    }
}

impl<'a> Iterator for ExtensionOffers<'a> {
    type Item = Result<ExtensionView<'a>, MalformedExtension>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                self.rest = self
                    .headers
                    .find(|h| h.name.eq_ignore_ascii_case(EXTENSIONS))?
                    .value;
            }
            let end = unquoted_position(self.rest, b',');
            let element = &self.rest[..end];
            self.rest = self.rest.get(end + 1..).unwrap_or(b"");
            // Empty elements (`a, , b`) are skipped, as RFC 9110 §5.6.1 asks of recipients.
            if !trim(element).is_empty() {
                return Some(ExtensionView::new_checked(element));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offers<'a>(
        headers: &'a [Header<'a>],
    ) -> heapless::Vec<Result<ExtensionView<'a>, MalformedExtension>, 8> {
        ExtensionOffers::new(headers).collect()
    }

    fn header(value: &[u8]) -> Header<'_> {
        Header {
            name: "sec-websocket-extensions",
            value,
        }
    }

    #[test]
    fn elements_across_lines_in_order() {
        let headers = [
            header(b"permessage-deflate; client_max_window_bits, x-foo"),
            Header {
                name: "Host",
                value: b"a",
            },
            header(b"permessage-deflate"),
        ];
        let names: heapless::Vec<&[u8], 4> = ExtensionOffers::new(&headers)
            .map(|e| e.unwrap().name())
            .collect();
        assert_eq!(
            names,
            [&b"permessage-deflate"[..], b"x-foo", b"permessage-deflate"]
        );
    }

    #[test]
    fn params_with_token_and_quoted_values() {
        let headers = [header(
            b"permessage-deflate ; server_max_window_bits=\"10\";client_max_window_bits = 9; a",
        )];
        let view = offers(&headers)[0].unwrap();
        let params: heapless::Vec<Param<'_>, 4> = view.params().map(Result::unwrap).collect();
        assert_eq!(params.len(), 3);
        assert_eq!(params[0].name, b"server_max_window_bits");
        assert_eq!(params[0].value.unwrap().small_decimal(), Some(10));
        assert_eq!(params[1].value.unwrap().small_decimal(), Some(9));
        assert_eq!((params[2].name, params[2].value), (&b"a"[..], None));
    }

    #[test]
    fn escapes_in_quoted_values_are_resolved() {
        let headers = [header(b"e; p=\"1\\2\"")];
        let view = offers(&headers)[0].unwrap();
        let value = view.params().next().unwrap().unwrap().value.unwrap();
        assert_eq!(value.small_decimal(), Some(12));
    }

    #[test]
    fn a_comma_inside_quotes_does_not_split() {
        // The quoted value is not a token, so the element is malformed, but it stays one element.
        let headers = [header(b"e; p=\"a,b\", f")];
        let all = offers(&headers);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], Err(MalformedExtension));
        assert_eq!(all[1].unwrap().name(), b"f");
    }

    #[test]
    fn malformed_elements() {
        for bad in [
            &b"per message"[..],
            b"e; p=\"1",
            b"e; p=\"\"",
            b"e; p=\"1\\\"",
            b"e; =1",
            b"e; p=",
            b"e; p=a b",
            b";p",
            b"e;;",
        ] {
            let headers = [header(bad)];
            assert_eq!(
                offers(&headers)[..],
                [Err(MalformedExtension)],
                "{:?}",
                core::str::from_utf8(bad)
            );
        }
    }

    #[test]
    fn empty_elements_are_skipped_and_decimals_bounded() {
        let headers = [header(b" , e; p=0150 ,, ")];
        let all = offers(&headers);
        assert_eq!(all.len(), 1);
        let value = all[0]
            .unwrap()
            .params()
            .next()
            .unwrap()
            .unwrap()
            .value
            .unwrap();
        assert_eq!(value.small_decimal(), None);
    }
}
