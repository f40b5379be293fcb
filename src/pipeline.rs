//! The compiled pipeline: built once from lexicons, then shared read-only across threads.

use crate::attribute::{self, genant_from_pct, meyerding_from_pct, LevelExpr, Quantity};
use crate::context::{self, gap, TriggerHit};
use crate::lexicon::{Anchor, Category, Lexicons, ModifierKind, ModifierValue};
use crate::model::*;
use crate::phrase::PhraseSet;
use crate::recommend::RuleSet;
use crate::text::{find_any, fold_str, Folded};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a matched pattern stands for (one literal may be several things at once).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Payload {
    Term(u32),
    Rule(u32),
    Modifier(u32),
}

/// The longest first line that is read as the exam's title ("LUMBAR SPINE 2 VIEWS").
const MAX_TITLE: usize = crate::sentence::MAX_SENTENCE;

/// A compiled, immutable pipeline (`Send + Sync`).
#[derive(Debug)]
pub struct Pipeline {
    lex: Lexicons,
    ac: PhraseSet,
    /// User targets, matched apart from the shipped patterns.
    user_ac: Option<PhraseSet>,
    /// Pattern id of the first user pattern in `payloads`.
    user_offset: u32,
    payloads: Vec<Vec<Payload>>,
    /// What each pattern's payloads come to, read once here rather than at every hit.
    info: Vec<PatternInfo>,
    /// For each lexicon term, whether its text speaks of height ("loss of height"), which a
    /// disc word just before claims for the disc (see [`Pipeline::anchored`]).
    height_terms: Vec<bool>,
    /// For each lexicon term, the audit's term-word kinds it holds, by the shipped audit
    /// phrases ([`crate::audit::Auditor::term_kinds`]).
    audit_terms: Vec<u8>,
    rules: RuleSet,
}

/// A summary of one pattern's payloads.
#[derive(Debug, Clone, Copy, Default)]
struct PatternInfo {
    /// Some payload is a term.
    term: bool,
    /// Some payload is a modifier.
    modifier: bool,
    /// The kind of the first anatomy modifier (spine, region, disc or other) among the
    /// payloads.
    anatomy: Option<ModifierKind>,
    /// Some payload is a hardware term.
    hardware: bool,
    /// Some payload is a degenerative-changes term that names the disc ("disc desiccation").
    disc_term: bool,
    /// The value of the first acuity modifier among the payloads.
    acuity: Option<Acuity>,
    /// How many payloads are spine anatomy modifiers (spine, region or disc), and how many
    /// name other anatomy.
    spine_words: u32,
    other_words: u32,
    /// Which of `term`, `anatomy` and `acuity` are set, as bits ([`PatternInfo::TERM`],
    /// [`PatternInfo::ANATOMY`], [`PatternInfo::ACUITY`]): or-ed over a sentence's hits while
    /// they are counted, they tell what the sentence holds without reading its hits again.
    kinds: u8,
}

impl PatternInfo {
    /// `term` is set.
    const TERM: u8 = 1;
    /// `anatomy` is some kind.
    const ANATOMY: u8 = 2;
    /// `acuity` is some value.
    const ACUITY: u8 = 4;

    /// The `kinds` bits of the fields.
    fn kinds_of(&self) -> u8 {
        (if self.term { Self::TERM } else { 0 })
            | (if self.anatomy.is_some() {
                Self::ANATOMY
            } else {
                0
            })
            | (if self.acuity.is_some() {
                Self::ACUITY
            } else {
                0
            })
    }
}

/// Builds a [`Pipeline`] from lexicon files and user targets.
#[derive(Debug, Default, Clone)]
pub struct PipelineBuilder {
    dir: Option<PathBuf>,
    targets: Option<PathBuf>,
}

impl PipelineBuilder {
    /// Replace the shipped lexicons with the files in `dir`.
    pub fn lexicons_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }
    /// Add user concepts from a `term,concept` CSV.
    pub fn targets_file(mut self, path: impl AsRef<Path>) -> Self {
        self.targets = Some(path.as_ref().to_path_buf());
        self
    }
    /// Loads, validates and compiles.
    pub fn build(self) -> Result<Pipeline, LexiconError> {
        let mut lex = match &self.dir {
            Some(d) => Lexicons::from_dir(d)?,
            None => Lexicons::builtin(),
        };
        // Recommendation rules: `rules.toml` in the lexicon folder when it has one.
        let rules = match &self.dir {
            Some(d) if d.join("rules.toml").is_file() => {
                let path = d.join("rules.toml");
                let shown = path.display().to_string();
                let bytes = std::fs::read(&path)
                    .map_err(|e| LexiconError::new(&shown, 0, format!("cannot read: {e}")))?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| LexiconError::new(&shown, 0, "not valid UTF-8"))?;
                RuleSet::parse(&text, &shown)?
            }
            _ => RuleSet::builtin(),
        };
        if let Some(t) = &self.targets {
            let shown = t.display().to_string();
            let bytes = std::fs::read(t)
                .map_err(|e| LexiconError::new(&shown, 0, format!("cannot read: {e}")))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| LexiconError::new(&shown, 0, "not valid UTF-8"))?;
            lex.add_targets(&shown, &text)?;
        }
        Pipeline::from_parts(lex, rules)
    }
}

/// Literals folded and deduplicated into patterns, each with what it stands for.
#[derive(Default)]
struct PatternSet {
    index: HashMap<String, usize>,
    patterns: Vec<String>,
    payloads: Vec<Vec<Payload>>,
}

impl PatternSet {
    fn add(&mut self, lit: &str, p: Payload) {
        let key = format!(" {}", fold_str(lit));
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                self.patterns.push(key.clone());
                self.payloads.push(Vec::new());
                self.index.insert(key, self.patterns.len() - 1);
                self.patterns.len() - 1
            }
        };
        if !self.payloads[i].contains(&p) {
            self.payloads[i].push(p);
        }
    }
}

/// Per-thread scratch buffers, reused across reports so that the hot path does not allocate.
#[derive(Default)]
struct Scratch {
    folded: Folded,
    hits: Vec<Hit>,
    triggers: Vec<TriggerHit>,
    breaks: Vec<usize>,
    levels: Vec<LevelExpr>,
    level_pos: Vec<Place>,
    quantities: Vec<(usize, usize, Quantity)>,
    cands: Vec<Cand>,
    /// Sentences without a term that may label a body part, since the last sentence with one.
    maybe_labels: Vec<MaybeLabel>,
    /// Where the words of the rules' text cues occur: original start and word number
    /// ([`RuleSet::apply_with_words`]).
    cue_words: Vec<(u32, u32)>,
    /// Where the first words of the audit's phrases occur: folded starts
    /// ([`crate::audit::Auditor::tag_words`]).
    audit_words: Vec<u32>,
}

/// A sentence without a term that names some anatomy, and so may be a body-part label: it is
/// read as one only if a later sentence with a term needs to know (see [`Pipeline::detect`]).
#[derive(Debug, Clone)]
struct MaybeLabel {
    sentence: Sentence,
    hits: std::ops::Range<usize>,
}

#[derive(Debug, Clone, Copy)]
struct Hit {
    fs: usize,
    fe: usize,
    /// Spaces in the folded text before `fs` and before `fe`.
    ss: u32,
    se: u32,
    span: Span,
    pat: u32,
}

impl Hit {
    fn place(&self) -> Place {
        Place {
            fs: self.fs,
            fe: self.fe,
            ss: self.ss,
            se: self.se,
        }
    }
}

/// A folded range `[fs, fe)` with the number of spaces before each of its ends, so that the
/// tokens between two ranges are a subtraction.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Place {
    fs: usize,
    fe: usize,
    ss: u32,
    se: u32,
}

impl Place {
    /// The place of folded `[fs, fe)` (`fe <= folded.bytes.len()`).
    fn of(folded: &Folded, fs: usize, fe: usize) -> Place {
        Place {
            fs,
            fe,
            ss: spaces_before(folded, fs),
            se: spaces_before(folded, fe),
        }
    }

