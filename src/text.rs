//! The folded view of a text that matching runs on.
//!
//! Folding lowercases ASCII letters, turns every run of whitespace (line breaks included),
//! hyphens, dashes, apostrophes and underscores into one space, and sets every other
//! punctuation or symbol character apart as a token of its own (`fracture.` -> `fracture .`).
//! The view starts and ends with a space, so a pattern `" term"` that is followed by a space
//! matches whole tokens only. Every byte of the view records the byte offset in the original
//! text that it came from, so matches map back to exact original spans.
//!
//! Patterns are folded by the same function, so `s/p`, `L4-5` or `age-indeterminate` in a
//! lexicon match every spacing and dash variant of themselves in a report.

/// A folded view with its offset maps.
#[derive(Debug, Default, Clone)]
pub struct Folded {
    /// The folded bytes (valid UTF-8).
    pub bytes: Vec<u8>,
    /// For each folded byte, the original offset it came from (an inserted space comes from
    /// the byte it stands for or sits next to; the leading space from 0, the trailing one
    /// from the end of the text). Offsets never go down. Only the first `bytes.len()`
    /// entries are the view's: the vector is kept at its largest length, so that folding
    /// never clears it.
    origin: Vec<u32>,
    /// For each original offset up to and including the end of the text, the first folded
    /// position whose original offset is at least it ([`Folded::position_of`]); the first
    /// `text_len + 1` entries are the view's.
    position: Vec<u32>,
    /// The length of the text folded.
    text_len: usize,
    /// The original offsets of the [`is_mark`] bytes of the text, in text order: the first
    /// `marks_len` entries (the vector is kept at its largest length, as `origin` is).
    marks: Vec<u32>,
    marks_len: usize,
    /// The original offsets of the first bytes of the characters of the text outside ASCII,
    /// in text order ([`Folded::non_ascii`]).
    non_ascii: Vec<u32>,
}
/// How folding treats an ASCII byte.
const WORD: u8 = 0;
const SPACE: u8 = 1;
const PUNCT: u8 = 2;
const MULTI: u8 = 3;

/// [`WORD`] bytes (letters, lowercased, and digits), [`SPACE`] bytes (whitespace, controls,
/// hyphen, underscore, apostrophe, backquote), [`PUNCT`] (every other ASCII symbol) and
/// [`MULTI`] (the first or a later byte of a multi-byte character).
const CLASS: [u8; 256] = {
    let mut t = [MULTI; 256];
    let mut c = 0;
    while c < 0x80 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphanumeric() {
            WORD
        } else if b <= 0x20 || b == 0x7f || matches!(b, b'-' | b'_' | b'\'' | b'`') {
            SPACE
        } else {
            PUNCT
        };
        c += 1;
    }
    t
};

/// Whether folding records the offset of byte `c` ([`Folded::marks`]): a line break, a colon,
/// a byte that may end a sentence (`. ! ? ;`) or a closing bracket (`) ]`, which ends the
/// words before a colon that may name a header). Section and sentence splitting look at
/// these bytes only.
#[inline(always)]
pub fn is_mark(c: u8) -> bool {
    MARK[c as usize]
}

/// The [`is_mark`] bytes.
pub const MARKS: [u8; 8] = *b"\n:.!?;)]";

/// [`is_mark`] as a table.
const MARK: [bool; 256] = {
    let mut t = [false; 256];
    let marks = MARKS;
    let mut k = 0;
    while k < marks.len() {
        t[marks[k] as usize] = true;
        k += 1;
    }
    t
};

/// Classes of [`FOLD_CLASS`] besides those of [`CLASS`]: a [`SPACE`] byte and a [`PUNCT`]
/// byte that are marks ([`is_mark`]).
const MARK_SPACE: u8 = 4;
const MARK_PUNCT: u8 = 5;

/// [`CLASS`] with the mark bytes in classes of their own, so that folding records them
/// without testing each space and symbol.
const FOLD_CLASS: [u8; 256] = {
    let mut t = CLASS;
    let mut c = 0;
    while c < 256 {
        if MARK[c] {
            t[c] = if CLASS[c] == SPACE {
                MARK_SPACE
            } else {
                MARK_PUNCT
            };
        }
        c += 1;
    }
    t
};

/// The offsets of the [`is_mark`] bytes of `text`, in order, into `out` (cleared first): what
/// [`Folded::marks`] holds after folding `text`.
#[cfg(test)]
fn marks_of(text: &[u8], out: &mut Vec<u32>) {
    out.clear();
    let mut k = 0;
    while let Some(p) = find_any(text, k, MARKS) {
        out.push(p as u32);
        k = p + 1;
    }
}

/// Bytes a word run copies at a time ([`word_run16`]); the buffers of a view keep this many
/// bytes (and offsets) of room past its end.
const RUN: usize = 16;

/// The longest text [`Folded::fold`] takes: its folded view, at most `2 * len + 2 + RUN`
/// bytes long, has every offset in a `u32`.
const MAX_TEXT: usize = (u32::MAX as usize - 2 - RUN) / 2;

/// Writes `start + k` at `v[at + k]` for `k` in `0..RUN` (the compiler makes vector stores
/// of it).
#[inline(always)]
fn count16(v: &mut [u32], at: usize, start: usize) {
    let start = start as u32;
    for (k, x) in v[at..at + RUN].iter_mut().enumerate() {
        *x = start + k as u32;
    }
}

