//! The data model shared by every stage: spans, concepts, levels, mentions, statuses and the
//! per-report analysis. Plain data, no lifetimes: an [`Analysis`] crosses threads freely.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A half-open byte range `[start, end)` into a report's original text.
///
/// Internally every offset is a byte offset on a UTF-8 character boundary; the output tables
/// convert to character (Unicode scalar) offsets at the edge (see [`crate::span::CharIndex`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`; `start <= end` is the caller's promise.
    pub const fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
    /// Length in bytes.
    pub const fn len(&self) -> usize {
        self.end - self.start
    }
    /// Whether the span is empty.
    pub const fn is_empty(&self) -> bool {
        self.start == self.end
    }
    /// Whether `other` lies inside this span.
    pub const fn contains(&self, other: Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }
    /// The text this span covers.
    pub fn slice<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start..self.end]
    }
}

/// The eleven built-in concepts, in the contract's order.
pub const BUILTIN_CONCEPTS: [&str; 11] = [
    "vertebral_fracture",
    "retropulsion",
    "demineralization",
    "spondylolisthesis",
    "spondylolysis",
    "degenerative_changes",
    "scoliosis",
    "kyphosis",
    "malalignment",
    "hardware",
    "osseous_lesion",
];

/// Index of a concept: built-ins are `0..11` in [`BUILTIN_CONCEPTS`] order, user concepts from
/// `--targets` follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConceptId(pub u16);

impl ConceptId {
    /// `vertebral_fracture`
    pub const VERTEBRAL_FRACTURE: ConceptId = ConceptId(0);
    /// `retropulsion`
    pub const RETROPULSION: ConceptId = ConceptId(1);
    /// `demineralization`
    pub const DEMINERALIZATION: ConceptId = ConceptId(2);
    /// `spondylolisthesis`
    pub const SPONDYLOLISTHESIS: ConceptId = ConceptId(3);
    /// `spondylolysis`
    pub const SPONDYLOLYSIS: ConceptId = ConceptId(4);
    /// `degenerative_changes`
    pub const DEGENERATIVE_CHANGES: ConceptId = ConceptId(5);
    /// `scoliosis`
    pub const SCOLIOSIS: ConceptId = ConceptId(6);
    /// `kyphosis`
    pub const KYPHOSIS: ConceptId = ConceptId(7);
    /// `malalignment`
    pub const MALALIGNMENT: ConceptId = ConceptId(8);
    /// `hardware`
    pub const HARDWARE: ConceptId = ConceptId(9);
    /// `osseous_lesion`
    pub const OSSEOUS_LESION: ConceptId = ConceptId(10);

    /// Whether this is one of the eleven built-in concepts.
    pub const fn is_builtin(self) -> bool {
        (self.0 as usize) < BUILTIN_CONCEPTS.len()
    }
    /// Position as an index.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// The 29 vertebrae in cranial-to-caudal order.
pub const VERTEBRAE: [&str; 29] = [
    "C1", "C2", "C3", "C4", "C5", "C6", "C7", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9",
    "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1", "S2", "S3", "S4", "S5",
];

/// A set of vertebrae as a bit mask (bit `i` is `VERTEBRAE[i]`), so iteration is cranial to
/// caudal and no allocation is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Levels(pub u32);

impl Levels {
    /// The empty set.
    pub const EMPTY: Levels = Levels(0);
    /// Whether no level is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Adds one vertebra by index into [`VERTEBRAE`].
    pub fn insert(&mut self, index: usize) {
        if index < VERTEBRAE.len() {
            self.0 |= 1 << index;
        }
    }
    /// Adds every vertebra from `a` to `b` (indices, either order).
    pub fn insert_range(&mut self, a: usize, b: usize) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        for i in lo..=hi.min(VERTEBRAE.len() - 1) {
            self.insert(i);
        }
    }
    /// Union.
    pub fn union(self, other: Levels) -> Levels {
        Levels(self.0 | other.0)
    }
    /// The vertebrae's names, cranial to caudal.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        (0..VERTEBRAE.len())
            .filter(move |i| self.0 & (1 << i) != 0)
            .map(|i| VERTEBRAE[i])
    }
    /// Index of a vertebra name such as `T12` (case-insensitive).
    pub fn index_of(name: &str) -> Option<usize> {
        VERTEBRAE.iter().position(|v| v.eq_ignore_ascii_case(name))
    }
    /// Number of levels set.
    pub const fn count(self) -> u32 {
        self.0.count_ones()
    }
}

