//! The recommendation engine: guideline-based next steps from report-level findings and the
//! patient context.
//!
//! Rules are data (`lexicons/rules.toml`, schema in `lexicons/RULES.md`), read once into a
//! [`RuleSet`] and then only read. A rule holds when
//!
//! - every `all` finding condition holds, at least one `any` condition holds (when there are
//!   any), and no `none` condition holds; a finding condition looks at the concept's
//!   report-level status and, for attribute filters, at the mentions that set that status
//!   (affirmed mentions for `present`, hedged ones for `uncertain`). Negated, hypothetical and
//!   historical mentions never satisfy a rule, and every rule needs at least one finding the
//!   report states (present or uncertain), except a rule declared `basis = "patient"`, which
//!   acts on the patient context alone, never asks for missing values and has no evidence;
//! - its text cues hold (`[[cue]]` in the rule file, read by [`RuleSet::apply_with_text`]): a
//!   cue in the sentence of a mention (`cue`, `not_cue` in a finding condition) or anywhere in
//!   the report (`text_any`, `text_none`), such as "unstable" beside a fracture or "typical of
//!   a hemangioma" beside a lesion;
//! - its patient conditions hold, in three-valued logic: a missing patient value is unknown,
//!   not false. A rule that is unknown only because of missing values is emitted as
//!   `conditional`, its condition saying what to obtain (or skipped, when the rule says so).
//!
//! # One row per action
//! When several rules emit the same action, one row is kept: the strongest strength
//! (`recommended` over `conditional`), then the highest urgency, then the earliest rule in the
//! file. Its `rule`, `rationale` and `source` are that rule's; its evidence is the union of the
//! evidence of every rule that emitted the action; when the kept row is conditional, its
//! condition lists the conditions of every conditional rule that emitted the action. Then an
//! action is dropped when an action it `yields_to` was emitted as `recommended`, or when an
//! action it is `excluded_by` was emitted at all (for example `avoid_routine_imaging` beside any
//! MRI). Rows follow the order of the `[[action]]` table; cautions, one per id with merged
//! evidence, follow the `[[caution]]` table.

mod cond;
mod cue;
mod schema;

use crate::model::*;
#[cfg(test)]
use cond::StatusMasks;
use cond::{Fields, FindingCond, Findings, GateIndex, MentionSet, PatientCond, StatusGate, Tri};
pub use cue::CueDef;
use cue::{CueBuffers, CueHits};
#[cfg(test)]
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Write as _;

/// The action ids the contract requires every rule set to define.
pub const CONTRACT_ACTIONS: [&str; 11] = [
    "mri_without_contrast",
    "mri_with_and_without_contrast",
    "dxa",
    "fracture_risk_assessment",
    "calcium_vitamin_d",
    "pharmacologic_osteoporosis_treatment",
    "secondary_cause_workup",
    "conservative_management",
    "avoid_routine_imaging",
    "spine_surgery_referral",
    "malignancy_workup",
];

/// The shipped rule file.
const BUILTIN_RULES: &str = include_str!("../../lexicons/rules.toml");

/// What a rule does when a patient value it needs is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenUnknown {
    /// Emit the actions as `conditional`, saying what to obtain.
    Conditional,
    /// Emit nothing.
    Skip,
}

/// What a rule rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Basis {
    /// A finding the report states (at least one `all` or `any` condition on a present or
    /// uncertain concept); its evidence is the mentions of that finding.
    Findings,
    /// The patient context alone (no finding condition, never conditional); no evidence
    /// mention, and the same rows on every report of that patient.
    Patient,
}

/// A seed article a rule rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedDef {
    /// Its number (`002`).
    pub id: String,
    /// Its file name under the seeds directory.
    pub file: String,
    /// What it covers.
    pub title: String,
}

/// An action the rules may emit.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionDef {
    /// Stable id (`dxa`), shared with the rows that carry it.
    pub id: Text,
    /// What it means.
    pub meaning: String,
    yields_to: Vec<usize>,
    excluded_by: Vec<usize>,
}

/// A caution (pitfall) the rules may raise.
#[derive(Debug, Clone, PartialEq)]
pub struct CautionDef {
    /// Stable id.
    pub id: Text,
    /// What to avoid and why.
    pub message: Text,
    /// Seed articles and the works they cite.
    pub source: Text,
}

/// One rule: conditions over findings and patient context, and what it emits. Its id,
/// rationale, source and condition are [`Text`]s that the rows it fires share.
#[derive(Debug, Clone)]
pub struct Rule {
    id: Text,
    title: String,
    basis: Basis,
    all: Vec<FindingCond>,
    any: Vec<FindingCond>,
    none: Vec<FindingCond>,
    /// The statuses `all` and `any` ask for, as masks.
    gate: StatusGate,
    text_any: Vec<usize>,
    text_none: Vec<usize>,
    patient: Vec<PatientCond>,
    patient_any: Vec<PatientCond>,
    patient_none: Vec<PatientCond>,
    when_unknown: WhenUnknown,
    actions: Vec<usize>,
    cautions: Vec<usize>,
    strength: Strength,
    condition: Option<Text>,
    urgency: Urgency,
    rationale: Text,
    source: Text,
    line: usize,
}

impl Rule {
    /// Stable id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// One-line summary.
    pub fn title(&self) -> &str {
        &self.title
    }
    /// Strength when the rule holds.
    pub fn strength(&self) -> Strength {
        self.strength
    }
    /// The condition in words, for a conditional action.
    pub fn condition(&self) -> Option<&str> {
        self.condition.as_deref()
    }
    /// Urgency.
    pub fn urgency(&self) -> Urgency {
        self.urgency
    }
    /// Why, in the project's words.
    pub fn rationale(&self) -> &str {
        &self.rationale
    }
    /// Seed articles and the works they cite.
    pub fn source(&self) -> &str {
        &self.source
    }
    /// The id, rationale, source and condition as the handles the rows this rule fires
    /// share: a reader holding them can tell a row's text is the rule's by its address
    /// ([`Text::is`]).
    pub fn texts(&self) -> (&Text, &Text, &Text, Option<&Text>) {
        (
            &self.id,
            &self.rationale,
            &self.source,
            self.condition.as_ref(),
        )
    }
    /// Line of the rule's id in its file.
    pub fn line(&self) -> usize {
        self.line
    }
    /// Whether the rule acts on the patient context alone (no finding condition, no evidence
    /// mention).
    pub fn is_patient_only(&self) -> bool {
        self.basis == Basis::Patient
    }

    /// Whether the report-level statuses allow the `all` and `any` conditions, condition by
    /// condition: what [`StatusGate::allows`] computes with masks (the tests compare them).
    #[cfg(test)]
    fn statuses_allow(&self, f: &Findings) -> bool {
        self.all.iter().all(|c| c.status_holds(f))
            && (self.any.is_empty() || self.any.iter().any(|c| c.status_holds(f)))
    }

    /// Whether the finding and text conditions hold; when they do, `evidence` holds the
    /// mentions of the `all` and `any` conditions that hold.
    ///
    /// That one `any` condition holds is settled first; the others are looked at for their
    /// evidence only once every other condition holds (most rules with many `any`
    /// conditions then fail on a text cue).
    fn findings_hold(&self, f: &Findings, hits: &CueHits, evidence: &mut MentionSet) -> bool {
        evidence.clear();
        for c in &self.all {
            if !c.eval(f, hits, evidence) {
                return false;
            }
        }
        if !self.any.is_empty() && !self.any.iter().any(|c| c.holds(f, hits)) {
            return false;
        }
        if self.none.iter().any(|c| c.holds(f, hits)) {
            return false;
        }
        if !self.text_any.is_empty() && !self.text_any.iter().any(|&c| hits.in_report(c)) {
            return false;
        }
        if self.text_none.iter().any(|&c| hits.in_report(c)) {
            return false;
        }
        for c in &self.any {
            // Every condition that holds adds its evidence.
            c.eval(f, hits, evidence);
        }
        true
    }

    /// As [`Rule::findings_hold`], every condition in turn: the tests compare them.
    #[cfg(test)]
    fn findings_hold_plain(&self, f: &Findings, hits: &CueHits, evidence: &mut MentionSet) -> bool {
        evidence.clear();
        for c in &self.all {
            if !c.eval(f, hits, evidence) {
                return false;
            }
        }
        if !self.any.is_empty() {
            let mut any = false;
            for c in &self.any {
                // Every condition that holds adds its evidence.
                any |= c.eval(f, hits, evidence);
            }
            if !any {
                return false;
            }
        }
        if self.none.iter().any(|c| c.holds(f, hits)) {
            return false;
        }
        if !self.text_any.is_empty() && !self.text_any.iter().any(|&c| hits.in_report(c)) {
            return false;
        }
        !self.text_none.iter().any(|&c| hits.in_report(c))
    }

