//! Attribute readers over one sentence of original text: vertebral levels and ranges, and
//! numbers with units (percent, millimetres, degrees) and grades.
//!
//! Levels: `T12`, `L4-5`, `L4-L5`, `L5/S1`, `C5–6`, `T11 through L2`, `T11 to L2`, `L4 on L5`.
//! A range expands to every vertebra it spans. For a listhesis the slipping vertebra is the
//! upper one of each pair (`L4-5` -> L4, `L5-S1` -> L5, `L3-L5` -> L3, L4) and the first of
//! `X on Y`. `T1`/`T2` followed by `weighted`, `signal`, `hyper…`, `hypo…`, `image`,
//! `sequence` or `W` are MRI sequences, not levels.

use crate::model::Levels;

/// One level expression found in a sentence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelExpr {
    /// Byte span in the original text.
    pub start: usize,
    /// End byte.
    pub end: usize,
    /// Every vertebra named or spanned.
    pub all: Levels,
    /// The slipping vertebrae if this names a listhesis.
    pub slip: Levels,
}

fn vertebra_index(letter: u8, n: u32) -> Option<usize> {
    let (base, max) = match letter.to_ascii_uppercase() {
        b'C' => (0, 7),
        b'T' => (7, 12),
        b'L' => (19, 5),
        b'S' => (24, 5),
        _ => return None,
    };
    (1..=max).contains(&n).then(|| base + n as usize - 1)
}

/// Reads `[A-Za-z]?digits` at `i`; returns (letter, number, end).
fn read_vertebra(b: &[u8], i: usize, default_letter: Option<u8>) -> Option<(u8, u32, usize)> {
    let mut j = i;
    let letter = if j < b.len() && matches!(b[j].to_ascii_uppercase(), b'C' | b'T' | b'L' | b'S') {
        j += 1;
        b[j - 1].to_ascii_uppercase()
    } else {
        default_letter?
    };
    let ds = j;
    while j < b.len() && b[j].is_ascii_digit() && j - ds < 2 {
        j += 1;
    }
    if j == ds || (j < b.len() && (b[j].is_ascii_alphanumeric())) {
        return None;
    }
    // One or two ASCII digits: their value needs no parser.
    let n = b[ds..j]
        .iter()
        .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    Some((letter, n, j))
}

fn skip_spaces(b: &[u8], mut j: usize) -> usize {
    while j < b.len() && (b[j] == b' ' || b[j] == b'\t' || b[j] == b'\n' || b[j] == b'\r') {
        j += 1;
    }
    j
}

/// A range connector at `j`: `-`, `/`, en or em dash, `to`, `through`, `thru`; returns its end.
fn connector(b: &[u8], j: usize) -> Option<usize> {
    let rest = &b[j..];
    for w in [
        &b"-"[..],
        b"/",
        "\u{2013}".as_bytes(),
        "\u{2014}".as_bytes(),
    ] {
        if rest.starts_with(w) {
            return Some(j + w.len());
        }
    }
    for w in [&b"through"[..], b"thru", b"to"] {
        if rest.len() > w.len() && rest[..w.len()].eq_ignore_ascii_case(w) && rest[w.len()] == b' '
        {
            return Some(j + w.len());
        }
    }
    None
}

/// A word range connector at `j` (`through`, `thru`, `to`), not a dash: returns its end.
fn word_connector(b: &[u8], j: usize) -> Option<usize> {
    let rest = &b[j..];
    for w in [&b"through"[..], b"thru", b"to"] {
        if rest.len() > w.len() && rest[..w.len()].eq_ignore_ascii_case(w) && rest[w.len()] == b' '
        {
            return Some(j + w.len());
        }
    }
    None
}

/// Whether the word before byte `i` (after `start`) is `between`.
fn preceded_by_between(b: &[u8], start: usize, i: usize) -> bool {
    let mut e = i;
    while e > start && b[e - 1] == b' ' {
        e -= 1;
    }
    e >= start + 7
        && b[e - 7..e].eq_ignore_ascii_case(b"between")
        && (e == start + 7 || !b[e - 8].is_ascii_alphabetic())
}

/// `on ` or `upon ` at `j`: returns the end of the word.
fn on_word(b: &[u8], j: usize, end: usize) -> Option<usize> {
    for w in [&b"on"[..], b"upon"] {
        if j + w.len() < end && b[j..j + w.len()].eq_ignore_ascii_case(w) && b[j + w.len()] == b' '
        {
            return Some(j + w.len());
        }
    }
    None
}