impl fmt::Display for Levels {
    /// `;`-joined names, cranial to caudal (`T11;T12;L1`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for n in self.names() {
            if !first {
                f.write_str(";")?;
            }
            f.write_str(n)?;
            first = false;
        }
        Ok(())
    }
}

impl Serialize for Levels {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($(#[$vm])* $var),+ }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// The stable lowercase name used in tables and lexicons.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }
            /// Parses the stable name (ASCII case-insensitive).
            pub fn parse(s: &str) -> Option<$name> {
                $(if s.eq_ignore_ascii_case($s) { return Some($name::$var); })+
                None
            }
            /// The allowed names, for error messages.
            pub fn allowed() -> String {
                [$($s),+].join(", ")
            }
        }
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result { f.write_str(self.as_str()) }
        }
        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use str_enum;

str_enum! {
    /// Report-level status of a concept.
    Status {
        /// Affirmed by at least one mention that counts.
        Present => "present",
        /// Only explicitly negated mentions count.
        Absent => "absent",
        /// Hedged, and nothing affirmed.
        Uncertain => "uncertain",
    }
}

str_enum! {
    /// Severity of a finding.
    Severity {
        /// mild, minimal, slight
        Mild => "mild",
        /// moderate, mild to moderate
        Moderate => "moderate",
        /// severe, marked, advanced
        Severe => "severe",
    }
}

str_enum! {
    /// Age of a fracture.
    Acuity {
        /// acute
        Acute => "acute",
        /// subacute
        Subacute => "subacute",
        /// chronic, old, healed, remote
        Chronic => "chronic",
        /// age-indeterminate
        Indeterminate => "indeterminate",
    }
}

str_enum! {
    /// Direction of a listhesis or a curve.
    Direction {
        /// anterolisthesis
        Anterior => "anterior",
        /// retrolisthesis
        Posterior => "posterior",
        /// lateral listhesis
        Lateral => "lateral",
        /// convex to the right
        Dextro => "dextro",
        /// convex to the left
        Levo => "levo",
    }
}

str_enum! {
    /// A report section.
    SectionKind {
        /// Text before any header.
        Preamble => "preamble",
        /// History, indication, reason for exam, clinical information.
        Indication => "indication",
        /// Past history.
        History => "history",
        /// Comparison.
        Comparison => "comparison",
        /// Technique, exam, procedure, views.
        Technique => "technique",
        /// Findings.
        Findings => "findings",
        /// Impression, conclusion, summary, opinion.
        Impression => "impression",
        /// Recommendation.
        Recommendation => "recommendation",
    }
}

str_enum! {
    /// Spinal region named by words rather than numbered levels.
    Region {
        /// cervical
        Cervical => "cervical",
        /// cervicothoracic junction
        Cervicothoracic => "cervicothoracic",
        /// thoracic
        Thoracic => "thoracic",
        /// thoracolumbar junction
        Thoracolumbar => "thoracolumbar",
        /// lumbar
        Lumbar => "lumbar",
        /// lumbosacral junction
        Lumbosacral => "lumbosacral",
        /// sacral
        Sacral => "sacral",
    }
}

/// One ConText flag: set or not, with the trigger span that set it.
pub type Flag = Option<Span>;

/// Attributes read from the words around a mention.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Attributes {
    /// Vertebral levels.
    pub levels: Levels,
    /// Region named in words ("lower thoracic", "thoracolumbar junction").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// Severity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Fracture age.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acuity: Option<Acuity>,
    /// Percent loss of vertebral body height.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height_loss_pct: Option<f32>,
    /// Genant semiquantitative grade 1-3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genant_grade: Option<u8>,
    /// Meyerding grade 1-5 of a listhesis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meyerding_grade: Option<u8>,
    /// Listhesis in millimetres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slip_mm: Option<f32>,
    /// Cobb angle in degrees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cobb_degrees: Option<f32>,
    /// Direction of a listhesis or a curve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
}