    /// [`Place::of`] for a range near `hits` (in text order, typically those of its sentence):
    /// the spaces before it are counted from the nearest hit, whose own count is known, rather
    /// than from the start of the text.
    fn near(folded: &Folded, hits: &[Hit], fs: usize, fe: usize) -> Place {
        // Written as a sum of flags, which compiles to vector code.
        let spaces = |a: usize, b: usize| {
            folded.bytes[a..b]
                .iter()
                .fold(0u32, |n, &c| n + u32::from(c == b' '))
        };
        let k = hits.partition_point(|x| x.fs <= fs);
        let ss = match (k.checked_sub(1).map(|i| &hits[i]), hits.get(k)) {
            (Some(x), Some(y)) if y.fs - fs < fs - x.fs => y.ss - spaces(fs, y.fs),
            (Some(x), _) => x.ss + spaces(x.fs, fs),
            (None, Some(y)) => y.ss - spaces(fs, y.fs),
            (None, None) => return Place::of(folded, fs, fe),
        };
        Place {
            fs,
            fe,
            ss,
            se: ss + spaces(fs, fe),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Cand {
    fs: usize,
    fe: usize,
    /// Spaces before `fs` and `fe`, as in [`Place`].
    ss: u32,
    se: u32,
    span: Span,
    term: u32,
    concept: ConceptId,
    attrs: Attributes,
    /// A measurement that places the finding in the normal range (kyphosis of 38°).
    normal_measure: Option<Span>,
    /// Counts only when denied (a bare "No acute fracture" with no anatomy named).
    if_negated: bool,
    /// A Genant grade was written out (not derived from a percent).
    genant_stated: bool,
}

impl Cand {
    fn place(&self) -> Place {
        Place {
            fs: self.fs,
            fe: self.fe,
            ss: self.ss,
            se: self.se,
        }
    }
}

/// What the part of the report a sentence sits in is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exam {
    /// A spine exam, or a part labelled with a spine region.
    Spine,
    /// A part labelled with another body part ("Left knee.").
    OtherPart,
    /// Anything else (typically a chest film).
    Other,
}

/// The body part a label sentence names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyPart {
    Spine,
    Other,
}

/// Whether a term that needs anchoring is a spine finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchoring {
    Yes,
    No,
    /// No anatomy is named at all and the exam is not a spine exam: a denial ("No acute
    /// fracture") still covers the spine, an affirmation does not.
    IfNegated,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The normal thoracic kyphosis, in degrees (Cobb T4-T12 of about 20 to 45); a smaller angle
/// is a change or a segmental angle, not a measure of the whole curve.
const NORMAL_KYPHOSIS_MIN: f32 = 20.0;
/// Smallest Cobb angle called scoliosis, in degrees.
const SCOLIOSIS_MIN_COBB: f32 = 10.0;
/// Upper end of the normal thoracic kyphosis.
const NORMAL_KYPHOSIS_MAX: f32 = 45.0;

/// Prepositions that tie a following level to the finding before it ("fracture of T12").
const LINKS: [&[u8]; 8] = [
    b"of",
    b"at",
    b"in",
    b"involving",
    b"from",
    b"on",
    b"to",
    b"through",
];

impl Pipeline {
    /// The pipeline built from the shipped lexicons.
    pub fn builtin() -> Pipeline {
        Pipeline::from_lexicons(Lexicons::builtin())
            .unwrap_or_else(|e| panic!("shipped lexicons do not compile: {e}"))
    }

    /// A builder for custom lexicons and user targets.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// Compiles validated lexicons.
    pub fn from_lexicons(lex: Lexicons) -> Result<Pipeline, LexiconError> {
        Pipeline::from_parts(lex, RuleSet::builtin())
    }

    /// Compiles validated lexicons with recommendation rules. The main phrase table also
    /// tags the words the rules' text cues are found by, so that the scan that finds the
    /// patterns finds those words too.
    fn from_parts(lex: Lexicons, rules: RuleSet) -> Result<Pipeline, LexiconError> {
        // Two pattern sets: the shipped lexicons (terms, triggers, modifiers) in one phrase
        // table, and user targets in a second one, so that no shipped pattern can swallow a user term.
        // Pattern ids of the second set follow those of the first in `payloads`.
        let mut main = PatternSet::default();
        let mut user = PatternSet::default();
        for (i, t) in lex.terms.iter().enumerate() {
            let set = if t.from_targets { &mut user } else { &mut main };
            set.add(&t.text, Payload::Term(i as u32));
        }
        for (i, r) in lex.context.iter().enumerate() {
            main.add(&r.literal, Payload::Rule(i as u32));
        }
        for (i, m) in lex.modifiers.iter().enumerate() {
            main.add(&m.text, Payload::Modifier(i as u32));
        }
        // Every pattern is a folded phrase with a leading space, matched on whole tokens.
        let compile = |patterns: &[String]| {
            PhraseSet::new(patterns).map_err(|e| {
                LexiconError::new("lexicons", 0, format!("cannot compile patterns: {e}"))
            })
        };
        let tags = crate::audit::Auditor::builtin().tag_words(rules.cue_tag_words());
        let ac = PhraseSet::with_tags(&main.patterns, &tags).map_err(|e| {
            LexiconError::new("lexicons", 0, format!("cannot compile patterns: {e}"))
        })?;
        let user_ac = if user.patterns.is_empty() {
            None
        } else {
            Some(compile(&user.patterns)?)
        };
        let user_offset = main.patterns.len() as u32;
        let mut payloads = main.payloads;
        payloads.extend(user.payloads);
        let info = payloads
            .iter()
            .map(|ps| PatternInfo {
                term: ps.iter().any(|p| matches!(p, Payload::Term(_))),
                modifier: ps.iter().any(|p| matches!(p, Payload::Modifier(_))),
                anatomy: ps.iter().find_map(|p| match *p {
                    Payload::Modifier(m) => match lex.modifiers[m as usize].kind {
                        k @ (ModifierKind::Spine
                        | ModifierKind::Region
                        | ModifierKind::Disc
                        | ModifierKind::Other) => Some(k),
                        _ => None,
                    },
                    _ => None,
                }),
                hardware: ps.iter().any(|p| match *p {
                    Payload::Term(t) => lex.terms[t as usize].concept == ConceptId::HARDWARE,
                    _ => false,
                }),
                disc_term: ps.iter().any(|p| match *p {
                    Payload::Term(t) => {
                        let t = &lex.terms[t as usize];
                        t.concept == ConceptId::DEGENERATIVE_CHANGES
                            && (t.text.contains("disc") || t.text.contains("disk"))
                    }
                    _ => false,
                }),
                acuity: ps.iter().find_map(|p| match *p {
                    Payload::Modifier(m) => match lex.modifiers[m as usize].value {
                        ModifierValue::Acuity(a) => Some(a),
                        _ => None,
                    },
                    _ => None,
                }),
                spine_words: anatomy_count(&lex, ps, |k| {
                    matches!(
                        k,
                        ModifierKind::Spine | ModifierKind::Region | ModifierKind::Disc
                    )
                }),
                other_words: anatomy_count(&lex, ps, |k| k == ModifierKind::Other),
                kinds: 0,
            })
            .map(|info| PatternInfo {
                kinds: info.kinds_of(),
                ..info
            })
            .collect();
        let height_terms = lex
            .terms
            .iter()
            .map(|t| t.text.contains("height"))
            .collect();
        let audit_terms = crate::audit::Auditor::builtin().term_kinds(lex.terms.iter().map(|t| {
            crate::audit::TERM_WORD_CONCEPTS
                .contains(&t.concept)
                .then_some(t.text.as_str())
        }));
        Ok(Pipeline {
            audit_terms,
            lex,
            ac,
            user_ac,
            user_offset,
            payloads,
            info,
            height_terms,
            rules,
        })
    }

    /// Concept names: the 11 built-ins in contract order, then user concepts.
    pub fn concept_names(&self) -> &[String] {
        &self.lex.concepts
    }

    /// The lexicons this pipeline was built from.
    pub fn lexicons(&self) -> &Lexicons {
        &self.lex
    }

    /// The recommendation rules.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Per lexicon term, the audit's term-word kinds it holds.
    pub(crate) fn audit_term_kinds(&self) -> &[u8] {
        &self.audit_terms
    }

    /// The lexicon term that matched a mention.
    pub fn term_text(&self, m: &Mention) -> &str {
        self.lex
            .terms
            .get(m.term as usize)
            .map_or("", |t| t.text.as_str())
    }

    /// Analyzes one report. Never fails and never panics, whatever the text.
    pub fn analyze(&self, report: &Report) -> Analysis {
        let mut a = Analysis::default();
        self.analyze_into(report, &mut a);
        a
    }

