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

    /// Whether the cue is looked for in a sentence of this section.
    fn reads(&self, section: Option<SectionKind>) -> bool {
        match (&self.sections, section) {
            (None, _) => true,
            (Some(allowed), Some(k)) => allowed.contains(&k),
            (Some(_), None) => false,
        }
    }

    /// Whether the cue occurs in one sentence's words.
    fn in_sentence(&self, w: &[String]) -> bool {
        // Nothing below can hold without one of the terms: look for them first, as most
        // sentences have none.
        if !self
            .terms
            .iter()
            .any(|t| !t.is_empty() && w.windows(t.len()).any(|x| x == t.as_slice()))
        {
            return false;
        }
        let denial_ends: Vec<usize> = (0..w.len())
            .filter(|&i| DENIALS.contains(&w[i].as_str()))
            .map(|i| i + 1)
            .collect();
        let voided = self.voided_by.iter().any(|p| {
            find_all(w, p)
                .into_iter()
                .any(|start| !in_scope(w, &denial_ends, start))
        });
        if voided {
            return false;
        }
        let group_met = |g: &Vec<Vec<String>>| g.iter().any(|p| !find_all(w, p).is_empty());
        if !self.with.iter().all(group_met) {
            return false;
        }
        let post_starts: Vec<usize> = self
            .negated_after
            .iter()
            .flat_map(|p| find_all(w, p))
            .collect();
        let negation_ends: Vec<usize> = self
            .negated_by
            .iter()
            .flat_map(|p| find_all(w, p).into_iter().map(move |s| s + p.len()))
            .collect();
        self.terms.iter().any(|t| {
            find_all(w, t).into_iter().any(|start| {
                let end = start + t.len();
                (!self.at_start || start == 0)
                    && !in_scope(w, &negation_ends, start)
                    && !post_starts
                        .iter()
                        .any(|&p| p >= end && p - end <= POST_NEGATION_WINDOW)
            })
        })
    }

    /// The phrases, for `spinex rules`.
    pub fn terms(&self) -> Vec<String> {
        self.terms.iter().map(|t| t.join(" ")).collect()
    }
}

/// Whether the word at `start` lies in the scope of a trigger ending at one of `ends`: after
/// it, with no terminator between.
fn in_scope(w: &[String], ends: &[usize], start: usize) -> bool {
    ends.iter().any(|&end| {
        end <= start
            && !w[end..start]
                .iter()
                .any(|x| TERMINATORS.contains(&x.as_str()))
    })
}

/// The words (ASCII letters and digits) of `s`; everything else separates them.
fn words(s: &str) -> Vec<&str> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Lowercase words of `s`, with each ";" kept as a word (it ends a negation's scope).
fn lower_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, part) in s.split(';').enumerate() {
        if i > 0 {
            out.push(";".to_string());
        }
        out.extend(words(part).into_iter().map(|w| w.to_ascii_lowercase()));
    }
    out
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

/// A one-pass test for the longest word of every cue phrase (ASCII case-insensitive, whole
/// words): a phrase can match only where all its words occur, so this is a superset of where a
/// cue can match, and the word-by-word reading runs only there.
#[derive(Debug, Clone)]
pub(crate) struct CueWords {
    ac: Option<aho_corasick::AhoCorasick>,
    /// For each word, the cues (one bit each) that have a phrase whose longest word it is.
    cues: Vec<u64>,
}

impl CueWords {
    pub(crate) fn new(cues: &[CueDef]) -> CueWords {
        let mut first: Vec<(&str, u64)> = cues
            .iter()
            .enumerate()
            .take(MAX_CUES)
            .flat_map(|(i, c)| {
                c.terms.iter().filter_map(move |t| {
                    t.iter()
                        .max_by_key(|w| w.len())
                        .map(|w| (w.as_str(), 1u64 << i))
                })
            })
            .collect();
        first.sort_unstable();
        let mut words: Vec<&str> = Vec::new();
        let mut masks: Vec<u64> = Vec::new();
        for (w, m) in first {
            if words.last() == Some(&w) {
                *masks.last_mut().expect("a mask per word") |= m;
            } else {
                words.push(w);
                masks.push(m);
            }
        }
        let ac = if words.is_empty() {
            None
        } else {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .build(&words)
                .ok()
        };
        let cues = if ac.is_some() { masks } else { Vec::new() };
        CueWords { ac, cues }
    }

    /// Calls `f(start, cues)` for every whole-word occurrence of a word in `s`, with the cues
    /// it may begin; returns false when the test could not be built (anything may match).
    fn each(&self, s: &str, mut f: impl FnMut(usize, u64)) -> bool {
        let Some(ac) = self.ac.as_ref() else {
            return false;
        };
        let b = s.as_bytes();
        for m in ac.find_overlapping_iter(s) {
            let before = m.start() == 0 || !b[m.start() - 1].is_ascii_alphanumeric();
            let after = m.end() == b.len() || !b[m.end()].is_ascii_alphanumeric();
            if before && after {
                f(m.start(), self.cues[m.pattern().as_usize()]);
            }
        }
        true
    }

    /// The cues whose longest word occurs in `s` as a whole word (every cue when the test
    /// could not be built).
    pub(crate) fn cues_in(&self, s: &str) -> u64 {
        let mut mask = 0u64;
        if !self.each(s, |_, m| mask |= m) {
            return u64::MAX;
        }
        mask
    }
}

