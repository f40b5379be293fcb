//! Whole-token phrase matching over a folded view.
//!
//! Every lexicon phrase is folded the way report text is ([`crate::text`]): lowercase tokens
//! with one space between them, stored with a leading space (`" compression fracture"`). A
//! phrase can therefore only begin at a token of the text, and only at a token equal to the
//! phrase's first token. [`PhraseSet`] keeps its phrases in a hash table keyed by that first
//! token; a scan walks the folded text token by token, looks each token up once and compares
//! only the phrases that begin with it. Most tokens of a report begin no phrase at all, so the
//! scan costs about one hash of each token, where an automaton pays one table step per byte
//! and a restart after every match.
//!
//! Matches are leftmost-longest and token-bounded: at each token, the longest phrase that
//! matches and ends where a token ends is taken, and the scan goes on after it.

/// A set of folded phrases, matched on whole tokens.
#[derive(Debug, Clone, Default)]
pub struct PhraseSet {
    /// Open-addressed table of first tokens (power-of-two size; `u32::MAX` marks a free slot).
    slots: Vec<u32>,
    /// Distinct first tokens: (hash, start and length in `bytes`, range in `order`).
    keys: Vec<Key>,
    /// Phrase ids grouped by first token, longest phrase first.
    order: Vec<u32>,
    /// Each phrase's bytes (with the leading space): start and length in `bytes`.
    phrases: Vec<(u32, u32)>,
    bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Key {
    hash: u64,
    start: u32,
    len: u32,
    first: u32,
    count: u32,
}

/// One hash step per byte: a rotate and an xor, one cycle each (the keys are short
/// lowercase words); [`finish`] mixes the bits once per token.
#[inline(always)]
fn mix(h: u64, b: u8) -> u64 {
    h.rotate_left(5) ^ b as u64
}

#[inline(always)]
fn finish(h: u64) -> u64 {
    let h = h.wrapping_mul(0x517c_c1b7_2722_0a95);
    h ^ (h >> 32)
}

/// Byte equality, inline for the short slices compared here (a library call costs more than
/// comparing a word or two).
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && if a.len() <= 16 {
            a.iter().zip(b).all(|(x, y)| x == y)
        } else {
            a == b
        }
}

fn hash(token: &[u8]) -> u64 {
    finish(token.iter().fold(0u64, |h, &b| mix(h, b)))
}