    /// As [`Pipeline::analyze`], into `a`, whatever it held before: `a` ends up equal to what
    /// `analyze` returns, and its vectors are reused, so that analyzing many reports into one
    /// [`Analysis`] allocates far less than making a new one for each.
    pub fn analyze_into(&self, report: &Report, a: &mut Analysis) {
        a.clear();
        a.report_id.push_str(&report.id);
        a.warnings.clone_from(&report.warnings);
        let text = report.text.as_str();
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            // The folded view first: folding finds the line breaks, colons and sentence ends
            // that sections and sentences are split at.
            s.folded.fold(text);
            let marks = s.folded.marks();
            crate::section::sections_marked(text, marks, &self.lex.sections, &mut a.sections);
            crate::sentence::sentences_marked(text, marks, &a.sections, &mut a.sentences);
            self.detect(text, a, &mut s);
            crate::status::statuses(&a.mentions, self.lex.concepts.len(), &mut a.concepts);
            let non_ascii = s.folded.non_ascii();
            self.rules
                .apply_with_words(a, &report.patient, text, &s.cue_words, non_ascii);
            a.flags = crate::audit::audit_folded(text, &s.folded, &s.audit_words, a, self);
        });
    }

    /// Analyzes `report` as [`Pipeline::analyze`] does, returning the folded view of its text
    /// and the folded starts of the audit's words that the phrase scan found in it, as the
    /// audit was given them.
    #[cfg(test)]
    pub(crate) fn analyze_with_audit_words(&self, report: &Report) -> (Analysis, Folded, Vec<u32>) {
        let a = self.analyze(report);
        let s = SCRATCH.with(|s| {
            let s = s.borrow();
            (s.folded.clone(), s.audit_words.clone())
        });
        (a, s.0, s.1)
    }

    /// Finds the mentions of `text`, whose folded view `s.folded` holds.
    fn detect(&self, text: &str, a: &mut Analysis, s: &mut Scratch) {
        let Scratch {
            folded,
            hits,
            cue_words,
            audit_words,
            ..
        } = s;
        hits.clear();
        cue_words.clear();
        audit_words.clear();
        // Leftmost-longest, token-bounded: when the longest match at a position ends inside a
        // word ("degenerative spur" in "degenerative spurring"), the longest shorter one that
        // ends on a token boundary is taken instead.
        scan(&self.ac, folded, 0, hits, cue_words, audit_words);
        if let Some(user) = &self.user_ac {
            let before = hits.len();
            scan(user, folded, self.user_offset, hits, cue_words, audit_words);
            if hits.len() > before {
                hits.sort_by_key(|h| (h.fs, h.fe));
            }
        }
        if hits.is_empty() {
            return;
        }
        // The end of the first line.
        let title_end = find_any(text.as_bytes(), 0, [b'\n']).unwrap_or(text.len());
        let spine_exam = self.is_spine_exam(a, &s.hits, title_end);
        let has_headers = a.sections.iter().any(|x| x.kind != SectionKind::Preamble);
        let mut label: Option<(BodyPart, u32)> = None;
        s.maybe_labels.clear();
        let mut h = 0usize;
        for (si, sent) in a.sentences.iter().enumerate() {
            while h < s.hits.len() && s.hits[h].span.start < sent.span.start {
                h += 1;
            }
            let h0 = h;
            // What the sentence's hits hold, gathered as they are counted.
            let mut kinds = 0u8;
            while h < s.hits.len() && s.hits[h].span.end <= sent.span.end {
                kinds |= self.info[s.hits[h].pat as usize].kinds;
                h += 1;
            }
            let range = h0..h;
            let has_term = kinds & PatternInfo::TERM != 0;
            // A sentence that only names a body part ("Left knee.", "Lumbosacral spine.") labels
            // the part of a multi-part report that follows it, until the next label or section.
            // Only sentences that name anatomy can be labels; whether one is, is read when a
            // sentence with a term follows (most never need reading).
            if !has_term {
                if kinds & PatternInfo::ANATOMY != 0 {
                    s.maybe_labels.push(MaybeLabel {
                        sentence: *sent,
                        hits: range.clone(),
                    });
                }
                // "Its age cannot be determined." speaks of the fracture just before it.
                // Only an age statement ("cannot be dated", "age indeterminate") in the same
                // section carries over; "No acute cardiopulmonary process" does not. Only a
                // sentence with an acuity word can state one.
                let same_section = si > 0 && a.sentences[si - 1].section == sent.section;
                let statement = (same_section && kinds & PatternInfo::ACUITY != 0)
                    .then(|| self.acuity_statement(&s.hits[range.clone()]))
                    .flatten()
                    .filter(|&x| x == Acuity::Indeterminate);
                if let Some(acuity) = statement {
                    for m in a
                        .mentions
                        .iter_mut()
                        .rev()
                        .take_while(|m| m.sentence + 1 >= si as u32)
                    {
                        if m.sentence + 1 == si as u32
                            && m.concept == ConceptId::VERTEBRAL_FRACTURE
                            && m.attrs.acuity.is_none()
                        {
                            m.attrs.acuity = Some(acuity);
                        }
                    }
                }
                continue;
            }
            label = label_in_force(label, &s.maybe_labels, sent.section, |m| {
                self.body_part_label(&s.folded, &s.hits[m.hits.clone()], m.sentence.span)
            });
            s.maybe_labels.clear();
            let section = a.sections[sent.section as usize];
            let exam = match label {
                Some((BodyPart::Spine, _)) => Exam::Spine,
                Some((BodyPart::Other, _)) => Exam::OtherPart,
                None if spine_exam => Exam::Spine,
                None => Exam::Other,
            };
            self.sentence(
                text,
                si as u32,
                *sent,
                section,
                range,
                exam,
                has_headers,
                title_end,
                s,
                &mut a.mentions,
            );
        }
    }

    /// The acuity a sentence states, if it states one.
    fn acuity_statement(&self, hits: &[Hit]) -> Option<Acuity> {
        hits.iter().find_map(|x| self.info[x.pat as usize].acuity)
    }

    /// The body part a short label sentence names ("Left knee.", "Lumbosacral spine."): at most
    /// three words besides laterality, and an anatomy word among them. The chest, named in
    /// every chest film, labels nothing.
    fn body_part_label(&self, folded: &Folded, hits: &[Hit], span: Span) -> Option<BodyPart> {
        // Every word must be laterality or part of an anatomy word.
        let mut part = None;
        let mut covered = 0usize;
        for x in hits {
            let k = match self.info[x.pat as usize].anatomy {
                Some(ModifierKind::Spine | ModifierKind::Region | ModifierKind::Disc) => {
                    BodyPart::Spine
                }
                Some(ModifierKind::Other) => BodyPart::Other,
                _ => continue,
            };
            if part != Some(BodyPart::Spine) {
                part = Some(k);
            }
            // The anatomy word's tokens: the spaces inside it, and one.
            covered += (x.se - x.ss) as usize + 1;
        }
        // Most sentences name no anatomy at all: their words need not be read.
        part?;
        let (fs, fe) = fold_pos(folded, span.start, span.end);
        // At most three words, and no more than the anatomy words cover: counting stops at
        // one past that.
        let most = covered.min(3);
        let words = label_words(&folded.bytes[fs..fe], most + 1);
        if words == 0 || words > most {
            return None;
        }
        let chest = folded.bytes[fs..fe].windows(5).any(|w| w == b"chest");
        if chest {
            return None;
        }
        part
    }

    /// Whether the exam is a spine exam: a spine word in the report's first line (when it is
    /// not under a header), in a header or in a technique/exam section; or, failing such
    /// evidence, spine words at least as many as words naming other anatomy (a chest film names
    /// lungs, heart and ribs far more often than the spine; a bare snippet names neither).
    /// `title_end` is the end of the report's first line.
    fn is_spine_exam(&self, a: &Analysis, hits: &[Hit], title_end: usize) -> bool {
        let first_line_end = title_end.min(160);
        // Sections are in text order, each header before its body: the one section that can
        // hold a span is the last one starting at or before it.
        let in_scope = |sp: Span| {
            let k = a
                .sections
                .partition_point(|sec| sec.header.start.min(sec.body.start) <= sp.start);
            let Some(sec) = k.checked_sub(1).map(|k| &a.sections[k]) else {
                return false;
            };
            (sec.body.contains(sp)
                && (sec.kind == SectionKind::Technique
                    || (sec.kind == SectionKind::Preamble && sp.end <= first_line_end)))
                || sec.header.contains(sp)
        };
        let (mut spine, mut other) = (0usize, 0usize);
        for x in hits {
            let info = &self.info[x.pat as usize];
            if info.spine_words > 0 && in_scope(x.span) {
                return true;
            }
            spine += info.spine_words as usize;
            other += info.other_words as usize;
        }
        spine >= other
    }

    #[allow(clippy::too_many_arguments)]
    fn sentence(
        &self,
        text: &str,
        si: u32,
        sent: Sentence,
        section: Section,
        range: std::ops::Range<usize>,
        exam: Exam,
        has_headers: bool,
        title_end: usize,
        s: &mut Scratch,
        out: &mut Vec<Mention>,
    ) {
        let Scratch {
            folded,
            hits,
            triggers,
            breaks,
            levels,
            level_pos,
            quantities,
            cands,
            ..
        } = s;
        let hits = &hits[range];
        triggers.clear();
        breaks.clear();
        cands.clear();
        // Nearest spine / other anchors are computed per candidate below.
        for x in hits {
            for p in &self.payloads[x.pat as usize] {
                match *p {
                    Payload::Rule(r) => triggers.push(TriggerHit {
                        fs: x.fs,
                        fe: x.fe,
                        ss: x.ss,
                        se: x.se,
                        span: x.span,
                        rule: r,
                    }),
                    Payload::Modifier(_) | Payload::Term(_) => {}
                }
            }
        }
        // Level expressions, once per sentence (they anchor findings and are attributes).
        levels.clear();
        level_pos.clear();
        attribute::levels(text, sent.span.start, sent.span.end, levels);
        for e in levels.iter() {
            let (a, b) = fold_pos(folded, e.start, e.end);
            level_pos.push(Place::near(folded, hits, a, b));
        }
        // Candidates that pass anchoring.
        for x in hits.iter().filter(|x| self.info[x.pat as usize].term) {
            for p in &self.payloads[x.pat as usize] {
                let Payload::Term(t) = *p else { continue };
                let term = &self.lex.terms[t as usize];
                // `#` before a number is a number sign ("#18-gauge", "OR #5"), not the
                // fracture shorthand ("L3 burst #", "no # seen").
                if term.text == "#"
                    && next_token(&folded.bytes, x.fe)
                        .first()
                        .is_some_and(u8::is_ascii_digit)
                {
                    continue;
                }
                let anchoring = if term.concept.is_builtin() && term.anchor != Anchor::Intrinsic {
                    self.anchored(
                        term.anchor,
                        term.concept,
                        t,
                        hits,
                        folded,
                        x,
                        level_pos,
                        exam,
                    )
                } else {
                    Anchoring::Yes
                };
                if anchoring == Anchoring::No {
                    continue;
                }
                let attrs = Attributes {
                    levels: term.levels,
                    genant_grade: term.genant,
                    direction: term.direction,
                    acuity: term.acuity,
                    severity: term.severity,
                    ..Attributes::default()
                };
                cands.push(Cand {
                    fs: x.fs,
                    fe: x.fe,
                    ss: x.ss,
                    se: x.se,
                    span: x.span,
                    term: t,
                    concept: term.concept,
                    attrs,
                    normal_measure: None,
                    if_negated: anchoring == Anchoring::IfNegated,
                    genant_stated: term.genant.is_some(),
                });
                break; // one concept per matched words
            }
        }
        if cands.is_empty() {
            return;
        }
        // Words that open an affirmed item after a comma or "and": a severity or acuity word
        // ("No fracture, mild scoliosis"), or a descriptive word or number after a comma ("No
        // fracture, stable grade 1 anterolisthesis"). They stop only negations: without a
        // negation trigger in the sentence they are not looked for.
        let negation = triggers
            .iter()
            .any(|t| self.lex.context[t.rule as usize].category == Category::Negated);
        if negation {
            for x in hits.iter().filter(|x| self.info[x.pat as usize].modifier) {
                for p in &self.payloads[x.pat as usize] {
                    if let Payload::Modifier(m) = *p {
                        if matches!(
                            self.lex.modifiers[m as usize].kind,
                            ModifierKind::Severity | ModifierKind::Acuity
                        ) && opens_clause(&folded.bytes, x.fs)
                        {
                            breaks.push(x.fs);
                        }
                    }
                }
            }
            if let (Some(first), Some(last)) = (hits.first(), hits.last()) {
                comma_breaks(&folded.bytes, first.fs, last.fe, breaks);
            }
        }
        // Levels: each expression goes to the nearest candidate.
        for (e, &at) in levels.iter().zip(level_pos.iter()) {
            let linked = LINKS.contains(&prev_token(&folded.bytes, at.fs));
            if let Some(ci) = nearest_cand(cands, at, linked, |_| true) {
                // Every finding on the same words (a shipped and a user concept) shares it.
                let at = (cands[ci].fs, cands[ci].fe);
                for c in cands.iter_mut().filter(|c| (c.fs, c.fe) == at) {
                    let lv = if c.concept == ConceptId::SPONDYLOLISTHESIS {
                        e.slip
                    } else {
                        e.all
                    };
                    c.attrs.levels = c.attrs.levels.union(lv);
                }
            }
        }
        // Quantities.
        let wants_numbers = cands.iter().any(|c| {
            matches!(
                c.concept,
                ConceptId::VERTEBRAL_FRACTURE
                    | ConceptId::SPONDYLOLISTHESIS
                    | ConceptId::SCOLIOSIS
                    | ConceptId::KYPHOSIS
            )
        });
        if wants_numbers {
            quantities.clear();
            attribute::quantities(text, sent.span.start, sent.span.end, quantities);
            for &(qs, qe, q) in quantities.iter() {
                let (a, b) = fold_pos(folded, qs, qe);
                let eligible = |c: ConceptId| match q {
                    Quantity::Percent(_) | Quantity::Grade(_) => {
                        c == ConceptId::VERTEBRAL_FRACTURE || c == ConceptId::SPONDYLOLISTHESIS
                    }
                    Quantity::Millimetres(_) => c == ConceptId::SPONDYLOLISTHESIS,
                    Quantity::Degrees(_) => c == ConceptId::SCOLIOSIS || c == ConceptId::KYPHOSIS,
                };
                let at = Place::near(folded, hits, a, b);
                let Some(ci) = nearest_cand(cands, at, false, eligible) else {
                    continue;
                };
                let c = &mut cands[ci];
                match (q, c.concept) {
                    (Quantity::Percent(p), ConceptId::VERTEBRAL_FRACTURE) => {
                        // Percent of canal narrowing or stenosis is not height loss.
                        if names_canal(&folded.bytes, b) {
                            continue;
                        }
                        // Several figures: the largest loss is the one that grades the fracture.
                        if c.attrs.height_loss_pct.map_or(true, |q| p > q) {
                            c.attrs.height_loss_pct = Some(p);
                            if !c.genant_stated {
                                c.attrs.genant_grade = genant_from_pct(p);
                            }
                        }
                    }
                    (Quantity::Percent(p), _) => {
                        c.attrs.meyerding_grade = c.attrs.meyerding_grade.or(meyerding_from_pct(p));
                    }
                    (Quantity::Grade(g), ConceptId::VERTEBRAL_FRACTURE) if g <= 3 => {
                        c.attrs.genant_grade = Some(g);
                        c.genant_stated = true;
                    }
                    (Quantity::Grade(g), ConceptId::SPONDYLOLISTHESIS) => {
                        c.attrs.meyerding_grade = Some(g)
                    }
                    (Quantity::Millimetres(v), _) => c.attrs.slip_mm = Some(v),
                    (Quantity::Degrees(_), _) if c.attrs.cobb_degrees.is_some() => {}
                    (Quantity::Degrees(v), ConceptId::KYPHOSIS) => {
                        c.attrs.cobb_degrees = Some(v);
                        // A thoracic kyphosis measured within the normal range (up to 45°) is
                        // a measurement, not hyperkyphosis, unless the words say increased.
                        // Focal, segmental or angular kyphosis is a deformity at any angle.
                        let plain = self.lex.terms[c.term as usize]
                            .text
                            .eq_ignore_ascii_case("kyphosis")
                            && !LOCAL_KYPHOSIS.contains(&prev_token(&folded.bytes, c.fs));
                        if plain && (NORMAL_KYPHOSIS_MIN..=NORMAL_KYPHOSIS_MAX).contains(&v) {
                            c.normal_measure = Some(Span::new(qs, qe));
                        }
                    }
                    (Quantity::Degrees(v), ConceptId::SCOLIOSIS) => {
                        c.attrs.cobb_degrees = Some(v);
                        // Scoliosis is a coronal curve of 10° or more: a "curve" of 6° is not.
                        let generic = matches!(
                            self.lex.terms[c.term as usize]
                                .text
                                .to_ascii_lowercase()
                                .as_str(),
                            "curve" | "curvature"
                        );
                        if generic && v < SCOLIOSIS_MIN_COBB {
                            c.normal_measure = Some(Span::new(qs, qe));
                        }
                    }
                    (Quantity::Degrees(v), _) => c.attrs.cobb_degrees = Some(v),
                    _ => {}
                }
            }
        }
        // Modifiers: severity, acuity, region, direction.
        for ci in 0..cands.len() {
            let (fs, fe) = (cands[ci].fs, cands[ci].fe);
            let cp = cands[ci].place();
            let mut sev: Option<(usize, Severity)> = None;
            let mut acu: Option<(usize, Acuity)> = None;
            let mut reg: Option<(usize, Region)> = None;
            let mut dir: Option<(usize, Direction)> = None;
            for x in hits.iter().filter(|x| self.info[x.pat as usize].modifier) {
                for p in &self.payloads[x.pat as usize] {
                    let Payload::Modifier(mi) = *p else { continue };
                    let m = &self.lex.modifiers[mi as usize];
                    let before = x.fe <= fs;
                    let after = x.fs >= fe;
                    if !before && !after {
                        continue;
                    }
                    let d = distance(cp, x.place());
                    let between = |cs: &[Cand]| {
                        let (lo, hi) = if before { (x.fe, fs) } else { (fe, x.fs) };
                        cs.iter().any(|o| o.fs >= lo && o.fe <= hi)
                    };
                    match m.value {
                        ModifierValue::Severity(v) => {
                            // Level tokens between do not count ("moderate C5-C6 and C6-C7 DDD").
                            let (lo, hi) = if before { (x.fe, fs) } else { (fe, x.fs) };
                            let d = d.saturating_sub(level_tokens(level_pos, lo, hi));
                            let cap = if before { 4 } else { 3 };
                            // A word after this finding that opens the next one is the next
                            // one's ("fracture of L1 with mild retropulsion").
                            let owned_by_next = after
                                && cands
                                    .iter()
                                    .any(|o| o.fs >= x.fe && gap(x.fe, x.se, o.fs, o.ss) <= 2);
                            if d <= cap
                                && !between(cands)
                                && !owned_by_next
                                && sev.map_or(true, |(bd, _)| d < bd)
                            {
                                sev = Some((d, v));
                            }
                        }
                        ModifierValue::Acuity(v) => {
                            let cap = if before { 6 } else { 10 };
                            if d <= cap && acu.map_or(true, |(bd, _)| d < bd) {
                                acu = Some((d, v));
                            }
                        }
                        ModifierValue::Region(v) => {
                            if reg.map_or(true, |(bd, _)| d < bd) {
                                reg = Some((d, v));
                            }
                        }
                        ModifierValue::Direction(v) => {
                            if dir.map_or(true, |(bd, _)| d < bd) {
                                dir = Some((d, v));
                            }
                        }
                        ModifierValue::None => {}
                    }
                }
            }
            let c = &mut cands[ci];
            c.attrs.severity = c.attrs.severity.or(sev.map(|x| x.1));
            if matches!(
                c.concept,
                ConceptId::VERTEBRAL_FRACTURE | ConceptId::SPONDYLOLYSIS
            ) {
                c.attrs.acuity = c.attrs.acuity.or(acu.map(|x| x.1));
            }
            c.attrs.region = reg.map(|x| x.1);
            if c.concept == ConceptId::SCOLIOSIS {
                c.attrs.direction = c.attrs.direction.or(dir.map(|x| x.1));
            }
        }
        // A finding joined by "with" to one that has levels shares them ("lytic lesion in T9
        // with mild loss of height", "fracture of L1 with retropulsion").
        for ci in 0..cands.len() {
            if !cands[ci].attrs.levels.is_empty() {
                continue;
            }
            let (fs, ss, concept) = (cands[ci].fs, cands[ci].ss, cands[ci].concept);
            if !matches!(
                concept,
                ConceptId::VERTEBRAL_FRACTURE | ConceptId::RETROPULSION | ConceptId::KYPHOSIS
            ) {
                continue;
            }
            let prev = cands[..ci].iter().rev().find(|p| p.fe <= fs);
            if let Some(p) = prev {
                let words = &folded.bytes[p.fe..fs];
                let with = words.windows(6).any(|w| w == b" with ");
                if with && gap(p.fe, p.se, fs, ss) <= 4 && !p.attrs.levels.is_empty() {
                    cands[ci].attrs.levels = p.attrs.levels;
                }
            }
        }
        // Retropulsion is of the fractured vertebra: without a level of its own it takes the
        // levels of the fracture in the same sentence.
        if let Some(fx) = cands
            .iter()
            .find(|c| c.concept == ConceptId::VERTEBRAL_FRACTURE && !c.attrs.levels.is_empty())
            .map(|c| c.attrs.levels)
        {
            for c in cands.iter_mut() {
                if c.concept == ConceptId::RETROPULSION && c.attrs.levels.is_empty() {
                    c.attrs.levels = fx;
                }
            }
        }
        // Context.
        // The end of `fold_pos(folded, start, end)`: never before its start. Only triggers read
        // the end of the sentence's last word: without one it is not looked for.
        let last_end = if triggers.is_empty() {
            0
        } else {
            let sent_fe = folded.position_of(sent.span.end).min(folded.bytes.len());
            last_word_end(&folded.bytes, sent_fe)
        };
        for c in cands.iter() {
            let mut f = context::flags(
                c.concept,
                c.fs,
                c.fe,
                c.ss,
                c.se,
                triggers,
                &self.lex.context,
                breaks,
                last_end,
                self.lex.terms[c.term as usize].only_negated,
            );
            if let Some(m) = c.normal_measure {
                if c.attrs.severity.is_none() {
                    f.negated = f.negated.or(Some(m));
                }
            }
            // The exam's title names the study, not a finding ("SCOLIOSIS SERIES",
            // "VERTEBRAL FRACTURE ASSESSMENT"): a technique line, or the first line of a report
            // whose findings sit under headers (`title_end`: the end of the first line). A
            // first line longer than a sentence may be is text run together, not a title: it
            // would make every mention before its end carry all of it as a trigger.
            match section.kind {
                SectionKind::Technique => f.hypothetical = f.hypothetical.or(Some(section.header)),
                SectionKind::Preamble
                    if has_headers && c.span.end <= title_end && title_end <= MAX_TITLE =>
                {
                    f.hypothetical = f.hypothetical.or(Some(Span::new(0, title_end)))
                }
                SectionKind::Indication => {
                    // A question mark in a reason for exam asks; it does not hedge a finding.
                    if f.uncertain.is_some_and(|t| t.slice(text) == "?") {
                        f.uncertain = None;
                    }
                    // Explicit history in an indication stays history.
                    if f.historical.is_none() {
                        f.hypothetical = f.hypothetical.or(Some(section.header));
                    }
                }
                SectionKind::History | SectionKind::Comparison => {
                    f.historical = f.historical.or(Some(section.header))
                }
                _ => {}
            }
            let term = &self.lex.terms[c.term as usize];
            if (term.only_negated || c.if_negated) && (f.negated.is_none() || f.uncertain.is_some())
            {
                continue;
            }
            if term.only_affirmed {
                f.negated = None;
            }
            if term.denial {
                f.negated = Some(c.span);
            }
            out.push(Mention {
                concept: c.concept,
                span: c.span,
                section: section.kind,
                sentence: si,
                term: c.term,
                negated: f.negated,
                uncertain: f.uncertain,
                historical: f.historical,
                hypothetical: f.hypothetical,
                attrs: c.attrs,
            });
        }
    }

    /// Whether a term that needs anchoring is a spine finding here.
    ///
    /// A finding tied by a preposition to the anatomy right after it ("deformity of the ribs",
    /// "changes in the thoracic spine", "fracture at T12") belongs to that anatomy. Otherwise
    /// the nearest anatomy word in the sentence decides, spine words and levels winning ties;
    /// a `spine` term with no anatomy word at all counts only in a spine exam.
    #[allow(clippy::too_many_arguments)]
    fn anchored(
        &self,
        anchor: Anchor,
        concept: ConceptId,
        term: u32,
        hits: &[Hit],
        folded: &Folded,
        x: &Hit,
        level_pos: &[Place],
        exam: Exam,
    ) -> Anchoring {
        let spine_exam = exam == Exam::Spine;
        let kind_of = |y: &Hit| self.info[y.pat as usize].anatomy;
        let is_hardware = |y: &Hit| self.info[y.pat as usize].hardware;
        let is_spine = |k: ModifierKind| {
            matches!(
                k,
                ModifierKind::Spine | ModifierKind::Region | ModifierKind::Disc
            )
        };
        // Height loss right after a disc word is the disc's ("disc desiccation and loss of
        // height at L4-L5").
        if concept == ConceptId::VERTEBRAL_FRACTURE && self.height_terms[term as usize] {
            // A disc word, or a disc finding ("disc desiccation and loss of height").
            let disc_before = hits.iter().any(|y| {
                y.fe <= x.fs
                    && gap(y.fe, y.se, x.fs, x.ss) <= 3
                    && (kind_of(y) == Some(ModifierKind::Disc)
                        || self.info[y.pat as usize].disc_term)
            });
            if disc_before {
                return Anchoring::No;
            }
        }
        // Prepositional attachment: "deformity of the ribs", "fracture of the left rod",
        // "loss of height of the L4-L5 disc", "changes in the thoracic spine".
        if LINKS.contains(&next_token(&folded.bytes, x.fe)) {
            let mut first: Option<(usize, bool)> = None; // (folded start, is spine)
            for y in hits.iter().filter(|y| y.fs >= x.fe) {
                if gap(x.fe, x.se, y.fs, y.ss) > 5 {
                    break;
                }
                if let Some(k) = kind_of(y) {
                    let spine = match k {
                        ModifierKind::Disc => concept != ConceptId::VERTEBRAL_FRACTURE,
                        k => is_spine(k),
                    };
                    first = Some((y.fs, spine));
                    break;
                }
                if concept != ConceptId::HARDWARE && is_hardware(y) {
                    first = Some((y.fs, false));
                    break;
                }
            }
            if let Some(&lp) = level_pos.iter().find(|lp| lp.fs >= x.fe) {
                let (ls, le) = (lp.fs, lp.fe);
                if gap(x.fe, x.se, ls, lp.ss) <= 5 && first.map_or(true, |(fs, _)| ls < fs) {
                    // A level names the vertebra, unless disc words follow it closely ("loss
                    // of height of the L4-L5 and L5-S1 discs"): then it names the disc.
                    let disc_follows = hits.iter().any(|y| {
                        y.fs >= le
                            && gap(le, lp.se, y.fs, y.ss) <= 4
                            && kind_of(y) == Some(ModifierKind::Disc)
                    });
                    // Likewise a level followed by hardware names the hardware ("fracture of the
                    // left S1 pedicle screw").
                    let hardware_follows = concept != ConceptId::HARDWARE
                        && hits.iter().any(|y| {
                            y.fs >= le && gap(le, lp.se, y.fs, y.ss) <= 2 && is_hardware(y)
                        });
                    let spine = !((disc_follows && concept == ConceptId::VERTEBRAL_FRACTURE)
                        || hardware_follows);
                    first = Some((ls, spine));
                }
            }
            if let Some((_, spine)) = first {
                return if spine { Anchoring::Yes } else { Anchoring::No };
            }
        }
        let nearest = |want: &dyn Fn(ModifierKind) -> bool| {
            hits.iter()
                .filter(|y| kind_of(y).is_some_and(want))
                .map(|y| distance(x.place(), y.place()))
                .min()
        };
        let ds_levels = level_pos.iter().map(|&lp| distance(x.place(), lp)).min();
        let ds = match (nearest(&is_spine), ds_levels) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Under a label naming another body part ("Left knee."), that part is the anatomy.
        let dother = nearest(&|k| k == ModifierKind::Other)
            .or((exam == Exam::OtherPart).then_some(usize::MAX - 1));
        let not_other = match (ds, dother) {
            (_, None) => true,
            (Some(a), Some(b)) => a <= b,
            (None, Some(_)) => false,
        };
        let yes = |b: bool| if b { Anchoring::Yes } else { Anchoring::No };
        match anchor {
            Anchor::Intrinsic => Anchoring::Yes,
            Anchor::NotOther => yes(not_other),
            Anchor::Spine if ds.is_none() && dother.is_none() && !spine_exam => {
                Anchoring::IfNegated
            }
            Anchor::Spine => yes((ds.is_some() || spine_exam) && not_other),
        }
    }
}