/// `T1`/`T2` at `start` in a list of MRI sequences: after `sagittal`, `axial`, `coronal`, or
/// before `and T2`, `, T2`, `/T2`.
fn in_sequence_list(b: &[u8], start: usize, end: usize) -> bool {
    let mut s = start;
    while s > 0 && matches!(b[s - 1], b' ' | b',') {
        s -= 1;
    }
    let mut w = s;
    while w > 0 && b[w - 1].is_ascii_alphabetic() {
        w -= 1;
    }
    let prev = &b[w..s];
    let plane = [
        &b"sagittal"[..],
        b"axial",
        b"coronal",
        b"and",
        b"stir",
        b"flair",
        b"weighted",
    ]
    .iter()
    .any(|p| p.eq_ignore_ascii_case(prev));
    // The previous token is itself a sequence (`T1, T2`).
    let mut t = s;
    while t > 0 && b[t - 1].is_ascii_alphanumeric() {
        t -= 1;
    }
    let prev_seq = [&b"t1"[..], b"t2"]
        .iter()
        .any(|p| p.eq_ignore_ascii_case(&b[t..s]));
    let mut j = end;
    while j < b.len() && matches!(b[j], b' ' | b',' | b'/') {
        j += 1;
    }
    let next_is_t = b.len() > j + 1
        && (b[j] == b'T' || b[j] == b't')
        && (b[j + 1] == b'1' || b[j + 1] == b'2')
        && b.get(j + 2).map_or(true, |c| !c.is_ascii_digit());
    let and_t = b.len() > j + 5 && b[j..j + 3].eq_ignore_ascii_case(b"and") && {
        let k = skip_spaces(b, j + 3);
        b.len() > k + 1 && (b[k] == b'T' || b[k] == b't') && (b[k + 1] == b'1' || b[k + 1] == b'2')
    };
    let and_seq = b.len() > j + 5 && b[j..j + 3].eq_ignore_ascii_case(b"and") && {
        let k = skip_spaces(b, j + 3);
        let r = &b[k..];
        [&b"stir"[..], b"flair", b"dwi", b"gradient"]
            .iter()
            .any(|p| r.len() >= p.len() && r[..p.len()].eq_ignore_ascii_case(p))
    };
    plane || prev_seq || next_is_t || and_t || and_seq
}

fn is_mri_sequence(b: &[u8], end: usize) -> bool {
    let mut j = end;
    if j < b.len() && (b[j] == b'-' || b[j] == b' ') {
        j += 1;
    }
    let rest = &b[j..];
    let starts = |w: &[u8]| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w);
    starts(b"weighted")
        || starts(b"signal")
        || starts(b"hyper")
        || starts(b"hypo")
        || starts(b"image")
        || starts(b"sequence")
        || starts(b"stir")
        || starts(b"flair")
        || (rest.first().is_some_and(|c| *c == b'W' || *c == b'w')
            && rest.get(1).map_or(true, |c| !c.is_ascii_alphabetic()))
}

/// Finds level expressions in `text[start..end]`, appending to `out` with absolute offsets.
pub fn levels(text: &str, start: usize, end: usize, out: &mut Vec<LevelExpr>) {
    let b = &text.as_bytes()[..end];
    let mut i = start;
    while i < end {
        // A level is a letter right before a digit: the bytes up to the letter before the next
        // digit begin none.
        match next_digit(text.as_bytes(), i + 1, end) {
            d if d < end => i = d - 1,
            _ => break,
        }
        match level_at(b, start, end, i) {
            Some((next, expr)) => {
                out.extend(expr);
                i = next;
            }
            // Nothing begins at `i`, nor at the digits after it (a level begins with a
            // letter): the next try is after them ("2021").
            None => i = digits_end(b, i + 1),
        }
    }
}

/// The position of the first ASCII digit in `b[from..end]`, or `end`. Sixteen bytes are
/// tested at a time ([`digit_mask`]), read whole while `b` lasts (past `end` too: a sentence's
/// last bytes are not read one at a time) and copied into zeros, which are no digits, past it.
fn next_digit(b: &[u8], from: usize, end: usize) -> usize {
    let mut at = from;
    while at < end {
        let mask = match b.get(at..at + 16) {
            Some(block) => digit_mask(block.try_into().expect("sixteen bytes")),
            None => {
                let mut w = [0u8; 16];
                w[..b.len() - at].copy_from_slice(&b[at..]);
                digit_mask(&w)
            }
        };
        if mask != 0 {
            return (at + mask.trailing_zeros() as usize).min(end);
        }
        at += 16;
    }
    end
}

/// The ASCII digits of a block of sixteen bytes, as a mask (bit `i` for byte `i`). On x86-64,
/// vector compares gathered by one `movemask` (SSE2, which every x86-64 processor has), as the
/// output encoders find special bytes; elsewhere, byte by byte.
#[inline(always)]
fn digit_mask(block: &[u8; 16]) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        use std::arch::x86_64::*;
        // SAFETY: the SSE2 instructions are enabled for the whole build (`target_feature`
        // above), and the load reads the sixteen bytes of `block`, unaligned.
        unsafe {
            // `x - b'0' < 10` as unsigned bytes: the minimum of `x - b'0'` and 9 is `x - b'0'`.
            let d = _mm_sub_epi8(
                _mm_loadu_si128(block.as_ptr().cast()),
                _mm_set1_epi8(b'0' as i8),
            );
            _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d)) as u32
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        (block.iter().enumerate()).fold(0, |m, (i, b)| m | u32::from(b.is_ascii_digit()) << i)
    }
}

/// The end of the ASCII digits from `b[j]` on.
fn digits_end(b: &[u8], mut j: usize) -> usize {
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    j
}

