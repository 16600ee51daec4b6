//! A minimal JSON object writer for trace events: fields are appended in order into one
//! `String`, strings are escaped per RFC 8259 §7. Enough for flat events and small arrays;
//! the stack has no serde dependency and needs none for this.

use std::fmt::Write as _;

/// Builds one JSON object. Start with [`Object::new`], add fields, finish with [`Object::end`].
pub(crate) struct Object {
    out: String,
    empty: bool,
}

impl Object {
    /// `{` with room for a typical event.
    pub(crate) fn new() -> Self {
        let mut out = String::with_capacity(256);
        out.push('{');
        Object { out, empty: true }
    }

    fn key(&mut self, name: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        push_string(&mut self.out, name);
        self.out.push(':');
    }

    /// `"name":"value"` with `value` escaped.
    pub(crate) fn str(&mut self, name: &str, value: &str) -> &mut Self {
        self.key(name);
        push_string(&mut self.out, value);
        self
    }

    /// `"name":value` for any integer.
    pub(crate) fn num(&mut self, name: &str, value: impl Into<i128>) -> &mut Self {
        self.key(name);
        // Writing to a String cannot fail.
        let _ = write!(self.out, "{}", value.into());
        self
    }

    /// `"name":true|false`.
    pub(crate) fn bool(&mut self, name: &str, value: bool) -> &mut Self {
        self.key(name);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    /// `"name":` followed by `json`, which must already be valid JSON (a nested object or array).
    pub(crate) fn raw(&mut self, name: &str, json: &str) -> &mut Self {
        self.key(name);
        self.out.push_str(json);
        self
    }

    /// `"name":["a","b",...]`.
    pub(crate) fn strs<'a>(
        &mut self,
        name: &str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> &mut Self {
        self.key(name);
        self.out.push('[');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            push_string(&mut self.out, value);
        }
        self.out.push(']');
        self
    }

    /// Closes the object and returns its text.
    pub(crate) fn end(&mut self) -> String {
        let mut out = std::mem::take(&mut self.out);
        out.push('}');
        out
    }
}

/// Appends `value` as a JSON string literal.
pub(crate) fn push_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // The rest of U+0000..U+001F must be escaped; U+2028/2029 too, so the text is also
            // valid as a JavaScript literal.
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Lower-case hex of `bytes`, no separators.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_in_order_and_strings_escaped() {
        let json = Object::new()
            .str("type", "ws")
            .num("len", 5u32)
            .num("delta", -3i64)
            .bool("fin", true)
            .strs("flags", ["SYN", "ACK"])
            .raw("opts", "{\"mss\":1460}")
            .str("text", "a\"b\\c\n\u{1}\u{2028}é")
            .end();
        assert_eq!(
            json,
            r#"{"type":"ws","len":5,"delta":-3,"fin":true,"flags":["SYN","ACK"],"opts":{"mss":1460},"text":"a\"b\\c\n\u0001\u2028é"}"#
        );
        assert_eq!(Object::new().end(), "{}");
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}
