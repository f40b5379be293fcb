//! Measured accuracy: gold annotations, the metrics computed against them, and a readable
//! report of every disagreement.
//!
//! # Gold format
//! One JSON object per line (`corpus/*.jsonl`, schema in `corpus/README.md`): `id`, `text`,
//! optional `kind`, optional `patient` (contract field names; numbers may be JSON numbers or
//! strings), `gold` (one entry per concept that has a status; a missing key is blank) and
//! optional `actions` (`required`, `forbidden`). [`load_gold`] rejects unknown keys, unknown
//! concept names and bad enum values, naming `path:line` and the allowed values; it never puts
//! report text into an error.
//!
//! # Metrics
//! Every figure is a count of hits over a count of cases ([`Ratio`]) or precision / recall /
//! F1 over true and false positives and false negatives ([`Prf`]); a figure whose denominator
//! is zero is undefined (shown as `-`, `null` in JSON), never 0 or 1. A *pair* is one
//! (report, built-in concept). The predicted attributes of a concept are read from the
//! mentions that set its status ([`Predicted`]).
//!
//! - **Presence**, per concept: TP = gold `present` and predicted `present`; FP = predicted
//!   `present`, gold anything else (absent, uncertain or blank); FN = gold `present`, predicted
//!   anything else. Precision = TP/(TP+FP), recall = TP/(TP+FN), F1 = 2TP/(2TP+FP+FN).
//!   *Micro*: the counts summed over the 11 concepts, then the same formulas. *Macro* F1: the
//!   mean of the per-concept F1 over the concepts whose F1 is defined.
//! - **Status agreement**: over the pairs where gold or prediction is not blank, the share
//!   whose 4-valued status (present / absent / uncertain / blank) is equal. The confusion
//!   matrix counts every pair, blank/blank included (rows gold, columns predicted).
//! - **Negation** recall: of the gold `absent` pairs, the share predicted `absent`; precision:
//!   of the predicted `absent` pairs, the share gold `absent`. **Uncertainty** recall and
//!   precision: the same with `uncertain`.
//! - **Levels exact**: over the pairs where gold is `present` and gold lists levels, the share
//!   whose predicted level set equals the gold set exactly (a concept not predicted has the
//!   empty set). Also restricted to `vertebral_fracture` and to `spondylolisthesis`.
//! - **Attribute agreement** (severity on every concept; acuity, Genant grade and height loss
//!   on `vertebral_fracture`; Meyerding grade and slip on `spondylolisthesis`; direction on
//!   `spondylolisthesis` and `scoliosis`; Cobb angle on `scoliosis` and `kyphosis`): over the
//!   pairs where gold is `present` and gold states the attribute, the share whose predicted
//!   value is equal. Numbers agree within a tolerance: Cobb angle and height loss within 1
//!   (degree, percentage point), slip within 0.5 mm.
//! - **Actions**, over the reports whose gold lists actions: required recall = required action
//!   ids emitted / required action ids listed; forbidden = forbidden action ids emitted, out of
//!   those listed.
//!
//! A disagreement is listed for every pair whose status differs and for every attribute case
//! above that does not agree, with the mentions of the concept (their text, section and
//! ConText triggers) and about 80 characters of text either side of the first mention (or
//! the start of the report when the concept was not detected).

use crate::model::*;
use crate::pipeline::Pipeline;
use rayon::prelude::*;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// The allowed values of a gold report's `kind`.
pub const KINDS: [&str; 10] = [
    "cervical",
    "thoracic",
    "lumbar",
    "thoracolumbar",
    "scoliosis",
    "chest",
    "trauma",
    "postop",
    "oncology",
    "other",
];

const TOP_KEYS: [&str; 6] = ["id", "text", "kind", "patient", "gold", "actions"];
const CONCEPT_KEYS: [&str; 10] = [
    "status",
    "levels",
    "severity",
    "acuity",
    "genant_grade",
    "height_loss_pct",
    "meyerding_grade",
    "slip_mm",
    "direction",
    "cobb_degrees",
];
const ACTION_KEYS: [&str; 2] = ["required", "forbidden"];

/// Characters of context shown on each side of a mention in a disagreement.
const SNIPPET_CHARS: usize = 80;

/// An error in a gold file, located by path and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    /// The file.
    pub path: String,
    /// 1-based line (0 when the problem is the file as a whole).
    pub line: usize,
    /// What is wrong and, for enumerated values, which values are allowed.
    pub message: String,
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.path, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for EvalError {}

/// The gold label of one concept in one report.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldConcept {
    /// Report-level status.
    pub status: Status,
    /// Levels, when stated.
    pub levels: Option<Levels>,
    /// Severity, when stated.
    pub severity: Option<Severity>,
    /// Fracture acuity, when stated.
    pub acuity: Option<Acuity>,
    /// Genant grade 1-3.
    pub genant_grade: Option<u8>,
    /// Largest percent loss of vertebral body height.
    pub height_loss_pct: Option<f32>,
    /// Meyerding grade 1-5.
    pub meyerding_grade: Option<u8>,
    /// Largest listhesis in millimetres.
    pub slip_mm: Option<f32>,
    /// Direction of a listhesis or a curve.
    pub direction: Option<Direction>,
    /// Cobb angle in degrees.
    pub cobb_degrees: Option<f32>,
}

impl GoldConcept {
    /// A label with a status and no attributes.
    pub fn new(status: Status) -> GoldConcept {
        GoldConcept {
            status,
            levels: None,
            severity: None,
            acuity: None,
            genant_grade: None,
            height_loss_pct: None,
            meyerding_grade: None,
            slip_mm: None,
            direction: None,
            cobb_degrees: None,
        }
    }

    fn has_attributes(&self) -> bool {
        *self != GoldConcept::new(self.status)
    }
}

/// Expected recommendations of one report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoldActions {
    /// Action ids that must be emitted.
    pub required: Vec<String>,
    /// Action ids that must not be emitted.
    pub forbidden: Vec<String>,
}

/// One annotated report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GoldReport {
    /// Report id.
    pub id: String,
    /// Original text.
    pub text: String,
    /// Kind of examination (one of [`KINDS`]), when given.
    pub kind: Option<String>,
    /// Patient context.
    pub patient: PatientContext,
    /// One label per built-in concept, in [`BUILTIN_CONCEPTS`] order; `None` is blank.
    pub concepts: [Option<GoldConcept>; 11],
    /// Expected recommendations, when given.
    pub actions: Option<GoldActions>,
}

impl GoldReport {
    /// A report with the given id and text, every concept blank.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> GoldReport {
        GoldReport {
            id: id.into(),
            text: text.into(),
            ..GoldReport::default()
        }
    }

    /// The gold label of a built-in concept (`None` for blank).
    pub fn concept(&self, c: ConceptId) -> Option<&GoldConcept> {
        self.concepts.get(c.index()).and_then(Option::as_ref)
    }

    /// The pipeline's input for this report.
    pub fn report(&self) -> Report {
        Report {
            id: self.id.clone(),
            text: self.text.clone(),
            patient: self.patient.clone(),
            warnings: Vec::new(),
        }
    }
}

/// Reads a gold JSONL file. Blank lines are skipped; ids must be unique within the file.
pub fn load_gold(path: &Path) -> Result<Vec<GoldReport>, EvalError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| EvalError {
        path: shown.clone(),
        line: 0,
        message: format!("cannot read: {e}"),
    })?;
    let data = String::from_utf8(bytes).map_err(|e| EvalError {
        path: shown.clone(),
        line: 0,
        message: format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
    })?;
    parse_gold(&shown, &data)
}