/// Folds `text` into `out`, writing the offset maps of [`Folded`] and the offsets of the
/// [`is_mark`] bytes (into `marks`) as it goes; returns the folded length and the number of
/// marks. `out` and `origin` hold `2 * text.len() + 2 + RUN` entries, `position`
/// `text.len() + 1 + RUN`, `marks` `text.len() + 1`. Every mark byte is a symbol or a
/// control byte, which no word run holds: each is reached on its own, and its offset is
/// written at the next free entry, which only a mark byte takes. The buffers are taken as slices, so that their places and lengths
/// stay in registers while bytes are written.
///
/// The entry of each original offset in `position` is written when its byte is reached: no
/// byte folded before it comes from it or after it (a space folded for a symbol comes from
/// the symbol's own offset), so the entry is the length folded so far.
fn fold_maps(
    text: &str,
    out: &mut [u8],
    origin: &mut [u32],
    position: &mut [u32],
    marks: &mut [u32],
    non_ascii: &mut Vec<u32>,
) -> (usize, usize) {
    let b = text.as_bytes();
    // `out` and `origin` cut to one length: a bounds check on one covers the other.
    let origin = &mut origin[..out.len()];
    // `position` cut to the length of the text and `RUN` more: a word run's pass that loaded
    // sixteen bytes of the text writes within it.
    let position = &mut position[..b.len() + 1 + RUN];
    let mut o = 0usize;
    let mut m = 0usize;
    // Writes byte `c`, from original offset `at`, at `o`.
    macro_rules! put {
        ($c:expr, $at:expr) => {{
            origin[o] = $at as u32;
            out[o] = $c;
            o += 1;
        }};
    }
    // A space from `at` unless the last output byte is one.
    macro_rules! space {
        ($at:expr) => {
            if out[o - 1] != b' ' {
                put!(b' ', $at);
            }
        };
    }
    put!(b' ', 0);
    let mut i = 0;
    // A space byte at `i`.
    macro_rules! space_byte {
        () => {{
            position[i] = o as u32;
            space!(i);
            i += 1;
        }};
    }
    // A symbol at `i`, set apart by spaces.
    macro_rules! symbol {
        ($c:expr) => {{
            position[i] = o as u32;
            space!(i);
            // The symbol and the space after it.
            out[o..o + 2].copy_from_slice(&[$c, b' ']);
            origin[o..o + 2].copy_from_slice(&[i as u32; 2]);
            o += 2;
            i += 1;
            // A space right after the symbol (`fracture. No`, `C5, C6`) folds to nothing, as
            // the space folded after the symbol stands for it: it is taken here, not on a turn
            // of its own.
            if b.get(i) == Some(&b' ') {
                position[i] = o as u32;
                i += 1;
            }
        }};
    }
    while i < b.len() {
        let c = b[i];
        match FOLD_CLASS[c as usize] {
            WORD => {
                // A run of letters, digits and single spaces, copied lowercased sixteen
                // bytes at a time, with the offsets of both maps. It starts on a letter or
                // digit, so a space at its start never follows another.
                // The offsets are taken as `u32` (the text is at most `MAX_TEXT` bytes long, so
                // none is cut), so that `+ RUN` on them widened to `usize` cannot overflow, and
                // a pass that loads sixteen bytes of the text writes `position` within
                // `b.len() + RUN`: the compiler drops those checks from the copy loop.
                // Within a run, the text and the view advance together: only the text offset
                // is counted, and the view's is it plus `shift` (modulo 2^32).
                let mut iu = i as u32;
                let shift = (o as u32).wrapping_sub(iu);
                let mut after_space = 0;
                // One pass over sixteen bytes `x` from `iu`; gives how many it took and
                // whether the last of them is a space.
                macro_rules! pass {
                    ($x:expr) => {{
                        let (iw, ow) = (iu as usize, iu.wrapping_add(shift) as usize);
                        let (lower, n, last_space) = word_run16($x, after_space);
                        out[ow..ow + RUN].copy_from_slice(&lower);
                        count16(origin, ow, iw);
                        count16(position, iw, ow);
                        iu += n as u32;
                        (n, last_space)
                    }};
                }
                loop {
                    let iw = iu as usize;
                    let Some(x) = b.get(iw..iw + RUN) else {
                        // Fewer than sixteen bytes are left: they are taken padded with
                        // zeros, which end the run.
                        pass!(load16_end(b, iw));
                        break;
                    };
                    let (n, last_space) = pass!(<[u8; RUN]>::try_from(x).unwrap_or_default());
                    if n < RUN {
                        break;
                    }
                    after_space = last_space;
                }
                (i, o) = (iu as usize, iu.wrapping_add(shift) as usize);
            }
            SPACE => space_byte!(),
            PUNCT => symbol!(c),
            MARK_SPACE => {
                marks[m] = i as u32;
                m += 1;
                space_byte!();
            }
            MARK_PUNCT => {
                marks[m] = i as u32;
                m += 1;
                symbol!(c);
            }
            _ => {
                // Multi-byte character: decode just this one.
                non_ascii.push(i as u32);
                let len = utf8_len(c);
                let end = (i + len).min(b.len());
                let ch = text[i..end].chars().next().unwrap_or(' ');
                let alnum = ch.is_alphanumeric();
                position[i] = o as u32;
                if alnum || !is_dash_or_space(ch) {
                    if !alnum {
                        space!(i);
                    }
                    // By index: an iterator here compiles to more instructions.
                    #[allow(clippy::needless_range_loop)]
                    for k in i..end {
                        // The first byte's entry is set above: the space before the
                        // character comes from its offset.
                        if k > i {
                            position[k] = o as u32;
                        }
                        put!(b[k], k);
                    }
                    if !alnum {
                        space!(end - 1);
                    }
                } else {
                    space!(i);
                    for p in &mut position[i + 1..end] {
                        *p = o as u32;
                    }
                }
                i = end;
            }
        }
    }
    // The end of the text: no folded byte comes from it but the trailing space.
    position[b.len()] = o as u32;
    space!(b.len());
    // Offset 0 is the leading space's, also when a run that starts the text wrote its own
    // first byte's position there.
    position[0] = 0;
    (o, m)
}

