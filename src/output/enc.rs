//! Byte-level encoders shared by the writers: RFC 4180 fields, JSON strings and decimal
//! integers, appended to a `Vec<u8>` without intermediate allocation.
//!
//! Most fields need no quoting or escaping at all, so both encoders first look for a byte that
//! needs work eight bytes at a time (a word-at-a-time test) and copy clean runs in one piece.

use crate::model::{Levels, VERTEBRAE};

/// `x` with every byte set to `b`.
const fn splat(b: u8) -> u64 {
    (b as u64) * 0x0101_0101_0101_0101
}

const LO: u64 = splat(0x01);
const HI: u64 = splat(0x80);

/// The high bit of every byte of `x` that is zero (and maybe of bytes above one that is: the
/// lowest flagged byte is always a true zero).
#[inline]
fn zeros(x: u64) -> u64 {
    x.wrapping_sub(LO) & !x & HI
}

/// [`zeros`] of the bytes of `x` equal to `b`.
#[inline]
fn bytes_eq(x: u64, b: u8) -> u64 {
    zeros(x ^ splat(b))
}

/// The high bit of every byte of `x` below `n` (`n <= 0x80`; exact for the lowest one).
#[inline]
fn bytes_below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(splat(n)) & !x & HI
}

/// The bytes of a class in a block of sixteen, as a mask: bit `i` is set when byte `i` is one
/// of `eq`, or below `below` (0: no byte is). On x86-64, a few vector compares whose results
/// are gathered by one `movemask` (SSE2, which every x86-64 processor has): no reduction of
/// the compares to one flag, and no second search for the place of the first hit; elsewhere,
/// byte by byte.
#[inline(always)]
fn block_mask(block: &[u8; 16], eq: &[u8], below: u8) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        use std::arch::x86_64::*;
        // SAFETY: the SSE2 instructions are enabled for the whole build (`target_feature`
        // above; every x86-64 processor has them), and the load reads the sixteen bytes of
        // `block`, unaligned (`loadu` asks for no alignment).
        unsafe {
            let x = _mm_loadu_si128(block.as_ptr().cast());
            let mut hits = _mm_setzero_si128();
            for &b in eq {
                hits = _mm_or_si128(hits, _mm_cmpeq_epi8(x, _mm_set1_epi8(b as i8)));
            }
            if below > 0 {
                // `x < below` exactly when the unsigned minimum of `x` and `below - 1` is `x`.
                let low = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8((below - 1) as i8)), x);
                hits = _mm_or_si128(hits, low);
            }
            _mm_movemask_epi8(hits) as u32
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        (block.iter().enumerate()).fold(0, |m, (i, b)| {
            m | u32::from(eq.contains(b) || *b < below) << i
        })
    }
}

/// The first index `i >= from` of `s` holding a byte of a class: sixteen bytes at a time with
/// `block` (the class bytes of a block as a mask, see [`block_mask`]), the last bytes as the
/// block that ends where `s` does; a text shorter than a block eight bytes at a time with
/// `flags` (the high bit of every byte of a word in the class, and maybe of bytes above one
/// that is: the lowest flagged byte is always a true one), and `byte` (whether a byte is in
/// the class) for the few bytes left.
#[inline(always)]
fn find_from(
    s: &[u8],
    from: usize,
    block: impl Fn(&[u8; 16]) -> u32,
    flags: impl Fn(u64) -> u64,
    byte: impl Fn(u8) -> bool,
) -> Option<usize> {
    let rest = s.get(from..)?;
    let mut blocks = rest.chunks_exact(16);
    let mut i = from;
    for b in &mut blocks {
        let hit = block(b.first_chunk()?);
        if hit != 0 {
            return Some(i + hit.trailing_zeros() as usize);
        }
        i += 16;
    }
    if i >= s.len() {
        return None;
    }
    if let Some(last) = rest.last_chunk::<16>() {
        // The block that ends where `s` ends overlaps bytes already found clean (so the lowest
        // hit is a true one, and at or after `i`).
        let hit = block(last);
        return (hit != 0).then(|| s.len() - 16 + hit.trailing_zeros() as usize);
    }
    let word = |w: &[u8]| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&w[..8]);
        flags(u64::from_le_bytes(b))
    };
    let first = |at: usize, hit: u64| at + (hit.trailing_zeros() / 8) as usize;
    if rest.len() >= 8 {
        let hit = word(rest);
        if hit != 0 {
            return Some(first(i, hit));
        }
        // The word that ends where `s` ends overlaps bytes already found clean.
        let last = s.len() - 8;
        let hit = word(&s[last..]);
        return (hit != 0).then(|| first(last, hit));
    }
    rest.iter().position(|&b| byte(b)).map(|p| from + p)
}

