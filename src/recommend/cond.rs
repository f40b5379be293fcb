//! Conditions of a rule: over report-level findings (status and the attributes of the mentions
//! that set it) and over patient context (three-valued: a missing value is unknown, not false).

use super::cue::CueHits;
use crate::model::*;
use std::fmt;

/// A numeric comparison such as `<= -2.5`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cmp {
    pub op: Op,
    pub value: f32,
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Cmp {
    /// Parses `<= -2.5`, `>= 20`, `< 3`, `> -2.5`, `== 1` or a bare number (equality).
    pub fn parse(s: &str) -> Option<Cmp> {
        let s = s.trim();
        let (op, rest) = if let Some(r) = s.strip_prefix("<=") {
            (Op::Le, r)
        } else if let Some(r) = s.strip_prefix(">=") {
            (Op::Ge, r)
        } else if let Some(r) = s.strip_prefix("==") {
            (Op::Eq, r)
        } else if let Some(r) = s.strip_prefix('<') {
            (Op::Lt, r)
        } else if let Some(r) = s.strip_prefix('>') {
            (Op::Gt, r)
        } else {
            (Op::Eq, s)
        };
        let value: f32 = rest.trim().parse().ok()?;
        value.is_finite().then_some(Cmp { op, value })
    }

    /// Whether `x` satisfies the comparison.
    pub fn test(self, x: f32) -> bool {
        match self.op {
            Op::Lt => x < self.value,
            Op::Le => x <= self.value,
            Op::Eq => x == self.value,
            Op::Ge => x >= self.value,
            Op::Gt => x > self.value,
        }
    }
}

impl fmt::Display for Cmp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">",
        };
        write!(f, "{op} {}", self.value)
    }
}

/// A set of report-level statuses, blank (not mentioned) included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct StatusSet(u8);

impl StatusSet {
    pub const NAMES: [&'static str; 4] = ["present", "uncertain", "absent", "blank"];

    fn bit(status: Option<Status>) -> u8 {
        match status {
            Some(Status::Present) => 1,
            Some(Status::Uncertain) => 2,
            Some(Status::Absent) => 4,
            None => 8,
        }
    }
    /// Adds a status by name; false when the name is not one of [`StatusSet::NAMES`].
    pub fn insert_name(&mut self, name: &str) -> bool {
        match Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
        {
            Some(i) => {
                self.0 |= 1 << i;
                true
            }
            None => false,
        }
    }
    pub fn contains(self, status: Option<Status>) -> bool {
        self.0 & Self::bit(status) != 0
    }
    /// Whether the set holds only present and/or uncertain.
    pub fn only_findings(self) -> bool {
        self.0 != 0 && self.0 & !3 == 0
    }
    fn names(self) -> Vec<&'static str> {
        (0..4)
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| Self::NAMES[i])
            .collect()
    }
}

/// The report-level statuses of the builtin concepts (the only ones rules name), as one bit per
/// concept for each status, in [`StatusSet::NAMES`] order; a concept the analysis has no
/// result for is blank. Rules are sorted by [`GateIndex`]; the tests compare it with the gates
/// tested one by one on these masks.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct StatusMasks([u64; 4]);

// One bit per builtin concept.
const _: () = assert!(BUILTIN_CONCEPTS.len() <= 64);

#[cfg(test)]
impl StatusMasks {
    pub fn of(a: &Analysis) -> StatusMasks {
        let mut m = StatusMasks::default();
        for i in 0..BUILTIN_CONCEPTS.len() {
            let status = a.concepts.get(i).and_then(|r| r.status);
            m.0[StatusSet::bit(status).trailing_zeros() as usize] |= 1 << i;
        }
        m
    }
}

/// What the `all` and `any` conditions of a rule ask of the report-level statuses alone, as
/// masks over concepts by status: the cheap first test of every rule on every report, which
/// most rules fail ([`GateIndex`] holds the gates of a rule set by concept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct StatusGate {
    /// The concepts of the `all` conditions.
    all: u64,
    /// Per status: the concepts of the `all` conditions that allow it (a concept with
    /// several conditions allows only the statuses they all allow).
    all_by: [u64; 4],
    /// Per status: the concepts of the `any` conditions that allow it (all zero when there
    /// are no `any` conditions).
    any_by: [u64; 4],
    has_any: bool,
}

