//! Tokens and comma-separated lists of them (RFC 9110 §5.6.1, §5.6.2), as used by `Connection`,
//! `Upgrade`, `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions`.

use super::Header;
use super::head::trim_whitespace;

/// `tchar` (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `token = 1*tchar` (RFC 9110 §5.6.2).
pub(crate) fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| is_tchar(b))
}

/// The elements of a list-valued field, across every field line with that name, in order,
/// without surrounding whitespace. Empty elements (`a, , b`) are skipped as RFC 9110 §5.6.1
/// requires of recipients. Commas inside quoted strings are not special-cased: none of the
/// fields this crate interprets allow them in the parts it compares.
#[derive(Clone, Debug)]
pub(crate) struct Elements<'a> {
    headers: core::slice::Iter<'a, Header<'a>>,
    name: &'static str,
    rest: &'a [u8],
}

impl<'a> Elements<'a> {
    pub(crate) fn new(headers: &'a [Header<'a>], name: &'static str) -> Self {
        Elements {
            headers: headers.iter(),
            name,
            rest: b"",
        }
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if self.rest.is_empty() {
                self.rest = self
                    .headers
                    .find(|h| h.name.eq_ignore_ascii_case(self.name))?
                    .value;
            }
            let (element, rest) = match self.rest.iter().position(|&b| b == b',') {
                Some(comma) => (&self.rest[..comma], &self.rest[comma + 1..]),
                None => (self.rest, &b""[..]),
            };
            self.rest = rest;
            let element = trim_whitespace(element);
            if !element.is_empty() {
                return Some(element);
            }
        }
    }
}

/// Whether the list-valued field `name` holds `token`, compared case-insensitively.
pub(crate) fn list_contains(headers: &[Header<'_>], name: &'static str, token: &str) -> bool {
    Elements::new(headers, name).any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
}
