//! Writing a message head into a caller-supplied buffer.

/// The output buffer cannot hold the whole message. What was written is incomplete and must
/// not be sent; retry with a larger buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferTooSmall;

/// Appends to `out`, failing instead of truncating when it is full.
pub(crate) struct Writer<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl<'o> Writer<'o> {
    pub(crate) fn new(out: &'o mut [u8]) -> Self {
        Writer { out, len: 0 }
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> Result<(), BufferTooSmall> {
        let end = self.len.checked_add(bytes.len()).ok_or(BufferTooSmall)?;
        self.out
            .get_mut(self.len..end)
            .ok_or(BufferTooSmall)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    pub(crate) fn decimal(&mut self, mut value: u64) -> Result<(), BufferTooSmall> {
        // u64::MAX has 20 digits.
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.bytes(&digits[start..])
    }

    /// A field line `name: value` CRLF.
    pub(crate) fn header(&mut self, name: &str, value: &[u8]) -> Result<(), BufferTooSmall> {
        self.bytes(name.as_bytes())?;
        self.bytes(b": ")?;
        self.bytes(value)?;
        self.bytes(b"\r\n")
    }
}