impl StatusGate {
    pub fn new(all: &[FindingCond], any: &[FindingCond]) -> StatusGate {
        let mut g = StatusGate {
            has_any: !any.is_empty(),
            ..StatusGate::default()
        };
        let mut allowed = [StatusSet(0b1111); BUILTIN_CONCEPTS.len()];
        for c in all {
            g.all |= 1 << c.concept.index();
            allowed[c.concept.index()].0 &= c.statuses.0;
        }
        for (i, set) in allowed.iter().enumerate() {
            if g.all & 1 << i != 0 {
                for s in 0..4 {
                    if set.0 & 1 << s != 0 {
                        g.all_by[s] |= 1 << i;
                    }
                }
            }
        }
        for c in any {
            for s in 0..4 {
                if c.statuses.0 & 1 << s != 0 {
                    g.any_by[s] |= 1 << c.concept.index();
                }
            }
        }
        g
    }

    /// Whether the statuses allow every `all` condition and at least one `any` condition
    /// (when there are any): what [`GateIndex::allowed`] computes for every rule at once.
    #[cfg(test)]
    pub fn allows(&self, m: &StatusMasks) -> bool {
        let held = |by: &[u64; 4]| (0..4).fold(0, |h, s| h | by[s] & m.0[s]);
        held(&self.all_by) == self.all && (!self.has_any || held(&self.any_by) != 0)
    }
}

/// The status gates of every rule of a set, by concept and status, so that the rules whose
/// gates a report's statuses pass ([`StatusGate::allows`]) are found with a few mask
/// operations per concept instead of a test per rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GateIndex {
    /// Words of rule bits per entry (rule `r` is bit `r % 64` of word `r / 64`).
    words: usize,
    /// Per concept and status (entry `4 * concept + status`, [`StatusSet::NAMES`] order):
    /// the rules whose `all` conditions allow that status of that concept (every rule with no
    /// `all` condition on it).
    all_ok: Vec<u64>,
    /// Per concept and status: the rules with an `any` condition on that concept that allows
    /// that status.
    any_ok: Vec<u64>,
    /// The rules without `any` conditions.
    no_any: Vec<u64>,
}

impl GateIndex {
    pub fn new<'g>(gates: impl ExactSizeIterator<Item = &'g StatusGate>) -> GateIndex {
        let words = gates.len().div_ceil(64);
        let entries = 4 * BUILTIN_CONCEPTS.len() * words;
        let mut x = GateIndex {
            words,
            all_ok: vec![0; entries],
            any_ok: vec![0; entries],
            no_any: vec![0; words],
        };
        for (r, g) in gates.enumerate() {
            let (w, bit) = (r / 64, 1u64 << (r % 64));
            for c in 0..BUILTIN_CONCEPTS.len() {
                for s in 0..4 {
                    let at = (4 * c + s) * words + w;
                    if g.all & 1 << c == 0 || g.all_by[s] & 1 << c != 0 {
                        x.all_ok[at] |= bit;
                    }
                    if g.any_by[s] & 1 << c != 0 {
                        x.any_ok[at] |= bit;
                    }
                }
            }
            if !g.has_any {
                x.no_any[w] |= bit;
            }
        }
        x
    }

    /// Writes into `out` (one bit per rule, as in [`GateIndex`]) the rules whose status
    /// gates the statuses of `a` pass.
    pub fn allowed(&self, a: &Analysis, out: &mut Vec<u64>) {
        let words = self.words;
        out.clear();
        if words == 1 {
            // Up to 64 rules (the shipped set): the two words are kept in registers.
            out.push(self.allowed_one(a));
            return;
        }
        out.resize(2 * words, 0);
        let (all, any) = out.split_at_mut(words);
        all.fill(u64::MAX);
        for c in 0..BUILTIN_CONCEPTS.len() {
            let status = a.concepts.get(c).and_then(|r| r.status);
            let s = StatusSet::bit(status).trailing_zeros() as usize;
            let at = (4 * c + s) * words;
            for w in 0..words {
                all[w] &= self.all_ok[at + w];
                any[w] |= self.any_ok[at + w];
            }
        }
        for w in 0..words {
            all[w] &= self.no_any[w] | any[w];
        }
        out.truncate(words);
    }

    /// [`GateIndex::allowed`] of a set of at most 64 rules (one word), as one word.
    fn allowed_one(&self, a: &Analysis) -> u64 {
        let n = 4 * BUILTIN_CONCEPTS.len();
        let (all_ok, any_ok) = (&self.all_ok[..n], &self.any_ok[..n]);
        let (mut all, mut any) = (u64::MAX, 0);
        for c in 0..BUILTIN_CONCEPTS.len() {
            let status = a.concepts.get(c).and_then(|r| r.status);
            let at = 4 * c + (StatusSet::bit(status).trailing_zeros() as usize & 3);
            all &= all_ok[at];
            any |= any_ok[at];
        }
        all & (self.no_any[0] | any)
    }
}