/// The level expression that begins at `b[i]` (`b` ends at the sentence end `end`, the
/// sentence starts at `start`): `Some((next, Some(expr)))` for one, `Some((next, None))` for
/// words to pass over up to `next` (a T1/T2 MRI sequence name), `None` when nothing begins there.
fn level_at(b: &[u8], start: usize, end: usize, i: usize) -> Option<(usize, Option<LevelExpr>)> {
    let c = b[i];
    let at_word = i == 0 || !b[i - 1].is_ascii_alphanumeric();
    if at_word && matches!(c.to_ascii_uppercase(), b'C' | b'T' | b'L' | b'S') {
        if let Some((letter, n, e1)) = read_vertebra(b, i, None) {
            if let Some(a) = vertebra_index(letter, n) {
                if (letter == b'T')
                    && (n == 1 || n == 2)
                    && (is_mri_sequence(b, e1) || in_sequence_list(b, i, e1))
                {
                    return Some((e1, None));
                }
                let mut expr = LevelExpr {
                    start: i,
                    end: e1,
                    all: Levels::EMPTY,
                    slip: Levels::EMPTY,
                };
                expr.all.insert(a);
                expr.slip.insert(a);
                let j = skip_spaces(b, e1);
                // Range.
                if let Some(k) = connector(b, j) {
                    let k = skip_spaces(b, k);
                    if let Some((l2, n2, e2)) = read_vertebra(b, k, Some(letter)) {
                        if let Some(z) = vertebra_index(l2, n2) {
                            if z > a {
                                expr.all = Levels::EMPTY;
                                expr.all.insert_range(a, z);
                                expr.slip = Levels::EMPTY;
                                expr.slip.insert_range(a, z - 1);
                                expr.end = e2;
                            }
                        }
                    }
                } else if let Some(k) = on_word(b, j, end) {
                    // `L4 on L5`, `L4 upon L5`
                    let k = skip_spaces(b, k);
                    if let Some((l2, n2, e2)) = read_vertebra(b, k, None) {
                        if let Some(z) = vertebra_index(l2, n2) {
                            expr.all.insert(z);
                            expr.end = e2;
                        }
                    }
                }
                // `C3-C4 through C6-C7`: a range of pairs spans from the first to the last.
                let j = skip_spaces(b, expr.end);
                if let Some(k) = word_connector(b, j) {
                    let k = skip_spaces(b, k);
                    if let Some((l2, n2, e2)) = read_vertebra(b, k, None) {
                        if let Some(mut z) = vertebra_index(l2, n2) {
                            let mut end2 = e2;
                            let j2 = skip_spaces(b, e2);
                            if let Some(k2) = connector(b, j2) {
                                let k2 = skip_spaces(b, k2);
                                if let Some((l3, n3, e3)) = read_vertebra(b, k2, Some(l2)) {
                                    if let Some(w) = vertebra_index(l3, n3).filter(|&w| w > z) {
                                        z = w;
                                        end2 = e3;
                                    }
                                }
                            }
                            if z > a {
                                expr.all = Levels::EMPTY;
                                expr.all.insert_range(a, z);
                                expr.slip = Levels::EMPTY;
                                expr.slip.insert_range(a, z - 1);
                                expr.end = end2;
                            }
                        }
                    }
                }
                // `between L1 and L4`
                if preceded_by_between(b, start, i) {
                    let j = skip_spaces(b, expr.end);
                    if j + 4 <= end && b[j..j + 3].eq_ignore_ascii_case(b"and") && b[j + 3] == b' '
                    {
                        let k = skip_spaces(b, j + 3);
                        if let Some((l2, n2, e2)) = read_vertebra(b, k, None) {
                            if let Some(z) = vertebra_index(l2, n2).filter(|&z| z > a) {
                                expr.all = Levels::EMPTY;
                                expr.all.insert_range(a, z);
                                expr.slip = Levels::EMPTY;
                                expr.slip.insert_range(a, z - 1);
                                expr.end = e2;
                            }
                        }
                    }
                }
                return Some((expr.end, Some(expr)));
            }
        }
    }
    None
}

/// A number with a unit or a grade, found in a sentence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quantity {
    /// `30%`, `30 percent`
    Percent(f32),
    /// `4 mm`, `0.4 cm` (stored in mm)
    Millimetres(f32),
    /// `12°`, `12 degrees`
    Degrees(f32),
    /// `grade 2`, `grade II`
    Grade(u8),
}

/// The unit after a number, as [`quantities`] reads it.
#[derive(Clone, Copy)]
enum Unit {
    Percent,
    Mm,
    Cm,
    Degrees,
}

