//! A strict, allocation-light JSON reader over bytes already known to be UTF-8.
//!
//! It accepts a subset of what msgspec accepts and nothing more: RFC 8259 syntax, no raw
//! control characters in strings, no lone surrogates, nesting at most `MAX_DEPTH` deep.
//! Every error is just `Err(Decline)`: the caller hands the event to the Python engine.

use std::borrow::Cow;

/// Anything we are not sure about: let the Python engine handle the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decline;

pub type R<T> = Result<T, Decline>;

/// Far below Python's recursion limit (msgspec raises RecursionError past it).
const MAX_DEPTH: u32 = 32;

pub struct Reader<'a> {
    s: &'a [u8],
    pub i: usize,
    depth: u32,
}

impl<'a> Reader<'a> {
    pub fn new(s: &'a str) -> Self {
        Reader {
            s: s.as_bytes(),
            i: 0,
            depth: 0,
        }
    }

    #[inline]
    pub fn ws(&mut self) {
        while let Some(&b) = self.s.get(self.i) {
            if b == b' ' || b == b'\n' || b == b'\r' || b == b'\t' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    #[inline]
    fn eat(&mut self, b: u8) -> R<()> {
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            Ok(())
        } else {
            Err(Decline)
        }
    }

    /// After the top-level value: only whitespace may follow.
    pub fn end(&mut self) -> R<()> {
        self.ws();
        if self.i == self.s.len() {
            Ok(())
        } else {
            Err(Decline)
        }
    }

    /// `null` if it is next (consumed, returns true).
    #[inline]
    pub fn null(&mut self) -> R<bool> {
        if self.peek() == Some(b'n') {
            self.lit(b"null")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn lit(&mut self, word: &[u8]) -> R<()> {
        if self.s.len() >= self.i + word.len() && &self.s[self.i..self.i + word.len()] == word {
            self.i += word.len();
            Ok(())
        } else {
            Err(Decline)
        }
    }

    pub fn bool(&mut self) -> R<bool> {
        match self.peek() {
            Some(b't') => self.lit(b"true").map(|_| true),
            Some(b'f') => self.lit(b"false").map(|_| false),
            _ => Err(Decline),
        }
    }

    /// A non-negative JSON integer without sign, fraction or exponent, at most `max`.
    /// Anything else (floats, negatives, -0, huge numbers) declines.
    pub fn uint(&mut self, max: u64) -> R<u64> {
        self.ws();
        let start = self.i;
        let s = self.s;
        let mut value: u64 = 0;
        while let Some(&b) = s.get(self.i) {
            if b.is_ascii_digit() {
                if self.i - start >= 17 {
                    return Err(Decline);
                }
                value = value * 10 + (b - b'0') as u64;
                self.i += 1;
            } else {
                break;
            }
        }
        let digits = self.i - start;
        if digits == 0 || (digits > 1 && s[start] == b'0') {
            return Err(Decline);
        }
        // A fraction or exponent makes it a float: msgspec refuses it for an int field.
        if let Some(&b) = s.get(self.i) {
            if b == b'.' || b == b'e' || b == b'E' {
                return Err(Decline);
            }
        }
        if value > max {
            return Err(Decline);
        }
        Ok(value)
    }

    /// A JSON string (cursor at optional whitespace then `"`), unescaped.
    pub fn string(&mut self) -> R<Cow<'a, str>> {
        self.ws();
        self.eat(b'"')?;
        let s = self.s;
        let start = self.i;
        loop {
            // Eight bytes at a time to the next byte that needs a look; bytewise in the
            // last seven. Most strings (keys, SKUs, categories) end in one or two words.
            while let Some(word) = s.get(self.i..self.i + 8) {
                let at = first_special(u64::from_le_bytes(word.try_into().map_err(|_| Decline)?));
                self.i += at;
                if at < 8 {
                    break;
                }
            }
            let b = *s.get(self.i).ok_or(Decline)?;
            if b == b'"' {
                // SAFETY: `s` is valid UTF-8 (Reader::new takes a &str), `start` follows an
                // ASCII `"` and `self.i` is at one: both are char boundaries.
                let text = unsafe { std::str::from_utf8_unchecked(&s[start..self.i]) };
                self.i += 1;
                return Ok(Cow::Borrowed(text));
            }
            if b == b'\\' {
                break;
            }
            if b < 0x20 {
                return Err(Decline);
            }
            self.i += 1;
        }
        // Slow path: escapes.
        let mut out: Vec<u8> = Vec::with_capacity(self.i - start + 16);
        out.extend_from_slice(&s[start..self.i]);
        loop {
            let b = *s.get(self.i).ok_or(Decline)?;
            match b {
                b'"' => {
                    self.i += 1;
                    let text = String::from_utf8(out).map_err(|_| Decline)?;
                    return Ok(Cow::Owned(text));
                }
                b'\\' => {
                    let e = *s.get(self.i + 1).ok_or(Decline)?;
                    self.i += 2;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                if s.get(self.i) != Some(&b'\\') || s.get(self.i + 1) != Some(&b'u')
                                {
                                    return Err(Decline);
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(Decline);
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(Decline);
                            } else {
                                hi
                            };
                            let ch = char::from_u32(c).ok_or(Decline)?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(Decline),
                    }
                }
                _ if b < 0x20 => return Err(Decline),
                _ => {
                    out.push(b);
                    self.i += 1;
                }
            }
        }
    }

    fn hex4(&mut self) -> R<u32> {
        let s = self.s;
        if self.i + 4 > s.len() {
            return Err(Decline);
        }
        let mut v = 0u32;
        for k in 0..4 {
            let b = s[self.i + k];
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => return Err(Decline),
            };
            v = v * 16 + d as u32;
        }
        self.i += 4;
        Ok(v)
    }