/// A numeric mention attribute a condition may compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumAttr {
    GenantGrade,
    HeightLossPct,
    MeyerdingGrade,
    SlipMm,
    CobbDegrees,
}

impl NumAttr {
    pub const ALL: [(NumAttr, &'static str); 5] = [
        (NumAttr::GenantGrade, "genant_grade"),
        (NumAttr::HeightLossPct, "height_loss_pct"),
        (NumAttr::MeyerdingGrade, "meyerding_grade"),
        (NumAttr::SlipMm, "slip_mm"),
        (NumAttr::CobbDegrees, "cobb_degrees"),
    ];
    fn name(self) -> &'static str {
        NumAttr::ALL
            .iter()
            .find(|(a, _)| *a == self)
            .map(|(_, n)| *n)
            .unwrap_or("")
    }
    fn get(self, a: &Attributes) -> Option<f32> {
        match self {
            NumAttr::GenantGrade => a.genant_grade.map(f32::from),
            NumAttr::HeightLossPct => a.height_loss_pct,
            NumAttr::MeyerdingGrade => a.meyerding_grade.map(f32::from),
            NumAttr::SlipMm => a.slip_mm,
            NumAttr::CobbDegrees => a.cobb_degrees,
        }
    }
}

/// A condition on one concept of the report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FindingCond {
    pub concept: ConceptId,
    pub statuses: StatusSet,
    /// Allowed acuities; `None` in the list stands for "not stated".
    pub acuity: Option<Vec<Option<Acuity>>>,
    /// Allowed severities; `None` in the list stands for "not stated".
    pub severity: Option<Vec<Option<Severity>>>,
    pub direction: Option<Vec<Direction>>,
    pub numeric: Vec<(NumAttr, Cmp)>,
    pub min_levels: Option<u32>,
    /// A text cue (index, id) that must occur in the mention's sentence.
    pub cue: Option<(usize, String)>,
    /// A text cue (index, id) that must not occur in the mention's sentence.
    pub not_cue: Option<(usize, String)>,
}

impl FindingCond {
    /// Whether any attribute filter is set (filters look at mentions).
    pub fn has_filters(&self) -> bool {
        self.acuity.is_some()
            || self.severity.is_some()
            || self.direction.is_some()
            || !self.numeric.is_empty()
            || self.cue.is_some()
            || self.not_cue.is_some()
    }

    /// Whether the report-level status of the concept is one the condition allows (a
    /// necessary condition; rules test it for all their conditions at once with a
    /// [`StatusGate`]).
    #[cfg(test)]
    pub fn status_holds(&self, f: &Findings) -> bool {
        self.statuses.contains(f.result(self.concept).status)
    }

    /// Whether the condition holds; when it does, the indices of the mentions that set the
    /// status and pass the attribute filters are added to `evidence`.
    ///
    /// A mention with no acuity (or severity) of its own takes the report-level value of its
    /// concept, so that a later mention of the same finding ("T12 compression deformity" in
    /// the impression after "old T12 compression deformity" in the findings) is read alike.
    /// Cue filters look at the mention's sentence in `hits`.
    pub fn eval(&self, f: &Findings, hits: &CueHits, evidence: &mut MentionSet) -> bool {
        let result = f.result(self.concept);
        if !self.statuses.contains(result.status) {
            return false;
        }
        let setting = f.setting(self.concept);
        let levels_of = |set: &MentionSet, from: Levels| {
            set.iter()
                .fold(from, |l, i| l.union(f.a.mentions[i as usize].attrs.levels))
        };
        if !self.has_filters() {
            if let Some(n) = self.min_levels {
                if levels_of(setting, result.levels).count() < n {
                    return false;
                }
            }
            evidence.union_with(setting);
            return true;
        }
        let mut passing = MentionSet::default();
        for i in setting.iter() {
            if self.passes(&f.a.mentions[i as usize].attrs, &result) && self.passes_cues(i, hits) {
                passing.insert(i);
            }
        }
        if passing.is_empty() {
            return false;
        }
        if let Some(n) = self.min_levels {
            if levels_of(&passing, Levels::EMPTY).count() < n {
                return false;
            }
        }
        evidence.union_with(&passing);
        true
    }

    /// Whether the condition holds, its evidence left aside: what [`FindingCond::eval`]
    /// returns, without gathering the evidence when no level count needs it (the first
    /// mention that passes the filters settles it).
    pub fn holds(&self, f: &Findings, hits: &CueHits) -> bool {
        if self.min_levels.is_some() {
            return self.eval(f, hits, &mut MentionSet::default());
        }
        let result = f.result(self.concept);
        if !self.statuses.contains(result.status) {
            return false;
        }
        if !self.has_filters() {
            return true;
        }
        f.setting(self.concept).iter().any(|i| {
            self.passes(&f.a.mentions[i as usize].attrs, &result) && self.passes_cues(i, hits)
        })
    }

