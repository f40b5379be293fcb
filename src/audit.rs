//! Quality audit: flags that a fracture-liaison or quality reviewer needs to find reports whose
//! wording or follow-up falls short (equivocal fracture terms, missing levels or ages, findings
//! left out of or denied by the impression, no bone-health follow-up, unescalated red flags).
//!
//! Every flag has a stable id, a severity, a fixed message that never quotes the report, and the
//! indices of the mentions that raised it. The flags, what they mean, why they matter and their
//! sources are listed in [`FLAGS`] and documented in `docs/AUDIT.md`.
//!
//! Flags only look at mentions about this exam ([`Mention::counts`]): a negated, hypothetical or
//! unconfirmed historical finding never raises one. The phrases the audit looks for in the text
//! (follow-up steps, recommending words, comparison words, qualifiers of a denial) are data:
//! `lexicons/audit.tsv`, compiled in and validated with `path:line` errors like the other
//! lexicons.
//!
//! The audit is cheap on the common path: a report with no fracture, retropulsion,
//! demineralization, listhesis, pars defect or bone lesion mention is not scanned at all; other
//! reports are scanned by one whole-token phrase pass over the folded text when a flag's test
//! first needs the text (many are settled by the mentions alone), with per-thread scratch
//! buffers reused across reports. That pass does not walk the text itself when the pipeline
//! analyzed it: the pipeline's phrase table tags the first words of the audit's phrases
//! ([`Auditor::tag_words`]), so its scan tells where they occur, and the audit's phrases are
//! tried there only ([`PhraseSet::for_each_longest_from`]).

use crate::model::{str_enum, *};
use crate::phrase::PhraseSet;
use crate::pipeline::Pipeline;
use crate::text::{fold_str, Folded};
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The shipped audit phrases (`lexicons/audit.tsv`).
pub const BUILTIN_AUDIT_TSV: &str = include_str!("../lexicons/audit.tsv");

str_enum! {
    /// What an audit phrase stands for (the `kinds` column of `lexicons/audit.tsv`).
    PhraseKind {
        /// A bone-health follow-up step (DXA, FRAX, osteoporosis evaluation, endocrinology).
        BoneHealth => "bone_health",
        /// Further imaging (MRI, CT, bone scan, dedicated views).
        Imaging => "imaging",
        /// Work-up of a bone lesion other than imaging (biopsy, oncology, myeloma labs).
        Workup => "workup",
        /// Specialist or urgent escalation (spine surgery, neurosurgery).
        Escalation => "escalation",
        /// Words showing the neurologic status was considered.
        Neuro => "neuro",
        /// Words that make a sentence a recommendation.
        Cue => "cue",
        /// Words that decline a step in the same sentence.
        Decline => "decline",
        /// Words showing the exam was compared with an earlier one.
        Comparison => "comparison",
        /// Qualifiers that narrow a denial ("no new", "no significant").
        Partial => "partial",
        /// Qualifiers of a denial that imply one such finding exists ("no OTHER fracture").
        Another => "another",
        /// Words that describe a bone lesion as benign (bone island, hemangioma).
        Benign => "benign",
        /// Words that show a lesion is known and followed (stable, progressive, unchanged).
        Known => "known",
        /// Words that state a high-energy injury (motor vehicle collision, fall from height).
        HighEnergy => "high_energy",
        /// Words that show the age of a fracture was considered ("acuity cannot be determined").
        Age => "age",
        /// How a Comparison section starts when there was nothing to compare with.
        NoComparison => "no_comparison",
        /// A word that makes a vertebral-fracture term an explicit fracture.
        Explicit => "explicit",
        /// A word that marks a vertebral-fracture term as not a fragility pattern.
        NotFragility => "not_fragility",
        /// A word that marks a hardware term as vertebral augmentation (kyphoplasty, cement).
        Augmentation => "augmentation",
    }
}

impl PhraseKind {
    const fn bit(self) -> u32 {
        1 << self as u32
    }
    /// The place of a term-word kind in [`Auditor::words_of`]; `None` for the other kinds.
    const fn term_slot(self) -> Option<usize> {
        match self {
            PhraseKind::Explicit => Some(0),
            PhraseKind::NotFragility => Some(1),
            PhraseKind::Augmentation => Some(2),
            _ => None,
        }
    }
    /// Kinds matched against the words of a matched concept term, not against the text.
    const fn is_term_word(self) -> bool {
        self.term_slot().is_some()
    }
}

/// In the tags of [`Auditor::tag_words`], the bit of a word that begins an audit phrase (the
/// other bits are those of the words it was given).
pub(crate) const AUDIT_TAG: u32 = 1 << 31;

/// In [`Auditor::term_kinds`], the bit of a term whose kinds were worked out.
pub(crate) const KINDS_KNOWN: u8 = 0x80;

/// The concepts whose terms the audit asks for term words (fractures: explicit or not a
/// fragility pattern; hardware: augmentation).
pub(crate) const TERM_WORD_CONCEPTS: [ConceptId; 2] =
    [ConceptId::VERTEBRAL_FRACTURE, ConceptId::HARDWARE];

const TEXT_KINDS: u32 = PhraseKind::BoneHealth.bit()
    | PhraseKind::Imaging.bit()
    | PhraseKind::Workup.bit()
    | PhraseKind::Escalation.bit()
    | PhraseKind::Neuro.bit()
    | PhraseKind::Cue.bit()
    | PhraseKind::Decline.bit()
    | PhraseKind::Comparison.bit()
    | PhraseKind::Partial.bit()
    | PhraseKind::Another.bit()
    | PhraseKind::Benign.bit()
    | PhraseKind::Known.bit()
    | PhraseKind::HighEnergy.bit()
    | PhraseKind::Age.bit()
    | PhraseKind::NoComparison.bit();

/// A documented audit flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagInfo {
    /// Stable id, the `flag` column of `audit.csv`.
    pub id: &'static str,
    /// Severity it is raised with (the bone-health flag drops to `warning` when only
    /// demineralization is involved).
    pub severity: FlagSeverity,
    /// What it means, in one line.
    pub summary: &'static str,
    /// What it rests on.
    pub source: &'static str,
}

const IOF_ISCD: &str = "IOF Vertebral Fracture Initiative / ISCD official positions";