impl Folded {
    /// Refolds `text` into this buffer, reusing its allocations.
    ///
    /// Most of a report is runs of letters and digits with single spaces between them
    /// (`mild disc space narrowing`). Such a run folds to itself, lowercased, one byte per
    /// byte with contiguous offsets, so it is copied sixteen bytes at a time ([`word_run16`]),
    /// and its offsets in both maps are written sixteen at a time too ([`count16`]).
    pub fn fold(&mut self, text: &str) {
        let b = text.as_bytes();
        // The maps hold `u32` offsets, and folding counts in `u32` within word runs.
        assert!(b.len() <= MAX_TEXT, "text too long to fold");
        let Folded {
            bytes: out,
            origin,
            position,
            text_len,
            marks,
            marks_len,
            non_ascii,
        } = self;
        // Every input byte gives at most two output bytes (a symbol and the space after it),
        // plus the leading space; a run copy may write up to `RUN` bytes (and offsets) past
        // its end. Bytes are written at `o` and the buffer is cut to length at the end; the
        // maps keep their length.
        let most = 2 * b.len() + 2 + RUN;
        out.resize(most, 0);
        if origin.len() < most {
            origin.resize(most, 0);
        }
        if position.len() < b.len() + 1 + RUN {
            position.resize(b.len() + 1 + RUN, 0);
        }
        if marks.len() < b.len() + 1 {
            marks.resize(b.len() + 1, 0);
        }
        *text_len = b.len();
        non_ascii.clear();
        let (o, m) = fold_maps(text, out, origin, position, marks, non_ascii);
        *marks_len = m;
        out.truncate(o);
    }

    /// The original offsets of the text's line breaks, colons, the bytes that may end a
    /// sentence and closing brackets ([`is_mark`]), in text order: found while folding, so
    /// that section and sentence splitting need not search the text for them.
    #[inline]
    pub fn marks(&self) -> &[u32] {
        &self.marks[..self.marks_len]
    }

    /// The original offsets of the characters of the text outside ASCII (the first byte of
    /// each), in text order: found while folding, which decodes each such character, so that
    /// later stages need not search the text for them (none: the text is ASCII).
    #[inline]
    pub fn non_ascii(&self) -> &[u32] {
        &self.non_ascii
    }

    /// The original byte offset that folded byte `f` came from (`f < bytes.len()`).
    #[inline]
    pub fn map_at(&self, f: usize) -> usize {
        self.origins()[f] as usize
    }

    /// For each folded byte, the original byte offset it came from ([`Folded::map_at`] of
    /// each): for a caller that reads many, so that the view's length is checked once.
    #[inline]
    pub fn origins(&self) -> &[u32] {
        &self.origin[..self.bytes.len()]
    }

    /// The first folded position whose original offset is at least `orig` (the number of
    /// folded bytes that come from before `orig`); `bytes.len()` when there is none.
    #[inline]
    pub fn position_of(&self, orig: usize) -> usize {
        if orig <= self.text_len {
            self.position[orig] as usize
        } else {
            self.bytes.len()
        }
    }

    /// [`Folded::position_of`] by halving the map of original offsets: what the map of
    /// positions must agree with.
    #[cfg(test)]
    fn position_of_plain(&self, orig: usize) -> usize {
        self.origin[..self.bytes.len()].partition_point(|&m| (m as usize) < orig)
    }

    /// The original byte span of folded bytes `[fs, fe)`, which must start and end on token
    /// bytes (not spaces).
    #[inline]
    pub fn original(&self, fs: usize, fe: usize) -> (usize, usize) {
        (self.map_at(fs), self.map_at(fe - 1) + 1)
    }

    /// Number of tokens in folded bytes `[a, b)` (spaces between them), counted eight bytes
    /// at a time. The pipeline counts the tokens between its matches from the spaces the
    /// phrase scan counts as it goes ([`crate::phrase::PhraseSet::for_each_match_counted`]),
    /// so no table of space counts is built for every view.
    #[inline]
    pub fn tokens_between(&self, a: usize, b: usize) -> usize {
        if a >= b {
            return 0;
        }
        // A gap " x y " between two tokens holds two tokens and three spaces.
        (count_spaces(&self.bytes[a..b]) as usize).saturating_sub(1)
    }
}

/// The first index `i >= from` of `hay` whose byte is one of `set`. Blocks of sixteen bytes
/// without one are skipped with vector compares (the compiler makes them of a test written
/// without branches; the matches are counted, not or-ed, because an or of compares with
/// constants becomes a bit test that vectorizes badly), then [`find_any_words`] finds the
/// byte in the block that holds it.
#[inline(always)]
pub(crate) fn find_any<const N: usize>(hay: &[u8], from: usize, set: [u8; N]) -> Option<usize> {
    let rest = hay.get(from..)?;
    let mut at = from;
    for block in rest.chunks_exact(16) {
        let hits = block.iter().fold(0u8, |any, &c| {
            any | u8::from(set.iter().fold(0u8, |n, &s| n + u8::from(c == s)) != 0)
        });
        if hits != 0 {
            break;
        }
        at += 16;
    }
    find_any_words(hay, at, set)
}

