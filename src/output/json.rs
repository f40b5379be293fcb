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
use super::fixed::FixedTexts;
#[cfg(test)]
use super::render::Parts;
use super::shared::{EvidenceOf, Shared};
use super::tables::Tables;
use crate::model::*;

/// Appends `"name"`, a stable name (a status, a severity, a strength ...): a plain lowercase
/// word, which needs no escapes.
#[inline]
fn name(out: &mut Vec<u8>, name: &'static str) {
    debug_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    out.reserve(name.len() + 2);
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.push(b'"');
}

/// Appends `key` (the comma, the quoted key and the colon: `,"key":`) and the quoted name,
/// unless `None`.
#[inline(always)]
fn opt_name(out: &mut Vec<u8>, key: &[u8], value: Option<&'static str>) {
    if let Some(v) = value {
        out.extend_from_slice(key);
        name(out, v);
    }
}

/// Appends `key` and the integer, unless `None`.
#[inline]
fn opt_uint(out: &mut Vec<u8>, key: &[u8], value: Option<u64>) {
    if let Some(v) = value {
        out.extend_from_slice(key);
        enc::uint(out, v);
    }
}

/// Appends `key` and the number in serde_json's own float format (`2.5`, `20.0`; `null` for
/// a value that is not finite), unless `None`.
#[inline(always)]
fn opt_f32(out: &mut Vec<u8>, key: &[u8], value: Option<f32>) {
    if let Some(v) = value {
        f32_field(out, key, v);
    }
}

/// [`opt_f32`] of a value.
fn f32_field(out: &mut Vec<u8>, key: &[u8], v: f32) {
    out.extend_from_slice(key);
    match enc::f32_tenths(v) {
        Some(tenths) => enc::tenths(out, tenths, b".0"),
        None => {
            // Writing into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, &v);
        }
    }
}

/// Appends `key` and the string, unless it is empty; `plain` when it is known to need no
/// escapes.
#[inline(always)]
fn str_field(out: &mut Vec<u8>, key: &[u8], value: &[u8], plain: bool) {
    if !value.is_empty() {
        out.extend_from_slice(key);
        out.push(b'"');
        if plain {
            out.extend_from_slice(value);
        } else {
            enc::json_escape(out, value);
        }
        out.push(b'"');
    }
}

/// Appends `["T11","T12"]`.
#[inline]
fn levels(out: &mut Vec<u8>, levels: Levels) {
    out.push(b'[');
    enc::levels(out, levels, enc::LevelFormat::Json);
    out.push(b']');
}

/// Appends `key` and an array of strings, unless there are none.
fn strs<'s>(out: &mut Vec<u8>, key: &[u8], items: impl ExactSizeIterator<Item = &'s str>) {
    if items.len() == 0 {
        return;
    }
    out.extend_from_slice(key);
    out.push(b'[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        enc::json_str(out, s);
    }
    out.push(b']');
}

/// Appends `,"evidence":[...]`, the indices into the line's `mentions` (`n` of them), unless
/// none is in range.
pub(crate) fn evidence(out: &mut Vec<u8>, idx: &[u32], n: usize) {
    let mut first = true;
    for &i in idx.iter().filter(|&&i| (i as usize) < n) {
        if first {
            out.extend_from_slice(b",\"evidence\":[");
            first = false;
        } else {
            out.push(b',');
        }
        enc::uint(out, u64::from(i));
    }
    if !first {
        out.push(b']');
    }
}

/// Appends the evidence of a recommendation, caution or flag: worked out once per report and
/// evidence list, or else written now.
#[inline]
fn evidence_of(out: &mut Vec<u8>, cx: &Shared, of: EvidenceOf, i: usize, idx: &[u32], n: usize) {
    match cx.evidence(of, i, true) {
        Some(json) => out.extend_from_slice(json),
        None => evidence(out, idx, n),
    }
}

/// Appends the keys of a mention's region, grades, measures and direction that it has.
fn attribute_extras(out: &mut Vec<u8>, at: &Attributes) {
    opt_name(out, b",\"region\":", at.region.map(Region::as_str));
    opt_uint(out, b",\"genant_grade\":", at.genant_grade.map(u64::from));
    opt_f32(out, b",\"height_loss_pct\":", at.height_loss_pct);
    opt_uint(
        out,
        b",\"meyerding_grade\":",
        at.meyerding_grade.map(u64::from),
    );
    opt_f32(out, b",\"slip_mm\":", at.slip_mm);
    opt_f32(out, b",\"cobb_degrees\":", at.cobb_degrees);
    opt_name(out, b",\"direction\":", at.direction.map(Direction::as_str));
}