    /// [`FindingCond::holds`] as [`FindingCond::eval`] tells it: the tests compare them.
    #[cfg(test)]
    pub fn holds_plain(&self, f: &Findings, hits: &CueHits) -> bool {
        self.eval(f, hits, &mut MentionSet::default())
    }

    fn passes_cues(&self, mention: u32, hits: &CueHits) -> bool {
        if let Some((c, _)) = &self.cue {
            if !hits.in_mention(mention, *c) {
                return false;
            }
        }
        if let Some((c, _)) = &self.not_cue {
            if hits.in_mention(mention, *c) {
                return false;
            }
        }
        true
    }

    fn passes(&self, attrs: &Attributes, result: &ConceptResult) -> bool {
        if let Some(allowed) = &self.acuity {
            if !allowed.contains(&attrs.acuity.or(result.acuity)) {
                return false;
            }
        }
        if let Some(allowed) = &self.severity {
            if !allowed.contains(&attrs.severity.or(result.severity)) {
                return false;
            }
        }
        if let Some(allowed) = &self.direction {
            match attrs.direction {
                Some(d) if allowed.contains(&d) => {}
                _ => return false,
            }
        }
        self.numeric
            .iter()
            .all(|(attr, cmp)| attr.get(attrs).is_some_and(|x| cmp.test(x)))
    }

    /// Describes the condition in words, for `spinex rules ID`.
    pub fn describe(&self, concept_name: &str) -> String {
        let names = self.statuses.names();
        let mut s = format!("{concept_name} is {}", join_or(&names));
        let mut parts = Vec::new();
        if let Some(v) = &self.acuity {
            let names: Vec<&str> = v
                .iter()
                .map(|a| a.map(|a| a.as_str()).unwrap_or("not stated"))
                .collect();
            parts.push(format!("acuity {}", join_or(&names)));
        }
        if let Some(v) = &self.severity {
            let names: Vec<&str> = v
                .iter()
                .map(|a| a.map(|a| a.as_str()).unwrap_or("not stated"))
                .collect();
            parts.push(format!("severity {}", join_or(&names)));
        }
        if let Some(v) = &self.direction {
            let names: Vec<&str> = v.iter().map(|d| d.as_str()).collect();
            parts.push(format!("direction {}", join_or(&names)));
        }
        for (attr, cmp) in &self.numeric {
            parts.push(format!("{} {cmp}", attr.name()));
        }
        if let Some(n) = self.min_levels {
            parts.push(format!("at least {n} levels"));
        }
        if let Some((_, id)) = &self.cue {
            parts.push(format!("its sentence holding the cue {id}"));
        }
        if let Some((_, id)) = &self.not_cue {
            parts.push(format!("its sentence not holding the cue {id}"));
        }
        if !parts.is_empty() {
            s.push_str(", with ");
            s.push_str(&parts.join(", "));
        }
        s
    }
}

/// A set of mention indices: one bit per mention, the first 64 held inline (no allocation for
/// most reports), the rest in a vector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MentionSet {
    low: u64,
    high: Vec<u64>,
}

impl MentionSet {
    #[inline]
    pub fn insert(&mut self, i: u32) {
        match (i as usize).checked_sub(64) {
            None => self.low |= 1 << i,
            Some(j) => self.insert_high(j),
        }
    }

    /// Inserts mention `64 + j`.
    #[cold]
    fn insert_high(&mut self, j: usize) {
        if self.high.len() <= j / 64 {
            self.high.resize(j / 64 + 1, 0);
        }
        self.high[j / 64] |= 1 << (j % 64);
    }

    pub fn union_with(&mut self, other: &MentionSet) {
        self.low |= other.low;
        if self.high.len() < other.high.len() {
            self.high.resize(other.high.len(), 0);
        }
        for (a, b) in self.high.iter_mut().zip(&other.high) {
            *a |= b;
        }
    }

    pub fn clear(&mut self) {
        self.low = 0;
        self.high.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.low == 0 && self.high.iter().all(|&w| w == 0)
    }