/// One token-bounded, leftmost-longest pass of `set` over the folded text; pattern ids are
/// shifted by `offset`. The tagged words of `set` go to `words` (the rules' cue words, with
/// their original starts) and to `audit` (the first words of the audit's phrases, with their
/// folded starts; [`crate::audit::Auditor::tag_words`]).
fn scan(
    set: &PhraseSet,
    folded: &Folded,
    offset: u32,
    hits: &mut Vec<Hit>,
    words: &mut Vec<(u32, u32)>,
    audit: &mut Vec<u32>,
) {
    // The offsets of the folded bytes, read for every match and tagged word.
    let origins = folded.origins();
    let hit = |start: usize, end: usize, id: u32, ss: u32, se: u32| {
        let (fs, fe) = (start + 1, end);
        // As `folded.original(fs, fe)`.
        let (os, oe) = (origins[fs] as usize, origins[fe - 1] as usize + 1);
        hits.push(Hit {
            fs,
            fe,
            // `start` is a space.
            ss: ss + 1,
            se,
            span: Span::new(os, oe),
            pat: id + offset,
        });
    };
    set.for_each_match_tagged(&folded.bytes, hit, |at, tag| {
        if tag & crate::audit::AUDIT_TAG != 0 {
            audit.push(at as u32);
        }
        let tag = tag & !crate::audit::AUDIT_TAG;
        if tag != 0 {
            words.push((origins[at], tag));
        }
    });
}