/// [`find_any`] eight bytes at a time: a word-at-a-time zero test for each byte of the set,
/// whose lowest flagged byte is always a true match (a false flag can only sit above a true
/// one).
#[inline(always)]
fn find_any_words<const N: usize>(hay: &[u8], from: usize, set: [u8; N]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while i + 8 <= hay.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&hay[i..i + 8]);
        let x = u64::from_le_bytes(w);
        let mut hit = 0u64;
        for c in set {
            let y = x ^ (LO * c as u64);
            hit |= y.wrapping_sub(LO) & !y & HI;
        }
        if hit != 0 {
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    hay.get(i..)?
        .iter()
        .position(|b| set.contains(b))
        .map(|p| i + p)
}

/// The position of the first byte of `bytes` for which `hit` holds, or `bytes.len()`. Sixteen
/// bytes are tested at a time: with a `hit` written without branches (`|`, not `||`), the
/// compiler makes vector compares of it.
pub(crate) fn find_where(bytes: &[u8], hit: impl Fn(u8) -> bool) -> usize {
    let mut at = 0;
    for block in bytes.chunks_exact(16) {
        if block.iter().fold(0, |any, &b| any | u8::from(hit(b))) != 0 {
            break;
        }
        at += 16;
    }
    at + bytes[at..]
        .iter()
        .position(|&b| hit(b))
        .unwrap_or(bytes.len() - at)
}

/// The eight bytes of `b` from `i` as a little-endian word, zero past the end. When eight
/// bytes are there, two compares and one load (no copy through a buffer).
#[inline(always)]
pub(crate) fn load8(b: &[u8], i: usize) -> u64 {
    match b.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        Some(w) => u64::from_le_bytes(*w),
        None => {
            // Fewer than eight bytes from `i`.
            let mut w = [0u8; 8];
            let rest = &b[i.min(b.len())..];
            w[..rest.len()].copy_from_slice(rest);
            u64::from_le_bytes(w)
        }
    }
}

/// Splits off the start of a run that [`Folded::fold`] copies as it is: for the eight bytes
/// `x`, returns them with ASCII capitals lowercased, how many of them from the first on are
/// letters, digits or single spaces (a space right after a space ends the run, and
/// `after_space` is `0x80` when the byte before `x` is a space), and the spaces of `x`
/// (`0x80` in each byte that is one). Each test is a per-byte range check that cannot carry
/// into the next byte.
#[inline]
fn word_run(x: u64, after_space: u64) -> (u64, usize, u64) {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // `m < v < n` for each byte `v` of `h` (all below 0x80) has its top bit in
    // `(0x7f + n - v) & (v + 0x7f - m)`; `!x` drops the bytes that were not ASCII.
    let h = x & !HI;
    let ascii = !x & HI;
    let folded = h | (LO * 0x20);
    let letter = (LO * (0x7f + b'z' as u64 + 1)).wrapping_sub(folded)
        & folded.wrapping_add(LO * (0x7f - (b'a' as u64 - 1)))
        & ascii;
    let digit = (LO * (0x7f + b'9' as u64 + 1)).wrapping_sub(h)
        & h.wrapping_add(LO * (0x7f - (b'0' as u64 - 1)))
        & ascii;
    // Exact zero test of `x ^ ' '` per byte: no borrow between bytes.
    let t = x ^ (LO * b' ' as u64);
    let space = !(((t & !HI).wrapping_add(!HI)) | t) & HI;
    let double = space & ((space << 8) | after_space);
    let stop = (!(letter | digit | space) & HI) | double;
    let n = (stop.trailing_zeros() / 8) as usize;
    (x | (letter >> 2), n, space)
}

/// The sixteen bytes of `b` from `i`, zero past the end (what a pass of a word run in
/// [`fold_maps`] loads).
#[cfg(test)]
fn load16(b: &[u8], i: usize) -> [u8; RUN] {
    match b.get(i..i + RUN) {
        Some(s) => <[u8; RUN]>::try_from(s).unwrap_or_default(),
        None => load16_end(b, i),
    }
}

/// The bytes of `b` from `i` on, fewer than sixteen, padded with zeros to sixteen: the last
/// pass of a word run near the end of the text (kept apart, so that the usual load is one
/// move).
#[cold]
fn load16_end(b: &[u8], i: usize) -> [u8; RUN] {
    let mut w = [0u8; RUN];
    let rest = &b[i.min(b.len())..];
    w[..rest.len()].copy_from_slice(rest);
    w
}