/// The bytes of a block of sixteen that are not ASCII, as a mask (bit `i` for byte `i`): on
/// x86-64 the high bits gathered by one `movemask`.
#[inline(always)]
fn non_ascii_mask(block: &[u8; 16]) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        use std::arch::x86_64::*;
        // SAFETY: as in `block_mask`.
        unsafe { _mm_movemask_epi8(_mm_loadu_si128(block.as_ptr().cast())) as u32 }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        (block.iter().enumerate()).fold(0, |m, (i, &b)| m | u32::from(b >= 0x80) << i)
    }
}

/// The first byte of `s` at or after `from` that is not ASCII.
#[inline]
pub(crate) fn find_non_ascii(s: &[u8], from: usize) -> Option<usize> {
    find_from(s, from, non_ascii_mask, |x| x & HI, |b| b >= 0x80)
}

/// The bytes that force quoting of a CSV field ([`csv_special`]).
const CSV_SPECIAL: [u8; 4] = [b',', b'"', b'\n', b'\r'];
/// The bytes at or above 0x20 that must be escaped in a JSON string ([`json_special`]).
const JSON_SPECIAL: [u8; 2] = [b'"', b'\\'];
/// The bytes at or above 0x20 that are special in CSV or JSON ([`csv_or_json_special`]).
const CSV_OR_JSON_SPECIAL: [u8; 3] = [b'"', b'\\', b','];

/// The bytes of a block of sixteen that must be escaped in a JSON string, as a mask (bit `i`
/// for byte `i`; see [`json_special`]).
#[inline(always)]
pub(crate) fn json_special_mask(block: &[u8; 16]) -> u32 {
    block_mask(block, &JSON_SPECIAL, 0x20)
}

/// Whether a CSV field holding `b` must be quoted (a comma, a quote, CR or LF). Written
/// without branches, for vector compares.
#[inline]
fn csv_special(b: u8) -> bool {
    (b ^ b',').min(b ^ b'"').min(b ^ b'\n').min(b ^ b'\r') == 0
}

/// The first byte of `s` at or after `from` that forces quoting of a CSV field.
#[inline]
pub(crate) fn find_csv_special(s: &[u8], from: usize) -> Option<usize> {
    find_from(
        s,
        from,
        |b| block_mask(b, &CSV_SPECIAL, 0),
        |x| {
            // `zeros` of each byte value, with the high-bit mask taken once.
            let eq = |b: u8| {
                let v = x ^ splat(b);
                v.wrapping_sub(LO) & !v
            };
            (eq(b',') | eq(b'"') | eq(b'\n') | eq(b'\r')) & HI
        },
        csv_special,
    )
}