/// Whether `b` ends with `suffix`, ASCII case-insensitively.
fn ends_with_ignore_case(b: &[u8], suffix: &[u8]) -> bool {
    b.len() >= suffix.len() && b[b.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// Finds quantities in `text[start..end]`: (absolute start, absolute end, quantity).
pub fn quantities(text: &str, start: usize, end: usize, out: &mut Vec<(usize, usize, Quantity)>) {
    let b = text.as_bytes();
    let mut i = start;
    loop {
        // Every quantity begins a word: a number, "grade"/"gr", or a fraction word ("one
        // third", "a quarter", "two thirds"). Nothing else is looked at.
        i = next_quantity_start(b, i, end);
        if i >= end {
            break;
        }
        let c = b[i];
        if c.is_ascii_digit() {
            let s = i;
            let mut j = i;
            while j < end
                && (b[j].is_ascii_digit()
                    || (b[j] == b'.' && j + 1 < end && b[j + 1].is_ascii_digit()))
            {
                j += 1;
            }
            let k = skip_spaces(&b[..end], j);
            let rest = &b[k..end];
            let word = |w: &[u8]| {
                rest.len() >= w.len()
                    && rest[..w.len()].eq_ignore_ascii_case(w)
                    && rest.get(w.len()).map_or(true, |c| !c.is_ascii_alphabetic())
            };
            // The unit first: most numbers in a report (levels, dates, sizes in a list) have
            // none, and need neither parsing nor the bound test.
            let unit = if rest.starts_with(b"%") {
                Some((Unit::Percent, k + 1))
            } else if word(b"percent") {
                Some((Unit::Percent, k + 7))
            } else if word(b"mm") {
                Some((Unit::Mm, k + 2))
            } else if word(b"cm") {
                Some((Unit::Cm, k + 2))
            } else if rest.starts_with("°".as_bytes()) {
                Some((Unit::Degrees, k + 2))
            } else if word(b"degrees") {
                Some((Unit::Degrees, k + 7))
            } else if word(b"degree") {
                Some((Unit::Degrees, k + 6))
            } else if word(b"deg") {
                Some((Unit::Degrees, k + 3))
            } else {
                None
            };
            if let Some((unit, e)) = unit {
                // `<20%`, `less than 20%`: a bound, not a measurement.
                let bound = (s > 0 && b[s - 1] == b'<')
                    || (s >= 2 && b[s - 1] == b' ' && b[s - 2] == b'<')
                    || ends_with_ignore_case(&b[..s], b"less than ")
                    || ends_with_ignore_case(&b[..s], b"under ");
                let num: Option<f32> = std::str::from_utf8(&b[s..j])
                    .ok()
                    .and_then(|t| t.parse().ok());
                if let Some(v) = num.filter(|_| !bound) {
                    let q = match unit {
                        Unit::Percent => Quantity::Percent(v),
                        Unit::Mm => Quantity::Millimetres(v),
                        Unit::Cm => Quantity::Millimetres(v * 10.0),
                        Unit::Degrees => Quantity::Degrees(v),
                    };
                    out.push((s, e, q));
                }
            }
            i = j.max(i + 1);
            continue;
        }
        if let Some((g, e)) = grade_at(b, i, end) {
            out.push((i, e, Quantity::Grade(g)));
            i = e;
            continue;
        }
        // Word fractions of height: "one third", "a quarter", "half". The first word of each
        // is one, three or five letters long and followed by a space.
        let first_word = alnum_end(b, i, end) - i;
        if c.is_ascii_alphabetic()
            && matches!(first_word, 1 | 3 | 5)
            && b.get(i + first_word) == Some(&b' ')
        {
            for (w, v) in FRACTIONS {
                let n = w.len();
                if i + n <= end
                    && c.to_ascii_lowercase() == w.as_bytes()[0]
                    && b[i..i + n].eq_ignore_ascii_case(w.as_bytes())
                    && b.get(i + n).map_or(true, |c| !c.is_ascii_alphanumeric())
                {
                    out.push((i, i + n, Quantity::Percent(v)));
                    i += n;
                    break;
                }
            }
        }
        i += 1;
    }
}

/// The first position from `from` in `b[..end]` where a quantity may begin ([`may_begin`]),
/// or a position at or past `end` when there is none. Sixteen positions are tested at a time
/// ([`begin_mask`]), each with the byte before it and the two after it: a window of nineteen
/// bytes, read straight from `b`, past `end` too while `b` lasts, or, at the start and the end
/// of the text, copied into zeros (a zero byte begins nothing). A byte past `end` can only add
/// a place among a sentence's last two bytes, where [`quantities`], which reads no further than
/// `end`, finds nothing to begin.
fn next_quantity_start(b: &[u8], from: usize, end: usize) -> usize {
    let mut at = from;
    while at < end {
        let whole = at.checked_sub(1).and_then(|k| b.get(k..at + 18));
        let flags = if let Some(w) = whole {
            begin_mask(w.try_into().expect("nineteen bytes"))
        } else {
            let mut w = [0u8; 19];
            // Before the text: a space.
            w[0] = at.checked_sub(1).map_or(b' ', |k| b[k]);
            let n = (end - at).min(18);
            w[1..1 + n].copy_from_slice(&b[at..at + n]);
            begin_mask(&w)
        };
        if flags != 0 {
            return at + flags.trailing_zeros() as usize;
        }
        at += 16;
    }
    end
}

/// The positions of a window `w` where a quantity may begin, as a mask: bit `k` for
/// [`may_begin`] of `w[k..k + 4]` (the byte before position `k`, its byte and the two after
/// it), for `k` in `0..16`. On x86-64, vector compares of four overlapping loads gathered by
/// one `movemask` (SSE2, as [`digit_mask`]); elsewhere, position by position.
#[inline(always)]
fn begin_mask(w: &[u8; 19]) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        begin_mask_sse2(w)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        begin_mask_bytes(w)
    }
}

/// [`begin_mask`] position by position.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
fn begin_mask_bytes(w: &[u8; 19]) -> u32 {
    (0..16).fold(0, |m, k| {
        m | u32::from(may_begin(w[k], w[k + 1], w[k + 2], w[k + 3])) << k
    })
}