/// Every flag the audit can raise, in the order they are emitted for a report.
pub const FLAGS: [FlagInfo; 9] = [
    FlagInfo {
        id: "ambiguous_fracture_terminology",
        severity: FlagSeverity::Warning,
        summary: "a vertebral fracture is described only as deformity, wedging, height loss or collapse and never called a fracture",
        source: "Delmas et al., JBMR 2005 (IMPACT); IOF Vertebral Fracture Initiative / ISCD official positions",
    },
    FlagInfo {
        id: "fracture_missing_level",
        severity: FlagSeverity::Warning,
        summary: "a vertebral fracture is affirmed but no vertebral level is given",
        source: IOF_ISCD,
    },
    FlagInfo {
        id: "finding_not_in_impression",
        severity: FlagSeverity::Warning,
        summary: "a significant finding (vertebral fracture, retropulsion, listhesis, bone lesion) affirmed in the findings is absent from the impression",
        source: "Delmas et al., JBMR 2005 (IMPACT); IOF Vertebral Fracture Initiative / ISCD official positions",
    },
    FlagInfo {
        id: "impression_contradicts_findings",
        severity: FlagSeverity::High,
        summary: "the impression denies a finding that the findings affirm (a denial narrowed by age or qualifier, such as \"no acute fracture\" beside a chronic deformity, is not a contradiction)",
        source: "Delmas et al., JBMR 2005 (IMPACT); IOF Vertebral Fracture Initiative / ISCD official positions",
    },
    FlagInfo {
        id: "no_bone_health_followup",
        severity: FlagSeverity::High,
        summary: "a vertebral fracture (high) or demineralization (warning) is affirmed but the report recommends no bone-health follow-up (DXA, fracture risk, osteoporosis evaluation, endocrinology)",
        source: "IOF Vertebral Fracture Initiative / ISCD official positions; seed 002 (T12 compression deformity with demineralization: DXA and osteoporosis treatment); seed 004 (osteopenia with atraumatic vertebral compression fracture)",
    },
    FlagInfo {
        id: "missing_acuity",
        severity: FlagSeverity::Warning,
        summary: "a vertebral fracture's age (acute, subacute, chronic, indeterminate) is not stated and no comparison study is given",
        source: "seed 002 (acuity decides management; MRI with STIR when it is unknown); IOF Vertebral Fracture Initiative / ISCD official positions",
    },
    FlagInfo {
        id: "uncertain_fracture_no_further_imaging",
        severity: FlagSeverity::Warning,
        summary: "a vertebral fracture is only hedged (possible, cannot exclude) and the report recommends no further imaging to settle it",
        source: "seed 002 (radiographs misjudge vertebral fractures that MRI with STIR resolves); Delmas et al., JBMR 2005 (IMPACT)",
    },
    FlagInfo {
        id: "retropulsion_no_escalation",
        severity: FlagSeverity::High,
        summary: "retropulsion is affirmed but the report neither addresses the neurologic status nor recommends MRI/CT or a spine surgery opinion",
        source: "seed 002 and seed 000 (MRI for canal compromise and cord compression; urgency rises with retropulsion or deficits)",
    },
    FlagInfo {
        id: "osseous_lesion_no_workup",
        severity: FlagSeverity::High,
        summary: "a lytic, blastic or destructive vertebral lesion is affirmed or suspected but no further imaging or work-up is recommended",
        source: "seed 000 (MRI with and without contrast for suspected malignancy or infection); seed 002 (assess secondary causes including malignancy)",
    },
];

/// Looks a flag up by id.
pub fn flag_info(id: &str) -> Option<&'static FlagInfo> {
    FLAGS.iter().find(|f| f.id == id)
}

/// The compiled audit phrases. Built once, then only read (`Send + Sync`).
#[derive(Debug, Clone)]
pub struct Auditor {
    ac: Option<PhraseSet>,
    kinds: Vec<u32>,
    /// Term words (lowercase), apart for each term-word kind ([`PhraseKind::term_slot`]), so
    /// that a check compares only with the words of its kind.
    words_of: [Vec<Box<[u8]>>; 3],
    /// Folded starts of a Comparison section that mean "nothing to compare with".
    no_comparison: Vec<String>,
    /// The distinct first words of the phrases of `ac`, when all of them are words a phrase
    /// table can tag (ASCII lowercase letters and digits; [`PhraseSet::with_tags`]); else
    /// `None`, and the text is always walked.
    first_words: Option<Vec<String>>,
}

/// One phrase found in the text.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PhraseHit {
    kinds: u32,
    span: Span,
    /// Sentence index, `u32::MAX` when the hit is in no sentence (a header).
    sentence: u32,
    section: SectionKind,
}

/// A set of sentence indices, one bit each.
#[derive(Debug, Default)]
struct SentenceSet(Vec<u64>);

impl SentenceSet {
    fn clear(&mut self) {
        self.0.clear();
    }

    fn insert(&mut self, i: u32) {
        let w = i as usize / 64;
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << (i % 64);
    }

