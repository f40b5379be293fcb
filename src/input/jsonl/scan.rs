//! A fast reader for JSONL lines of the usual shape: an object whose values are strings,
//! numbers, `true`, `false`, `null`, or arrays and objects of those, nested a few levels deep.
//!
//! It reads the line in place and keeps only the values a report is made of, as the
//! `serde_json` reading of the line would ([`Fields`] of both are equal). It says `None` on
//! anything else, and that includes every line `serde_json` would reject: a number out of range,
//! a lone surrogate, deep nesting, invalid UTF-8, a key with an escape, any syntax error, and a
//! line without its end (`whole` unset: no `\n` in the bytes). The caller then reads the line
//! with `serde_json`, which decides and words the error.

use super::{field_index, Fields, Key, Keys, PatientValues, Val};
use crate::output::{json_special, json_special_mask};
use std::borrow::Cow;

/// Nesting beyond this many levels (the line's object is level 1) is left to `serde_json`,
/// whose limit (128) is far above it.
const MAX_DEPTH: u32 = 16;

/// Space kept from one line to the next.
#[derive(Default)]
pub(super) struct Scratch {
    /// The bytes of the last kept string with escapes, the escapes replaced.
    unescaped: Vec<u8>,
}

/// Reads the line at the start of `bytes`: the values a report is made of, and the number of
/// bytes the line takes. With `whole`, `bytes` is the line without its line break; otherwise
/// the line ends at the first `\n` in `bytes`, which it takes.
pub(super) fn line<'a>(
    bytes: &'a [u8],
    keys: &Keys,
    scratch: &mut Scratch,
    whole: bool,
) -> Option<(Fields<'a>, usize)> {
    let mut s = Scan {
        bytes,
        pos: 0,
        unescaped: &mut scratch.unescaped,
    };
    s.space();
    if s.peek()? != b'{' {
        return None;
    }
    let mut fields = Fields::default();
    s.object(1, |s, key| {
        let key = Key::of(key?, keys);
        if key.is_none() {
            return s.skip(2);
        }
        if key.patient && s.peek()? == b'{' {
            let values = s.patient()?;
            fields.put(key, Val::Object, Some(values));
        } else {
            let val = s.value(2)?;
            fields.put(key, val, None);
        }
        Some(())
    })?;
    s.space();
    match s.bytes.get(s.pos) {
        Some(b'\n') if !whole => Some((fields, s.pos + 1)),
        None if whole => Some((fields, s.pos)),
        _ => None,
    }
}

/// A position in the bytes of a line.
struct Scan<'a, 's> {
    bytes: &'a [u8],
    pos: usize,
    unescaped: &'s mut Vec<u8>,
}