/// Appends the JSON object of one report (no trailing newline). Every object starts with a key
/// that is always there, so every later key is written with its comma, as one literal.
pub(crate) fn write_report(
    out: &mut Vec<u8>,
    t: &Tables,
    fixed: &FixedTexts,
    report: &Report,
    a: &Analysis,
    cx: &Shared,
) {
    let bytes = report.text.as_bytes();
    let result = |i: usize| a.concepts.get(i).copied().unwrap_or_default();
    out.extend_from_slice(b"{\"report_id\":");
    enc::json_str(out, &report.id);
    let concepts = t.concepts().len();
    let builtin = BUILTIN_CONCEPTS.len().min(concepts);
    // The results of the concepts in `range` that the analysis has (a missing one would be
    // left out anyway: no status, no levels), with their indices.
    let results = |range: std::ops::Range<usize>| {
        let n = a.concepts.len();
        let results = &a.concepts[range.start.min(n)..range.end.min(n)];
        results.iter().zip(range.start..)
    };
    let status = |out: &mut Vec<u8>, range: std::ops::Range<usize>| {
        for (r, i) in results(range) {
            if let Some(s) = r.status {
                out.extend_from_slice(fixed.concept_key(i, false));
                name(out, s.as_str());
            }
        }
    };
    let all_levels = |out: &mut Vec<u8>, range: std::ops::Range<usize>| {
        for (r, i) in results(range) {
            if !r.levels.is_empty() {
                out.extend_from_slice(fixed.concept_key(i, true));
                levels(out, r.levels);
            }
        }
    };
    status(out, 0..builtin);
    all_levels(out, 0..builtin);
    let vf = result(ConceptId::VERTEBRAL_FRACTURE.index());
    opt_name(
        out,
        b",\"vertebral_fracture_severity\":",
        vf.severity.map(Severity::as_str),
    );
    opt_name(
        out,
        b",\"vertebral_fracture_acuity\":",
        vf.acuity.map(Acuity::as_str),
    );
    for (i, r) in a.recommendations.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b",\"actions\":[" } else { b"," });
        let same = cx.recommendation(i);
        fixed
            .action_at(same.action)
            .json_if(out, &r.action, same.action_id);
    }
    if !a.recommendations.is_empty() {
        out.push(b']');
    }
    status(out, builtin..concepts);
    all_levels(out, builtin..concepts);
    let x = &cx.extras;
    opt_uint(
        out,
        b",\"vertebral_fracture_genant_grade\":",
        x.genant_grade.map(u64::from),
    );
    opt_uint(
        out,
        b",\"spondylolisthesis_meyerding_grade\":",
        x.meyerding_grade.map(u64::from),
    );
    opt_f32(out, b",\"scoliosis_cobb_degrees\":", x.cobb_degrees);
    strs(
        out,
        b",\"warnings\":",
        a.warnings.iter().map(String::as_str),
    );

    out.extend_from_slice(b",\"mentions\":[");
    for (i, m) in a.mentions.iter().enumerate() {
        // The head of every mention but the first starts with the comma before it.
        out.extend_from_slice(&fixed.mention_head(m.concept)[usize::from(i == 0)..]);
        let share = cx.mention(i);
        enc::uint(out, share.start as u64);
        out.extend_from_slice(b",\"end\":");
        enc::uint(out, share.end as u64);
        out.extend_from_slice(b",\"text\":\"");
        let mention = &bytes[share.text.0..share.text.1];
        if share.json_plain {
            out.extend_from_slice(mention);
        } else {
            enc::json_escape(out, mention);
        }
        // The quote that ends the text, the section and the flags.
        out.extend_from_slice(fixed.section_and_flags(m.section, share.bits, true));
        if !m.attrs.levels.is_empty() {
            out.extend_from_slice(b",\"levels\":");
            levels(out, m.attrs.levels);
        }
        opt_name(
            out,
            b",\"severity\":",
            m.attrs.severity.map(Severity::as_str),
        );
        opt_name(out, b",\"acuity\":", m.attrs.acuity.map(Acuity::as_str));
        if let Some(trigger) = cx.trigger(i) {
            out.extend_from_slice(b",\"trigger\":\"");
            if share.triggers_plain {
                out.extend_from_slice(trigger.as_bytes());
            } else {
                enc::json_escape(out, trigger.as_bytes());
            }
            out.push(b'"');
        }
        out.extend_from_slice(fixed.term_field(m));
        if share.extras {
            attribute_extras(out, &m.attrs);
        }
        if share.bits != 0 {
            let plain = share.triggers_plain;
            let [negated, uncertain, historical, hypothetical] =
                share.flags.map(|(from, to)| &bytes[from..to]);
            str_field(out, b",\"negated_trigger\":", negated, plain);
            str_field(out, b",\"uncertain_trigger\":", uncertain, plain);
            str_field(out, b",\"historical_trigger\":", historical, plain);
            str_field(out, b",\"hypothetical_trigger\":", hypothetical, plain);
        }
        out.extend_from_slice(b",\"sentence_index\":");
        enc::uint(out, u64::from(m.sentence));
        out.push(b'}');
    }

    // Evidence: indices into this line's `mentions`.
    let n = a.mentions.len();
    out.extend_from_slice(b"],\"recommendations\":[");
    for (i, r) in a.recommendations.iter().enumerate() {
        let same = cx.recommendation(i);
        let rule = fixed.rule_at(same.rule);
        // The parts that are the rule's are copied whole; the others are written field by
        // field.
        let parts = fixed.rule_parts(same.rule);
        if i > 0 {
            out.push(b',');
        }
        if let Some(json) = parts.prefix(&same, r.strength, r.urgency, true) {
            out.extend_from_slice(json);
        } else {
            match parts.head(&same, true) {
                Some(json) => out.extend_from_slice(json),
                None => {
                    out.extend_from_slice(b"{\"action\":");
                    fixed
                        .action_at(same.action)
                        .json_if(out, &r.action, same.action_id);
                    out.extend_from_slice(b",\"rule\":");
                    rule.id.json_if(out, &r.rule, same.id);
                }
            }
            match parts.body(&same, r.strength, r.urgency, true) {
                Some(json) => out.extend_from_slice(json),
                None => {
                    out.extend_from_slice(b",\"strength\":");
                    name(out, r.strength.as_str());
                    out.extend_from_slice(b",\"urgency\":");
                    name(out, r.urgency.as_str());
                    if !r.rationale.is_empty() {
                        out.extend_from_slice(b",\"rationale\":");
                        rule.rationale.json_if(out, &r.rationale, same.rationale);
                    }
                }
            }
        }
        evidence_of(out, cx, EvidenceOf::Recommendation, i, &r.evidence, n);
        // No condition, or the rule's own.
        let tail = match r.condition {
            None => parts.tail(&same, false, true),
            Some(_) if same.condition => parts.tail(&same, true, true),
            Some(_) => None,
        };
        if let Some(json) = tail {
            out.extend_from_slice(json);
            continue;
        }
        if !r.source.is_empty() {
            out.extend_from_slice(b",\"source\":");
            rule.source.json_if(out, &r.source, same.source);
        }
        if let Some(condition) = r.condition.as_deref() {
            out.extend_from_slice(b",\"condition\":");
            match cx.condition(i, true) {
                Some(json) => out.extend_from_slice(json),
                None => rule.condition.json_if(out, condition, same.condition),
            }
        }
        out.push(b'}');
    }

    out.extend_from_slice(b"],\"cautions\":[");
    for (i, c) in a.cautions.iter().enumerate() {
        let same = cx.caution(i);
        let caution = fixed.caution_at(same.caution);
        if i > 0 {
            out.push(b',');
        }
        // The caution id, rule id and message in one copy when all are theirs.
        if let Some(head) = fixed.rule_parts(same.rule).caution_head(&same, true) {
            out.extend_from_slice(head);
        } else {
            out.extend_from_slice(b"{\"caution\":");
            caution.id.json_if(out, &c.id, same.id);
            out.extend_from_slice(b",\"rule\":");
            (fixed.rule_at(same.rule).id).json_if(out, &c.rule, same.rule_id);
            if !c.message.is_empty() {
                out.extend_from_slice(b",\"message\":");
                caution.message.json_if(out, &c.message, same.message);
            }
        }
        evidence_of(out, cx, EvidenceOf::Caution, i, &c.evidence, n);
        if !c.source.is_empty() {
            out.extend_from_slice(b",\"source\":");
            caution.source.json_if(out, &c.source, same.source);
        }
        out.push(b'}');
    }

    out.extend_from_slice(b"],\"flags\":[");
    for (i, f) in a.flags.iter().enumerate() {
        out.extend_from_slice(if i == 0 {
            b"{\"flag\":"
        } else {
            b",{\"flag\":"
        });
        enc::json_str(out, &f.flag);
        out.extend_from_slice(b",\"severity\":");
        name(out, f.severity.as_str());
        str_field(out, b",\"message\":", f.message.as_bytes(), false);
        evidence_of(out, cx, EvidenceOf::Flag, i, &f.evidence, n);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Pipeline;

    fn line(report: &Report, a: &Analysis) -> String {
        let p = Pipeline::builtin();
        let t = Tables::new(&p);
        let fixed = FixedTexts::new(&p);
        let mut cx = Shared::default();
        cx.prepare(&fixed, report, a, Parts::RESULTS);
        let mut buf = Vec::new();
        write_report(&mut buf, &t, &fixed, report, a, &cx);
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
            condition: Some("if \"T-score\" unknown\\".into()),
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
        assert_eq!(r["condition"], "if \"T-score\" unknown\\");
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