/// The body-part label in force at a sentence with a term in section `section`: the last
/// label read before it, if in the same section. `label` is the one in force at the sentence
/// with a term before, and `maybe` the possible label sentences since, in text order; `read`
/// tells whether one is a label. They are read from the latest back, and only those of this
/// section: a label of an earlier section would not reach here, nor any label before it.
fn label_in_force(
    label: Option<(BodyPart, u32)>,
    maybe: &[MaybeLabel],
    section: u32,
    read: impl Fn(&MaybeLabel) -> Option<BodyPart>,
) -> Option<(BodyPart, u32)> {
    let latest = maybe
        .iter()
        .rev()
        .take_while(|m| m.sentence.section == section)
        .find_map(|m| read(m).map(|l| (l, section)));
    latest.or(label).filter(|&(_, sec)| sec == section)
}

/// How many of a pattern's payloads are anatomy modifiers of a kind `want` takes.
fn anatomy_count(lex: &Lexicons, ps: &[Payload], want: impl Fn(ModifierKind) -> bool) -> u32 {
    ps.iter()
        .filter(|p| match **p {
            Payload::Modifier(m) => want(lex.modifiers[m as usize].kind),
            _ => false,
        })
        .count() as u32
}

/// The words of a folded label sentence: tokens that begin with a letter or digit, other than
/// laterality and "the". Counting stops at `limit`.
fn label_words(bytes: &[u8], limit: usize) -> usize {
    let mut n = 0;
    for w in bytes.split(|&c| c == b' ') {
        if n == limit {
            break;
        }
        if w.first().is_some_and(u8::is_ascii_alphanumeric)
            && !matches!(w, b"left" | b"right" | b"bilateral" | b"the")
        {
            n += 1;
        }
    }
    n
}