    /// Three-valued truth of the patient conditions: false as soon as a condition settles it,
    /// else unknown with the fields of every condition left unknown, else true. What
    /// [`Rule::patient_truth_plain`] computes with [`Tri::and`] and [`Tri::or`] (the tests
    /// compare them), in plain loops.
    fn patient_truth(&self, p: &PatientContext) -> Tri {
        let mut missing = Fields::default();
        for c in &self.patient {
            match c.eval(p) {
                Tri::True => {}
                Tri::False => return Tri::False,
                Tri::Unknown(f) => missing = missing.union(f),
            }
        }
        if !self.patient_any.is_empty() {
            // When none holds: false when every one is false, else unknown, with what the
            // unknown ones miss.
            let mut any_missing = Fields::default();
            let mut holds = false;
            for c in &self.patient_any {
                match c.eval(p) {
                    Tri::True => {
                        holds = true;
                        break;
                    }
                    Tri::False => {}
                    Tri::Unknown(f) => any_missing = any_missing.union(f),
                }
            }
            if !holds {
                if any_missing.is_empty() {
                    return Tri::False;
                }
                missing = missing.union(any_missing);
            }
        }
        for c in &self.patient_none {
            match c.eval(p) {
                Tri::True => return Tri::False,
                Tri::False => {}
                Tri::Unknown(f) => missing = missing.union(f),
            }
        }
        if missing.is_empty() {
            Tri::True
        } else {
            Tri::Unknown(missing)
        }
    }

    /// Three-valued truth of the patient conditions, as the three-valued connectives give it.
    #[cfg(test)]
    fn patient_truth_plain(&self, p: &PatientContext) -> Tri {
        let all = Tri::and(self.patient.iter().map(|c| c.eval(p)));
        let any = if self.patient_any.is_empty() {
            Tri::True
        } else {
            Tri::or(self.patient_any.iter().map(|c| c.eval(p)))
        };
        let none = if self.patient_none.is_empty() {
            Tri::True
        } else {
            Tri::or(self.patient_none.iter().map(|c| c.eval(p))).not()
        };
        Tri::and([all, any, none])
    }
}

/// A rule that fired on one report.
#[derive(Debug, Clone)]
struct Firing {
    rule: usize,
    strength: Strength,
    /// The patient values the rule needs and the report's patient context lacks (none when
    /// the patient conditions hold).
    missing: Fields,
    evidence: MentionSet,
}

impl Firing {
    /// The condition in words of a conditional firing of `rule` (its own): what to obtain
    /// when values are missing, then the rule's condition. [`Firing::condition_pieces`]
    /// gives the same text in pieces (the tests compare them).
    #[cfg(test)]
    fn condition<'r>(&self, rule: &'r Rule) -> Option<Cow<'r, str>> {
        if self.strength != Strength::Conditional {
            return None;
        }
        if self.missing.is_empty() {
            return rule.condition.as_deref().map(Cow::Borrowed);
        }
        let mut c = self.missing.obtain();
        if let Some(rest) = &rule.condition {
            c.push_str("; ");
            c.push_str(rest);
        }
        Some(Cow::Owned(c))
    }

    /// The condition in words of a conditional firing of `rule` (its own), as the pieces of
    /// text that make it up (some maybe empty), so that it can be compared or written out
    /// without building a string: what to obtain when values are missing, then the rule's
    /// condition. `None` when there is no condition.
    fn condition_pieces<'r>(&self, rule: &'r Rule) -> Option<impl Iterator<Item = &'r str>> {
        if self.strength != Strength::Conditional {
            return None;
        }
        let missing = (!self.missing.is_empty()).then_some(self.missing);
        let rest = rule.condition.as_deref();
        if missing.is_none() && rest.is_none() {
            return None;
        }
        let sep = if missing.is_some() && rest.is_some() {
            "; "
        } else {
            ""
        };
        let obtain = missing
            .into_iter()
            .flat_map(Fields::obtain_pieces)
            .map(|p| -> &'r str { p });
        Some(obtain.chain([sep, rest.unwrap_or("")]))
    }

    /// Whether a conditional firing of `rule` (its own) has a condition: what
    /// [`Firing::condition_pieces`] tells by being `Some`.
    fn has_condition(&self, rule: &Rule) -> bool {
        self.strength == Strength::Conditional
            && (!self.missing.is_empty() || rule.condition.is_some())
    }

    /// Whether this firing of `rule` and firing `other` of `other_rule` have the same
    /// condition text (both conditional, or both without a condition).
    fn same_condition(&self, rule: &Rule, other: &Firing, other_rule: &Rule) -> bool {
        let both_conditional =
            self.strength == Strength::Conditional && other.strength == Strength::Conditional;
        if both_conditional && self.missing.is_empty() && other.missing.is_empty() {
            // The rules' own conditions, as they are.
            return rule.condition == other_rule.condition;
        }
        let (a, b) = match (
            self.condition_pieces(rule),
            other.condition_pieces(other_rule),
        ) {
            (Some(a), Some(b)) => (a, b),
            (a, b) => return a.is_none() && b.is_none(),
        };
        // The lengths first: texts that differ mostly differ in length.
        if a.map(str::len).sum::<usize>() != b.map(str::len).sum::<usize>() {
            return false;
        }
        let a = self.condition_pieces(rule).into_iter().flatten();
        let b = other.condition_pieces(other_rule).into_iter().flatten();
        a.flat_map(str::bytes).eq(b.flat_map(str::bytes))
    }
}

/// One action's row while firings are merged ([`RuleSet::apply_firings`]).
#[derive(Debug, Clone)]
struct Row {
    /// The firing that names the row.
    winner: usize,
    strength: Strength,
    urgency: Urgency,
    evidence: MentionSet,
    /// The firings that emitted the action, bit `k` for firing `k`, when they are all among
    /// the first 64 (`None` past them).
    emitters: Option<u64>,
}

/// The buffers of applying the rules to one report, kept between the reports a thread
/// handles so that they are allocated once ([`RuleSet::apply_with_text`]). Every buffer is
/// emptied before it is used: nothing of one report is seen by the next, but for the
/// conditions [`BuiltConditions`] keeps, whose words depend only on the rules and the values
/// they miss.
#[derive(Debug, Default)]
struct Scratch {
    /// Per concept, for [`Findings::new`].
    setting: Vec<MentionSet>,
    /// The rules whose status gates pass, one bit each ([`GateIndex::allowed`]).
    allowed: Vec<u64>,
    firings: Vec<Firing>,
    /// Per action; only those set in `row_set` are not `None`.
    rows: Vec<Option<Row>>,
    /// The actions with a row, one bit each.
    row_set: Vec<u64>,
    /// Per caution: the first rule that raised it and the merged evidence; only those set in
    /// `caution_set` are not `None`.
    cautions: Vec<Option<(usize, MentionSet)>>,
    /// The cautions raised, one bit each.
    caution_set: Vec<u64>,
    cues: CueBuffers,
    /// For [`RuleSet::row_condition`].
    distinct: Vec<usize>,
    /// For [`RuleSet::row_condition`].
    built: BuiltConditions,
    /// Rows of earlier reports, handed back by [`keep_rows`] (when an [`Analysis`] is
    /// cleared) or left over by [`RuleSet::apply_firings`]: their strings and evidence vectors
    /// are refilled for the next report's rows instead of allocating new ones.
    spare: SpareRows,
}

/// Conditions built from pieces ([`RuleSet::row_condition`]), kept between the reports a
/// thread handles: the same distinct firings (their rules and the values they miss) give the
/// same words, so a condition is built once and then shared by every row that has it.
#[derive(Debug, Default)]
struct BuiltConditions {
    /// Where a condition is written.
    buf: String,
    /// The firings of the condition looked for, one entry each ([`BuiltConditions::entry`]).
    key: Vec<u64>,
    /// The first entry of the key of each condition kept, in `kept` order: looked through
    /// first.
    heads: Vec<u64>,
    /// The conditions kept and their keys.
    kept: Vec<(Box<[u64]>, Text)>,
}

impl BuiltConditions {
    /// The most conditions kept: past it, they are dropped and kept anew.
    const MAX: usize = 128;

    /// The key entry of a firing: its rule and the fields it misses.
    fn entry(f: &Firing) -> u64 {
        (f.rule as u64) << 16 | u64::from(f.missing.bits())
    }