/// One mention of a concept in a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Mention {
    /// Which concept.
    pub concept: ConceptId,
    /// Where, in bytes of the original text.
    pub span: Span,
    /// Section it sits in.
    pub section: SectionKind,
    /// Index of its sentence in [`Analysis::sentences`].
    pub sentence: u32,
    /// Index of the lexicon term that matched (see [`crate::lexicon::Lexicons::terms`]).
    pub term: u32,
    /// Negated, with the trigger's span.
    pub negated: Flag,
    /// Hedged, with the trigger's span.
    pub uncertain: Flag,
    /// Past history, with the trigger's span (or the section header's).
    pub historical: Flag,
    /// Hypothetical (indication, "evaluate for", "if"), with the trigger's span.
    pub hypothetical: Flag,
    /// Attributes.
    pub attrs: Attributes,
}

impl Mention {
    /// Whether this mention is about the current exam (neither hypothetical nor unconfirmed
    /// history), so that it may set the report-level status.
    pub fn counts(&self) -> bool {
        self.hypothetical.is_none() && self.historical.is_none()
    }
    /// Affirmed: counts, not negated, not hedged.
    pub fn affirmed(&self) -> bool {
        self.counts() && self.negated.is_none() && self.uncertain.is_none()
    }
}

/// Patient context that may travel with a report (all optional: unknown is not false).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PatientContext {
    /// Age in years.
    pub age: Option<f32>,
    /// `F` or `M` (free text kept as given, uppercased).
    pub sex: Option<String>,
    /// Lowest DXA T-score.
    pub t_score: Option<f32>,
    /// FRAX 10-year major osteoporotic fracture risk, percent.
    pub frax_major: Option<f32>,
    /// FRAX 10-year hip fracture risk, percent.
    pub frax_hip: Option<f32>,
    /// New or progressive neurologic deficit.
    pub neuro_deficit: Option<bool>,
    /// History of cancer.
    pub cancer_history: Option<bool>,
    /// Long-term glucocorticoid use.
    pub glucocorticoids: Option<bool>,
    /// Prior fragility fracture.
    pub fragility_fracture_history: Option<bool>,
    /// High-energy trauma.
    pub high_energy_trauma: Option<bool>,
}

/// The patient-context field names, in contract order.
pub const PATIENT_FIELDS: [&str; 10] = [
    "age",
    "sex",
    "t_score",
    "frax_major",
    "frax_hip",
    "neuro_deficit",
    "cancer_history",
    "glucocorticoids",
    "fragility_fracture_history",
    "high_energy_trauma",
];