/// [`word_run`] for sixteen bytes: `x` with ASCII capitals lowercased, how many of its bytes
/// from the first on are letters, digits or single spaces (`after_space` is 1 when the byte
/// before `x` is a space, else 0), and 1 when its last byte is a space, else 0. On x86-64,
/// each class is a few vector compares, gathered by one `movemask` into a bit per byte (SSE2,
/// which every x86-64 processor has): the run's end is then one bit search, with few values
/// live in the copy loop of [`Folded::fold`]; elsewhere, [`word_run16_words`].
#[inline(always)]
fn word_run16(x: [u8; RUN], after_space: u32) -> ([u8; RUN], usize, u32) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        use std::arch::x86_64::*;
        let mut lower = [0u8; RUN];
        // SAFETY: the SSE2 instructions are enabled for the whole build (`target_feature`
        // above); the load reads the sixteen bytes of `x` and the store writes the sixteen of
        // `lower`, both unaligned.
        let (word, space) = unsafe {
            let v = _mm_loadu_si128(x.as_ptr().cast());
            // `v - lo < n` as unsigned bytes: the minimum of `v - lo` and `n - 1` is `v - lo`.
            let below =
                |d: __m128i, n: u8| _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(n as i8 - 1)), d);
            let letter = below(
                _mm_sub_epi8(
                    _mm_or_si128(v, _mm_set1_epi8(0x20)),
                    _mm_set1_epi8(b'a' as i8),
                ),
                26,
            );
            let digit = below(_mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8)), 10);
            let sp = _mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8));
            _mm_storeu_si128(
                lower.as_mut_ptr().cast(),
                _mm_or_si128(v, _mm_and_si128(letter, _mm_set1_epi8(0x20))),
            );
            let word = _mm_or_si128(_mm_or_si128(letter, digit), sp);
            (_mm_movemask_epi8(word) as u32, _mm_movemask_epi8(sp) as u32)
        };
        // Every bit from 16 up is set in `!word`: a run with no stop is sixteen bytes. A space
        // right after a space ends the run.
        let stop = !word | (space & ((space << 1) | after_space));
        (lower, stop.trailing_zeros() as usize, space >> (RUN - 1))
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        word_run16_words(x, after_space)
    }
}

/// [`word_run16`] without vector instructions: each byte is classed by a test written without
/// branches, which the compiler makes of a few vector compares where it can; the flags are
/// then read as two words.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
#[inline(always)]
fn word_run16_words(x: [u8; RUN], after_space: u32) -> ([u8; RUN], usize, u32) {
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut lower = [0u8; RUN];
    let mut other = [0u8; RUN];
    let mut space = [0u8; RUN];
    for k in 0..RUN {
        let c = x[k];
        let letter = (c | 0x20).wrapping_sub(b'a') < 26;
        let digit = c.wrapping_sub(b'0') < 10;
        let sp = c == b' ';
        lower[k] = c | (u8::from(letter) << 5);
        other[k] = 0u8.wrapping_sub(u8::from(!(letter | digit | sp)));
        space[k] = 0u8.wrapping_sub(u8::from(sp));
    }
    let word = |v: &[u8; RUN], h: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&v[8 * h..8 * h + 8]);
        u64::from_le_bytes(w) & HI
    };
    let (s0, s1) = (word(&space, 0), word(&space, 1));
    // A space right after a space ends the run.
    let stop0 = word(&other, 0) | (s0 & ((s0 << 8) | (u64::from(after_space) << 7)));
    let stop1 = word(&other, 1) | (s1 & ((s1 << 8) | (s0 >> 56)));
    let n = if stop0 != 0 {
        stop0.trailing_zeros() / 8
    } else {
        8 + stop1.trailing_zeros() / 8
    };
    (lower, n as usize, (s1 >> 63) as u32)
}

/// The spaces in `bytes`, eight bytes at a time: the exact zero test of each byte of
/// `word ^ "        "` adds one to that byte's lane of a sum, and a multiply adds up the
/// lanes. Up to 31 words go into one sum, so that its total (at most 248) fits in a byte.
fn count_spaces(bytes: &[u8]) -> u32 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut total = 0;
    for part in bytes.chunks(8 * 31) {
        let mut lanes = 0u64;
        let mut words = part.chunks_exact(8);
        for w in &mut words {
            let mut x = [0u8; 8];
            x.copy_from_slice(w);
            let t = u64::from_le_bytes(x) ^ (LO * b' ' as u64);
            lanes += (!(((t & !HI).wrapping_add(!HI)) | t) & HI) >> 7;
        }
        total += (lanes.wrapping_mul(LO) >> 56) as u32;
        total += words.remainder().iter().filter(|&&c| c == b' ').count() as u32;
    }
    total
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

fn is_dash_or_space(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{2010}'
                ..='\u{2015}' | '\u{2212}' | '\u{2018}' | '\u{2019}' | '\u{00ad}' | '\u{feff}'
        )
}

/// Whether `s` folds to itself with its capitals lowercased: ASCII letters and digits with
/// single spaces between them, checked eight bytes at a time.
pub(crate) fn folds_to_lowercase(s: &[u8]) -> bool {
    if s.first() == Some(&b' ') || s.last() == Some(&b' ') {
        return false;
    }
    let mut i = 0;
    let mut after_space = 0;
    loop {
        let (_, n, spaces) = word_run(load8(s, i), after_space);
        if i + n >= s.len() {
            return true;
        }
        if n < 8 {
            return false;
        }
        i += 8;
        after_space = spaces >> 56;
    }
}