/// Reads several gold files in order; ids must be unique across all of them.
pub fn load_gold_files<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<GoldReport>, EvalError> {
    let mut out: Vec<GoldReport> = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for p in paths {
        let p = p.as_ref();
        let shown = p.display().to_string();
        let data = std::fs::read_to_string(p).map_err(|e| EvalError {
            path: shown.clone(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        for (line, g) in parse_lines(&shown, &data)? {
            if let Some(first) = seen.insert(g.id.clone(), shown.clone()) {
                return Err(EvalError {
                    path: shown,
                    line,
                    message: format!("duplicate id {:?} (first in {first})", clip(&g.id)),
                });
            }
            out.push(g);
        }
    }
    Ok(out)
}

/// Parses gold JSONL text; `path` only names the source in errors.
pub fn parse_gold(path: &str, data: &str) -> Result<Vec<GoldReport>, EvalError> {
    Ok(parse_lines(path, data)?.into_iter().map(|x| x.1).collect())
}

/// Parses gold JSONL text into (1-based line, report) pairs.
fn parse_lines(path: &str, data: &str) -> Result<Vec<(usize, GoldReport)>, EvalError> {
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, line) in data.lines().enumerate() {
        let err = |message: String| EvalError {
            path: path.to_string(),
            line: i + 1,
            message,
        };
        if line.trim().is_empty() {
            continue;
        }
        let g = parse_line(line).map_err(err)?;
        if let Some(first) = seen.insert(g.id.clone(), i + 1) {
            return Err(err(format!(
                "duplicate id {:?} (first on line {first})",
                clip(&g.id)
            )));
        }
        out.push((i + 1, g));
    }
    Ok(out)
}

fn parse_line(line: &str) -> Result<GoldReport, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| {
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        format!("invalid JSON at column {}: {msg}", e.column())
    })?;
    let Value::Object(obj) = v else {
        return Err("expected a JSON object".into());
    };
    check_keys(&obj, &TOP_KEYS, "")?;
    let id = match obj.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => return Err("`id` is empty".into()),
        Some(other) => return Err(format!("`id`: expected a string, got {}", kind_of(other))),
        None => return Err("missing `id`".into()),
    };
    let text = match obj.get("text") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("`text`: expected a string, got {}", kind_of(other))),
        None => return Err("missing `text`".into()),
    };
    let kind = match obj.get("kind") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if KINDS.contains(&s.as_str()) => Some(s.clone()),
        Some(Value::String(s)) => {
            return Err(format!(
                "`kind`: unknown value {:?}; allowed: {}",
                clip(s),
                KINDS.join(", ")
            ))
        }
        Some(other) => return Err(format!("`kind`: expected a string, got {}", kind_of(other))),
    };
    let patient = match obj.get("patient") {
        None | Some(Value::Null) => PatientContext::default(),
        Some(Value::Object(p)) => parse_patient(p)?,
        Some(other) => {
            return Err(format!(
                "`patient`: expected an object, got {}",
                kind_of(other)
            ))
        }
    };
    let mut concepts: [Option<GoldConcept>; 11] = Default::default();
    match obj.get("gold") {
        Some(Value::Object(g)) => {
            for (name, value) in g {
                let Some(i) = BUILTIN_CONCEPTS.iter().position(|c| c == name) else {
                    return Err(format!(
                        "`gold`: unknown concept {:?}; allowed: {}",
                        clip(name),
                        BUILTIN_CONCEPTS.join(", ")
                    ));
                };
                let Value::Object(c) = value else {
                    return Err(format!(
                        "`gold.{name}`: expected an object, got {}",
                        kind_of(value)
                    ));
                };
                concepts[i] = Some(parse_concept(name, c)?);
            }
        }
        Some(other) => {
            return Err(format!(
                "`gold`: expected an object, got {}",
                kind_of(other)
            ))
        }
        None => return Err("missing `gold` (use {} when no concept is mentioned)".into()),
    }
    let actions = match obj.get("actions") {
        None | Some(Value::Null) => None,
        Some(Value::Object(a)) => {
            check_keys(a, &ACTION_KEYS, "actions.")?;
            Some(GoldActions {
                required: action_list(a, "required")?,
                forbidden: action_list(a, "forbidden")?,
            })
        }
        Some(other) => {
            return Err(format!(
                "`actions`: expected an object, got {}",
                kind_of(other)
            ))
        }
    };
    Ok(GoldReport {
        id,
        text,
        kind,
        patient,
        concepts,
        actions,
    })
}

fn parse_patient(p: &Map<String, Value>) -> Result<PatientContext, String> {
    let mut ctx = PatientContext::default();
    for (key, value) in p {
        if !PATIENT_FIELDS.contains(&key.as_str()) {
            return Err(format!(
                "`patient`: unknown field {:?}; allowed: {}",
                clip(key),
                PATIENT_FIELDS.join(", ")
            ));
        }
        let text = match value {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            other => {
                return Err(format!(
                    "`patient.{key}`: expected a number, string or boolean, got {}",
                    kind_of(other)
                ))
            }
        };
        ctx.set(key, &text).map_err(|e| format!("`patient`: {e}"))?;
    }
    Ok(ctx)
}

fn parse_concept(name: &str, c: &Map<String, Value>) -> Result<GoldConcept, String> {
    let at = |key: &str| format!("`gold.{name}.{key}`");
    check_keys(c, &CONCEPT_KEYS, &format!("gold.{name}."))?;
    let status = match c.get("status") {
        Some(v) => enum_value(v, &at("status"), Status::parse, Status::allowed)?,
        None => return Err(format!("{}: missing", at("status"))),
    };
    let mut g = GoldConcept::new(status);
    for (key, v) in c {
        if v.is_null() {
            continue;
        }
        let here = at(key);
        match key.as_str() {
            "status" => {}
            "levels" => {
                let Value::Array(items) = v else {
                    return Err(format!(
                        "{here}: expected a list of vertebrae, got {}",
                        kind_of(v)
                    ));
                };
                let mut levels = Levels::EMPTY;
                for item in items {
                    let ix = item.as_str().and_then(Levels::index_of).ok_or_else(|| {
                        format!(
                            "{here}: {} is not a vertebra; allowed: {}",
                            shown(item),
                            VERTEBRAE.join(", ")
                        )
                    })?;
                    levels.insert(ix);
                }
                g.levels = (!levels.is_empty()).then_some(levels);
            }
            "severity" => {
                g.severity = Some(enum_value(v, &here, Severity::parse, Severity::allowed)?)
            }
            "acuity" => g.acuity = Some(enum_value(v, &here, Acuity::parse, Acuity::allowed)?),
            "direction" => {
                g.direction = Some(enum_value(v, &here, Direction::parse, Direction::allowed)?)
            }
            "genant_grade" => g.genant_grade = Some(grade(v, &here, 3)?),
            "meyerding_grade" => g.meyerding_grade = Some(grade(v, &here, 5)?),
            "height_loss_pct" => g.height_loss_pct = Some(measure(v, &here, 100.0)?),
            "slip_mm" => g.slip_mm = Some(measure(v, &here, 200.0)?),
            "cobb_degrees" => g.cobb_degrees = Some(measure(v, &here, 180.0)?),
            _ => unreachable!("keys were checked"),
        }
    }
    if status == Status::Absent && g.has_attributes() {
        return Err(format!(
            "`gold.{name}`: an absent concept carries no attributes"
        ));
    }
    Ok(g)
}

fn check_keys(obj: &Map<String, Value>, allowed: &[&str], prefix: &str) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "unknown field `{prefix}{}`; allowed: {}",
            clip(k),
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

fn enum_value<T>(
    v: &Value,
    here: &str,
    parse: fn(&str) -> Option<T>,
    allowed: fn() -> String,
) -> Result<T, String> {
    v.as_str().and_then(parse).ok_or_else(|| {
        format!(
            "{here}: {} is not allowed; allowed: {}",
            shown(v),
            allowed()
        )
    })
}

fn grade(v: &Value, here: &str, max: u64) -> Result<u8, String> {
    match v.as_u64() {
        Some(g) if (1..=max).contains(&g) => Ok(g as u8),
        _ => Err(format!(
            "{here}: expected an integer from 1 to {max}, got {}",
            shown(v)
        )),
    }
}