    /// The indices, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::once(self.low)
            .chain(self.high.iter().copied())
            .enumerate()
            .flat_map(|(k, w)| Bits(w).map(move |bit| (64 * k) as u32 + bit))
    }

    /// The indices, in a new vector ([`MentionSet::write_to`]).
    #[cfg(test)]
    pub fn to_vec(&self) -> Vec<u32> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }

    /// Writes the indices, in increasing order (as [`MentionSet::iter`] gives them; the tests
    /// compare them), into `v` (emptied first), reusing its memory. Most sets hold only the
    /// first 64 mentions: those are read from one word. The indices are pushed as they come,
    /// without counting them first: a set holds a few, and `v` (a row's evidence, reused from
    /// report to report) nearly always has the room.
    pub fn write_to(&self, v: &mut Vec<u32>) {
        v.clear();
        push_bits(v, self.low, 0);
        for (k, &w) in self.high.iter().enumerate() {
            push_bits(v, w, 64 * (k as u32 + 1));
        }
    }
}

/// Appends `from` plus the index of each set bit of `w`, lowest first.
fn push_bits(v: &mut Vec<u32>, mut w: u64, from: u32) {
    while w != 0 {
        v.push(from + w.trailing_zeros());
        w &= w - 1;
    }
}

/// The set bits of a word, lowest first.
pub(crate) struct Bits(pub u64);

impl Iterator for Bits {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        (self.0 != 0).then(|| {
            let bit = self.0.trailing_zeros();
            self.0 &= self.0 - 1;
            bit
        })
    }
}

/// What finding conditions read in one report, worked out once: per concept, the mentions
/// that set its report-level status (affirmed mentions for `present`, hedged ones for
/// `uncertain`, denied ones for `absent`; negated, hypothetical and historical mentions never
/// set `present` or `uncertain`).
pub(crate) struct Findings<'a> {
    pub a: &'a Analysis,
    /// Per concept index.
    setting: Vec<MentionSet>,
}

impl<'a> Findings<'a> {
    /// The findings of `a`, keeping the per-concept sets in `setting` (emptied first: a
    /// buffer from [`Findings::into_buffer`], so that a thread allocates them once).
    pub fn new(a: &'a Analysis, mut setting: Vec<MentionSet>) -> Findings<'a> {
        // Emptied in place: their vectors are kept, none is dropped or cloned.
        setting.truncate(a.concepts.len());
        setting.iter_mut().for_each(MentionSet::clear);
        setting.resize_with(a.concepts.len(), MentionSet::default);
        for (i, m) in a.mentions.iter().enumerate() {
            let Some(result) = a.concepts.get(m.concept.index()) else {
                continue;
            };
            let sets = match result.status {
                Some(Status::Present) => m.affirmed(),
                Some(Status::Uncertain) => {
                    m.counts() && m.negated.is_none() && m.uncertain.is_some()
                }
                Some(Status::Absent) => m.counts() && m.negated.is_some(),
                None => false,
            };
            if sets {
                setting[m.concept.index()].insert(i as u32);
            }
        }
        Findings { a, setting }
    }

    /// The per-concept sets' buffer, for [`Findings::new`].
    pub fn into_buffer(self) -> Vec<MentionSet> {
        self.setting
    }

    /// The report-level result of a concept (blank when the analysis has none).
    pub fn result(&self, c: ConceptId) -> ConceptResult {
        self.a.concepts.get(c.index()).copied().unwrap_or_default()
    }

    /// The mentions that set the status of a concept.
    fn setting(&self, c: ConceptId) -> &MentionSet {
        static NONE: MentionSet = MentionSet {
            low: 0,
            high: Vec::new(),
        };
        self.setting.get(c.index()).unwrap_or(&NONE)
    }
}

/// Joins words with commas and a final "or".
pub(crate) fn join_or(words: &[&str]) -> String {
    join_with(words, "or")
}

/// Joins words with commas and a final `conj`.
fn join_with(words: &[&str], conj: &str) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} {conj} {last}", init.join(", ")),
    }
}

/// A patient-context field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Field {
    Age,
    Sex,
    TScore,
    FraxMajor,
    FraxHip,
    NeuroDeficit,
    CancerHistory,
    Glucocorticoids,
    FragilityFractureHistory,
    HighEnergyTrauma,
}

/// The kind of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    Number,
    Boolean,
    Text,
}

