//! Section detection: `HEADER:` at the start of a line or after a sentence end (any case, text
//! may follow on the same line), or a known header alone on a line in capitals.

use crate::model::*;
use crate::text::{find_any, fold_into, fold_str, folds_to_lowercase, load8, MARKS};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// Longest header candidate considered, in bytes.
const MAX_HEADER: usize = 48;

/// The hash of the header map (folded header to kind): a multiply-and-xor per eight bytes,
/// as in rustc's `FxHasher`. Every colon of a report and every line in capitals is looked up,
/// and the keys are a few dozen short lexicon strings with nothing inserted at run time, so
/// a keyed hash that resists chosen collisions buys nothing here and costs more than the
/// folding of the candidate.
#[derive(Debug, Default, Clone, Copy)]
pub struct HeaderHasher(u64);

/// [`HeaderHasher`] as the map's hasher: `HashMap<String, SectionKind, HeaderHash>`.
pub type HeaderHash = BuildHasherDefault<HeaderHasher>;

impl Hasher for HeaderHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut x = [0u8; 8];
            x.copy_from_slice(w);
            self.add(u64::from_le_bytes(x));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut x = [0u8; 8];
            x[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(x));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The table takes its bucket from the low bits, which the multiply mixes least.
        self.0.rotate_left(26)
    }
}

impl HeaderHasher {
    #[inline]
    fn add(&mut self, x: u64) {
        self.0 = (self.0 ^ x).wrapping_mul(0xf135_7aea_2e62_a9c5);
    }
}

/// The known section headers: folded headers ([`fold_str`]) to their kinds, with a filter that
/// turns most candidates away before they are folded and hashed, and a table in which plain
/// candidates (words and single spaces) are found without folding or hashing them. Read it as
/// the map it derefs to; keys are added with [`HeaderMap::insert`], which keeps the filter and
/// the table up to date.
#[derive(Debug, Clone)]
pub struct HeaderMap<S = HeaderHash> {
    map: HashMap<String, SectionKind, S>,
    /// For each ASCII byte `a`, bit `slot(z)` is set when some key starts with `a` and ends
    /// with the letter or digit `z`.
    ends: [u64; 128],
    /// Bit `z` is set when some key ends with the ASCII byte `z`.
    last: u128,
    /// The keys that are lowercase letters, digits and single spaces, with their kinds, in
    /// [`PLAIN_BUCKETS`] buckets by first byte and length ([`plain_bucket`]).
    plain: Vec<Vec<PlainKey>>,
}

/// A key of lowercase ASCII letters, digits and single spaces, as eight-byte words to compare
/// candidates with, ignoring ASCII case, a word at a time.
#[derive(Debug, Clone)]
struct PlainKey {
    len: usize,
    /// Per word of the key (zero past its end): its bytes, and `0x20` in each byte that is a
    /// letter. A candidate byte `c` matches key byte `k` when `c | case == k`: for a letter
    /// that allows just its two cases, for a digit or space just itself.
    words: Box<[(u64, u64)]>,
    kind: SectionKind,
}

impl PlainKey {
    fn new(k: &[u8], kind: SectionKind) -> Self {
        let words = (0..k.len().div_ceil(8))
            .map(|j| {
                let w = load8(k, 8 * j);
                let case = (0..8).fold(0u64, |m, i| {
                    let c = (w >> (8 * i)) as u8;
                    m | if c.is_ascii_lowercase() {
                        0x20 << (8 * i)
                    } else {
                        0
                    }
                });
                (w, case)
            })
            .collect();
        PlainKey {
            len: k.len(),
            words,
            kind,
        }
    }

    /// Whether `s` equals the key but for ASCII case.
    #[inline]
    fn matches(&self, s: &[u8]) -> bool {
        s.len() == self.len
            && self
                .words
                .iter()
                .enumerate()
                .all(|(j, &(w, case))| load8(s, 8 * j) | case == w)
    }
}

/// Buckets of [`HeaderMap::plain`]; a few dozen keys leave most of them empty or with one key.
const PLAIN_BUCKETS: usize = 256;

/// The bucket of a plain key (or candidate) of `len` bytes starting with `a` (either case).
#[inline]
fn plain_bucket(a: u8, len: usize) -> usize {
    (usize::from(a.to_ascii_lowercase()) * 31 + len) % PLAIN_BUCKETS
}