/// Folds `s` as [`fold_str`] does, into `out` (which must hold `2 * s.len()` bytes); returns
/// the folded length. For short keys looked up on the hot path without allocating.
pub(crate) fn fold_into(s: &str, out: &mut [u8]) -> usize {
    let b = s.as_bytes();
    let mut o = 0;
    // A space is due before the next token (unless it is the first).
    let mut space = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match CLASS[c as usize] {
            WORD => {
                if space && o > 0 {
                    out[o] = b' ';
                    o += 1;
                }
                space = false;
                out[o] = c.to_ascii_lowercase();
                o += 1;
            }
            PUNCT => {
                if o > 0 {
                    out[o] = b' ';
                    o += 1;
                }
                out[o] = c;
                o += 1;
                space = true;
            }
            SPACE => space = true,
            _ => {
                // Multi-byte character: a letter or digit joins the word, a dash or space
                // separates, anything else is a token of its own.
                let end = (i + utf8_len(c)).min(b.len());
                let ch = s[i..end].chars().next().unwrap_or(' ');
                if is_dash_or_space(ch) && !ch.is_alphanumeric() {
                    space = true;
                } else {
                    let alnum = ch.is_alphanumeric();
                    if o > 0 && (space || !alnum) {
                        out[o] = b' ';
                        o += 1;
                    }
                    for &c in &b[i..end] {
                        out[o] = c;
                        o += 1;
                    }
                    space = !alnum;
                }
                i = end;
                continue;
            }
        }
        i += 1;
    }
    o
}