impl Field {
    pub const ALL: [Field; 10] = [
        Field::Age,
        Field::Sex,
        Field::TScore,
        Field::FraxMajor,
        Field::FraxHip,
        Field::NeuroDeficit,
        Field::CancerHistory,
        Field::Glucocorticoids,
        Field::FragilityFractureHistory,
        Field::HighEnergyTrauma,
    ];
    /// The contract name (same order as [`PATIENT_FIELDS`]).
    pub fn name(self) -> &'static str {
        PATIENT_FIELDS[self as usize]
    }
    pub fn kind(self) -> FieldKind {
        match self {
            Field::Age | Field::TScore | Field::FraxMajor | Field::FraxHip => FieldKind::Number,
            Field::Sex => FieldKind::Text,
            _ => FieldKind::Boolean,
        }
    }
    /// What to obtain when the value is unknown, in words.
    pub fn obtain(self) -> &'static str {
        match self {
            Field::Age => "the patient's age",
            Field::Sex => "the patient's sex",
            Field::TScore => "a DXA T-score",
            Field::FraxMajor => "the FRAX 10-year major osteoporotic fracture risk",
            Field::FraxHip => "the FRAX 10-year hip fracture risk",
            Field::NeuroDeficit => "a neurologic examination",
            Field::CancerHistory => "the cancer history",
            Field::Glucocorticoids => "glucocorticoid use",
            Field::FragilityFractureHistory => "any prior fragility fracture",
            Field::HighEnergyTrauma => "the mechanism of injury (high- or low-energy trauma)",
        }
    }
    fn number(self, p: &PatientContext) -> Option<f32> {
        match self {
            Field::Age => p.age,
            Field::TScore => p.t_score,
            Field::FraxMajor => p.frax_major,
            Field::FraxHip => p.frax_hip,
            _ => None,
        }
    }
    fn boolean(self, p: &PatientContext) -> Option<bool> {
        match self {
            Field::NeuroDeficit => p.neuro_deficit,
            Field::CancerHistory => p.cancer_history,
            Field::Glucocorticoids => p.glucocorticoids,
            Field::FragilityFractureHistory => p.fragility_fracture_history,
            Field::HighEnergyTrauma => p.high_energy_trauma,
            _ => None,
        }
    }
    fn known(self, p: &PatientContext) -> bool {
        match self.kind() {
            FieldKind::Number => self.number(p).is_some(),
            FieldKind::Boolean => self.boolean(p).is_some(),
            FieldKind::Text => p.sex.is_some(),
        }
    }
}

/// A test on one patient field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Test {
    /// Numeric comparison.
    Num(Cmp),
    /// Boolean equality.
    Bool(bool),
    /// Text equality (ASCII case-insensitive).
    Text(String),
    /// The value is known (never unknown itself).
    Known,
    /// The value is unknown (never unknown itself).
    Unknown,
}

/// A condition on one patient field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PatientCond {
    pub field: Field,
    pub test: Test,
}

/// A set of patient fields, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Fields(u16);

impl Fields {
    pub fn of(f: Field) -> Fields {
        Fields(1 << f as u16)
    }
    pub fn union(self, other: Fields) -> Fields {
        Fields(self.0 | other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The set as bits, bit `f as u16` for field `f`.
    pub fn bits(self) -> u16 {
        self.0
    }
    /// The fields, in [`Field::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Field> {
        Field::ALL
            .into_iter()
            .filter(move |&f| self.0 & Fields::of(f).0 != 0)
    }
    /// What to obtain, in words: "obtain a DXA T-score and the cancer history".
    #[cfg(test)]
    pub fn obtain(self) -> String {
        self.obtain_pieces().collect()
    }
    /// What to obtain, in words, as the pieces of text that make it up ("obtain ", "a DXA
    /// T-score", " and ", "the cancer history", maybe with empty pieces), so that it can be
    /// compared or written out without building a string.
    pub fn obtain_pieces(self) -> impl Iterator<Item = &'static str> {
        let n = self.0.count_ones() as usize;
        std::iter::once("obtain ").chain(self.iter().enumerate().flat_map(move |(k, f)| {
            let sep = match k {
                0 => "",
                _ if k + 1 == n => " and ",
                _ => ", ",
            };
            [sep, f.obtain()]
        }))
    }
}

/// Three-valued truth: unknown carries the fields whose values are missing. The connectives
/// ([`Tri::and`], [`Tri::or`], [`Tri::not`]) are the reference the rules' patient tests are
/// checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tri {
    True,
    False,
    Unknown(Fields),
}

impl Tri {
    /// Conjunction: false wins, then unknown (missing fields merged), else true.
    #[cfg(test)]
    pub fn and(items: impl IntoIterator<Item = Tri>) -> Tri {
        let mut out = Tri::True;
        for t in items {
            out = match (out, t) {
                (_, Tri::False) => return Tri::False,
                (Tri::Unknown(a), Tri::Unknown(b)) => Tri::Unknown(a.union(b)),
                (Tri::True, u @ Tri::Unknown(_)) => u,
                (acc, _) => acc,
            };
        }
        out
    }
    /// Disjunction: true wins, then unknown (missing fields merged), else false.
    #[cfg(test)]
    pub fn or(items: impl IntoIterator<Item = Tri>) -> Tri {
        let mut out = Tri::False;
        for t in items {
            out = match (out, t) {
                (_, Tri::True) => return Tri::True,
                (Tri::Unknown(a), Tri::Unknown(b)) => Tri::Unknown(a.union(b)),
                (Tri::False, u @ Tri::Unknown(_)) => u,
                (acc, _) => acc,
            };
        }
        out
    }
    /// Negation: unknown stays unknown.
    #[cfg(test)]
    pub fn not(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            u => u,
        }
    }
}