impl PatientContext {
    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        *self == PatientContext::default()
    }

    /// Sets one field from its text value. Blank means unknown. Returns an error message naming
    /// the accepted forms when the value cannot be read; unknown field names are ignored
    /// (`Ok(false)`).
    pub fn set(&mut self, field: &str, value: &str) -> Result<bool, String> {
        let v = value.trim();
        fn num(field: &str, v: &str) -> Result<Option<f32>, String> {
            if v.is_empty() {
                return Ok(None);
            }
            let t = v.trim_end_matches('%').trim();
            parse_f32(t)
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| format!("{field}: expected a number, got {:?}", clip(v)))
        }
        fn boolean(field: &str, v: &str) -> Result<Option<bool>, String> {
            match read_bool(v) {
                Some(b) => Ok(b),
                None => Err(format!(
                    "{field}: expected true/false/yes/no/1/0 or blank, got {:?}",
                    clip(v)
                )),
            }
        }
        match field {
            "age" => self.age = num(field, v)?,
            "sex" => self.sex = (!v.is_empty()).then(|| v.to_ascii_uppercase()),
            "t_score" => self.t_score = num(field, v)?,
            "frax_major" => self.frax_major = num(field, v)?,
            "frax_hip" => self.frax_hip = num(field, v)?,
            "neuro_deficit" => self.neuro_deficit = boolean(field, v)?,
            "cancer_history" => self.cancer_history = boolean(field, v)?,
            "glucocorticoids" => self.glucocorticoids = boolean(field, v)?,
            "fragility_fracture_history" => self.fragility_fracture_history = boolean(field, v)?,
            "high_energy_trauma" => self.high_energy_trauma = boolean(field, v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// `t` read as an `f32`, as `str::parse` reads it. A string of at most seven ASCII digits
/// (an age, most often) is read directly: its value is below 2^24, so the `f32` is exact.
fn parse_f32(t: &str) -> Option<f32> {
    let b = t.as_bytes();
    if !b.is_empty() && b.len() <= 7 && b.iter().all(u8::is_ascii_digit) {
        let n = b.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
        return Some(n as f32);
    }
    t.parse::<f32>().ok()
}

/// A boolean patient value, in any ASCII case: `Some(None)` when blank, `None` when it is not
/// one of the accepted words. Compared in place: no lowercased copy is made.
fn read_bool(v: &str) -> Option<Option<bool>> {
    let any = |words: [&str; 5]| words.iter().any(|w| v.eq_ignore_ascii_case(w));
    if v.is_empty() {
        Some(None)
    } else if any(["true", "yes", "1", "y", "t"]) {
        Some(Some(true))
    } else if any(["false", "no", "0", "n", "f"]) {
        Some(Some(false))
    } else {
        None
    }
}

/// A value shortened for an error message (never more than 20 characters of input).
fn clip(v: &str) -> String {
    let mut s: String = v.chars().take(20).collect();
    if s.len() < v.len() {
        s.push('…');
    }
    s
}

/// One input record: an id, the text, and any patient context.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Report identifier.
    pub id: String,
    /// Original text.
    pub text: String,
    /// Patient context.
    pub patient: PatientContext,
    /// Non-fatal notes about how the record was read (for example invalid UTF-8 replaced).
    pub warnings: Vec<String>,
}

impl Report {
    /// A report with no patient context.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Report {
        Report {
            id: id.into(),
            text: text.into(),
            ..Report::default()
        }
    }
}

/// A section of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Section {
    /// Kind.
    pub kind: SectionKind,
    /// The header's span (empty for the preamble).
    pub header: Span,
    /// The body, from after the header to the next header.
    pub body: Span,
}

/// A sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sentence {
    /// Its span.
    pub span: Span,
    /// Index into [`Analysis::sections`].
    pub section: u32,
}

str_enum! {
    /// How firmly an action is recommended.
    Strength {
        /// The rule's criteria are met.
        Recommended => "recommended",
        /// Depends on a condition stated in words.
        Conditional => "conditional",
    }
}

str_enum! {
    /// How soon an action is due.
    Urgency {
        /// At the next routine opportunity.
        Routine => "routine",
        /// Within days.
        Soon => "soon",
        /// Now.
        Urgent => "urgent",
    }
}

str_enum! {
    /// Severity of an audit flag.
    FlagSeverity {
        /// Worth a look.
        Info => "info",
        /// Likely a reporting or follow-up gap.
        Warning => "warning",
        /// A gap that could harm the patient.
        High => "high",
    }
}

/// A text that many rows carry unchanged: a rule's id, rationale, source and condition, an
/// action id, a caution's id, message and source. The rule set holds each once, and every
/// [`Recommendation`] and [`Caution`] that carries it holds a handle to the same memory (a
/// clone costs no allocation and no copy), so that a reader holding the rule set's handle too
/// can tell the text is the rule's by its address, without comparing bytes.
///
/// It reads as a `&str` (`Deref`), compares with `str`, `&str` and `String` by content (the
/// same memory first), and serializes as a plain string.
#[derive(Clone, Default, PartialOrd, Ord)]
pub struct Text(Arc<str>);

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Whether `s` is this very text: the same memory, not only the same bytes.
    pub fn is(&self, s: &str) -> bool {
        std::ptr::eq(self.0.as_ptr(), s.as_ptr()) && self.0.len() == s.len()
    }
}

