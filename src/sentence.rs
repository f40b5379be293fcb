//! Sentence splitting inside section bodies.
//!
//! A sentence ends at `.`, `!` or `?` followed by whitespace (not after a known abbreviation,
//! and not after a list number such as `2.`), at `;`, at a blank line, and at a line break when
//! the next line starts a list item (`1.`, `-`, `*`, `•`), a `Label:`, or follows a line that
//! ends in `:` or is in capitals. Other line breaks (dictation wrapped mid-sentence) do not end
//! a sentence. Decimals (`2.5 mm`) and level tokens (`L4-5.`) need no special case: a period
//! inside a number has no whitespace after it.
//!
//! A sentence is at most [`MAX_SENTENCE`] bytes: a longer run with no sentence end (a list
//! without punctuation, documents glued into one line) is cut, preferably after a comma, else at
//! a space, so that context scopes and the work spent on one sentence stay bounded and a huge
//! report is analyzed in time linear in its length.

use crate::model::*;
use crate::text::{find_any, load8};

const ABBREVIATIONS: &[&str] = &[
    "approx", "dr", "e.g", "eg", "etc", "fig", "i.e", "ie", "mr", "mrs", "ms", "pt", "st", "vs",
    "cf", "resp", "incl", "ca",
];

/// Longest sentence, in bytes. Real report sentences are far shorter (a few hundred bytes at
/// most); only text with its sentence ends missing reaches this length.
pub const MAX_SENTENCE: usize = 1000;

/// The bytes that may end a sentence.
const ENDS: [u8; 5] = [b'.', b'!', b'?', b';', b'\n'];

/// Splits every section body into sentences.
pub fn sentences(text: &str, sections: &[Section], out: &mut Vec<Sentence>) {
    out.clear();
    // About one sentence per line or per 60 bytes: one allocation instead of several.
    out.reserve(sections.len() + text.len() / 60);
    let b = text.as_bytes();
    for (si, sec) in sections.iter().enumerate() {
        split(text, sec.body, si as u32, out, |i, end| {
            find_any(&b[..end], i, ENDS)
        });
    }
}

/// As [`sentences`], with the offsets of the text's line breaks, colons and sentence-end bytes
/// known, in order ([`crate::text::Folded::marks`]): the bytes that may end a sentence are
/// taken from them instead of searched for.
pub fn sentences_marked(text: &str, marks: &[u32], sections: &[Section], out: &mut Vec<Sentence>) {
    out.clear();
    out.reserve(sections.len() + text.len() / 60);
    let b = text.as_bytes();
    for (si, sec) in sections.iter().enumerate() {
        // The marks from the body's start on; those that end no sentence (colons, brackets)
        // are passed over. `split` asks from the body's start, then from just past each
        // position it was given, so every mark from `k` on is at or past the position asked
        // for.
        let mut k = marks.partition_point(|&at| (at as usize) < sec.body.start);
        let find_end = |_: usize, end: usize| {
            while let Some(&at) = marks.get(k) {
                let at = at as usize;
                if at >= end {
                    return None;
                }
                k += 1;
                if matches!(b[at], b'.' | b'!' | b'?' | b';' | b'\n') {
                    return Some(at);
                }
            }
            None
        };
        split(text, sec.body, si as u32, out, find_end);
    }
}