fn measure(v: &Value, here: &str, max: f64) -> Result<f32, String> {
    match v.as_f64() {
        Some(x) if x.is_finite() && (0.0..=max).contains(&x) => Ok(x as f32),
        _ => Err(format!(
            "{here}: expected a number from 0 to {max}, got {}",
            shown(v)
        )),
    }
}

fn action_list(a: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    let Some(v) = a.get(key) else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = v else {
        return Err(format!(
            "`actions.{key}`: expected a list of action ids, got {}",
            kind_of(v)
        ));
    };
    items
        .iter()
        .map(|item| match item.as_str() {
            Some(s)
                if !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
            {
                Ok(s.to_string())
            }
            _ => Err(format!(
                "`actions.{key}`: {} is not an action id (lowercase letters, digits and _)",
                shown(item)
            )),
        })
        .collect()
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A gold value for an error message: short strings and numbers as written, anything else by
/// its type.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{:?}", clip(s)),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => kind_of(other).to_string(),
    }
}

/// A value shortened for an error message (at most 20 characters of input).
fn clip(v: &str) -> String {
    let mut s: String = v.chars().take(20).collect();
    if s.len() < v.len() {
        s.push('…');
    }
    s
}

/// A share: `hits` out of `total` cases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ratio {
    /// Cases that agree.
    pub hits: usize,
    /// Cases counted.
    pub total: usize,
}

impl Ratio {
    /// `hits / total`, `None` when nothing was counted.
    pub fn rate(&self) -> Option<f64> {
        (self.total > 0).then(|| self.hits as f64 / self.total as f64)
    }
    fn add(&mut self, hit: bool) {
        self.total += 1;
        self.hits += usize::from(hit);
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}/{})", rate(self.rate()), self.hits, self.total)
    }
}

impl Serialize for Ratio {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Ratio", 3)?;
        st.serialize_field("hits", &self.hits)?;
        st.serialize_field("total", &self.total)?;
        st.serialize_field("rate", &self.rate())?;
        st.end()
    }
}

/// True positives, false positives and false negatives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prf {
    /// Predicted and gold.
    pub tp: usize,
    /// Predicted, not gold.
    pub fp: usize,
    /// Gold, not predicted.
    pub fn_: usize,
}

impl Prf {
    /// TP / (TP + FP).
    pub fn precision(&self) -> Option<f64> {
        let d = self.tp + self.fp;
        (d > 0).then(|| self.tp as f64 / d as f64)
    }
    /// TP / (TP + FN).
    pub fn recall(&self) -> Option<f64> {
        let d = self.tp + self.fn_;
        (d > 0).then(|| self.tp as f64 / d as f64)
    }
    /// 2TP / (2TP + FP + FN).
    pub fn f1(&self) -> Option<f64> {
        let d = 2 * self.tp + self.fp + self.fn_;
        (d > 0).then(|| 2.0 * self.tp as f64 / d as f64)
    }
    fn add(&mut self, other: Prf) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
    }
    fn count(&mut self, gold: bool, predicted: bool) {
        match (gold, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => {}
        }
    }
}

impl Serialize for Prf {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Prf", 6)?;
        st.serialize_field("tp", &self.tp)?;
        st.serialize_field("fp", &self.fp)?;
        st.serialize_field("fn", &self.fn_)?;
        st.serialize_field("precision", &self.precision())?;
        st.serialize_field("recall", &self.recall())?;
        st.serialize_field("f1", &self.f1())?;
        st.end()
    }
}

/// The four statuses of a pair, in confusion-matrix order.
pub const STATUS_LABELS: [&str; 4] = ["present", "absent", "uncertain", "blank"];

fn status_index(s: Option<Status>) -> usize {
    match s {
        Some(Status::Present) => 0,
        Some(Status::Absent) => 1,
        Some(Status::Uncertain) => 2,
        None => 3,
    }
}

fn status_name(s: Option<Status>) -> &'static str {
    STATUS_LABELS[status_index(s)]
}

/// Scores of one concept.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConceptScores {
    /// Concept id.
    pub concept: String,
    /// Gold `present` / `absent` / `uncertain` counts.
    pub gold_present: usize,
    /// Gold `absent` pairs.
    pub gold_absent: usize,
    /// Gold `uncertain` pairs.
    pub gold_uncertain: usize,
    /// Predicted `present` pairs.
    pub predicted_present: usize,
    /// Presence.
    pub presence: Prf,
    /// Status agreement over the pairs where gold or prediction is not blank.
    pub status: Ratio,
    /// Levels exact over the pairs where gold is present with levels.
    pub levels_exact: Ratio,
}

/// Status confusion matrix: `counts[gold][predicted]` in [`STATUS_LABELS`] order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    /// Row and column labels.
    pub labels: [&'static str; 4],
    /// Rows gold, columns predicted.
    pub counts: [[usize; 4]; 4],
}

/// Recall and precision of one status value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusScores {
    /// Of the gold pairs with this status, the share predicted with it.
    pub recall: Ratio,
    /// Of the predicted pairs with this status, the share gold with it.
    pub precision: Ratio,
}

/// Agreement of the attributes that gold states on present concepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AttributeScores {
    /// Levels exact, every concept.
    pub levels_exact: Ratio,
    /// Levels exact, `vertebral_fracture`.
    pub levels_exact_fracture: Ratio,
    /// Levels exact, `spondylolisthesis`.
    pub levels_exact_listhesis: Ratio,
    /// Severity, every concept.
    pub severity: Ratio,
    /// Acuity of `vertebral_fracture`.
    pub fracture_acuity: Ratio,
    /// Genant grade of `vertebral_fracture`.
    pub genant_grade: Ratio,
    /// Height loss within 1 percentage point, `vertebral_fracture`.
    pub height_loss_pct: Ratio,
    /// Meyerding grade of `spondylolisthesis`.
    pub meyerding_grade: Ratio,
    /// Slip within 0.5 mm, `spondylolisthesis`.
    pub slip_mm: Ratio,
    /// Direction of `spondylolisthesis` and `scoliosis`.
    pub direction: Ratio,
    /// Cobb angle within 1 degree, `scoliosis` and `kyphosis`.
    pub cobb_degrees: Ratio,
}

/// Recommendations against the gold actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ActionScores {
    /// Reports whose gold lists actions.
    pub reports: usize,
    /// Required action ids emitted, out of those listed.
    pub required_recall: Ratio,
    /// Forbidden action ids emitted (`hits`), out of those listed (`total`).
    pub forbidden_emitted: Ratio,
}

/// Presence micro-F1 of the reports of one kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindScores {
    /// The kind (`-` when the gold gives none).
    pub kind: String,
    /// Reports of this kind.
    pub reports: usize,
    /// Presence summed over the 11 concepts.
    pub presence: Prf,
}

/// One mention of a concept, as shown beside a disagreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MentionNote {
    /// The mention's text.
    pub text: String,
    /// Its section.
    pub section: SectionKind,
    /// Whether it counts towards the status (neither hypothetical nor historical).
    pub counts: bool,
    /// Text of the negation trigger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negated: Option<String>,
    /// Text of the hedge trigger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncertain: Option<String>,
    /// Text of the history trigger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub historical: Option<String>,
    /// Text of the hypothetical trigger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hypothetical: Option<String>,
}

impl fmt::Display for MentionNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({}", self.text, self.section)?;
        let mut any = false;
        for (name, t) in [
            ("negated", &self.negated),
            ("uncertain", &self.uncertain),
            ("historical", &self.historical),
            ("hypothetical", &self.hypothetical),
        ] {
            if let Some(t) = t {
                write!(f, ", {name} by {t:?}")?;
                any = true;
            }
        }
        if !any {
            f.write_str(", affirmed")?;
        }
        f.write_str(")")
    }
}