impl PatientCond {
    #[inline]
    pub fn eval(&self, p: &PatientContext) -> Tri {
        let f = self.field;
        match &self.test {
            Test::Known => tri(f.known(p)),
            Test::Unknown => tri(!f.known(p)),
            Test::Num(cmp) => match f.number(p) {
                Some(x) => tri(cmp.test(x)),
                None => Tri::Unknown(Fields::of(f)),
            },
            Test::Bool(b) => match f.boolean(p) {
                Some(x) => tri(x == *b),
                None => Tri::Unknown(Fields::of(f)),
            },
            Test::Text(t) => match &p.sex {
                Some(x) if f == Field::Sex => tri(x.eq_ignore_ascii_case(t)),
                _ => Tri::Unknown(Fields::of(f)),
            },
        }
    }

    /// Describes the condition in words.
    pub fn describe(&self) -> String {
        let name = self.field.name();
        match &self.test {
            Test::Num(cmp) => format!("{name} {cmp}"),
            Test::Bool(b) => format!("{name} is {b}"),
            Test::Text(t) => format!("{name} is {t}"),
            Test::Known => format!("{name} is known"),
            Test::Unknown => format!("{name} is unknown"),
        }
    }
}

fn tri(b: bool) -> Tri {
    if b {
        Tri::True
    } else {
        Tri::False
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_parse_and_test() {
        let c = Cmp::parse("<= -2.5").unwrap();
        assert!(c.test(-2.5) && c.test(-3.0) && !c.test(-2.4));
        let c = Cmp::parse(">=20").unwrap();
        assert!(c.test(20.0) && !c.test(19.9));
        assert!(Cmp::parse("> 3").unwrap().test(3.1));
        assert!(!Cmp::parse("< 3").unwrap().test(3.0));
        assert!(Cmp::parse("2").unwrap().test(2.0));
        assert!(Cmp::parse("<= x").is_none());
        assert!(Cmp::parse(">= NaN").is_none());
    }

    #[test]
    fn three_valued_logic() {
        use Tri::*;
        let t_score = Fields::of(Field::TScore);
        let frax_hip = Fields::of(Field::FraxHip);
        assert_eq!(Tri::and([True, Unknown(t_score)]), Unknown(t_score));
        assert_eq!(Tri::and([False, Unknown(t_score)]), False);
        assert_eq!(Tri::and([Unknown(t_score), False]), False);
        assert_eq!(
            Tri::and([Unknown(frax_hip), True, Unknown(t_score)]),
            Unknown(t_score.union(frax_hip))
        );
        assert_eq!(Tri::or([True, Unknown(t_score)]), True);
        assert_eq!(Tri::or([Unknown(t_score), True]), True);
        assert_eq!(Tri::or([False, Unknown(frax_hip)]), Unknown(frax_hip));
        assert_eq!(
            Tri::or([Unknown(frax_hip), False, Unknown(t_score)]),
            Unknown(t_score.union(frax_hip))
        );
        assert_eq!(Tri::or([False, False]), False);
        assert_eq!(Tri::and([]), True);
        assert_eq!(Tri::or([]), False);
        let age = Fields::of(Field::Age);
        assert_eq!(Unknown(age).not(), Unknown(age));
        assert_eq!(True.not(), False);
        // Fields come out in contract order, whatever order they were merged in.
        let merged = Fields::of(Field::HighEnergyTrauma).union(Fields::of(Field::Age));
        assert_eq!(
            merged.iter().collect::<Vec<_>>(),
            vec![Field::Age, Field::HighEnergyTrauma]
        );
    }

    #[test]
    fn unknown_is_not_false() {
        let c = PatientCond {
            field: Field::HighEnergyTrauma,
            test: Test::Bool(false),
        };
        let mut p = PatientContext::default();
        assert_eq!(
            c.eval(&p),
            Tri::Unknown(Fields::of(Field::HighEnergyTrauma))
        );
        p.high_energy_trauma = Some(false);
        assert_eq!(c.eval(&p), Tri::True);
        p.high_energy_trauma = Some(true);
        assert_eq!(c.eval(&p), Tri::False);
        let u = PatientCond {
            field: Field::TScore,
            test: Test::Unknown,
        };
        assert_eq!(u.eval(&PatientContext::default()), Tri::True);
    }

    #[test]
    fn what_to_obtain_reads_as_a_list() {
        let one = Fields::of(Field::TScore);
        let three = one
            .union(Fields::of(Field::CancerHistory))
            .union(Fields::of(Field::Age));
        for set in [one, one.union(Fields::of(Field::FraxHip)), three] {
            let what: Vec<&str> = set.iter().map(Field::obtain).collect();
            assert_eq!(set.obtain(), format!("obtain {}", join_with(&what, "and")));
        }
        assert_eq!(
            three.obtain(),
            "obtain the patient's age, a DXA T-score and the cancer history"
        );
    }

    /// What to obtain, built as one string piece by piece ([`Fields::obtain_pieces`] is
    /// checked against it).
    fn obtain_built(set: Fields) -> String {
        let n = set.0.count_ones() as usize;
        let mut s = String::from("obtain ");
        for (k, f) in set.iter().enumerate() {
            if k > 0 {
                s.push_str(if k + 1 == n { " and " } else { ", " });
            }
            s.push_str(f.obtain());
        }
        s
    }

    #[test]
    fn what_to_obtain_in_pieces_reads_as_built_for_every_set_of_fields() {
        for bits in 1..(1u16 << Field::ALL.len()) {
            let set = Fields(bits);
            assert_eq!(set.obtain(), obtain_built(set), "{bits:#b}");
        }
    }

    proptest::proptest! {
        #[test]
        fn mention_set_to_vec_agrees_with_iter(
            indices in proptest::collection::vec(0u32..300, 0..40),
            before in proptest::collection::vec(0u32..300, 0..40),
        ) {
            let mut s = MentionSet::default();
            for &i in &indices {
                s.insert(i);
            }
            let want = s.iter().collect::<Vec<u32>>();
            proptest::prop_assert_eq!(&s.to_vec(), &want);
            // Into a vector that held something else.
            let mut v = before;
            s.write_to(&mut v);
            proptest::prop_assert_eq!(v, want);
        }
    }

    #[test]
    fn mention_sets_hold_any_index_in_order() {
        let mut s = MentionSet::default();
        assert!(s.is_empty());
        for i in [200, 3, 64, 63, 0, 3, 130] {
            s.insert(i);
        }
        assert_eq!(s.to_vec(), vec![0, 3, 63, 64, 130, 200]);
        let mut t = MentionSet::default();
        t.insert(5);
        t.union_with(&s);
        assert_eq!(t.to_vec(), vec![0, 3, 5, 63, 64, 130, 200]);
        t.clear();
        assert!(t.is_empty() && t.to_vec().is_empty());
    }

    #[test]
    fn field_order_matches_contract() {
        for (f, name) in Field::ALL.iter().zip(PATIENT_FIELDS) {
            assert_eq!(f.name(), name);
        }
    }

    proptest::proptest! {
        /// Up to 64 rules (one word, [`GateIndex::allowed_one`]) and past them, the index finds
        /// the rules whose gates pass.
        #[test]
        fn gate_index_agrees_with_each_gate(
            gates in proptest::collection::vec(
                (0u64..1 << 11, proptest::collection::vec(0u8..16, 4), proptest::collection::vec(0u64..1 << 11, 4)),
                0..150,
            ),
            statuses in proptest::collection::vec(0usize..4, BUILTIN_CONCEPTS.len()),
        ) {
            let gates: Vec<StatusGate> = gates
                .iter()
                .enumerate()
                .map(|(r, (all, allowed, any))| {
                    let mut g = StatusGate { all: *all, has_any: r % 3 == 0, ..StatusGate::default() };
                    for s in 0..4 {
                        // Each concept of `all` allows the statuses of a bit pattern.
                        g.all_by[s] = (0..11).filter(|c| all & 1 << c != 0 && allowed[s] >> (c % 4) & 1 != 0).fold(0, |m, c| m | 1 << c);
                        if g.has_any {
                            g.any_by[s] = 1 << (any[s] % 11);
                        }
                    }
                    g
                })
                .collect();
            let a = crate::recommend::analysis_with_statuses(&statuses);
            let index = GateIndex::new(gates.iter());
            let mut allowed = vec![7; 3];
            index.allowed(&a, &mut allowed);
            proptest::prop_assert_eq!(allowed.len(), gates.len().div_ceil(64));
            let masks = StatusMasks::of(&a);
            for (r, g) in gates.iter().enumerate() {
                proptest::prop_assert_eq!(allowed[r / 64] >> (r % 64) & 1 == 1, g.allows(&masks), "{}", r);
            }
        }
    }
}