    /// The condition of the firings `distinct` of `firings`: the one kept for the same
    /// firings, else the text `write` writes (into a buffer it is given emptied or not; it
    /// returns whether there is a condition), kept.
    fn get_or_write(
        &mut self,
        firings: &[Firing],
        distinct: &[usize],
        write: impl FnOnce(&mut String) -> bool,
    ) -> Option<Text> {
        self.key.clear();
        (self.key).extend(distinct.iter().map(|&k| Self::entry(&firings[k])));
        let head = self.key.first().copied().unwrap_or(u64::MAX);
        for (i, &h) in self.heads.iter().enumerate() {
            if h == head && *self.kept[i].0 == *self.key {
                return Some(self.kept[i].1.clone());
            }
        }
        if !write(&mut self.buf) {
            return None;
        }
        let text = Text::from(self.buf.as_str());
        if self.kept.len() >= Self::MAX {
            self.kept.clear();
            self.heads.clear();
        }
        self.heads.push(head);
        self.kept.push((self.key.as_slice().into(), text.clone()));
        Some(text)
    }
}

/// Emptied rows kept for reuse ([`Scratch::spare`]): their texts are handles to the rule
/// set's, what is reused is their evidence vectors.
#[derive(Debug, Default)]
struct SpareRows {
    recommendations: Pool<Recommendation>,
    cautions: Pool<Caution>,
}

impl SpareRows {
    /// The most loose rows of each kind kept: more than one report
    /// produces with the shipped rules, few enough that the memory kept stays small.
    const MAX: usize = 64;

    /// Takes the rows of `recs` and `cautions`, leaving both empty with their capacity.
    fn keep(&mut self, recs: &mut Vec<Recommendation>, cautions: &mut Vec<Caution>) {
        self.recommendations.keep(recs);
        self.cautions.keep(cautions);
    }
}

/// Rows of one kind kept for reuse. Moving a row costs a copy of it, so rows move as little
/// as possible: the rows of a cleared analysis stay in their vector ([`Pool::last`]), which
/// goes back whole to the next analysis the rules fill ([`Pool::restore`]); only the rows
/// one report has more or fewer than the one before move to and from [`Pool::loose`].
#[derive(Debug)]
struct Pool<T> {
    /// The rows of the last analysis cleared, in their vector (empty when none).
    last: Vec<T>,
    /// Single rows, at most [`SpareRows::MAX`].
    loose: Vec<T>,
}

impl<T> Default for Pool<T> {
    fn default() -> Pool<T> {
        Pool {
            last: Vec::new(),
            loose: Vec::new(),
        }
    }
}

impl<T> Pool<T> {
    /// Takes the rows of `from`, leaving it empty with capacity (that of [`Pool::last`]'s
    /// vector, when the two trade).
    fn keep(&mut self, from: &mut Vec<T>) {
        if self.last.is_empty() {
            from.truncate(SpareRows::MAX);
            std::mem::swap(&mut self.last, from);
        } else {
            self.keep_tail(from, 0);
        }
    }

    /// Gives `to`, when it is empty, the rows of [`Pool::last`] (trading vectors).
    fn restore(&mut self, to: &mut Vec<T>) {
        if to.is_empty() {
            std::mem::swap(&mut self.last, to);
        }
    }

    /// A loose row.
    fn pop(&mut self) -> Option<T> {
        self.loose.pop()
    }

    /// Moves the rows of `v` from `n` on to [`Pool::loose`] (up to [`SpareRows::MAX`] there;
    /// the rest are dropped): `v` ends up with its first `n`.
    fn keep_tail(&mut self, v: &mut Vec<T>, n: usize) {
        let room = SpareRows::MAX.saturating_sub(self.loose.len());
        v.truncate(n.saturating_add(room));
        if v.len() > n {
            self.loose.extend(v.drain(n..));
        }
    }
}

/// A row to be filled in ([`RuleSet::apply_firings`] sets every field).
pub(crate) fn blank_recommendation() -> Recommendation {
    Recommendation {
        action: Text::default(),
        rule: Text::default(),
        strength: Strength::Recommended,
        condition: None,
        urgency: Urgency::Routine,
        rationale: Text::default(),
        evidence: Vec::new(),
        source: Text::default(),
    }
}

/// A caution to be filled in ([`RuleSet::apply_firings`] sets every field).
fn blank_caution() -> Caution {
    Caution {
        id: Text::default(),
        rule: Text::default(),
        message: Text::default(),
        evidence: Vec::new(),
        source: Text::default(),
    }
}

/// The indices of the bits set in `words` (bit `i % 64` of word `i / 64`), lowest first.
fn set_bits(words: &[u64]) -> SetBits<'_> {
    SetBits {
        word: words.first().copied().unwrap_or(0),
        at: 0,
        words,
    }
}

/// The iterator of [`set_bits`]: one word at a time, its bits cleared as they are given.
struct SetBits<'a> {
    words: &'a [u64],
    /// The index in `words` of `word`.
    at: usize,
    /// What is left of that word.
    word: u64,
}

impl Iterator for SetBits<'_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        while self.word == 0 {
            self.at += 1;
            self.word = *self.words.get(self.at)?;
        }
        let bit = self.word.trailing_zeros() as usize;
        self.word &= self.word - 1;
        Some(64 * self.at + bit)
    }
}

/// Readies `slots` and `bits` for `n` entries, all `None` and no bit set: only the entries
/// whose bits are set (by the report before) are emptied, not every entry.
fn reset_slots<T: Clone>(slots: &mut Vec<Option<T>>, bits: &mut Vec<u64>, n: usize) {
    for i in set_bits(bits) {
        if let Some(slot) = slots.get_mut(i) {
            *slot = None;
        }
    }
    bits.clear();
    bits.resize(n.div_ceil(64), 0);
    if slots.len() != n {
        slots.clear();
        slots.resize(n, None);
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Empties `recs` and `cautions` (keeping their capacity), handing their rows to this thread's
/// pool so that the next [`RuleSet::apply_with_text`] on this thread refills them instead of
/// allocating new strings ([`Analysis::clear`] calls it). Dropping the rows instead is
/// equivalent, only slower.
pub(crate) fn keep_rows(recs: &mut Vec<Recommendation>, cautions: &mut Vec<Caution>) {
    if recs.is_empty() && cautions.is_empty() {
        return;
    }
    // When the pool is in use (not reached: no analysis is cleared while rules are applied) or
    // the thread is ending, the rows are dropped.
    let _ = SCRATCH.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            s.spare.keep(recs, cautions);
        }
    });
    recs.clear();
    cautions.clear();
}

/// A validated set of rules, built once and then only read (`Send + Sync`).
#[derive(Debug, Clone)]
pub struct RuleSet {
    path: String,
    seeds: Vec<SeedDef>,
    actions: Vec<ActionDef>,
    cautions: Vec<CautionDef>,
    cues: Vec<CueDef>,
    /// The cues compiled for reading.
    cue_reader: cue::CueReader,
    /// The rules' status gates, by concept and status.
    gates: GateIndex,
    rules: Vec<Rule>,
}

/// What a pass made elsewhere found in the text ([`RuleSet::apply_with_words`]): its cue words
/// and the offsets of its characters outside ASCII.
type Scanned<'t> = (&'t [(u32, u32)], &'t [u32]);

impl RuleSet {
    /// The shipped rules (`lexicons/rules.toml`, compiled in).
    pub fn builtin() -> RuleSet {
        // The shipped file is checked by the test suite; failing here is a build defect.
        RuleSet::parse(BUILTIN_RULES, "lexicons/rules.toml")
            .unwrap_or_else(|e| panic!("shipped rule file is invalid: {e}"))
    }

    /// Reads and validates a rule file; `path` is used in error messages (`path:line`).
    pub fn parse(text: &str, path: &str) -> Result<RuleSet, LexiconError> {
        schema::parse(text, path)
    }

    /// The file the rules came from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The actions the rules may emit, in output order.
    pub fn actions(&self) -> &[ActionDef] {
        &self.actions
    }

    /// The cautions the rules may raise, in output order.
    pub fn cautions(&self) -> &[CautionDef] {
        &self.cautions
    }

    /// The seed articles.
    pub fn seeds(&self) -> &[SeedDef] {
        &self.seeds
    }

    /// The text cues rules may look for.
    pub fn cues(&self) -> &[CueDef] {
        &self.cues
    }

    /// A rule by id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The action ids a rule emits.
    pub fn actions_of(&self, rule: &Rule) -> Vec<&str> {
        rule.actions
            .iter()
            .map(|&i| self.actions[i].id.as_str())
            .collect()
    }

