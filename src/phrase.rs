//! Whole-token phrase matching over a folded view.
//!
//! Every lexicon phrase is folded the way report text is ([`crate::text`]): lowercase tokens
//! with one space between them, stored with a leading space (`" compression fracture"`). A
//! phrase can therefore only begin at a token of the text, and only at a token equal to the
//! phrase's first token. [`PhraseSet`] keeps its phrases in a hash table keyed by that first
//! token; a scan walks the folded text token by token, looks each token up once and compares
//! only the phrases that begin with it. A token is read a word at a time and keyed by its
//! first eight bytes packed into a word (one multiply to hash), and each phrase that begins
//! with it is ruled out by one masked compare of the next eight bytes, so the scan costs a few
//! word operations per token, where an automaton pays one table step per byte and a restart
//! after every match.
//!
//! Matches are leftmost-longest and token-bounded: at each token, the longest phrase that
//! matches and ends where a token ends is taken, and the scan goes on after it.

/// A set of folded phrases, matched on whole tokens.
#[derive(Debug, Clone, Default)]
pub struct PhraseSet {
    /// Open-addressed table of first tokens (power-of-two size, at most a quarter full, so
    /// that a token that begins no phrase usually meets a free slot at once; `u32::MAX` marks
    /// a free slot).
    slots: Vec<u32>,
    /// `64 - log2(slots.len())`: the slot of a token is the top bits of its hash.
    shift: u32,
    /// Distinct first tokens.
    keys: Vec<Key>,
    /// A bit for each byte that begins a first token, and for the space: a one-byte token
    /// whose byte has none (most are punctuation, "." or ":") begins no phrase and is
    /// stepped over without a lookup.
    leads: [u64; 4],
    /// Phrases grouped by first token, longest phrase first.
    order: Vec<Cand>,
    /// The phrases of each first token again, in buckets by the first byte of their second
    /// token (see [`Key::buckets`]): start and length in `bucketed`.
    buckets: Vec<(u32, u32)>,
    bucketed: Vec<Cand>,
    /// For each first token with buckets, sixty-four entries: for each bit `k`, how many bits
    /// of its `seconds` are below `k` (the rank of bit `k`'s bucket among its buckets). Read
    /// from a table because this target counts bits with a dozen instructions.
    ranks: Vec<u8>,
    /// Each phrase's bytes (with the leading space): start and length in `bytes`.
    phrases: Vec<(u32, u32)>,
    bytes: Vec<u8>,
    /// Tagged words inside phrases, that a match passes over without a lookup ([`Cand::inner`]):
    /// offset from the phrase's leading space, and tag.
    inner: Vec<(u32, u32)>,
}

/// One distinct first token and the phrases that begin with it.
#[derive(Debug, Clone, Copy)]
struct Key {
    /// The token's first eight bytes packed into a word ([`token`]).
    word: u64,
    /// Its next eight bytes packed the same way (zero for a token of at most eight bytes).
    tail: u64,
    /// Start and length of the token in `bytes` (the bytes after the sixteenth are compared
    /// there).
    start: u32,
    len: u32,
    /// Range of its phrases in `order`.
    first: u32,
    count: u32,
    /// How many of those go on past the token (they come first: they are longer).
    multi: u32,
    /// A bit `b & 63` for the byte `b` that each of those needs right after the space that
    /// ends the token (the first byte of its second token): when the text's byte there has
    /// no bit, none of them can match and only the phrases of the token alone are tried.
    seconds: u64,
    /// Where this token's buckets start in [`PhraseSet::buckets`]: one for each bit of
    /// `seconds`, in the order of the bits. The bucket of bit `k` holds, in the order of
    /// `order`, the phrases that go on past the token and may have a byte with bit `k` there,
    /// then the phrases of the token alone: only those can match when the text's byte has
    /// bit `k`. A frequent first token ("no", "is") begins dozens of phrases, and its bucket
    /// holds a few.
    buckets: u32,
    /// Where this token's sixty-four entries start in [`PhraseSet::ranks`], when it has
    /// buckets.
    ranks: u32,
    /// The token's tag ([`PhraseSet::with_tags`]), 0 when it has none. A tagged word that
    /// begins no phrase has an entry of its own, with no phrases.
    tag: u32,
}

/// A phrase among those that begin with one first token.
#[derive(Debug, Clone, Copy)]
struct Cand {
    /// The phrase's bytes after its first token (from the space that ends it) followed by
    /// the space that must come after the phrase, when those are at most eight bytes; else
    /// the first eight of them. Packed as [`load`] reads them, with the mask of those bytes:
    /// nearly every phrase is matched or ruled out, token bound included, by one masked
    /// compare of a word, and a longer one is compared further only when its first eight
    /// bytes match.
    next: u64,
    mask: u64,
    /// When the rest is longer ([`SHORT_REST`] bytes or more): its last seven bytes and the
    /// space after it, packed as [`load`] reads them. With [`Cand::next`], one compare of the
    /// word that ends at the space rules out or matches a rest of fewer than [`LONG_REST`]
    /// bytes; a longer one compares the bytes between the two words one by one.
    last: u64,
    /// Length of the phrase after its first token, and where those bytes start in `bytes`.
    rest: u32,
    at: u32,
    /// Phrase id.
    id: u32,
    /// Spaces in the phrase (its leading one included): its number of tokens.
    spaces: u32,
    /// Start and length in [`PhraseSet::inner`] of the tagged words inside the phrase, when
    /// the set has tags ([`PhraseSet::with_tags`]); else empty. Kept here, beside what a
    /// match reads anyway, so that a match of a phrase without any costs one test.
    inner: u32,
    inner_len: u32,
}

/// [`Cand::rest`] below this: the phrase and the space after it fit in [`Cand::next`].
const SHORT_REST: usize = 8;

/// [`Cand::rest`] below this: [`Cand::next`] and [`Cand::last`] cover the phrase and the space
/// after it.
const LONG_REST: usize = 16;

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;
const SPACES: u64 = 0x2020_2020_2020_2020;