/// Folds a lexicon literal: the folded view without the leading and trailing space (made by
/// [`fold_into`], which builds no offset maps).
pub fn fold_str(s: &str) -> String {
    let mut buf = vec![0u8; 2 * s.len()];
    let n = fold_into(s, &mut buf);
    buf.truncate(n);
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_space_and_punctuation() {
        assert_eq!(
            fold_str("Wedge  XXXX\r\n deformity."),
            "wedge xxxx deformity ."
        );
        assert_eq!(fold_str("s/p L4-5 fusion"), "s / p l4 5 fusion");
        assert_eq!(fold_str("age–indeterminate"), "age indeterminate");
        assert_eq!(fold_str("30° curve"), "30 ° curve");
    }

    impl Folded {
        /// Folding one byte at a time, with each folded byte's original offset pushed as it
        /// is written, and the map of positions found by halving that map: what
        /// [`Folded::fold`] must agree with, field for field.
        fn fold_bytewise(&mut self, text: &str) {
            let b = text.as_bytes();
            let out = &mut self.bytes;
            let origin = &mut self.origin;
            out.clear();
            origin.clear();
            // Writes byte `c`, from original offset `at`.
            macro_rules! put {
                ($c:expr, $at:expr) => {{
                    out.push($c);
                    origin.push($at as u32);
                }};
            }
            // A space from `at` unless the last output byte is one.
            macro_rules! space {
                ($at:expr) => {
                    if out.last() != Some(&b' ') {
                        put!(b' ', $at);
                    }
                };
            }
            put!(b' ', 0);
            let mut i = 0;
            while i < b.len() {
                let c = b[i];
                match CLASS[c as usize] {
                    WORD => {
                        put!(c.to_ascii_lowercase(), i);
                        i += 1;
                    }
                    SPACE => {
                        space!(i);
                        i += 1;
                    }
                    PUNCT => {
                        space!(i);
                        put!(c, i);
                        space!(i);
                        i += 1;
                    }
                    _ => {
                        // Multi-byte character: decode just this one.
                        let len = utf8_len(c);
                        let end = (i + len).min(b.len());
                        let ch = text[i..end].chars().next().unwrap_or(' ');
                        let alnum = ch.is_alphanumeric();
                        if alnum || !is_dash_or_space(ch) {
                            if !alnum {
                                space!(i);
                            }
                            for (k, &c) in b[i..end].iter().enumerate() {
                                put!(c, i + k);
                            }
                            if !alnum {
                                space!(end - 1);
                            }
                        } else {
                            space!(i);
                        }
                        i = end;
                    }
                }
            }
            space!(b.len());
            self.text_len = b.len();
            self.position = (0..=b.len())
                .map(|x| self.position_of_plain(x) as u32)
                .collect();
        }

        /// The view's part of the two offset maps.
        fn maps(&self) -> (&[u32], &[u32]) {
            (
                &self.origin[..self.bytes.len()],
                &self.position[..=self.text_len],
            )
        }
    }

    /// [`Folded::fold`] and [`Folded::fold_bytewise`] build the same view: bytes and offset
    /// maps.
    fn assert_folds_agree(text: &str) {
        let mut f = Folded::default();
        f.fold(text);
        let mut g = Folded::default();
        g.fold_bytewise(text);
        assert_eq!(f.bytes, g.bytes, "bytes");
        assert_eq!(f.maps(), g.maps(), "offset maps");
        let mut marks = Vec::new();
        marks_of(text.as_bytes(), &mut marks);
        let bytewise: Vec<u32> = (0..text.len())
            .filter(|&k| is_mark(text.as_bytes()[k]))
            .map(|k| k as u32)
            .collect();
        assert_eq!(marks, bytewise, "marks searched");
        assert_eq!(f.marks(), marks, "marks");
        let non_ascii: Vec<u32> = (text.char_indices())
            .filter(|(_, c)| !c.is_ascii())
            .map(|(k, _)| k as u32)
            .collect();
        assert_eq!(f.non_ascii(), non_ascii, "characters outside ASCII");
        // Refolding into a used buffer, after a longer text, gives the same again.
        f.fold(&text.replace(' ', "").repeat(2));
        f.fold(text);
        assert_eq!(f.bytes, g.bytes, "refolded");
        assert_eq!(f.maps(), g.maps(), "refolded");
        assert_eq!(f.marks(), marks, "refolded");
        assert_eq!(f.non_ascii(), non_ascii, "refolded");
    }

    #[test]
    fn word_runs_fold_as_byte_by_byte() {
        for text in [
            "",
            "a",
            " ",
            "  ",
            "abcdefgh",
            "abcdefgh ",
            "abcdefg  h",
            "abcdefgh  ijklmnop",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789",
            "@[`{/:\x7f \u{0}\u{1f}AZaz09",
            "No acute fracture.  Mild  L4-5 disc\r\nspace narrowing;\tT12 wedge, 30\u{b0}.",
            "caf\u{e9} d\u{e9}j\u{e0} vu \u{2013} \u{2014}x\u{a0}y \u{201c}z\u{201d}",
            "x ".repeat(100).as_str(),
            "word  ".repeat(30).as_str(),
            "Lumbar spine: ".repeat(20).as_str(),
            "Fracture. No change, C5 ;  C6 .\n(x) : y. ,, z",
            ". ",
            "a.",
        ] {
            assert_folds_agree(text);
        }
    }

    /// Word runs of every length up to three passes, at every distance from the end of the
    /// text: the passes that load sixteen bytes of it and the padded last one near its end.
    #[test]
    fn word_runs_near_the_end_fold_as_byte_by_byte() {
        let word = "Disc Space L4 narrowing AT T12 wedge";
        for lead in 0..20 {
            for len in 1..=word.len() {
                for end in ["", ".", " ", "  ", ".x", "\u{e9}", "\n- y"] {
                    assert_folds_agree(&format!("{}{}{}", ":".repeat(lead), &word[..len], end));
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn fold_agrees_with_folding_byte_by_byte(s in "[a-zA-Z0-9 ]{0,80}|[ -~\t\r\n\u{e9}\u{2013}\u{b0}\u{a0}\u{feff}]{0,80}|(([a-zA-Z0-9]{1,12}|\\PC)( {1,3}|[-.,:;/\n\t\r]|\r\n)){0,30}") {
            assert_folds_agree(&s);
        }
    }

    proptest::proptest! {
        /// [`load8`] reads the bytes that are there and zero past the end, at every position
        /// and past it.
        #[test]
        fn load8_agrees_with_reading_byte_by_byte(
            b in proptest::collection::vec(proptest::num::u8::ANY, 0..20),
        ) {
            for i in 0..b.len() + 10 {
                let byte = |k: usize| u64::from(b.get(i + k).copied().unwrap_or(0));
                let want = (0..8).fold(0u64, |w, k| w | byte(k) << (8 * k));
                proptest::prop_assert_eq!(load8(&b, i), want);
            }
        }
    }

    /// The offset map read one folded byte at a time.
    fn offsets(f: &Folded) -> Vec<usize> {
        (0..f.bytes.len()).map(|k| f.map_at(k)).collect()
    }

    proptest::proptest! {
        #[test]
        fn offset_map_points_into_the_text(s in "[ -~\t\n\u{e9}\u{2013}\u{b0}\u{a0}]{0,60}") {
            let mut f = Folded::default();
            f.fold(&s);
            let offsets = offsets(&f);
            // Offsets never go down, every folded byte comes from a real offset, and each
            // token byte maps to the original byte it copies (lowercased).
            for k in 1..offsets.len() {
                proptest::prop_assert!(offsets[k - 1] <= offsets[k]);
            }
            for (k, &o) in offsets.iter().enumerate() {
                proptest::prop_assert!(o <= s.len());
                let c = f.bytes[k];
                if c != b' ' {
                    proptest::prop_assert_eq!(s.as_bytes()[o].to_ascii_lowercase(), c);
                }
            }
            for orig in 0..=s.len() + 1 {
                let want = offsets.partition_point(|&m| m < orig);
                proptest::prop_assert_eq!(f.position_of(orig), want, "offset {}", orig);
            }
        }

        /// Over long texts, where folding drifts far from the original offsets (runs of
        /// spaces fold to one, symbols gain spaces around them), the map of positions holds
        /// what halving the map of offsets finds, past the end of the text too.
        #[test]
        fn position_of_agrees_with_the_plain_search(
            s in "([a-z0-9]{1,12}|[ \n]{1,40}|[.,:()/%]{1,12}|-|\u{e9}|\u{2013}| ){0,120}"
        ) {
            let mut f = Folded::default();
            f.fold(&s);
            for orig in 0..=s.len() + 2 {
                proptest::prop_assert_eq!(
                    f.position_of(orig), f.position_of_plain(orig), "offset {}", orig
                );
            }
        }
    }

    #[test]
    fn map_points_into_original() {
        let text = "Mild  T12\ncompression–deformity.";
        let mut f = Folded::default();
        f.fold(text);
        let v = std::str::from_utf8(&f.bytes).unwrap();
        let fs = v.find("compression deformity").unwrap();
        let fe = fs + "compression deformity".len();
        let (s, e) = f.original(fs, fe);
        assert_eq!(&text[s..e], "compression–deformity");
    }

    proptest::proptest! {
        #[test]
        fn word_scan_finds_the_first_byte_of_the_set(v in proptest::collection::vec(0u8..=255, 0..80), from in 0usize..80) {
            let set = [b'.', b'!', b'?', b';', b'\n'];
            let naive = v.iter().enumerate().skip(from).find(|(_, b)| set.contains(b)).map(|(i, _)| i);
            proptest::prop_assert_eq!(find_any(&v, from, set), naive);
            proptest::prop_assert_eq!(find_any_words(&v, from, set), naive);
        }

        #[test]
        fn plain_words_fold_to_lowercase(s in "[a-zA-Z0-9 ]{0,30}|[ -~\t\u{e9}]{0,20}") {
            let plain = s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b' ')
                && !s.starts_with(' ')
                && !s.ends_with(' ')
                && !s.contains("  ");
            proptest::prop_assert_eq!(folds_to_lowercase(s.as_bytes()), plain);
            if plain {
                proptest::prop_assert_eq!(fold_str(&s), s.to_ascii_lowercase());
            }
        }

        #[test]
        fn folding_into_a_buffer_matches_fold_str(s in "[ -~\t\n]{0,40}|[ -~\t\n\u{e9}\u{c9}\u{2013}\u{b0}\u{a0}\u{feff}\u{3b1}\u{1f600}]{0,40}|\\PC{0,20}") {
            let mut buf = vec![0u8; 2 * s.len()];
            let n = fold_into(&s, &mut buf);
            // The folded view without its leading and trailing space.
            let mut f = Folded::default();
            f.fold(&s);
            let view = std::str::from_utf8(&f.bytes).unwrap().trim();
            proptest::prop_assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), view);
            proptest::prop_assert_eq!(fold_str(&s), view);
        }
    }

    #[test]
    fn finds_any_byte_of_a_set() {
        for len in 0..30 {
            for at in 0..len {
                for c in [b'.', b';', b'\n'] {
                    let mut s = vec![b'x'; len];
                    s[at] = c;
                    // A byte one above a match must not be taken for one.
                    if at + 1 < len {
                        s[at + 1] = c + 1;
                    }
                    assert_eq!(find_any(&s, 0, [b'.', b';', b'\n']), Some(at));
                    assert_eq!(find_any(&s, at, [b'.', b';', b'\n']), Some(at));
                    assert_eq!(find_any(&s, at + 1, [b'.', b';', b'\n']), None);
                    assert_eq!(find_any(&s, 0, [b'!']), None);
                }
            }
        }
        assert_eq!(find_any(b"ab", 5, [b'a']), None);
    }

    proptest::proptest! {
        /// Sixteen bytes at a time, a run is what two eight-byte steps make of it.
        #[test]
        fn sixteen_byte_runs_agree_with_two_word_runs(
            v in proptest::collection::vec(proptest::sample::select(vec![
                b' ', b'a', b'z', b'A', b'Z', b'0', b'9', b'@', b'[', b'`', b'{', b'/', b':',
                b'.', b'-', b'\n', 0, 0x7f, 0x80, 0xc3, 0xe1, 0xff,
            ]), 16),
            after in 0u32..=1,
        ) {
            let x: [u8; RUN] = v.as_slice().try_into().unwrap();
            let lo = load8(&x, 0);
            let hi = load8(&x, 8);
            let (lower0, n0, spaces0) = word_run(lo, u64::from(after) << 7);
            let (lower1, n1, spaces1) = word_run(hi, spaces0 >> 56);
            let mut want = [0u8; RUN];
            want[..8].copy_from_slice(&lower0.to_le_bytes());
            want[8..].copy_from_slice(&lower1.to_le_bytes());
            let want = (want, if n0 < 8 { n0 } else { 8 + n1 }, (spaces1 >> 63) as u32);
            // The vector version (on x86-64) and the one in words.
            proptest::prop_assert_eq!(word_run16(x, after), want);
            proptest::prop_assert_eq!(word_run16_words(x, after), want);
        }
    }

    #[test]
    fn sixteen_bytes_load_zero_past_the_end() {
        let b: Vec<u8> = (1..=40).collect();
        for i in 0..=45 {
            let want: Vec<u8> = (0..RUN)
                .map(|k| b.get(i + k).copied().unwrap_or(0))
                .collect();
            assert_eq!(load16(&b, i).to_vec(), want, "{i}");
        }
    }

    proptest::proptest! {
        #[test]
        fn word_space_count_agrees_with_a_plain_count(v in proptest::collection::vec(proptest::sample::select(vec![b' ', b'a', 0x20 ^ 0x80, 0, 0xa0, 0x21, 0x1f]), 0..600)) {
            let plain = v.iter().filter(|&&c| c == b' ').count() as u32;
            proptest::prop_assert_eq!(count_spaces(&v), plain);
        }
    }

    #[test]
    fn counts_long_runs_of_spaces() {
        for n in [0, 7, 8, 64, 247, 248, 249, 1000] {
            assert_eq!(count_spaces(&vec![b' '; n]), n as u32);
        }
    }

    #[test]
    fn counts_tokens_between() {
        let mut f = Folded::default();
        f.fold("no acute fracture");
        // between end of "no" (3) and start of "fracture"
        let v = std::str::from_utf8(&f.bytes).unwrap();
        let a = v.find("no").unwrap() + 2;
        let b = v.find("fracture").unwrap();
        assert_eq!(f.tokens_between(a, b), 1);
    }

    #[test]
    fn token_counts_agree_with_a_plain_count_over_long_spans() {
        let mut f = Folded::default();
        f.fold(&"No acute T12 fracture, mild  L4-5 DDD. ".repeat(9));
        for a in 0..=f.bytes.len() {
            for b in a..=f.bytes.len() {
                let plain = f.bytes[a..b].iter().filter(|&&c| c == b' ').count();
                assert_eq!(f.tokens_between(a, b), plain.saturating_sub(1), "{a}..{b}");
            }
        }
    }
}