    /// The caution ids a rule raises.
    pub fn cautions_of(&self, rule: &Rule) -> Vec<&str> {
        rule.cautions
            .iter()
            .map(|&i| self.cautions[i].id.as_str())
            .collect()
    }

    /// The concepts a rule's finding conditions name.
    pub fn concepts_of(&self, rule: &Rule) -> Vec<ConceptId> {
        let mut v: Vec<ConceptId> = rule
            .all
            .iter()
            .chain(&rule.any)
            .chain(&rule.none)
            .map(|c| c.concept)
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The rules that fire on one report, in file order. The cheap tests come first: the
    /// statuses, then the patient context, and only then the mentions and the text cues.
    fn fire(&self, a: &Analysis, p: &PatientContext, hits: &CueHits) -> Vec<Firing> {
        let mut s = Scratch::default();
        self.fire_into(a, p, hits, &mut s);
        s.firings
    }

    /// As [`RuleSet::fire`], into `s.firings` (emptied first).
    fn fire_into(&self, a: &Analysis, p: &PatientContext, hits: &CueHits, s: &mut Scratch) {
        let f = Findings::new(a, std::mem::take(&mut s.setting));
        // The cheap test comes first: most rules fail their status gates, before any mention
        // or text cue is looked at. The rules that pass are found at once, by concept.
        self.gates.allowed(a, &mut s.allowed);
        let out = &mut s.firings;
        out.clear();
        let mut evidence = MentionSet::default();
        for i in set_bits(&s.allowed) {
            let rule = &self.rules[i];
            let (strength, missing) = match rule.patient_truth(p) {
                Tri::False => continue,
                Tri::True => (rule.strength, Fields::default()),
                Tri::Unknown(_) if rule.when_unknown == WhenUnknown::Skip => continue,
                Tri::Unknown(missing) => (Strength::Conditional, missing),
            };
            if !rule.findings_hold(&f, hits, &mut evidence) {
                continue;
            }
            out.push(Firing {
                rule: i,
                strength,
                missing,
                evidence: std::mem::take(&mut evidence),
            });
        }
        s.setting = f.into_buffer();
    }

    /// Fills `analysis.recommendations` and `analysis.cautions` (replacing what was there),
    /// one row per action; see the module docs for how rules that emit the same action merge.
    ///
    /// Without the report text no text cue is seen: rules that need a cue do not fire, and
    /// rules that a cue would block are not blocked. Use [`RuleSet::apply_with_text`] when the
    /// text is at hand.
    pub fn apply(&self, analysis: &mut Analysis, patient: &PatientContext) {
        let mut s = Scratch::default();
        self.fire_into(analysis, patient, &CueHits::none(), &mut s);
        self.apply_firings(analysis, &mut s);
    }

    /// As [`RuleSet::apply`], reading the text cues (`[[cue]]` in the rule file) in `text`, the
    /// report `analysis` was made from.
    pub fn apply_with_text(&self, analysis: &mut Analysis, patient: &PatientContext, text: &str) {
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => self.apply_in(analysis, patient, text, None, &mut s),
            // Not reached (applying rules never applies rules), but fresh buffers are as good.
            Err(_) => self.apply_in(analysis, patient, text, None, &mut Scratch::default()),
        })
    }

    /// The words the text cues are found by, lowercase, each with its number: a pass over the
    /// folded text that reports where they occur as whole tokens lets
    /// [`RuleSet::apply_with_words`] skip a pass of its own.
    pub(crate) fn cue_tag_words(&self) -> impl Iterator<Item = (&str, u32)> {
        self.cue_reader.tag_words()
    }

    /// As [`RuleSet::apply_with_text`], with the cue words of `text` already found: `words`
    /// holds, in text order, the original start and number ([`RuleSet::cue_tag_words`]) of
    /// each whole token of the folded view of `text` that is one of those words, and of any
    /// such words inside a matched phrase; `non_ascii` the offsets of the characters of
    /// `text` outside ASCII, in order ([`crate::text::Folded::non_ascii`]).
    pub(crate) fn apply_with_words(
        &self,
        analysis: &mut Analysis,
        patient: &PatientContext,
        text: &str,
        words: &[(u32, u32)],
        non_ascii: &[u32],
    ) {
        let known = Some((words, non_ascii));
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => self.apply_in(analysis, patient, text, known, &mut s),
            Err(_) => self.apply_in(analysis, patient, text, known, &mut Scratch::default()),
        })
    }

    /// As [`RuleSet::apply_with_text`], in the buffers `s`, with the cue words and the
    /// characters outside ASCII of the text when they are known
    /// ([`RuleSet::apply_with_words`]).
    fn apply_in(
        &self,
        analysis: &mut Analysis,
        patient: &PatientContext,
        text: &str,
        known: Option<Scanned>,
        s: &mut Scratch,
    ) {
        let buffers = std::mem::take(&mut s.cues);
        let mut hits = CueHits::find_with(&self.cue_reader, analysis, text, buffers);
        if let Some((words, non_ascii)) = known {
            hits = hits.with_words(words).with_non_ascii(non_ascii);
        }
        self.fire_into(analysis, patient, &hits, s);
        s.cues = hits.into_buffers();
        self.apply_firings(analysis, s);
    }

    /// Merges `s.firings` into the rows of `analysis`.
    fn apply_firings(&self, analysis: &mut Analysis, s: &mut Scratch) {
        let Scratch {
            firings,
            rows,
            row_set,
            cautions,
            caution_set,
            distinct,
            built,
            spare,
            ..
        } = s;
        let firings = &firings[..];
        // Merge per action.
        reset_slots(rows, row_set, self.actions.len());
        for (k, f) in firings.iter().enumerate() {
            let rule = &self.rules[f.rule];
            for &act in &rule.actions {
                row_set[act / 64] |= 1 << (act % 64);
                let row = rows[act].get_or_insert_with(|| Row {
                    winner: k,
                    strength: f.strength,
                    urgency: rule.urgency,
                    evidence: MentionSet::default(),
                    emitters: Some(0),
                });
                row.emitters = row
                    .emitters
                    .and_then(|e| Some(e | 1u64.checked_shl(k as u32)?));
                if (rank_s(f.strength), rank_u(rule.urgency))
                    > (rank_s(row.strength), rank_u(row.urgency))
                {
                    row.winner = k;
                    row.strength = f.strength;
                    row.urgency = rule.urgency;
                }
                row.evidence.union_with(&f.evidence);
            }
        }

        // Exclusions, decided on the merged set before anything is dropped. The rows are
        // written over those already in `analysis` (of an earlier call), then over spare ones,
        // so that their evidence vectors are reused; their texts are the rule set's handles.
        let emitted = |j: usize| rows[j].as_ref().map(|r| r.strength);
        let recs = &mut analysis.recommendations;
        spare.recommendations.restore(recs);
        let mut n = 0;
        for act in set_bits(row_set) {
            let Some(row) = &rows[act] else { continue };
            let def = &self.actions[act];
            if def
                .yields_to
                .iter()
                .any(|&j| emitted(j) == Some(Strength::Recommended))
                || def.excluded_by.iter().any(|&j| emitted(j).is_some())
            {
                continue;
            }
            let rule = &self.rules[firings[row.winner].rule];
            if n == recs.len() {
                recs.push(
                    spare
                        .recommendations
                        .pop()
                        .unwrap_or_else(blank_recommendation),
                );
            }
            let r = &mut recs[n];
            n += 1;
            r.action = def.id.clone();
            r.rule = rule.id.clone();
            r.strength = row.strength;
            r.condition = match row.strength {
                Strength::Conditional => {
                    self.row_condition(act, firings, row.emitters, rule, distinct, built)
                }
                _ => None,
            };
            r.urgency = row.urgency;
            r.rationale = rule.rationale.clone();
            row.evidence.write_to(&mut r.evidence);
            r.source = rule.source.clone();
        }
        spare.recommendations.keep_tail(recs, n);

        // Cautions: raised by every rule that fired, outright or conditionally.
        reset_slots(cautions, caution_set, self.cautions.len());
        for f in firings {
            for &c in &self.rules[f.rule].cautions {
                caution_set[c / 64] |= 1 << (c % 64);
                let entry = cautions[c].get_or_insert_with(|| (f.rule, MentionSet::default()));
                entry.1.union_with(&f.evidence);
            }
        }
        let out = &mut analysis.cautions;
        spare.cautions.restore(out);
        let mut n = 0;
        for c in set_bits(caution_set) {
            let Some((rule, evidence)) = &cautions[c] else {
                continue;
            };
            let def = &self.cautions[c];
            if n == out.len() {
                out.push(spare.cautions.pop().unwrap_or_else(blank_caution));
            }
            let x = &mut out[n];
            n += 1;
            x.id = def.id.clone();
            x.rule = self.rules[*rule].id.clone();
            x.message = def.message.clone();
            evidence.write_to(&mut x.evidence);
            x.source = def.source.clone();
        }
        spare.cautions.keep_tail(out, n);
    }

    /// The condition of a conditional row for action `act`: the distinct conditions of the
    /// conditional firings that emitted it, in rule order ("either: ...; or: ..." when there
    /// are several), else the condition of `winner`, the rule that names the row; `None` when
    /// there is none. When it is one rule's condition as the rule file words it (the winner's
    /// when no conditional firing emitted the action, or the only distinct one when it asks
    /// for no missing value), that rule's own [`Text`], shared; else the text `built` holds
    /// for the same firings, or a new one. [`RuleSet::merged_condition`] in the tests builds
    /// the same text as strings.
    fn row_condition(
        &self,
        act: usize,
        firings: &[Firing],
        emitters: Option<u64>,
        winner: &Rule,
        distinct: &mut Vec<usize>,
        built: &mut BuiltConditions,
    ) -> Option<Text> {
        self.distinct_conditions(act, firings, emitters, distinct);
        match distinct[..] {
            [] => return winner.condition.clone(),
            // A firing in `distinct` has a condition: with no missing value, its rule's.
            [k] if firings[k].missing.is_empty() => {
                return self.rules[firings[k].rule].condition.clone()
            }
            _ => {}
        }
        let distinct: &[usize] = distinct;
        built.get_or_write(firings, distinct, |buf| {
            self.write_condition(firings, winner, distinct, buf)
        })
    }

    /// Fills `distinct` (emptied first) with the indices in `firings` of the conditional
    /// firings that emitted action `act`, the first of each distinct condition, in rule order.
    /// `emitters`, when known ([`Row::emitters`]), are the firings that emitted it: only those
    /// are looked at, else every firing is asked whether its rule emits `act`.
    fn distinct_conditions(
        &self,
        act: usize,
        firings: &[Firing],
        emitters: Option<u64>,
        distinct: &mut Vec<usize>,
    ) {
        distinct.clear();
        let mut note = |k: usize| {
            let f = &firings[k];
            let rule = &self.rules[f.rule];
            if !f.has_condition(rule) {
                return;
            }
            let seen = distinct.iter().any(|&j| {
                let g = &firings[j];
                f.same_condition(rule, g, &self.rules[g.rule])
            });
            if !seen {
                distinct.push(k);
            }
        };
        match emitters {
            Some(bits) => cond::Bits(bits).for_each(|k| note(k as usize)),
            None => (0..firings.len())
                .filter(|&k| self.rules[firings[k].rule].actions.contains(&act))
                .for_each(note),
        }
    }

    /// Writes into `out` (emptied first) the condition of a row from the firings `distinct`
    /// ([`RuleSet::distinct_conditions`]): "either: ...; or: ..." when there are several, else
    /// the one, else `winner`'s own. Returns whether there is one.
    fn write_condition(
        &self,
        firings: &[Firing],
        winner: &Rule,
        distinct: &[usize],
        out: &mut String,
    ) -> bool {
        out.clear();
        if distinct.is_empty() {
            return match &winner.condition {
                Some(c) => {
                    out.push_str(c);
                    true
                }
                None => false,
            };
        }
        if distinct.len() > 1 {
            out.push_str("either: ");
        }
        for (n, &k) in distinct.iter().enumerate() {
            if n > 0 {
                out.push_str("; or: ");
            }
            let f = &firings[k];
            out.extend(
                f.condition_pieces(&self.rules[f.rule])
                    .into_iter()
                    .flatten(),
            );
        }
        true
    }

    /// The condition of a conditional row for action `act`: the distinct conditions of the
    /// conditional firings that emitted it, in rule order ("either: ...; or: ..." when there
    /// are several), else the condition of `winner`, the rule that names the row.
    #[cfg(test)]
    fn merged_condition(&self, act: usize, firings: &[Firing], winner: &Rule) -> Option<String> {
        let mut conditions: Vec<Cow<str>> = Vec::new();
        for f in firings {
            let rule = &self.rules[f.rule];
            if !rule.actions.contains(&act) {
                continue;
            }
            if let Some(c) = f.condition(rule) {
                if !conditions.contains(&c) {
                    conditions.push(c);
                }
            }
        }
        match conditions.len() {
            0 => winner.condition.as_deref().map(String::from),
            1 => conditions.pop().map(Cow::into_owned),
            _ => Some(format!("either: {}", conditions.join("; or: "))),
        }
    }

    /// Human-readable text for one rule (`spinex rules ID`): its conditions, what it emits,
    /// its rationale and its source. `None` when no rule has that id.
    pub fn describe_rule(&self, id: &str) -> Option<String> {
        let r = self.rule(id)?;
        let mut s = String::new();
        let _ = writeln!(s, "{} — {}", r.id, r.title);
        let _ = writeln!(s, "  defined at {}:{}", self.path, r.line);
        let _ = writeln!(s, "\nWhen");
        if r.basis == Basis::Patient {
            let _ = writeln!(s, "  findings: none (acts on the patient context alone)");
        }
        let name = |c: &FindingCond| BUILTIN_CONCEPTS[c.concept.index()];
        let groups = [("all of", &r.all), ("any of", &r.any), ("none of", &r.none)];
        for (label, conds) in groups {
            if conds.is_empty() {
                continue;
            }
            let _ = writeln!(s, "  findings, {label}:");
            for c in conds.iter() {
                let _ = writeln!(s, "    - {}", c.describe(name(c)));
            }
        }
        let tgroups = [
            ("any of these cues", &r.text_any),
            ("none of these cues", &r.text_none),
        ];
        for (label, cues) in tgroups {
            if cues.is_empty() {
                continue;
            }
            let _ = writeln!(s, "  report text, {label}:");
            for &c in cues.iter() {
                let cue = &self.cues[c];
                let _ = writeln!(s, "    - {} ({})", cue.id, cue.meaning);
            }
        }
        let pgroups = [
            ("all of", &r.patient),
            ("any of", &r.patient_any),
            ("none of", &r.patient_none),
        ];
        for (label, conds) in pgroups {
            if conds.is_empty() {
                continue;
            }
            let _ = writeln!(s, "  patient, {label}:");
            for c in conds.iter() {
                let _ = writeln!(s, "    - {}", c.describe());
            }
        }
        let patient_conds = r.patient.len() + r.patient_any.len() + r.patient_none.len();
        if patient_conds > 0 {
            let _ = writeln!(
                s,
                "  when a patient value is unknown: {}",
                match r.when_unknown {
                    WhenUnknown::Conditional => "emit as conditional, saying what to obtain",
                    WhenUnknown::Skip => "emit nothing",
                }
            );
        }
        let _ = writeln!(s, "\nEmits");
        if !r.actions.is_empty() {
            let _ = writeln!(s, "  actions:   {}", self.actions_of(r).join(", "));
            let _ = writeln!(s, "  strength:  {}", r.strength);
            if let Some(c) = &r.condition {
                wrap_into(&mut s, &format!("condition: {c}"), "  ", 92);
            }
            let _ = writeln!(s, "  urgency:   {}", r.urgency);
        }
        if !r.cautions.is_empty() {
            let _ = writeln!(s, "  cautions:  {}", self.cautions_of(r).join(", "));
        }
        let _ = writeln!(s, "\nRationale");
        wrap_into(&mut s, &r.rationale, "  ", 92);
        let _ = writeln!(s, "\nSource");
        wrap_into(&mut s, &r.source, "  ", 92);
        Some(s)
    }

    /// One line per rule (`spinex rules`): id, strength and urgency, what it emits, title.
    pub fn list_rules(&self) -> String {
        let width = self.rules.iter().map(|r| r.id.len()).max().unwrap_or(0);
        let mut s = String::new();
        for r in &self.rules {
            let mut emits = self.actions_of(r);
            let cautions: Vec<String> = self
                .cautions_of(r)
                .iter()
                .map(|c| format!("caution:{c}"))
                .collect();
            emits.extend(cautions.iter().map(|c| c.as_str()));
            let level = if r.actions.is_empty() {
                "caution".to_string()
            } else {
                format!("{}/{}", r.strength, r.urgency)
            };
            let _ = writeln!(s, "{:width$}  {:<19}  {}", r.id, level, emits.join(", "));
            let _ = writeln!(s, "{:width$}  {}", "", r.title);
        }
        s
    }

    /// Why each action fired on one report: for every recommendation, every rule that emitted
    /// it with its strength, condition and evidence (quoted from `text`), then the cautions.
    /// `analysis` must already hold the recommendations from [`RuleSet::apply`].
    pub fn explain(&self, analysis: &Analysis, patient: &PatientContext, text: &str) -> String {
        let hits = CueHits::find(&self.cue_reader, analysis, text);
        let firings = self.fire(analysis, patient, &hits);
        let quote = |i: u32| -> String {
            match analysis.mentions.get(i as usize) {
                Some(m) => {
                    let concept = BUILTIN_CONCEPTS
                        .get(m.concept.index())
                        .copied()
                        .unwrap_or("user concept");
                    let t = text.get(m.span.start..m.span.end).unwrap_or("");
                    format!("#{i} {concept} {t:?}")
                }
                None => format!("#{i}"),
            }
        };
        let mut s = String::new();
        if analysis.recommendations.is_empty() {
            let _ = writeln!(s, "No action: no rule's conditions hold for this report.");
        }
        for rec in &analysis.recommendations {
            let _ = writeln!(s, "{} — {} ({})", rec.action, rec.strength, rec.urgency);
            if let Some(c) = &rec.condition {
                wrap_into(&mut s, &format!("condition: {c}"), "  ", 92);
            }
            for f in &firings {
                let rule = &self.rules[f.rule];
                if !self.actions_of(rule).contains(&rec.action.as_str()) {
                    continue;
                }
                let mark = if rule.id == rec.rule { "rule" } else { "also" };
                let _ = writeln!(s, "  {mark} {} ({}): {}", rule.id, f.strength, rule.title);
                for e in f.evidence.iter() {
                    let _ = writeln!(s, "      evidence {}", quote(e));
                }
                if rule.basis == Basis::Patient {
                    let _ = writeln!(s, "      evidence: the patient context");
                }
                for &c in &rule.text_any {
                    if hits.in_report(c) {
                        let _ = writeln!(s, "      text cue {} in the report", self.cues[c].id);
                    }
                }
            }
            let _ = writeln!(s, "  why:");
            wrap_into(&mut s, &rec.rationale, "    ", 92);
            let _ = writeln!(s, "  source:");
            wrap_into(&mut s, &rec.source, "    ", 92);
        }
        for c in &analysis.cautions {
            let _ = writeln!(s, "caution {} (rule {})", c.id, c.rule);
            wrap_into(&mut s, &c.message, "    ", 92);
            for &e in &c.evidence {
                let _ = writeln!(s, "      evidence {}", quote(e));
            }
        }
        s
    }
}

