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
        let mut multi = Vec::new();
        if !text.is_ascii() {
            let mut extra = 0usize;
            for (i, c) in text.char_indices() {
                let n = c.len_utf8();
                if n > 1 {
                    extra += n - 1;
                    multi.push((i, extra));
                }
            }
        }
        CharIndex { multi }
    }

    /// The character offset of byte offset `byte` (which must be on a character boundary).
    pub fn char_offset(&self, byte: usize) -> usize {
        // Extra bytes of all multi-byte characters that start before `byte`.
        let k = self.multi.partition_point(|&(start, _)| start < byte);
        let extra = if k == 0 { 0 } else { self.multi[k - 1].1 };
        byte - extra
    }
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
