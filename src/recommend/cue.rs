//! Text cues: words a rule may look for in the report itself, beyond the concepts' statuses
//! ("unstable" beside a fracture, "typical of a hemangioma" beside a lesion, "concern for
//! myelopathy" anywhere in the report).
//!
//! A cue is a list of phrases (`terms`), matched on whole lowercase ASCII words, so that
//! "three-column" and "three column" are the same phrase. An occurrence counts unless a
//! `negated_by` phrase ends at most four words before it in the same sentence ("no evidence of
//! instability", "without dynamic instability"). A sentence holding a `voided_by` phrase
//! anywhere ("if", "versus") holds no occurrence of the cue, and when `with` is given, the
//! sentence must also hold one of its phrases ("MRI" with "recommended").
//!
//! The sentences are the pipeline's ([`Analysis::sentences`]); a mention whose sentence is not
//! recorded (a hand-built analysis) is read in the stretch of text between the nearest full
//! stops or line breaks around it. Without text, no cue is ever found.

use crate::model::*;

/// The most cues a rule file may define (one bit each).
pub(crate) const MAX_CUES: usize = 64;

/// Words closer than this to a cue term (counted in words between them) negate it.
const NEGATION_WINDOW: usize = 4;

/// A cue a rule may look for in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct CueDef {
    /// Stable id.
    pub id: String,
    /// What finding the cue means, in words.
    pub meaning: String,
    pub(crate) terms: Vec<Vec<String>>,
    pub(crate) with: Vec<Vec<String>>,
    pub(crate) negated_by: Vec<Vec<String>>,
    pub(crate) voided_by: Vec<Vec<String>>,
}

impl CueDef {
    /// A cue from its phrases (each phrase split into lowercase words); `None` when a phrase
    /// holds no word.
    pub(crate) fn new(
        id: String,
        meaning: String,
        terms: &[String],
        with: &[String],
        negated_by: &[String],
        voided_by: &[String],
    ) -> Result<CueDef, String> {
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
            terms: split(terms)?,
            with: split(with)?,
            negated_by: split(negated_by)?,
            voided_by: split(voided_by)?,
        })
    }

    /// Whether the cue occurs in one sentence's words.
    fn in_sentence(&self, w: &[String]) -> bool {
        if self.voided_by.iter().any(|p| !find_all(w, p).is_empty()) {
            return false;
        }
        if !self.with.is_empty() && self.with.iter().all(|p| find_all(w, p).is_empty()) {
            return false;
        }
        let negation_ends: Vec<usize> = self
            .negated_by
            .iter()
            .flat_map(|p| find_all(w, p).into_iter().map(move |s| s + p.len()))
            .collect();
        self.terms.iter().any(|t| {
            find_all(w, t).into_iter().any(|start| {
                !negation_ends
                    .iter()
                    .any(|&end| end <= start && start - end <= NEGATION_WINDOW)
            })
        })
    }

    /// The phrases, for `spinex rules`.
    pub fn terms(&self) -> Vec<String> {
        self.terms.iter().map(|t| t.join(" ")).collect()
    }
}

/// Lowercase ASCII words (letters and digits) of `s`; everything else separates them.
fn words(s: &str) -> Vec<&str> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

fn lower_words(s: &str) -> Vec<String> {
    words(s)
        .into_iter()
        .map(|w| w.to_ascii_lowercase())
        .collect()
}

/// Start indices of every occurrence of `phrase` in `w`.
fn find_all(w: &[String], phrase: &[String]) -> Vec<usize> {
    if phrase.is_empty() || phrase.len() > w.len() {
        return Vec::new();
    }
    (0..=w.len() - phrase.len())
        .filter(|&i| w[i..i + phrase.len()] == *phrase)
        .collect()
}

/// Which cues occur where in one report: a bit per cue, for each mention's sentence and for
/// the report as a whole.
#[derive(Debug, Clone, Default)]
pub(crate) struct CueHits {
    mention: Vec<u64>,
    report: u64,
}

impl CueHits {
    /// Nothing found (no text to read).
    pub fn none() -> CueHits {
        CueHits::default()
    }

    /// Reads the cues in `text`, the report `a` was made from.
    pub fn find(cues: &[CueDef], a: &Analysis, text: &str) -> CueHits {
        if cues.is_empty() || text.is_empty() {
            return CueHits::none();
        }
        let mask = |s: &str| -> u64 {
            let w = lower_words(s);
            cues.iter()
                .enumerate()
                .filter(|(_, c)| c.in_sentence(&w))
                .fold(0u64, |m, (i, _)| m | (1 << i))
        };
        let sentence_masks: Vec<u64> = a
            .sentences
            .iter()
            .map(|s| text.get(s.span.start..s.span.end).map_or(0, mask))
            .collect();
        let report = if sentence_masks.is_empty() {
            text.split(['.', '\n', ';']).map(mask).fold(0, |m, x| m | x)
        } else {
            sentence_masks.iter().fold(0, |m, x| m | x)
        };
        let mention = a
            .mentions
            .iter()
            .map(|m| match sentence_masks.get(m.sentence as usize) {
                Some(&x) => x,
                None => mask(stretch_around(text, m.span)),
            })
            .collect();
        CueHits { mention, report }
    }

    /// Whether cue `cue` occurs in the sentence of mention `m`.
    pub fn in_mention(&self, m: u32, cue: usize) -> bool {
        self.mention
            .get(m as usize)
            .is_some_and(|x| x & (1 << cue) != 0)
    }

    /// Whether cue `cue` occurs anywhere in the report.
    pub fn in_report(&self, cue: usize) -> bool {
        self.report & (1 << cue) != 0
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
        CueDef::new(
            "c".into(),
            "m".into(),
            &s(terms),
            &s(with),
            &s(neg),
            &s(void),
        )
        .unwrap()
    }

    fn hit(c: &CueDef, s: &str) -> bool {
        c.in_sentence(&lower_words(s))
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
    fn negation_within_four_words_before() {
        let c = cue(&["instability"], &[], &["no", "without"], &[]);
        assert!(!hit(&c, "No evidence of instability."));
        assert!(!hit(&c, "Anterolisthesis without dynamic instability."));
        assert!(hit(
            &c,
            "No fracture is seen in the lower lumbar spine, but there is instability at L4."
        ));
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
        let h = CueHits::find(&cues, &a, text);
        assert!(h.in_mention(0, 0));
        assert!(!h.in_mention(1, 0));
        assert!(h.in_report(0));
        let none = CueHits::find(&cues, &a, "");
        assert!(!none.in_mention(0, 0) && !none.in_report(0));
    }

    #[test]
    fn stretch_is_safe_on_any_span() {
        assert_eq!(stretch_around("a. bc d. e", Span::new(3, 5)), " bc d");
        assert_eq!(stretch_around("abc", Span::new(10, 12)), "");
        assert_eq!(stretch_around("é", Span::new(1, 1)), "");
    }
}