fn rank_s(s: Strength) -> u8 {
    match s {
        Strength::Conditional => 0,
        Strength::Recommended => 1,
    }
}

fn rank_u(u: Urgency) -> u8 {
    match u {
        Urgency::Routine => 0,
        Urgency::Soon => 1,
        Urgency::Urgent => 2,
    }
}

/// Appends `text` word-wrapped at `width` columns, each line starting with `indent`.
fn wrap_into(out: &mut String, text: &str, indent: &str, width: usize) {
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        if line.len() > indent.len() && line.len() + 1 + word.len() > width {
            out.push_str(&line);
            out.push('\n');
            line = String::from(indent);
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if line.len() > indent.len() {
        out.push_str(&line);
        out.push('\n');
    }
}

/// An analysis whose concepts have the statuses picked by `kinds` (0 present, 1 uncertain,
/// 2 absent, 3 none), in concept order.
#[cfg(test)]
pub(crate) fn analysis_with_statuses(kinds: &[usize]) -> Analysis {
    Analysis {
        concepts: kinds
            .iter()
            .map(|&k| ConceptResult {
                status: [
                    Some(Status::Present),
                    Some(Status::Uncertain),
                    Some(Status::Absent),
                    None,
                ][k],
                ..ConceptResult::default()
            })
            .collect(),
        ..Analysis::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis(statuses: &[(ConceptId, Status)]) -> Analysis {
        let mut a = Analysis {
            concepts: vec![ConceptResult::default(); BUILTIN_CONCEPTS.len()],
            ..Analysis::default()
        };
        for &(c, s) in statuses {
            a.concepts[c.index()].status = Some(s);
            a.mentions.push(Mention {
                concept: c,
                span: Span::new(0, 0),
                section: SectionKind::Findings,
                sentence: 0,
                term: 0,
                negated: (s == Status::Absent).then(|| Span::new(0, 0)),
                uncertain: (s == Status::Uncertain).then(|| Span::new(0, 0)),
                historical: None,
                hypothetical: None,
                attrs: Attributes::default(),
            });
        }
        a
    }

    fn actions(a: &Analysis) -> Vec<&str> {
        a.recommendations
            .iter()
            .map(|r| r.action.as_str())
            .collect()
    }

    /// Rows and cautions as one string, to compare two runs.
    fn rows(a: &Analysis) -> String {
        format!("{:?}\n{:?}", a.recommendations, a.cautions)
    }

    #[test]
    fn buffers_kept_between_reports_change_nothing() {
        let p = crate::pipeline::Pipeline::builtin();
        let rs = RuleSet::builtin();
        let mut kept = Scratch::default();
        let mut with_rows = 0;
        for report in crate::gen::generate(11, 400) {
            let a = p.analyze(&report);
            let (mut x, mut y) = (a.clone(), a);
            rs.apply_in(&mut x, &report.patient, &report.text, None, &mut kept);
            rs.apply_in(
                &mut y,
                &report.patient,
                &report.text,
                None,
                &mut Scratch::default(),
            );
            assert_eq!(rows(&x), rows(&y), "{}", report.id);
            with_rows += usize::from(!x.recommendations.is_empty());
            // A report without text leaves buffers behind too.
            let (mut x, mut y) = (x.clone(), x);
            rs.apply_in(&mut x, &report.patient, "", None, &mut kept);
            rs.apply(&mut y, &report.patient);
            assert_eq!(rows(&x), rows(&y), "{}", report.id);
        }
        assert!(with_rows > 100, "{with_rows}");
    }

    /// Patient contexts to apply the rules with, besides a report's own: none known (most
    /// rules conditional, their conditions saying what to obtain) and a few values known.
    fn other_patients() -> [PatientContext; 2] {
        [
            PatientContext::default(),
            PatientContext {
                age: Some(71.0),
                t_score: Some(-2.7),
                cancer_history: Some(false),
                ..PatientContext::default()
            },
        ]
    }

    #[test]
    fn rows_written_over_earlier_rows_equal_fresh_rows() {
        let p = crate::pipeline::Pipeline::builtin();
        let rs = RuleSet::builtin();
        // One analysis refilled for every report, as the batch driver does; its rows go to
        // this thread's pool when it is cleared and come back for the next report.
        let mut reused = Analysis::default();
        let (mut more, mut fewer, mut lost_condition) = (0, 0, 0);
        let mut before: Option<Analysis> = None;
        for mut report in crate::gen::generate(5, 250) {
            let own = report.patient.clone();
            for patient in std::iter::once(own).chain(other_patients()) {
                report.patient = patient;
                p.analyze_into(&report, &mut reused);
                // The same rows into new vectors, from new buffers.
                let mut fresh = reused.clone();
                fresh.recommendations = Vec::new();
                fresh.cautions = Vec::new();
                let mut s = Scratch::default();
                rs.apply_in(&mut fresh, &report.patient, &report.text, None, &mut s);
                assert_eq!(rows(&reused), rows(&fresh), "{}", report.id);
                if let Some(b) = &before {
                    let (n, m) = (b.recommendations.len(), reused.recommendations.len());
                    more += usize::from(m > n);
                    fewer += usize::from(m < n);
                    lost_condition += usize::from(
                        b.recommendations
                            .iter()
                            .zip(&reused.recommendations)
                            .any(|(x, y)| x.condition.is_some() && y.condition.is_none()),
                    );
                }
                before = Some(reused.clone());
                reused.recycle(1 << 16);
            }
        }
        assert!(more > 50 && fewer > 50, "{more} {fewer}");
        assert!(lost_condition > 20, "{lost_condition}");
    }

    #[test]
    fn rows_written_into_a_cleared_analysis_on_another_thread_equal_fresh_rows() {
        // Rows handed to one thread's pool are not seen by another: its rows are built anew.
        let p = crate::pipeline::Pipeline::builtin();
        let reports: Vec<_> = crate::gen::generate(6, 40).collect();
        let mut a = Analysis::default();
        for report in &reports {
            p.analyze_into(report, &mut a);
            let want = rows(&p.analyze(report));
            std::thread::scope(|t| {
                t.spawn(|| {
                    a.clear();
                    p.analyze_into(report, &mut a);
                });
            });
            assert_eq!(rows(&a), want, "{}", report.id);
            a.clear();
            assert_eq!(a, Analysis::default());
        }
    }

    #[test]
    fn row_condition_equals_the_built_one() {
        let p = crate::pipeline::Pipeline::builtin();
        let rs = RuleSet::builtin();
        let mut s = Scratch::default();
        s.built.buf = String::from("left over from an earlier row");
        let (mut several, mut shared) = (0, 0);
        for mut report in crate::gen::generate(7, 200) {
            let own = report.patient.clone();
            for patient in std::iter::once(own).chain(other_patients()) {
                report.patient = patient;
                let a = p.analyze(&report);
                let hits = CueHits::find_with(&rs.cue_reader, &a, &report.text, Default::default());
                rs.fire_into(&a, &report.patient, &hits, &mut s);
                let firings = std::mem::take(&mut s.firings);
                for f in &firings {
                    let rule = &rs.rules[f.rule];
                    let pieces = f.condition_pieces(rule).map(|p| p.collect::<String>());
                    assert_eq!(f.has_condition(rule), pieces.is_some());
                    assert_eq!(pieces.as_deref(), f.condition(rule).as_deref());
                }
                for act in 0..rs.actions.len() {
                    for f in firings
                        .iter()
                        .filter(|f| rs.rules[f.rule].actions.contains(&act))
                    {
                        let winner = &rs.rules[f.rule];
                        let want = rs.merged_condition(act, &firings, winner);
                        let got = (rs.row_condition(
                            act,
                            &firings,
                            None,
                            winner,
                            &mut s.distinct,
                            &mut s.built,
                        ))
                        .map(|t| t.to_string());
                        assert_eq!(got, want, "{} {act}", report.id);
                        // Knowing which firings emitted the action changes nothing.
                        let emitters = (firings.iter().enumerate())
                            .filter(|(_, f)| rs.rules[f.rule].actions.contains(&act))
                            .fold(0u64, |m, (k, _)| m | 1 << k);
                        let got = rs.row_condition(
                            act,
                            &firings,
                            Some(emitters),
                            winner,
                            &mut s.distinct,
                            &mut s.built,
                        );
                        assert_eq!(got.as_deref(), want.as_deref(), "{} {act}", report.id);
                        // A rule's own condition is its text, shared.
                        let own = |r: &Rule| {
                            r.condition
                                .as_ref()
                                .is_some_and(|c| got.as_ref().is_some_and(|g| c.is(g)))
                        };
                        shared += usize::from(firings.iter().any(|f| own(&rs.rules[f.rule])));
                        several += usize::from(want.is_some_and(|c| c.starts_with("either: ")));
                    }
                }
                s.firings = firings;
            }
        }
        assert!(several > 0 && shared > 0, "{several} {shared}");
    }

    proptest::proptest! {
        /// The bits found word by word are the bits set.
        #[test]
        fn set_bits_are_the_bits_set(words in proptest::collection::vec(proptest::num::u64::ANY, 0..4), sparse in 0usize..3) {
            // Some words empty, some with one bit.
            let words: Vec<u64> = (words.iter().enumerate())
                .map(|(k, &w)| match (k + sparse) % 3 { 0 => 0, 1 => w & w.wrapping_neg(), _ => w })
                .collect();
            let want: Vec<usize> = (0..64 * words.len()).filter(|&i| words[i / 64] >> (i % 64) & 1 == 1).collect();
            proptest::prop_assert_eq!(set_bits(&words).collect::<Vec<_>>(), want);
        }

        /// The patient conditions' truth in plain loops is the three-valued connectives' truth,
        /// for every rule and any known and unknown values.
        #[test]
        fn patient_truth_agrees_with_the_connectives(
            nums in proptest::collection::vec(proptest::option::of(-4.0f32..90.0), 4),
            bools in proptest::collection::vec(proptest::option::of(proptest::bool::ANY), 5),
            sex in proptest::option::of("[FMX]"),
        ) {
            static RULES: std::sync::OnceLock<RuleSet> = std::sync::OnceLock::new();
            let rs = RULES.get_or_init(RuleSet::builtin);
            let p = PatientContext {
                age: nums[0],
                sex,
                t_score: nums[1],
                frax_major: nums[2],
                frax_hip: nums[3],
                neuro_deficit: bools[0],
                cancer_history: bools[1],
                glucocorticoids: bools[2],
                fragility_fracture_history: bools[3],
                high_energy_trauma: bools[4],
            };
            for r in rs.rules() {
                proptest::prop_assert_eq!(r.patient_truth(&p), r.patient_truth_plain(&p), "{}", r.id());
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn status_gate_agrees_with_the_conditions(
            statuses in proptest::collection::vec(0usize..4, 0..=BUILTIN_CONCEPTS.len()),
        ) {
            // Read once: a case takes a fraction of the time the rule file does.
            static RULES: std::sync::OnceLock<RuleSet> = std::sync::OnceLock::new();
            let rs = RULES.get_or_init(RuleSet::builtin);
            let a = analysis_with_statuses(&statuses);
            let masks = StatusMasks::of(&a);
            let f = Findings::new(&a, Vec::new());
            let mut allowed = Vec::new();
            rs.gates.allowed(&a, &mut allowed);
            for (i, r) in rs.rules().iter().enumerate() {
                proptest::prop_assert_eq!(r.gate.allows(&masks), r.statuses_allow(&f), "{}", r.id);
                proptest::prop_assert_eq!(allowed[i / 64] >> (i % 64) & 1 == 1, r.gate.allows(&masks), "{}", r.id);
            }
        }
    }

    #[test]
    fn status_gate_of_conditions_on_one_concept() {
        let cond = |names: &[&str]| {
            let mut statuses = cond::StatusSet::default();
            for n in names {
                assert!(statuses.insert_name(n));
            }
            FindingCond {
                concept: ConceptId::VERTEBRAL_FRACTURE,
                statuses,
                acuity: None,
                severity: None,
                direction: None,
                numeric: Vec::new(),
                min_levels: None,
                cue: None,
                not_cue: None,
            }
        };
        let masks = |s: Option<Status>| {
            let mut a = analysis(&[]);
            a.concepts[ConceptId::VERTEBRAL_FRACTURE.index()].status = s;
            StatusMasks::of(&a)
        };
        let (present, uncertain) = (masks(Some(Status::Present)), masks(Some(Status::Uncertain)));
        // Two `all` conditions on one concept: only the statuses both allow.
        let g = StatusGate::new(&[cond(&["present", "uncertain"]), cond(&["present"])], &[]);
        assert!(g.allows(&present) && !g.allows(&uncertain));
        let g = StatusGate::new(&[cond(&["absent"]), cond(&["present"])], &[]);
        assert!(!g.allows(&present) && !g.allows(&masks(Some(Status::Absent))));
        // Two `any` conditions: either.
        let g = StatusGate::new(&[], &[cond(&["blank"]), cond(&["uncertain"])]);
        assert!(g.allows(&uncertain) && g.allows(&masks(None)) && !g.allows(&present));
        assert!(StatusGate::new(&[], &[]).allows(&present));
    }

    #[test]
    fn findings_hold_agrees_with_every_condition_in_turn() {
        let p = crate::pipeline::Pipeline::builtin();
        let rs = RuleSet::builtin();
        let (mut held, mut conditions) = (0, 0);
        for report in crate::gen::generate(13, 600) {
            let a = p.analyze(&report);
            let hits = CueHits::find(&rs.cue_reader, &a, &report.text);
            let f = Findings::new(&a, Vec::new());
            for r in rs.rules() {
                for c in r.all.iter().chain(&r.any).chain(&r.none) {
                    assert_eq!(c.holds(&f, &hits), c.holds_plain(&f, &hits), "{}", r.id);
                    conditions += usize::from(c.holds_plain(&f, &hits));
                }
                let (mut fast, mut plain) = (MentionSet::default(), MentionSet::default());
                let holds = r.findings_hold(&f, &hits, &mut fast);
                assert_eq!(
                    holds,
                    r.findings_hold_plain(&f, &hits, &mut plain),
                    "{} {}",
                    report.id,
                    r.id
                );
                if holds {
                    assert_eq!(fast, plain, "{} {}", report.id, r.id);
                    held += 1;
                }
            }
        }
        assert!(held > 500, "{held}");
        assert!(conditions > 500, "{conditions}");
    }

    #[test]
    fn builtin_parses() {
        let rs = RuleSet::builtin();
        assert!(rs.rules().len() > 20);
        for id in CONTRACT_ACTIONS {
            assert!(rs.actions().iter().any(|a| a.id == id), "{id} not defined");
        }
    }

    #[test]
    fn unknown_key_and_values_name_the_line() {
        let base = "[[seed]]\nid = \"000\"\nfile = \"x\"\ntitle = \"t\"\n\
                    [[action]]\nid = \"dxa\"\nmeaning = \"m\"\n";
        let rule = |body: &str| {
            format!(
                "{base}[[rule]]\nid = \"r.one\"\ntitle = \"t\"\n{body}\nrationale = \"r\"\nseeds = [\"000\"]\n"
            )
        };
        let ok = rule("all = [{ concept = \"demineralization\" }]\nactions = [\"dxa\"]\nstrength = \"recommended\"\nurgency = \"routine\"");
        RuleSet::parse(&ok, "r.toml").unwrap();

        let e = RuleSet::parse(&rule("colour = 1\nall = [{ concept = \"demineralization\" }]\nactions = [\"dxa\"]\nstrength = \"recommended\"\nurgency = \"routine\""), "r.toml").unwrap_err();
        assert_eq!(e.line, 11, "{e}");
        assert!(
            e.message.contains("colour") && e.message.contains("rationale"),
            "{e}"
        );

        let e = RuleSet::parse(&rule("all = [{ concept = \"demineralization\" }]\nactions = [\"mri\"]\nstrength = \"recommended\"\nurgency = \"routine\""), "r.toml").unwrap_err();
        assert_eq!((e.path.as_str(), e.line), ("r.toml", 12), "{e}");
        assert!(
            e.message.contains("unknown action \"mri\"") && e.message.contains("dxa"),
            "{e}"
        );

        let e = RuleSet::parse(&rule("all = [{ concept = \"osteopenia\" }]\nactions = [\"dxa\"]\nstrength = \"recommended\"\nurgency = \"routine\""), "r.toml").unwrap_err();
        assert_eq!(e.line, 11);
        assert!(e.message.contains("vertebral_fracture"), "{e}");

        let e = RuleSet::parse(&rule("all = [{ concept = \"demineralization\", status = \"maybe\" }]\nactions = [\"dxa\"]\nstrength = \"recommended\"\nurgency = \"routine\""), "r.toml").unwrap_err();
        assert!(
            e.message.contains("present, uncertain, absent, blank"),
            "{e}"
        );

        let e = RuleSet::parse(&rule("all = [{ concept = \"demineralization\" }]\nactions = [\"dxa\"]\nstrength = \"strong\"\nurgency = \"routine\""), "r.toml").unwrap_err();
        assert_eq!(e.line, 13);
        assert!(e.message.contains("recommended, conditional"), "{e}");

        let e = RuleSet::parse(&rule("all = [{ concept = \"demineralization\" }]\npatient = { t_score = \"<= -2.5\" }\nactions = [\"dxa\"]\nstrength = \"recommended\"\nurgency = \"routine\""), "r.toml").unwrap_err();
        assert!(e.message.contains("missing `condition`"), "{e}");

        let e = RuleSet::parse(&rule("all = [{ concept = \"demineralization\" }]\npatient = { bmi = 30 }\nactions = [\"dxa\"]\nstrength = \"recommended\"\nurgency = \"routine\""), "r.toml").unwrap_err();
        assert_eq!(e.line, 12);
        assert!(
            e.message.contains("bmi") && e.message.contains("t_score"),
            "{e}"
        );

        let e = RuleSet::parse(&rule("all = [{ concept = \"demineralization\", status = \"absent\" }]\nactions = [\"dxa\"]\nstrength = \"recommended\"\nurgency = \"routine\""), "r.toml").unwrap_err();
        assert!(e.message.contains("at least one"), "{e}");

        let e = RuleSet::parse(&rule("all = [{ concept = \"vertebral_fracture\", acuity = \"old\" }]\nactions = [\"dxa\"]\nstrength = \"recommended\"\nurgency = \"routine\""), "r.toml").unwrap_err();
        assert!(
            e.message
                .contains("acute, subacute, chronic, indeterminate, unknown"),
            "{e}"
        );

        let e = RuleSet::parse("[[rule]\n", "bad.toml").unwrap_err();
        assert_eq!((e.path.as_str(), e.line), ("bad.toml", 1));
    }

    #[test]
    fn unknown_patient_value_makes_the_action_conditional_and_says_what_to_obtain() {
        let rs = RuleSet::builtin();
        let mut a = analysis(&[(ConceptId::DEMINERALIZATION, Status::Present)]);
        rs.apply(&mut a, &PatientContext::default());
        let r = a
            .recommendations
            .iter()
            .find(|r| r.action == "pharmacologic_osteoporosis_treatment")
            .expect("treatment row");
        assert_eq!(r.strength, Strength::Conditional);
        let c = r.condition.as_deref().unwrap();
        assert!(c.contains("obtain a DXA T-score"), "{c}");
        assert!(c.contains("-2.5"), "{c}");

        let p = PatientContext {
            t_score: Some(-2.7),
            ..PatientContext::default()
        };
        rs.apply(&mut a, &p);
        let r = a
            .recommendations
            .iter()
            .find(|r| r.action == "pharmacologic_osteoporosis_treatment")
            .unwrap();
        assert_eq!(
            (r.strength, r.condition.as_deref()),
            (Strength::Recommended, None)
        );
        assert!(!actions(&a).contains(&"dxa"), "T-score known: no new DXA");
    }

    #[test]
    fn one_row_per_action_with_the_strongest_strength_and_merged_evidence() {
        let rs = RuleSet::builtin();
        let mut a = analysis(&[
            (ConceptId::VERTEBRAL_FRACTURE, Status::Present),
            (ConceptId::DEMINERALIZATION, Status::Present),
        ]);
        rs.apply(&mut a, &PatientContext::default());
        let mut seen = std::collections::HashSet::new();
        for r in &a.recommendations {
            assert!(seen.insert(r.action.clone()), "duplicate {}", r.action);
        }
        // calcium_vitamin_d: recommended for the demineralization, conditional for the fracture
        // (mechanism unknown); the row is recommended and carries both mentions.
        let c = a
            .recommendations
            .iter()
            .find(|r| r.action == "calcium_vitamin_d")
            .unwrap();
        assert_eq!(c.strength, Strength::Recommended);
        assert_eq!(c.rule, "bone.low_density_basics");
        assert_eq!(c.evidence, vec![0, 1]);
        // Both pharmacologic rules are conditional: both conditions are kept.
        let p = a
            .recommendations
            .iter()
            .find(|r| r.action == "pharmacologic_osteoporosis_treatment")
            .unwrap();
        let cond = p.condition.as_deref().unwrap();
        assert!(
            cond.starts_with("either:") && cond.contains("mechanism of injury"),
            "{cond}"
        );
    }

    #[test]
    fn exclusions_drop_avoid_imaging_beside_mri() {
        let rs = RuleSet::builtin();
        let mut a = analysis(&[(ConceptId::DEGENERATIVE_CHANGES, Status::Present)]);
        let p = PatientContext {
            neuro_deficit: Some(false),
            cancer_history: Some(false),
            ..PatientContext::default()
        };
        rs.apply(&mut a, &p);
        assert!(actions(&a).contains(&"avoid_routine_imaging"));
        let p = PatientContext {
            neuro_deficit: Some(true),
            ..p
        };
        rs.apply(&mut a, &p);
        assert!(!actions(&a).contains(&"avoid_routine_imaging"));
        let mri = a
            .recommendations
            .iter()
            .find(|r| r.action == "mri_without_contrast")
            .unwrap();
        assert_eq!(mri.urgency, Urgency::Urgent);
    }

    #[test]
    fn describe_and_list() {
        let rs = RuleSet::builtin();
        let d = rs.describe_rule("bone.treatment_by_risk").unwrap();
        for part in [
            "t_score <= -2.5",
            "frax_major >= 20",
            "pharmacologic_osteoporosis_treatment",
            "Rationale",
            "seed 001",
        ] {
            assert!(d.contains(part), "missing {part:?} in\n{d}");
        }
        assert!(rs.describe_rule("no.such_rule").is_none());
        let l = rs.list_rules();
        for r in rs.rules() {
            assert!(l.contains(r.id()));
        }
    }

    #[test]
    fn wrap_keeps_every_word() {
        let mut s = String::new();
        wrap_into(&mut s, "one two three four five six", "  ", 12);
        assert!(s.lines().all(|l| l.len() <= 12 || !l.trim().contains(' ')));
        assert_eq!(s.split_whitespace().count(), 6);
    }
}