/// Splits `body` into sentences; `find_end(i, end)` is the first position from `i` before `end`
/// of a byte that may end a sentence ([`ENDS`]), asked for first with `i` the body's start,
/// then with `i` one past the position last found.
fn split(
    text: &str,
    body: Span,
    section: u32,
    out: &mut Vec<Sentence>,
    mut find_end: impl FnMut(usize, usize) -> Option<usize>,
) {
    let b = text.as_bytes();
    let mut start = body.start;
    let mut line_start = body.start;
    let mut i = body.start;
    let end = body.end;
    let emit = |s: usize, e: usize, out: &mut Vec<Sentence>| {
        let (s, e) = trim(b, s, e);
        if s < e {
            out.push(Sentence {
                span: Span::new(s, e),
                section,
            });
        }
    };
    while i < end {
        // Only these bytes can end a sentence: jump to the next one.
        let next = find_end(i, end);
        // An over-long sentence is cut at every position up to there where a byte-by-byte walk
        // would cut it: the first position at least MAX_SENTENCE bytes past the start.
        let last = next.unwrap_or(end - 1);
        let mut p = i;
        loop {
            let q = p.max(start + MAX_SENTENCE);
            if q > last {
                break;
            }
            let cut = cut_point(text, start, q);
            emit(start, cut, out);
            start = cut;
            p = q + 1;
        }
        let Some(at) = next else { break };
        i = at;
        let c = b[i];
        match c {
            b'.' | b'!' | b'?' => {
                let next_ws = i + 1 >= end
                    || b[i + 1].is_ascii_whitespace()
                    // `effusion.Heart`: a period glued to the next sentence
                    || (c == b'.'
                        && b[i + 1].is_ascii_uppercase()
                        && i > start
                        && b[i - 1].is_ascii_lowercase());
                // `? L5 pars defect`: a question mark opening a phrase hedges it.
                let opens = c == b'?' && (i == start || b[i - 1].is_ascii_whitespace());
                if next_ws
                    && !opens
                    && !(c == b'.' && (is_abbreviation(b, start, i) || is_list_number(b, start, i)))
                {
                    emit(start, i + 1, out);
                    start = i + 1;
                }
            }
            b';' => {
                emit(start, i + 1, out);
                start = i + 1;
            }
            b'\n' => {
                // Every line break is visited, so the current line's start is known.
                if line_break_ends(b, start.max(line_start), i, end) {
                    emit(start, i, out);
                    start = i + 1;
                }
                line_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    emit(start, end, out);
}

/// Where to cut an over-long sentence `[start, i)`: after the last comma followed by whitespace
/// in its second half, else after its last whitespace there, else after its last ASCII
/// punctuation, else at the last character boundary before `i`.
fn cut_point(text: &str, start: usize, i: usize) -> usize {
    let b = text.as_bytes();
    let lo = start + (i - start) / 2;
    let after = |pred: &dyn Fn(usize) -> bool| (lo..i).rev().find(|&k| pred(k)).map(|k| k + 1);
    after(&|k| b[k] == b',' && k + 1 < i && b[k + 1].is_ascii_whitespace())
        .or_else(|| after(&|k| b[k].is_ascii_whitespace()))
        .or_else(|| after(&|k| b[k].is_ascii_punctuation()))
        .unwrap_or_else(|| {
            let mut k = i;
            while !text.is_char_boundary(k) {
                k -= 1;
            }
            k
        })
}

fn trim(b: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && b[s].is_ascii_whitespace() {
        s += 1;
    }
    while e > s && b[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    (s, e)
}

/// The word before the period at `dot` (its letters and periods) is a known abbreviation.
/// No abbreviation is longer than eight bytes, so neither is the word looked at: it is packed
/// lowercased into a word and compared with the packed abbreviations.
///
/// Nearly every period ends a sentence, after a word that is no abbreviation: the last two
/// bytes of the word are looked up first ([`ABBREVIATION_ENDS`]), and most words are turned
/// away there, before the word is found and packed.
fn is_abbreviation(b: &[u8], start: usize, dot: usize) -> bool {
    // Every abbreviation has two bytes or more, so the word ends in two bytes after `start`.
    if dot < start + 2 || !ends_like_abbreviation(b[dot - 2], b[dot - 1]) {
        return false;
    }
    let lo = start.max(dot.saturating_sub(MAX_ABBREVIATION + 1));
    let s = word_start(b, lo, dot);
    let w = &b[s..dot];
    if w.is_empty() || w.len() > MAX_ABBREVIATION {
        return false;
    }
    // The word is the top bytes of the eight before `dot`, when there are eight: lowercased
    // as `pack_lowercase` does, and shifted down.
    let key = match dot.checked_sub(8) {
        Some(k) => (load8(b, k) | 0x2020_2020_2020_2020) >> (8 * (8 - w.len())),
        None => pack_lowercase(w),
    };
    PACKED_ABBREVIATIONS.contains(&key)
}

/// Where the run of letters and periods that ends at `dot` starts, looking back no further
/// than `lo` (`lo + 9 >= dot`): the eight bytes before `dot` are tested at once, as a word.
fn word_start(b: &[u8], lo: usize, dot: usize) -> usize {
    let Some(before) = dot.checked_sub(8).and_then(|s| b.get(s..dot)) else {
        return word_start_bytewise(b, lo, dot);
    };
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut w = [0u8; 8];
    w.copy_from_slice(before);
    let x = u64::from_le_bytes(w);
    // Per-byte range and zero tests that cannot carry into the next byte (as in
    // `text::word_run`): the top bit of each byte that is a letter or a period.
    let ascii = !x & HI;
    let folded = (x & !HI) | (LO * 0x20);
    let letter = (LO * (0x7f + b'z' as u64 + 1)).wrapping_sub(folded)
        & folded.wrapping_add(LO * (0x7f - (b'a' as u64 - 1)))
        & ascii;
    let t = x ^ (LO * b'.' as u64);
    let period = !(((t & !HI).wrapping_add(!HI)) | t) & HI;
    // The run is the bytes from the top down to the first that is neither.
    let run = ((!(letter | period) & HI).leading_zeros() / 8) as usize;
    let s = dot - run;
    if run == 8 && s > lo && is_word_byte(b[s - 1]) {
        s - 1
    } else {
        s.max(lo)
    }
}

/// [`word_start`] one byte at a time.
fn word_start_bytewise(b: &[u8], lo: usize, dot: usize) -> usize {
    let mut s = dot;
    while s > lo && is_word_byte(b[s - 1]) {
        s -= 1;
    }
    s
}

/// A byte of the word before a period that may be an abbreviation.
fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'.'
}

/// Longest entry of [`ABBREVIATIONS`].
const MAX_ABBREVIATION: usize = 8;

/// Up to eight letters and periods as a little-endian word, lowercased (a period is unchanged
/// by setting the case bit), zero-padded.
const fn pack_lowercase(w: &[u8]) -> u64 {
    let mut x = 0u64;
    let mut k = 0;
    while k < w.len() {
        x |= ((w[k] | 0x20) as u64) << (8 * k);
        k += 1;
    }
    x
}

/// [`ABBREVIATIONS`] packed by [`pack_lowercase`].
const PACKED_ABBREVIATIONS: [u64; ABBREVIATIONS.len()] = {
    let mut t = [0u64; ABBREVIATIONS.len()];
    let mut k = 0;
    while k < ABBREVIATIONS.len() {
        let a = ABBREVIATIONS[k].as_bytes();
        assert!(a.len() <= MAX_ABBREVIATION);
        t[k] = pack_lowercase(a);
        k += 1;
    }
    t
};

/// The place of a byte of an abbreviation in [`ABBREVIATION_ENDS`]: a letter (either case) 1 to
/// 26, a period 27, and any other byte, which no abbreviation holds, 0.
const END_CODE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 26 {
        t[b'a' as usize + c] = c as u8 + 1;
        t[b'A' as usize + c] = c as u8 + 1;
        c += 1;
    }
    t[b'.' as usize] = 27;
    t
};

/// A bit for the last two bytes of each abbreviation ([`END_CODE`] of the first times 32
/// plus that of the second).
const ABBREVIATION_ENDS: [u64; 16] = {
    let mut t = [0u64; 16];
    let mut k = 0;
    while k < ABBREVIATIONS.len() {
        let a = ABBREVIATIONS[k].as_bytes();
        assert!(a.len() >= 2);
        let at = END_CODE[a[a.len() - 2] as usize] as usize * 32
            + END_CODE[a[a.len() - 1] as usize] as usize;
        t[at / 64] |= 1 << (at % 64);
        k += 1;
    }
    t
};

/// Whether a word that ends in bytes `x` and `y` may be an abbreviation: some abbreviation
/// ends in them, but for ASCII case.
#[inline]
fn ends_like_abbreviation(x: u8, y: u8) -> bool {
    let at = END_CODE[x as usize] as usize * 32 + END_CODE[y as usize] as usize;
    ABBREVIATION_ENDS[at / 64] >> (at % 64) & 1 != 0
}

/// The period at `dot` closes a list number that opens the sentence (`2. Mild DDD`).
fn is_list_number(b: &[u8], start: usize, dot: usize) -> bool {
    let mut s = dot;
    while s > start && b[s - 1].is_ascii_digit() {
        s -= 1;
    }
    if s == dot || dot - s > 2 {
        return false;
    }
    b[start..s].iter().all(|c| c.is_ascii_whitespace())
}

/// Whether the line break at `nl` ends a sentence (inside a body that ends at `end`) whose
/// text before it starts at `ls` on its last line: the later of the sentence start and the
/// line start.
///
/// Most line breaks come right after a sentence end, with nothing before them on their line:
/// such a break ends the (empty) sentence as a blank line does, decided without the call.
#[inline]
pub(crate) fn line_break_ends(b: &[u8], ls: usize, nl: usize, end: usize) -> bool {
    ls == nl || line_break_ends_after(b, ls, nl, end)
}

/// [`line_break_ends`] for any `ls`, also one with text between it and the break.
fn line_break_ends_after(b: &[u8], ls: usize, nl: usize, end: usize) -> bool {
    let prev = trim_bytes(&b[ls..nl]);
    if prev.is_empty() {
        return true; // blank line
    }
    // Next line.
    let mut j = nl + 1;
    while j < end && (b[j] == b' ' || b[j] == b'\t' || b[j] == b'\r') {
        j += 1;
    }
    if j >= end || b[j] == b'\n' {
        return true;
    }
    let next = &b[j..end];
    if prev.ends_with(b":") {
        return true;
    }
    // List items.
    if matches!(next[0], b'-' | b'*' | b'#') || next.starts_with("•".as_bytes()) {
        return true;
    }
    let digits = next.iter().take_while(|c| c.is_ascii_digit()).count();
    if (1..=2).contains(&digits) && next.len() > digits && matches!(next[digits], b'.' | b')') {
        return true;
    }
    // `Label:` lines.
    if next[0].is_ascii_uppercase() {
        let lim = next.len().min(32);
        if let Some(p) = next[..lim].iter().position(|&c| c == b':') {
            if next[..p]
                .iter()
                .all(|c| c.is_ascii_alphabetic() || *c == b' ' || *c == b'/')
            {
                return true;
            }
        }
        // A line followed by one starting with a capital (not a level such as `T12`) ends a
        // sentence unless it stops on a comma or a word that cannot end one.
        if !starts_with_level(next) && !ends_open(prev, OPEN_ENDINGS) {
            return true;
        }
    }
    false
}

/// Words after which a sentence cannot end.
const OPEN_ENDINGS: &[&str] = &[
    "a", "an", "and", "at", "by", "for", "from", "in", "into", "of", "on", "or", "the", "to",
    "with", "without", "is", "are", "was", "were", "no", "not",
];

/// Whether `line` stops where it cannot end: on a comma, dash, slash or open parenthesis, or
/// on one of `words` (ASCII case-insensitive).
pub(crate) fn ends_open(line: &[u8], words: &[&str]) -> bool {
    let t = line.trim_ascii_end();
    if matches!(t.last(), Some(b',') | Some(b'-') | Some(b'/') | Some(b'(')) {
        return true;
    }
    let w = t.rsplit(|c| !c.is_ascii_alphabetic()).next().unwrap_or(b"");
    words.iter().any(|o| o.as_bytes().eq_ignore_ascii_case(w))
}

fn starts_with_level(s: &[u8]) -> bool {
    s.len() >= 2
        && matches!(s[0].to_ascii_uppercase(), b'C' | b'T' | b'L' | b'S')
        && s[1].is_ascii_digit()
}

fn trim_bytes(s: &[u8]) -> &[u8] {
    let mut a = 0;
    let mut e = s.len();
    while a < e && s[a].is_ascii_whitespace() {
        a += 1;
    }
    while e > a && s[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    &s[a..e]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(text: &str) -> Vec<&str> {
        let sec = [Section {
            kind: SectionKind::Findings,
            header: Span::new(0, 0),
            body: Span::new(0, text.len()),
        }];
        let mut v = Vec::new();
        sentences(text, &sec, &mut v);
        v.iter().map(|s| s.span.slice(text)).collect()
    }

    proptest::proptest! {
        /// Sentences split at the marks found while folding are those split at the sentence
        /// ends searched for, in every section.
        #[test]
        fn sentences_from_marks_agree_with_the_search(
            s in "((No fracture|Mild DDD at L4-5|e\\.g|2|Dr|\\? pars|caf\u{e9}|FINDINGS|x)[:.;!?]?[ \n\r\t]{0,3}){0,16}",
            cuts in proptest::collection::vec(0usize..200, 0..4),
        ) {
            // Sections at arbitrary places (character boundaries), headers empty.
            let mut at: Vec<usize> = cuts.iter().map(|&c| c % (s.len() + 1)).filter(|&c| s.is_char_boundary(c)).collect();
            at.sort_unstable();
            at.dedup();
            let mut bounds = vec![0];
            bounds.extend(at);
            bounds.push(s.len());
            let sections: Vec<Section> = bounds
                .windows(2)
                .map(|w| Section {
                    kind: SectionKind::Findings,
                    header: Span::new(w[0], w[0]),
                    body: Span::new(w[0], w[1]),
                })
                .collect();
            let mut f = crate::text::Folded::default();
            f.fold(&s);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            sentences(&s, &sections, &mut a);
            sentences_marked(&s, f.marks(), &sections, &mut b);
            proptest::prop_assert_eq!(a, b);
        }
    }

    /// The word before the period compared with each abbreviation in turn.
    fn is_abbreviation_simple(b: &[u8], start: usize, dot: usize) -> bool {
        let mut s = dot;
        while s > start && (b[s - 1].is_ascii_alphabetic() || b[s - 1] == b'.') {
            s -= 1;
        }
        let w = &b[s..dot];
        !w.is_empty()
            && ABBREVIATIONS
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(w))
    }

    proptest::proptest! {
        /// The test of a line break with nothing before it on its line agrees with the full
        /// one, for every line break and every start on its line.
        #[test]
        fn line_break_fast_path_agrees_with_the_full_test(
            s in "(Findings|L4-5|no|and|2[.)]|- |\u{2022}|[A-Za-z]{1,4}|[.:,;/ \t\r\n]){0,16}",
        ) {
            let b = s.as_bytes();
            let mut line_start = 0;
            for nl in (0..b.len()).filter(|&k| b[k] == b'\n') {
                for ls in line_start..=nl {
                    proptest::prop_assert_eq!(
                        line_break_ends(b, ls, nl, b.len()),
                        line_break_ends_after(b, ls, nl, b.len())
                    );
                }
                line_start = nl + 1;
            }
        }

        #[test]
        fn word_start_agrees_with_a_bytewise_walk(
            v in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'z', b'A', b'Z', b'.', b' ', b'@', b'[', b'`', b'{', b'-', b'0', 0xc1, 0xe1, 0xae, 0xfa, 0x80]),
                0..24,
            ),
            dot in 0usize..24,
            back in 0usize..10,
        ) {
            let dot = dot.min(v.len());
            let lo = dot.saturating_sub(back);
            proptest::prop_assert_eq!(word_start(&v, lo, dot), word_start_bytewise(&v, lo, dot));
        }

        #[test]
        fn packed_abbreviations_agree_with_a_plain_compare(s in "(Dr|e\\.g|I\\.E|approx|APPROXIMATELY|vs|x|etc|MRS|Resp|incl|cA|spine|lung|chest|s|[a-zA-Z.]{1,10}|[0-9 ]){0,4}\\.", start in 0usize..6) {
            let b = s.as_bytes();
            let dot = b.len() - 1;
            let start = start.min(dot);
            proptest::prop_assert_eq!(is_abbreviation(b, start, dot), is_abbreviation_simple(b, start, dot));
        }
    }

    #[test]
    fn periods_decimals_abbreviations() {
        assert_eq!(
            split_all("Slip of 2.5 mm at L4-5. Dr. Smith was called vs. paged. Done"),
            vec![
                "Slip of 2.5 mm at L4-5.",
                "Dr. Smith was called vs. paged.",
                "Done"
            ]
        );
    }

    #[test]
    fn numbered_items_and_wrapped_lines() {
        assert_eq!(
            split_all("1. Mild T12 compression\ndeformity.\n2. No listhesis."),
            vec!["1. Mild T12 compression\ndeformity.", "2. No listhesis."]
        );
    }

    #[test]
    fn capitals_and_labels() {
        assert_eq!(
            split_all("NO FRACTURE\nMILD DDD\nAlignment: normal\nDisc spaces: narrowed"),
            vec![
                "NO FRACTURE",
                "MILD DDD",
                "Alignment: normal",
                "Disc spaces: narrowed"
            ]
        );
    }

    #[test]
    fn glued_period_splits() {
        assert_eq!(
            split_all("No effusion.Mild DDD."),
            vec!["No effusion.", "Mild DDD."]
        );
        assert_eq!(split_all("2.5 mm e.g. x"), vec!["2.5 mm e.g. x"]);
    }

    #[test]
    fn unpunctuated_lines() {
        assert_eq!(
            split_all("Negative for fracture\nMild spondylosis.\nThere is mild\nT12 wedging and\nMild DDD"),
            vec!["Negative for fracture", "Mild spondylosis.", "There is mild\nT12 wedging and\nMild DDD"]
        );
    }

    #[test]
    fn over_long_runs_are_cut_at_commas_or_spaces() {
        let list = "mild disc narrowing, ".repeat(120);
        let parts = split_all(&list);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| p.len() <= MAX_SENTENCE), "{parts:?}");
        assert!(parts[..parts.len() - 1].iter().all(|p| p.ends_with(',')));
        assert_eq!(parts.concat().replace(' ', ""), list.replace(' ', ""));
        let words = "osteophytes ".repeat(200);
        let parts = split_all(&words);
        assert!(parts
            .iter()
            .all(|p| p.len() <= MAX_SENTENCE && p.ends_with("osteophytes")));
        let glued = "€".repeat(700);
        let parts = split_all(&glued);
        assert!(parts.iter().all(|p| p.len() <= MAX_SENTENCE));
        assert_eq!(parts.concat(), glued);
    }

    #[test]
    fn semicolons_split() {
        assert_eq!(
            split_all("No fracture; mild scoliosis"),
            vec!["No fracture;", "mild scoliosis"]
        );
    }
}