/// [`begin_mask`] with SSE2: the same test as [`may_begin`], sixteen lanes at a time.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn begin_mask_sse2(w: &[u8; 19]) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: the SSE2 instructions are enabled for the whole build (`target_feature` above),
    // and the four unaligned loads read `w[0..16]`, `w[1..17]`, `w[2..18]` and `w[3..19]`.
    unsafe {
        let load = |k: usize| _mm_loadu_si128(w.as_ptr().add(k).cast());
        let (prev, c, n1, n2) = (load(0), load(1), load(2), load(3));
        let low = _mm_set1_epi8(0x20);
        let is = |x: __m128i, y: u8| _mm_cmpeq_epi8(x, _mm_set1_epi8(y as i8));
        // `x - lo < n` as unsigned bytes: the minimum of `x - lo` and `n - 1` is `x - lo`.
        let below = |x: __m128i, lo: u8, n: u8| {
            let d = _mm_sub_epi8(x, _mm_set1_epi8(lo as i8));
            _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8((n - 1) as i8)), d)
        };
        let prev_alnum = _mm_or_si128(
            below(_mm_or_si128(prev, low), b'a', 26),
            below(prev, b'0', 10),
        );
        let (l0, l1, l2) = (
            _mm_or_si128(c, low),
            _mm_or_si128(n1, low),
            _mm_or_si128(n2, low),
        );
        let gr = _mm_and_si128(is(l0, b'g'), is(l1, b'r'));
        let one = _mm_and_si128(_mm_and_si128(is(l0, b'o'), is(l1, b'n')), is(l2, b'e'));
        let a = _mm_and_si128(is(l0, b'a'), is(n1, b' '));
        let two_thr = _mm_and_si128(
            is(l0, b't'),
            _mm_or_si128(
                _mm_and_si128(is(l1, b'w'), is(l2, b'o')),
                _mm_and_si128(is(l1, b'h'), is(l2, b'r')),
            ),
        );
        let word = _mm_or_si128(_mm_or_si128(gr, one), _mm_or_si128(a, two_thr));
        let begins = _mm_andnot_si128(prev_alnum, _mm_or_si128(below(c, b'0', 10), word));
        _mm_movemask_epi8(begins) as u32
    }
}

/// Whether a quantity may begin at byte `c`, with `prev` the byte before it and `n1`, `n2`
/// the two after it (zero past what is read): `c` begins a word (`prev` is no ASCII letter
/// or digit) and is a digit, or begins "gr" (a grade), "one", "two", "thr" or "a " (a
/// fraction), in any case. A superset of what [`quantities`] reads at a word start, so that
/// nothing else needs reading. Written with `&` and `|` on bytes, without branches.
#[inline(always)]
fn may_begin(prev: u8, c: u8, n1: u8, n2: u8) -> bool {
    let is = |x: u8, y: u8| u8::from(x == y);
    let p = prev | 0x20;
    let prev_alnum = u8::from(p.wrapping_sub(b'a') < 26) | u8::from(prev.wrapping_sub(b'0') < 10);
    let (l0, l1, l2) = (c | 0x20, n1 | 0x20, n2 | 0x20);
    let digit = u8::from(c.wrapping_sub(b'0') < 10);
    let word = (is(l0, b'g') & is(l1, b'r'))
        | (is(l0, b'o') & is(l1, b'n') & is(l2, b'e'))
        | (is(l0, b'a') & is(n1, b' '))
        | (is(l0, b't') & ((is(l1, b'w') & is(l2, b'o')) | (is(l1, b'h') & is(l2, b'r'))));
    (!prev_alnum & 1 & (digit | word)) != 0
}

/// A grade at `b[i..end]`: "grade" or "gr" (with "gr." and "gr1"), then an Arabic 1-5 or a
/// Roman i-v as a whole word. Returns the grade and the end of the expression.
fn grade_at(b: &[u8], i: usize, end: usize) -> Option<(u8, usize)> {
    let wl = if b[i..end].len() > 5 && b[i..i + 5].eq_ignore_ascii_case(b"grade") {
        5
    } else if b[i..end].len() > 3
        && b[i..i + 2].eq_ignore_ascii_case(b"gr")
        && matches!(b[i + 2], b' ' | b'.' | b'1'..=b'5')
    {
        if b[i + 2] == b'.' {
            3
        } else {
            2
        }
    } else {
        return None;
    };
    let k = skip_spaces(&b[..end], i + wl);
    let rest = &b[k..end];
    if let Some(d) = rest.first().filter(|d| (b'1'..=b'5').contains(*d)) {
        return rest
            .get(1)
            .map_or(true, |c| !c.is_ascii_digit())
            .then(|| (d - b'0', k + 1));
    }
    let roman: [(&[u8], u8); 5] = [(b"iii", 3), (b"ii", 2), (b"iv", 4), (b"i", 1), (b"v", 5)];
    roman.into_iter().find_map(|(r, v)| {
        (rest.len() >= r.len()
            && rest[..r.len()].eq_ignore_ascii_case(r)
            && rest
                .get(r.len())
                .map_or(true, |c| !c.is_ascii_alphanumeric()))
        .then(|| (v, k + r.len()))
    })
}