/// One case where the prediction differs from gold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disagreement {
    /// Report id.
    pub report_id: String,
    /// Concept, or `None` for an action.
    pub concept: Option<String>,
    /// What differs: `status`, `levels`, `severity`, `acuity`, `genant_grade`,
    /// `height_loss_pct`, `meyerding_grade`, `slip_mm`, `direction`, `cobb_degrees`,
    /// `required_action` or `forbidden_action`.
    pub field: &'static str,
    /// The gold value (`blank` / `-` when none).
    pub gold: String,
    /// The predicted value (`blank` / `-` when none).
    pub predicted: String,
    /// Every mention of the concept, in text order.
    pub mentions: Vec<MentionNote>,
    /// About 80 characters either side of the first mention (`[` `]` around it), or the
    /// start of the report when the concept was not detected; line breaks shown as ` / `.
    pub snippet: String,
}

/// Everything measured on one gold set.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EvalReport {
    /// Reports evaluated.
    pub reports: usize,
    /// Per concept, in [`BUILTIN_CONCEPTS`] order.
    pub concepts: Vec<ConceptScores>,
    /// Presence summed over the 11 concepts.
    pub presence_micro: Prf,
    /// Mean presence F1 over the concepts where it is defined.
    pub presence_macro_f1: Option<f64>,
    /// Status agreement over the pairs where gold or prediction is not blank.
    pub status_agreement: Ratio,
    /// Status confusion matrix over every pair.
    pub status_confusion: Confusion,
    /// Negation (`absent`).
    pub negation: StatusScores,
    /// Uncertainty (`uncertain`).
    pub uncertainty: StatusScores,
    /// Attribute agreement.
    pub attributes: AttributeScores,
    /// Actions.
    pub actions: ActionScores,
    /// Presence by kind of examination.
    pub by_kind: Vec<KindScores>,
    /// Every disagreement, in gold order.
    pub disagreements: Vec<Disagreement>,
}

/// A concept's status and attributes as predicted, read from the mentions that set its status
/// (for `present` the affirmed ones, for `uncertain` the hedged ones, for `absent` the
/// negated ones, all among the mentions that count).
///
/// Levels, severity and acuity are the pipeline's [`ConceptResult`]. Grades, height loss,
/// slip and Cobb angle are the largest stated by those mentions. The direction is the one
/// those mentions agree on; when they disagree, the direction of the mention with the largest
/// Cobb angle (the major curve), and none if no mention has an angle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Predicted {
    /// Status.
    pub status: Option<Status>,
    /// Levels.
    pub levels: Levels,
    /// Severity.
    pub severity: Option<Severity>,
    /// Acuity.
    pub acuity: Option<Acuity>,
    /// Genant grade.
    pub genant_grade: Option<u8>,
    /// Height loss, percent.
    pub height_loss_pct: Option<f32>,
    /// Meyerding grade.
    pub meyerding_grade: Option<u8>,
    /// Slip, mm.
    pub slip_mm: Option<f32>,
    /// Direction.
    pub direction: Option<Direction>,
    /// Cobb angle, degrees.
    pub cobb_degrees: Option<f32>,
}

impl Predicted {
    /// Reads the prediction for concept `c` from an analysis.
    pub fn of(a: &Analysis, c: ConceptId) -> Predicted {
        let Some(res) = a.concepts.get(c.index()) else {
            return Predicted::default();
        };
        let mut p = Predicted {
            status: res.status,
            levels: res.levels,
            severity: res.severity,
            acuity: res.acuity,
            ..Predicted::default()
        };
        let Some(status) = res.status else {
            return p;
        };
        let setting = a.mentions.iter().filter(|m| {
            m.concept == c
                && m.counts()
                && match status {
                    Status::Present => m.affirmed(),
                    Status::Uncertain => m.uncertain.is_some(),
                    Status::Absent => m.negated.is_some() && m.uncertain.is_none(),
                }
        });
        let mut directions: Vec<(Direction, Option<f32>)> = Vec::new();
        for m in setting {
            let at = &m.attrs;
            p.genant_grade = p.genant_grade.max(at.genant_grade);
            p.meyerding_grade = p.meyerding_grade.max(at.meyerding_grade);
            p.height_loss_pct = max_f(p.height_loss_pct, at.height_loss_pct);
            p.slip_mm = max_f(p.slip_mm, at.slip_mm);
            p.cobb_degrees = max_f(p.cobb_degrees, at.cobb_degrees);
            if let Some(d) = at.direction {
                directions.push((d, at.cobb_degrees));
            }
        }
        p.direction = match directions.first() {
            None => None,
            Some(&(d, _)) if directions.iter().all(|x| x.0 == d) => Some(d),
            Some(_) => directions
                .iter()
                .filter_map(|&(d, cobb)| cobb.map(|c| (d, c)))
                .max_by(|x, y| x.1.total_cmp(&y.1))
                .map(|x| x.0),
        };
        p
    }
}

fn max_f(a: Option<f32>, b: Option<f32>) -> Option<f32> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Runs the pipeline on every gold report (in parallel) and scores the analyses.
pub fn evaluate(pipeline: &Pipeline, gold: &[GoldReport]) -> EvalReport {
    let analyses: Vec<Analysis> = gold
        .par_iter()
        .map(|g| pipeline.analyze(&g.report()))
        .collect();
    score(gold, &analyses)
}

