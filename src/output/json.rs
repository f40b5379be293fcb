//! One `results.jsonl` line: the report's `reports.csv` row as typed JSON (statuses as strings,
//! levels and actions as arrays, in the column order of `reports.csv`, with the reading
//! `warnings` as an array), then its `mentions`, `recommendations`, `cautions` and `flags` as
//! arrays of objects with the fields of the matching tables (where `reports.csv` lists only the
//! caution and flag ids). Offsets are character offsets, as in the CSV tables.
//!
//! The line is compact: a key whose value would be `null`, an empty string or an empty array is
//! left out (the four detail arrays are always there); a mention gives the index of its
//! sentence (`sentence_index`), not the sentence's text again; and the `evidence` of a
//! recommendation, caution or flag is a list of indices into the line's `mentions`, where each
//! mention's concept, text and offsets already are. Written straight from the
//! analysis with the byte encoders of this module's siblings, without an intermediate tree.

use super::enc;
use super::render::FixedTexts;
use super::tables::{flag_text, triggers, ReportExtras, Tables};
use crate::model::*;
use crate::span::CharIndex;

/// A JSON writer that places commas itself: every key or array element after the first in its
/// container is preceded by one.
struct Json<'o> {
    out: &'o mut Vec<u8>,
    comma: bool,
}

impl Json<'_> {
    fn open(&mut self, c: u8) {
        self.out.push(c);
        self.comma = false;
    }
    fn close(&mut self, c: u8) {
        self.out.push(c);
        self.comma = true;
    }
    /// A key; `name` is written as is (keys are plain ASCII words).
    fn key(&mut self, name: &str) {
        if self.comma {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.comma = false;
    }
    /// A key that may hold any text (a user concept name), then `suffix`.
    fn key_escaped(&mut self, name: &str, suffix: &str) {
        if self.comma {
            self.out.push(b',');
        }
        self.out.push(b'"');
        enc::json_escape(self.out, name);
        self.out.extend_from_slice(suffix.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.comma = false;
    }
    fn elem(&mut self) {
        if self.comma {
            self.out.push(b',');
        }
        self.comma = true;
    }
    /// A value already encoded as JSON.
    fn raw_val(&mut self, v: &[u8]) {
        self.out.extend_from_slice(v);
        self.comma = true;
    }
    /// A string that needs no escaping (a stable lowercase name).
    fn name_val(&mut self, s: &str) {
        self.out.push(b'"');
        self.out.extend_from_slice(s.as_bytes());
        self.out.push(b'"');
        self.comma = true;
    }
    fn str_val(&mut self, s: &str) {
        enc::json_str(self.out, s);
        self.comma = true;
    }
    fn uint_val(&mut self, n: u64) {
        enc::uint(self.out, n);
        self.comma = true;
    }
    fn bool_val(&mut self, b: bool) {
        self.out
            .extend_from_slice(if b { b"true" } else { b"false" });
        self.comma = true;
    }
    fn f32_val(&mut self, v: f32) {
        // serde_json's own float format (`2.5`, `20.0`; `null` for a non-finite value).
        let _ = serde_json::to_writer(&mut *self.out, &v);
        self.comma = true;
    }
    /// `"key":"value"` unless `value` is empty.
    fn str_field(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.key(key);
            self.str_val(value);
        }
    }
    /// `"key":"name"` for a stable lowercase name, unless `None`.
    fn opt_name(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.key(key);
            self.name_val(v);
        }
    }
    fn opt_uint(&mut self, key: &str, value: Option<u64>) {
        if let Some(v) = value {
            self.key(key);
            self.uint_val(v);
        }
    }
    fn opt_f32(&mut self, key: &str, value: Option<f32>) {
        if let Some(v) = value {
            self.key(key);
            self.f32_val(v);
        }
    }
    fn levels_val(&mut self, levels: Levels) {
        self.out.push(b'[');
        enc::levels(self.out, levels, b',', Some(b'"'));
        self.close(b']');
    }
    /// An array of strings under `key`, left out when empty.
    fn strs<'s>(&mut self, key: &str, items: impl ExactSizeIterator<Item = &'s str>) {
        if items.len() == 0 {
            return;
        }
        self.key(key);
        self.open(b'[');
        for s in items {
            self.elem();
            self.str_val(s);
        }
        self.close(b']');
    }
}

