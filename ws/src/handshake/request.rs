//! The request side of HTTP/1.1 (RFC 9112 §3): the request line, the `Host` rule, and the
//! questions a server asks of any request (keep-alive, body length).

use super::error::RequestError;
use super::head::{Lines, ParseLimits, parse_fields, parse_http_version};
use super::token::{Elements, is_token, list_contains};
use super::{Header, Status};

/// A complete, syntactically valid request head. Field values borrow the input buffer (`'b`),
/// the header list borrows the caller's header storage (`'h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'h, 'b> {
    method: &'b str,
    path: &'b str,
    minor_version: u8,
    headers: &'h [Header<'b>],
    head_len: usize,
}

/// Parses a request head with [`ParseLimits::DEFAULT`]; see [`parse_request_with_limits`].
pub fn parse_request<'h, 'b>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>],
) -> Result<Status<Request<'h, 'b>>, RequestError> {
    parse_request_with_limits(buf, headers, &ParseLimits::DEFAULT)
}

/// Parses the request head at the start of `buf`, all bytes received so far.
///
/// Returns `Partial` while the head is a valid beginning that has not fully arrived, and
/// `Complete` once the empty line is in; bytes after `head_len()` are not looked at. Errors are
/// reported as soon as the line holding them is complete, so any split of the same bytes gives
/// the same answer. More field lines than `headers.len()`, or `limits.max_head` bytes without
/// the end of the head, are errors whose status is 431. An HTTP/1.1 request must carry exactly
/// one `Host` (RFC 9112 §3.2).
pub fn parse_request_with_limits<'h, 'b>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>],
    limits: &ParseLimits,
) -> Result<Status<Request<'h, 'b>>, RequestError> {
    let mut lines = Lines::new(buf, limits);
    let Some(line) = lines.next_line()? else {
        return Ok(Status::Partial);
    };
    let (method, path, minor_version) = parse_request_line(line)?;
    let Some(count) = parse_fields(&mut lines, headers)? else {
        return Ok(Status::Partial);
    };
    let request = Request {
        method,
        path,
        minor_version,
        headers: &headers[..count],
        head_len: lines.consumed(),
    };
    request.check_host()?;
    Ok(Status::Complete(request))
}

/// `request-line = method SP request-target SP HTTP-version` (RFC 9112 §3).
fn parse_request_line(line: &[u8]) -> Result<(&str, &str, u8), RequestError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::BadRequestLine);
    };
    if !is_token(method) || target.is_empty() || !target.iter().all(u8::is_ascii_graphic) {
        return Err(RequestError::BadRequestLine);
    }
    let minor_version = match parse_http_version(version) {
        Some((1, minor)) => minor,
        Some(_) => return Err(RequestError::UnsupportedHttpVersion),
        None => return Err(RequestError::BadRequestLine),
    };
    // Origin-form only: we are an origin server, not a proxy, and serve no `OPTIONS *`.
    if target.first() != Some(&b'/') {
        return Err(RequestError::BadRequestTarget);
    }
    // Both are ASCII after the checks above.
    let method = core::str::from_utf8(method).map_err(|_| RequestError::BadRequestLine)?;
    let path = core::str::from_utf8(target).map_err(|_| RequestError::BadRequestLine)?;
    Ok((method, path, minor_version))
}