/// Whether a cell would be read as a formula by a spreadsheet.
#[inline]
pub(crate) fn needs_quote_mark(s: &[u8]) -> bool {
    matches!(s.first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'))
}

/// Whether `b` must be escaped inside a JSON string (a control character, a quote or a
/// backslash). Written without branches, for vector compares.
#[inline(always)]
pub(crate) fn json_special(b: u8) -> bool {
    (b ^ b'"').min(b ^ b'\\').min(b & 0xe0) == 0
}

/// The high bit of every byte of the word `x` that must be escaped in a JSON string
/// ([`json_special`]), and maybe of bytes above one that must: the lowest flagged byte is
/// always a true one.
#[inline(always)]
pub(crate) fn json_special_flags(x: u64) -> u64 {
    bytes_below(x, 0x20) | bytes_eq(x, b'"') | bytes_eq(x, b'\\')
}

/// The first byte of `s` at or after `from` that must be escaped in a JSON string.
#[inline]
pub(crate) fn find_json_special(s: &[u8], from: usize) -> Option<usize> {
    find_from(s, from, json_special_mask, json_special_flags, json_special)
}

/// Whether `b` must be quoted in a CSV field or escaped in a JSON string. Written without
/// branches, for vector compares.
#[inline]
fn csv_or_json_special(b: u8) -> bool {
    (b ^ b'"').min(b ^ b'\\').min(b ^ b',').min(b & 0xe0) == 0
}

/// Whether `s` is plain: written as it is both in a CSV field (no comma, quote, CR or LF) and
/// in a JSON string (no control character, quote or backslash). One scan for a text written in
/// both formats; nearly every mention and trigger is plain.
#[inline]
pub(crate) fn is_plain(s: &[u8]) -> bool {
    find_from(
        s,
        0,
        |b| block_mask(b, &CSV_OR_JSON_SPECIAL, 0x20),
        |x| bytes_below(x, 0x20) | bytes_eq(x, b'"') | bytes_eq(x, b'\\') | bytes_eq(x, b','),
        csv_or_json_special,
    )
    .is_none()
}

/// Appends `s` as one CSV field (RFC 4180, as `csv::Writer` writes it): quoted, its quotes
/// doubled, when it holds a comma, a quote, CR or LF; with a leading `'` first when `mark` and
/// it would read as a formula. One scan of `s`, one copy.
#[inline]
pub(crate) fn csv_field(out: &mut Vec<u8>, s: &[u8], mark: bool) {
    let mark = mark && needs_quote_mark(s);
    match find_csv_special(s, 0) {
        None => {
            if mark {
                out.push(b'\'');
            }
            out.extend_from_slice(s);
        }
        Some(first) => csv_quoted(out, mark, s, first),
    }
}

/// Appends `s` quoted, its quotes doubled, after a `'` when `mark`; `first` is the first
/// special byte (no quote comes before it).
#[cold]
fn csv_quoted(out: &mut Vec<u8>, mark: bool, s: &[u8], first: usize) {
    out.reserve(s.len() + 8);
    out.push(b'"');
    if mark {
        out.push(b'\'');
    }
    let mut run = 0;
    let mut at = first;
    while let Some(i) = find_from(
        s,
        at,
        |b| block_mask(b, b"\"", 0),
        |x| bytes_eq(x, b'"'),
        |b| b == b'"',
    ) {
        out.extend_from_slice(&s[run..=i]);
        out.push(b'"');
        run = i + 1;
        at = i + 1;
    }
    out.extend_from_slice(&s[run..]);
    out.push(b'"');
}

/// Re-encodes, in place, the CSV field written raw at `out[start..]`: quoted, its quotes
/// doubled, when it needs to be (see [`csv_field`]).
pub(crate) fn quote_tail_if_needed(out: &mut Vec<u8>, start: usize) {
    if let Some(first) = find_csv_special(&out[start..], 0) {
        quote_tail(out, start, start + first);
    }
}

/// Quotes `out[start..]` in place; `first` is its first special byte.
#[cold]
fn quote_tail(out: &mut Vec<u8>, start: usize, first: usize) {
    let quotes = out[first..].iter().filter(|&&b| b == b'"').count();
    let mut end = out.len();
    // The new bytes are the closing quote, the opening one and one per quote to double.
    out.resize(end + quotes + 2, b'"');
    // From the end: each run from a quote to `end` moves right past the opening quote and the
    // quotes still to double before it, and its quote is doubled.
    let mut shift = quotes + 1;
    while let Some(q) = out[first..end].iter().rposition(|&b| b == b'"') {
        let q = first + q;
        out.copy_within(q..end, q + shift);
        shift -= 1;
        out[q + shift] = b'"';
        end = q;
    }
    out.copy_within(start..end, start + 1);
    out[start] = b'"';
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string, quotes included (the escapes `serde_json` writes).
pub(crate) fn json_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    json_escape(out, s.as_bytes());
    out.push(b'"');
}

/// Appends the content of `b` (UTF-8 text) as a JSON string, escaped, without the quotes.
pub(crate) fn json_escape(out: &mut Vec<u8>, b: &[u8]) {
    let mut run = 0;
    while let Some(i) = find_json_special(b, run) {
        out.extend_from_slice(&b[run..i]);
        let c = b[i];
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(c >> 4) as usize],
                HEX[(c & 0xf) as usize],
            ]),
        }
        run = i + 1;
    }
    out.extend_from_slice(&b[run..]);
}

/// How levels are written: `T11;T12` in a CSV cell, `"T11","T12"` in a JSON array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LevelFormat {
    Csv,
    Json,
}

/// One vertebra as it is written in a list, with the separator after it (`T12;` or `"T12",`),
/// padded to eight bytes, and its length.
type LevelEntry = ([u8; 8], usize);