impl<'a> Scan<'a, '_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skips spaces, tabs and carriage returns (a `\n` ends the line: it is not skipped).
    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Takes `b` if it is next.
    fn eat(&mut self, b: u8) -> bool {
        let next = self.peek() == Some(b);
        self.pos += usize::from(next);
        next
    }

    /// Reads the object at `pos` (at nesting level `depth`), handing each key to `member`,
    /// which reads its value. A key with an escape is handed over as `None`.
    fn object(
        &mut self,
        depth: u32,
        mut member: impl FnMut(&mut Self, Option<&'a [u8]>) -> Option<()>,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.space();
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let (key, escaped) = self.checked_string()?;
            self.space();
            if !self.eat(b':') {
                return None;
            }
            self.space();
            member(self, (!escaped).then_some(key))?;
            self.space();
            if self.eat(b'}') {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
            self.space();
        }
    }

    /// Reads the array at `pos` (at nesting level `depth`), skipping its elements.
    fn array(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.space();
        if self.eat(b']') {
            return Some(());
        }
        loop {
            self.skip(depth + 1)?;
            self.space();
            if self.eat(b']') {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
            self.space();
        }
    }

    /// Reads the `"patient"` object at `pos`, keeping its patient-context values.
    fn patient(&mut self) -> Option<PatientValues<'a>> {
        let mut values = PatientValues::default();
        self.object(2, |s, key| match field_index(key?) {
            Some(i) => {
                values[i] = Some(s.value(3)?);
                Some(())
            }
            None => s.skip(3),
        })?;
        Some(values)
    }

    /// Reads the value at `pos` (at nesting level `depth` if it is an array or an object).
    fn value(&mut self, depth: u32) -> Option<Val<'a>> {
        Some(match self.peek()? {
            b'"' => Val::Str(self.kept_string()?),
            b'-' | b'0'..=b'9' => Val::Number(self.number()?),
            b'[' => {
                self.array(depth)?;
                Val::Array
            }
            b'{' => {
                self.object(depth, |s, _| s.skip(depth + 1))?;
                Val::Object
            }
            _ => self.literal()?,
        })
    }

    /// Reads the value at `pos` without keeping it.
    fn skip(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.checked_string().map(drop),
            b'-' | b'0'..=b'9' => self.number_text().map(drop),
            b'[' => self.array(depth),
            b'{' => self.object(depth, |s, _| s.skip(depth + 1)),
            _ => self.literal().map(drop),
        }
    }

    /// Reads `true`, `false` or `null`.
    fn literal(&mut self) -> Option<Val<'a>> {
        let rest = &self.bytes[self.pos..];
        let (val, len) = if rest.starts_with(b"true") {
            (Val::Bool(true), 4)
        } else if rest.starts_with(b"false") {
            (Val::Bool(false), 5)
        } else if rest.starts_with(b"null") {
            (Val::Null, 4)
        } else {
            return None;
        };
        self.pos += len;
        Some(val)
    }

    /// Reads a number, written as `serde_json` writes it: a non-negative integer short enough
    /// for a `u64` as it is, any other as `serde_json` reads and writes it.
    fn number(&mut self) -> Option<Cow<'a, str>> {
        let (text, plain) = self.number_text()?;
        if plain {
            return Some(Cow::Borrowed(text));
        }
        let n: serde_json::Number = serde_json::from_str(text).ok()?;
        Some(Cow::Owned(n.to_string()))
    }

    /// Reads a number as it is written, and whether it is a non-negative integer short enough
    /// for a `u64`. Any other is checked by `serde_json`, which rejects one out of range.
    fn number_text(&mut self) -> Option<(&'a str, bool)> {
        let rest = &self.bytes[self.pos..];
        // The end of the digits from `from`, if there is one.
        let digits = |from: usize| {
            let n = rest
                .get(from..)?
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            (n > 0).then_some(from + n)
        };
        let negative = rest.first() == Some(&b'-');
        let int_start = usize::from(negative);
        let int_end = digits(int_start)?;
        // A leading zero stands alone.
        if rest[int_start] == b'0' && int_end > int_start + 1 {
            return None;
        }
        let mut len = int_end;
        if rest.get(len) == Some(&b'.') {
            len = digits(len + 1)?;
        }
        if let Some(b'e' | b'E') = rest.get(len) {
            let sign = usize::from(matches!(rest.get(len + 1), Some(b'+' | b'-')));
            len = digits(len + 1 + sign)?;
        }
        let text = utf8(&rest[..len])?;
        self.pos += len;
        let plain = !negative && len == int_end && len <= 19;
        if !plain {
            serde_json::from_str::<serde_json::Number>(text).ok()?;
        }
        Some((text, plain))
    }

    /// Reads a string that is not kept: its raw bytes and whether it has escapes. They are
    /// checked to be UTF-8.
    fn checked_string(&mut self) -> Option<(&'a [u8], bool)> {
        let (raw, escaped) = self.string()?;
        (raw.is_ascii() || std::str::from_utf8(raw).is_ok()).then_some((raw, escaped))
    }

    /// Reads the string whose opening quote is at `pos`: its raw bytes (between the quotes, not
    /// checked to be UTF-8) and whether it has escapes (each checked to be one).
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = plain_end(self.bytes, i);
            match *self.bytes.get(i)? {
                b'"' => break,
                b'\\' => i += escape(&self.bytes[i..])?.1,
                // A control character.
                _ => return None,
            }
            escaped = true;
        }
        self.pos = i + 1;
        Some((&self.bytes[start..i], escaped))
    }

    /// Reads a kept string: borrowed from the line when it has no escapes, else copied out with
    /// its escapes replaced.
    ///
    /// The copy is made in the scratch buffer, which is kept at a length that holds the rest
    /// of the bytes and a block more (a string never grows when its escapes are replaced): the
    /// plain runs between escapes are copied a whole block at a time while they are searched,
    /// the part of a block past the run being written over next. The result is checked to be
    /// UTF-8 once, and copied once into the string handed on.
    fn kept_string(&mut self) -> Option<Cow<'a, str>> {
        let bytes = self.bytes;
        let start = self.pos + 1;
        let mut i = plain_end(bytes, start);
        if *bytes.get(i)? == b'"' {
            self.pos = i + 1;
            return utf8(&bytes[start..i]).map(Cow::Borrowed);
        }
        let room = bytes.len() - start + BLOCK;
        if self.unescaped.len() < room {
            self.unescaped.resize(room, 0);
        }
        // A slice, so that its place and length stay in registers while bytes are written.
        let out = &mut self.unescaped[..];
        // Bytes are written at `o`, which never passes `i - start`.
        let mut o = i - start;
        out[..o].copy_from_slice(&bytes[start..i]);
        loop {
            match *bytes.get(i)? {
                b'"' => break,
                b'\\' => match SHORT_ESCAPES[usize::from(*bytes.get(i + 1)?)] {
                    0 => {
                        let (ch, len) = escape(&bytes[i..])?;
                        o += ch.encode_utf8(&mut out[o..o + 4]).len();
                        i += len;
                    }
                    b => {
                        out[o] = b;
                        o += 1;
                        i += 2;
                    }
                },
                // A control character.
                _ => return None,
            }
            (i, o) = copy_plain(bytes, i, out, o);
        }
        self.pos = i + 1;
        // The escapes stand for whole characters and sit between ASCII bytes: the copy is UTF-8
        // exactly when the raw string is.
        Some(Cow::Owned(utf8(&out[..o])?.to_owned()))
    }
}