impl<'h, 'b> Request<'h, 'b> {
    /// The method, case-sensitive as RFC 9110 §9.1 says (`GET`, not `get`).
    pub fn method(&self) -> &'b str {
        self.method
    }

    /// The request-target in origin-form: the path, including any `?query`.
    pub fn path(&self) -> &'b str {
        self.path
    }

    /// The minor HTTP version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub fn minor_version(&self) -> u8 {
        self.minor_version
    }

    /// All header field lines in the order received.
    pub fn headers(&self) -> &'h [Header<'b>] {
        self.headers
    }

    /// Length of the head in bytes, including the final CRLFCRLF.
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// The value of the first field named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The value of the field `name` if it appears exactly once; `DuplicateField` if more often.
    pub(crate) fn single(&self, name: &'static str) -> Result<Option<&'b [u8]>, RequestError> {
        let mut values = self
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value);
        match (values.next(), values.next()) {
            (first, None) => Ok(first),
            (_, Some(_)) => Err(RequestError::DuplicateField(name)),
        }
    }

    /// The tokens of the `Connection` field lines, in order (e.g. `keep-alive`, `Upgrade`).
    pub fn connection(&self) -> impl Iterator<Item = &'h [u8]> + 'h {
        Elements::new(self.headers, "Connection")
    }

    /// Whether the client asks to change protocols at all (an `Upgrade` field is present).
    /// A server passes such a request to [`validate_upgrade`](super::validate_upgrade) — which
    /// answers 400 to any upgrade other than a valid WebSocket one — and serves the others as
    /// plain requests.
    pub fn upgrade_requested(&self) -> bool {
        self.header("Upgrade").is_some()
    }

    /// Whether `Upgrade` holds `websocket` and `Connection` holds `upgrade` (case-insensitive
    /// tokens, RFC 6455 §4.1). This does not check the rest of the handshake.
    pub fn is_websocket_upgrade(&self) -> bool {
        list_contains(self.headers, "Upgrade", "websocket")
            && list_contains(self.headers, "Connection", "upgrade")
    }

    /// Whether the connection may carry another request after the answer to this one:
    /// HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`
    /// (RFC 9112 §9.3). Also false when the request announces a body or an invalid length:
    /// we do not read request bodies, so the next request's start is unknown.
    pub fn keep_alive(&self) -> bool {
        let persistent = if self.minor_version >= 1 {
            !list_contains(self.headers, "Connection", "close")
        } else {
            list_contains(self.headers, "Connection", "keep-alive")
        };
        persistent && matches!(self.content_length(), Ok(None | Some(0)))
    }

    /// The body length announced by `Content-Length` (RFC 9112 §6.3), `None` without one.
    ///
    /// Errors: a value that is not all digits or exceeds `u64`, and repeated values that
    /// differ, are `InvalidField` (400); any `Transfer-Encoding` is
    /// `TransferEncodingNotImplemented` (501) because we never decode request bodies.
    pub fn content_length(&self) -> Result<Option<u64>, RequestError> {
        const NAME: &str = "Content-Length";
        if self.header("Transfer-Encoding").is_some() {
            return Err(RequestError::TransferEncodingNotImplemented);
        }
        if self.header(NAME).is_none() {
            return Ok(None);
        }
        // "Content-Length: 5, 5" and repeated identical lines are allowed (RFC 9110 §8.6).
        let mut length = None;
        for element in Elements::new(self.headers, NAME) {
            let value = parse_decimal(element).ok_or(RequestError::InvalidField(NAME))?;
            if length.is_some_and(|l| l != value) {
                return Err(RequestError::InvalidField(NAME));
            }
            length = Some(value);
        }
        // Present but without any element ("Content-Length: ,"): no valid value.
        length.map(Some).ok_or(RequestError::InvalidField(NAME))
    }

    /// RFC 9112 §3.2: an HTTP/1.1 request has exactly one `Host`, with a valid value.
    fn check_host(&self) -> Result<(), RequestError> {
        match self.single("Host")? {
            Some(host) if !host.iter().all(|&b| is_host_byte(b)) => {
                Err(RequestError::InvalidField("Host"))
            }
            None if self.minor_version >= 1 => Err(RequestError::MissingField("Host")),
            _ => Ok(()),
        }
    }
}

/// Bytes of `Host = uri-host [ ":" port ]` (RFC 3986 §3.2.2: reg-name, IP literals, port).
pub(crate) fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&b)
}

/// `1*DIGIT` as a u64; `None` when empty, not digits, or too large.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let digit = u64::from(b.checked_sub(b'0').filter(|d| *d <= 9)?);
        acc.checked_mul(10)?.checked_add(digit)
    })
}