/// Tokens between two folded ranges (0 when adjacent or overlapping).
fn distance(a: Place, b: Place) -> usize {
    if b.fe <= a.fs {
        gap(b.fe, b.se, a.fs, a.ss)
    } else if b.fs >= a.fe {
        gap(a.fe, a.se, b.fs, b.ss)
    } else {
        0
    }
}

/// Spaces in `folded.bytes[..k]`.
fn spaces_before(folded: &Folded, k: usize) -> u32 {
    if k > 0 && folded.bytes.first() == Some(&b' ') {
        // `[0, k)` holds at least the leading space: one more than the tokens between.
        folded.tokens_between(0, k) as u32 + 1
    } else {
        folded.bytes[..k].iter().filter(|&&c| c == b' ').count() as u32
    }
}

/// Folded positions of an original byte range.
fn fold_pos(folded: &Folded, s: usize, e: usize) -> (usize, usize) {
    let a = folded.position_of(s);
    let b = folded.position_of(e);
    (a.min(folded.bytes.len()), b.min(folded.bytes.len()).max(a))
}

/// Words before "kyphosis" that make it a local deformity rather than the overall curve.
const LOCAL_KYPHOSIS: [&[u8]; 4] = [b"focal", b"segmental", b"angular", b"gibbus"];

/// Tokens of level expressions inside folded `[lo, hi)`.
fn level_tokens(level_pos: &[Place], lo: usize, hi: usize) -> usize {
    level_pos
        .iter()
        .filter(|lp| lp.fs >= lo && lp.fe <= hi)
        .map(|lp| (lp.se - lp.ss) as usize + 1)
        .sum()
}