impl<S: Default> Default for HeaderMap<S> {
    fn default() -> Self {
        HeaderMap {
            map: HashMap::default(),
            ends: [0; 128],
            last: 0,
            plain: vec![Vec::new(); PLAIN_BUCKETS],
        }
    }
}

impl<S> std::ops::Deref for HeaderMap<S> {
    type Target = HashMap<String, SectionKind, S>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl<S: BuildHasher> HeaderMap<S> {
    /// Adds a folded header, returning the kind it had before, as [`HashMap::insert`] does.
    pub fn insert(&mut self, key: String, kind: SectionKind) -> Option<SectionKind> {
        let k = key.as_bytes();
        if let (Some(&a), Some(&z)) = (k.first(), k.last()) {
            if z.is_ascii() {
                self.last |= 1 << z;
            }
            if a.is_ascii() {
                if let Some(z) = alnum_slot(z) {
                    self.ends[a as usize] |= 1 << z;
                }
            }
        }
        if !k.is_empty() && folds_to_lowercase(k) && !k.iter().any(u8::is_ascii_uppercase) {
            let bucket = &mut self.plain[plain_bucket(k[0], k.len())];
            match bucket.iter_mut().find(|p| p.matches(k)) {
                Some(p) => p.kind = kind,
                None => bucket.push(PlainKey::new(k, kind)),
            }
        }
        self.map.insert(key, kind)
    }

    /// The kind of the plain key that equals `s` but for ASCII case. Such an `s` is plain
    /// too and folds to that key; a plain `s` that none equals folds to no key.
    #[inline]
    fn get_plain(&self, s: &[u8]) -> Option<SectionKind> {
        let a = s.first().copied().unwrap_or(0);
        self.plain[plain_bucket(a, s.len())]
            .iter()
            .find(|p| p.matches(s))
            .map(|p| p.kind)
    }

    /// Whether a candidate whose first and last bytes are the ASCII letters or digits `a` and
    /// `z` may fold to a key: its folded form starts with `a` and ends with `z`, lowercased.
    #[inline]
    fn may_end(&self, a: u8, z: u8) -> bool {
        let a = a.to_ascii_lowercase() & 0x7f;
        match alnum_slot(z) {
            Some(z) => self.ends[a as usize] >> z & 1 != 0,
            None => true,
        }
    }

    /// Whether a candidate that ends with `z`, an ASCII symbol that folding keeps
    /// ([`is_kept_symbol`]), may fold to a key: its folded form ends with `z` too.
    #[inline]
    fn may_end_with_symbol(&self, z: u8) -> bool {
        self.last >> z & 1 != 0
    }
}

/// Whether folding ([`fold_str`]) keeps the ASCII byte `c` as a token of its own: every ASCII
/// symbol but the dash, underscore and quotes that it turns into spaces.
#[inline]
fn is_kept_symbol(c: u8) -> bool {
    c.is_ascii_punctuation() && !matches!(c, b'-' | b'_' | b'\'' | b'`')
}

impl<S: BuildHasher + Default> FromIterator<(String, SectionKind)> for HeaderMap<S> {
    fn from_iter<I: IntoIterator<Item = (String, SectionKind)>>(iter: I) -> Self {
        let mut m = HeaderMap::default();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

/// Where the ASCII letter or digit `c` (either case) goes in a bit mask: letters 0 to 25,
/// digits 26 to 35.
#[inline]
fn alnum_slot(c: u8) -> Option<u32> {
    match c {
        b'a'..=b'z' => Some(u32::from(c - b'a')),
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 26),
        _ => None,
    }
}

/// Splits `text` into sections. Text before the first header is a preamble section.
/// `headers` maps folded headers ([`fold_str`]) to their kinds.
pub fn sections<S: BuildHasher>(text: &str, headers: &HeaderMap<S>, out: &mut Vec<Section>) {
    let b = text.as_bytes();
    let mut i = 0;
    let marks = std::iter::from_fn(|| {
        let at = find_any(b, i, MARKS)?;
        i = at + 1;
        Some(at)
    });
    split_sections(text, marks, headers, out);
}

/// As [`sections`], with the offsets of the text's marks known ([`crate::text::Folded::marks`]):
/// its colons, line breaks and the bytes that end the words of a header are not searched for.
pub fn sections_marked<S: BuildHasher>(
    text: &str,
    marks: &[u32],
    headers: &HeaderMap<S>,
    out: &mut Vec<Section>,
) {
    split_sections(text, marks.iter().map(|&at| at as usize), headers, out);
}

/// [`sections`], given the offsets of the [`MARKS`] bytes of `text` in order: the colons and
/// line breaks, and every byte that ends the words before a colon that can name a header
/// ([`ENDS_HEADER_RUN`]; all of them are marks).
fn split_sections<S: BuildHasher>(
    text: &str,
    marks: impl Iterator<Item = usize>,
    headers: &HeaderMap<S>,
    out: &mut Vec<Section>,
) {
    out.clear();
    out.reserve(8);
    let b = text.as_bytes();
    // (header span, kind)
    let mut found: Vec<(Span, SectionKind)> = Vec::with_capacity(8);
    // The folded candidate being looked up.
    let mut key = String::new();
    let mut line_start = 0usize;
    // Just after the last byte that ends the words of a header ([`ENDS_HEADER_RUN`]).
    let mut run_start = 0usize;
    // The line that ends at `i` (a line break, or the end of the text, which ends the last
    // line): a known header alone on it, in capitals. No byte of the line around its trimmed
    // words is a lower-case letter: most lines are turned away by the first one before they
    // are trimmed.
    let line_end = |i: usize,
                    line_start: usize,
                    found: &mut Vec<(Span, SectionKind)>,
                    key: &mut String| {
        let line = &text[line_start..i];
        if !has_lowercase(line.as_bytes()) {
            let (a, z) = trimmed(line);
            let t = &line[a..z];
            if !t.is_empty() && t.len() <= MAX_HEADER && t.bytes().any(|x| x.is_ascii_uppercase()) {
                if let Some(kind) = lookup(t, headers, key) {
                    let s = line_start + a;
                    let span = Span::new(s, s + t.len());
                    if found.last().map_or(true, |(p, _)| p.end <= span.start) {
                        found.push((span, kind));
                    }
                }
            }
        }
    };
    // Each mark. Every mark but a colon ends the words of a header ([`ENDS_HEADER_RUN`]), so
    // the table is not read per mark.
    for i in marks {
        match b[i] {
            b':' => {
                if let Some(h) = header_before(text, line_start, run_start, i, headers, &mut key) {
                    if found.last().map_or(true, |(s, _)| s.end <= h.0.start) {
                        found.push(h);
                    }
                }
                continue;
            }
            b'\n' => {
                line_end(i, line_start, &mut found, &mut key);
                line_start = i + 1;
            }
            _ => {}
        }
        run_start = i + 1;
    }
    line_end(b.len(), line_start, &mut found, &mut key);
    sections_at(text, &found, out);
}

/// The sections of `text` given its headers `found`, in order and not overlapping: a preamble
/// before the first one (when it does not start the text), then each header with the body up
/// to the next; short sections then split off unheaded findings.
fn sections_at(text: &str, found: &[(Span, SectionKind)], out: &mut Vec<Section>) {
    let first = found.first().map_or(text.len(), |(s, _)| s.start);
    if found.is_empty() || first > 0 {
        out.push(Section {
            kind: SectionKind::Preamble,
            header: Span::new(0, 0),
            body: Span::new(0, first),
        });
    }
    for (k, (h, kind)) in found.iter().enumerate() {
        let end = found.get(k + 1).map_or(text.len(), |(n, _)| n.start);
        debug_assert!(end >= h.end);
        out.push(Section {
            kind: *kind,
            header: *h,
            body: Span::new(h.end, end),
        });
    }
    split_short_sections(text, out);
}

/// A first line shorter than this in an indication-like section is taken as complete.
const SHORT_LINE: usize = 48;

/// Words after which a short section's first line carries on.
const OPEN_LINE_ENDINGS: &[&str] = &[
    "a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with",
    "without",
];

/// An indication, history, comparison or technique section holds a line or two; when its
/// first line is followed by a line that starts something new (a `Label:`, a capitalized
/// sentence after a full stop, a list item) and no header intervenes, what follows is
/// unheaded findings ("History: preop.\nLungs are clear. Mild thoracic spondylosis.").
fn split_short_sections(text: &str, out: &mut Vec<Section>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < out.len() {
        let sec = out[i];
        let short = matches!(
            sec.kind,
            SectionKind::Indication
                | SectionKind::History
                | SectionKind::Comparison
                | SectionKind::Technique
        );
        if short {
            let (s, e) = (sec.body.start, sec.body.end);
            // Skip to the first content, then look for a line break that ends a sentence.
            let mut j = s;
            while j < e && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let content = j;
            // The start of the line that the next line break ends.
            let mut line_start = content;
            // Only line breaks matter: jump from one to the next.
            while let Some(nl) = find_any(&b[..e], j, [b'\n']) {
                j = nl;
                // A short first line ("LLQ pain ?diverticulitis") is the whole of it unless it
                // carries on: it stops on an open word or comma, or the next line starts in
                // lower case and the line asked no question.
                let line = &b[content..j];
                let next_lower = b.get(j + 1).is_some_and(|c| c.is_ascii_lowercase());
                // Whether the line asked a question is read only when the next line starts
                // in lower case.
                let asks = || line.contains(&b'?') || line.trim_ascii_end().ends_with(b".");
                let short_line = j - content < SHORT_LINE
                    && !crate::sentence::ends_open(line, OPEN_LINE_ENDINGS)
                    && (!next_lower || asks());
                if short_line || crate::sentence::line_break_ends(b, line_start, j, e) {
                    let rest_has_text = b[j..e].iter().any(|c| !c.is_ascii_whitespace());
                    if rest_has_text {
                        out[i].body = Span::new(s, j);
                        out.insert(
                            i + 1,
                            Section {
                                kind: SectionKind::Findings,
                                header: Span::new(j, j),
                                body: Span::new(j, e),
                            },
                        );
                    }
                    break;
                }
                j += 1;
                line_start = j;
            }
        }
        i += 1;
    }
}

/// The header ending in the colon at `colon`, if the words before it (back to the start of the
/// line or the previous sentence end) name a known section. `run_start` is just after the last
/// byte before the colon that ends such words ([`ENDS_HEADER_RUN`]; 0 when there is none).
fn header_before<S: BuildHasher>(
    text: &str,
    line_start: usize,
    run_start: usize,
    colon: usize,
    headers: &HeaderMap<S>,
    key: &mut String,
) -> Option<(Span, SectionKind)> {
    let lo = line_start.max(colon.saturating_sub(MAX_HEADER));
    // The words run from the last byte that ends them, looking back no further than `lo`.
    let s = run_start.max(lo);
    if s == lo && lo > line_start {
        return None; // too long to be a header
    }
    let cand = &text[s..colon];
    let trimmed = &cand[trimmed(cand).0..];
    let start = s + (cand.len() - trimmed.len());
    let first = trimmed.bytes().next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    lookup(trimmed, headers, key).map(|k| (Span::new(start, colon + 1), k))
}

/// Whether `b` holds an ASCII lower-case letter, tested eight bytes at a time: the top bit of
/// each byte of `a..=z` is set by two per-byte range checks that cannot carry into the next
/// byte (as in `text::word_run`). Most lines hold one within their first word, and a header
/// line in capitals is read a word, not a byte, at a time.
fn has_lowercase(b: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let mut x = [0u8; 8];
        x.copy_from_slice(w);
        let x = u64::from_le_bytes(x);
        let h = x & !HI;
        let lower = (LO * (0x7f + b'z' as u64 + 1)).wrapping_sub(h)
            & h.wrapping_add(LO * (0x7f - (b'a' as u64 - 1)))
            & !x
            & HI;
        if lower != 0 {
            return true;
        }
    }
    words.remainder().iter().any(u8::is_ascii_lowercase)
}

/// Where [`str::trim`] would cut `s`: the start and end of what it keeps. Whitespace at the
/// ends is nearly always ASCII and is skipped byte by byte; only when a kept end is a
/// multi-byte character, which may be whitespace itself, does `str::trim` decide.
fn trimmed(s: &str) -> (usize, usize) {
    // The ASCII characters that `char::is_whitespace` holds for.
    let space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let b = s.as_bytes();
    let a = b.iter().position(|&c| !space(c)).unwrap_or(b.len());
    let z = b.iter().rposition(|&c| !space(c)).map_or(a, |k| k + 1);
    if a < z && (!b[a].is_ascii() || !b[z - 1].is_ascii()) {
        let t = s.trim();
        let a = s.len() - s.trim_start().len();
        return (a, a + t.len());
    }
    (a, z)
}

/// The bytes that end the words before a colon that can name a header: a sentence end, a line
/// break or a closing bracket. They are the [`MARKS`] but the colon, as [`split_sections`]
/// takes them to be (checked when compiled).
const ENDS_HEADER_RUN: [bool; 256] = {
    let mut t = [false; 256];
    let stops = *b".!?;\n)]";
    let mut k = 0;
    while k < stops.len() {
        t[stops[k] as usize] = true;
        k += 1;
    }
    t
};

const _: () = {
    let mut c = 0;
    while c < 256 {
        let mut mark = false;
        let mut k = 0;
        while k < MARKS.len() {
            mark |= MARKS[k] as usize == c;
            k += 1;
        }
        assert!(ENDS_HEADER_RUN[c] == (mark && c != b':' as usize));
        c += 1;
    }
};

/// The section a header names: `s` folded (as the lexicon keys are) into `key` and looked up.
/// Nearly every candidate is plain words that fold to themselves lowercased; others are folded
/// on the stack (they are at most [`MAX_HEADER`] bytes long).
///
/// A candidate that starts and ends with an ASCII letter or digit folds to a key that starts
/// and ends with them, lowercased: when no key has those ends, it is turned away before it is
/// folded. One that ends with an ASCII symbol kept by folding (a line in capitals such as
/// `FINDINGS:`, whose header the colon already named) folds to a key that ends with it: when no
/// key does, it is turned away too. Then it is compared with the plain keys (words and single spaces) of its first byte
/// and length: a plain candidate folds to itself lowercased, so it is found there or nowhere,
/// without folding or hashing.
fn lookup<S: BuildHasher>(
    s: &str,
    headers: &HeaderMap<S>,
    key: &mut String,
) -> Option<SectionKind> {
    let b = s.as_bytes();
    let a = b.first().copied().unwrap_or(0);
    let z = b.last().copied().unwrap_or(0);
    if a.is_ascii_alphanumeric() && !headers.may_end(a, z) {
        return None;
    }
    if is_kept_symbol(z) && !headers.may_end_with_symbol(z) {
        return None;
    }
    if let Some(kind) = headers.get_plain(b) {
        return Some(kind);
    }
    if !b.is_empty() && folds_to_lowercase(b) {
        return None;
    }
    key.clear();
    if s.len() <= MAX_HEADER {
        let mut buf = [0u8; 2 * MAX_HEADER];
        let n = fold_into(s, &mut buf);
        key.push_str(std::str::from_utf8(&buf[..n]).ok()?);
    } else {
        key.push_str(&fold_str(s));
    }
    headers.get(key.as_str()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn trimmed_cuts_where_str_trim_does(s in "[ \t\n\r\x0b\x0c\u{1c}\u{85}\u{a0}\u{2003}\u{3000}a\u{e9}.]{0,12}") {
            let (a, z) = trimmed(&s);
            proptest::prop_assert_eq!(&s[a..z], s.trim());
            proptest::prop_assert_eq!(&s[a..], s.trim_start());
        }

        /// The word-at-a-time test finds a lower-case letter where a byte-by-byte one does,
        /// next to the bytes just outside `a..=z` and bytes with the top bit set.
        #[test]
        fn lowercase_test_agrees_with_a_bytewise_one(
            v in proptest::collection::vec(
                proptest::sample::select(vec![
                    b'a', b'z', b'`', b'{', b'A', b'Z', b'@', b'[', b' ', b':', b'0', 0x7f, 0x80,
                    0xe1, 0xfa, 0xfb, 0xff, 0,
                ]),
                0..40,
            ),
        ) {
            proptest::prop_assert_eq!(has_lowercase(&v), v.iter().any(u8::is_ascii_lowercase));
        }
    }
    use crate::lexicon::Lexicons;

    fn kinds(text: &str) -> Vec<(SectionKind, String)> {
        let lx = Lexicons::builtin();
        let mut v = Vec::new();
        sections(text, &lx.sections, &mut v);
        v.iter()
            .map(|s| (s.kind, s.body.slice(text).trim().to_string()))
            .collect()
    }

    #[test]
    fn headers_with_text_on_the_line() {
        let k = kinds("INDICATION: back pain\nFINDINGS: No fracture.\nImpression: Normal.");
        assert_eq!(
            k,
            vec![
                (SectionKind::Indication, "back pain".into()),
                (SectionKind::Findings, "No fracture.".into()),
                (SectionKind::Impression, "Normal.".into())
            ]
        );
    }

    #[test]
    fn preamble_and_header_alone_on_a_line() {
        let k = kinds("LUMBAR SPINE 3 VIEWS\nIMPRESSION\n1. Mild DDD.");
        assert_eq!(k[0].0, SectionKind::Preamble);
        assert_eq!(k[1], (SectionKind::Impression, "1. Mild DDD.".into()));
    }

    #[test]
    fn inline_header_after_sentence() {
        let k = kinds("Findings: normal alignment. Impression: no acute fracture.");
        assert_eq!(k[1], (SectionKind::Impression, "no acute fracture.".into()));
    }

    #[test]
    fn short_section_then_unheaded_findings() {
        let k = kinds("History: preop.\nLungs are clear. Mild spondylosis.\nImpression: Normal.");
        assert_eq!(k[0], (SectionKind::History, "preop.".into()));
        assert_eq!(
            k[1],
            (
                SectionKind::Findings,
                "Lungs are clear. Mild spondylosis.".into()
            )
        );
        let k = kinds(
            "History: 66 year old woman with chronic low back\npain. Osteopenia.\nFindings: x",
        );
        assert_eq!(k[0].0, SectionKind::History);
        assert_eq!(k[1].0, SectionKind::Findings);
        assert_eq!(k.len(), 2);
    }

    proptest::proptest! {
        /// A candidate is looked up as its folded form ([`fold_str`]) would be, whichever way
        /// it is folded.
        #[test]
        fn lookup_agrees_with_fold_str(s in "(clinical|HISTORY|Reason|for|exam|[a-zA-Z0-9]{1,6}|[-/:;,.)_'` \t\u{e9}\u{2013}]){0,8}") {
            let lx = Lexicons::builtin();
            let mut key = String::new();
            proptest::prop_assert_eq!(
                lookup(&s, &lx.sections, &mut key),
                lx.sections.get(&fold_str(&s)).copied()
            );
        }

        /// The filter turns away no candidate that folds to a key, whatever the keys: any
        /// case, inner punctuation and spacing, and keys that start or end with a symbol or a
        /// character beyond ASCII.
        #[test]
        fn filtered_lookup_agrees_with_the_plain_map(
            keys in proptest::collection::vec("[a-cA-C0-2.:;)/_'\u{e9}\u{b0} -]{1,8}", 1..12),
            picks in proptest::collection::vec((0usize..12, 0u8..4), 1..8),
            noise in "[a-cA-C0-2.:;)/_'\u{e9}\u{b0} \t-]{0,8}",
        ) {
            let map: HeaderMap = keys
                .iter()
                .map(|k| fold_str(k))
                .filter(|k| !k.is_empty())
                .map(|k| (k, SectionKind::Findings))
                .collect();
            // Candidates: keys as written, upper-cased, with doubled spaces, and noise.
            let mut cands = vec![noise.clone()];
            for (i, how) in picks {
                let k = &keys[i % keys.len()];
                cands.push(match how {
                    0 => k.clone(),
                    1 => k.to_uppercase(),
                    2 => k.replace(' ', "  "),
                    _ => format!("{k}{noise}"),
                });
            }
            let mut key = String::new();
            for c in &cands {
                proptest::prop_assert_eq!(
                    lookup(c, &map, &mut key),
                    map.get(&fold_str(c)).copied(),
                    "{:?}", c
                );
            }
        }

        /// A plain key matches a candidate a word at a time just when the two are equal but
        /// for ASCII case, also for bytes one bit away from a key byte (`\x10` for `0`, NUL
        /// for a space, `@` or `{` next to letters).
        #[test]
        fn plain_key_matches_as_eq_ignore_ascii_case_does(
            key in "[a-z0-9]{1,6}( [a-z0-9]{1,6}){0,3}",
            edits in proptest::collection::vec((0usize..30, 0u8..4, proptest::num::u8::ANY), 0..3),
            cut in 0usize..3,
        ) {
            let k = key.as_bytes();
            let p = PlainKey::new(k, SectionKind::Findings);
            let mut c = k.to_vec();
            for (i, how, any) in edits {
                let i = i % c.len();
                c[i] = match how {
                    0 => c[i].to_ascii_uppercase(),
                    1 => c[i] ^ 0x20,
                    2 => c[i] ^ (1 << (any % 8)),
                    _ => any,
                };
            }
            c.truncate(c.len() - cut.min(c.len() - 1));
            proptest::prop_assert_eq!(p.matches(&c), c.eq_ignore_ascii_case(k));
            proptest::prop_assert!(p.matches(&key.to_uppercase().into_bytes()));
        }

        /// Sections come out the same with the map's own hash and with the standard one.
        #[test]
        fn header_hash_finds_what_the_standard_hash_does(s in "((FINDINGS|Impression|History|Reason for exam|Technique|L4-5|Mild DDD|caf\u{e9})[:.;]?[ \n]{1,2}){0,10}") {
            let lx = Lexicons::builtin();
            let std_map: HeaderMap<std::collections::hash_map::RandomState> =
                lx.sections.iter().map(|(k, v)| (k.clone(), *v)).collect();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            sections(&s, &lx.sections, &mut a);
            sections(&s, &std_map, &mut b);
            proptest::prop_assert_eq!(
                a.iter().map(|x| (x.kind, x.header, x.body)).collect::<Vec<_>>(),
                b.iter().map(|x| (x.kind, x.header, x.body)).collect::<Vec<_>>()
            );
        }
    }

    /// [`sections`] as it was written before the marks: colons and line breaks searched for,
    /// and the words before a colon walked back one byte at a time.
    fn sections_bytewise<S: BuildHasher>(
        text: &str,
        headers: &HeaderMap<S>,
        out: &mut Vec<Section>,
    ) {
        out.clear();
        out.reserve(8);
        let b = text.as_bytes();
        // (header span, kind)
        let mut found: Vec<(Span, SectionKind)> = Vec::with_capacity(8);
        // The folded candidate being looked up.
        let mut key = String::new();
        let mut line_start = 0usize;
        let mut i = 0usize;
        while i <= b.len() {
            // The next colon or line break; the end of the text ends the last line.
            i = find_any(b, i, [b':', b'\n']).unwrap_or(b.len());
            let c = if i == b.len() { b'\n' } else { b[i] };
            if c == b':' {
                if let Some(h) = header_before_bytewise(text, line_start, i, headers, &mut key) {
                    if found.last().map_or(true, |(s, _)| s.end <= h.0.start) {
                        found.push(h);
                    }
                }
            } else if c == b'\n' {
                // A known header alone on its line, in capitals.
                let line = &text[line_start..i];
                let (a, z) = trimmed(line);
                let t = &line[a..z];
                if !t.is_empty()
                    && t.len() <= MAX_HEADER
                    && t.bytes().any(|x| x.is_ascii_uppercase())
                    && !t.bytes().any(|x| x.is_ascii_lowercase())
                {
                    if let Some(kind) = lookup(t, headers, &mut key) {
                        let s = line_start + a;
                        let span = Span::new(s, s + t.len());
                        if found.last().map_or(true, |(p, _)| p.end <= span.start) {
                            found.push((span, kind));
                        }
                    }
                }
                line_start = i + 1;
            }
            i += 1;
        }
        sections_at(text, &found, out);
    }

    /// [`header_before`] walking back from the colon one byte at a time.
    fn header_before_bytewise<S: BuildHasher>(
        text: &str,
        line_start: usize,
        colon: usize,
        headers: &HeaderMap<S>,
        key: &mut String,
    ) -> Option<(Span, SectionKind)> {
        let b = text.as_bytes();
        let lo = line_start.max(colon.saturating_sub(MAX_HEADER));
        let mut s = colon;
        while s > lo && !ENDS_HEADER_RUN[b[s - 1] as usize] {
            s -= 1;
        }
        if s == lo && lo > line_start {
            return None; // too long to be a header
        }
        let cand = &text[s..colon];
        let trimmed = &cand[trimmed(cand).0..];
        let start = s + (cand.len() - trimmed.len());
        let first = trimmed.bytes().next()?;
        if !first.is_ascii_alphabetic() {
            return None;
        }
        lookup(trimmed, headers, key).map(|k| (Span::new(start, colon + 1), k))
    }

    proptest::proptest! {
        /// Sections split at the marks, with the words before a colon starting after the last
        /// mark that ends them, are those found walking back from each colon.
        #[test]
        fn sections_from_marks_agree_with_the_bytewise_walk(s in "((FINDINGS|Impression|HISTORY|Reason for exam|see (fig. 2)|[a]|L4-5|Mild DDD. Stable|caf\u{e9}|x|Lumbar spine series for evaluation of back pain)[:.;!?)\\]]?[ \n\r\t]{0,2}){0,12}") {
            let lx = Lexicons::builtin();
            let mut f = crate::text::Folded::default();
            f.fold(&s);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            sections_bytewise(&s, &lx.sections, &mut a);
            sections_marked(&s, f.marks(), &lx.sections, &mut b);
            proptest::prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn header_run_ends_are_marks() {
        for c in 0..=255u8 {
            if ENDS_HEADER_RUN[c as usize] {
                assert!(crate::text::is_mark(c), "{c}");
            }
        }
    }

    proptest::proptest! {
        /// Sections split at the marks found while folding are those split at the colons and
        /// line breaks searched for.
        #[test]
        fn sections_from_marks_agree_with_the_search(s in "((FINDINGS|Impression|HISTORY|Reason for exam|L4-5|Mild DDD. Stable|caf\u{e9}|x)[:.;!?]?[ \n\r\t]{0,2}){0,12}") {
            let lx = Lexicons::builtin();
            let mut f = crate::text::Folded::default();
            f.fold(&s);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            sections(&s, &lx.sections, &mut a);
            sections_marked(&s, f.marks(), &lx.sections, &mut b);
            proptest::prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn header_run_ends_are_the_sentence_ends_and_brackets() {
        for c in 0..=255u8 {
            let stop = matches!(c, b'.' | b'!' | b'?' | b';' | b'\n' | b')' | b']');
            assert_eq!(ENDS_HEADER_RUN[c as usize], stop, "{c}");
        }
    }

    /// A symbol is kept by folding, as the last byte of the folded form, just when
    /// [`is_kept_symbol`] says so; letters, digits and whitespace are not symbols.
    #[test]
    fn kept_symbols_are_those_folding_keeps() {
        for c in 0..0x80u8 {
            let s = format!("a{}", c as char);
            let kept = fold_str(&s).as_bytes().last() == Some(&c) && !c.is_ascii_alphanumeric();
            assert_eq!(is_kept_symbol(c), kept, "{c}");
        }
    }

    /// A line in capitals ending in a colon is turned away by its last byte, unless some key
    /// ends with one.
    #[test]
    fn candidate_ending_in_a_symbol_is_found_when_a_key_ends_with_it() {
        let mut m = HeaderMap::<HeaderHash>::default();
        m.insert("findings".into(), SectionKind::Findings);
        let mut key = String::new();
        assert_eq!(lookup("FINDINGS:", &m, &mut key), None);
        m.insert(fold_str("Impression:"), SectionKind::Impression);
        assert_eq!(
            lookup("FINDINGS:", &m, &mut key),
            None,
            "no key is `findings :`"
        );
        assert_eq!(
            lookup("IMPRESSION:", &m, &mut key),
            Some(SectionKind::Impression)
        );
        assert_eq!(
            lookup("impression :", &m, &mut key),
            Some(SectionKind::Impression)
        );
    }

    #[test]
    fn header_map_keeps_the_last_kind_and_finds_the_empty_key() {
        let mut m = HeaderMap::<HeaderHash>::default();
        assert_eq!(
            m.insert("reason for exam".into(), SectionKind::History),
            None
        );
        assert_eq!(
            m.insert("reason for exam".into(), SectionKind::Indication),
            Some(SectionKind::History)
        );
        let mut key = String::new();
        assert_eq!(
            lookup("REASON FOR EXAM", &m, &mut key),
            Some(SectionKind::Indication)
        );
        assert_eq!(lookup("", &m, &mut key), None);
        m.insert(String::new(), SectionKind::Findings);
        assert_eq!(lookup("", &m, &mut key), Some(SectionKind::Findings));
    }

    #[test]
    fn colon_in_prose_is_not_a_header() {
        let k = kinds("FINDINGS: Alignment: normal. Ratio 2:1.");
        assert_eq!(k.len(), 1);
    }
}