impl PhraseSet {
    /// A set of `phrases`, each a folded phrase with a leading space (`" wedge deformity"`).
    /// Phrase ids are indices into `phrases`. An error names the first phrase that holds no
    /// token.
    pub fn new<S: AsRef<str>>(phrases: &[S]) -> Result<PhraseSet, String> {
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
            while j < firsts.len() && firsts[j].0 == token {
                set.order.push(firsts[j].2);
                j += 1;
            }
            let id = firsts[i].2 as usize;
            set.keys.push(Key {
                hash: hash(token),
                start: set.phrases[id].0 + 1,
                len: token.len() as u32,
                first: i as u32,
                count: (j - i) as u32,
            });
            i = j;
        }
        let size = (set.keys.len() * 2).next_power_of_two().max(16);
        set.slots = vec![u32::MAX; size];
        for (k, key) in set.keys.iter().enumerate() {
            let mut at = key.hash as usize & (size - 1);
            while set.slots[at] != u32::MAX {
                at = (at + 1) & (size - 1);
            }
            set.slots[at] = k as u32;
        }
        Ok(set)
    }

    /// Number of phrases.
    pub fn len(&self) -> usize {
        self.phrases.len()
    }

    /// Whether the set holds no phrase.
    pub fn is_empty(&self) -> bool {
        self.phrases.is_empty()
    }

    /// The phrases that begin with `token`, longest first.
    #[inline]
    fn lookup(&self, token: &[u8], h: u64) -> &[u32] {
        let mask = self.slots.len() - 1;
        let mut at = h as usize & mask;
        loop {
            let k = self.slots[at];
            if k == u32::MAX {
                return &[];
            }
            let key = &self.keys[k as usize];
            if key.hash == h
                && same(
                    &self.bytes[key.start as usize..(key.start + key.len) as usize],
                    token,
                )
            {
                return &self.order[key.first as usize..(key.first + key.count) as usize];
            }
            at = (at + 1) & mask;
        }
    }

    /// Calls `f(start, end, id)` for every leftmost-longest, token-bounded match in `hay`, a
    /// folded view (tokens separated by single spaces, with a space at each end). `start` is
    /// the position of the space before the phrase's first token, `end` that of the space
    /// after its last one. When the longest phrase at a token ends inside a word
    /// ("degenerative spur" in "degenerative spurring"), the longest shorter one that ends on
    /// a token is taken.
    pub fn for_each_match(&self, hay: &[u8], f: impl FnMut(usize, usize, u32)) {
        self.scan(hay, true, f)
    }

    /// As [`PhraseSet::for_each_match`], except that when the longest phrase at a token ends
    /// inside a word, nothing is taken there and the scan goes on after that word, as a
    /// non-overlapping leftmost-longest automaton search that drops such matches does.
    pub fn for_each_longest(&self, hay: &[u8], f: impl FnMut(usize, usize, u32)) {
        self.scan(hay, false, f)
    }

    fn scan(&self, hay: &[u8], shorter: bool, mut f: impl FnMut(usize, usize, u32)) {
        if self.phrases.is_empty() {
            return;
        }
        let n = hay.len();
        // `p` is always a space: the one before the next token.
        let Some(mut p) = hay.iter().position(|&c| c == b' ') else {
            return;
        };
        while p + 1 < n {
            let t = p + 1;
            let mut e = t;
            let mut h = 0u64;
            while e < n && hay[e] != b' ' {
                h = mix(h, hay[e]);
                e += 1;
            }
            if e == t {
                // Two spaces in a row (not made by folding): step over one.
                p = t;
                continue;
            }
            let mut next = e;
            for &id in self.lookup(&hay[t..e], finish(h)) {
                let (s, len) = self.phrases[id as usize];
                let (s, len) = (s as usize, len as usize);
                let end = p + len;
                if end > n || !same(&hay[e..end], &self.bytes[s + (e - p)..s + len]) {
                    continue;
                }
                if end < n && hay[end] == b' ' {
                    f(p, end, id);
                    next = end;
                    break;
                }
                if !shorter {
                    // The longest phrase here ends inside a word: resume at that word's end.
                    next = hay[end..]
                        .iter()
                        .position(|&c| c == b' ')
                        .map_or(n, |k| end + k);
                    break;
                }
            }
            p = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};

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

    proptest::proptest! {
        #[test]
        fn agrees_with_a_token_bounded_automaton(
            text in proptest::collection::vec(
                proptest::sample::select(vec![
                    "no", "acute", "fracture", "fractures", "of", "the", "l1", "compression",
                    "compression fracture", ".", ",", "-", "mild", "wedge", "wedging", "é", "°",
                ]),
                0..30,
            ),
        ) {
            let phrases = [
                " no", " no acute", " fracture", " compression fracture", " compression",
                " of the", " of", " l1", " wedge", " mild wedge", " acute fracture of the l1",
                " .", " °", " é",
            ];
            let set = PhraseSet::new(&phrases).unwrap();
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .kind(Some(AhoCorasickKind::DFA))
                .build(phrases)
                .unwrap();
            let hay = folded(&text.join(" "));
            proptest::prop_assert_eq!(matches(&set, &hay), automaton(&ac, &hay));
            let mut longest = Vec::new();
            set.for_each_longest(&hay, |s, e, id| longest.push((s, e, id)));
            let kept: Vec<_> = ac
                .find_iter(hay.as_slice())
                .filter(|m| hay.get(m.end()) == Some(&b' '))
                .map(|m| (m.start(), m.end(), m.pattern().as_u32()))
                .collect();
            proptest::prop_assert_eq!(longest, kept);
        }
    }
}