/// [`Text`] handles found by their address, each with a number: an open-addressing table
/// (linear probing, at most half full) keyed by a hash of where the text is in memory. A
/// handle kept here keeps its memory, so no other text is at its address while it is here: a
/// text at the same address with the same length ([`Text::is`]) is this handle's text. For the
/// writers, which see the rule set's own handles report after report and find them without
/// reading a byte.
#[derive(Debug, Clone, Default)]
pub(crate) struct ByAddress {
    /// Per slot, a handle and its number. Its length is a power of two (or zero: nothing kept).
    slots: Vec<Option<(Text, u32)>>,
    /// Handles in `slots`.
    kept: usize,
}

impl ByAddress {
    /// An empty table of `slots` slots (a power of two), room for half as many handles.
    pub(crate) fn with_slots(slots: usize) -> ByAddress {
        debug_assert!(slots.is_power_of_two());
        ByAddress {
            slots: vec![None; slots],
            kept: 0,
        }
    }

    /// Handles kept.
    pub(crate) fn kept(&self) -> usize {
        self.kept
    }

    /// The first slot to look in for the text at `s`.
    #[inline(always)]
    fn home(&self, s: &str) -> usize {
        let hash = (s.as_ptr() as usize as u64 >> 3).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        hash as usize & self.slots.len().wrapping_sub(1)
    }

    /// The number kept with `s`, when `s` is the text of a handle kept here (a hash of one
    /// integer and a probe or two, inline at the caller).
    #[inline(always)]
    pub(crate) fn get(&self, s: &str) -> Option<u32> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut at = self.home(s);
        while let Some((kept, n)) = self.slots.get(at).and_then(Option::as_ref) {
            if kept.is(s) {
                return Some(*n);
            }
            at = (at + 1) & mask;
        }
        None
    }

    /// Keeps `text` with `n` (a handle kept already has its number replaced), unless that
    /// would make the table more than half full; whether it is kept.
    pub(crate) fn insert(&mut self, text: &Text, n: u32) -> bool {
        let mask = self.slots.len().wrapping_sub(1);
        let mut at = self.home(text);
        while let Some((kept, old)) = self.slots.get_mut(at).and_then(Option::as_mut) {
            if kept.is(text) {
                *old = n;
                return true;
            }
            at = (at + 1) & mask;
        }
        if 2 * (self.kept + 1) > self.slots.len() {
            return false;
        }
        self.slots[at] = Some((text.clone(), n));
        self.kept += 1;
        true
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text(Arc::from(s))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(Arc::from(s))
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text(Arc::from(s.as_str()))
    }
}

impl PartialEq<str> for Text {
    /// By content; a text compared with itself (the same memory) is equal without reading
    /// its bytes.
    fn eq(&self, other: &str) -> bool {
        self.is(other) || *self.0 == *other
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        *self == *other.0
    }
}

impl Eq for Text {}

impl std::hash::Hash for Text {
    /// As the `str` it holds, as equality compares it.
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (*self.0).hash(h)
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        *self == **other
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        *other == *self
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *other == **self
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, other: &Text) -> bool {
        *other == **self
    }
}

impl fmt::Debug for Text {
    /// As the `str` it holds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Text {
    /// As a plain string.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// One recommended next step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// Action id (`dxa`, `mri_without_contrast`, ...).
    pub action: Text,
    /// Id of the rule that fired.
    pub rule: Text,
    /// Strength.
    pub strength: Strength,
    /// For a conditional action, the condition in words (including what to obtain when a
    /// needed patient value is unknown).
    pub condition: Option<Text>,
    /// Urgency.
    pub urgency: Urgency,
    /// Why, in the project's words.
    pub rationale: Text,
    /// Indices into [`Analysis::mentions`] of the mentions that fired the rule.
    pub evidence: Vec<u32>,
    /// Seed article and guideline or study it rests on.
    pub source: Text,
}

/// A caution: a pitfall that a finding invites.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Caution {
    /// Stable id.
    pub id: Text,
    /// Id of the rule that raised it.
    pub rule: Text,
    /// What to avoid and why.
    pub message: Text,
    /// Indices into [`Analysis::mentions`].
    pub evidence: Vec<u32>,
    /// Source.
    pub source: Text,
}