    fn contains(&self, i: u32) -> bool {
        self.0
            .get(i as usize / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

#[derive(Default)]
struct Scratch {
    folded: Folded,
    hits: Vec<PhraseHit>,
    /// Whether `hits` are in order of their start (so that the hits inside a stretch of text
    /// are found by binary search).
    in_order: bool,
    /// The sentences that hold a recommending word, and those that decline.
    cue: SentenceSet,
    decline: SentenceSet,
}

/// The mentions the audit considers, of the concepts its flags look at, by concept, in text
/// order: read in one pass over the mentions, so that each flag reads only those of its
/// concepts. The audit considers all mentions but those in a title (text before the first
/// header of a report that has a Findings section, such as "VERTEBRAL FRACTURE ASSESSMENT"
/// or "SKELETAL SURVEY FOR MYELOMA").
#[derive(Default)]
struct ByConcept {
    /// At `c.index()`, the indices of the mentions of built-in concept `c` (empty for the
    /// concepts no flag looks at, see [`LISTED`]).
    of: [Vec<u32>; ByConcept::BUILTINS],
    /// The vertebral fracture mentions that are not denied and state an age, also those of a
    /// title ([`ByConcept::dated`]): whether there is one, whether one names no level, and the
    /// union of their levels.
    dated: bool,
    dated_anywhere: bool,
    dated_levels: Levels,
}

/// The concepts [`ByConcept`] lists, one bit each at [`ConceptId::index`].
const LISTED: u32 = 1 << ConceptId::VERTEBRAL_FRACTURE.0
    | 1 << ConceptId::RETROPULSION.0
    | 1 << ConceptId::DEMINERALIZATION.0
    | 1 << ConceptId::SPONDYLOLISTHESIS.0
    | 1 << ConceptId::SPONDYLOLYSIS.0
    | 1 << ConceptId::HARDWARE.0
    | 1 << ConceptId::OSSEOUS_LESION.0;

impl ByConcept {
    const BUILTINS: usize = BUILTIN_CONCEPTS.len();

    /// Lists the mentions of `a` that the audit considers: all but those before the first
    /// header when `title` (the report has a Findings section).
    fn fill(&mut self, a: &Analysis, title: bool) {
        for list in &mut self.of {
            list.clear();
        }
        (self.dated, self.dated_anywhere, self.dated_levels) = (false, false, Levels::EMPTY);
        for (i, m) in a.mentions.iter().enumerate() {
            let c = m.concept.index();
            if c >= Self::BUILTINS || LISTED >> c & 1 == 0 {
                continue;
            }
            if m.concept == ConceptId::VERTEBRAL_FRACTURE
                && m.counts()
                && m.negated.is_none()
                && m.attrs.acuity.is_some()
            {
                self.dated = true;
                self.dated_anywhere |= m.attrs.levels.is_empty();
                self.dated_levels = self.dated_levels.union(m.attrs.levels);
            }
            if !(title && m.section == SectionKind::Preamble) {
                self.of[c].push(i as u32);
            }
        }
    }

    /// Whether a vertebral fracture mention of the report that is not denied states an age
    /// and may be a vertebra of `levels` ([`levels_compatible`]): one names no level, or
    /// `levels` is empty, or they share one.
    fn dated(&self, levels: Levels) -> bool {
        self.dated
            && (self.dated_anywhere || levels.is_empty() || self.dated_levels.0 & levels.0 != 0)
    }
}

thread_local! {
    static SCRATCH: RefCell<(Scratch, ByConcept)> = RefCell::default();
}

/// Audits one report with the shipped audit phrases.
///
/// ```
/// use spinex::{Pipeline, Report};
/// let p = Pipeline::builtin();
/// let text = "FINDINGS: Mild anterior wedging of T8.\nIMPRESSION: Mild anterior wedging of T8.";
/// let a = p.analyze(&Report::new("r1", text));
/// let flags: Vec<String> = spinex::audit::audit(text, &a, &p).into_iter().map(|f| f.flag).collect();
/// assert!(flags.contains(&"ambiguous_fracture_terminology".to_string()));
/// assert!(flags.contains(&"no_bone_health_followup".to_string()));
/// ```
pub fn audit(text: &str, analysis: &Analysis, pipeline: &Pipeline) -> Vec<AuditFlag> {
    Auditor::builtin().audit(text, analysis, pipeline)
}

/// [`audit`] with the folded view of `text` already made (the pipeline's own), so the text is
/// not folded a second time, and with the folded starts of the tokens that begin the audit's
/// phrases, as the pipeline's phrase scan found them ([`Auditor::tag_words`]), so that it is
/// not walked a second time either.
pub(crate) fn audit_folded(
    text: &str,
    folded: &Folded,
    words: &[u32],
    analysis: &Analysis,
    pipeline: &Pipeline,
) -> Vec<AuditFlag> {
    Auditor::builtin().audit_with(text, Some((folded, words)), analysis, pipeline)
}

/// Concepts whose denial in the impression contradicts an affirmed finding.
const CONTRADICTABLE: [ConceptId; 6] = [
    ConceptId::VERTEBRAL_FRACTURE,
    ConceptId::RETROPULSION,
    ConceptId::DEMINERALIZATION,
    ConceptId::SPONDYLOLISTHESIS,
    ConceptId::SPONDYLOLYSIS,
    ConceptId::OSSEOUS_LESION,
];

/// Significant findings that belong in the impression.
const SIGNIFICANT: [ConceptId; 4] = [
    ConceptId::VERTEBRAL_FRACTURE,
    ConceptId::RETROPULSION,
    ConceptId::SPONDYLOLISTHESIS,
    ConceptId::OSSEOUS_LESION,
];

impl Auditor {
    /// The auditor compiled from the shipped `lexicons/audit.tsv` (built on first use).
    pub fn builtin() -> &'static Auditor {
        static BUILTIN: OnceLock<Auditor> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Auditor::from_tsv("lexicons/audit.tsv", BUILTIN_AUDIT_TSV)
                .unwrap_or_else(|e| panic!("shipped audit phrases are invalid: {e}"))
        })
    }