/// `bytes` as text, when they are UTF-8 (as `str::from_utf8` says). Nearly every report is
/// ASCII throughout, which `<[u8]>::is_ascii` finds several times faster than `str::from_utf8`
/// checks it; only other bytes are left to `str::from_utf8`.
#[inline]
fn utf8(bytes: &[u8]) -> Option<&str> {
    if !bytes.is_ascii() {
        std::str::from_utf8(bytes).ok()?;
    }
    // SAFETY: the bytes are ASCII, a whole character per byte, or were just found to be UTF-8.
    Some(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// Copies the plain run of a string that starts at `bytes[i]` to `out` from `o` (which holds
/// `BLOCK` bytes more than the run), a block at a time as it is searched; returns where the
/// run ends in both. The part of the last block past the run is written over next.
#[inline(always)]
fn copy_plain(bytes: &[u8], mut i: usize, out: &mut [u8], mut o: usize) -> (usize, usize) {
    for (block, to) in bytes[i..]
        .chunks_exact(BLOCK)
        .zip(out[o..].chunks_exact_mut(BLOCK))
    {
        to.copy_from_slice(block);
        let n = plain_in_block(block);
        i += n;
        o += n;
        if n < BLOCK {
            return (i, o);
        }
    }
    let end = find_special(bytes, i);
    out[o..o + (end - i)].copy_from_slice(&bytes[i..end]);
    (end, o + (end - i))
}

/// For each byte that can follow a backslash in a two-byte escape (`\n`, `\"`...), the byte
/// the escape stands for; 0 for any other (`\u` escapes are read by [`escape`]).
const SHORT_ESCAPES: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'/' as usize] = b'/';
    t[b'b' as usize] = 0x08;
    t[b'f' as usize] = 0x0c;
    t[b'n' as usize] = b'\n';
    t[b'r' as usize] = b'\r';
    t[b't' as usize] = b'\t';
    t
};