/// Pushes onto `breaks` the folded start of each word that opens an affirmed item after a
/// comma in folded `[lo, hi)`: a [`BREAK_WORDS`] word or a number (", stable grade 1
/// anterolisthesis"). Commas are found eight bytes at a time.
fn comma_breaks(bytes: &[u8], lo: usize, hi: usize, breaks: &mut Vec<usize>) {
    // A comma counts when the byte after it, a space, is still before `hi`.
    let hay = &bytes[..hi.min(bytes.len()).saturating_sub(1)];
    let mut k = lo;
    while let Some(c) = find_any(hay, k, [b',']) {
        if bytes[c + 1] == b' ' {
            if opens_item(next_token(bytes, c + 1)) {
                breaks.push(c + 2);
            }
        }
        k = c + 1;
    }
}

/// Whether a word after a comma opens an affirmed item: a [`BREAK_WORDS`] word or a number.
fn opens_item(word: &[u8]) -> bool {
    BREAK_WORDS.contains(&word) || word.first().is_some_and(u8::is_ascii_digit)
}

/// Whether the words right after folded position `end` name the canal ("50% canal
/// narrowing", "30% central stenosis"), so that a percent before them is not height loss.
fn names_canal(bytes: &[u8], end: usize) -> bool {
    const CANAL: [&[u8]; 5] = [
        b"canal",
        b"narrowing",
        b"stenosis",
        b"compromise",
        b"encroachment",
    ];
    const SKIP: [&[u8]; 4] = [b"central", b"spinal", b"of", b"the"];
    let mut at = end;
    for _ in 0..3 {
        let t = next_token(bytes, at);
        if CANAL.contains(&t) {
            return true;
        }
        if !SKIP.contains(&t) {
            return false;
        }
        at += t.len() + 1;
    }
    false
}

/// Words that, right after a comma, open an affirmed item and so end a negation's list.
const BREAK_WORDS: [&[u8]; 21] = [
    b"small",
    b"large",
    b"trace",
    b"tiny",
    b"new",
    b"persistent",
    b"increased",
    b"decreased",
    b"approximately",
    b"about",
    b"measuring",
    b"with",
    b"stable",
    b"unchanged",
    b"multilevel",
    b"multiple",
    b"diffuse",
    b"grade",
    b"scattered",
    b"extensive",
    b"redemonstrated",
];

/// Whether the token at folded `fs` follows a comma or "and".
fn opens_clause(bytes: &[u8], fs: usize) -> bool {
    let prev = prev_token(bytes, fs);
    prev == b"," || prev == b"and"
}

/// Folded end of the last word before folded position `end`, skipping punctuation tokens.
fn last_word_end(bytes: &[u8], end: usize) -> usize {
    bytes[..end.min(bytes.len())]
        .iter()
        .rposition(|&c| c.is_ascii_alphanumeric() || c >= 0x80)
        .map_or(0, |k| k + 1)
}

/// The folded token that starts just after folded position `fe` (a space).
fn next_token(bytes: &[u8], fe: usize) -> &[u8] {
    let s = fe + 1;
    if s >= bytes.len() {
        return b"";
    }
    let mut e = s;
    while e < bytes.len() && bytes[e] != b' ' {
        e += 1;
    }
    &bytes[s..e]
}

/// The folded token that ends just before folded position `fs`.
fn prev_token(bytes: &[u8], fs: usize) -> &[u8] {
    if fs < 2 {
        return b"";
    }
    let end = fs - 1; // the space before fs
    let mut s = end;
    while s > 0 && bytes[s - 1] != b' ' {
        s -= 1;
    }
    &bytes[s..end]
}