    /// Reads and validates an audit phrase table (`phrase<TAB>kinds` with a header row; `#`
    /// comments and blank lines are skipped). Errors name `path:line`.
    pub fn from_tsv(path: &str, text: &str) -> Result<Auditor, LexiconError> {
        let mut seen_header = false;
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut kinds: Vec<u32> = Vec::new();
        let mut words_of: [Vec<Box<[u8]>>; 3] = Default::default();
        let mut no_comparison = Vec::new();
        let mut rows_seen: HashMap<String, usize> = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim_end_matches('\r');
            if l.trim().is_empty() || l.starts_with('#') {
                continue;
            }
            let err = |m: String| LexiconError::new(path, line, m);
            let f: Vec<&str> = l.split('\t').map(str::trim).collect();
            if !seen_header {
                if f != ["phrase", "kinds"] {
                    return Err(err(
                        "expected the header row \"phrase\\tkinds\" (tab-separated)".into(),
                    ));
                }
                seen_header = true;
                continue;
            }
            if f.len() != 2 {
                return Err(err(format!(
                    "expected 2 tab-separated fields (phrase, kinds), found {}",
                    f.len()
                )));
            }
            let folded = fold_str(f[0]);
            if folded.is_empty() {
                return Err(err(format!("phrase {:?} has no letters or digits", f[0])));
            }
            if let Some(prev) = rows_seen.insert(folded.clone(), line) {
                return Err(err(format!(
                    "duplicate phrase {:?} (first on line {prev}); list all its kinds in one row",
                    f[0]
                )));
            }
            let mut mask = 0u32;
            for k in f[1].split(',').map(str::trim) {
                let kind = PhraseKind::parse(k).ok_or_else(|| {
                    err(format!(
                        "unknown kind {k:?}; expected one or more of: {}",
                        PhraseKind::allowed()
                    ))
                })?;
                if kind.is_term_word() && folded.contains(' ') {
                    return Err(err(format!(
                        "a {kind} phrase must be one word (it is compared with the words of a term)"
                    )));
                }
                mask |= kind.bit();
            }
            for k in PhraseKind::ALL {
                if let Some(slot) = k.term_slot().filter(|_| mask & k.bit() != 0) {
                    let words = &mut words_of[slot];
                    if !words.iter().any(|w| **w == *folded.as_bytes()) {
                        words.push(folded.as_bytes().into());
                    }
                }
            }
            if mask & PhraseKind::NoComparison.bit() != 0 {
                no_comparison.push(folded.clone());
            }
            let text_mask = mask & TEXT_KINDS;
            if text_mask != 0 {
                let key = format!(" {folded}");
                let i = *index.entry(key.clone()).or_insert_with(|| {
                    patterns.push(key);
                    kinds.push(0);
                    patterns.len() - 1
                });
                kinds[i] |= text_mask;
            }
        }
        if !seen_header {
            return Err(LexiconError::new(path, 0, "empty file: no header row"));
        }
        let mut first_words: Vec<String> = Vec::new();
        let mut taggable = true;
        for p in &patterns {
            let first = p[1..].split(' ').next().unwrap_or_default();
            taggable &= !first.is_empty()
                && first
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            if !first_words.iter().any(|w| w == first) {
                first_words.push(first.to_string());
            }
        }
        let ac =
            if patterns.is_empty() {
                None
            } else {
                Some(PhraseSet::new(&patterns).map_err(|e| {
                    LexiconError::new(path, 0, format!("cannot compile phrases: {e}"))
                })?)
            };
        Ok(Auditor {
            ac,
            kinds,
            words_of,
            no_comparison,
            first_words: taggable.then_some(first_words),
        })
    }

    /// The tagged words for a phrase table whose scan finds where this auditor's phrases may
    /// begin: `words` (word and tag, the tag below [`AUDIT_TAG`]) with [`AUDIT_TAG`] added to
    /// the tag of each first word of a phrase, given with that tag alone when `words` lacks
    /// it. A scan of the folded text with such a table reports, among its tagged words, every
    /// token that begins an audit phrase; their folded starts are what
    /// [`Auditor::audit_with`] takes as `words`. Nothing is added when a first word cannot be
    /// tagged.
    pub(crate) fn tag_words<'a>(
        &'a self,
        words: impl Iterator<Item = (&'a str, u32)>,
    ) -> Vec<(&'a str, u32)> {
        let mut tags: Vec<(&str, u32)> = words.collect();
        debug_assert!(tags.iter().all(|&(_, tag)| tag & AUDIT_TAG == 0));
        for w in self.first_words.iter().flatten() {
            let mut given = false;
            for (_, tag) in tags.iter_mut().filter(|(x, _)| *x == w.as_str()) {
                *tag |= AUDIT_TAG;
                given = true;
            }
            if !given {
                tags.push((w.as_str(), AUDIT_TAG));
            }
        }
        tags
    }

    /// Per term of `terms`, the term-word kinds it holds ([`Auditor::term_has`]), one bit each
    /// at its [`PhraseKind::term_slot`], with [`KINDS_KNOWN`]; 0 for a term given as `None`
    /// (not worked out). What a pipeline keeps per lexicon term of the concepts the audit asks
    /// this of, so that a mention's term is not split into words again on every report.
    pub(crate) fn term_kinds<'t>(&self, terms: impl Iterator<Item = Option<&'t str>>) -> Vec<u8> {
        terms
            .map(|t| {
                t.map_or(0, |t| {
                    PhraseKind::ALL
                        .iter()
                        .filter_map(|&k| k.term_slot().filter(|_| self.term_has(t, k)))
                        .fold(KINDS_KNOWN, |m, slot| m | 1 << slot)
                })
            })
            .collect()
    }

    /// Whether a matched concept term holds a word of `kind` (`explicit`, `not_fragility`).
    fn term_has(&self, term: &str, kind: PhraseKind) -> bool {
        let Some(slot) = kind.term_slot() else {
            return false;
        };
        let words = &self.words_of[slot];
        let is_word = |w: &[u8]| words.iter().any(|x| x.eq_ignore_ascii_case(w));
        // An ASCII term splits into the same words byte by byte.
        if term.is_ascii() {
            return term
                .as_bytes()
                .split(|c| !c.is_ascii_alphanumeric())
                .any(|w| !w.is_empty() && is_word(w));
        }
        term.split(|c: char| !c.is_alphanumeric())
            .any(|w| !w.is_empty() && is_word(w.as_bytes()))
    }

    /// Audits one report. Never fails; the flags come in [`FLAGS`] order.
    pub fn audit(&self, text: &str, a: &Analysis, pipeline: &Pipeline) -> Vec<AuditFlag> {
        self.audit_with(text, None, a, pipeline)
    }

    /// Audits one report, reading the folded view of `text` when given, with the folded
    /// starts of the tokens that begin this auditor's phrases (all of them, in text order;
    /// [`Auditor::tag_words`]).
    fn audit_with(
        &self,
        text: &str,
        folded: Option<(&Folded, &[u32])>,
        a: &Analysis,
        pipeline: &Pipeline,
    ) -> Vec<AuditFlag> {
        let mut out = Vec::new();
        let relevant = a.mentions.iter().any(|m| {
            m.counts() && (CONTRADICTABLE.contains(&m.concept) || SIGNIFICANT.contains(&m.concept))
        });
        if !relevant {
            return out;
        }
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let (s, by) = &mut *s;
            by.fill(
                a,
                a.sections.iter().any(|x| x.kind == SectionKind::Findings),
            );
            let mut cx = Ctx {
                au: self,
                text,
                folded,
                a,
                p: pipeline,
                unscanned: Cell::new(Some(s)),
                scanned: OnceCell::new(),
                covers: OnceCell::new(),
                by,
                treated: Levels::EMPTY,
            };
            let treated = cx
                .of(ConceptId::HARDWARE)
                .filter(|(_, m)| {
                    m.negated.is_none()
                        && m.hypothetical.is_none()
                        && cx.term_is(m, PhraseKind::Augmentation)
                })
                .fold(Levels::EMPTY, |acc, (_, m)| acc.union(m.attrs.levels));
            cx.treated = treated;
            cx.rules(&mut out);
        });
        out
    }

    /// Finds the audit phrases and the sentences that recommend or decline, in the folded
    /// view and at the word starts when given ([`Auditor::audit_with`]).
    fn scan(&self, text: &str, given: Option<(&Folded, &[u32])>, a: &Analysis, s: &mut Scratch) {
        let Scratch {
            folded: own,
            hits,
            in_order,
            cue,
            decline,
        } = s;
        hits.clear();
        *in_order = true;
        cue.clear();
        decline.clear();
        let Some(ac) = &self.ac else { return };
        let (folded, words) = match given {
            Some((f, words)) => (f, self.first_words.as_ref().map(|_| words)),
            None => {
                own.fold(text);
                (&*own, None)
            }
        };
        // Hits come in text order: the sentence of one is found by going on from the sentence
        // of the one before (by binary search should a hit start before the one before).
        let (mut k, mut last_start) = (0, 0);
        let hit = |start: usize, end: usize, pattern: u32| {
            let (fs, fe) = (start + 1, end);
            let (os, oe) = folded.original(fs, fe);
            let span = Span::new(os, oe);
            if span.start < last_start {
                k = a.sentences.partition_point(|x| x.span.end <= span.start);
            }
            while a.sentences.get(k).is_some_and(|x| x.span.end <= span.start) {
                k += 1;
            }
            last_start = span.start;
            let (sentence, section) = match a.sentences.get(k) {
                Some(x) if x.span.contains(span) => (
                    k as u32,
                    a.sections
                        .get(x.section as usize)
                        .map_or(SectionKind::Preamble, |sec| sec.kind),
                ),
                _ => (
                    u32::MAX,
                    a.sections
                        .iter()
                        .find(|sec| sec.body.contains(span) || sec.header.contains(span))
                        .map_or(SectionKind::Preamble, |sec| sec.kind),
                ),
            };
            let kinds = self.kinds[pattern as usize];
            if kinds & PhraseKind::Cue.bit() != 0 && sentence != u32::MAX {
                cue.insert(sentence);
            }
            if kinds & PhraseKind::Decline.bit() != 0 && sentence != u32::MAX {
                decline.insert(sentence);
            }
            hits.push(PhraseHit {
                kinds,
                span,
                sentence,
                section,
            });
        };
        match words {
            Some(words) => ac.for_each_longest_from(&folded.bytes, words, hit),
            None => ac.for_each_longest(&folded.bytes, hit),
        }
        *in_order = hits.windows(2).all(|w| w[0].span.start <= w[1].span.start);
    }
}

/// The impression's mentions of one concept that share a level set ([`Ctx::impression_groups`]).
struct ImpressionGroup {
    levels: Levels,
    /// One of them is affirmed: it states the finding.
    affirmed: bool,
    /// The denials, by the age they deny (none: any age).
    denials: Vec<Denials>,
}

/// Impression mentions denying a finding of one age.
struct Denials {
    age: Option<Acuity>,
    ids: Vec<u32>,
    /// Whether `ids` are in the flag's evidence already.
    added: Cell<bool>,
}