/// Eight bytes of `b` at `i` as a little-endian word (`i + 8 <= b.len()`).
#[inline(always)]
fn load(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(w)
}

/// Index of the first space among the eight bytes of `w`, if any. On x86-64, one byte compare
/// of the word moved to a vector register and a `movemask`: fewer instructions than
/// [`first_space_in_word`], and no word constants, which would take three general registers
/// from the scan's loop (spilling what it keeps live across tokens).
#[inline(always)]
fn first_space(w: u64) -> Option<usize> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        use std::arch::x86_64::*;
        // The upper eight bytes of the vector are zero: no space there.
        // SAFETY: register operations only, of SSE2, which this build enables (the `cfg`).
        let m = unsafe {
            let v = _mm_cvtsi64_si128(w as i64);
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8))) as u32
        };
        (m != 0).then(|| m.trailing_zeros() as usize)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        first_space_in_word(w)
    }
}

/// [`first_space`] as a word-at-a-time zero test, whose lowest flagged byte is always a true
/// space (a false flag can only sit above one).
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
#[inline(always)]
fn first_space_in_word(w: u64) -> Option<usize> {
    let x = w ^ SPACES;
    let z = x.wrapping_sub(LO) & !x & HI;
    (z != 0).then(|| z.trailing_zeros() as usize / 8)
}

/// The token that starts at `t` in `hay`: where it ends (the next space, or the end of `hay`),
/// its first eight bytes packed into a little-endian word, zero above the token's end, and
/// its next eight bytes packed the same way (zero for a token of at most eight bytes).
/// Most tokens are found with one word load, and a token of up to sixteen bytes with two;
/// the bytes are read one at a time only within eight bytes of the end of `hay`.
#[inline(always)]
fn token(hay: &[u8], t: usize) -> (usize, u64, u64) {
    let n = hay.len();
    if t + 8 <= n {
        let w = load(hay, t);
        if let Some(k) = first_space(w) {
            // k < 8; a shift by 8 * k of a u64 never overflows.
            let word = w & ((1u64 << (8 * k)) - 1);
            return (t + k, word, 0);
        }
        let mut e = t + 8;
        let mut tail = 0u64;
        if e + 8 <= n {
            let w2 = load(hay, e);
            if let Some(k) = first_space(w2) {
                return (e + k, w, w2 & ((1u64 << (8 * k)) - 1));
            }
            tail = w2;
            e += 8;
            while e + 8 <= n {
                if let Some(k) = first_space(load(hay, e)) {
                    return (e + k, w, tail);
                }
                e += 8;
            }
        }
        while e < n && hay[e] != b' ' {
            // Bytes eight to fifteen of the token go to `tail` (those of a token whose
            // second word was loaded are there already).
            if e - t < 16 {
                tail |= (hay[e] as u64) << (8 * (e - t - 8));
            }
            e += 1;
        }
        return (e, w, tail);
    }
    let mut word = 0u64;
    let mut e = t;
    while e < n && hay[e] != b' ' {
        if e - t < 8 {
            word |= (hay[e] as u64) << (8 * (e - t));
        }
        e += 1;
    }
    // Fewer than eight bytes were left: the token has no bytes past its eighth.
    (e, word, 0)
}

