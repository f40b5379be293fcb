//! Text cues: words a rule may look for in the report itself, beyond the concepts' statuses
//! ("unstable" beside a fracture, "typical of a hemangioma" beside a lesion, "concern for
//! myelopathy" anywhere in the report).
//!
//! A cue is a list of phrases (`terms`), matched on whole lowercase ASCII words, so that
//! "three-column" and "three column" are the same phrase. An occurrence counts unless a
//! `negated_by` phrase comes before it in the same sentence with no scope terminator between
//! them ("no canal narrowing or cord compression", "without dynamic instability"; but "no
//! retropulsion, but the injury is unstable" counts). A sentence holding a `voided_by` phrase
//! ("if", "versus") holds no occurrence of the cue, unless that phrase is itself denied ("no
//! destructive change"). A `negated_after` phrase beginning at most three words after an
//! occurrence denies it too ("cord compression is not evident"). When `with` is given, the
//! sentence must also hold a phrase of each of its groups ("MRI" with "recommended"); with
//! `at_start`, a term counts only as the sentence's first word (a heading such as "MRI LUMBAR
//! SPINE"); when `sections` is given, only sentences of those sections count.
//!
//! The sentences are the pipeline's ([`Analysis::sentences`]); a mention whose sentence is not
//! recorded (a hand-built analysis) is read in the stretch of text between the nearest full
//! stops or line breaks around it, and a cue limited to sections is never found there. Without
//! text, no cue is ever found.

use crate::model::*;
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;

/// The most cues a rule file may define (one bit each).
pub(crate) const MAX_CUES: usize = 64;

/// Words that end the scope of a negation (";" is kept as a word of its own).
const TERMINATORS: [&str; 9] = [
    ";", "but", "however", "although", "though", "except", "whereas", "while", "which",
];

/// How many words after a cue term a `negated_after` phrase may begin.
const POST_NEGATION_WINDOW: usize = 3;

/// Words that deny a voiding phrase ("no destructive change" does not void a benign reading).
const DENIALS: [&str; 4] = ["no", "not", "without", "negative"];

/// The phrases and options of a cue, as the rule file gives them.
pub(crate) struct CueSpec<'a> {
    pub terms: &'a [String],
    pub with: &'a [Vec<String>],
    pub negated_by: &'a [String],
    pub negated_after: &'a [String],
    pub voided_by: &'a [String],
    pub at_start: bool,
    pub sections: Option<Vec<SectionKind>>,
}

/// A cue a rule may look for in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct CueDef {
    /// Stable id.
    pub id: String,
    /// What finding the cue means, in words.
    pub meaning: String,
    pub(crate) terms: Vec<Vec<String>>,
    /// Groups of phrases: the sentence must hold one phrase of every group.
    pub(crate) with: Vec<Vec<Vec<String>>>,
    pub(crate) negated_by: Vec<Vec<String>>,
    pub(crate) negated_after: Vec<Vec<String>>,
    pub(crate) at_start: bool,
    pub(crate) voided_by: Vec<Vec<String>>,
    pub(crate) sections: Option<Vec<SectionKind>>,
}

impl CueDef {
    /// A cue from its phrases (each phrase split into lowercase words); an error names a
    /// phrase that holds no word.
    pub(crate) fn new(id: String, meaning: String, spec: CueSpec) -> Result<CueDef, String> {
        let split = |list: &[String]| -> Result<Vec<Vec<String>>, String> {
            list.iter()
                .map(|p| {
                    let w = words(p);
                    if w.is_empty() {
                        Err(format!("phrase {p:?} has no letters or digits"))
                    } else {
                        Ok(w.into_iter().map(str::to_string).collect())
                    }
                })
                .collect()
        };
        Ok(CueDef {
            id,
            meaning,
            terms: split(spec.terms)?,
            with: spec
                .with
                .iter()
                .map(|g| split(g))
                .collect::<Result<Vec<_>, _>>()?,
            negated_by: split(spec.negated_by)?,
            negated_after: split(spec.negated_after)?,
            voided_by: split(spec.voided_by)?,
            at_start: spec.at_start,
            sections: spec.sections,
        })
    }

    /// The phrases, for `spinex rules`.
    pub fn terms(&self) -> Vec<String> {
        self.terms.iter().map(|t| t.join(" ")).collect()
    }
}

/// A word's number in a [`CueReader`]: every word of a phrase, a denial or a terminator has one
/// from 1; [`OTHER`] stands for any other word.
type WordId = u32;

/// The number of a word no phrase holds.
const OTHER: WordId = 0;

/// What a word does besides being part of phrases (bits of [`Reading::roles`]).
const DENIAL: u8 = 1;
const TERMINATOR: u8 = 2;

/// Whether a byte is an ASCII letter or digit, by table: the test runs on every byte of the
/// text.
fn is_alnum(b: u8) -> bool {
    const ALNUM: [bool; 256] = {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = (i as u8).is_ascii_alphanumeric();
            i += 1;
        }
        t
    };
    ALNUM[usize::from(b)]
}

/// Bit 7 of each byte of `x` where that byte is an ASCII letter or digit, the others clear:
/// eight bytes tested at once. Every sum below stays under 0x100 in each byte, so no carry
/// crosses into the next byte.
fn alnum_bytes(x: u64) -> u64 {
    const fn each(b: u8) -> u64 {
        u64::from_ne_bytes([b; 8])
    }
    const HIGH: u64 = each(0x80);
    let y = x & !HIGH;
    // y >= '0' and not y > '9'.
    let digit = y.wrapping_add(each(0x50)) & !y.wrapping_add(each(0x46));
    // Lowercased, z >= 'a' and not z > 'z'.
    let z = y | each(0x20);
    let letter = z.wrapping_add(each(0x1f)) & !z.wrapping_add(each(0x05));
    (digit | letter) & !x & HIGH
}

/// Bit `i` set where byte `i` of `block` is an ASCII letter or digit.
#[inline(always)]
fn alnum_mask(block: &[u8; 64]) -> u64 {
    let mut mask = 0;
    for (k, chunk) in block.chunks_exact(8).enumerate() {
        let flags = alnum_bytes(u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])));
        // Gathers bit 7 of byte j into bit 56 + j (the products never overlap).
        let bits = (flags >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56;
        mask |= bits << (8 * k);
    }
    mask
}

/// Per length `n` from 0 to 16: the bits of the first `n` bytes of a packed word.
const KEEP: [u128; 17] = {
    let mut t = [0u128; 17];
    let mut n = 1;
    while n <= 16 {
        t[n] = u128::MAX >> (128 - 8 * n);
        n += 1;
    }
    t
};

/// The word `b[start..end]` packed as [`pack`] packs it, read as one 16-byte load when the
/// bytes after it are there to read (the word is a slice of a longer text most of the time).
fn pack_at(b: &[u8], start: usize, end: usize) -> Option<u128> {
    let n = end.checked_sub(start)?;
    if n == 0 || n > 16 {
        return None;
    }
    let Some(Ok(bytes)) = b.get(start..start + 16).map(<[u8; 16]>::try_from) else {
        return pack(b.get(start..end)?);
    };
    // Setting bit 5 of each byte lowercases an ASCII letter and leaves a digit as it is.
    Some((u128::from_le_bytes(bytes) | u128::from_le_bytes([0x20; 16])) & KEEP[n])
}

/// A word of ASCII letters and digits, of 1 to 16 bytes, lowercased and packed into one
/// integer (never 0).
fn pack(word: &[u8]) -> Option<u128> {
    let n = word.len();
    if n == 0 || n > 16 {
        return None;
    }
    let mut bytes = [0u8; 16];
    bytes[..n].copy_from_slice(word);
    // Setting bit 5 of each byte lowercases an ASCII letter and leaves a digit as it is.
    let lower = u128::from_le_bytes([0x20; 16]) >> (128 - 8 * n);
    Some(u128::from_le_bytes(bytes) | lower)
}

/// Word numbers by lowercase word: a word of up to 16 bytes is packed into one integer and
/// found by open addressing, a longer one (there are few) by a scan.
#[derive(Debug, Clone)]
struct WordTable {
    /// Packed word and its number; 0 marks an empty slot. The length is a power of two, at
    /// least twice the number of words.
    slots: Vec<(u128, WordId)>,
    long: Vec<(Box<[u8]>, WordId)>,
}