/// One quality flag on a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditFlag {
    /// Stable flag id (`fracture_missing_level`, ...).
    pub flag: String,
    /// Severity.
    pub severity: FlagSeverity,
    /// What is wrong, in words (never report text).
    pub message: String,
    /// Indices into [`Analysis::mentions`].
    pub evidence: Vec<u32>,
}

/// Report-level result for one concept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ConceptResult {
    /// Status, `None` when not mentioned (or only hypothetically / historically).
    pub status: Option<Status>,
    /// Union of the levels of the mentions that set the status.
    pub levels: Levels,
    /// Highest severity among those mentions.
    pub severity: Option<Severity>,
    /// Acuity among those mentions (acute > subacute > indeterminate > chronic when several).
    pub acuity: Option<Acuity>,
}

/// Everything spinex found in one report.
///
/// [`crate::Pipeline::analyze_into`] fills one in place, so that a caller analyzing many
/// reports reuses its vectors instead of allocating new ones for each report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Analysis {
    /// Report id.
    pub report_id: String,
    /// Sections in text order.
    pub sections: Vec<Section>,
    /// Sentences in text order.
    pub sentences: Vec<Sentence>,
    /// Mentions in text order.
    pub mentions: Vec<Mention>,
    /// One entry per concept (built-ins first, then user concepts).
    pub concepts: Vec<ConceptResult>,
    /// Recommended next steps.
    pub recommendations: Vec<Recommendation>,
    /// Cautions.
    pub cautions: Vec<Caution>,
    /// Quality flags.
    pub flags: Vec<AuditFlag>,
    /// Notes about how the record was read.
    pub warnings: Vec<String>,
}

impl Analysis {
    /// Result for a concept.
    pub fn concept(&self, id: ConceptId) -> &ConceptResult {
        &self.concepts[id.index()]
    }
    /// Status for a concept.
    pub fn status(&self, id: ConceptId) -> Option<Status> {
        self.concepts.get(id.index()).and_then(|c| c.status)
    }

    /// Empties every part, keeping the capacity of each for the next report: afterwards the
    /// analysis equals [`Analysis::default`]. The recommendation and caution rows are kept
    /// for this thread's next application of the rules, which writes its rows over them
    /// instead of allocating new strings.
    pub fn clear(&mut self) {
        self.empty(usize::MAX);
    }

    /// Empties the analysis as [`Analysis::clear`] does, and gives back the memory of every
    /// part whose capacity is over `bytes` (after a long report), so that an analysis kept for
    /// reuse holds about what a typical report needs, not what the longest one seen needed.
    pub fn recycle(&mut self, bytes: usize) {
        self.empty(bytes);
    }

    /// [`Analysis::clear`], keeping at most `bytes` of capacity per part.
    fn empty(&mut self, bytes: usize) {
        fn empty<T>(v: &mut Vec<T>, bytes: usize) {
            v.clear();
            let size = std::mem::size_of::<T>().max(1);
            if v.capacity().saturating_mul(size) > bytes {
                v.shrink_to(bytes / size);
            }
        }
        // Every field by name, so that a new field cannot be forgotten here.
        let Analysis {
            report_id,
            sections,
            sentences,
            mentions,
            concepts,
            recommendations,
            cautions,
            flags,
            warnings,
        } = self;
        report_id.clear();
        if report_id.capacity() > bytes {
            report_id.shrink_to(bytes);
        }
        // The rows go to a pool that the next report's rows are written over.
        crate::recommend::keep_rows(recommendations, cautions);
        empty(recommendations, bytes);
        empty(cautions, bytes);
        empty(sections, bytes);
        empty(sentences, bytes);
        empty(mentions, bytes);
        empty(concepts, bytes);
        empty(flags, bytes);
        empty(warnings, bytes);
    }
}

/// An error in a lexicon, target or rule file, located by path and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexiconError {
    /// The file.
    pub path: String,
    /// 1-based line (0 when the problem is the file as a whole).
    pub line: usize,
    /// What is wrong and, for enumerated values, which values are allowed.
    pub message: String,
}