/// Which cues occur where in one report, read lazily: a sentence is read the first time a rule
/// asks about it (rules ask only once their findings hold), and the answer is kept. One pass
/// over the text first notes, per sentence, the cues whose longest word it holds; only those
/// are read word by word.
#[derive(Debug, Default)]
pub(crate) struct CueHits<'a> {
    src: Option<(&'a [CueDef], &'a CueWords, &'a Analysis, &'a str)>,
    /// Per sentence: the cues that may occur there, then (once read) the cues that do.
    candidates: Vec<u64>,
    sentence: std::cell::RefCell<Vec<Option<u64>>>,
    report: std::cell::Cell<Option<u64>>,
}

impl<'a> CueHits<'a> {
    /// Nothing found (no text to read).
    pub fn none() -> CueHits<'a> {
        CueHits::default()
    }

    /// Cue reading over `text`, the report `a` was made from.
    pub fn find(
        cues: &'a [CueDef],
        words: &'a CueWords,
        a: &'a Analysis,
        text: &'a str,
    ) -> CueHits<'a> {
        if cues.is_empty() || text.is_empty() {
            return CueHits::none();
        }
        let mut candidates = vec![0u64; a.sentences.len()];
        let mut any = 0u64;
        let mut k = 0usize;
        let built = words.each(text, |start, mask| {
            any |= mask;
            // Matches come in order of their end, so their starts rarely go back.
            if k >= a.sentences.len() || a.sentences[k].span.start > start {
                k = 0;
            }
            while k < a.sentences.len() && a.sentences[k].span.end <= start {
                k += 1;
            }
            if let Some(s) = a.sentences.get(k) {
                if s.span.start <= start {
                    candidates[k] |= mask;
                }
            }
        });
        if !built {
            any = u64::MAX;
            candidates.iter_mut().for_each(|c| *c = u64::MAX);
        }
        if any == 0 {
            return CueHits::none();
        }
        CueHits {
            src: Some((cues, words, a, text)),
            sentence: std::cell::RefCell::new(vec![None; a.sentences.len()]),
            candidates,
            report: std::cell::Cell::new(None),
        }
    }

    /// The cues among `candidates` that occur in `s`.
    fn mask(cues: &[CueDef], candidates: u64, s: &str, section: Option<SectionKind>) -> u64 {
        if candidates == 0 {
            return 0;
        }
        let w = lower_words(s);
        cues.iter()
            .enumerate()
            .filter(|(i, c)| {
                *i < MAX_CUES && candidates & (1 << i) != 0 && c.reads(section) && c.in_sentence(&w)
            })
            .fold(0u64, |m, (i, _)| m | (1 << i))
    }

    fn sentence_mask(&self, i: usize) -> u64 {
        let Some((cues, _, a, text)) = self.src else {
            return 0;
        };
        let candidates = self.candidates.get(i).copied().unwrap_or(0);
        if candidates == 0 {
            return 0;
        }
        if let Some(Some(m)) = self.sentence.borrow().get(i) {
            return *m;
        }
        let m = a.sentences.get(i).map_or(0, |s| {
            let section = a.sections.get(s.section as usize).map(|x| x.kind);
            text.get(s.span.start..s.span.end)
                .map_or(0, |t| Self::mask(cues, candidates, t, section))
        });
        if let Some(slot) = self.sentence.borrow_mut().get_mut(i) {
            *slot = Some(m);
        }
        m
    }

    fn mention_mask(&self, m: u32) -> u64 {
        let Some((cues, words, a, text)) = self.src else {
            return 0;
        };
        let Some(mention) = a.mentions.get(m as usize) else {
            return 0;
        };
        if (mention.sentence as usize) < a.sentences.len() {
            self.sentence_mask(mention.sentence as usize)
        } else {
            let t = stretch_around(text, mention.span);
            Self::mask(cues, words.cues_in(t), t, None)
        }
    }

    fn report_mask(&self) -> u64 {
        let Some((cues, words, a, text)) = self.src else {
            return 0;
        };
        if let Some(m) = self.report.get() {
            return m;
        }
        let m = if a.sentences.is_empty() {
            text.split(['.', '\n'])
                .map(|t| Self::mask(cues, words.cues_in(t), t, None))
                .fold(0, |m, x| m | x)
        } else {
            (0..a.sentences.len()).fold(0, |m, i| m | self.sentence_mask(i))
        };
        self.report.set(Some(m));
        m
    }

    /// Whether cue `cue` occurs in the sentence of mention `m`.
    pub fn in_mention(&self, m: u32, cue: usize) -> bool {
        self.mention_mask(m) & (1 << cue) != 0
    }

    /// Whether cue `cue` occurs anywhere in the report.
    pub fn in_report(&self, cue: usize) -> bool {
        self.report_mask() & (1 << cue) != 0
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
        let words = CueWords::new(&cues);
        let h = CueHits::find(&cues, &words, &a, text);
        assert!(h.in_mention(0, 0));
        assert!(!h.in_mention(1, 0));
        assert!(h.in_report(0));
        let none = CueHits::find(&cues, &words, &a, "");
        assert!(!none.in_mention(0, 0) && !none.in_report(0));
    }

    #[test]
    fn stretch_is_safe_on_any_span() {
        assert_eq!(stretch_around("a. bc d. e", Span::new(3, 5)), " bc d");
        assert_eq!(stretch_around("abc", Span::new(10, 12)), "");
        assert_eq!(stretch_around("é", Span::new(1, 1)), "");
    }
}
