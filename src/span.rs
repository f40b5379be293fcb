//! Byte-to-character offset conversion at the output edge.
//!
//! Spans inside spinex are byte offsets into the original UTF-8 text. The output tables speak
//! Unicode scalar (character) offsets so that Python's `text[start:end]` gives the mention text.
//! For ASCII text the two agree and conversion is free.

/// Converts byte offsets of one text into character offsets.
///
/// Built once per report; lookups are `O(log n)` in the number of non-ASCII characters, and
/// free for pure-ASCII text.
#[derive(Debug, Clone, Default)]
pub struct CharIndex {
    /// Byte offsets of the first byte of every non-ASCII character, with the number of extra
    /// bytes (beyond one per character) seen up to and including that character.
    multi: Vec<(usize, usize)>,
}

impl CharIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> CharIndex {
        let mut index = CharIndex::default();
        index.reset(text);
        index
    }

    /// Indexes `text` instead, keeping the memory (one index reused over many reports).
    pub fn reset(&mut self, text: &str) {
        self.multi.clear();
        let b = text.as_bytes();
        let mut extra = 0usize;
        // Always on a character boundary, so the first byte with its high bit set at or after
        // it starts a multi-byte character.
        let mut i = 0;
        while let Some(at) = first_non_ascii(b, i) {
            let n = match b[at] {
                0xf0.. => 4,
                0xe0.. => 3,
                _ => 2,
            };
            extra += n - 1;
            self.multi.push((at, extra));
            i = at + n;
        }
    }

    /// The character offset of byte offset `byte` (which must be on a character boundary).
    pub fn char_offset(&self, byte: usize) -> usize {
        // Extra bytes of all multi-byte characters that start before `byte`.
        let k = self.multi.partition_point(|&(start, _)| start < byte);
        let extra = if k == 0 { 0 } else { self.multi[k - 1].1 };
        byte - extra
    }
}

/// The first index at or after `from` of a byte of `b` with its high bit set (sixteen bytes
/// at a time: the output's search, see [`crate::output::find_non_ascii`]).
#[inline]
fn first_non_ascii(b: &[u8], from: usize) -> Option<usize> {
    crate::output::find_non_ascii(b, from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_identity() {
        let ix = CharIndex::new("T12 compression");
        assert_eq!(ix.char_offset(0), 0);
        assert_eq!(ix.char_offset(15), 15);
    }

    #[test]
    fn indexes_every_multi_byte_character() {
        let texts = [
            "",
            "é",
            "ascii only, longer than one word",
            "30° kyphosis – L4–5 ok",
            "€€€€€€€€€ and 𝄞 at the end: 𝄞",
            "eight!!é1234567é",
        ];
        let mut reused = CharIndex::default();
        for text in texts {
            let mut extra = 0;
            let mut naive = Vec::new();
            for (i, c) in text.char_indices() {
                if c.len_utf8() > 1 {
                    extra += c.len_utf8() - 1;
                    naive.push((i, extra));
                }
            }
            assert_eq!(CharIndex::new(text).multi, naive, "{text}");
            reused.reset(text);
            assert_eq!(reused.multi, naive, "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn char_offsets_count_scalars(text in "(?s).{0,80}") {
            let ix = CharIndex::new(&text);
            for (b, _) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
                proptest::prop_assert_eq!(ix.char_offset(b), text[..b].chars().count());
            }
        }
    }

    #[test]
    fn counts_scalars() {
        let text = "30° kyphosis – L4–5 ok";
        let ix = CharIndex::new(text);
        for (b, _) in text
            .char_indices()
            .chain(std::iter::once((text.len(), ' ')))
        {
            assert_eq!(ix.char_offset(b), text[..b].chars().count(), "byte {b}");
        }
    }
}