/// The end of the run of ASCII letters and digits at `b[i..end]`: the first position from `i`
/// whose byte is neither, or `end`. Eight bytes are tested at a time: in each byte, adding
/// `0x80 - lo` to its low seven bits sets its top bit when they are at least `lo`, with no
/// carry into the next byte.
fn alnum_end(b: &[u8], mut i: usize, end: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let at_least = |low7: u64, lo: u8| (low7 + LO * u64::from(0x80 - lo)) & HI;
    while i + 8 <= end {
        let x = u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes"));
        let low7 = x & !HI;
        let digit = at_least(low7, b'0') & !at_least(low7, b'9' + 1);
        // Upper case letters fold onto lower case ones; no other byte lands among them.
        let lower = low7 | (LO * 0x20);
        let letter = at_least(lower, b'a') & !at_least(lower, b'z' + 1);
        // Bytes of multi-byte characters (top bit set) are neither.
        let stop = !((digit | letter) & !x) & HI;
        if stop != 0 {
            return i + (stop.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < end && b[i].is_ascii_alphanumeric() {
        i += 1;
    }
    i
}

/// Word fractions read as percent (of height lost or slipped).
const FRACTIONS: [(&str, f32); 7] = [
    ("one third", 33.0),
    ("a third", 33.0),
    ("two thirds", 67.0),
    ("one quarter", 25.0),
    ("a quarter", 25.0),
    ("one half", 50.0),
    ("three quarters", 75.0),
];

/// Genant grade from percent height loss: 20-25 -> 1, over 25 to 40 -> 2, over 40 -> 3;
/// under 20 is not a fracture grade.
pub fn genant_from_pct(p: f32) -> Option<u8> {
    if p >= 20.0 && p <= 25.0 {
        Some(1)
    } else if p > 25.0 && p <= 40.0 {
        Some(2)
    } else if p > 40.0 && p <= 100.0 {
        Some(3)
    } else {
        None
    }
}

/// Meyerding grade from percent slip: up to 25 -> I, to 50 -> II, to 75 -> III, to 100 -> IV,
/// over 100 -> V (spondyloptosis).
pub fn meyerding_from_pct(p: f32) -> Option<u8> {
    match p {
        p if p > 0.0 && p <= 25.0 => Some(1),
        p if p > 25.0 && p <= 50.0 => Some(2),
        p if p > 50.0 && p <= 75.0 => Some(3),
        p if p > 75.0 && p <= 100.0 => Some(4),
        p if p > 100.0 && p <= 200.0 => Some(5),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The readers as first written, one byte at a time: the fast paths must find the same.
    // `levels` tries `level_at` only where the next digit allows one, once per run of digits;
    // here it is tried at every byte.
    fn levels_simple(text: &str, start: usize, end: usize, out: &mut Vec<LevelExpr>) {
        let b = &text.as_bytes()[..end];
        let mut i = start;
        while i < end {
            match level_at(b, start, end, i) {
                Some((next, expr)) => {
                    out.extend(expr);
                    i = next;
                }
                None => i += 1,
            }
        }
    }

    fn quantities_simple(
        text: &str,
        start: usize,
        end: usize,
        out: &mut Vec<(usize, usize, Quantity)>,
    ) {
        let b = text.as_bytes();
        let mut i = start;
        while i < end {
            let c = b[i];
            // Every quantity begins a word: a number, "grade"/"gr", or a fraction word ("one
            // third", "a quarter", "two thirds"). Anything else is passed over at once.
            let word_start = i == 0 || !b[i - 1].is_ascii_alphanumeric();
            if !word_start
                || !(c.is_ascii_digit()
                    || matches!(c.to_ascii_lowercase(), b'g' | b'o' | b'a' | b't'))
            {
                i += 1;
                continue;
            }
            if c.is_ascii_digit() {
                let s = i;
                let mut j = i;
                while j < end
                    && (b[j].is_ascii_digit()
                        || (b[j] == b'.' && j + 1 < end && b[j + 1].is_ascii_digit()))
                {
                    j += 1;
                }
                let num: Option<f32> = std::str::from_utf8(&b[s..j])
                    .ok()
                    .and_then(|t| t.parse().ok());
                let k = skip_spaces(&b[..end], j);
                let rest = &b[k..end];
                let word = |w: &[u8]| {
                    rest.len() >= w.len()
                        && rest[..w.len()].eq_ignore_ascii_case(w)
                        && rest.get(w.len()).map_or(true, |c| !c.is_ascii_alphabetic())
                };
                // `<20%`, `less than 20%`: a bound, not a measurement.
                let bound = (s > 0 && b[s - 1] == b'<')
                    || (s >= 2 && b[s - 1] == b' ' && b[s - 2] == b'<')
                    || ends_with_ignore_case(&b[..s], b"less than ")
                    || ends_with_ignore_case(&b[..s], b"under ");
                if let Some(v) = num.filter(|_| !bound) {
                    let q = if rest.starts_with(b"%") {
                        Some((Quantity::Percent(v), k + 1))
                    } else if word(b"percent") {
                        Some((Quantity::Percent(v), k + 7))
                    } else if word(b"mm") {
                        Some((Quantity::Millimetres(v), k + 2))
                    } else if word(b"cm") {
                        Some((Quantity::Millimetres(v * 10.0), k + 2))
                    } else if rest.starts_with("°".as_bytes()) {
                        Some((Quantity::Degrees(v), k + 2))
                    } else if word(b"degrees") {
                        Some((Quantity::Degrees(v), k + 7))
                    } else if word(b"degree") {
                        Some((Quantity::Degrees(v), k + 6))
                    } else if word(b"deg") {
                        Some((Quantity::Degrees(v), k + 3))
                    } else {
                        None
                    };
                    if let Some((q, e)) = q {
                        out.push((s, e, q));
                    }
                }
                i = j.max(i + 1);
                continue;
            }
            if let Some((g, e)) = grade_at(b, i, end) {
                out.push((i, e, Quantity::Grade(g)));
                i = e;
                continue;
            }
            // Word fractions of height: "one third", "a quarter", "half".
            if c.is_ascii_alphabetic() {
                for (w, v) in FRACTIONS {
                    let n = w.len();
                    if i + n <= end
                        && b[i..i + n].eq_ignore_ascii_case(w.as_bytes())
                        && b.get(i + n).map_or(true, |c| !c.is_ascii_alphanumeric())
                    {
                        out.push((i, i + n, Quantity::Percent(v)));
                        i += n;
                        break;
                    }
                }
            }
            i += 1;
        }
    }

    /// [`read_vertebra`] with its number read again by the standard parser from the digits it
    /// ended on (one or two, after the letter or from `i`).
    fn read_vertebra_parsed(
        b: &[u8],
        i: usize,
        default_letter: Option<u8>,
    ) -> Option<(u8, u32, usize)> {
        let (letter, _, j) = read_vertebra(b, i, default_letter)?;
        let digits = b[i..j]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let n: u32 = std::str::from_utf8(&b[j - digits..j]).ok()?.parse().ok()?;
        Some((letter, n, j))
    }

    #[test]
    fn digit_masks_agree_with_the_bytewise_test() {
        for x in 0..=255u8 {
            let mut block = [b'0'; 16];
            block[x as usize % 16] = x;
            let simple = (block.iter().enumerate())
                .fold(0u32, |m, (i, b)| m | u32::from(b.is_ascii_digit()) << i);
            assert_eq!(digit_mask(&block), simple, "byte {x}");
            let mut block = [x; 16];
            block[(x as usize + 7) % 16] = b'0' + x % 10;
            let simple = (block.iter().enumerate())
                .fold(0u32, |m, (i, b)| m | u32::from(b.is_ascii_digit()) << i);
            assert_eq!(digit_mask(&block), simple, "byte {x} among others");
        }
    }

    #[test]
    fn begin_masks_agree_with_the_bytewise_test() {
        // Every byte value at every place of the window, among letters that begin words.
        for x in 0..=255u8 {
            for k in 0..19 {
                for fill in *b" gGrRoOnNeEtTwWhHaA0" {
                    let mut w = *b" gr one two thr a 5 ";
                    w.rotate_left(usize::from(fill) % 19);
                    let mut w: [u8; 19] = w[..19].try_into().unwrap();
                    w[(k + 1) % 19] = fill;
                    w[k] = x;
                    assert_eq!(begin_mask(&w), begin_mask_bytes(&w), "byte {x} at {k}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn begin_masks_agree_on_any_window(
            w in proptest::collection::vec(
                proptest::sample::select(b" .,<-/0159aAgGrRoOnNeEtTwWhHiIvVxX\xc3\xa9\x00\x7f\xff".to_vec()),
                19,
            ),
        ) {
            let w: [u8; 19] = w.try_into().unwrap();
            proptest::prop_assert_eq!(begin_mask(&w), begin_mask_bytes(&w));
        }
    }

    #[test]
    fn digits_are_found_where_the_bytewise_scan_finds_them() {
        // Every byte value, digits among them, and ends before, at and after the text's end.
        let mut b: Vec<u8> = (0..=255u8).collect();
        b.extend(b"abc 12 x9 \xff0/:");
        for end in 0..=b.len() {
            for from in 0..=end {
                let simple = (from..end).find(|&k| b[k].is_ascii_digit()).unwrap_or(end);
                assert_eq!(next_digit(&b, from, end), simple, "from {from} to {end}");
                let cut = &b[..end];
                assert_eq!(
                    next_digit(cut, from, end),
                    simple,
                    "from {from} to {end}, cut"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn vertebra_numbers_agree_with_the_parser(
            s in "[CTLStlx0-9 \\-]{0,6}",
            i in 0usize..6,
            default in proptest::option::of(proptest::sample::select(vec![b'C', b'T', b'L', b'S'])),
        ) {
            let b = s.as_bytes();
            let i = i.min(b.len());
            proptest::prop_assert_eq!(read_vertebra(b, i, default), read_vertebra_parsed(b, i, default));
        }

        #[test]
        fn readers_agree_with_the_bytewise_ones(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "T1", "T12", "t2", "L4", "-5", "-", "/", "S1", "C5", "–6", " ", "  ", "at",
                    "through", "to", "on", "upon", "between", "and", "weighted", "sagittal",
                    "grade", "Gr", "gr.", "II", "iv", "3", "30", "%", "percent", "mm", "cm",
                    "°", "degrees", "deg", "one third", "a quarter", "two thirds", "half",
                    "<", "less than ", "under ", "x", "AT", "8.5", ".", ",", "é", "\n", "L",
                    "One Half", "three quarters", "A third", "a", "one", "two", "anterolisthesis",
                    "fracture", "Grade", "12mm", "a-", "one_", "thr", "Two", "GR", "gr1", "tw",
                    "A ", "the", "9",
                ]),
                0..40,
            ),
            cut in 0usize..200,
            stop in 0usize..200,
        ) {
            let text = parts.concat();
            let boundary = |mut k: usize| {
                while !text.is_char_boundary(k) {
                    k -= 1;
                }
                k
            };
            let start = boundary(cut % (text.len() + 1));
            let n = boundary(start + stop % (text.len() - start + 1));
            let (mut a, mut b) = (Vec::new(), Vec::new());
            levels(&text, start, n, &mut a);
            levels_simple(&text, start, n, &mut b);
            proptest::prop_assert_eq!(a, b);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            quantities(&text, start, n, &mut a);
            quantities_simple(&text, start, n, &mut b);
            proptest::prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn alnum_runs_end_where_the_bytewise_scan_ends() {
        let text = "Mild anterolisthesis of L4 on L5, 12mm; é9 über_ABCxyz019 [a]`z{ @Z\x7f";
        let b = text.as_bytes();
        for end in 0..=b.len() {
            for i in 0..=end {
                let mut j = i;
                while j < end && b[j].is_ascii_alphanumeric() {
                    j += 1;
                }
                assert_eq!(alnum_end(b, i, end), j, "from {i} to {end}");
            }
        }
        let every: Vec<u8> = (0..=255u8).collect();
        for i in 0..every.len() {
            let j = (i..every.len())
                .find(|&j| !every[j].is_ascii_alphanumeric())
                .unwrap_or(every.len());
            assert_eq!(alnum_end(&every, i, every.len()), j, "byte {i}");
        }
    }

    fn lv(text: &str) -> Vec<(String, String, String)> {
        let mut v = Vec::new();
        levels(text, 0, text.len(), &mut v);
        v.iter()
            .map(|e| {
                (
                    text[e.start..e.end].to_string(),
                    e.all.to_string(),
                    e.slip.to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn single_levels_and_ranges() {
        assert_eq!(
            lv("T12 and L1"),
            vec![
                ("T12".into(), "T12".into(), "T12".into()),
                ("L1".into(), "L1".into(), "L1".into())
            ]
        );
        assert_eq!(lv("at T11-L2.")[0].1, "T11;T12;L1;L2");
        assert_eq!(lv("L4-5")[0], ("L4-5".into(), "L4;L5".into(), "L4".into()));
        assert_eq!(lv("L5/S1")[0].2, "L5");
        assert_eq!(lv("C5–6")[0].1, "C5;C6");
        assert_eq!(lv("T11 through L1")[0].1, "T11;T12;L1");
        assert_eq!(
            lv("L4 on L5")[0],
            ("L4 on L5".into(), "L4;L5".into(), "L4".into())
        );
        assert_eq!(lv("L4 upon L5")[0].2, "L4");
        assert!(lv("sagittal T1, T2 and STIR; axial T1 and T2").is_empty());
        assert_eq!(lv("L3-L5")[0].2, "L3;L4");
        assert_eq!(lv("from C3-C4 through C6-C7 with")[0].1, "C3;C4;C5;C6;C7");
        assert_eq!(lv("between L1 and L4")[0].1, "L1;L2;L3;L4");
        assert_eq!(lv("at L1 and L4").len(), 2);
    }

    #[test]
    fn not_levels() {
        assert!(lv("T2 weighted images, T1-weighted, T2 hyperintense").is_empty());
        assert!(lv("L9 CT20 T0 BT12").is_empty());
    }

    #[test]
    fn quantities_found() {
        let t =
            "30% loss, 4 mm slip, 12° curve, 15 degrees, grade II, Grade 1, Gr 1, one third, <20%";
        let mut v = Vec::new();
        quantities(t, 0, t.len(), &mut v);
        let q: Vec<Quantity> = v.iter().map(|x| x.2).collect();
        assert_eq!(
            q,
            vec![
                Quantity::Percent(30.0),
                Quantity::Millimetres(4.0),
                Quantity::Degrees(12.0),
                Quantity::Degrees(15.0),
                Quantity::Grade(2),
                Quantity::Grade(1),
                Quantity::Grade(1),
                Quantity::Percent(33.0)
            ]
        );
    }

    #[test]
    fn grade_boundaries() {
        assert_eq!(genant_from_pct(19.0), None);
        assert_eq!(genant_from_pct(20.0), Some(1));
        assert_eq!(genant_from_pct(25.0), Some(1));
        assert_eq!(genant_from_pct(30.0), Some(2));
        assert_eq!(genant_from_pct(40.0), Some(2));
        assert_eq!(genant_from_pct(50.0), Some(3));
        assert_eq!(meyerding_from_pct(25.0), Some(1));
        assert_eq!(meyerding_from_pct(30.0), Some(2));
    }
}