/// [`LevelEntry`] of every vertebra of [`VERTEBRAE`], in `format`.
const fn level_entries(format: LevelFormat) -> [LevelEntry; VERTEBRAE.len()] {
    let mut table = [([0u8; 8], 0); VERTEBRAE.len()];
    let mut i = 0;
    while i < VERTEBRAE.len() {
        let name = VERTEBRAE[i].as_bytes();
        let (entry, len) = &mut table[i];
        let json = matches!(format, LevelFormat::Json);
        let mut at = 0;
        if json {
            entry[0] = b'"';
            at = 1;
        }
        let mut k = 0;
        while k < name.len() {
            entry[at] = name[k];
            at += 1;
            k += 1;
        }
        if json {
            entry[at] = b'"';
            at += 1;
        }
        entry[at] = if json { b',' } else { b';' };
        *len = at + 1;
        i += 1;
    }
    table
}

const CSV_LEVELS: [LevelEntry; VERTEBRAE.len()] = level_entries(LevelFormat::Csv);
const JSON_LEVELS: [LevelEntry; VERTEBRAE.len()] = level_entries(LevelFormat::Json);

/// Appends the names of `levels`, cranial to caudal, in `format` (nothing when there are
/// none). Each name is copied as one eight-byte word with its separator and the buffer cut
/// back to its length; the separator after the last one is cut too.
#[inline]
pub(crate) fn levels(out: &mut Vec<u8>, levels: Levels, format: LevelFormat) {
    let table = match format {
        LevelFormat::Csv => &CSV_LEVELS,
        LevelFormat::Json => &JSON_LEVELS,
    };
    // Bits past the last vertebra name none.
    let mut bits = levels.0 & ((1 << VERTEBRAE.len()) - 1);
    if bits == 0 {
        return;
    }
    while bits != 0 {
        let (entry, len) = &table[bits.trailing_zeros() as usize];
        bits &= bits - 1;
        let at = out.len();
        out.extend_from_slice(entry);
        out.truncate(at + len);
    }
    out.pop();
}

/// The two-digit decimal strings `00` to `99`.
const DIGITS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// The two decimal digits of `n < 100`.
#[inline]
fn pair(n: u64) -> [u8; 2] {
    let d = 2 * n as usize;
    [DIGITS[d], DIGITS[d + 1]]
}

/// Appends `n` in decimal. Offsets, indices and grades are short: up to four digits are
/// written as one fixed-size copy, inline at the caller.
#[inline(always)]
pub(crate) fn uint(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=9 => out.push(b'0' + n as u8),
        10..=99 => out.extend_from_slice(&pair(n)),
        100..=999 => {
            let [b, c] = pair(n % 100);
            out.extend_from_slice(&[b'0' + (n / 100) as u8, b, c]);
        }
        1000..=9999 => {
            let [a, b] = pair(n / 100);
            let [c, d] = pair(n % 100);
            out.extend_from_slice(&[a, b, c, d]);
        }
        _ => long_uint(out, n),
    }
}

/// An encoded field written at the start of many rows (a report's id as a CSV field), kept in
/// a fixed-size block as well when it is short: each row then copies the block whole and cuts
/// it back to the field's length, instead of a copy of a variable length (a call to `memcpy`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Field {
    bytes: Vec<u8>,
    /// The bytes, when there are at most [`Field::BLOCK`] of them, then zeros.
    block: [u8; Field::BLOCK],
}

impl Field {
    const BLOCK: usize = 32;

    /// Encodes `s` as a CSV field ([`csv_field`], made safe for spreadsheets).
    pub fn set_csv(&mut self, s: &[u8]) {
        self.bytes.clear();
        csv_field(&mut self.bytes, s, true);
        self.block = [0; Field::BLOCK];
        if let Some(block) = self.block.get_mut(..self.bytes.len()) {
            block.copy_from_slice(&self.bytes);
        }
    }

    /// Appends the encoded bytes.
    #[inline(always)]
    pub fn write(&self, out: &mut Vec<u8>) {
        let len = self.bytes.len();
        if len <= Field::BLOCK {
            let at = out.len();
            out.extend_from_slice(&self.block);
            out.truncate(at + len);
        } else {
            out.extend_from_slice(&self.bytes);
        }
    }
}