/// Appends the JSON object of one report (no trailing newline).
pub(crate) fn write_report(
    out: &mut Vec<u8>,
    t: &Tables,
    fixed: &FixedTexts,
    report: &Report,
    a: &Analysis,
    chars: &CharIndex,
) {
    let text = report.text.as_str();
    let result = |i: usize| a.concepts.get(i).copied().unwrap_or_default();
    let mut j = Json { out, comma: false };
    j.open(b'{');
    j.key("report_id");
    j.str_val(&report.id);
    let concepts = t.concepts();
    let builtin = BUILTIN_CONCEPTS.len().min(concepts.len());
    let status = |j: &mut Json, range: std::ops::Range<usize>| {
        for i in range {
            if let Some(s) = result(i).status {
                j.key_escaped(&concepts[i], "");
                j.name_val(s.as_str());
            }
        }
    };
    let levels = |j: &mut Json, range: std::ops::Range<usize>| {
        for i in range {
            let l = result(i).levels;
            if !l.is_empty() {
                j.key_escaped(&concepts[i], "_levels");
                j.levels_val(l);
            }
        }
    };
    status(&mut j, 0..builtin);
    levels(&mut j, 0..builtin);
    let vf = result(ConceptId::VERTEBRAL_FRACTURE.index());
    j.opt_name(
        "vertebral_fracture_severity",
        vf.severity.map(Severity::as_str),
    );
    j.opt_name("vertebral_fracture_acuity", vf.acuity.map(Acuity::as_str));
    j.strs(
        "actions",
        a.recommendations.iter().map(|r| r.action.as_str()),
    );
    status(&mut j, builtin..concepts.len());
    levels(&mut j, builtin..concepts.len());
    let x = ReportExtras::of(a);
    j.opt_uint(
        "vertebral_fracture_genant_grade",
        x.genant_grade.map(u64::from),
    );
    j.opt_uint(
        "spondylolisthesis_meyerding_grade",
        x.meyerding_grade.map(u64::from),
    );
    j.opt_f32("scoliosis_cobb_degrees", x.cobb_degrees);
    j.strs("warnings", a.warnings.iter().map(String::as_str));

    j.key("mentions");
    j.open(b'[');
    for m in &a.mentions {
        j.elem();
        j.open(b'{');
        j.key("concept");
        j.raw_val(fixed.concept(m.concept).json_bytes());
        j.key("start");
        j.uint_val(chars.char_offset(m.span.start) as u64);
        j.key("end");
        j.uint_val(chars.char_offset(m.span.end) as u64);
        j.key("text");
        j.str_val(text.get(m.span.start..m.span.end).unwrap_or(""));
        j.key("section");
        j.name_val(m.section.as_str());
        j.key("negated");
        j.bool_val(m.negated.is_some());
        j.key("uncertain");
        j.bool_val(m.uncertain.is_some());
        j.key("historical");
        j.bool_val(m.historical.is_some());
        j.key("hypothetical");
        j.bool_val(m.hypothetical.is_some());
        if !m.attrs.levels.is_empty() {
            j.key("levels");
            j.levels_val(m.attrs.levels);
        }
        j.opt_name("severity", m.attrs.severity.map(Severity::as_str));
        j.opt_name("acuity", m.attrs.acuity.map(Acuity::as_str));
        let mut trig = triggers(text, m).peekable();
        if trig.peek().is_some() {
            j.key("trigger");
            j.out.push(b'"');
            for (i, s) in trig.enumerate() {
                if i > 0 {
                    j.out.push(b';');
                }
                enc::json_escape(j.out, s);
            }
            j.out.push(b'"');
            j.comma = true;
        }
        if !t.term(m).is_empty() {
            j.key("term");
            j.raw_val(fixed.term(m).json_bytes());
        }
        j.opt_name("region", m.attrs.region.map(Region::as_str));
        j.opt_uint("genant_grade", m.attrs.genant_grade.map(u64::from));
        j.opt_f32("height_loss_pct", m.attrs.height_loss_pct);
        j.opt_uint("meyerding_grade", m.attrs.meyerding_grade.map(u64::from));
        j.opt_f32("slip_mm", m.attrs.slip_mm);
        j.opt_f32("cobb_degrees", m.attrs.cobb_degrees);
        j.opt_name("direction", m.attrs.direction.map(Direction::as_str));
        j.str_field("negated_trigger", flag_text(text, m.negated));
        j.str_field("uncertain_trigger", flag_text(text, m.uncertain));
        j.str_field("historical_trigger", flag_text(text, m.historical));
        j.str_field("hypothetical_trigger", flag_text(text, m.hypothetical));
        j.key("sentence_index");
        j.uint_val(u64::from(m.sentence));
        j.close(b'}');
    }
    j.close(b']');

    // Evidence: indices into this line's `mentions`.
    let ev = |j: &mut Json, idx: &[u32]| {
        let n = a.mentions.len();
        if !idx.iter().any(|&i| (i as usize) < n) {
            return;
        }
        j.key("evidence");
        j.open(b'[');
        for &i in idx.iter().filter(|&&i| (i as usize) < n) {
            j.elem();
            j.uint_val(u64::from(i));
        }
        j.close(b']');
    };

    j.key("recommendations");
    j.open(b'[');
    for r in &a.recommendations {
        let (rationale, source) = fixed.rule(&r.rule);
        j.elem();
        j.open(b'{');
        j.key("action");
        j.str_val(&r.action);
        j.key("rule");
        j.str_val(&r.rule);
        j.key("strength");
        j.name_val(r.strength.as_str());
        j.key("urgency");
        j.name_val(r.urgency.as_str());
        if !r.rationale.is_empty() {
            j.key("rationale");
            rationale.json(j.out, &r.rationale);
            j.comma = true;
        }
        ev(&mut j, &r.evidence);
        if !r.source.is_empty() {
            j.key("source");
            source.json(j.out, &r.source);
            j.comma = true;
        }
        j.opt_name("condition", r.condition.as_deref());
        j.close(b'}');
    }
    j.close(b']');

    j.key("cautions");
    j.open(b'[');
    for c in &a.cautions {
        let (message, source) = fixed.caution(&c.id);
        j.elem();
        j.open(b'{');
        j.key("caution");
        j.str_val(&c.id);
        j.key("rule");
        j.str_val(&c.rule);
        if !c.message.is_empty() {
            j.key("message");
            message.json(j.out, &c.message);
            j.comma = true;
        }
        ev(&mut j, &c.evidence);
        if !c.source.is_empty() {
            j.key("source");
            source.json(j.out, &c.source);
            j.comma = true;
        }
        j.close(b'}');
    }
    j.close(b']');

    j.key("flags");
    j.open(b'[');
    for f in &a.flags {
        j.elem();
        j.open(b'{');
        j.key("flag");
        j.str_val(&f.flag);
        j.key("severity");
        j.name_val(f.severity.as_str());
        j.str_field("message", &f.message);
        ev(&mut j, &f.evidence);
        j.close(b'}');
    }
    j.close(b']');
    j.close(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Pipeline;

    fn line(report: &Report, a: &Analysis) -> String {
        let p = Pipeline::builtin();
        let t = Tables::new(&p);
        let fixed = FixedTexts::new(&p);
        let chars = CharIndex::new(&report.text);
        let mut buf = Vec::new();
        write_report(&mut buf, &t, &fixed, report, a, &chars);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn keys_follow_the_reports_columns_then_details() {
        let report = Report::new("r1", "FINDINGS: 30° kyphosis – T12 \"fracture\".");
        let start = report.text.find("fracture").unwrap();
        let mut a = Analysis {
            concepts: vec![ConceptResult::default(); 11],
            ..Analysis::default()
        };
        a.concepts[0].status = Some(Status::Present);
        a.concepts[0].levels.insert(18);
        a.warnings.push("w".into());
        a.mentions.push(Mention {
            concept: ConceptId::VERTEBRAL_FRACTURE,
            span: Span::new(start, start + 8),
            section: SectionKind::Findings,
            sentence: 0,
            term: 0,
            negated: Some(Span::new(0, 8)),
            uncertain: None,
            historical: None,
            hypothetical: None,
            attrs: Attributes {
                slip_mm: Some(2.5),
                ..Attributes::default()
            },
        });
        a.recommendations.push(Recommendation {
            action: "dxa".into(),
            rule: "R1".into(),
            strength: Strength::Conditional,
            condition: Some("if T-score unknown".into()),
            urgency: Urgency::Routine,
            rationale: "why, \"quoted\"".into(),
            evidence: vec![0],
            source: "seed".into(),
        });
        let line = line(&report, &a);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["report_id"], "r1");
        assert_eq!(v["vertebral_fracture"], "present");
        assert!(v.get("retropulsion").is_none(), "no null statuses");
        assert!(v.get("retropulsion_levels").is_none(), "no empty levels");
        assert_eq!(v["vertebral_fracture_levels"], serde_json::json!(["T12"]));
        assert_eq!(v["actions"], serde_json::json!(["dxa"]));
        assert_eq!(v["warnings"], serde_json::json!(["w"]));
        let m = &v["mentions"][0];
        assert_eq!(m["start"], 30);
        assert_eq!(m["text"], "fracture");
        assert_eq!(m["negated"], true);
        assert_eq!(m["uncertain"], false);
        assert_eq!(m["trigger"], "FINDINGS");
        assert_eq!(m["negated_trigger"], "FINDINGS");
        assert_eq!(m["slip_mm"], 2.5);
        assert_eq!(m["sentence_index"], 0);
        assert!(m.get("severity").is_none() && m.get("sentence").is_none());
        let r = &v["recommendations"][0];
        assert_eq!(r["evidence"], serde_json::json!([0]));
        assert_eq!(r["rationale"], "why, \"quoted\"");
        assert_eq!(r["condition"], "if T-score unknown");
        assert_eq!(v["cautions"], serde_json::json!([]));
        assert_eq!(v["flags"], serde_json::json!([]));
        let keys: Vec<usize> = [
            "\"report_id\"",
            "\"vertebral_fracture\"",
            "\"vertebral_fracture_levels\"",
            "\"actions\"",
            "\"warnings\"",
            "\"mentions\"",
            "\"recommendations\"",
            "\"cautions\"",
            "\"flags\"",
        ]
        .iter()
        .map(|k| line.find(k).unwrap())
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{line}");
    }

    #[test]
    fn rule_texts_come_out_the_same_encoded_once_or_as_they_come() {
        let p = Pipeline::builtin();
        let rule = &p.rules().rules()[0];
        let report = Report::new("r", "x");
        let mut a = Analysis::default();
        let mut rec = Recommendation {
            action: "dxa".into(),
            rule: rule.id().into(),
            strength: Strength::Recommended,
            condition: None,
            urgency: Urgency::Routine,
            rationale: rule.rationale().into(),
            evidence: vec![],
            source: rule.source().into(),
        };
        a.recommendations.push(rec.clone());
        let fixed = line(&report, &a);
        rec.rule = "no.such.rule".into();
        a.recommendations[0] = rec;
        let fresh = line(&report, &a).replace("no.such.rule", rule.id());
        assert_eq!(fixed, fresh);
        let v: serde_json::Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(v["recommendations"][0]["rationale"], rule.rationale());
        assert!(v.get("vertebral_fracture").is_none());
    }
}