impl LexiconError {
    /// A new error.
    pub fn new(path: impl Into<String>, line: usize, message: impl Into<String>) -> LexiconError {
        LexiconError {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for LexiconError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.path, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for LexiconError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    proptest::proptest! {
        /// Texts compare as the strings they hold, whether they share memory or not.
        #[test]
        fn texts_compare_as_their_strings(a in "[ab]{0,3}", b in "[ab]{0,3}") {
            let (x, y) = (Text::from(a.as_str()), Text::from(b.as_str()));
            let same = x.clone();
            proptest::prop_assert_eq!(x == y, a == b);
            proptest::prop_assert_eq!(x == b.as_str(), a == b);
            proptest::prop_assert_eq!(x == *b.as_str(), a == b);
            proptest::prop_assert_eq!(x == b, a == b);
            proptest::prop_assert_eq!(b.as_str() == x, a == b);
            proptest::prop_assert!(x == same && same.is(&x) && x == a);
            // Equal bytes elsewhere are not the same text.
            proptest::prop_assert!(!x.is(&b) || x.is_empty());
            proptest::prop_assert_eq!(format!("{x:?}"), format!("{a:?}"));
            proptest::prop_assert_eq!(serde_json::to_string(&x).unwrap(), serde_json::to_string(&a).unwrap());
        }
    }

    /// The boolean reading as a lowercased copy matched against the accepted words.
    fn read_bool_lowercased(v: &str) -> Option<Option<bool>> {
        match v.to_ascii_lowercase().as_str() {
            "" => Some(None),
            "true" | "yes" | "1" | "y" | "t" => Some(Some(true)),
            "false" | "no" | "0" | "n" | "f" => Some(Some(false)),
            _ => None,
        }
    }

    proptest::proptest! {
        #[test]
        fn booleans_read_as_a_lowercased_copy_matches(
            v in proptest::collection::vec(
                proptest::sample::select(vec![
                    't', 'T', 'r', 'R', 'u', 'U', 'e', 'E', 'y', 'Y', 's', 'S', 'n', 'N', 'o',
                    'O', 'f', 'F', 'a', 'A', 'l', 'L', '0', '1', ' ', '\u{130}', '\u{17f}',
                ]),
                0..6,
            ).prop_map(|c| c.into_iter().collect::<String>()),
        ) {
            proptest::prop_assert_eq!(read_bool(&v), read_bool_lowercased(&v), "{:?}", v);
        }
    }

    proptest::proptest! {
        /// Short digit strings read directly give what `str::parse` gives, to the bit.
        #[test]
        fn numbers_read_as_str_parse_reads_them(
            v in proptest::collection::vec(
                proptest::sample::select(vec![
                    '0', '1', '2', '5', '7', '9', '.', '-', '+', 'e', ' ', 'x',
                ]),
                0..10,
            ).prop_map(|c| c.into_iter().collect::<String>()),
            n in 0u32..100_000_000,
        ) {
            let bits = |x: Option<f32>| x.map(f32::to_bits);
            proptest::prop_assert_eq!(bits(parse_f32(&v)), bits(v.parse::<f32>().ok()), "{:?}", v);
            let n = n.to_string();
            proptest::prop_assert_eq!(bits(parse_f32(&n)), bits(n.parse::<f32>().ok()), "{:?}", n);
            let padded = format!("{n:0>7}");
            proptest::prop_assert_eq!(
                bits(parse_f32(&padded)),
                bits(padded.parse::<f32>().ok()),
                "{:?}",
                padded
            );
        }
    }

    #[test]
    fn booleans_in_any_case() {
        for (v, want) in [
            ("", Some(None)),
            ("TRUE", Some(Some(true))),
            ("yEs", Some(Some(true))),
            ("1", Some(Some(true))),
            ("F", Some(Some(false))),
            ("No", Some(Some(false))),
            ("nope", None),
            ("\u{17f}", None),
        ] {
            assert_eq!(read_bool(v), want, "{v:?}");
            assert_eq!(read_bool_lowercased(v), want, "{v:?}");
        }
    }
}