/// The character the escape at the start of `bytes` (a backslash) stands for, and its length.
/// A `\u` escape of a surrogate must be the first of a pair.
#[inline]
fn escape(bytes: &[u8]) -> Option<(char, usize)> {
    let ch = match bytes.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let n = hex(bytes.get(2..6)?)?;
            return match n {
                0xD800..=0xDBFF => {
                    if bytes.get(6..8)? != b"\\u" {
                        return None;
                    }
                    let low = hex(bytes.get(8..12)?)?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return None;
                    }
                    let c = 0x1_0000 + ((n - 0xD800) << 10) + (low - 0xDC00);
                    Some((char::from_u32(c)?, 12))
                }
                _ => Some((char::from_u32(n)?, 6)),
            };
        }
        _ => return None,
    };
    Some((ch, 2))
}

/// Four hexadecimal digits as a number.
fn hex(digits: &[u8]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0, |n, &d| Some(n << 4 | char::from(d).to_digit(16)?))
}

/// The first position at or after `from` of a quote, a backslash or a control character in
/// `bytes`, or `bytes.len()`: the bytes that end the plain run of a JSON string are those the
/// JSON writer escapes, and its search finds them sixteen bytes at a time.
fn find_special(bytes: &[u8], from: usize) -> usize {
    crate::output::find_json_special(bytes, from).unwrap_or(bytes.len())
}

/// Bytes [`plain_in_block`] tests at a time.
const BLOCK: usize = 16;

/// How many bytes of `block` (at least `BLOCK` long) come before the first one that ends a
/// plain run (a quote, a backslash or a control character: [`json_special`]), or `BLOCK` when
/// none does: the place of the lowest bit of the block's mask ([`json_special_mask`]).
#[inline(always)]
fn plain_in_block(block: &[u8]) -> usize {
    match block.first_chunk::<BLOCK>() {
        Some(block) => (json_special_mask(block).trailing_zeros() as usize).min(BLOCK),
        None => block.iter().take_while(|&&b| !json_special(b)).count(),
    }
}