/// One report being audited.
struct Ctx<'a> {
    au: &'a Auditor,
    text: &'a str,
    /// The folded view of `text`, when the pipeline made one, with the starts of the tokens
    /// that begin audit phrases ([`Auditor::audit_with`]).
    folded: Option<(&'a Folded, &'a [u32])>,
    a: &'a Analysis,
    p: &'a Pipeline,
    /// The scratch buffers, until the text is scanned ([`Ctx::s`]).
    unscanned: Cell<Option<&'a mut Scratch>>,
    scanned: OnceCell<&'a Scratch>,
    /// The mentions' spans in order of start, each with the furthest end of any span up to it
    /// ([`Ctx::inside_mention`]); made on the first question.
    covers: OnceCell<Vec<(usize, usize)>>,
    /// The mentions considered, by concept.
    by: &'a ByConcept,
    /// Vertebrae treated by augmentation (kyphoplasty, vertebroplasty, cement).
    treated: Levels,
}

/// Whether two level sets may name the same vertebrae (either unknown, or they overlap).
fn levels_compatible(x: Levels, y: Levels) -> bool {
    x.is_empty() || y.is_empty() || x.0 & y.0 != 0
}

fn is_findings(k: SectionKind) -> bool {
    matches!(k, SectionKind::Findings | SectionKind::Preamble)
}

/// The span a denial covers: from its trigger to the finding, whichever comes first.
fn denial_scope(m: &Mention) -> Span {
    let t = m.negated.unwrap_or(m.span);
    Span::new(t.start.min(m.span.start), t.end.max(m.span.end))
}

impl<'a> Ctx<'a> {
    /// The audit phrases found in the text. The text is scanned on the first question: about
    /// half the reports audited never ask (their flags are settled by the mentions alone).
    fn s(&self) -> &Scratch {
        self.scanned.get_or_init(|| {
            let s = self
                .unscanned
                .take()
                .expect("the scratch buffers until the scan");
            self.au.scan(self.text, self.folded, self.a, s);
            s
        })
    }

    /// The mentions the audit considers of `c`, one of the concepts [`ByConcept`] lists,
    /// with their indices, in text order.
    fn of(&self, c: ConceptId) -> impl Iterator<Item = (u32, &'a Mention)> + 'a {
        debug_assert!(c.is_builtin() && LISTED >> c.index() & 1 != 0);
        let (by, a) = (self.by, self.a);
        by.of[c.index()]
            .iter()
            .map(|&i| (i, &a.mentions[i as usize]))
    }

    /// Whether a fracture mention names only vertebrae treated by augmentation: a known,
    /// treated fracture.
    fn treated(&self, m: &Mention) -> bool {
        !m.attrs.levels.is_empty() && m.attrs.levels.0 & !self.treated.0 == 0
    }

    /// The hits that may lie inside `span`: all of them, or (hits in order) those that start
    /// in it. Looking a stretch up this way keeps a report with many mentions linear.
    fn hits_from(&self, span: Span) -> &[PhraseHit] {
        let s = self.s();
        if !s.in_order {
            return &s.hits;
        }
        let lo = s.hits.partition_point(|h| h.span.start < span.start);
        let n = s.hits[lo..].partition_point(|h| h.span.start < span.end.max(span.start + 1));
        &s.hits[lo..lo + n]
    }

    /// Whether phrases of `mask`'s kinds sit in sentence `si`.
    fn in_sentence(&self, mask: u32, si: u32) -> bool {
        // A hit of sentence `si` lies inside its span.
        let hits = match self.a.sentences.get(si as usize) {
            Some(x) => self.hits_from(x.span),
            None => &self.s().hits,
        };
        hits.iter().any(|h| h.kinds & mask != 0 && h.sentence == si)
    }

    /// The affirmed mentions of `c` the audit considers.
    fn affirmed(&self, c: ConceptId) -> impl Iterator<Item = u32> + 'a {
        self.of(c).filter(|(_, m)| m.affirmed()).map(|(i, _)| i)
    }

    fn m(&self, i: u32) -> &Mention {
        &self.a.mentions[i as usize]
    }

    fn name(&self, c: ConceptId) -> &str {
        self.p
            .concept_names()
            .get(c.index())
            .map_or("finding", |s| s.as_str())
    }

    /// Whether some mention's span holds `span`.
    fn inside_mention(&self, span: Span) -> bool {
        let covers = self.covers.get_or_init(|| {
            let mut v: Vec<(usize, usize)> = self
                .a
                .mentions
                .iter()
                .map(|m| (m.span.start, m.span.end))
                .collect();
            v.sort_unstable();
            let mut furthest = 0;
            for x in &mut v {
                furthest = furthest.max(x.1);
                x.1 = furthest;
            }
            v
        });
        // Of the spans starting at or before `span`, the one reaching furthest decides.
        let n = covers.partition_point(|&(start, _)| start <= span.start);
        n > 0 && covers[n - 1].1 >= span.end
    }

    /// Whether the report recommends a step of one of `mask`'s kinds: the phrase sits in a
    /// Recommendation section, or in a findings or impression sentence that also holds a
    /// recommending word; a sentence that declines ("not indicated") does not count, nor does a
    /// phrase that is part of a finding ("decreased bone density").
    fn recommends(&self, mask: u32) -> bool {
        // Cheapest tests first; the mentions are looked at last.
        let s = self.s();
        s.hits.iter().any(|h| {
            h.kinds & mask != 0
                && (h.section == SectionKind::Recommendation
                    || (matches!(
                        h.section,
                        SectionKind::Findings | SectionKind::Impression | SectionKind::Preamble
                    ) && s.cue.contains(h.sentence)))
                && !s.decline.contains(h.sentence)
                && !self.inside_mention(h.span)
        })
    }

    /// Whether a phrase of `mask`'s kinds appears anywhere.
    fn says(&self, mask: u32) -> bool {
        self.s().hits.iter().any(|h| h.kinds & mask != 0)
    }

    /// Whether phrases of `mask`'s kinds lie within `span`.
    fn says_within(&self, mask: u32, span: Span) -> bool {
        self.hits_from(span)
            .iter()
            .any(|h| h.kinds & mask != 0 && span.contains(h.span))
    }

    /// Whether the report compares with an earlier study: comparison words, or a Comparison
    /// section that names something other than "none" / "N/A".
    fn comparison_given(&self) -> bool {
        if self.says(PhraseKind::Comparison.bit()) {
            return true;
        }
        self.a
            .sections
            .iter()
            .filter(|sec| sec.kind == SectionKind::Comparison)
            .any(|sec| {
                let body = fold_str(sec.body.slice(self.text));
                let body = body.trim_matches(|c: char| !c.is_alphanumeric());
                !body.is_empty()
                    && !self.au.no_comparison.iter().any(|n| {
                        body == n
                            || (body.starts_with(n.as_str())
                                && body.as_bytes().get(n.len()) == Some(&b' '))
                    })
            })
    }