/// Scores analyses against gold; `analyses[i]` is the analysis of `gold[i]`.
///
/// # Panics
/// When the two slices differ in length.
pub fn score(gold: &[GoldReport], analyses: &[Analysis]) -> EvalReport {
    assert_eq!(
        gold.len(),
        analyses.len(),
        "one analysis per gold report is needed"
    );
    let mut r = EvalReport {
        reports: gold.len(),
        concepts: BUILTIN_CONCEPTS
            .iter()
            .map(|c| ConceptScores {
                concept: c.to_string(),
                ..ConceptScores::default()
            })
            .collect(),
        status_confusion: Confusion {
            labels: STATUS_LABELS,
            counts: [[0; 4]; 4],
        },
        ..EvalReport::default()
    };
    let mut kinds: Vec<KindScores> = Vec::new();
    for (g, a) in gold.iter().zip(analyses) {
        let kind = g.kind.as_deref().unwrap_or("-");
        let k = match kinds.iter().position(|x| x.kind == kind) {
            Some(k) => k,
            None => {
                kinds.push(KindScores {
                    kind: kind.to_string(),
                    reports: 0,
                    presence: Prf::default(),
                });
                kinds.len() - 1
            }
        };
        kinds[k].reports += 1;
        for (ci, name) in BUILTIN_CONCEPTS.iter().enumerate() {
            let c = ConceptId(ci as u16);
            let gc = g.concept(c);
            let gs = gc.map(|x| x.status);
            let p = Predicted::of(a, c);
            let ps = p.status;
            let mut found: Vec<(&'static str, String, String)> = Vec::new();

            let cs = &mut r.concepts[ci];
            match gs {
                Some(Status::Present) => cs.gold_present += 1,
                Some(Status::Absent) => cs.gold_absent += 1,
                Some(Status::Uncertain) => cs.gold_uncertain += 1,
                None => {}
            }
            cs.predicted_present += usize::from(ps == Some(Status::Present));
            let present = (gs == Some(Status::Present), ps == Some(Status::Present));
            cs.presence.count(present.0, present.1);
            kinds[k].presence.count(present.0, present.1);
            r.status_confusion.counts[status_index(gs)][status_index(ps)] += 1;
            if gs.is_some() || ps.is_some() {
                cs.status.add(gs == ps);
                r.status_agreement.add(gs == ps);
            }
            if gs != ps {
                found.push(("status", status_name(gs).into(), status_name(ps).into()));
            }
            for (want, scores) in [
                (Status::Absent, &mut r.negation),
                (Status::Uncertain, &mut r.uncertainty),
            ] {
                if gs == Some(want) {
                    scores.recall.add(ps == Some(want));
                }
                if ps == Some(want) {
                    scores.precision.add(gs == Some(want));
                }
            }

            if let Some(gc) = gc.filter(|x| x.status == Status::Present) {
                let at = &mut r.attributes;
                if let Some(gl) = gc.levels {
                    let hit = gl == p.levels;
                    r.concepts[ci].levels_exact.add(hit);
                    at.levels_exact.add(hit);
                    if c == ConceptId::VERTEBRAL_FRACTURE {
                        at.levels_exact_fracture.add(hit);
                    }
                    if c == ConceptId::SPONDYLOLISTHESIS {
                        at.levels_exact_listhesis.add(hit);
                    }
                    if !hit {
                        found.push(("levels", levels_text(gl), levels_text(p.levels)));
                    }
                }
                let mut check =
                    |field: &'static str, ratio: &mut Ratio, gold: String, pred: String, hit| {
                        ratio.add(hit);
                        if !hit {
                            found.push((field, gold, pred));
                        }
                    };
                if let Some(s) = gc.severity {
                    check(
                        "severity",
                        &mut at.severity,
                        s.to_string(),
                        opt(p.severity),
                        Some(s) == p.severity,
                    );
                }
                if c == ConceptId::VERTEBRAL_FRACTURE {
                    if let Some(x) = gc.acuity {
                        check(
                            "acuity",
                            &mut at.fracture_acuity,
                            x.to_string(),
                            opt(p.acuity),
                            Some(x) == p.acuity,
                        );
                    }
                    if let Some(x) = gc.genant_grade {
                        check(
                            "genant_grade",
                            &mut at.genant_grade,
                            x.to_string(),
                            opt(p.genant_grade),
                            Some(x) == p.genant_grade,
                        );
                    }
                    if let Some(x) = gc.height_loss_pct {
                        check(
                            "height_loss_pct",
                            &mut at.height_loss_pct,
                            x.to_string(),
                            opt(p.height_loss_pct),
                            near(x, p.height_loss_pct, 1.0),
                        );
                    }
                }
                if c == ConceptId::SPONDYLOLISTHESIS {
                    if let Some(x) = gc.meyerding_grade {
                        check(
                            "meyerding_grade",
                            &mut at.meyerding_grade,
                            x.to_string(),
                            opt(p.meyerding_grade),
                            Some(x) == p.meyerding_grade,
                        );
                    }
                    if let Some(x) = gc.slip_mm {
                        check(
                            "slip_mm",
                            &mut at.slip_mm,
                            x.to_string(),
                            opt(p.slip_mm),
                            near(x, p.slip_mm, 0.5),
                        );
                    }
                }
                if c == ConceptId::SPONDYLOLISTHESIS || c == ConceptId::SCOLIOSIS {
                    if let Some(x) = gc.direction {
                        check(
                            "direction",
                            &mut at.direction,
                            x.to_string(),
                            opt(p.direction),
                            Some(x) == p.direction,
                        );
                    }
                }
                if c == ConceptId::SCOLIOSIS || c == ConceptId::KYPHOSIS {
                    if let Some(x) = gc.cobb_degrees {
                        check(
                            "cobb_degrees",
                            &mut at.cobb_degrees,
                            x.to_string(),
                            opt(p.cobb_degrees),
                            near(x, p.cobb_degrees, 1.0),
                        );
                    }
                }
            }

            if !found.is_empty() {
                let (mentions, snippet) = context_of(&g.text, a, c);
                for (field, gold_v, pred_v) in found {
                    r.disagreements.push(Disagreement {
                        report_id: g.id.clone(),
                        concept: Some(name.to_string()),
                        field,
                        gold: gold_v,
                        predicted: pred_v,
                        mentions: mentions.clone(),
                        snippet: snippet.clone(),
                    });
                }
            }
        }

        if let Some(ga) = &g.actions {
            r.actions.reports += 1;
            let emitted = |id: &str| a.recommendations.iter().any(|x| x.action == id);
            for (list, field, ratio, bad) in [
                (
                    &ga.required,
                    "required_action",
                    &mut r.actions.required_recall,
                    false,
                ),
                (
                    &ga.forbidden,
                    "forbidden_action",
                    &mut r.actions.forbidden_emitted,
                    true,
                ),
            ] {
                for id in list {
                    let e = emitted(id);
                    ratio.add(e);
                    if e == bad {
                        r.disagreements.push(Disagreement {
                            report_id: g.id.clone(),
                            concept: None,
                            field,
                            gold: id.clone(),
                            predicted: if e { "emitted" } else { "not emitted" }.into(),
                            mentions: Vec::new(),
                            snippet: snippet_at(&g.text, None),
                        });
                    }
                }
            }
        }
    }
    for cs in &r.concepts {
        r.presence_micro.add(cs.presence);
    }
    let f1s: Vec<f64> = r.concepts.iter().filter_map(|c| c.presence.f1()).collect();
    r.presence_macro_f1 = (!f1s.is_empty()).then(|| f1s.iter().sum::<f64>() / f1s.len() as f64);
    r.by_kind = kinds;
    r
}

fn near(gold: f32, pred: Option<f32>, tolerance: f32) -> bool {
    pred.is_some_and(|p| (p - gold).abs() <= tolerance + 1e-4)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |x| x.to_string())
}

fn levels_text(l: Levels) -> String {
    if l.is_empty() {
        "-".into()
    } else {
        l.to_string()
    }
}

/// The mentions of concept `c` and a snippet around the first one.
fn context_of(text: &str, a: &Analysis, c: ConceptId) -> (Vec<MentionNote>, String) {
    let trig = |f: Flag| f.and_then(|s| text.get(s.start..s.end)).map(str::to_string);
    let mut first = None;
    let mentions = a
        .mentions
        .iter()
        .filter(|m| m.concept == c)
        .map(|m| {
            first = first.or(Some(m.span));
            MentionNote {
                text: text.get(m.span.start..m.span.end).unwrap_or("").to_string(),
                section: m.section,
                counts: m.counts(),
                negated: trig(m.negated),
                uncertain: trig(m.uncertain),
                historical: trig(m.historical),
                hypothetical: trig(m.hypothetical),
            }
        })
        .collect();
    (mentions, snippet_at(text, first))
}

/// About [`SNIPPET_CHARS`] characters either side of `span` with the span in brackets, or the
/// start of the text when there is no span; line breaks shown as ` / `.
fn snippet_at(text: &str, span: Option<Span>) -> String {
    let span = span.filter(|s| {
        s.start <= s.end && text.is_char_boundary(s.start) && text.is_char_boundary(s.end)
    });
    let raw = match span {
        Some(s) => {
            let before = &text[..s.start];
            let from = before
                .char_indices()
                .rev()
                .nth(SNIPPET_CHARS - 1)
                .map_or(0, |x| x.0);
            let after = &text[s.end..];
            let to = after
                .char_indices()
                .nth(SNIPPET_CHARS)
                .map_or(text.len(), |x| s.end + x.0);
            format!(
                "{}{}[{}]{}{}",
                if from > 0 { "…" } else { "" },
                &text[from..s.start],
                &text[s.start..s.end],
                &text[s.end..to],
                if to < text.len() { "…" } else { "" }
            )
        }
        None => {
            let to = text
                .char_indices()
                .nth(2 * SNIPPET_CHARS)
                .map_or(text.len(), |x| x.0);
            format!("{}{}", &text[..to], if to < text.len() { "…" } else { "" })
        }
    };
    raw.replace("\r\n", " / ").replace(['\n', '\r'], " / ")
}

fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_string(), |x| format!("{x:.3}"))
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "spinex accuracy on {} reports", self.reports)?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<22} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>4} {:>6} {:>6} {:>6} {:>7} {:>7}",
            "concept",
            "gold+",
            "gold-",
            "gold?",
            "pred+",
            "tp",
            "fp",
            "fn",
            "prec",
            "rec",
            "f1",
            "status",
            "levels"
        )?;
        for c in &self.concepts {
            writeln!(
                f,
                "{:<22} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>4} {:>6} {:>6} {:>6} {:>7} {:>7}",
                c.concept,
                c.gold_present,
                c.gold_absent,
                c.gold_uncertain,
                c.predicted_present,
                c.presence.tp,
                c.presence.fp,
                c.presence.fn_,
                rate(c.presence.precision()),
                rate(c.presence.recall()),
                rate(c.presence.f1()),
                rate(c.status.rate()),
                rate(c.levels_exact.rate()),
            )?;
        }
        let m = &self.presence_micro;
        writeln!(
            f,
            "{:<22} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>4} {:>6} {:>6} {:>6} {:>7} {:>7}",
            "micro",
            m.tp + m.fn_,
            "",
            "",
            m.tp + m.fp,
            m.tp,
            m.fp,
            m.fn_,
            rate(m.precision()),
            rate(m.recall()),
            rate(m.f1()),
            rate(self.status_agreement.rate()),
            rate(self.attributes.levels_exact.rate()),
        )?;
        writeln!(f, "{:<22} {:>60}", "macro F1", rate(self.presence_macro_f1))?;
        writeln!(f)?;
        let at = &self.attributes;
        let lines: [(&str, &Ratio); 17] = [
            ("status agreement", &self.status_agreement),
            ("negation recall", &self.negation.recall),
            ("negation precision", &self.negation.precision),
            ("uncertainty recall", &self.uncertainty.recall),
            ("uncertainty precision", &self.uncertainty.precision),
            ("levels exact", &at.levels_exact),
            ("  vertebral_fracture", &at.levels_exact_fracture),
            ("  spondylolisthesis", &at.levels_exact_listhesis),
            ("severity", &at.severity),
            ("fracture acuity", &at.fracture_acuity),
            ("Genant grade", &at.genant_grade),
            ("height loss (±1 %)", &at.height_loss_pct),
            ("Meyerding grade", &at.meyerding_grade),
            ("slip (±0.5 mm)", &at.slip_mm),
            ("direction", &at.direction),
            ("Cobb angle (±1°)", &at.cobb_degrees),
            ("required actions", &self.actions.required_recall),
        ];
        for (name, ratio) in lines {
            writeln!(f, "{:<24}{ratio}", name)?;
        }
        writeln!(
            f,
            "{:<24}{} emitted of {} listed ({} reports with gold actions)",
            "forbidden actions",
            self.actions.forbidden_emitted.hits,
            self.actions.forbidden_emitted.total,
            self.actions.reports
        )?;
        writeln!(f)?;
        writeln!(f, "status confusion (rows gold, columns predicted)")?;
        write!(f, "{:<12}", "")?;
        for l in STATUS_LABELS {
            write!(f, "{l:>10}")?;
        }
        writeln!(f)?;
        for (i, row) in self.status_confusion.counts.iter().enumerate() {
            write!(f, "{:<12}", STATUS_LABELS[i])?;
            for n in row {
                write!(f, "{n:>10}")?;
            }
            writeln!(f)?;
        }
        writeln!(f)?;
        writeln!(f, "presence by kind")?;
        for k in &self.by_kind {
            writeln!(
                f,
                "{:<16} {:>4} reports  f1 {}  (tp {}, fp {}, fn {})",
                k.kind,
                k.reports,
                rate(k.presence.f1()),
                k.presence.tp,
                k.presence.fp,
                k.presence.fn_
            )?;
        }
        writeln!(f)?;
        writeln!(f, "disagreements ({})", self.disagreements.len())?;
        let mut groups: Vec<(&str, &str, usize)> = Vec::new();
        for d in &self.disagreements {
            let c = d.concept.as_deref().unwrap_or("actions");
            match groups.iter_mut().find(|g| g.0 == c && g.1 == d.field) {
                Some(g) => g.2 += 1,
                None => groups.push((c, d.field, 1)),
            }
        }
        groups.sort_by_key(|g| std::cmp::Reverse(g.2));
        for (c, field, n) in groups {
            writeln!(f, "{n:>6}  {c} {field}")?;
        }
        for d in &self.disagreements {
            writeln!(f)?;
            writeln!(
                f,
                "{} {} {}: gold {}, predicted {}",
                d.report_id,
                d.concept.as_deref().unwrap_or("actions"),
                d.field,
                d.gold,
                d.predicted
            )?;
            for m in &d.mentions {
                writeln!(f, "    mention {m}")?;
            }
            writeln!(f, "    text: {}", d.snippet)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(gold: &str) -> String {
        format!(r#"{{"id": "r1", "text": "FINDINGS: T12 compression deformity.", "gold": {gold}}}"#)
    }

    fn err(data: &str) -> EvalError {
        parse_gold("g.jsonl", data).unwrap_err()
    }

    #[test]
    fn reads_every_field() {
        let data = concat!(
            r#"{"id": "a", "text": "x", "kind": "lumbar", "patient": {"age": 74, "sex": "f", "t_score": "-2.7", "cancer_history": true, "neuro_deficit": "no"},"#,
            r#" "gold": {"vertebral_fracture": {"status": "present", "levels": ["L1", "T12"], "severity": "mild", "acuity": "chronic", "genant_grade": 1, "height_loss_pct": 20},"#,
            r#" "spondylolisthesis": {"status": "present", "meyerding_grade": 1, "direction": "anterior", "slip_mm": 4.5}, "retropulsion": {"status": "absent"}},"#,
            r#" "actions": {"required": ["dxa"], "forbidden": ["avoid_routine_imaging"]}}"#,
            "\n\n",
            r#"{"id": "b", "text": "y", "gold": {}}"#,
        );
        let g = parse_gold("g.jsonl", data).unwrap();
        assert_eq!(g.len(), 2);
        let a = &g[0];
        assert_eq!(a.kind.as_deref(), Some("lumbar"));
        assert_eq!(a.patient.age, Some(74.0));
        assert_eq!(a.patient.sex.as_deref(), Some("F"));
        assert_eq!(a.patient.t_score, Some(-2.7));
        assert_eq!(a.patient.cancer_history, Some(true));
        assert_eq!(a.patient.neuro_deficit, Some(false));
        let f = a.concept(ConceptId::VERTEBRAL_FRACTURE).unwrap();
        assert_eq!(f.status, Status::Present);
        assert_eq!(f.levels.unwrap().to_string(), "T12;L1");
        assert_eq!(f.severity, Some(Severity::Mild));
        assert_eq!(f.acuity, Some(Acuity::Chronic));
        assert_eq!((f.genant_grade, f.height_loss_pct), (Some(1), Some(20.0)));
        let l = a.concept(ConceptId::SPONDYLOLISTHESIS).unwrap();
        assert_eq!(l.direction, Some(Direction::Anterior));
        assert_eq!((l.meyerding_grade, l.slip_mm), (Some(1), Some(4.5)));
        assert_eq!(
            a.concept(ConceptId::RETROPULSION).map(|c| c.status),
            Some(Status::Absent)
        );
        assert_eq!(a.concept(ConceptId::SCOLIOSIS), None);
        let acts = a.actions.as_ref().unwrap();
        assert_eq!(acts.required, ["dxa"]);
        assert_eq!(acts.forbidden, ["avoid_routine_imaging"]);
        assert_eq!(g[1].id, "b");
        assert!(g[1].concepts.iter().all(Option::is_none));
        assert!(g[1].patient.is_empty() && g[1].actions.is_none());
    }

    #[test]
    fn errors_name_the_line_and_the_allowed_values() {
        let data = format!(
            "{}\n{}",
            line("{}"),
            line(r#"{"fracture": {"status": "present"}}"#)
        );
        let e = err(&data);
        assert_eq!((e.path.as_str(), e.line), ("g.jsonl", 2));
        assert!(e.to_string().starts_with("g.jsonl:2: "), "{e}");
        assert!(e.message.contains("\"fracture\""), "{e}");
        assert!(
            e.message.contains("vertebral_fracture, retropulsion"),
            "{e}"
        );

        let e = err(&line(
            r#"{"scoliosis": {"status": "present", "severity": "huge"}}"#,
        ));
        assert!(e.message.contains("gold.scoliosis.severity"), "{e}");
        assert!(e.message.contains("mild, moderate, severe"), "{e}");

        let e = err(&line(r#"{"scoliosis": {"status": "likely"}}"#));
        assert!(e.message.contains("present, absent, uncertain"), "{e}");

        let e = err(&line(r#"{"scoliosis": {"severity": "mild"}}"#));
        assert!(
            e.message.contains("status") && e.message.contains("missing"),
            "{e}"
        );

        let e = err(&line(
            r#"{"vertebral_fracture": {"status": "present", "levels": ["T13"]}}"#,
        ));
        assert!(e.message.contains("\"T13\" is not a vertebra"), "{e}");

        let e = err(&line(
            r#"{"vertebral_fracture": {"status": "present", "genant_grade": 4}}"#,
        ));
        assert!(e.message.contains("1 to 3"), "{e}");

        let e = err(&line(
            r#"{"vertebral_fracture": {"status": "present", "grade": 2}}"#,
        ));
        assert!(
            e.message
                .contains("unknown field `gold.vertebral_fracture.grade`"),
            "{e}"
        );

        let e = err(&line(
            r#"{"kyphosis": {"status": "absent", "severity": "mild"}}"#,
        ));
        assert!(
            e.message.contains("absent concept carries no attributes"),
            "{e}"
        );

        let e = err(r#"{"id": "a", "text": "x", "gold": {}, "kind": "knee"}"#);
        assert!(e.message.contains("cervical, thoracic"), "{e}");

        let e = err(r#"{"id": "a", "text": "x", "gold": {}, "patient": {"weight": 70}}"#);
        assert!(e.message.contains("age, sex, t_score"), "{e}");

        let e = err(r#"{"id": "a", "text": "x", "gold": {}, "patient": {"age": "old"}}"#);
        assert!(e.message.contains("age: expected a number"), "{e}");

        let e =
            err(r#"{"id": "a", "text": "x", "gold": {}, "actions": {"required": ["DXA scan"]}}"#);
        assert!(e.message.contains("not an action id"), "{e}");

        let e = err(r#"{"id": "a", "text": "x"}"#);
        assert!(e.message.contains("missing `gold`"), "{e}");

        let e = err(r#"{"id": "a", "text": "x", "gold": {}, "note": 1}"#);
        assert!(e.message.contains("unknown field `note`"), "{e}");

        let e = err("{\"id\": \"a\", \"text\": ");
        assert!(e.message.starts_with("invalid JSON"), "{e}");
        assert!(!e.message.contains("at line"), "{e}");

        let e = err(&format!("{}\n{}", line("{}"), line("{}")));
        assert_eq!(e.line, 2);
        assert!(
            e.message.contains("duplicate id \"r1\" (first on line 1)"),
            "{e}"
        );
    }

    #[test]
    fn errors_do_not_quote_report_text() {
        let e = err(r#"{"id": "a", "text": ["Secret narrative about the patient"], "gold": {}}"#);
        assert!(!e.message.contains("Secret"), "{e}");
        assert!(e.message.contains("expected a string"), "{e}");
    }

    #[test]
    fn missing_file_is_an_error_without_a_line() {
        let e = load_gold(Path::new("/nonexistent/gold.jsonl")).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e
            .to_string()
            .starts_with("/nonexistent/gold.jsonl: cannot read"));
    }

    #[test]
    fn ids_are_unique_across_files() {
        let dir = std::env::temp_dir().join(format!("spinex-eval-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a.jsonl");
        let b = dir.join("b.jsonl");
        std::fs::write(&a, line("{}")).unwrap();
        std::fs::write(
            &b,
            format!("{}\n{}", line("{}").replace("r1", "r2"), line("{}")),
        )
        .unwrap();
        let ok = load_gold_files(&[&a]).unwrap();
        assert_eq!(ok.len(), 1);
        let e = load_gold_files(&[&a, &b]).unwrap_err();
        assert_eq!((e.path.as_str(), e.line), (b.to_str().unwrap(), 2));
        assert!(e.message.contains("duplicate id \"r1\""), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn zero_denominators_are_undefined() {
        assert_eq!(Ratio::default().rate(), None);
        assert_eq!(Ratio::default().to_string(), "- (0/0)");
        let p = Prf::default();
        assert_eq!((p.precision(), p.recall(), p.f1()), (None, None, None));
        let p = Prf {
            tp: 0,
            fp: 2,
            fn_: 0,
        };
        assert_eq!(
            (p.precision(), p.recall(), p.f1()),
            (Some(0.0), None, Some(0.0))
        );
        let p = Prf {
            tp: 3,
            fp: 1,
            fn_: 2,
        };
        assert_eq!(p.f1(), Some(6.0 / 9.0));
        let json = serde_json::to_value(Ratio { hits: 1, total: 4 }).unwrap();
        assert_eq!(json["rate"], 0.25);
    }

    /// An analysis with hand-set report-level results and one mention per listed concept.
    fn analysis(
        id: &str,
        results: &[(ConceptId, ConceptResult)],
        mentions: Vec<Mention>,
    ) -> Analysis {
        let mut concepts = vec![ConceptResult::default(); 11];
        for (c, r) in results {
            concepts[c.index()] = *r;
        }
        Analysis {
            report_id: id.into(),
            concepts,
            mentions,
            ..Analysis::default()
        }
    }

    fn result(status: Status, levels: &[&str]) -> ConceptResult {
        let mut l = Levels::EMPTY;
        for n in levels {
            l.insert(Levels::index_of(n).unwrap());
        }
        ConceptResult {
            status: Some(status),
            levels: l,
            ..ConceptResult::default()
        }
    }

    fn gold(id: &str, text: &str, labels: &[(ConceptId, GoldConcept)]) -> GoldReport {
        let mut g = GoldReport::new(id, text);
        for (c, l) in labels {
            g.concepts[c.index()] = Some(l.clone());
        }
        g
    }

    fn present_at(levels: &[&str]) -> GoldConcept {
        let mut g = GoldConcept::new(Status::Present);
        let mut l = Levels::EMPTY;
        for n in levels {
            l.insert(Levels::index_of(n).unwrap());
        }
        g.levels = Some(l);
        g
    }

    #[test]
    fn wrong_predictions_are_counted_and_listed() {
        let text = "FINDINGS: No compression fracture. Normal alignment.";
        let g = vec![
            gold(
                "r1",
                text,
                &[
                    (ConceptId::VERTEBRAL_FRACTURE, present_at(&["T12"])),
                    (ConceptId::MALALIGNMENT, GoldConcept::new(Status::Absent)),
                ],
            ),
            gold(
                "r2",
                "x",
                &[(ConceptId::SCOLIOSIS, present_at(&["T5", "T6"]))],
            ),
        ];
        let neg = Span::new(10, 12);
        let m = Mention {
            concept: ConceptId::VERTEBRAL_FRACTURE,
            span: Span::new(13, 33),
            section: SectionKind::Findings,
            sentence: 0,
            term: 0,
            negated: Some(neg),
            uncertain: None,
            historical: None,
            hypothetical: None,
            attrs: Attributes::default(),
        };
        let a = vec![
            analysis(
                "r1",
                &[
                    (ConceptId::VERTEBRAL_FRACTURE, result(Status::Absent, &[])),
                    (ConceptId::MALALIGNMENT, result(Status::Absent, &[])),
                    (ConceptId::HARDWARE, result(Status::Present, &[])),
                ],
                vec![m],
            ),
            analysis(
                "r2",
                &[(ConceptId::SCOLIOSIS, result(Status::Present, &["T5"]))],
                vec![],
            ),
        ];
        let r = score(&g, &a);
        let vf = &r.concepts[0];
        assert_eq!((vf.presence.tp, vf.presence.fp, vf.presence.fn_), (0, 0, 1));
        let hw = &r.concepts[ConceptId::HARDWARE.index()];
        assert_eq!((hw.presence.tp, hw.presence.fp, hw.presence.fn_), (0, 1, 0));
        let sc = &r.concepts[ConceptId::SCOLIOSIS.index()];
        assert_eq!(sc.presence.tp, 1);
        assert_eq!(
            (
                r.presence_micro.tp,
                r.presence_micro.fp,
                r.presence_micro.fn_
            ),
            (1, 1, 1)
        );
        assert_eq!(r.presence_micro.f1(), Some(0.5));
        // pairs with a status: r1 fracture, malalignment, hardware; r2 scoliosis
        assert_eq!(r.status_agreement, Ratio { hits: 2, total: 4 });
        assert_eq!(r.status_confusion.counts[0][1], 1); // gold present, predicted absent
        assert_eq!(r.status_confusion.counts[3][0], 1); // gold blank, predicted present
        assert_eq!(r.status_confusion.counts[3][3], 22 - 4);
        assert_eq!(r.negation.recall, Ratio { hits: 1, total: 1 });
        assert_eq!(r.negation.precision, Ratio { hits: 1, total: 2 });
        assert_eq!(r.attributes.levels_exact, Ratio { hits: 0, total: 2 });
        assert_eq!(
            r.attributes.levels_exact_fracture,
            Ratio { hits: 0, total: 1 }
        );

        let fields: Vec<(&str, Option<&str>, &str, &str, &str)> = r
            .disagreements
            .iter()
            .map(|d| {
                (
                    d.report_id.as_str(),
                    d.concept.as_deref(),
                    d.field,
                    d.gold.as_str(),
                    d.predicted.as_str(),
                )
            })
            .collect();
        assert_eq!(
            fields,
            [
                (
                    "r1",
                    Some("vertebral_fracture"),
                    "status",
                    "present",
                    "absent"
                ),
                ("r1", Some("vertebral_fracture"), "levels", "T12", "-"),
                ("r1", Some("hardware"), "status", "blank", "present"),
                ("r2", Some("scoliosis"), "levels", "T5;T6", "T5"),
            ]
        );
        let d = &r.disagreements[0];
        assert_eq!(
            d.snippet,
            "FINDINGS: No [compression fracture]. Normal alignment."
        );
        assert_eq!(d.mentions[0].negated.as_deref(), Some("No"));
        let shown = r.to_string();
        assert!(shown.contains("r1 vertebral_fracture status: gold present, predicted absent"));
        assert!(shown.contains("mention \"compression fracture\" (findings, negated by \"No\")"));
        assert!(shown.contains("r2 scoliosis levels: gold T5;T6, predicted T5"));
        assert!(shown.contains("disagreements (4)\n     1  vertebral_fracture status\n     1  vertebral_fracture levels\n     1  hardware status"));
    }

    #[test]
    fn attributes_come_from_the_mentions_that_set_the_status() {
        let mk = |status: Option<Status>, dir: Direction, cobb: f32, negated: bool| Mention {
            concept: ConceptId::SCOLIOSIS,
            span: Span::new(0, 1),
            section: SectionKind::Findings,
            sentence: 0,
            term: 0,
            negated: negated.then_some(Span::new(0, 0)),
            uncertain: None,
            historical: status.is_none().then_some(Span::new(0, 0)),
            hypothetical: None,
            attrs: Attributes {
                direction: Some(dir),
                cobb_degrees: Some(cobb),
                ..Attributes::default()
            },
        };
        let a = analysis(
            "r",
            &[(ConceptId::SCOLIOSIS, result(Status::Present, &[]))],
            vec![
                mk(Some(Status::Present), Direction::Levo, 12.0, false),
                mk(Some(Status::Present), Direction::Dextro, 24.0, false),
                mk(None, Direction::Levo, 40.0, false),
                mk(Some(Status::Present), Direction::Levo, 50.0, true),
            ],
        );
        let p = Predicted::of(&a, ConceptId::SCOLIOSIS);
        assert_eq!(p.cobb_degrees, Some(24.0));
        assert_eq!(p.direction, Some(Direction::Dextro));
    }

    #[test]
    fn actions_are_scored() {
        let mut g = GoldReport::new("r", "FINDINGS: none.");
        g.actions = Some(GoldActions {
            required: vec!["dxa".into(), "calcium_vitamin_d".into()],
            forbidden: vec!["avoid_routine_imaging".into()],
        });
        let mut a = analysis("r", &[], vec![]);
        for action in ["dxa", "avoid_routine_imaging"] {
            a.recommendations.push(Recommendation {
                action: action.into(),
                rule: "R".into(),
                strength: Strength::Recommended,
                condition: None,
                urgency: Urgency::Routine,
                rationale: Text::default(),
                evidence: vec![],
                source: Text::default(),
            });
        }
        let r = score(&[g], &[a]);
        assert_eq!(r.actions.reports, 1);
        assert_eq!(r.actions.required_recall, Ratio { hits: 1, total: 2 });
        assert_eq!(r.actions.forbidden_emitted, Ratio { hits: 1, total: 1 });
        let d: Vec<_> = r
            .disagreements
            .iter()
            .map(|d| (d.field, d.gold.as_str()))
            .collect();
        assert_eq!(
            d,
            [
                ("required_action", "calcium_vitamin_d"),
                ("forbidden_action", "avoid_routine_imaging")
            ]
        );
    }

    #[test]
    fn evaluates_the_pipeline() {
        let text = "FINDINGS: Mild T12 compression deformity. No spondylolisthesis.";
        let mut right = gold(
            "ok",
            text,
            &[
                (ConceptId::VERTEBRAL_FRACTURE, present_at(&["T12"])),
                (
                    ConceptId::SPONDYLOLISTHESIS,
                    GoldConcept::new(Status::Absent),
                ),
            ],
        );
        right.concepts[0].as_mut().unwrap().severity = Some(Severity::Mild);
        // Deliberately wrong gold: the listhesis is denied in the text.
        let wrong = gold(
            "wrong",
            text,
            &[
                (ConceptId::VERTEBRAL_FRACTURE, present_at(&["T12"])),
                (
                    ConceptId::SPONDYLOLISTHESIS,
                    GoldConcept::new(Status::Present),
                ),
            ],
        );
        let r = evaluate(&Pipeline::builtin(), &[right, wrong]);
        assert_eq!(r.reports, 2);
        assert_eq!(
            r.attributes.levels_exact_fracture,
            Ratio { hits: 2, total: 2 }
        );
        assert_eq!(r.attributes.severity, Ratio { hits: 1, total: 1 });
        assert_eq!(r.negation.recall, Ratio { hits: 1, total: 1 });
        assert_eq!(r.disagreements.len(), 1);
        let d = &r.disagreements[0];
        assert_eq!(
            (
                d.report_id.as_str(),
                d.concept.as_deref(),
                d.gold.as_str(),
                d.predicted.as_str()
            ),
            ("wrong", Some("spondylolisthesis"), "present", "absent")
        );
        assert!(
            d.snippet.contains("No [spondylolisthesis]."),
            "{}",
            d.snippet
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["concepts"][3]["presence"]["fp"], 0);
        assert_eq!(json["concepts"][3]["presence"]["fn"], 1);
        assert_eq!(json["disagreements"][0]["field"], "status");
    }

    #[test]
    fn snippets_are_bounded_and_char_safe() {
        let text = format!("{}T12 fracture{}", "é".repeat(200), "\n°".repeat(100));
        let start = text.find("T12").unwrap();
        let s = snippet_at(&text, Some(Span::new(start, start + 12)));
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(
            s.contains(&format!("{}[T12 fracture] / °", "é".repeat(80))),
            "{s}"
        );
        assert_eq!(s.matches('é').count(), 80);
        assert_eq!(s.matches('°').count(), 40);
        let s = snippet_at("short text", None);
        assert_eq!(s, "short text");
        let s = snippet_at(&"a".repeat(500), None);
        assert_eq!(s.chars().count(), 161);
    }
}