/// [`find_special`] for the short runs of keys, ids and values: the first block is tested in
/// place, the rest left to the search.
#[inline(always)]
fn plain_end(bytes: &[u8], from: usize) -> usize {
    match bytes.get(from..from + BLOCK) {
        Some(block) => match plain_in_block(block) {
            BLOCK => find_special(bytes, from + BLOCK),
            n => from + n,
        },
        None => find_special(bytes, from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_bytes_are_found_at_every_place() {
        for len in 0..24 {
            for at in 0..=len {
                for special in [b'"', b'\\', b'\n', 0, 0x1f] {
                    let mut bytes = vec![b'a'; len];
                    // Bytes that look close to special ones must not be flagged.
                    for (i, b) in bytes.iter_mut().enumerate() {
                        *b = [b'a', 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xdc, 0xff][i % 9];
                    }
                    if at < len {
                        bytes[at] = special;
                        // A special byte after the first one does not hide it.
                        if at + 1 < len {
                            bytes[at + 1] = 0;
                        }
                    }
                    assert_eq!(find_special(&bytes, 0), at, "{bytes:?}");
                }
            }
        }
    }

    proptest::proptest! {
        /// The block test and the plain search find the same end of a run, from any place.
        #[test]
        fn block_tests_agree_with_the_plain_search(
            v in proptest::collection::vec(proptest::sample::select(vec![
                b'a', b' ', b'"', b'\\', b'\n', 0, 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xdc,
                0xff,
            ]), 0..60),
            from in 0usize..60,
        ) {
            let from = from.min(v.len());
            let plain = v[from..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .map_or(v.len(), |p| from + p);
            proptest::prop_assert_eq!(plain_end(&v, from), plain);
            if let Some(block) = v.get(from..from + BLOCK) {
                proptest::prop_assert_eq!(plain_in_block(block), (plain - from).min(BLOCK));
            }
        }
    }

    proptest::proptest! {
        /// ASCII found apart, and other text checked as UTF-8, take and refuse the same bytes as
        /// `str::from_utf8` alone.
        #[test]
        fn utf8_agrees_with_from_utf8(
            ascii in "[ -~]{0,40}",
            rest in proptest::collection::vec(proptest::sample::select(vec![
                b'a', b'"', 0x7f, 0x80, 0xbf, 0xc3, 0xa9, 0xe2, 0x80, 0x94, 0xf0, 0x9f, 0x98,
                0x80, 0xed, 0xa0, 0xff,
            ]), 0..12),
            more in "[ -~]{0,40}",
        ) {
            let bytes = [ascii.as_bytes(), &rest, more.as_bytes()].concat();
            proptest::prop_assert_eq!(utf8(&bytes), std::str::from_utf8(&bytes).ok());
            let text = format!("{ascii}é—😀{more}");
            proptest::prop_assert_eq!(utf8(text.as_bytes()), Some(text.as_str()));
        }
    }

    #[test]
    fn short_escapes_agree_with_the_escape_reader() {
        for b in 0..=255u8 {
            let short = SHORT_ESCAPES[usize::from(b)];
            let read = escape(&[b'\\', b, b'0', b'0', b'4', b'1']);
            match read {
                Some((ch, 2)) => assert_eq!(char::from(short), ch, "{b}"),
                _ => assert_eq!(short, 0, "{b}"),
            }
        }
    }

    #[test]
    fn long_strings_with_escapes_read_as_serde_json_has_them() {
        let mut unescaped = Vec::new();
        for len in [0, 1, 15, 16, 17, 31, 33, 100] {
            for at in [0, 1, 7, 15, 16, 17] {
                let mut s = "x".repeat(len);
                s.insert_str(at.min(len), r#"\n\"\u00e9"#);
                s.push_str(r"\t");
                s.push_str(&"é".repeat(len / 3));
                let quoted = format!("\"{s}\"");
                let expected: String = serde_json::from_str(&quoted).unwrap();
                // The string alone, and followed by more of a line.
                for tail in ["", ",\"k\":1}\n{\"id\":\"aaaaaaaaaaaaaaaaaaaaa\"}"] {
                    let bytes = format!("{quoted}{tail}");
                    let mut scan = Scan {
                        bytes: bytes.as_bytes(),
                        pos: 0,
                        unescaped: &mut unescaped,
                    };
                    assert_eq!(scan.kept_string().unwrap(), expected, "{quoted}");
                    assert_eq!(scan.pos, quoted.len());
                }
            }
        }
    }

    #[test]
    fn escapes_decode_as_serde_json_has_them() {
        let s = r#"a\"\\\/\b\f\n\r\t\u00e9\u0000\ud83d\ude00z"#;
        let expected: String = serde_json::from_str(&format!("\"{s}\"")).unwrap();
        let quoted = format!("\"{s}\"");
        let mut unescaped = Vec::new();
        let mut scan = Scan {
            bytes: quoted.as_bytes(),
            pos: 0,
            unescaped: &mut unescaped,
        };
        assert_eq!(scan.kept_string().unwrap(), expected);
        assert_eq!(scan.pos, quoted.len());
        for lone in [
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\ud83dx""#,
            r#""\ud83d\u0041""#,
            r#""\x""#,
        ] {
            let mut scan = Scan {
                bytes: lone.as_bytes(),
                pos: 0,
                unescaped: &mut unescaped,
            };
            assert!(scan.string().is_none(), "{lone}");
        }
    }
}