    fn impression_exists(&self) -> bool {
        self.a.sections.iter().any(|sec| {
            sec.kind == SectionKind::Impression
                && sec
                    .body
                    .slice(self.text)
                    .chars()
                    .any(|c| c.is_alphanumeric())
        })
    }

    fn explicit(&self, m: &Mention) -> bool {
        self.term_is(m, PhraseKind::Explicit)
    }

    /// Whether the term that matched `m` holds a word of `kind`: read from the kinds the
    /// pipeline keeps per term when this is the shipped auditor (they were worked out with
    /// it), else from the term's words.
    fn term_is(&self, m: &Mention, kind: PhraseKind) -> bool {
        if std::ptr::eq(self.au, Auditor::builtin()) {
            if let (Some(slot), Some(&kinds)) = (
                kind.term_slot(),
                self.p.audit_term_kinds().get(m.term as usize),
            ) {
                if kinds & KINDS_KNOWN != 0 {
                    return kinds >> slot & 1 != 0;
                }
            }
        }
        self.au.term_has(self.p.term_text(m), kind)
    }

    fn flag(
        &self,
        out: &mut Vec<AuditFlag>,
        id: &str,
        severity: FlagSeverity,
        msg: String,
        ev: Vec<u32>,
    ) {
        let mut evidence = ev;
        evidence.sort_unstable();
        evidence.dedup();
        out.push(AuditFlag {
            flag: id.to_string(),
            severity,
            message: msg,
            evidence,
        });
    }

    /// The impression's mentions of `c` the audit considers, grouped by their levels: whether
    /// one of a group is affirmed, and the denials that are not narrowed by a word ("no new",
    /// "no significant"), by their age.
    fn impression_groups(&self, c: ConceptId) -> Vec<ImpressionGroup> {
        let mut groups: Vec<ImpressionGroup> = Vec::new();
        let mut index: HashMap<u32, usize> = HashMap::new();
        for (ii, i) in self.of(c) {
            if i.section != SectionKind::Impression {
                continue;
            }
            let k = *index.entry(i.attrs.levels.0).or_insert_with(|| {
                groups.push(ImpressionGroup {
                    levels: i.attrs.levels,
                    affirmed: false,
                    denials: Vec::new(),
                });
                groups.len() - 1
            });
            let g = &mut groups[k];
            if i.negated.is_none() {
                g.affirmed = true;
            } else if i.counts() && !self.says_within(PhraseKind::Partial.bit(), denial_scope(i)) {
                let age = i.attrs.acuity;
                match g.denials.iter_mut().find(|d| d.age == age) {
                    Some(d) => d.ids.push(ii),
                    None => g.denials.push(Denials {
                        age,
                        ids: vec![ii],
                        added: Cell::new(false),
                    }),
                }
            }
        }
        groups
    }

