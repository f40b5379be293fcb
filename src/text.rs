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

/// A folded view with its offset map.
#[derive(Debug, Default, Clone)]
pub struct Folded {
    /// The folded bytes (valid UTF-8).
    pub bytes: Vec<u8>,
    /// For each folded byte, the original byte offset it came from.
    pub map: Vec<u32>,
    /// Spaces in `bytes[..64 * k]` for each `k`, so that counting the tokens between two
    /// positions takes constant time however far apart they are.
    blocks: Vec<u32>,
}

/// Bytes per entry of [`Folded::blocks`].
const BLOCK: usize = 64;

impl Folded {
    /// Refolds `text` into this buffer, reusing its allocations.
    pub fn fold(&mut self, text: &str) {
        self.bytes.clear();
        self.map.clear();
        self.bytes.reserve(text.len() + 2);
        self.map.reserve(text.len() + 2);
        self.push(b' ', 0);
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c < 0x80 {
                match c {
                    b'A'..=b'Z' => self.push(c + 32, i),
                    b'a'..=b'z' | b'0'..=b'9' => self.push(c, i),
                    b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | b'-' | b'_' | b'\'' | b'`' => {
                        self.space(i)
                    }
                    0..=0x1f | 0x7f => self.space(i),
                    _ => {
                        self.space(i);
                        self.push(c, i);
                        self.space(i);
                    }
                }
                i += 1;
            } else {
                // Multi-byte character: decode just this one.
                let len = utf8_len(c);
                let end = (i + len).min(b.len());
                let ch = text[i..end].chars().next().unwrap_or(' ');
                if ch.is_alphanumeric() {
                    for k in i..end {
                        self.push(b[k], k);
                    }
                } else if is_dash_or_space(ch) {
                    self.space(i);
                } else {
                    self.space(i);
                    for k in i..end {
                        self.push(b[k], k);
                    }
                    self.space(i);
                }
                i = end;
            }
        }
        self.space(text.len());
        self.blocks.clear();
        let mut spaces = 0u32;
        for chunk in self.bytes.chunks(BLOCK) {
            self.blocks.push(spaces);
            spaces += chunk.iter().filter(|&&c| c == b' ').count() as u32;
        }
        self.blocks.push(spaces);
    }

    /// Spaces in `bytes[..k]`.
    #[inline]
    fn spaces_before(&self, k: usize) -> usize {
        let base = k / BLOCK * BLOCK;
        let partial = self.bytes[base..k].iter().filter(|&&c| c == b' ').count();
        self.blocks[k / BLOCK] as usize + partial
    }

    #[inline]
    fn push(&mut self, byte: u8, at: usize) {
        self.bytes.push(byte);
        self.map.push(at as u32);
    }

    #[inline]
    fn space(&mut self, at: usize) {
        if self.bytes.last() != Some(&b' ') {
            self.push(b' ', at);
        }
    }

    /// The original byte span of folded bytes `[fs, fe)`, which must start and end on token
    /// bytes (not spaces).
    #[inline]
    pub fn original(&self, fs: usize, fe: usize) -> (usize, usize) {
        (self.map[fs] as usize, self.map[fe - 1] as usize + 1)
    }

    /// Number of tokens in folded bytes `[a, b)` (spaces between them).
    #[inline]
    pub fn tokens_between(&self, a: usize, b: usize) -> usize {
        if a >= b {
            return 0;
        }
        let spaces = self.spaces_before(b) - self.spaces_before(a);
        // A gap " x y " between two tokens holds two tokens and three spaces.
        spaces.saturating_sub(1)
    }
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

/// Folds a lexicon literal: the folded view without the leading and trailing space.
pub fn fold_str(s: &str) -> String {
    let mut f = Folded::default();
    f.fold(s);
    let v = String::from_utf8(f.bytes).unwrap_or_default();
    v.trim().to_string()
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
    fn token_counts_agree_with_a_plain_count_across_blocks() {
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