    /// Walks an object: `f(reader, key)` must consume the value.
    pub fn object<F>(&mut self, mut f: F) -> R<()>
    where
        F: FnMut(&mut Self, Cow<'a, str>) -> R<()>,
    {
        self.ws();
        self.eat(b'{')?;
        self.enter()?;
        if self.peek() == Some(b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            let key = self.string()?;
            self.ws();
            self.eat(b':')?;
            f(self, key)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(Decline),
            }
        }
    }

    /// Walks an array: `f(reader)` must consume each item.
    pub fn array<F>(&mut self, mut f: F) -> R<()>
    where
        F: FnMut(&mut Self) -> R<()>,
    {
        self.ws();
        self.eat(b'[')?;
        self.enter()?;
        if self.peek() == Some(b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            f(self)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(Decline),
            }
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(Decline)
        } else {
            Ok(())
        }
    }

    /// Checks and skips any JSON value (an unknown field).
    pub fn skip(&mut self) -> R<()> {
        match self.peek().ok_or(Decline)? {
            b'{' => self.object(|r, _| r.skip()),
            b'[' => self.array(|r| r.skip()),
            b'"' => self.string().map(|_| ()),
            b't' => self.lit(b"true"),
            b'f' => self.lit(b"false"),
            b'n' => self.lit(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(Decline),
        }
    }

    /// RFC 8259 number grammar; the value itself is not needed.
    fn number(&mut self) -> R<()> {
        let s = self.s;
        if s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match s.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while matches!(s.get(self.i), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
            }
            _ => return Err(Decline),
        }
        if s.get(self.i) == Some(&b'.') {
            self.i += 1;
            let at = self.i;
            while matches!(s.get(self.i), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            if self.i == at {
                return Err(Decline);
            }
        }
        if matches!(s.get(self.i), Some(b'e') | Some(b'E')) {
            self.i += 1;
            if matches!(s.get(self.i), Some(b'+') | Some(b'-')) {
                self.i += 1;
            }
            let at = self.i;
            while matches!(s.get(self.i), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            if self.i == at {
                return Err(Decline);
            }
        }
        Ok(())
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Where in `word` (eight bytes, little-endian) the first `"`, `\` or control byte
/// (< 0x20) is, 0-7; 8 if none. Each term flags its bytes exactly from the lowest one up
/// (a borrow only runs on past a flagged byte), so the lowest flag of the three is exact.
#[inline]
fn first_special(word: u64) -> usize {
    let quote = word ^ (ONES * b'"' as u64);
    let backslash = word ^ (ONES * b'\\' as u64);
    let flags = (quote.wrapping_sub(ONES) & !quote)
        | (backslash.wrapping_sub(ONES) & !backslash)
        | (word.wrapping_sub(ONES * 0x20) & !word);
    ((flags & HIGHS).trailing_zeros() / 8) as usize
}

/// Code points, as msgspec counts `max_length` of a str.
#[inline]
pub fn chars(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip_all(s: &str) -> R<()> {
        let mut r = Reader::new(s);
        r.skip()?;
        r.end()
    }

    #[test]
    fn strict_syntax() {
        for ok in [
            "1",
            "-0.5e+3",
            "\"\\ud83d\\ude00\\u00e9\\/\"",
            "[1,{\"a\":null}]",
            " {} ",
            "1e999",
        ] {
            assert!(skip_all(ok).is_ok(), "{ok}");
        }
        for bad in [
            "01",
            "1.",
            ".5",
            "+1",
            "[1,]",
            "{\"a\":1,}",
            "\"\\ud800\"",
            "\"\\udc00x\"",
            "\"\u{1}\"",
            "nul",
            "[1] x",
            "NaN",
            "\"\\x\"",
        ] {
            assert!(skip_all(bad).is_err(), "{bad}");
        }
        let deep = "[".repeat(40) + &"]".repeat(40);
        assert!(skip_all(&deep).is_err());
    }

    #[test]
    fn unsigned_ints_only() {
        for (s, v) in [
            ("0", Some(0)),
            ("9007199254740991", Some((1 << 53) - 1)),
            ("9007199254740992", None),
            ("-0", None),
            ("1.0", None),
            ("1e2", None),
            ("00", None),
            ("true", None),
            ("123456789012345678901234", None),
        ] {
            let mut r = Reader::new(s);
            assert_eq!(r.uint((1 << 53) - 1).ok(), v, "{s}");
        }
    }

    #[test]
    fn first_special_finds_the_lowest() {
        let special = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
        for filler in [
            b'a', b' ', b'!', b'#', b'[', b']', 0x7f, 0x80, 0xa2, 0xdc, 0xff,
        ] {
            for pos in 0..8 {
                for b in 0..=255u8 {
                    for later in [filler, b'"', b'\\', 0, 0x1f] {
                        let mut word = [filler; 8];
                        word[pos] = b;
                        if pos < 7 {
                            word[7] = later;
                        }
                        let expected = word.iter().position(|&c| special(c)).unwrap_or(8);
                        assert_eq!(
                            first_special(u64::from_le_bytes(word)),
                            expected,
                            "{word:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn strings_of_every_length_with_an_escape_or_control_anywhere() {
        for n in 0..40 {
            let body: String = "ab\u{e9}c\u{1f600}d".chars().cycle().take(n).collect();
            let quoted = format!("\"{body}\"x");
            let mut r = Reader::new(&quoted);
            assert_eq!(r.string().unwrap(), body.as_str());
            assert_eq!(r.s[r.i], b'x');
            for (insert, want) in [("\\n", Some("\n")), ("\u{1}", None), ("\\q", None)] {
                for cut in 0..=body.chars().count() {
                    let head: String = body.chars().take(cut).collect();
                    let tail: String = body.chars().skip(cut).collect();
                    let text = format!("\"{head}{insert}{tail}\"");
                    let got = Reader::new(&text).string().ok();
                    let expected = want.map(|w| format!("{head}{w}{tail}"));
                    assert_eq!(got.as_deref(), expected.as_deref(), "{text:?}");
                }
            }
        }
        assert!(Reader::new("\"unterminated abcdefghijkl").string().is_err());
    }

    #[test]
    fn strings_unescape() {
        let mut r = Reader::new("\"a\\n\\u00e9\\ud83d\\ude00\\\"\"");
        assert_eq!(r.string().unwrap(), "a\né😀\"");
        let mut r = Reader::new("\"plain\"");
        assert!(matches!(r.string().unwrap(), Cow::Borrowed("plain")));
    }
}
