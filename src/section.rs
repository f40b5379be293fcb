//! Section detection: `HEADER:` at the start of a line or after a sentence end (any case, text
//! may follow on the same line), or a known header alone on a line in capitals.

use crate::model::*;
use crate::text::{find_any, fold_ascii_into, fold_str};
use std::collections::HashMap;

/// Longest header candidate considered, in bytes.
const MAX_HEADER: usize = 48;

/// Splits `text` into sections. Text before the first header is a preamble section.
pub fn sections(text: &str, headers: &HashMap<String, SectionKind>, out: &mut Vec<Section>) {
    out.clear();
    out.reserve(8);
    let b = text.as_bytes();
    // (header span, kind)
    let mut found: Vec<(Span, SectionKind)> = Vec::with_capacity(8);
    let mut line_start = 0usize;
    let mut i = 0usize;
    while i <= b.len() {
        // The next colon or line break; the end of the text ends the last line.
        i = find_any(b, i, [b':', b'\n']).unwrap_or(b.len());
        let c = if i == b.len() { b'\n' } else { b[i] };
        if c == b':' {
            if let Some(h) = header_before(text, line_start, i, headers) {
                if found.last().map_or(true, |(s, _)| s.end <= h.0.start) {
                    found.push(h);
                }
            }
        } else if c == b'\n' {
            // A known header alone on its line, in capitals.
            let line = &text[line_start..i];
            let t = line.trim();
            if !t.is_empty()
                && t.len() <= MAX_HEADER
                && t.bytes().any(|x| x.is_ascii_uppercase())
                && !t.bytes().any(|x| x.is_ascii_lowercase())
            {
                if let Some(kind) = lookup(t, headers) {
                    let s = line_start + (line.len() - line.trim_start().len());
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
    let mut pos = 0usize;
    if found.first().map_or(true, |(s, _)| s.start > 0) {
        let end = found.first().map_or(text.len(), |(s, _)| s.start);
        out.push(Section {
            kind: SectionKind::Preamble,
            header: Span::new(0, 0),
            body: Span::new(0, end),
        });
        pos = end;
    }
    for (k, (h, kind)) in found.iter().enumerate() {
        let end = found.get(k + 1).map_or(text.len(), |(n, _)| n.start);
        debug_assert!(h.start >= pos);
        out.push(Section {
            kind: *kind,
            header: *h,
            body: Span::new(h.end, end),
        });
        pos = end;
    }
    let _ = pos;
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
            // Only line breaks matter: jump from one to the next.
            while let Some(nl) = find_any(&b[..e], j, [b'\n']) {
                j = nl;
                // A short first line ("LLQ pain ?diverticulitis") is the whole of it unless it
                // carries on: it stops on an open word or comma, or the next line starts in
                // lower case and the line asked no question.
                let line = &b[content..j];
                let next_lower = b.get(j + 1).is_some_and(|c| c.is_ascii_lowercase());
                let asks = line.contains(&b'?') || line.trim_ascii_end().ends_with(b".");
                let short_line = j - content < SHORT_LINE
                    && !crate::sentence::ends_open(line, OPEN_LINE_ENDINGS)
                    && (!next_lower || asks);
                if short_line || crate::sentence::line_break_ends_sentence(b, content, j, e) {
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
            }
        }
        i += 1;
    }
}

/// The header ending in the colon at `colon`, if the words before it (back to the start of the
/// line or the previous sentence end) name a known section.
fn header_before(
    text: &str,
    line_start: usize,
    colon: usize,
    headers: &HashMap<String, SectionKind>,
) -> Option<(Span, SectionKind)> {
    let b = text.as_bytes();
    let lo = line_start.max(colon.saturating_sub(MAX_HEADER));
    let mut s = colon;
    while s > lo && !matches!(b[s - 1], b'.' | b'!' | b'?' | b';' | b'\n' | b')' | b']') {
        s -= 1;
    }
    if s == lo && lo > line_start {
        return None; // too long to be a header
    }
    let cand = &text[s..colon];
    let trimmed = cand.trim_start();
    let start = s + (cand.len() - trimmed.len());
    let first = trimmed.bytes().next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    lookup(trimmed, headers).map(|k| (Span::new(start, colon + 1), k))
}

/// The section a header names: `s` folded (as the lexicon keys are) and looked up. Short ASCII
/// candidates, which are nearly all of them, are folded on the stack.
fn lookup(s: &str, headers: &HashMap<String, SectionKind>) -> Option<SectionKind> {
    if s.len() <= MAX_HEADER && s.is_ascii() {
        let mut buf = [0u8; 2 * MAX_HEADER];
        let n = fold_ascii_into(s.as_bytes(), &mut buf);
        let key = std::str::from_utf8(&buf[..n]).ok()?;
        headers.get(key).copied()
    } else {
        headers.get(&fold_str(s)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn colon_in_prose_is_not_a_header() {
        let k = kinds("FINDINGS: Alignment: normal. Ratio 2:1.");
        assert_eq!(k.len(), 1);
    }
}