impl WordTable {
    /// A table of `words`, which are lowercase ASCII letters and digits.
    fn new(words: &[(&str, WordId)]) -> WordTable {
        let size = (2 * words.len()).next_power_of_two().max(16);
        let mut t = WordTable {
            slots: vec![(0, OTHER); size],
            long: Vec::new(),
        };
        for &(w, id) in words {
            match pack(w.as_bytes()) {
                Some(k) => {
                    let mut i = t.slot(k);
                    while t.slots[i].0 != 0 {
                        i = (i + 1) & (size - 1);
                    }
                    t.slots[i] = (k, id);
                }
                None => t.long.push((w.as_bytes().into(), id)),
            }
        }
        t
    }

    fn slot(&self, key: u128) -> usize {
        let h = (key as u64 ^ (key >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> 32) as usize & (self.slots.len() - 1)
    }

    /// The number of `word` (ASCII letters and digits, any case), [`OTHER`] when it has none.
    #[cfg(test)]
    fn get(&self, word: &[u8]) -> WordId {
        self.get_at(word, 0, word.len())
    }

    /// The number of the word `b[start..end]` (ASCII letters and digits, any case), [`OTHER`]
    /// when it has none.
    fn get_at(&self, b: &[u8], start: usize, end: usize) -> WordId {
        let Some(key) = pack_at(b, start, end) else {
            let word = b.get(start..end).unwrap_or_default();
            return self
                .long
                .iter()
                .find(|(w, _)| w.eq_ignore_ascii_case(word))
                .map_or(OTHER, |&(_, id)| id);
        };
        let mut i = self.slot(key);
        loop {
            match self.slots[i] {
                (0, _) => return OTHER,
                (k, id) if k == key => return id,
                _ => i = (i + 1) & (self.slots.len() - 1),
            }
        }
    }
}

/// The shapes of a set of words (first byte, last byte and length), for a cheap test before a
/// word is looked up: a word whose shape no word of the set has is none of them. Bytes are
/// taken modulo 32, which folds ASCII case (and puts some digits with some letters, which only
/// lets a few more words through to the lookup).
#[derive(Debug, Clone)]
struct WordShapes {
    /// Per first and last byte (modulo 32): bit `min(length, 63)` of each word of that shape.
    lengths: Box<[u64; 1024]>,
}

impl WordShapes {
    fn new<'w>(words: impl IntoIterator<Item = &'w str>) -> WordShapes {
        let mut s = WordShapes {
            lengths: Box::new([0; 1024]),
        };
        for w in words {
            if let (Some(&first), Some(&last)) = (w.as_bytes().first(), w.as_bytes().last()) {
                s.lengths[WordShapes::slot(first, last)] |= 1 << w.len().min(63);
            }
        }
        s
    }

    fn slot(first: u8, last: u8) -> usize {
        usize::from(first & 31) << 5 | usize::from(last & 31)
    }

    /// Whether a word of these first and last bytes and this length may be a word of the set.
    fn fit_shape(&self, first: u8, last: u8, len: usize) -> bool {
        self.fit_short(first, last, len.min(63))
    }

    /// As [`WordShapes::fit_shape`], for a word shorter than 64 bytes.
    fn fit_short(&self, first: u8, last: u8, len: usize) -> bool {
        self.lengths[WordShapes::slot(first, last)] >> (len & 63) & 1 != 0
    }
}

/// A cue with its phrases as word numbers.
#[derive(Debug, Clone)]
struct CompiledCue {
    terms: Vec<Box<[WordId]>>,
    with: Vec<Vec<Box<[WordId]>>>,
    negated_by: Vec<Box<[WordId]>>,
    negated_after: Vec<Box<[WordId]>>,
    voided_by: Vec<Box<[WordId]>>,
    at_start: bool,
    sections: Option<Vec<SectionKind>>,
}

impl CompiledCue {
    /// Whether the cue is looked for in a sentence of this section.
    fn reads(&self, section: Option<SectionKind>) -> bool {
        match (&self.sections, section) {
            (None, _) => true,
            (Some(allowed), Some(k)) => allowed.contains(&k),
            (Some(_), None) => false,
        }
    }

    /// Whether the cue occurs in one sentence.
    fn in_sentence(&self, s: &Reading) -> bool {
        // Nothing below can hold without one of the terms: look for them first, as most
        // sentences have none.
        if !self.terms.iter().any(|t| s.holds(t)) {
            return false;
        }
        let voided = self
            .voided_by
            .iter()
            .any(|p| s.occurrences(p).any(|start| !s.denied(start)));
        if voided {
            return false;
        }
        if !self.with.iter().all(|g| g.iter().any(|p| s.holds(p))) {
            return false;
        }
        self.terms.iter().any(|t| {
            s.occurrences(t).any(|start| {
                let end = start + t.len();
                (!self.at_start || start == 0)
                    && !self
                        .negated_by
                        .iter()
                        .any(|p| s.occurrences(p).any(|q| s.reaches(q + p.len(), start)))
                    && !self
                        .negated_after
                        .iter()
                        .any(|p| (end..=end + POST_NEGATION_WINDOW).any(|q| s.starts_with_at(q, p)))
            })
        })
    }
}

/// The cues compiled for reading: every phrase word numbered, so that a sentence is read once
/// into numbers and phrases are compared as numbers, and a one-pass test for where each cue may
/// occur at all.
#[derive(Debug, Clone)]
pub(crate) struct CueReader {
    /// Lowercase words to their numbers. A phrase word with an uppercase letter has a number
    /// but is not here: sentence words are read lowercase, so it never occurs.
    table: WordTable,
    /// Per word number: [`DENIAL`] and [`TERMINATOR`] bits.
    roles: Vec<u8>,
    /// The number of ";".
    semicolon: WordId,
    /// Per word number: the cues (one bit each) it is the key word of.
    keys: Vec<u64>,
    /// Per word number: its bit among the sieve words (none for most words).
    sieve: Vec<Sieve>,
    /// Per cue: what the sieve words of a sentence must hold for the cue to occur there.
    needs: Vec<Needs>,
    /// The shapes of the key and sieve words: a word of another shape is not looked up.
    key_shapes: WordShapes,
    /// The key and sieve words (lowercase) with their numbers, for a pass over the text made
    /// elsewhere ([`CueReader::tag_words`]).
    key_words: Vec<(String, WordId)>,
    /// The shapes of the words of `table`: a word of another shape is [`OTHER`].
    word_shapes: WordShapes,
    cues: Vec<CompiledCue>,
}

