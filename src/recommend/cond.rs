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

    /// Evaluates the condition; `Some(evidence)` when it holds, with the indices of the mentions
    /// that set the status and pass the attribute filters.
    ///
    /// A mention with no acuity (or severity) of its own takes the report-level value of its
    /// concept, so that a later mention of the same finding ("T12 compression deformity" in
    /// the impression after "old T12 compression deformity" in the findings) is read alike.
    /// Cue filters look at the mention's sentence in `hits`.
    pub fn eval(&self, a: &Analysis, hits: &CueHits) -> Option<Vec<u32>> {
        let result = a
            .concepts
            .get(self.concept.index())
            .copied()
            .unwrap_or_default();
        if !self.statuses.contains(result.status) {
            return None;
        }
        let setting: Vec<u32> = match result.status {
            Some(Status::Present) => self.mentions(a, Mention::affirmed),
            Some(Status::Uncertain) => self.mentions(a, |m| {
                m.counts() && m.negated.is_none() && m.uncertain.is_some()
            }),
            Some(Status::Absent) => self.mentions(a, |m| m.counts() && m.negated.is_some()),
            None => Vec::new(),
        };
        if !self.has_filters() {
            if let Some(n) = self.min_levels {
                let levels = setting.iter().fold(result.levels, |l, &i| {
                    l.union(a.mentions[i as usize].attrs.levels)
                });
                if levels.count() < n {
                    return None;
                }
            }
            return Some(setting);
        }
        let evidence: Vec<u32> = setting
            .into_iter()
            .filter(|&i| self.passes(&a.mentions[i as usize].attrs, &result))
            .filter(|&i| self.passes_cues(i, hits))
            .collect();
        if evidence.is_empty() {
            return None;
        }
        if let Some(n) = self.min_levels {
            let levels = evidence.iter().fold(Levels::EMPTY, |l, &i| {
                l.union(a.mentions[i as usize].attrs.levels)
            });
            if levels.count() < n {
                return None;
            }
        }
        Some(evidence)
    }

    fn mentions(&self, a: &Analysis, keep: impl Fn(&Mention) -> bool) -> Vec<u32> {
        a.mentions
            .iter()
            .enumerate()
            .filter(|(_, m)| m.concept == self.concept && keep(m))
            .map(|(i, _)| i as u32)
            .collect()
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

/// Joins words with commas and a final "or".
pub(crate) fn join_or(words: &[&str]) -> String {
    join_with(words, "or")
}

/// Joins words with commas and a final `conj`.
pub(crate) fn join_with(words: &[&str], conj: &str) -> String {
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

/// Three-valued truth: unknown carries the fields whose values are missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tri {
    True,
    False,
    Unknown(Vec<Field>),
}

impl Tri {
    /// Conjunction: false wins, then unknown (missing fields merged), else true.
    pub fn and(items: impl IntoIterator<Item = Tri>) -> Tri {
        let mut missing = Vec::new();
        let mut unknown = false;
        for t in items {
            match t {
                Tri::False => return Tri::False,
                Tri::Unknown(f) => {
                    unknown = true;
                    missing.extend(f);
                }
                Tri::True => {}
            }
        }
        if unknown {
            missing.sort();
            missing.dedup();
            Tri::Unknown(missing)
        } else {
            Tri::True
        }
    }
    /// Disjunction: true wins, then unknown, else false.
    pub fn or(items: impl IntoIterator<Item = Tri>) -> Tri {
        let mut missing = Vec::new();
        let mut unknown = false;
        for t in items {
            match t {
                Tri::True => return Tri::True,
                Tri::Unknown(f) => {
                    unknown = true;
                    missing.extend(f);
                }
                Tri::False => {}
            }
        }
        if unknown {
            missing.sort();
            missing.dedup();
            Tri::Unknown(missing)
        } else {
            Tri::False
        }
    }
    /// Negation: unknown stays unknown.
    pub fn not(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            u => u,
        }
    }
}

impl PatientCond {
    pub fn eval(&self, p: &PatientContext) -> Tri {
        let f = self.field;
        match &self.test {
            Test::Known => tri(f.known(p)),
            Test::Unknown => tri(!f.known(p)),
            Test::Num(cmp) => match f.number(p) {
                Some(x) => tri(cmp.test(x)),
                None => Tri::Unknown(vec![f]),
            },
            Test::Bool(b) => match f.boolean(p) {
                Some(x) => tri(x == *b),
                None => Tri::Unknown(vec![f]),
            },
            Test::Text(t) => match &p.sex {
                Some(x) if f == Field::Sex => tri(x.eq_ignore_ascii_case(t)),
                _ => Tri::Unknown(vec![f]),
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
        assert_eq!(
            Tri::and([True, Unknown(vec![Field::TScore])]),
            Unknown(vec![Field::TScore])
        );
        assert_eq!(Tri::and([False, Unknown(vec![Field::TScore])]), False);
        assert_eq!(Tri::or([True, Unknown(vec![Field::TScore])]), True);
        assert_eq!(
            Tri::or([False, Unknown(vec![Field::FraxHip])]),
            Unknown(vec![Field::FraxHip])
        );
        assert_eq!(Tri::or([False, False]), False);
        assert_eq!(Unknown(vec![Field::Age]).not(), Unknown(vec![Field::Age]));
        assert_eq!(True.not(), False);
    }

    #[test]
    fn unknown_is_not_false() {
        let c = PatientCond {
            field: Field::HighEnergyTrauma,
            test: Test::Bool(false),
        };
        let mut p = PatientContext::default();
        assert_eq!(c.eval(&p), Tri::Unknown(vec![Field::HighEnergyTrauma]));
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
    fn field_order_matches_contract() {
        for (f, name) in Field::ALL.iter().zip(PATIENT_FIELDS) {
            assert_eq!(f.name(), name);
        }
    }
}