/// Slot of a token with packed first bytes `word` and length `len`: the top bits of one
/// multiply.
#[inline(always)]
fn slot(word: u64, len: usize, shift: u32) -> usize {
    ((word ^ ((len as u64) << 59)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize
}

/// The first eight bytes of `token` and its next eight, each packed into a little-endian word
/// zero above the token's end, as [`token`] reads them.
fn packed(token: &[u8]) -> (u64, u64) {
    let mut w = [0u8; 16];
    let k = token.len().min(16);
    w[..k].copy_from_slice(&token[..k]);
    (load(&w, 0), load(&w, 8))
}

/// Byte equality, inline for the short slices compared here (a library call costs more than
/// comparing a word or two): eight bytes at a time, the last word overlapping the one before.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let mut i = 0;
    while i + 8 < n {
        if load(a, i) != load(b, i) {
            return false;
        }
        i += 8;
    }
    load(a, n - 8) == load(b, n - 8)
}

impl PhraseSet {
    /// A set of `phrases`, each a folded phrase with a leading space (`" wedge deformity"`).
    /// Phrase ids are indices into `phrases`. An error names the first phrase that holds no
    /// token.
    pub fn new<S: AsRef<str>>(phrases: &[S]) -> Result<PhraseSet, String> {
        PhraseSet::with_tags(phrases, &[])
    }

    /// As [`PhraseSet::new`], with tagged words: [`PhraseSet::for_each_match_tagged`] reports,
    /// besides the matches, every token of the text that is one of `tags` (a word of ASCII
    /// lowercase letters and digits, with its tag, not 0), and every run of ASCII letters and
    /// digits equal to one inside a matched phrase. A token that holds other bytes is never
    /// a tagged word, though a run of it may be one (see
    /// [`PhraseSet::for_each_match_tagged`]). Tags do not change the matches.
    pub fn with_tags<S: AsRef<str>>(
        phrases: &[S],
        tags: &[(&str, u32)],
    ) -> Result<PhraseSet, String> {
        let mut set = PhraseSet::default();
        // (first token, phrase length, phrase id) for grouping.
        let mut firsts: Vec<(&[u8], usize, u32)> = Vec::with_capacity(phrases.len());
        for (id, p) in phrases.iter().enumerate() {
            let b = p.as_ref().as_bytes();
            let body = b.strip_prefix(b" ").unwrap_or(b);
            let first_len = body.iter().position(|&c| c == b' ').unwrap_or(body.len());
            if first_len == 0 {
                return Err(format!("phrase {:?} holds no word", p.as_ref()));
            }
            let start = set.bytes.len() as u32;
            set.bytes.push(b' ');
            set.bytes.extend_from_slice(body);
            set.phrases.push((start, body.len() as u32 + 1));
            firsts.push((&body[..first_len], body.len(), id as u32));
        }
        // Group by first token; longest phrase first, then the lower id.
        firsts.sort_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        let mut i = 0;
        while i < firsts.len() {
            let token = firsts[i].0;
            let mut j = i;
            let mut multi = 0;
            let mut seconds = 0u64;
            while j < firsts.len() && firsts[j].0 == token {
                let id = firsts[j].2;
                let (start, len) = set.phrases[id as usize];
                let at = start as usize + 1 + token.len();
                let rest = &set.bytes[at..(start + len) as usize];
                let mut next = [0u8; 8];
                // The rest and the space after it, or the first eight bytes of the rest.
                let k = if rest.len() < SHORT_REST {
                    next[rest.len()] = b' ';
                    rest.len() + 1
                } else {
                    8
                };
                next[..k.min(rest.len())].copy_from_slice(&rest[..k.min(rest.len())]);
                // The last seven bytes of a longer rest and the space after it.
                let mut last = [b' '; 8];
                if rest.len() >= SHORT_REST {
                    last[..7].copy_from_slice(&rest[rest.len() - 7..]);
                }
                if !rest.is_empty() {
                    multi += 1;
                    // The byte after the token's space: the second token's first, or the
                    // space after the phrase. A phrase that ends in a space is always tried.
                    seconds |= match rest.get(1) {
                        Some(&b) => 1 << (b & 63),
                        None => u64::MAX,
                    };
                }
                set.order.push(Cand {
                    next: u64::from_le_bytes(next),
                    mask: if k == 8 {
                        u64::MAX
                    } else {
                        (1u64 << (8 * k)) - 1
                    },
                    last: u64::from_le_bytes(last),
                    rest: rest.len() as u32,
                    at: at as u32,
                    id,
                    spaces: set.bytes[start as usize..(start + len) as usize]
                        .iter()
                        .filter(|&&c| c == b' ')
                        .count() as u32,
                    inner: 0,
                    inner_len: 0,
                });
                j += 1;
            }
            let id = firsts[i].2 as usize;
            let start = set.phrases[id].0 + 1;
            let (word, tail) = packed(token);
            set.leads[usize::from(token[0] >> 6)] |= 1 << (token[0] & 63);
            set.keys.push(Key {
                word,
                tail,
                start,
                len: token.len() as u32,
                first: i as u32,
                count: (j - i) as u32,
                multi,
                seconds,
                buckets: 0,
                ranks: 0,
                tag: 0,
            });
            i = j;
        }
        // The ranks of every token with one bucket.
        set.ranks.resize(64, 0);
        for key in &mut set.keys {
            key.buckets = set.buckets.len() as u32;
            // A token with one bucket reads rank 0 for its one bit: the block of zeros at the
            // start of the table serves all of them.
            if key.seconds.count_ones() == 1 {
                key.ranks = 0;
            } else if key.seconds != 0 {
                key.ranks = set.ranks.len() as u32;
                // Bit `k`'s rank is that of bit `k - 1`, plus one when bit `k - 1` is set.
                let mut ranks = [0u8; 64];
                for k in 1..64 {
                    ranks[k] = ranks[k - 1] + (key.seconds >> (k - 1) & 1) as u8;
                }
                set.ranks.extend_from_slice(&ranks);
            }
            let phrases = &set.order[key.first as usize..(key.first + key.count) as usize];
            let (multi, alone) = phrases.split_at(key.multi as usize);
            let mut bits = key.seconds;
            while bits != 0 {
                let bit = bits.trailing_zeros();
                let start = set.bucketed.len() as u32;
                for c in multi {
                    // The byte after the token's space, as `seconds` was made: a phrase
                    // without one (it ends in a space) set every bit and is in every bucket.
                    let second = (c.rest >= 2).then(|| set.bytes[c.at as usize + 1]);
                    if second.map_or(true, |b| u32::from(b & 63) == bit) {
                        set.bucketed.push(*c);
                    }
                }
                set.bucketed.extend_from_slice(alone);
                set.buckets.push((start, set.bucketed.len() as u32 - start));
                bits &= bits - 1;
            }
        }
        set.add_tags(tags);
        set.leads[usize::from(b' ' >> 6)] |= 1 << (b' ' & 63);
        let size = (set.keys.len() * 4).next_power_of_two().max(16);
        set.shift = 64 - size.trailing_zeros();
        set.slots = vec![u32::MAX; size];
        for (k, key) in set.keys.iter().enumerate() {
            let mut at = slot(key.word, key.len as usize, set.shift);
            while set.slots[at] != u32::MAX {
                at = (at + 1) & (size - 1);
            }
            set.slots[at] = k as u32;
        }
        Ok(set)
    }

    /// Gives the first tokens that are tagged words their tags, adds an entry without
    /// phrases for each other tagged word, and lists the tagged words inside each phrase
    /// (every run of ASCII letters and digits but the first token's, when that token is all
    /// such bytes: its entry reports it).
    fn add_tags(&mut self, tags: &[(&str, u32)]) {
        let tags: Vec<(&[u8], u32)> = tags
            .iter()
            .filter(|&&(w, tag)| {
                tag != 0
                    && !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
            .map(|&(w, tag)| (w.as_bytes(), tag))
            .collect();
        if tags.is_empty() {
            return;
        }
        let mut keys: std::collections::HashMap<Vec<u8>, usize> = self
            .keys
            .iter()
            .enumerate()
            .map(|(k, key)| {
                let at = key.start as usize;
                (self.bytes[at..at + key.len as usize].to_vec(), k)
            })
            .collect();
        for &(w, tag) in &tags {
            if let Some(&k) = keys.get(w) {
                self.keys[k].tag = tag;
                continue;
            }
            let start = self.bytes.len() as u32;
            self.bytes.extend_from_slice(w);
            let (word, tail) = packed(w);
            if w.len() == 1 {
                // A one-byte token is looked up only when its byte begins an entry.
                self.leads[usize::from(w[0] >> 6)] |= 1 << (w[0] & 63);
            }
            keys.insert(w.to_vec(), self.keys.len());
            self.keys.push(Key {
                word,
                tail,
                start,
                len: w.len() as u32,
                first: 0,
                count: 0,
                multi: 0,
                seconds: 0,
                buckets: self.buckets.len() as u32,
                ranks: 0,
                tag,
            });
        }
        let tag_of: std::collections::HashMap<&[u8], u32> = tags.iter().copied().collect();
        // Per phrase: start and length in `inner` of its tagged words.
        let mut tagged: Vec<(u32, u32)> = Vec::with_capacity(self.phrases.len());
        for &(start, len) in &self.phrases {
            let p = &self.bytes[start as usize..(start + len) as usize];
            let from = self.inner.len() as u32;
            // The first token (after the leading space).
            let first_end = p[1..]
                .iter()
                .position(|&c| c == b' ')
                .map_or(p.len(), |k| k + 1);
            let first_plain = p[1..first_end].iter().all(u8::is_ascii_alphanumeric);
            let mut i = if first_plain { first_end } else { 1 };
            while i < p.len() {
                if !p[i].is_ascii_alphanumeric() {
                    i += 1;
                    continue;
                }
                let run = i;
                while i < p.len() && p[i].is_ascii_alphanumeric() {
                    i += 1;
                }
                if let Some(&tag) = tag_of.get(&p[run..i]) {
                    self.inner.push((run as u32, tag));
                }
            }
            tagged.push((from, self.inner.len() as u32 - from));
        }
        for c in self.order.iter_mut().chain(self.bucketed.iter_mut()) {
            (c.inner, c.inner_len) = tagged[c.id as usize];
        }
    }

    /// Number of phrases.
    pub fn len(&self) -> usize {
        self.phrases.len()
    }

    /// Whether the set holds no phrase.
    pub fn is_empty(&self) -> bool {
        self.phrases.is_empty()
    }

    /// The entry of the token `hay[t..e]` (packed first bytes `word` and next bytes `tail`,
    /// as [`token`] reads them), if phrases begin with it.
    #[inline(always)]
    fn lookup(&self, hay: &[u8], t: usize, e: usize, word: u64, tail: u64) -> Option<&Key> {
        let len = e - t;
        let mask = self.slots.len() - 1;
        let mut at = slot(word, len, self.shift);
        loop {
            let k = self.slots[at];
            if k == u32::MAX {
                return None;
            }
            let key = &self.keys[k as usize];
            if key.word == word
                && key.len as usize == len
                && (len <= 8
                    || key.tail == tail && (len <= 16 || self.same_past_sixteen(key, hay, t, e)))
            {
                return Some(key);
            }
            at = (at + 1) & mask;
        }
    }

    /// Whether the bytes after the sixteenth of the token `hay[t..e]` are those of `key`'s
    /// token, which has its length. Out of line: few tokens are that long, and inline, the
    /// scan would bound the slices compared here for every token it looks up.
    #[cold]
    #[inline(never)]
    fn same_past_sixteen(&self, key: &Key, hay: &[u8], t: usize, e: usize) -> bool {
        same(
            &self.bytes[key.start as usize + 16..(key.start + key.len) as usize],
            &hay[t + 16..e],
        )
    }

    /// Calls `f(start, end, id)` for every leftmost-longest, token-bounded match in `hay`, a
    /// folded view (tokens separated by single spaces, with a space at each end). `start` is
    /// the position of the space before the phrase's first token, `end` that of the space
    /// after its last one. When the longest phrase at a token ends inside a word
    /// ("degenerative spur" in "degenerative spurring"), the longest shorter one that ends on
    /// a token is taken.
    pub fn for_each_match(&self, hay: &[u8], mut f: impl FnMut(usize, usize, u32)) {
        self.scan::<true>(hay, |s, e, id, _, _| f(s, e, id), |_, _| {})
    }

    /// As [`PhraseSet::for_each_match`], calling `f(start, end, id, spaces_start, spaces_end)`
    /// with the number of spaces in `hay[..start]` and in `hay[..end]` too (counted as the scan
    /// goes), so that the tokens between two matches are a subtraction.
    pub fn for_each_match_counted(&self, hay: &[u8], f: impl FnMut(usize, usize, u32, u32, u32)) {
        self.scan::<true>(hay, f, |_, _| {})
    }

    /// As [`PhraseSet::for_each_match_counted`], calling `g(at, tag)` too, in text order, for
    /// every tagged word ([`PhraseSet::with_tags`]) at `hay[at..]`: each token that is one,
    /// and each run of ASCII letters and digits that is one inside a match. Runs of ASCII
    /// letters and digits inside a token that holds other bytes (`café`) and is not inside a
    /// match are not reported: a caller that needs them reads such tokens itself.
    pub fn for_each_match_tagged(
        &self,
        hay: &[u8],
        f: impl FnMut(usize, usize, u32, u32, u32),
        g: impl FnMut(usize, u32),
    ) {
        self.scan::<true>(hay, f, g)
    }

    /// As [`PhraseSet::for_each_match`], except that when the longest phrase at a token ends
    /// inside a word, nothing is taken there and the scan goes on after that word, as a
    /// non-overlapping leftmost-longest automaton search that drops such matches does.
    pub fn for_each_longest(&self, hay: &[u8], mut f: impl FnMut(usize, usize, u32)) {
        self.scan::<false>(hay, |s, e, id, _, _| f(s, e, id), |_, _| {})
    }

    /// As [`PhraseSet::for_each_longest`], looking only at the tokens that start at `starts`
    /// instead of walking the whole text: `starts` are positions in `hay`, in increasing
    /// order, among them the start of every token of `hay` that begins a phrase of this set
    /// (other positions, also those that start no token, are passed over). A scan of `hay`
    /// made anyway with another set that has the first tokens of these phrases as tagged
    /// words ([`PhraseSet::with_tags`]) gives such positions. Unordered `starts` are read as
    /// if sorted.
    pub fn for_each_longest_from(
        &self,
        hay: &[u8],
        starts: &[u32],
        mut f: impl FnMut(usize, usize, u32),
    ) {
        if self.keys.is_empty() {
            return;
        }
        if !starts.windows(2).all(|w| w[0] <= w[1]) {
            let mut sorted = starts.to_vec();
            sorted.sort_unstable();
            return self.for_each_longest_from(hay, &sorted, f);
        }
        let n = hay.len();
        // The walk of `for_each_longest` goes from space to space: it reads a token that
        // starts after `p`, the space where it went on after the last match (or after the
        // word in which the longest phrase ended), and passes over the others.
        let Some(mut p) = hay.iter().position(|&c| c == b' ') else {
            return;
        };
        for &t in starts {
            let t = t as usize;
            if t <= p || t >= n || hay[t - 1] != b' ' {
                continue;
            }
            let (e, word, tail) = token(hay, t);
            if e == t {
                continue;
            }
            let Some(key) = self.lookup(hay, t, e, word, tail) else {
                continue;
            };
            // From here as the walk does at a token it finds in the table.
            let after = crate::text::load8(hay, e);
            for c in self.candidates(key, after) {
                let end = e + c.rest as usize;
                if self.taken(c, hay, e, after) {
                    f(t - 1, end, c.id);
                    p = end;
                    break;
                }
                if end <= n && self.ends_inside_word(c, hay, e, after) {
                    p = hay[end..]
                        .iter()
                        .position(|&c| c == b' ')
                        .map_or(n, |k| end + k);
                    break;
                }
            }
        }
    }

    /// The scan behind the `for_each_*` methods; `SHORTER` tells whether a shorter phrase is
    /// tried when a longer one ends inside a word; `g` is told of tagged words.
    fn scan<const SHORTER: bool>(
        &self,
        hay: &[u8],
        mut f: impl FnMut(usize, usize, u32, u32, u32),
        mut g: impl FnMut(usize, u32),
    ) {
        if self.keys.is_empty() {
            return;
        }
        let n = hay.len();
        // `p` is always a space: the one before the next token.
        let Some(mut p) = hay.iter().position(|&c| c == b' ') else {
            return;
        };
        // Spaces in `hay[..p]`.
        let mut spaces = 0u32;
        while p + 1 < n {
            let t = p + 1;
            if hay.get(t + 1) == Some(&b' ')
                && self.leads[usize::from(hay[t] >> 6)] >> (hay[t] & 63) & 1 == 0
            {
                // A one-byte token that begins no phrase.
                p = t + 1;
                spaces += 1;
                continue;
            }
            let (e, word, tail) = token(hay, t);
            if e == t {
                // Two spaces in a row (not made by folding): step over one.
                p = t;
                spaces += 1;
                continue;
            }
            let mut next = e;
            // Spaces in `hay[p..next]`: the one at `p` unless a phrase is taken or skipped.
            let mut passed = 1;
            if let Some(key) = self.lookup(hay, t, e, word, tail) {
                if key.tag != 0 {
                    g(t, key.tag);
                }
                // Eight bytes from the end of the token: for most phrases, all of the rest
                // and the space after it.
                let after = crate::text::load8(hay, e);
                for c in self.candidates(key, after) {
                    let end = e + c.rest as usize;
                    if self.taken(c, hay, e, after) {
                        f(p, end, c.id, spaces, spaces + c.spaces);
                        if c.inner_len != 0 {
                            let inner = c.inner as usize..(c.inner + c.inner_len) as usize;
                            for &(at, tag) in &self.inner[inner] {
                                g(p + at as usize, tag);
                            }
                        }
                        next = end;
                        passed = c.spaces;
                        break;
                    }
                    if !SHORTER && end <= n && self.ends_inside_word(c, hay, e, after) {
                        passed = c.spaces;
                        // The longest phrase here ends inside a word: resume at that word's
                        // end.
                        next = hay[end..]
                            .iter()
                            .position(|&c| c == b' ')
                            .map_or(n, |k| end + k);
                        break;
                    }
                }
            }
            p = next;
            spaces += passed;
        }
    }

    /// Whether the bytes of phrase `c` follow its first token, which ends at `e` in `hay`
    /// (`after` holds the eight bytes from there as [`crate::text::load8`] reads them, zero past
    /// the end, so a compare whose last byte is a space cannot match past it), when `c` was not
    /// taken there: the phrase then ends inside a word. `e + c.rest <= hay.len()`.
    /// The phrases of `key`'s token that may follow it, given `after`, the eight bytes from the
    /// token's end: those whose second token begins with the byte after the space (one
    /// bucket), or those of the token alone when no phrase's does.
    #[inline(always)]
    fn candidates(&self, key: &Key, after: u64) -> &[Cand] {
        let second = (after >> 8) & 63;
        if key.seconds >> second & 1 == 0 {
            &self.order[(key.first + key.multi) as usize..(key.first + key.count) as usize]
        } else {
            let rank = u32::from(self.ranks[(key.ranks + second as u32) as usize]);
            let (start, len) = self.buckets[(key.buckets + rank) as usize];
            &self.bucketed[start as usize..(start + len) as usize]
        }
    }

    /// Whether candidate `c` matches the bytes after a token that ends at `e` (`after`: the
    /// eight bytes from there), ending before a space: one masked compare for a short rest,
    /// else the first eight bytes, the word that ends with the space after the phrase, and
    /// for a long rest the bytes between them.
    #[inline(always)]
    fn taken(&self, c: &Cand, hay: &[u8], e: usize, after: u64) -> bool {
        let rest = c.rest as usize;
        let end = e + rest;
        if rest < SHORT_REST {
            after & c.mask == c.next
        } else {
            // `end - 7 > e`: the word read is inside `hay` when `end` is.
            after == c.next
                && end < hay.len()
                && load(hay, end - 7) == c.last
                && (rest < LONG_REST
                    || same(
                        &hay[e + 8..end - 7],
                        &self.bytes[c.at as usize + 8..c.at as usize + rest - 7],
                    ))
        }
    }

    fn ends_inside_word(&self, c: &Cand, hay: &[u8], e: usize, after: u64) -> bool {
        let rest = c.rest as usize;
        if rest < SHORT_REST {
            // The compare without the space after the phrase.
            (after ^ c.next) & (c.mask >> 8) == 0
        } else {
            let at = c.at as usize;
            same(&hay[e..e + rest], &self.bytes[at..at + rest])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};
    use proptest::strategy::Strategy;

    fn folded(s: &str) -> Vec<u8> {
        let mut f = crate::text::Folded::default();
        f.fold(s);
        f.bytes
    }

    fn matches(set: &PhraseSet, hay: &[u8]) -> Vec<(usize, usize, u32)> {
        let mut out = Vec::new();
        set.for_each_match(hay, |s, e, id| out.push((s, e, id)));
        out
    }

    #[test]
    fn longest_whole_token_match_wins() {
        let p = [
            " degenerative",
            " degenerative spur",
            " spur",
            " no",
            " no acute",
        ];
        let set = PhraseSet::new(&p).unwrap();
        let hay = folded("No acute degenerative spurring; degenerative spur noted.");
        let got: Vec<&str> = matches(&set, &hay)
            .into_iter()
            .map(|(_, _, id)| p[id as usize])
            .collect();
        assert_eq!(got, [" no acute", " degenerative", " degenerative spur"]);
    }

    #[test]
    fn longest_only_mode_drops_a_match_that_ends_inside_a_word() {
        let p = [" degenerative", " degenerative spur", " spurring"];
        let set = PhraseSet::new(&p).unwrap();
        let hay = folded("degenerative spurring. degenerative spurring");
        let mut got = Vec::new();
        set.for_each_longest(&hay, |_, _, id| got.push(p[id as usize]));
        assert!(got.is_empty(), "{got:?}");
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(p)
            .unwrap();
        let kept = ac
            .find_iter(hay.as_slice())
            .filter(|m| hay.get(m.end()) == Some(&b' '))
            .count();
        assert_eq!(kept, 0);
    }

    #[test]
    fn a_phrase_without_a_word_is_refused() {
        assert!(PhraseSet::new(&[" "]).is_err());
        assert!(PhraseSet::new(&[""]).is_err());
        assert!(PhraseSet::new::<&str>(&[]).unwrap().is_empty());
    }

    /// The same matches as a leftmost-longest automaton whose matches must end on a token,
    /// trying shorter phrases at the same start when the longest ends inside a word.
    fn automaton(ac: &AhoCorasick, hay: &[u8]) -> Vec<(usize, usize, u32)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < hay.len() {
            let Some(mut m) = ac.find(Input::new(hay).range(pos..)) else {
                break;
            };
            loop {
                if hay.get(m.end()) == Some(&b' ') {
                    out.push((m.start(), m.end(), m.pattern().as_u32()));
                    pos = m.end();
                    break;
                }
                match ac.find(Input::new(hay).range(m.start()..m.end() - 1)) {
                    Some(s) if s.start() == m.start() => m = s,
                    _ => {
                        pos = m.start() + 1;
                        break;
                    }
                }
            }
        }
        out
    }

    /// The spaces that the counted scan reports are those before each match's ends.
    fn counts_agree(
        set: &PhraseSet,
        hay: &[u8],
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let mut got = Vec::new();
        set.for_each_match_counted(hay, |s, e, id, ss, se| got.push((s, e, id, ss, se)));
        let spaces = |k: usize| hay[..k].iter().filter(|&&c| c == b' ').count() as u32;
        let want: Vec<_> = matches(set, hay)
            .into_iter()
            .map(|(s, e, id)| (s, e, id, spaces(s), spaces(e)))
            .collect();
        proptest::prop_assert_eq!(got, want);
        Ok(())
    }

    /// Every match, the counted scan and the longest matches of `set` agree with `ac` on `hay`
    /// (the longest ones with the automaton's matches that end before a space).
    fn agrees_with(
        set: &PhraseSet,
        ac: &AhoCorasick,
        hay: &[u8],
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        proptest::prop_assert_eq!(matches(set, hay), automaton(ac, hay));
        counts_agree(set, hay)?;
        let mut longest = Vec::new();
        set.for_each_longest(hay, |s, e, id| longest.push((s, e, id)));
        let kept: Vec<_> = ac
            .find_iter(hay)
            .filter(|m| hay.get(m.end()) == Some(&b' '))
            .map(|m| (m.start(), m.end(), m.pattern().as_u32()))
            .collect();
        proptest::prop_assert_eq!(&longest, &kept);
        // Looking only at given token starts finds the same, given every position, or only
        // the starts of the tokens that begin a phrase, with other positions among them.
        let from = |starts: &[u32]| {
            let mut got = Vec::new();
            set.for_each_longest_from(hay, starts, |s, e, id| got.push((s, e, id)));
            got
        };
        let every: Vec<u32> = (0..hay.len() as u32).collect();
        proptest::prop_assert_eq!(&from(&every), &longest);
        let firsts: Vec<u32> = (1..hay.len())
            .filter(|&t| {
                let e = hay[t..]
                    .iter()
                    .position(|&c| c == b' ')
                    .map_or(hay.len(), |k| t + k);
                hay[t - 1] == b' '
                    && set.phrases.iter().any(|&(start, len)| {
                        let p = &set.bytes[start as usize + 1..(start + len) as usize];
                        let first = p.iter().position(|&c| c == b' ').map_or(p, |k| &p[..k]);
                        !first.is_empty() && first == &hay[t..e]
                    })
            })
            .map(|t| t as u32)
            .collect();
        proptest::prop_assert_eq!(&from(&firsts), &longest);
        let mut noisy: Vec<u32> = firsts.iter().flat_map(|&t| [t, t + 1]).collect();
        noisy.push(hay.len() as u32 + 3);
        proptest::prop_assert_eq!(&from(&noisy), &longest);
        noisy.reverse();
        proptest::prop_assert_eq!(&from(&noisy), &longest);
        Ok(())
    }

    /// [`agrees_with`] a leftmost-longest automaton of `phrases`, on the text of `words`
    /// (each followed by its count of spaces) after a leading space.
    fn agrees_on_words(
        set: &PhraseSet,
        phrases: &[String],
        words: &[(String, usize)],
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(phrases)
            .unwrap();
        let mut hay = b" ".to_vec();
        for (w, spaces) in words {
            hay.extend_from_slice(w.as_bytes());
            hay.extend(std::iter::repeat_n(b' ', *spaces));
        }
        agrees_with(set, &ac, &hay)
    }

    /// [`token`] read one byte at a time.
    fn token_bytewise(hay: &[u8], t: usize) -> (usize, u64, u64) {
        let e = hay[t..]
            .iter()
            .position(|&c| c == b' ')
            .map_or(hay.len(), |k| t + k);
        let mut w = [0u8; 16];
        let k = (e - t).min(16);
        w[..k].copy_from_slice(&hay[t..t + k]);
        let word = |i: usize| u64::from_le_bytes(w[i..i + 8].try_into().unwrap());
        (e, word(0), word(8))
    }

    /// The entry of the token `hay[t..e]`, found by comparing its bytes with every first
    /// token's.
    fn lookup_bytewise(set: &PhraseSet, hay: &[u8], t: usize, e: usize) -> Option<usize> {
        set.keys.iter().position(|key| {
            set.bytes[key.start as usize..(key.start + key.len) as usize] == hay[t..e]
        })
    }

    /// Whether candidate `c` matches after a token that ends at `e`, compared byte by byte:
    /// its rest, then a space.
    fn taken_bytewise(set: &PhraseSet, c: &Cand, hay: &[u8], e: usize) -> bool {
        let rest = &set.bytes[c.at as usize..(c.at + c.rest) as usize];
        hay.get(e..e + rest.len()) == Some(rest) && hay.get(e + rest.len()) == Some(&b' ')
    }

    /// At every token of `hay`, the table finds the entry that a byte compare with every
    /// first token finds, and each of the token's phrases is taken where its bytes and a
    /// space follow.
    fn lookups_agree(
        set: &PhraseSet,
        hay: &[u8],
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        for t in 1..hay.len() {
            if hay[t - 1] != b' ' || hay[t] == b' ' {
                continue;
            }
            let (e, word, tail) = token(hay, t);
            let got = set
                .lookup(hay, t, e, word, tail)
                .and_then(|key| set.keys.iter().position(|k| std::ptr::eq(k, key)));
            proptest::prop_assert_eq!(got, lookup_bytewise(set, hay, t, e));
            let Some(key) = got.map(|k| &set.keys[k]) else {
                continue;
            };
            let after = crate::text::load8(hay, e);
            for c in &set.order[key.first as usize..(key.first + key.count) as usize] {
                proptest::prop_assert_eq!(
                    set.taken(c, hay, e, after),
                    taken_bytewise(set, c, hay, e)
                );
            }
        }
        Ok(())
    }

    /// Words of one to twelve bytes, half of them sharing their first eight bytes.
    const WORD: &str = "(aaaaaaaa)?[ab]{1,4}";

    /// Words of one to twenty-six bytes, most of them sharing their first eight or sixteen
    /// bytes with others.
    const LONG_WORD: &str = "(aaaaaaaa){0,2}[ab]{1,10}";

    /// Words of bytes that fall in the same bucket two by two (`a` and `!`, `b` and `"`
    /// have the same low six bits).
    const COLLIDING: &str = "[a!b\"]{1,3}";

    /// Every bucket holds the phrases of its first token that may match when the byte after
    /// the token's space has its bit, in order: those that go on past the token with that
    /// bit there or with no byte there, then those of the token alone.
    fn buckets_agree(set: &PhraseSet) -> Result<(), proptest::test_runner::TestCaseError> {
        for key in &set.keys {
            let phrases = &set.order[key.first as usize..(key.first + key.count) as usize];
            for bit in 0..64u32 {
                if key.seconds >> bit & 1 == 0 {
                    continue;
                }
                let rank = (key.seconds & ((1u64 << bit) - 1)).count_ones();
                // The table the scan reads the rank from holds the count of the bits below.
                proptest::prop_assert_eq!(u32::from(set.ranks[(key.ranks + bit) as usize]), rank);
                let (start, len) = set.buckets[(key.buckets + rank) as usize];
                let got: Vec<u32> = set.bucketed[start as usize..(start + len) as usize]
                    .iter()
                    .map(|c| c.id)
                    .collect();
                let want: Vec<u32> = phrases
                    .iter()
                    .filter(|c| {
                        let rest = &set.bytes[c.at as usize..(c.at + c.rest) as usize];
                        rest.is_empty() || rest.get(1).map_or(true, |&b| u32::from(b & 63) == bit)
                    })
                    .map(|c| c.id)
                    .collect();
                proptest::prop_assert_eq!(got, want);
            }
        }
        Ok(())
    }

    /// The tagged words a tagged scan must report: every run of ASCII letters and digits of
    /// `hay` equal to a tagged word that is a whole token or lies inside a match, in order.
    fn tags_plain(set: &PhraseSet, tags: &[(&str, u32)], hay: &[u8]) -> Vec<(usize, u32)> {
        let found = matches(set, hay);
        let mut out = Vec::new();
        let mut i = 0;
        while i < hay.len() {
            if !hay[i].is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
            let start = i;
            while i < hay.len() && hay[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let whole = hay.get(start.wrapping_sub(1)) == Some(&b' ') && hay.get(i) == Some(&b' ');
            let inside = found.iter().any(|&(s, e, _)| s < start && i <= e);
            if let Some(&(_, tag)) = tags.iter().find(|(w, _)| w.as_bytes() == &hay[start..i]) {
                if whole || inside {
                    out.push((start, tag));
                }
            }
        }
        out
    }

    proptest::proptest! {
        /// Tags change no match, and the tagged scan reports the tagged words that are whole
        /// tokens or inside matches, also beside bytes outside ASCII.
        #[test]
        fn tagged_scan_reports_whole_tokens_and_words_inside_matches(
            phrases in proptest::collection::btree_set(
                proptest::collection::vec("(aaaaaaaa)?[ab]{1,3}|a\u{e9}b?|[.]", 1..4)
                    .prop_map(|w| format!(" {}", w.join(" "))),
                1..12,
            ),
            tags in proptest::collection::btree_set("(aaaaaaaa)?[ab]{1,3}", 0..8),
            text in proptest::collection::vec("(aaaaaaaa)?[ab]{1,3}|a\u{e9}b?|\u{e9}|[.,-]", 0..40),
        ) {
            let phrases: Vec<String> = phrases.into_iter().collect();
            let tags: Vec<(&str, u32)> = tags
                .iter()
                .enumerate()
                .map(|(i, w)| (w.as_str(), i as u32 + 1))
                .collect();
            let plain = PhraseSet::new(&phrases).unwrap();
            let tagged = PhraseSet::with_tags(&phrases, &tags).unwrap();
            let hay = folded(&text.join(" "));
            let (mut got, mut reported) = (Vec::new(), Vec::new());
            tagged.for_each_match_tagged(
                &hay,
                |s, e, id, ss, se| got.push((s, e, id, ss, se)),
                |at, tag| reported.push((at, tag)),
            );
            let mut want = Vec::new();
            plain.for_each_match_counted(&hay, |s, e, id, ss, se| want.push((s, e, id, ss, se)));
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert_eq!(reported, tags_plain(&plain, &tags, &hay));
        }

        /// Both ways of finding the first space of a word find the one a byte-by-byte search
        /// finds.
        #[test]
        fn first_space_agrees_with_bytewise(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b' ', b'a', 0x00, 0x1f, 0x21, 0x7f, 0x80, 0xa0, 0xff]),
                8,
            ),
        ) {
            let w = load(&bytes, 0);
            let want = bytes.iter().position(|&b| b == b' ');
            proptest::prop_assert_eq!(first_space(w), want);
            proptest::prop_assert_eq!(first_space_in_word(w), want);
        }

        #[test]
        fn token_reads_as_bytewise(
            hay in proptest::collection::vec(
                proptest::sample::select(vec![b' ', b'a', b'z', 0x00, 0x01, 0x7f, 0x80, 0xa0, 0xff, 0x21]),
                0..40,
            ),
        ) {
            for t in 0..hay.len() {
                proptest::prop_assert_eq!(token(&hay, t), token_bytewise(&hay, t));
            }
        }

        /// Long tokens that share their first eight bytes, tokens right at the end of the
        /// text and doubled spaces: the packed-word table finds what the automaton finds.
        #[test]
        fn agrees_with_the_automaton_on_long_and_similar_tokens(
            phrases in proptest::collection::btree_set(
                proptest::collection::vec(WORD, 1..4).prop_map(|w| format!(" {}", w.join(" "))),
                1..12,
            ),
            text in proptest::collection::vec((WORD, 1..3usize), 0..30),
        ) {
            let phrases: Vec<String> = phrases.into_iter().collect();
            let set = PhraseSet::new(&phrases).unwrap();
            agrees_on_words(&set, &phrases, &text)?;
        }

        /// Tokens and phrases longer than two words, that share their first words: the table
        /// finds the entry that a byte compare finds, the phrases are taken where a byte
        /// compare matches them, and the scans find what the automaton finds.
        #[test]
        fn long_tokens_and_phrases_agree_with_byte_compares(
            phrases in proptest::collection::btree_set(
                proptest::collection::vec(LONG_WORD, 1..4)
                    .prop_map(|w| format!(" {}", w.join(" "))),
                1..12,
            ),
            text in proptest::collection::vec((LONG_WORD, 1..3usize), 0..30),
        ) {
            let phrases: Vec<String> = phrases.into_iter().collect();
            let set = PhraseSet::new(&phrases).unwrap();
            // The text with the phrases in it, to exercise the matches as well.
            let mut words = text.clone();
            for p in &phrases {
                words.extend(p.split(' ').filter(|w| !w.is_empty()).map(|w| (w.to_string(), 1)));
            }
            let mut hay = b" ".to_vec();
            for (w, spaces) in &words {
                hay.extend_from_slice(w.as_bytes());
                hay.extend(std::iter::repeat_n(b' ', *spaces));
            }
            lookups_agree(&set, &hay)?;
            agrees_on_words(&set, &phrases, &words)?;
        }

        /// Phrases whose second tokens begin with bytes of the same bucket, and phrases with
        /// doubled or trailing spaces: the buckets hold what the scan must try, and it finds
        /// what the automaton finds.
        #[test]
        fn agrees_with_the_automaton_on_colliding_second_bytes(
            phrases in proptest::collection::btree_set(
                (proptest::collection::vec((COLLIDING, 1..3usize), 1..4), proptest::bool::ANY)
                    .prop_map(|(words, trailing)| {
                        let mut p = String::new();
                        for (i, (w, spaces)) in words.iter().enumerate() {
                            p.push_str(&" ".repeat(if i == 0 { 1 } else { *spaces }));
                            p.push_str(w);
                        }
                        if trailing {
                            p.push(' ');
                        }
                        p
                    }),
                1..16,
            ),
            text in proptest::collection::vec((COLLIDING, 1..3usize), 0..30),
        ) {
            let phrases: Vec<String> = phrases.into_iter().collect();
            let set = PhraseSet::new(&phrases).unwrap();
            buckets_agree(&set)?;
            agrees_on_words(&set, &phrases, &text)?;
        }

        #[test]
        fn agrees_with_a_token_bounded_automaton(
            text in proptest::collection::vec(
                proptest::sample::select(vec![
                    "no", "acute", "fracture", "fractures", "of", "the", "l1", "compression",
                    "compression fracture", ".", ",", "-", "mild", "wedge", "wedging", "é", "°",
                    "degenerative", "degeneratively", "spondylolisthesis", "spondylolysis",
                ]),
                0..30,
            ),
        ) {
            let phrases = [
                " no", " no acute", " fracture", " compression fracture", " compression",
                " of the", " of", " l1", " wedge", " mild wedge", " acute fracture of the l1",
                " .", " °", " é", " degenerative", " degenerative compression",
                " spondylolisthesis", " spondylolysis of the l1",
            ];
            let set = PhraseSet::new(&phrases).unwrap();
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .kind(Some(AhoCorasickKind::DFA))
                .build(phrases)
                .unwrap();
            let hay = folded(&text.join(" "));
            agrees_with(&set, &ac, &hay)?;
        }
    }
}