    fn rules(&self, out: &mut Vec<AuditFlag>) {
        let vf: Vec<u32> = self.affirmed(ConceptId::VERTEBRAL_FRACTURE).collect();

        // ambiguous_fracture_terminology: fractures that are not known treated ones, none of
        // them named with a fracture word, and no other mention that names one (affirmed,
        // hedged, or denied only as "no other / no new fracture", which implies one exists).
        let untreated = || vf.iter().copied().filter(|&i| !self.treated(self.m(i)));
        if untreated().next().is_some() {
            let called_fracture = self.of(ConceptId::VERTEBRAL_FRACTURE).any(|(_, m)| {
                m.counts()
                    && self.explicit(m)
                    && (m.negated.is_none()
                        || self.says_within(PhraseKind::Another.bit(), denial_scope(m)))
            });
            if !called_fracture {
                self.flag(
                    out,
                    FLAGS[0].id,
                    FLAGS[0].severity,
                    "vertebral fracture described only as deformity, wedging, height loss or collapse; the report never calls it a fracture".into(),
                    untreated().collect(),
                );
            }
        }

        // fracture_missing_level
        if !vf.is_empty() && vf.iter().all(|&i| self.m(i).attrs.levels.is_empty()) {
            self.flag(
                out,
                FLAGS[1].id,
                FLAGS[1].severity,
                "vertebral fracture affirmed without a vertebral level".into(),
                vf.clone(),
            );
        }

        // finding_not_in_impression, impression_contradicts_findings
        let mut missing: Vec<(ConceptId, Vec<u32>)> = Vec::new();
        let mut contra: Vec<(ConceptId, Vec<u32>)> = Vec::new();
        if self.impression_exists() {
            for c in CONTRADICTABLE {
                if self.by.of[c.index()].is_empty() {
                    continue;
                }
                let (mut miss, mut con) = (Vec::new(), Vec::new());
                // The impression's mentions of `c`, grouped by their levels (made when a
                // findings mention first needs them): a findings mention is compared with each
                // group once, not with each mention, so that a report with thousands of
                // mentions stays linear.
                let mut groups: Option<Vec<ImpressionGroup>> = None;
                for (fi, f) in self.of(c) {
                    if !f.affirmed()
                        || !is_findings(f.section)
                        || (c == ConceptId::VERTEBRAL_FRACTURE && self.treated(f))
                        || (c == ConceptId::OSSEOUS_LESION
                            && self.in_sentence(PhraseKind::Benign.bit(), f.sentence))
                    {
                        continue;
                    }
                    let groups = groups.get_or_insert_with(|| self.impression_groups(c));
                    let compatible = || {
                        groups
                            .iter()
                            .filter(|g| levels_compatible(g.levels, f.attrs.levels))
                    };
                    if compatible().any(|g| g.affirmed) {
                        continue;
                    }
                    // A denial of another age than `f`'s only denies part of it.
                    let mut denied = false;
                    for d in compatible().flat_map(|g| &g.denials) {
                        if d.age.is_none() || d.age == f.attrs.acuity {
                            denied = true;
                            // The evidence is a set: each denial goes in once.
                            if !d.added.replace(true) {
                                con.extend_from_slice(&d.ids);
                            }
                        }
                    }
                    if denied {
                        con.push(fi);
                    } else if SIGNIFICANT.contains(&c) {
                        miss.push(fi);
                    }
                }
                if !miss.is_empty() {
                    missing.push((c, miss));
                }
                if !con.is_empty() {
                    contra.push((c, con));
                }
            }
        }
        for (c, ev) in missing {
            let msg = format!(
                "{} affirmed in the findings but not stated in the impression",
                self.name(c)
            );
            self.flag(out, FLAGS[2].id, FLAGS[2].severity, msg, ev);
        }
        for (c, ev) in contra {
            let msg = format!(
                "the impression denies {} that the findings affirm",
                self.name(c)
            );
            self.flag(out, FLAGS[3].id, FLAGS[3].severity, msg, ev);
        }

        // no_bone_health_followup: fragility fractures are the affirmed fractures other than
        // those that may be the same vertebra as a burst, Chance or pathologic fracture, and
        // none when the report states a high-energy injury.
        let non_fragility: Vec<Levels> = vf
            .iter()
            .map(|&i| self.m(i))
            .filter(|m| self.term_is(m, PhraseKind::NotFragility))
            .map(|m| m.attrs.levels)
            .collect();
        let fragility: Vec<u32> = if vf.is_empty() || self.says(PhraseKind::HighEnergy.bit()) {
            Vec::new()
        } else {
            vf.iter()
                .copied()
                .filter(|&i| {
                    let lv = self.m(i).attrs.levels;
                    !non_fragility.iter().any(|&n| levels_compatible(n, lv))
                })
                .collect()
        };
        let demin = || self.affirmed(ConceptId::DEMINERALIZATION);
        if (!fragility.is_empty() || demin().next().is_some())
            && !self.recommends(PhraseKind::BoneHealth.bit())
        {
            let (severity, what) = if fragility.is_empty() {
                (FlagSeverity::Warning, "demineralization")
            } else {
                (FlagSeverity::High, "vertebral fracture")
            };
            let mut ev = fragility;
            ev.extend(demin());
            self.flag(
                out,
                FLAGS[4].id,
                severity,
                format!("{what} without a recommended bone-health follow-up (DXA, fracture risk assessment, osteoporosis evaluation)"),
                ev,
            );
        }

        // missing_acuity: an affirmed fracture is dated when it, or another fracture mention
        // that is not denied and may be the same vertebra, states an age.
        let undated: Vec<u32> = vf
            .iter()
            .copied()
            .filter(|&i| {
                let m = self.m(i);
                !self.treated(m) && !self.by.dated(m.attrs.levels)
            })
            .collect();
        if !undated.is_empty()
            && !self.comparison_given()
            && !self.says(PhraseKind::Known.bit() | PhraseKind::Age.bit())
            && !self.recommends(PhraseKind::Imaging.bit())
        {
            self.flag(
                out,
                FLAGS[5].id,
                FLAGS[5].severity,
                "vertebral fracture of unstated age with no comparison study".into(),
                undated,
            );
        }

        // uncertain_fracture_no_further_imaging
        if vf.is_empty() {
            let hedged: Vec<u32> = self
                .of(ConceptId::VERTEBRAL_FRACTURE)
                .filter(|(_, m)| m.counts() && m.negated.is_none() && m.uncertain.is_some())
                .map(|(i, _)| i)
                .collect();
            if !hedged.is_empty() && !self.recommends(PhraseKind::Imaging.bit()) {
                self.flag(
                    out,
                    FLAGS[6].id,
                    FLAGS[6].severity,
                    "possible vertebral fracture without a recommendation for further imaging"
                        .into(),
                    hedged,
                );
            }
        }

        // retropulsion_no_escalation
        let retro = || self.affirmed(ConceptId::RETROPULSION);
        if retro().next().is_some()
            && !self.says(PhraseKind::Neuro.bit())
            && !self.recommends(PhraseKind::Imaging.bit() | PhraseKind::Escalation.bit())
        {
            self.flag(
                out,
                FLAGS[7].id,
                FLAGS[7].severity,
                "retropulsion without a note on neurologic status or a recommendation for MRI/CT or spine surgery opinion".into(),
                retro().collect(),
            );
        }

        // osseous_lesion_no_workup: not for a lesion described as benign, nor in a report that
        // follows a known lesion process (a lesion sentence with stable / progressive /
        // compared with ...).
        let lesion: Vec<u32> = self
            .of(ConceptId::OSSEOUS_LESION)
            .filter(|(_, m)| {
                m.counts()
                    && m.negated.is_none()
                    && !self.in_sentence(PhraseKind::Benign.bit(), m.sentence)
            })
            .map(|(i, _)| i)
            .collect();
        let followed = self.of(ConceptId::OSSEOUS_LESION).any(|(_, m)| {
            m.negated.is_none()
                && self.in_sentence(
                    PhraseKind::Known.bit() | PhraseKind::Comparison.bit(),
                    m.sentence,
                )
        });
        if !lesion.is_empty()
            && !followed
            && !self.recommends(PhraseKind::Imaging.bit() | PhraseKind::Workup.bit())
        {
            self.flag(
                out,
                FLAGS[8].id,
                FLAGS[8].severity,
                "vertebral lesion affirmed or suspected without a recommendation for further imaging or work-up".into(),
                lesion,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(text: &str) -> Vec<String> {
        let p = Pipeline::builtin();
        let a = p.analyze(&Report::new("t", text));
        audit(text, &a, &p).into_iter().map(|f| f.flag).collect()
    }

    #[test]
    fn hits_sentences_and_sets_agree_with_a_search_per_hit() {
        let p = Pipeline::builtin();
        let au = Auditor::builtin();
        let mut s = Scratch::default();
        let mut placed = 0;
        for report in crate::gen::generate(5, 300) {
            let a = p.analyze(&report);
            au.scan(&report.text, None, &a, &mut s);
            for h in &s.hits {
                let k = a.sentences.partition_point(|x| x.span.end <= h.span.start);
                let inside = a.sentences.get(k).is_some_and(|x| x.span.contains(h.span));
                assert_eq!(h.sentence, if inside { k as u32 } else { u32::MAX });
                placed += usize::from(inside);
            }
            for i in (0..a.sentences.len() as u32 + 70).chain([u32::MAX]) {
                let with = |kind: PhraseKind| {
                    i != u32::MAX
                        && s.hits
                            .iter()
                            .any(|h| h.kinds & kind.bit() != 0 && h.sentence == i)
                };
                assert_eq!(s.cue.contains(i), with(PhraseKind::Cue));
                assert_eq!(s.decline.contains(i), with(PhraseKind::Decline));
            }
        }
        assert!(placed > 500, "{placed}");
    }

    #[test]
    fn hits_found_at_the_pipeline_words_are_those_of_a_walk_over_the_text() {
        let p = Pipeline::builtin();
        let au = Auditor::builtin();
        assert!(
            au.first_words.is_some(),
            "the shipped first words can be tagged"
        );
        let tricky = [
            "FINDINGS: Compression fracture of T12. No new fracture. Bone island in L2.\n\
             IMPRESSION: Fracture, age indeterminate. Recommend DXA and follow-up MRI. \
             Comparison: N/A.",
            "Findings: bone-health follow-up; x-ray of the spine. Prior fractures café fracture \
             FRACTURE fracturé. DXA is not indicated. No acute fracture. Motor vehicle \
             collision. Further imaging could be considered, recommendation: CT.",
            "IMPRESSION: T12 wedge deformity.  Is  stable since prior,,previous study: none. \
             Recommend endocrinology referral for osteoporosis evaluation.",
            "bone",
            "",
        ];
        let reports =
            crate::gen::generate(7, 400).chain(tricky.iter().map(|&t| Report::new("t", t)));
        let (mut walked, mut found) = (Scratch::default(), Scratch::default());
        let mut hits = 0;
        for report in reports {
            let (a, folded, words) = p.analyze_with_audit_words(&report);
            au.scan(&report.text, None, &a, &mut walked);
            au.scan(&report.text, Some((&folded, &words)), &a, &mut found);
            assert_eq!(found.hits, walked.hits, "{}", report.id);
            assert_eq!(found.in_order, walked.in_order);
            assert_eq!(found.cue.0, walked.cue.0);
            assert_eq!(found.decline.0, walked.decline.0);
            hits += walked.hits.len();
        }
        assert!(hits > 1000, "{hits}");
    }

    #[test]
    fn mentions_by_concept_are_those_a_filter_of_all_finds() {
        let p = Pipeline::builtin();
        let mut by = ByConcept::default();
        let mut listed = 0;
        let tricky = [
            "SPINE SURVEY FOR FRACTURE\nFINDINGS: Acute T12 fracture. L1 compression deformity.\n\
             IMPRESSION: No acute fracture.",
            "Old fracture of the spine, age indeterminate. Kyphoplasty at L2. L2 fracture.",
        ];
        let reports =
            crate::gen::generate(11, 400).chain(tricky.iter().map(|&t| Report::new("t", t)));
        for report in reports {
            let a = p.analyze(&report);
            let title = a.sections.iter().any(|x| x.kind == SectionKind::Findings);
            by.fill(&a, title);
            for c in 0..ByConcept::BUILTINS as u16 {
                let c = ConceptId(c);
                let want: Vec<u32> = if LISTED >> c.index() & 1 == 0 {
                    Vec::new()
                } else {
                    (0..a.mentions.len() as u32)
                        .filter(|&i| {
                            let m = &a.mentions[i as usize];
                            m.concept == c && !(title && m.section == SectionKind::Preamble)
                        })
                        .collect()
                };
                assert_eq!(by.of[c.index()], want, "{} {c:?}", report.id);
                listed += want.len();
            }
            // Any level set, and those of the fracture mentions.
            let sets = a.mentions.iter().map(|m| m.attrs.levels).chain([
                Levels::EMPTY,
                Levels(1 << 18),
                Levels(0b11 << 18),
                Levels(1 << 3),
            ]);
            for levels in sets {
                let want = a.mentions.iter().any(|n| {
                    n.concept == ConceptId::VERTEBRAL_FRACTURE
                        && n.counts()
                        && n.negated.is_none()
                        && n.attrs.acuity.is_some()
                        && levels_compatible(n.attrs.levels, levels)
                });
                assert_eq!(by.dated(levels), want, "{} {levels:?}", report.id);
            }
        }
        assert!(listed > 500, "{listed}");
    }

    #[test]
    fn term_words_split_ascii_terms_as_any_other() {
        let au = Auditor::builtin();
        let terms = [
            "Fracture",
            "compression fx",
            "T12 burst-fractures",
            "café fracture",
            "",
            " ,",
        ];
        let lexicon = Pipeline::builtin();
        let shipped = lexicon.lexicons().terms.iter().map(|t| t.text.as_str());
        for term in terms.into_iter().chain(shipped) {
            for kind in PhraseKind::ALL.iter().filter(|k| k.is_term_word()) {
                let by_char = term
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .any(|w| {
                        let slot = kind.term_slot().unwrap_or_default();
                        au.words_of[slot]
                            .iter()
                            .any(|x| x.eq_ignore_ascii_case(w.as_bytes()))
                    });
                assert_eq!(au.term_has(term, *kind), by_char, "{term:?} {kind}");
            }
        }
    }

    #[test]
    fn term_kinds_kept_by_the_pipeline_agree_with_the_term_words() {
        let au = Auditor::builtin();
        let p = Pipeline::builtin();
        let terms = &p.lexicons().terms;
        assert_eq!(p.audit_term_kinds().len(), terms.len());
        let mut held = 0;
        for (i, t) in terms.iter().enumerate() {
            for &kind in PhraseKind::ALL.iter().filter(|k| k.is_term_word()) {
                let want = au.term_has(&t.text, kind);
                let kinds = p.audit_term_kinds()[i];
                assert_eq!(
                    kinds & KINDS_KNOWN != 0,
                    TERM_WORD_CONCEPTS.contains(&t.concept),
                    "{:?}",
                    t.text
                );
                if kinds & KINDS_KNOWN != 0 {
                    let bit = kind.term_slot().map(|slot| kinds >> slot & 1);
                    assert_eq!(bit == Some(1), want, "{:?} {kind}", t.text);
                    held += usize::from(want);
                }
            }
        }
        assert!(held > 10, "{held}");
    }

    #[test]
    fn shipped_phrases_compile() {
        let au = Auditor::builtin();
        assert!(au.kinds.len() > 100);
        assert!(au.term_has("compression fracture", PhraseKind::Explicit));
        assert!(!au.term_has("compression deformity", PhraseKind::Explicit));
        assert!(au.term_has("burst fracture", PhraseKind::NotFragility));
        // Rows are sorted by phrase, so that additions land in one place.
        let phrases: Vec<&str> = BUILTIN_AUDIT_TSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .skip(1)
            .map(|l| l.split('\t').next().unwrap_or(""))
            .collect();
        for w in phrases.windows(2) {
            assert!(
                w[0] < w[1],
                "lexicons/audit.tsv: {:?} before {:?}",
                w[0],
                w[1]
            );
        }
    }

    #[test]
    fn nothing_to_audit_is_free() {
        assert!(flags("FINDINGS: Mild multilevel spondylosis. Normal alignment.").is_empty());
    }

    #[test]
    fn messages_never_quote_the_report() {
        let p = Pipeline::builtin();
        let msgs = |text: &str| {
            let a = p.analyze(&Report::new("t", text));
            audit(text, &a, &p)
                .into_iter()
                .map(|f| f.message)
                .collect::<Vec<_>>()
        };
        let a = msgs("FINDINGS: Zqxv T12 wedge deformity, patient Smith.\nIMPRESSION: Qwzy.");
        let b = msgs("FINDINGS: Mild anterior wedging of L3.\nIMPRESSION: Spondylosis.");
        assert!(a.len() >= 3);
        assert_eq!(a, b, "messages depend on the report's words");
        assert!(a
            .iter()
            .all(|m| !m.contains("Zqxv") && !m.contains("Smith")));
    }

    #[test]
    fn table_errors_name_path_line_and_allowed() {
        let e = Auditor::from_tsv("a.tsv", "phrase\tkinds\ndxa\tbone_health\nfoo\tbogus\n")
            .unwrap_err();
        assert_eq!((e.path.as_str(), e.line), ("a.tsv", 3));
        assert!(e.message.contains("bone_health") && e.message.contains("not_fragility"));
        let e =
            Auditor::from_tsv("a.tsv", "phrase\tkinds\nDXA\tcue\ndxa\tbone_health\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("duplicate"));
        let e = Auditor::from_tsv("a.tsv", "phrase\tkinds\nbone break\texplicit\n").unwrap_err();
        assert!(e.message.contains("one word"));
        let e = Auditor::from_tsv("a.tsv", "term\tkind\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(Auditor::from_tsv("a.tsv", "# only a comment\n").is_err());
    }

    #[test]
    fn every_flag_is_documented() {
        let doc = include_str!("../docs/AUDIT.md");
        for f in FLAGS {
            assert!(
                doc.contains(&format!("`{}`", f.id)),
                "{} not in docs/AUDIT.md",
                f.id
            );
            assert_eq!(flag_info(f.id), Some(&f));
        }
    }
}