/// [`uint`] for five digits and more.
#[cold]
fn long_uint(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    while n >= 100 {
        i -= 2;
        buf[i..i + 2].copy_from_slice(&pair(n % 100));
        n /= 100;
    }
    if n >= 10 {
        i -= 2;
        buf[i..i + 2].copy_from_slice(&pair(n));
    } else {
        i -= 1;
        buf[i] = b'0' + n as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

/// `v` as a whole number of tenths, when its shortest decimal form (the one `Display` and
/// `serde_json` write, no exponent) has at most one decimal: a non-negative value under a
/// million that is the `f32` nearest to `tenths / 10`. Grades, percents, millimetres and degrees
/// read from reports nearly always are. `None` for any other value (written the general way).
///
/// Below a million the `f32` values are less than 0.07 apart, so at most one number of tenths
/// reads back as `v`, and no shorter decimal does unless it is that number (a whole one).
#[inline]
pub(crate) fn f32_tenths(v: f32) -> Option<u32> {
    if !(0.0..1e6).contains(&v) || v.is_sign_negative() {
        return None;
    }
    // Exact in f64: `v` has 24 significant bits.
    let tenths = (f64::from(v) * 10.0).round() as u32;
    // `tenths` is exact in f32 (under 2^24), and the division is rounded correctly: this is the
    // `f32` that the decimal `tenths / 10` reads back as.
    (tenths as f32 / 10.0 == v).then_some(tenths)
}

/// Appends `tenths / 10`: the whole part, then `.d`, or `whole` when there is no tenth
/// (nothing as `Display` writes it, `.0` as `serde_json` does).
#[inline]
pub(crate) fn tenths(out: &mut Vec<u8>, tenths: u32, whole: &[u8]) {
    uint(out, u64::from(tenths / 10));
    match tenths % 10 {
        0 => out.extend_from_slice(whole),
        d => out.extend_from_slice(&[b'.', b'0' + d as u8]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The block searches find the first byte of each class that a byte-by-byte search
        /// finds, from any place of texts of any length, with bytes close to the special ones.
        #[test]
        fn block_searches_agree_with_byte_by_byte_ones(
            s in proptest::collection::vec(proptest::sample::select(vec![
                b'a', b' ', b',', b'"', b'\\', b'\n', b'\r', 0, 0x1f, 0x20, 0x21, 0x2b, 0x2d,
                0x5b, 0x5d, 0x7f, 0x80, 0x9f, 0xa0, 0xdc, 0xe2, 0xff,
            ]), 0..80),
            from in 0usize..90,
        ) {
            let first = |class: fn(u8) -> bool| {
                (from <= s.len()).then(|| s[from..].iter().position(|&b| class(b)).map(|p| from + p)).flatten()
            };
            let csv = |b: u8| matches!(b, b',' | b'"' | b'\n' | b'\r');
            let json = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
            let quote = |b: u8| b == b'"';
            let high = |b: u8| b >= 0x80;
            proptest::prop_assert_eq!(find_csv_special(&s, from), first(csv));
            proptest::prop_assert_eq!(find_json_special(&s, from), first(json));
            proptest::prop_assert_eq!(
                find_from(&s, from, |b| block_mask(b, b"\"", 0), |x| bytes_eq(x, b'"'), quote),
                first(quote)
            );
            proptest::prop_assert_eq!(is_plain(&s), !s.iter().any(|&b| csv(b) || json(b)));
            proptest::prop_assert_eq!(find_non_ascii(&s, from), first(high));
            for (k, block) in s.windows(16).enumerate() {
                let block: &[u8; 16] = block.try_into().unwrap();
                let mask = (0..16).fold(0, |m, i| m | u32::from(json(block[i])) << i);
                proptest::prop_assert_eq!(json_special_mask(block), mask, "block at {}", k);
            }
        }
    }

    #[test]
    fn finds_special_bytes_anywhere() {
        for len in 0..40 {
            for at in 0..len {
                for c in [b',', b'"', b'\n', b'\r'] {
                    let mut s = vec![b'a'; len];
                    s[at] = c;
                    // A byte one above a match must not be taken for one.
                    if at + 1 < len {
                        s[at + 1] = c + 1;
                    }
                    assert_eq!(find_csv_special(&s, 0), Some(at), "len {len} at {at}");
                    assert_eq!(find_json_special(&s, 0), (c != b',').then_some(at));
                    assert!(!is_plain(&s));
                    assert!(is_plain(&s[..at]));
                }
                let mut s = vec![0xe2u8; len];
                s[at] = b'\\';
                assert_eq!(find_json_special(&s, 0), Some(at));
                assert_eq!(find_csv_special(&s, 0), None);
                assert!(!is_plain(&s));
            }
        }
    }

    /// [`levels`] as the names it stands for, written one by one.
    fn levels_by_name(levels: Levels, format: LevelFormat) -> String {
        let names = (0..32)
            .filter(|&i| levels.0 & (1 << i) != 0)
            .map_while(|i| VERTEBRAE.get(i));
        match format {
            LevelFormat::Csv => names.copied().collect::<Vec<_>>().join(";"),
            LevelFormat::Json => names
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    #[test]
    fn levels_in_order() {
        let mut l = Levels::EMPTY;
        for i in [28, 0, 18, 19, 7] {
            l.insert(i);
        }
        let mut out = Vec::new();
        levels(&mut out, l, LevelFormat::Csv);
        let names: Vec<&str> = l.names().collect();
        assert_eq!(out, names.join(";").as_bytes());
        out.clear();
        levels(&mut out, l, LevelFormat::Json);
        assert_eq!(
            out,
            serde_json::to_string(&names)
                .unwrap()
                .trim_matches(['[', ']'])
                .as_bytes()
        );
        out.clear();
        levels(&mut out, Levels::EMPTY, LevelFormat::Csv);
        assert!(out.is_empty());
    }

    #[test]
    fn quoting_in_place_doubles_every_quote() {
        for (raw, quoted) in [
            ("a\"b", "\"a\"\"b\""),
            ("\"", "\"\"\"\""),
            ("x,y", "\"x,y\""),
            ("\"\",\"", "\"\"\"\"\",\"\"\""),
            ("plain", "plain"),
        ] {
            let mut out = b"id,".to_vec();
            out.extend_from_slice(raw.as_bytes());
            quote_tail_if_needed(&mut out, 3);
            assert_eq!(String::from_utf8(out).unwrap(), format!("id,{quoted}"));
        }
    }

    proptest::proptest! {
        /// Fields written from their block are the fields encoded as they come, short or long,
        /// after whatever the buffer holds.
        #[test]
        fn fields_written_from_a_block_match_fields_encoded_each_time(
            s in "(?s)[=a,\"-]{0,2}.{0,40}",
            before in "[a-z,]{0,3}",
        ) {
            let mut field = Field::default();
            field.set_csv(b"an earlier, longer id than this one may be");
            field.set_csv(s.as_bytes());
            let mut block = before.clone().into_bytes();
            field.write(&mut block);
            let mut each = before.into_bytes();
            csv_field(&mut each, s.as_bytes(), true);
            proptest::prop_assert_eq!(block, each);
        }
    }

    #[test]
    fn integers() {
        for n in [
            0u64,
            7,
            10,
            42,
            99,
            100,
            101,
            999,
            1000,
            1234,
            9999,
            12345,
            99999,
            100000,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            uint(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    /// `v` as `Display` writes it, then as `serde_json` does: each written the fast way if it
    /// takes `v`, and the general way.
    fn floats(v: f32) -> [(Option<Vec<u8>>, Vec<u8>); 2] {
        let fast = |whole: &[u8]| {
            f32_tenths(v).map(|t| {
                let mut out = Vec::new();
                tenths(&mut out, t, whole);
                out
            })
        };
        [
            (fast(b""), v.to_string().into_bytes()),
            (fast(b".0"), serde_json::to_vec(&v).unwrap()),
        ]
    }

    /// Whether the fast way, if it takes `v`, writes what the general way does.
    fn floats_agree(v: f32) -> bool {
        floats(v)
            .iter()
            .all(|(fast, general)| fast.as_ref().is_none_or(|f| f == general))
    }

    #[test]
    fn floats_in_tenths_are_written_as_display_and_serde_json_write_them() {
        let mut fast = 0;
        // Every tenth up to 2000, then a stride through the rest of the range, and the
        // neighbours of each.
        let tenths = (0u32..20_000).chain((20_000..10_000_000).step_by(997));
        for t in tenths {
            let v = t as f32 / 10.0;
            for v in [
                v,
                f32::from_bits(v.to_bits() + 1),
                f32::from_bits(v.to_bits().max(1) - 1),
            ] {
                assert!(floats_agree(v), "{v}");
                fast += usize::from(f32_tenths(v).is_some());
            }
        }
        assert!(fast > 20_000);
        for v in [
            -0.0f32,
            -1.0,
            -2.5,
            1e6,
            1e7,
            f32::NAN,
            f32::INFINITY,
            0.05,
            1e-7,
        ] {
            assert_eq!(f32_tenths(v), None, "{v}");
        }
        assert_eq!(
            floats(20.0).map(|(fast, _)| fast.unwrap()),
            [b"20".to_vec(), b"20.0".to_vec()]
        );
        assert_eq!(
            floats(2.5).map(|(fast, _)| fast.unwrap()),
            [b"2.5".to_vec(), b"2.5".to_vec()]
        );
    }

    proptest::proptest! {
        #[test]
        fn word_scans_find_the_first_special_byte(
            v in proptest::collection::vec(proptest::prop_oneof![
                0u8..=255, proptest::sample::select(vec![b',', b'"', b'\n', b'\r', b'\\', 0x1f, 0x20]),
            ], 0..80),
            from in 0usize..80,
        ) {
            let naive_csv = v.iter().enumerate().skip(from).find(|(_, &b)| matches!(b, b',' | b'"' | b'\n' | b'\r')).map(|(i, _)| i);
            proptest::prop_assert_eq!(find_csv_special(&v, from), naive_csv);
            let naive_json = v.iter().enumerate().skip(from).find(|(_, &b)| b < 0x20 || b == b'"' || b == b'\\').map(|(i, _)| i);
            proptest::prop_assert_eq!(find_json_special(&v, from), naive_json);
            let tail = &v[from.min(v.len())..];
            let plain = find_csv_special(tail, 0).is_none() && find_json_special(tail, 0).is_none();
            proptest::prop_assert_eq!(is_plain(tail), plain);
        }

        #[test]
        fn fields_quoted_in_place_match_fields_written_quoted(
            prefix in "[a-z,]{0,12}",
            s in "(?s)[a,\"\r\n=-]{0,3}.{0,30}[\"a]{0,3}",
        ) {
            let mut in_place = prefix.clone().into_bytes();
            in_place.extend_from_slice(s.as_bytes());
            quote_tail_if_needed(&mut in_place, prefix.len());
            let mut written = prefix.clone().into_bytes();
            csv_field(&mut written, s.as_bytes(), false);
            proptest::prop_assert_eq!(&in_place, &written);
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record([&s]).unwrap();
            let mut expected = prefix.into_bytes();
            let record = w.into_inner().unwrap();
            // A lone empty field is written `""` by the csv crate, as a row of its own.
            if !s.is_empty() {
                expected.extend_from_slice(&record[..record.len() - 1]);
                proptest::prop_assert_eq!(written, expected);
            }
        }

        /// Levels copied a word at a time are the names written one by one, after whatever the
        /// buffer holds.
        #[test]
        fn levels_match_their_names_written_one_by_one(bits: u32, before in "[a-z,]{0,3}") {
            for format in [LevelFormat::Csv, LevelFormat::Json] {
                let mut out = before.clone().into_bytes();
                levels(&mut out, Levels(bits), format);
                let expected = format!("{before}{}", levels_by_name(Levels(bits), format));
                proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
            }
        }

        #[test]
        fn floats_are_written_as_display_and_serde_json_write_them(bits in 0u32..0x4a00_0000) {
            let v = f32::from_bits(bits);
            proptest::prop_assert!(floats_agree(v), "{}", v);
        }

        #[test]
        fn json_strings_match_serde_json(s in "(?s).{0,40}") {
            let mut out = Vec::new();
            json_str(&mut out, &s);
            proptest::prop_assert_eq!(out, serde_json::to_vec(&s).unwrap());
        }

        #[test]
        fn json_strings_with_controls_match_serde_json(
            v in proptest::collection::vec(proptest::prop_oneof![
                0u8..0x20, proptest::strategy::Just(b'"'), proptest::strategy::Just(b'\\'),
                0x20u8..0x7f,
            ], 0..40)
        ) {
            let s = String::from_utf8(v).unwrap();
            let mut out = Vec::new();
            json_str(&mut out, &s);
            proptest::prop_assert_eq!(out, serde_json::to_vec(&s).unwrap());
        }
    }
}