impl CueReader {
    /// Compiles `cues` (at most [`MAX_CUES`] are read).
    pub(crate) fn new(cues: &[CueDef]) -> CueReader {
        let mut n = Numbering {
            numbers: HashMap::new(),
            roles: vec![0],
        };
        for w in DENIALS {
            n.number(w, DENIAL);
        }
        for w in TERMINATORS {
            n.number(w, TERMINATOR);
        }
        let semicolon = n.number(";", TERMINATOR);
        let compiled: Vec<CompiledCue> = cues
            .iter()
            .take(MAX_CUES)
            .map(|c| CompiledCue {
                terms: n.phrases(&c.terms),
                with: c.with.iter().map(|g| n.phrases(g)).collect(),
                negated_by: n.phrases(&c.negated_by),
                negated_after: n.phrases(&c.negated_after),
                voided_by: n.phrases(&c.voided_by),
                at_start: c.at_start,
                sections: c.sections.clone(),
            })
            .collect();
        // Key words are found ASCII case-insensitively: lowercased, they are looked up as
        // sentence words are.
        let key_words: Vec<(String, usize)> = cues
            .iter()
            .take(MAX_CUES)
            .enumerate()
            .flat_map(|(i, c)| {
                c.terms.iter().filter_map(move |t| {
                    t.iter()
                        .max_by_key(|w| w.len())
                        .map(|w| (w.to_ascii_lowercase(), i))
                })
            })
            .collect();
        let mut keys = Vec::new();
        for (w, cue) in &key_words {
            let id = n.number(w, 0) as usize;
            keys.resize(n.roles.len(), 0);
            keys[id] |= 1 << cue;
        }
        keys.resize(n.roles.len(), 0);
        // The sieve words, lowercased as key words are: per term its two longest words, and
        // per cue with `with` groups the longest word of each phrase of its smallest group.
        let mut sieve_words: Vec<String> = Vec::new();
        let mut sieve_bit = |w: &str| -> Sieve {
            let w = w.to_ascii_lowercase();
            let i = match sieve_words.iter().position(|x| *x == w) {
                Some(i) => i,
                None => {
                    sieve_words.push(w);
                    sieve_words.len() - 1
                }
            };
            // A word past the last bit is not sieved: it is taken as present.
            if i < Sieve::BITS as usize {
                1 << i
            } else {
                0
            }
        };
        let needs: Vec<Needs> = cues
            .iter()
            .take(MAX_CUES)
            .map(|c| Needs {
                terms: c
                    .terms
                    .iter()
                    .map(|t| {
                        longest_two(t)
                            .into_iter()
                            .flatten()
                            .fold(0, |m, w| m | sieve_bit(w))
                    })
                    .collect(),
                group: c
                    .with
                    .iter()
                    .min_by_key(|g| g.len())
                    .map_or_else(Vec::new, |g| {
                        g.iter()
                            .map(|p| longest_two(p)[0].map_or(0, &mut sieve_bit))
                            .collect()
                    }),
            })
            .collect();
        let mut sieve = vec![0; n.roles.len()];
        for (i, w) in sieve_words.iter().enumerate().take(Sieve::BITS as usize) {
            let id = n.number(w, 0) as usize;
            sieve.resize(n.roles.len(), 0);
            sieve[id] |= 1 << i;
        }
        keys.resize(n.roles.len(), 0);
        let key_shapes = WordShapes::new(
            key_words
                .iter()
                .map(|(w, _)| w.as_str())
                .chain(sieve_words.iter().map(String::as_str)),
        );
        let readable: Vec<(&str, WordId)> = n
            .numbers
            .into_iter()
            .filter(|(w, _)| {
                w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
            .collect();
        let mut tagged: Vec<(String, WordId)> = readable
            .iter()
            .filter(|&&(_, id)| keys[id as usize] != 0 || sieve[id as usize] != 0)
            .map(|&(w, id)| (w.to_string(), id))
            .collect();
        tagged.sort();
        CueReader {
            key_words: tagged,
            word_shapes: WordShapes::new(readable.iter().map(|&(w, _)| w)),
            table: WordTable::new(&readable),
            roles: n.roles,
            semicolon,
            keys,
            sieve,
            needs,
            key_shapes,
            cues: compiled,
        }
    }

    /// Calls `f(start, cues, sieve)` for every word of `s` that is a key word or a sieve word,
    /// in text order, with the cues it is the key word of and its sieve bit.
    ///
    /// The text is classified 64 bytes at a time into a bit mask of letters and digits; the
    /// first and last bytes of words are the edges of its runs of set bits, taken in pairs, and
    /// a word is tested by its shape with two reads from the block (see `each_key_bytewise` in
    /// the tests for the plain reading it must agree with). A word that reaches the last byte
    /// of a block may run on into the next one: it is kept open, and tested in full once its
    /// end is known.
    fn each_key(&self, s: &str, mut f: impl FnMut(usize, u64, Sieve)) {
        let b = s.as_bytes();
        // Where the word that reached the end of the block before began, if one did.
        let mut open: Option<usize> = None;
        let mut tail = [0u8; 64];
        for base in (0..b.len()).step_by(64) {
            let block: &[u8; 64] = match b.get(base..base + 64).map(<&[u8; 64]>::try_from) {
                Some(Ok(block)) => block,
                _ => {
                    // The last, short block, padded with bytes that are no letters.
                    let rest = &b[base..];
                    tail[..rest.len()].copy_from_slice(rest);
                    &tail
                }
            };
            let mask = alnum_mask(block);
            let mut starts = mask & !(mask << 1);
            // Ends of words before the last byte: a word that reaches it is open.
            let mut ends = mask & !(mask >> 1) & !(1 << 63);
            if let Some(start) = open.take() {
                if mask & 1 == 0 {
                    // It ended with the block before.
                    self.key_word(b, start, base, &mut f);
                } else if ends == 0 {
                    // Every byte of the block is a letter or digit: it runs on.
                    open = Some(start);
                    continue;
                } else {
                    // Byte 0 goes on with it, and the first end closes it.
                    starts &= !1;
                    let last = ends.trailing_zeros() as usize;
                    ends &= ends - 1;
                    self.key_word(b, start, base + last + 1, &mut f);
                }
            }
            while ends != 0 {
                let first = starts.trailing_zeros() as usize & 63;
                let last = ends.trailing_zeros() as usize & 63;
                starts &= starts.wrapping_sub(1);
                ends &= ends - 1;
                // Most words have no key word's shape: only their two bytes are read.
                if self.key_shapes.fit_short(
                    block[first],
                    block[last],
                    last.wrapping_sub(first) + 1,
                ) {
                    self.known_word(b, base + first, base + last + 1, &mut f);
                }
            }
            if starts != 0 {
                open = Some(base + starts.trailing_zeros() as usize);
            }
        }
        if let Some(start) = open {
            self.key_word(b, start, b.len(), &mut f);
        }
    }

    /// Calls `f(start, cues, sieve)` when the word `b[start..end]` (not empty) is a key word or
    /// a sieve word.
    fn key_word(&self, b: &[u8], start: usize, end: usize, f: &mut impl FnMut(usize, u64, Sieve)) {
        if self.key_shapes.fit_shape(b[start], b[end - 1], end - start) {
            self.known_word(b, start, end, f);
        }
    }

    /// As [`CueReader::key_word`], for a word of a key word's shape.
    fn known_word(
        &self,
        b: &[u8],
        start: usize,
        end: usize,
        f: &mut impl FnMut(usize, u64, Sieve),
    ) {
        let id = self.table.get_at(b, start, end) as usize;
        let (cues, sieve) = (self.keys[id], self.sieve[id]);
        if cues != 0 || sieve != 0 {
            f(start, cues, sieve);
        }
    }

    /// The key and sieve words, lowercase, with their numbers: a pass over the text made
    /// elsewhere (the pipeline's phrase scan) reports where they occur, so that
    /// [`CueHits::find_with`] need not read the text for them ([`CueHits::with_words`]).
    pub(crate) fn tag_words(&self) -> impl Iterator<Item = (&str, WordId)> {
        self.key_words.iter().map(|(w, id)| (w.as_str(), *id))
    }

    /// As [`CueReader::each_key`], for the words of `s` only that touch a byte outside ASCII
    /// ("é" in "fracturé"): those a pass over whole tokens of the folded view does not see
    /// (see [`CueHits::with_words`]). Other words may be reported too. `known`, if given,
    /// holds the offsets of the characters of `s` outside ASCII, in order (as
    /// [`crate::text::Folded::non_ascii`] does), and `s` is not searched for them.
    fn each_key_beside_non_ascii(
        &self,
        s: &str,
        known: Option<&[u32]>,
        mut f: impl FnMut(usize, u64, Sieve),
    ) {
        let b = s.as_bytes();
        let mut known = known.map(|k| k.iter().map(|&p| p as usize));
        // The first character outside ASCII at or after `at` (always on a character boundary):
        // the first known one not passed over, or the first byte a search finds.
        let mut next = |at: usize| match &mut known {
            Some(k) => k.find(|&p| p >= at),
            None => next_non_ascii(b, at),
        };
        let mut at = 0;
        while let Some(high) = next(at) {
            // The stretch of letters, digits and other bytes around it, and its ASCII words.
            let mut start = high;
            while start > at && is_alnum(b[start - 1]) {
                start -= 1;
            }
            let mut end = high;
            while end < b.len() && (b[end] >= 0x80 || is_alnum(b[end])) {
                end += 1;
            }
            let mut i = start;
            while i < end {
                if is_alnum(b[i]) {
                    let word = i;
                    while i < end && is_alnum(b[i]) {
                        i += 1;
                    }
                    self.key_word(b, word, i, &mut f);
                } else {
                    i += 1;
                }
            }
            at = end;
        }
    }

    /// The cues whose key word occurs in `s`.
    fn cues_in(&self, s: &str) -> u64 {
        let mut mask = 0;
        self.each_key(s, |_, m, _| mask |= m);
        mask
    }

    /// Whether cue `cue` may occur in a sentence whose sieve words are `words`: one of its
    /// terms has its sieve words there, and so has a phrase of its smallest `with` group (a
    /// necessary condition, so that most sentences that hold only a key word are not read).
    fn may_occur(&self, cue: usize, words: Sieve) -> bool {
        let Some(n) = self.needs.get(cue) else {
            return true;
        };
        let holds = |m: &Sieve| words & m == *m;
        n.terms.iter().any(holds) && (n.group.is_empty() || n.group.iter().any(holds))
    }

    /// Reads `s` into `r`: its words (ASCII letters and digits, lowercased; everything else
    /// separates them) and each ";" as a word of its own (it ends a negation's scope).
    fn read(&self, s: &str, r: &mut Reading) {
        r.words.clear();
        r.roles.clear();
        r.present.clear();
        r.present.resize(self.roles.len().div_ceil(64), 0);
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let start = i;
            let id = if b[i] == b';' {
                i += 1;
                self.semicolon
            } else if is_alnum(b[i]) {
                while i < b.len() && is_alnum(b[i]) {
                    i += 1;
                }
                self.word_at(b, start, i)
            } else {
                i += 1;
                continue;
            };
            r.words.push(id);
            r.roles.push(self.roles[id as usize]);
            r.present[id as usize / 64] |= 1 << (id % 64);
        }
    }

    /// The number of `word` (ASCII letters and digits, not empty), [`OTHER`] when it has none.
    #[cfg(test)]
    fn word(&self, word: &[u8]) -> WordId {
        self.word_at(word, 0, word.len())
    }

    /// The number of the word `b[start..end]` (ASCII letters and digits, not empty),
    /// [`OTHER`] when it has none.
    fn word_at(&self, b: &[u8], start: usize, end: usize) -> WordId {
        if self
            .word_shapes
            .fit_shape(b[start], b[end - 1], end - start)
        {
            self.table.get_at(b, start, end)
        } else {
            OTHER
        }
    }

    /// The cues among `candidates` that are read in sentences of `section`.
    fn read_in(&self, candidates: u64, section: Option<SectionKind>) -> u64 {
        self.each_cue(candidates)
            .filter(|(_, c)| c.reads(section))
            .fold(0u64, |m, (i, _)| m | 1 << i)
    }

    /// The cues among `wanted` that occur in the sentence read into `r`.
    fn found_in(&self, wanted: u64, r: &Reading) -> u64 {
        self.each_cue(wanted)
            .filter(|(_, c)| c.in_sentence(r))
            .fold(0, |m, (i, _)| m | 1 << i)
    }

    /// The cues of `mask`, with their indices.
    fn each_cue(&self, mask: u64) -> impl Iterator<Item = (usize, &CompiledCue)> {
        self.cues
            .iter()
            .enumerate()
            .filter(move |(i, _)| mask & (1 << i) != 0)
    }
}

/// The index of the first byte of `b` from `from` on that is not ASCII, sixteen bytes tested
/// at a time ([`crate::text::find_where`]).
fn next_non_ascii(b: &[u8], from: usize) -> Option<usize> {
    let rest = b.get(from..)?;
    let at = crate::text::find_where(rest, |c| c >= 0x80);
    (at < rest.len()).then_some(from + at)
}

/// A set of sieve words, one bit each ([`CueReader::may_occur`]).
type Sieve = u128;

/// What the sieve words of a sentence must hold for a cue to occur there: the words of one of
/// `terms`, and when `group` is not empty, the words of one of `group`.
#[derive(Debug, Clone)]
struct Needs {
    terms: Vec<Sieve>,
    group: Vec<Sieve>,
}

/// The longest word of a phrase (the last of equal lengths: its key word) and the longest of
/// the others, if any.
fn longest_two(phrase: &[String]) -> [Option<&str>; 2] {
    let key = phrase.iter().enumerate().max_by_key(|(_, w)| w.len());
    let Some((k, key)) = key else {
        return [None, None];
    };
    let second = phrase
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != k)
        .max_by_key(|(_, w)| w.len())
        .map(|(_, w)| w.as_str());
    [Some(key.as_str()), second]
}