/// The candidate nearest to folded `[a, b)` among those `eligible`; a level linked by a
/// preposition to the finding before it counts as one token nearer to that finding; ties go
/// to the finding before.
fn nearest_cand(
    cands: &[Cand],
    at: Place,
    linked: bool,
    eligible: impl Fn(ConceptId) -> bool,
) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None; // (score*2, index)
    for (i, c) in cands.iter().enumerate() {
        if !eligible(c.concept) {
            continue;
        }
        let d = distance(c.place(), at);
        let mut score = d * 2 + 1;
        if c.fe <= at.fs {
            score -= 1; // finding before the level: wins ties
            if linked {
                score = score.saturating_sub(2);
            }
        }
        if best.map_or(true, |(bs, _)| score < bs) {
            best = Some((score, i));
        }
    }
    best.map(|x| x.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(text: &str, c: ConceptId) -> Option<Status> {
        Pipeline::builtin()
            .analyze(&Report::new("t", text))
            .status(c)
    }

    /// The old distance, counted by the folded view.
    fn distance_folded(folded: &Folded, a: (usize, usize), b: (usize, usize)) -> usize {
        if b.1 <= a.0 {
            folded.tokens_between(b.1, a.0)
        } else if b.0 >= a.1 {
            folded.tokens_between(a.1, b.0)
        } else {
            0
        }
    }

    proptest::proptest! {
        /// Hits count the spaces before their ends as the folded view does, and distances
        /// between places agree with [`Folded::tokens_between`].
        #[test]
        fn places_count_tokens_as_the_folded_view(
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "No", "acute", "fracture", "of", "the", "L1", "vertebral", "body", ".", ",",
                    "mild", "degenerative", "changes", "at", "L4-L5", "  ", "\n", "spine",
                    "compression", "deformity", "with", "retropulsion", "é", "°", "(", "-",
                ]),
                0..120,
            ),
            picks in proptest::collection::vec((0usize..1000, 0usize..1000), 8),
        ) {
            let text = words.join(" ");
            let p = Pipeline::builtin();
            let mut folded = Folded::default();
            folded.fold(&text);
            let mut hits = Vec::new();
            scan(&p.ac, &folded, 0, &mut hits, &mut Vec::new(), &mut Vec::new());
            for x in &hits {
                proptest::prop_assert_eq!(x.place(), Place::of(&folded, x.fs, x.fe));
            }
            let n = folded.bytes.len();
            let mut places: Vec<Place> = hits.iter().map(Hit::place).collect();
            for &(a, b) in &picks {
                let (a, b) = (a % (n + 1), b % (n + 1));
                let at = Place::of(&folded, a.min(b), a.max(b));
                // Counted from the hits near it, or from some of them, the place is the same.
                proptest::prop_assert_eq!(Place::near(&folded, &hits, at.fs, at.fe), at);
                let some = &hits[hits.len() / 3..hits.len() * 2 / 3];
                proptest::prop_assert_eq!(Place::near(&folded, some, at.fs, at.fe), at);
                places.push(at);
            }
            for x in &places {
                for y in &places {
                    proptest::prop_assert_eq!(
                        distance(*x, *y),
                        distance_folded(&folded, (x.fs, x.fe), (y.fs, y.fe))
                    );
                    proptest::prop_assert_eq!(
                        gap(x.fe, x.se, y.fs, y.ss),
                        folded.tokens_between(x.fe, y.fs)
                    );
                }
            }
        }
    }

    /// [`last_word_end`] stepping back one byte at a time with explicit indices.
    fn last_word_end_simple(bytes: &[u8], end: usize) -> usize {
        let mut e = end.min(bytes.len());
        while e > 0 && !bytes[e - 1].is_ascii_alphanumeric() && bytes[e - 1] < 0x80 {
            e -= 1;
        }
        e
    }

    proptest::proptest! {
        #[test]
        fn last_word_end_agrees_with_the_stepwise_walk(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b' ', b'.', b',', b'a', b'7', 0xc3, 0xa9, b':']),
                0..24,
            ),
            end in 0usize..30,
        ) {
            proptest::prop_assert_eq!(last_word_end(&bytes, end), last_word_end_simple(&bytes, end));
        }
    }

    /// [`comma_breaks`] one byte at a time.
    fn comma_breaks_simple(bytes: &[u8], lo: usize, hi: usize, breaks: &mut Vec<usize>) {
        let hi = hi.min(bytes.len());
        for k in lo..hi.saturating_sub(1) {
            if bytes[k] == b',' && bytes[k + 1] == b' ' {
                if opens_item(next_token(bytes, k + 1)) {
                    breaks.push(k + 2);
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn comma_breaks_agree_with_the_bytewise_scan(
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "no", "fracture", ",", ", ", " ", "mild", "stable", "grade", "1", "12",
                    "small", "and", "scoliosis", "x", ",,", ", mild", ",1",
                ]),
                0..60,
            ),
            lo in 0usize..400,
            hi in 0usize..400,
        ) {
            let bytes = words.concat().into_bytes();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            comma_breaks(&bytes, lo, hi, &mut a);
            comma_breaks_simple(&bytes, lo, hi, &mut b);
            proptest::prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn pattern_summaries_agree_with_their_payloads() {
        let p = Pipeline::builtin();
        assert_eq!(p.info.len(), p.payloads.len());
        assert_eq!(p.height_terms.len(), p.lex.terms.len());
        for (t, &height) in p.lex.terms.iter().zip(&p.height_terms) {
            assert_eq!(height, t.text.contains("height"), "{}", t.text);
        }
        for (info, ps) in p.info.iter().zip(&p.payloads) {
            let modifiers = ps.iter().filter_map(|x| match *x {
                Payload::Modifier(m) => Some(p.lex.modifiers[m as usize].kind),
                _ => None,
            });
            let terms = || {
                ps.iter().filter_map(|x| match *x {
                    Payload::Term(t) => Some(&p.lex.terms[t as usize]),
                    _ => None,
                })
            };
            assert_eq!(info.term, terms().next().is_some());
            assert_eq!(info.modifier, modifiers.clone().next().is_some());
            assert_eq!(
                info.anatomy,
                modifiers.clone().find(|k| matches!(
                    k,
                    ModifierKind::Spine
                        | ModifierKind::Region
                        | ModifierKind::Disc
                        | ModifierKind::Other
                ))
            );
            assert_eq!(
                info.hardware,
                terms().any(|t| t.concept == ConceptId::HARDWARE)
            );
            assert_eq!(
                info.disc_term,
                terms().any(|t| t.concept == ConceptId::DEGENERATIVE_CHANGES
                    && (t.text.contains("disc") || t.text.contains("disk")))
            );
            let values = ps.iter().filter_map(|x| match *x {
                Payload::Modifier(m) => Some(p.lex.modifiers[m as usize].value),
                _ => None,
            });
            assert_eq!(
                info.acuity,
                values.clone().find_map(|v| match v {
                    ModifierValue::Acuity(a) => Some(a),
                    _ => None,
                })
            );
            let spine = modifiers.clone().filter(|k| {
                matches!(
                    k,
                    ModifierKind::Spine | ModifierKind::Region | ModifierKind::Disc
                )
            });
            assert_eq!(info.spine_words as usize, spine.count());
            // The bits or-ed over a sentence's hits stand for the fields they are read for.
            assert_eq!(info.kinds & PatternInfo::TERM != 0, info.term);
            assert_eq!(
                info.kinds & PatternInfo::ANATOMY != 0,
                info.anatomy.is_some()
            );
            assert_eq!(info.kinds & PatternInfo::ACUITY != 0, info.acuity.is_some());
            assert_eq!(
                info.kinds & !(PatternInfo::TERM | PatternInfo::ANATOMY | PatternInfo::ACUITY),
                0
            );
            assert_eq!(
                info.other_words as usize,
                modifiers.filter(|&k| k == ModifierKind::Other).count()
            );
        }
    }

    proptest::proptest! {
        /// Counting label words up to a limit agrees with counting them all.
        #[test]
        fn label_words_agree_with_a_full_count(
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "left", "right", "the", "bilateral", "knee", "l", "5", ".", ",", "é",
                    "lumbosacral", "spine", "", "leftx",
                ]),
                0..12,
            ),
            limit in 0usize..6,
        ) {
            let bytes = words.join(" ").into_bytes();
            let all = bytes
                .split(|&c| c == b' ')
                .filter(|w| w.first().is_some_and(|c| c.is_ascii_alphanumeric()))
                .filter(|w| !matches!(*w, b"left" | b"right" | b"bilateral" | b"the"))
                .count();
            proptest::prop_assert_eq!(label_words(&bytes, limit), all.min(limit));
        }

        /// Reading possible labels only when a sentence with a term needs one, latest first,
        /// finds the label that reading every one in text order leaves in force.
        #[test]
        fn labels_read_late_agree_with_labels_read_in_order(
            steps in proptest::collection::vec((0u32..2, proptest::option::of(proptest::bool::ANY)), 0..12),
            prior in proptest::option::of((proptest::bool::ANY, 0u32..3)),
            after in 0u32..2,
        ) {
            let part = |spine: bool| if spine { BodyPart::Spine } else { BodyPart::Other };
            // Sections never go down in text order.
            let mut section = prior.map_or(0, |(_, s)| s);
            let mut maybe = Vec::new();
            let mut reads = Vec::new();
            for &(up, read) in &steps {
                section += up;
                maybe.push(MaybeLabel {
                    sentence: Sentence { span: Span::new(maybe.len(), maybe.len() + 1), section },
                    hits: 0..0,
                });
                reads.push(read.map(part));
            }
            let here = section + after;
            let prior = prior.map(|(spine, s)| (part(spine), s));
            let read = |m: &MaybeLabel| reads[m.sentence.span.start];
            let mut in_order = prior;
            for m in &maybe {
                if let Some(l) = read(m) {
                    in_order = Some((l, m.sentence.section));
                }
            }
            let in_order = in_order.filter(|&(_, s)| s == here);
            proptest::prop_assert_eq!(label_in_force(prior, &maybe, here, read), in_order);
        }
    }

    #[test]
    fn body_part_labels_set_the_anatomy_that_follows() {
        let knee = "Chest. Heart size normal. Lungs are clear. Right knee. Severe osteoarthritis.";
        assert_eq!(status(knee, ConceptId::DEGENERATIVE_CHANGES), None);
        let spine = "Chest. Lungs are clear. Lumbosacral spine. Large osteophytes at L4-L5.";
        assert_eq!(
            status(spine, ConceptId::DEGENERATIVE_CHANGES),
            Some(Status::Present)
        );
        // A short sentence that is not only anatomy is no label.
        let chest = "Heart normal. Lungs clear. Osteopenia.";
        assert_eq!(
            status(chest, ConceptId::DEMINERALIZATION),
            Some(Status::Present)
        );
    }

    #[test]
    fn shorter_match_when_the_longest_ends_inside_a_word() {
        let t = "Stable degenerative spurring of the thoracic spine.";
        assert_eq!(
            status(t, ConceptId::DEGENERATIVE_CHANGES),
            Some(Status::Present)
        );
    }

    #[test]
    fn a_first_line_longer_than_a_sentence_is_no_title() {
        // A short first line names the exam; a mention in it is not a finding.
        let short = "VERTEBRAL FRACTURE ASSESSMENT\nFINDINGS: Normal alignment.";
        assert_eq!(status(short, ConceptId::VERTEBRAL_FRACTURE), None);
        // Text run together on one line is read as text, and no mention carries the whole
        // line as its trigger.
        let filler = "The patient reports chronic back pain for several years. ".repeat(30);
        let long = format!("{filler}Compression fracture of L1. FINDINGS: Normal alignment.");
        assert!(long.find('\n').is_none() && long.len() > crate::sentence::MAX_SENTENCE);
        assert_eq!(
            status(&long, ConceptId::VERTEBRAL_FRACTURE),
            Some(Status::Present)
        );
        let a = Pipeline::builtin().analyze(&Report::new("r", long.as_str()));
        assert!(a.mentions.iter().all(|m| m.hypothetical.is_none()));
    }

    #[test]
    fn hash_is_a_fracture_only_when_no_number_follows() {
        assert_eq!(
            status(
                "FINDINGS: Acute L3 burst #, no retropulsion.",
                ConceptId::VERTEBRAL_FRACTURE
            ),
            Some(Status::Present)
        );
        assert_eq!(
            status(
                "EXAM: LUMBAR SPINE. An #18-gauge needle at L4.",
                ConceptId::VERTEBRAL_FRACTURE
            ),
            None
        );
    }

    #[test]
    fn rib_and_hardware_fractures_are_not_vertebral() {
        assert_eq!(
            status(
                "Healed fractures of the left 5th and 6th ribs.",
                ConceptId::VERTEBRAL_FRACTURE
            ),
            None
        );
        let rod = "EXAM: THORACIC SPINE. FINDINGS: New fracture of the left rod at T7-T8.";
        assert_eq!(status(rod, ConceptId::VERTEBRAL_FRACTURE), None);
    }
}
