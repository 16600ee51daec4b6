//! Lexing of an HTTP/1.1 message head (RFC 9112 §2.1, §5): lines, field lines, the
//! HTTP-version. Shared by the request parser (server) and the response parser (client).

use super::Header;
use super::token::is_token;

/// Bounds on the head the parsers accept, beyond the header count the caller's storage bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseLimits {
    /// The largest head, in bytes including the final CRLFCRLF, the parser waits for. When this
    /// many bytes have arrived without the head ending, the answer is 431 rather than `Partial`,
    /// so a peer cannot make the caller buffer without bound. Set it to the capacity of the
    /// caller's receive buffer.
    pub max_head: usize,
}

impl ParseLimits {
    /// 8 KiB: the common limit of HTTP servers; browser requests with cookies stay well below.
    pub const DEFAULT: ParseLimits = ParseLimits { max_head: 8 * 1024 };
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A malformed or oversized message head, common to requests and responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// A line ended in a bare LF, or a CR was not followed by LF.
    BadLineEnding,
    /// A field line whose name is empty or not a token, has whitespace before the colon, or has
    /// no colon at all.
    BadHeaderName,
    /// A field value holding a control character (NUL, DEL, ...).
    BadHeaderValue,
    /// A field line starting with whitespace: obsolete line folding (RFC 9112 §5.2), or
    /// whitespace between the start line and the first field (RFC 9112 §2.2).
    ObsoleteLineFolding,
    /// More field lines than the caller's header storage holds.
    TooManyHeaders,
    /// `ParseLimits::max_head` bytes arrived without the end of the head.
    HeadTooLarge,
}

/// A cursor over the lines of a head, limited to `ParseLimits::max_head` bytes.
pub(crate) struct Lines<'b> {
    window: &'b [u8],
    /// True when the window ends at the limit rather than at the end of the received bytes.
    at_limit: bool,
    pos: usize,
}

impl<'b> Lines<'b> {
    pub(crate) fn new(buf: &'b [u8], limits: &ParseLimits) -> Self {
        let (window, at_limit) = match buf.split_at_checked(limits.max_head) {
            Some((window, _)) => (window, true),
            None => (buf, false),
        };
        Lines {
            window,
            at_limit,
            pos: 0,
        }
    }

    /// The next line without its CRLF, `None` when it has not fully arrived yet.
    pub(crate) fn next_line(&mut self) -> Result<Option<&'b [u8]>, HeadError> {
        let rest = self.window.get(self.pos..).unwrap_or_default();
        let Some(end) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
            return self.incomplete();
        };
        match (rest[end], rest.get(end + 1)) {
            (b'\r', Some(b'\n')) => {
                self.pos += end + 2;
                Ok(Some(&rest[..end]))
            }
            // A CR at the end of what arrived may still be followed by LF.
            (b'\r', None) => self.incomplete(),
            _ => Err(HeadError::BadLineEnding),
        }
    }

    /// Bytes consumed so far: after the empty line, the length of the whole head.
    pub(crate) fn consumed(&self) -> usize {
        self.pos
    }

    fn incomplete(&self) -> Result<Option<&'b [u8]>, HeadError> {
        if self.at_limit {
            Err(HeadError::HeadTooLarge)
        } else {
            Ok(None)
        }
    }
}

/// Reads field lines into `headers` up to and including the empty line that ends the head.
/// Returns the number of headers, or `None` when the head has not fully arrived yet.
pub(crate) fn parse_fields<'b>(
    lines: &mut Lines<'b>,
    headers: &mut [Header<'b>],
) -> Result<Option<usize>, HeadError> {
    let mut count = 0;
    loop {
        let Some(line) = lines.next_line()? else {
            return Ok(None);
        };
        if line.is_empty() {
            return Ok(Some(count));
        }
        let header = parse_field_line(line)?;
        *headers.get_mut(count).ok_or(HeadError::TooManyHeaders)? = header;
        count += 1;
    }
}

/// `field-line = field-name ":" OWS field-value OWS` (RFC 9112 §5).
fn parse_field_line(line: &[u8]) -> Result<Header<'_>, HeadError> {
    if line.first().is_some_and(|&b| is_whitespace(b)) {
        return Err(HeadError::ObsoleteLineFolding);
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HeadError::BadHeaderName)?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    // A token cannot hold whitespace, so this also rejects "Host : x" (RFC 9112 §5.1).
    if !is_token(name) {
        return Err(HeadError::BadHeaderName);
    }
    let name = core::str::from_utf8(name).map_err(|_| HeadError::BadHeaderName)?;
    let value = trim_whitespace(value);
    if !value.iter().all(|&b| is_field_byte(b)) {
        return Err(HeadError::BadHeaderValue);
    }
    Ok(Header { name, value })
}

/// `field-vchar / SP / HTAB` with `field-vchar = VCHAR / obs-text` (RFC 9110 §5.5).
pub(crate) fn is_field_byte(b: u8) -> bool {
    matches!(b, b'\t' | b' '..=b'~' | 0x80..=0xff)
}

/// SP or HTAB, the whitespace of HTTP's OWS rule (RFC 9110 §5.6.3).
pub(crate) fn is_whitespace(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `bytes` without leading and trailing SP/HTAB.
pub(crate) fn trim_whitespace(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_whitespace(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_whitespace(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// `HTTP-version = "HTTP/" DIGIT "." DIGIT` (RFC 9112 §2.3) as (major, minor).
pub(crate) fn parse_http_version(bytes: &[u8]) -> Option<(u8, u8)> {
    match bytes {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Some((major - b'0', minor - b'0'))
        }
        _ => None,
    }
}

/// `bytes` as text when they are ASCII, for the fields this crate hands out as `&str`.
pub(crate) fn ascii(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        core::str::from_utf8(bytes).ok()
    } else {
        None
    }
}