/// Numbers words in the order they come, for [`CueReader::new`].
struct Numbering<'w> {
    numbers: HashMap<&'w str, WordId>,
    /// Per number: [`DENIAL`] and [`TERMINATOR`] bits.
    roles: Vec<u8>,
}

impl<'w> Numbering<'w> {
    fn number(&mut self, w: &'w str, role: u8) -> WordId {
        let next = self.roles.len() as WordId;
        let id = *self.numbers.entry(w).or_insert(next);
        if id == next {
            self.roles.push(0);
        }
        self.roles[id as usize] |= role;
        id
    }

    fn phrases(&mut self, list: &'w [Vec<String>]) -> Vec<Box<[WordId]>> {
        list.iter()
            .map(|p| p.iter().map(|w| self.number(w, 0)).collect())
            .collect()
    }
}

/// One sentence read into word numbers ([`CueReader::read`]); kept between sentences so that
/// its buffers are reused.
#[derive(Debug, Default)]
struct Reading {
    words: Vec<WordId>,
    /// Per word: its [`DENIAL`] and [`TERMINATOR`] bits.
    roles: Vec<u8>,
    /// The word numbers the sentence holds, one bit each.
    present: Vec<u64>,
}

impl Reading {
    /// Whether every word of `phrase` occurs somewhere in the sentence (a cheap test before a
    /// phrase is looked for).
    fn may_hold(&self, phrase: &[WordId]) -> bool {
        phrase.iter().all(|&w| {
            self.present
                .get(w as usize / 64)
                .is_some_and(|m| m & (1 << (w % 64)) != 0)
        })
    }

    /// Whether `phrase` occurs at word `i`.
    fn starts_with_at(&self, i: usize, phrase: &[WordId]) -> bool {
        !phrase.is_empty() && self.words.get(i..i + phrase.len()) == Some(phrase)
    }

    /// Start indices of every occurrence of `phrase`.
    fn occurrences<'a>(&'a self, phrase: &'a [WordId]) -> impl Iterator<Item = usize> + 'a {
        let last = if self.may_hold(phrase) {
            (self.words.len() + 1).saturating_sub(phrase.len())
        } else {
            0
        };
        (0..last).filter(move |&i| self.starts_with_at(i, phrase))
    }

    /// Whether `phrase` occurs.
    fn holds(&self, phrase: &[WordId]) -> bool {
        self.occurrences(phrase).next().is_some()
    }

    /// Whether a trigger ending at word `end` reaches word `start`: it ends at or before it,
    /// with no terminator between.
    fn reaches(&self, end: usize, start: usize) -> bool {
        end <= start && !self.roles[end..start].iter().any(|r| r & TERMINATOR != 0)
    }

    /// Whether a denial word reaches word `start` ("no destructive change").
    fn denied(&self, start: usize) -> bool {
        (0..start).any(|i| self.roles[i] & DENIAL != 0 && self.reaches(i + 1, start))
    }
}

/// The words (ASCII letters and digits) of `s`; everything else separates them.
fn words(s: &str) -> Vec<&str> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Which cues occur where in one report, read lazily. Nothing is read before a rule asks (rules
/// ask only once their findings hold); then the cues whose longest word each sentence holds are
/// noted, from the cue words the pipeline's phrase scan found ([`CueHits::with_words`]) or else
/// from one pass over the text. A sentence is read word by word the first time a rule asks
/// about one of those cues (if the cue is read in its section), and only that cue is looked for
/// there; the words read are kept until another sentence is read. A cue is looked for in the
/// whole report only when a rule asks, sentence by sentence until it is found. Every answer is
/// kept.
#[derive(Debug, Default)]
pub(crate) struct CueHits<'a> {
    src: Option<(&'a CueReader, &'a Analysis, &'a str)>,
    /// Where the key and sieve words occur, from a pass made elsewhere, if one was
    /// ([`CueHits::with_words`]).
    words: Option<&'a [(u32, u32)]>,
    /// The offsets of the characters of the text outside ASCII, if they were found elsewhere
    /// ([`CueHits::with_non_ascii`]).
    non_ascii: Option<&'a [u32]>,
    /// Per sentence of the analysis, from the pass made on the first question.
    sentences: OnceCell<Vec<SentenceCues>>,
    /// The cues looked for in the whole report, and those found.
    report: Cell<(u64, u64)>,
    /// The cues whose key word occurs anywhere in the text, once known
    /// ([`CueHits::keys_in_report`]).
    keys: Cell<Option<u64>>,
    reading: RefCell<Reading>,
    /// The sentence whose words `reading` holds, if any.
    read_sentence: Cell<Option<usize>>,
    /// A buffer for `sentences`, from an earlier report.
    spare: RefCell<Vec<SentenceCues>>,
}

/// The buffers of a [`CueHits`], kept between reports so that a thread allocates them once
/// ([`CueHits::find_with`], [`CueHits::into_buffers`]).
#[derive(Debug, Default)]
pub(crate) struct CueBuffers {
    sentences: Vec<SentenceCues>,
    reading: Reading,
}

/// What is known of one sentence's cues.
#[derive(Debug, Default)]
struct SentenceCues {
    /// The cues whose key word occurs there.
    candidates: u64,
    /// The sieve words that occur there.
    words: Sieve,
    /// The cues looked for there so far, and those found.
    looked: Cell<(u64, u64)>,
}

impl<'a> CueHits<'a> {
    /// Nothing found (no text to read).
    pub fn none() -> CueHits<'a> {
        CueHits::default()
    }

    /// Cue reading over `text`, the report `a` was made from.
    pub fn find(reader: &'a CueReader, a: &'a Analysis, text: &'a str) -> CueHits<'a> {
        CueHits::find_with(reader, a, text, CueBuffers::default())
    }

    /// As [`CueHits::find`], in the buffers of an earlier report.
    pub fn find_with(
        reader: &'a CueReader,
        a: &'a Analysis,
        text: &'a str,
        buffers: CueBuffers,
    ) -> CueHits<'a> {
        let readable = !reader.cues.is_empty() && !text.is_empty();
        CueHits {
            src: readable.then_some((reader, a, text)),
            reading: RefCell::new(buffers.reading),
            spare: RefCell::new(buffers.sentences),
            ..CueHits::default()
        }
    }

    /// As [`CueHits::find_with`], with the key and sieve words of the text already found:
    /// `words` holds, in order of their start, the original start and the number
    /// ([`CueReader::tag_words`]) of every word of the text that is a whole token of its
    /// folded view and one of those words, and maybe some others of them (words inside a
    /// token that holds bytes outside ASCII, which such a pass does not see, are looked for
    /// here). The sentences' candidate cues are then read from `words`, not from the text.
    pub fn with_words(mut self, words: &'a [(u32, u32)]) -> CueHits<'a> {
        self.words = Some(words);
        self
    }

    /// With the characters of the text outside ASCII already found: `starts` holds the offset
    /// of the first byte of each, in text order ([`crate::text::Folded::non_ascii`]). The words
    /// beside them are then looked for there, with no search of the text (and none at all
    /// when `starts` is empty: the text is ASCII).
    pub fn with_non_ascii(mut self, starts: &'a [u32]) -> CueHits<'a> {
        self.non_ascii = Some(starts);
        self
    }

    /// Whether `text`, the report's, holds a character outside ASCII: known without reading
    /// it when those characters were found elsewhere ([`CueHits::with_non_ascii`]).
    fn has_non_ascii(&self, text: &str) -> bool {
        self.non_ascii
            .map_or_else(|| !text.is_ascii(), |starts| !starts.is_empty())
    }

    /// The buffers, for the next report's [`CueHits::find_with`].
    pub fn into_buffers(self) -> CueBuffers {
        let CueHits {
            sentences,
            reading,
            spare,
            ..
        } = self;
        CueBuffers {
            sentences: sentences.into_inner().unwrap_or_else(|| spare.into_inner()),
            reading: reading.into_inner(),
        }
    }

    /// The sentences' candidate cues, from one pass over the text.
    fn sentences(&self) -> &[SentenceCues] {
        self.sentences.get_or_init(|| {
            let mut out = self.spare.take();
            out.clear();
            let Some((reader, a, text)) = self.src else {
                return out;
            };
            out.resize_with(a.sentences.len(), SentenceCues::default);
            // Key words come in text order, as the sentences do.
            // `k` is the sentence of the word before.
            let note = |k: &mut usize, out: &mut [SentenceCues], start: usize, mask, words| {
                while *k < a.sentences.len() && a.sentences[*k].span.end <= start {
                    *k += 1;
                }
                if let Some(s) = a.sentences.get(*k) {
                    if s.span.start <= start {
                        out[*k].candidates |= mask;
                        out[*k].words |= words;
                    }
                }
            };
            let mut k = 0;
            match self.words {
                None => reader.each_key(text, |start, mask, words| {
                    note(&mut k, &mut out, start, mask, words)
                }),
                Some(found) => {
                    for &(start, id) in found {
                        let id = id as usize;
                        let mask = reader.keys.get(id).copied().unwrap_or(0);
                        let words = reader.sieve.get(id).copied().unwrap_or(0);
                        note(&mut k, &mut out, start as usize, mask, words);
                    }
                    if self.has_non_ascii(text) {
                        // Words beside other bytes, in text order again.
                        k = 0;
                        let known = self.non_ascii;
                        reader.each_key_beside_non_ascii(text, known, |start, mask, words| {
                            note(&mut k, &mut out, start, mask, words)
                        });
                    }
                }
            }
            out
        })
    }

    /// The cues among `candidates` that occur in `s`, of `section`: sentence `sentence` of the
    /// analysis, or (`None`) another stretch of the text. `s` is read only when one of the cues
    /// is read in that section, and not again when it is the sentence read last.
    fn read(
        &self,
        candidates: u64,
        s: &str,
        section: Option<SectionKind>,
        sentence: Option<usize>,
    ) -> u64 {
        let Some((reader, ..)) = self.src else {
            return 0;
        };
        let wanted = reader.read_in(candidates, section);
        if wanted == 0 {
            return 0;
        }
        let mut r = self.reading.borrow_mut();
        if sentence.is_none() || self.read_sentence.get() != sentence {
            reader.read(s, &mut r);
            self.read_sentence.set(sentence);
        }
        reader.found_in(wanted, &r)
    }

    /// Whether cue `cue` occurs in sentence `i`.
    fn in_sentence(&self, i: usize, cue: usize) -> bool {
        let Some((reader, a, text)) = self.src else {
            return false;
        };
        let Some(known) = self.sentences().get(i) else {
            return false;
        };
        let bit = 1 << cue;
        if known.candidates & bit == 0 || !reader.may_occur(cue, known.words) {
            return false;
        }
        let (looked, found) = known.looked.get();
        if looked & bit != 0 {
            return found & bit != 0;
        }
        let s = &a.sentences[i];
        let section = a.sections.get(s.section as usize).map(|x| x.kind);
        let m = text
            .get(s.span.start..s.span.end)
            .map_or(0, |t| self.read(bit, t, section, Some(i)));
        known.looked.set((looked | bit, found | m));
        m != 0
    }

    /// The cues whose key word occurs anywhere in the text (in a sentence or not), from the cue
    /// words found by the pipeline's scan ([`CueHits::with_words`]) and those beside bytes
    /// outside ASCII: the union of what [`CueHits::sentences`] notes per sentence, without
    /// placing a word in its sentence. Every cue when no scan was made (the text would have to
    /// be read for it). Worked out once.
    fn keys_in_report(&self) -> u64 {
        if let Some(keys) = self.keys.get() {
            return keys;
        }
        let keys = match (self.src, self.words) {
            (Some((reader, _, text)), Some(found)) => {
                let key = |id: u32| reader.keys.get(id as usize).copied().unwrap_or(0);
                let mut keys = found.iter().fold(0, |m, &(_, id)| m | key(id));
                if self.has_non_ascii(text) {
                    let known = self.non_ascii;
                    reader.each_key_beside_non_ascii(text, known, |_, mask, _| keys |= mask);
                }
                keys
            }
            _ => u64::MAX,
        };
        self.keys.set(Some(keys));
        keys
    }

    /// Whether cue `cue` occurs in any sentence of the report.
    fn look_in_report(&self, cue: usize) -> bool {
        let Some((reader, a, text)) = self.src else {
            return false;
        };
        let bit = 1 << cue;
        if a.sentences.is_empty() {
            text.split(['.', '\n'])
                .any(|t| self.read(reader.cues_in(t) & bit, t, None, None) != 0)
        } else {
            // A cue whose key word the text lacks is in no sentence: the sentences need not
            // be placed for it.
            if self.keys_in_report() & bit == 0 {
                return false;
            }
            let sentences = self.sentences();
            (0..sentences.len())
                .any(|i| sentences[i].candidates & bit != 0 && self.in_sentence(i, cue))
        }
    }

    /// Whether cue `cue` occurs in the sentence of mention `m`.
    pub fn in_mention(&self, m: u32, cue: usize) -> bool {
        let Some((reader, a, text)) = self.src else {
            return false;
        };
        let Some(mention) = a.mentions.get(m as usize) else {
            return false;
        };
        if (mention.sentence as usize) < a.sentences.len() {
            self.in_sentence(mention.sentence as usize, cue)
        } else {
            let t = stretch_around(text, mention.span);
            self.read(reader.cues_in(t) & 1 << cue, t, None, None) != 0
        }
    }

    /// Whether cue `cue` occurs anywhere in the report.
    pub fn in_report(&self, cue: usize) -> bool {
        let bit = 1 << cue;
        let (asked, found) = self.report.get();
        if asked & bit != 0 {
            return found & bit != 0;
        }
        let hit = self.look_in_report(cue);
        self.report
            .set((asked | bit, if hit { found | bit } else { found }));
        hit
    }
}

/// The text between the nearest full stop or line break before `span` and the next one after.
fn stretch_around(text: &str, span: Span) -> &str {
    let is_stop = |c: char| c == '.' || c == '\n';
    let (start, end) = (span.start, span.end);
    if start > end || end > text.len() {
        return "";
    }
    if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
        return "";
    }
    let from = text[..start].rfind(is_stop).map_or(0, |i| i + 1);
    let to = text[end..].find(is_stop).map_or(text.len(), |i| end + i);
    &text[from..to]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(terms: &[&str], with: &[&str], neg: &[&str], void: &[&str]) -> CueDef {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let with = if with.is_empty() {
            Vec::new()
        } else {
            vec![s(with)]
        };
        CueDef::new(
            "c".into(),
            "m".into(),
            CueSpec {
                terms: &s(terms),
                with: &with,
                negated_by: &s(neg),
                negated_after: &s(&["is not", "not seen"]),
                voided_by: &s(void),
                at_start: false,
                sections: None,
            },
        )
        .unwrap()
    }

    fn hit(c: &CueDef, s: &str) -> bool {
        let reader = CueReader::new(std::slice::from_ref(c));
        let mut r = Reading::default();
        reader.read(s, &mut r);
        reader.cues[0].in_sentence(&r)
    }

    /// The plain reading [`CueReader::each_key`] must agree with: words split byte by byte.
    fn each_key_bytewise(reader: &CueReader, s: &str) -> Vec<(usize, u64, Sieve)> {
        let mut out = Vec::new();
        let mut start = 0;
        for w in s.as_bytes().split(|&c| !is_alnum(c)) {
            if !w.is_empty() {
                let id = reader.table.get(w) as usize;
                let (cues, sieve) = (reader.keys[id], reader.sieve[id]);
                if cues != 0 || sieve != 0 {
                    out.push((start, cues, sieve));
                }
            }
            start += w.len() + 1;
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn words_by_shape_and_table_agree_with_the_table(
            parts in proptest::collection::vec(0usize..1000, 0..60),
        ) {
            // Read once: a case takes a fraction of the time the rule file does.
            static RULES: std::sync::OnceLock<crate::recommend::RuleSet> = std::sync::OnceLock::new();
            let rs = RULES.get_or_init(crate::recommend::RuleSet::builtin);
            let reader = &rs.cue_reader;
            let mut words: Vec<String> = rs.cues().iter().flat_map(|c| c.terms.iter().chain(c.negated_by.iter()).chain(c.voided_by.iter()).flatten()).cloned().collect();
            words.extend(DENIALS.iter().chain(&TERMINATORS).map(|w| w.to_string()));
            for w in words.clone() {
                // Other case, one byte off, one byte more or less.
                words.push(w.to_ascii_uppercase());
                words.push(format!("{w}s"));
                words.push(format!("q{w}"));
                words.push(w[1..].to_string());
                words.push(w[..w.len() - 1].to_string());
                words.push(w.replace('e', "o"));
            }
            words.extend(["0", "9", "p", "Y", "t12", "s1", "1990"].map(String::from));
            for &p in &parts {
                let w = &words[p * 7919 % words.len()];
                if w.is_empty() || !w.bytes().all(is_alnum) {
                    continue;
                }
                proptest::prop_assert_eq!(reader.word(w.as_bytes()), reader.table.get(w.as_bytes()), "{}", w);
            }
        }
    }

    /// Per sentence of `a`, the cues found when every sentence is read for every cue (no key
    /// word or sieve word consulted first).
    fn every_cue_read(reader: &CueReader, a: &Analysis, text: &str) -> Vec<u64> {
        let all = u64::MAX >> (64 - reader.cues.len());
        a.sentences
            .iter()
            .map(|s| {
                let section = a.sections.get(s.section as usize).map(|x| x.kind);
                let mut r = Reading::default();
                reader.read(&text[s.span.start..s.span.end], &mut r);
                reader.found_in(reader.read_in(all, section), &r)
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn sieved_cues_agree_with_every_cue_read(
            parts in proptest::collection::vec(0usize..4000, 1..80),
            seps in proptest::collection::vec(0usize..6, 0..80),
        ) {
            // Read once: a case takes a fraction of the time the rule file does.
            static RULES: std::sync::OnceLock<crate::recommend::RuleSet> = std::sync::OnceLock::new();
            let rs = RULES.get_or_init(crate::recommend::RuleSet::builtin);
            let reader = &rs.cue_reader;
            // Every word of every phrase, a few other words, and sentence stops.
            let mut words: Vec<&str> = rs
                .cues()
                .iter()
                .flat_map(|c| {
                    c.terms
                        .iter()
                        .chain(c.with.iter().flatten())
                        .chain(&c.negated_by)
                        .chain(&c.negated_after)
                        .chain(&c.voided_by)
                })
                .flatten()
                .map(String::as_str)
                .collect();
            words.extend(["fracture", "CORD", "Compression", "of", "the", "L4", "mild"]);
            let separators = [" ", " ", "-", ", ", ". ", "; "];
            let mut text = String::new();
            let mut sentences = Vec::new();
            let mut from = 0;
            for (k, &p) in parts.iter().enumerate() {
                text.push_str(words[p % words.len()]);
                let sep = separators[seps.get(k).copied().unwrap_or(0)];
                if sep == ". " {
                    sentences.push(Sentence { span: Span::new(from, text.len()), section: 0 });
                    from = text.len() + 2;
                }
                text.push_str(sep);
            }
            let end = text.trim_end().len();
            if from < end {
                sentences.push(Sentence { span: Span::new(from, end), section: 0 });
            }
            let a = Analysis { sentences, ..Analysis::default() };
            let at_once = every_cue_read(reader, &a, &text);
            let hits = CueHits::find(reader, &a, &text);
            for c in 0..reader.cues.len() {
                for (i, m) in at_once.iter().enumerate() {
                    proptest::prop_assert_eq!(hits.in_sentence(i, c), m & 1 << c != 0, "{} {}", i, c);
                }
                proptest::prop_assert_eq!(hits.in_report(c), at_once.iter().any(|m| m & 1 << c != 0));
            }
        }
    }

    #[test]
    fn cues_asked_one_at_a_time_agree_with_every_cue_read_at_once() {
        let p = crate::pipeline::Pipeline::builtin();
        let rs = crate::recommend::RuleSet::builtin();
        let reader = CueReader::new(rs.cues());
        let n = reader.cues.len();
        let mut found = 0;
        for (k, report) in crate::gen::generate(5, 800).enumerate() {
            let a = p.analyze(&report);
            let text = report.text.as_str();
            let hits = CueHits::find(&reader, &a, text);
            // Every cue of every sentence at once, read afresh.
            let at_once = every_cue_read(&reader, &a, text);
            // Asked in an order that moves between sentences and cues.
            let mut asks: Vec<(usize, usize)> = (0..a.sentences.len())
                .flat_map(|i| (0..n).map(move |c| (i, c)))
                .collect();
            asks.sort_by_key(|&(i, c)| (c * 7 + i * 3 + k) % 11);
            for (i, c) in asks {
                let want = at_once[i] & 1 << c != 0;
                assert_eq!(hits.in_sentence(i, c), want, "{} {i} {c}", report.id);
                found += usize::from(want);
            }
            for c in 0..n {
                let want = at_once.iter().any(|m| m & 1 << c != 0);
                assert_eq!(hits.in_report(c), want, "{} {c}", report.id);
            }
        }
        assert!(found > 50, "{found}");
    }

    #[test]
    fn alnum_bytes_in_every_lane() {
        for v in 0..=255u8 {
            for lane in 0..8 {
                // The other lanes hold bytes either side of the ranges.
                let mut bytes = [b'/', b':', b'@', b'[', b'`', b'{', 0x7f, 0xff];
                bytes[lane] = v;
                let flags = alnum_bytes(u64::from_le_bytes(bytes));
                for (j, &c) in bytes.iter().enumerate() {
                    assert_eq!(
                        flags >> (8 * j + 7) & 1 == 1,
                        is_alnum(c),
                        "{c:#x} in lane {j}"
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn each_key_agrees_with_bytewise(
            parts in proptest::collection::vec(0usize..40, 0..120),
            seps in proptest::collection::vec(0usize..6, 0..120),
        ) {
            let rs = crate::recommend::RuleSet::builtin();
            let reader = CueReader::new(rs.cues());
            let mut keys: Vec<&str> = rs.cues().iter().flat_map(|c| c.terms.iter().flatten()).map(String::as_str).collect();
            keys.extend(["a", "x", "no", "Fracture", "UNSTABLE", "cord", "é", "1", "t12", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"]);
            let separators = [" ", "-", "\n", ". ", "; ", "…"];
            let mut s = String::new();
            for (k, &p) in parts.iter().enumerate() {
                s.push_str(keys[p * 7919 % keys.len()]);
                s.push_str(separators[seps.get(k).copied().unwrap_or(0)]);
            }
            let mut fast = Vec::new();
            reader.each_key(&s, |start, m, w| fast.push((start, m, w)));
            proptest::prop_assert_eq!(fast, each_key_bytewise(&reader, &s));
        }
    }

    /// Per sentence of `hits`, its candidate cues and sieve words.
    fn candidates(hits: &CueHits) -> Vec<(u64, Sieve)> {
        hits.sentences()
            .iter()
            .map(|s| (s.candidates, s.words))
            .collect()
    }

    /// The cue words of `text` as a tagged phrase scan of its folded view finds them, with
    /// `phrases` (folded, with a leading space) as the phrases.
    fn scanned_words(reader: &CueReader, phrases: &[&str], text: &str) -> Vec<(u32, u32)> {
        let tags: Vec<(&str, u32)> = reader.tag_words().collect();
        let set = crate::phrase::PhraseSet::with_tags(phrases, &tags).unwrap();
        let mut folded = crate::text::Folded::default();
        folded.fold(text);
        let mut words = Vec::new();
        set.for_each_match_tagged(
            &folded.bytes,
            |_, _, _, _, _| {},
            |at, tag| words.push((folded.map_at(at) as u32, tag)),
        );
        words
    }

    /// The offsets of the characters of `text` outside ASCII, as folding finds them.
    fn non_ascii_of(text: &str) -> Vec<u32> {
        let mut folded = crate::text::Folded::default();
        folded.fold(text);
        folded.non_ascii().to_vec()
    }

    proptest::proptest! {
        /// The words beside characters outside ASCII are the same whether those characters
        /// are given (as folding finds them) or searched for in the text.
        #[test]
        fn words_beside_known_non_ascii_agree_with_a_search(
            parts in proptest::collection::vec(0usize..4000, 0..60),
            seps in proptest::collection::vec(0usize..8, 0..60),
        ) {
            static RULES: std::sync::OnceLock<crate::recommend::RuleSet> = std::sync::OnceLock::new();
            let reader = &RULES.get_or_init(crate::recommend::RuleSet::builtin).cue_reader;
            let mut words: Vec<String> = reader.tag_words().map(|(w, _)| w.to_string()).collect();
            words.extend(["é", "°", "x²", "naïve", "€5", "𝄞"].map(String::from));
            let separators = [" ", "", "é", "–", "-", ". ", "\n", "’"];
            let mut text = String::new();
            for (k, &p) in parts.iter().enumerate() {
                text.push_str(&words[p % words.len()]);
                text.push_str(separators[seps.get(k).copied().unwrap_or(0)]);
            }
            let (mut searched, mut known) = (Vec::new(), Vec::new());
            reader.each_key_beside_non_ascii(&text, None, |start, m, w| searched.push((start, m, w)));
            let starts = non_ascii_of(&text);
            reader.each_key_beside_non_ascii(&text, Some(&starts), |start, m, w| known.push((start, m, w)));
            proptest::prop_assert_eq!(known, searched);
        }
    }

    proptest::proptest! {
        /// The first byte outside ASCII is the one a byte-by-byte search finds, from any start.
        #[test]
        fn next_non_ascii_agrees_with_a_bytewise_search(
            text in "[a-z é°–]{0,80}",
            from in 0usize..90,
        ) {
            let b = text.as_bytes();
            let want = b.get(from..).and_then(|r| r.iter().position(|&c| c >= 0x80)).map(|k| from + k);
            proptest::prop_assert_eq!(next_non_ascii(b, from), want);
        }
    }

    proptest::proptest! {
        #[test]
        fn scanned_words_agree_with_reading_the_text(
            parts in proptest::collection::vec(0usize..4000, 1..80),
            seps in proptest::collection::vec(0usize..9, 0..80),
        ) {
            static RULES: std::sync::OnceLock<crate::recommend::RuleSet> = std::sync::OnceLock::new();
            let rs = RULES.get_or_init(crate::recommend::RuleSet::builtin);
            let reader = &rs.cue_reader;
            // Cue words, others, and words with bytes outside ASCII beside them.
            let mut words: Vec<String> = reader.tag_words().map(|(w, _)| w.to_string()).collect();
            for w in words.clone().iter().take(40) {
                words.push(format!("{w}é"));
                words.push(format!("ü{w}"));
                words.push(w.to_ascii_uppercase());
            }
            words.extend(["fracture", "of", "the", "L4", "café", "°", "×", "²", "naïve"].map(String::from));
            // Phrases that hold cue words (matched, so their words are not looked up), and one
            // with a byte outside ASCII.
            let phrases = [" cord compression", " compression fracture", " l4", " mri of the", " spinal canal", " no", " café spine", " x ray"];
            let separators = [" ", " ", "-", ", ", ". ", "; ", "", "’", "–"];
            let mut text = String::new();
            let mut sentences = Vec::new();
            let mut from = 0;
            for (k, &p) in parts.iter().enumerate() {
                text.push_str(&words[p % words.len()]);
                let sep = separators[seps.get(k).copied().unwrap_or(0)];
                if sep == ". " {
                    sentences.push(Sentence { span: Span::new(from, text.len()), section: 0 });
                    from = text.len() + 2;
                }
                text.push_str(sep);
            }
            if from < text.len() {
                sentences.push(Sentence { span: Span::new(from, text.len()), section: 0 });
            }
            let a = Analysis { sentences, ..Analysis::default() };
            let found = scanned_words(reader, &phrases, &text);
            proptest::prop_assert!(found.windows(2).all(|w| w[0].0 <= w[1].0));
            let read = CueHits::find(reader, &a, &text);
            let scanned = CueHits::find(reader, &a, &text).with_words(&found);
            let non_ascii = non_ascii_of(&text);
            let known = CueHits::find(reader, &a, &text).with_words(&found).with_non_ascii(&non_ascii);
            // Asked of the whole report first, before the sentences are placed.
            for c in 0..reader.cues.len() {
                proptest::prop_assert_eq!(scanned.in_report(c), read.in_report(c), "{}", c);
                proptest::prop_assert_eq!(known.in_report(c), read.in_report(c), "{}", c);
            }
            proptest::prop_assert_eq!(candidates(&scanned), candidates(&read));
            proptest::prop_assert_eq!(candidates(&known), candidates(&read));
        }
    }

    #[test]
    fn scanned_words_of_generated_reports_agree_with_reading_the_text() {
        let p = crate::pipeline::Pipeline::builtin();
        let rs = crate::recommend::RuleSet::builtin();
        let reader = &rs.cue_reader;
        let phrases: Vec<String> = p
            .lexicons()
            .terms
            .iter()
            .map(|t| format!(" {}", crate::text::fold_str(&t.text)))
            .collect();
        let phrases: Vec<&str> = phrases.iter().map(String::as_str).collect();
        let mut seen = 0;
        for report in crate::gen::generate(17, 300) {
            let a = p.analyze(&report);
            let text = report.text.as_str();
            let found = scanned_words(reader, &phrases, text);
            let read = CueHits::find(reader, &a, text);
            let scanned = CueHits::find(reader, &a, text).with_words(&found);
            let non_ascii = non_ascii_of(text);
            let known = CueHits::find(reader, &a, text)
                .with_words(&found)
                .with_non_ascii(&non_ascii);
            // Asked of the whole report first, before the sentences are placed.
            for c in 0..reader.cues.len() {
                assert_eq!(scanned.in_report(c), read.in_report(c), "{} {c}", report.id);
                assert_eq!(known.in_report(c), read.in_report(c), "{} {c}", report.id);
            }
            assert_eq!(candidates(&scanned), candidates(&read), "{}", report.id);
            assert_eq!(candidates(&known), candidates(&read), "{}", report.id);
            seen += candidates(&read).iter().filter(|c| c.0 != 0).count();
        }
        assert!(seen > 100, "{seen}");
    }

    #[test]
    fn each_key_at_block_edges() {
        let rs = crate::recommend::RuleSet::builtin();
        let reader = CueReader::new(rs.cues());
        let word = rs.cues()[0].terms[0].concat();
        for pad in 0..140 {
            for tail in ["", " ", "x", "-x "] {
                let s = format!(
                    "{}{word}{tail}{}{word}",
                    "y".repeat(pad),
                    " ".repeat(pad % 67)
                );
                let mut fast = Vec::new();
                reader.each_key(&s, |start, m, w| fast.push((start, m, w)));
                assert_eq!(fast, each_key_bytewise(&reader, &s), "{pad} {tail:?}");
            }
        }
    }

    #[test]
    fn phrases_match_whole_words_across_hyphens() {
        let c = cue(&["three column", "unstable"], &[], &["no", "without"], &[]);
        assert!(hit(&c, "Acute three-column fracture of T9"));
        assert!(hit(&c, "This is an UNSTABLE injury."));
        assert!(!hit(&c, "Stable alignment; threecolumn"));
        assert!(!hit(&c, "The fracture is stable."));
    }

    #[test]
    fn negation_reaches_to_a_terminator() {
        let c = cue(
            &["instability", "cord compression"],
            &[],
            &["no", "without"],
            &[],
        );
        assert!(!hit(&c, "No evidence of instability."));
        assert!(!hit(&c, "Anterolisthesis without dynamic instability."));
        assert!(!hit(
            &c,
            "No evidence of spinal canal narrowing, retropulsion or cord compression."
        ));
        assert!(hit(
            &c,
            "No fracture is seen in the lower lumbar spine, but there is instability at L4."
        ));
        assert!(hit(&c, "No retropulsion; the pattern implies instability."));
        assert!(hit(&c, "Instability at L4, no fracture."));
    }

    #[test]
    fn negation_after_the_term_and_at_start() {
        let c = cue(&["cord compression"], &[], &["no"], &[]);
        assert!(!hit(&c, "Distinct cord compression is not evident."));
        assert!(hit(
            &c,
            "Cord compression at C5, the canal is not narrowed elsewhere."
        ));
        let mut m = cue(&["mri"], &[], &[], &[]);
        m.at_start = true;
        m.with = vec![vec![vec!["spine".to_string()]]];
        assert!(hit(&m, "MRI LUMBAR SPINE WITHOUT CONTRAST"));
        assert!(!hit(&m, "Prior lumbar spine MRI showed a disc herniation."));
        assert!(!hit(&m, "MRI showed a disc herniation."));
    }

    #[test]
    fn a_denied_voiding_word_does_not_void() {
        let c = cue(&["hemangioma"], &[], &["not"], &["destructive", "versus"]);
        assert!(hit(
            &c,
            "Typical hemangioma at T10 without destructive change."
        ));
        assert!(hit(&c, "No destructive change; typical hemangioma."));
        assert!(!hit(&c, "Hemangioma versus metastasis."));
        assert!(!hit(&c, "Destructive lesion, not a hemangioma."));
    }

    #[test]
    fn sections_limit_where_a_cue_is_read() {
        let mut c = cue(&["mri"], &[], &[], &[]);
        c.sections = Some(vec![SectionKind::Technique, SectionKind::Preamble]);
        let c = &CueReader::new(&[c]).cues[0];
        assert!(c.reads(Some(SectionKind::Technique)));
        assert!(!c.reads(Some(SectionKind::Impression)));
        assert!(!c.reads(None));
    }

    #[test]
    fn with_and_voided_by() {
        let c = cue(
            &["mri"],
            &["recommended", "recommend"],
            &[],
            &["if", "could"],
        );
        assert!(hit(&c, "MRI recommended given the clinical concern."));
        assert!(hit(&c, "Recommend MRI and spine surgery consultation."));
        assert!(!hit(
            &c,
            "If pain persists, MRI could evaluate for a fracture."
        ));
        assert!(!hit(&c, "EXAM: MRI lumbar spine"));
    }

    #[test]
    fn hits_per_mention_and_report() {
        let text = "FINDINGS: T12 fracture, unstable. L2 lesion.";
        let f = text.find("fracture").unwrap();
        let l = text.find("lesion").unwrap();
        let mention = |span: Span| Mention {
            concept: ConceptId::VERTEBRAL_FRACTURE,
            span,
            section: SectionKind::Findings,
            sentence: 99,
            term: 0,
            negated: None,
            uncertain: None,
            historical: None,
            hypothetical: None,
            attrs: Attributes::default(),
        };
        let a = Analysis {
            mentions: vec![mention(Span::new(f, f + 8)), mention(Span::new(l, l + 6))],
            ..Analysis::default()
        };
        let cues = [cue(&["unstable"], &[], &[], &[])];
        let reader = CueReader::new(&cues);
        let h = CueHits::find(&reader, &a, text);
        assert!(h.in_mention(0, 0));
        assert!(!h.in_mention(1, 0));
        assert!(h.in_report(0));
        let none = CueHits::find(&reader, &a, "");
        assert!(!none.in_mention(0, 0) && !none.in_report(0));
    }

    proptest::proptest! {
        #[test]
        fn packing_in_place_agrees_with_packing_a_copy(
            text in proptest::collection::vec(proptest::sample::select(b"aZ09x-. \xc3".to_vec()), 0..60),
            start in 0usize..60,
            len in 0usize..20,
        ) {
            let end = (start + len).min(text.len());
            let start = start.min(end);
            proptest::prop_assert_eq!(pack_at(&text, start, end), pack(&text[start..end]));
        }
    }

    #[test]
    fn words_are_numbered_in_any_case_and_length() {
        let t = WordTable::new(&[("mri", 1), ("l4", 2), ("spondylolisthesis", 3), ("a", 4)]);
        assert_eq!(t.get(b"MRI"), 1);
        assert_eq!(t.get(b"Mri"), 1);
        assert_eq!(t.get(b"L4"), 2);
        assert_eq!(t.get(b"Spondylolisthesis"), 3);
        assert_eq!(t.get(b"A"), 4);
        for other in [
            &b"mr"[..],
            b"mria",
            b"l5",
            b"spondylolisthesi",
            b"spondylolisthesiss",
        ] {
            assert_eq!(t.get(other), OTHER);
        }
        assert_ne!(pack(b"ab"), pack(b"ab0"));
    }

    #[test]
    fn key_words_are_whole_words_in_any_case() {
        let c = cue(
            &["unstable", "three column", "cord compression"],
            &[],
            &[],
            &[],
        );
        let reader = CueReader::new(std::slice::from_ref(&c));
        let text = "Unstable; X-UNSTABLE unstablex three-columns é compression_";
        let mut found = Vec::new();
        reader.each_key(text, |start, cues, _| {
            if cues != 0 {
                found.push((start, cues));
            }
        });
        let at = |w: &str| text.find(w).unwrap();
        // "column" is the key word of "three column" (its longest word), "compression" of
        // "cord compression"; "unstablex" and "columns" are other words ("three" and "cord"
        // are sieve words only).
        assert_eq!(
            found,
            vec![(0, 1), (at("UNSTABLE"), 1), (at("compression"), 1)]
        );
        assert_eq!(reader.cues_in("three column"), 1);
        assert_eq!(reader.cues_in("three columns"), 0);
    }

    #[test]
    fn a_phrase_word_with_capitals_never_matches() {
        // Sentence words are compared lowercase; a phrase given with capitals never matched
        // and still does not.
        assert!(!hit(&cue(&["MRI"], &[], &[], &[]), "MRI of the spine"));
        assert!(hit(&cue(&["mri"], &[], &[], &[]), "MRI of the spine"));
    }

    #[test]
    fn stretch_is_safe_on_any_span() {
        assert_eq!(stretch_around("a. bc d. e", Span::new(3, 5)), " bc d");
        assert_eq!(stretch_around("abc", Span::new(10, 12)), "");
        assert_eq!(stretch_around("é", Span::new(1, 1)), "");
    }
}
