//! One `results.jsonl` line: the report's `reports.csv` row as typed JSON (statuses as strings or
//! `null`, levels and actions as arrays, in the column order of `reports.csv`, with the reading
//! `warnings` as an array), then its `mentions`, `recommendations`, `cautions` and `flags` as
//! arrays of objects (where `reports.csv` lists only the caution and flag ids). Offsets are character offsets, as
//! in the CSV tables. Serialized straight from the analysis, without an intermediate tree.

use super::tables::{evidence, flag_text, sentence_text, triggers, Evidence, ReportExtras, Tables};
use crate::model::*;
use crate::span::CharIndex;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use std::io::Write;

/// Writes the JSON object of one report (no trailing newline).
pub(crate) fn write_report<W: Write>(
    w: W,
    t: &Tables,
    report: &Report,
    a: &Analysis,
    chars: &CharIndex,
) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::new(w);
    ReportJson {
        t,
        report,
        a,
        chars,
    }
    .serialize(&mut ser)
}

struct ReportJson<'a> {
    t: &'a Tables<'a>,
    report: &'a Report,
    a: &'a Analysis,
    chars: &'a CharIndex,
}

/// A sequence serialized from an iterator that can be cloned.
struct Seq<I>(I);

impl<I> Serialize for Seq<I>
where
    I: Iterator + Clone,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for item in self.0.clone() {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct EvidenceJson<'a> {
    concept: &'a str,
    text: &'a str,
    start: usize,
    end: usize,
}

struct EvidenceList<'a> {
    t: &'a Tables<'a>,
    report: &'a Report,
    a: &'a Analysis,
    chars: &'a CharIndex,
    idx: &'a [u32],
}

impl Serialize for EvidenceList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for e in evidence(self.report, self.a, self.chars, self.idx) {
            let Evidence {
                concept,
                text,
                start,
                end,
            } = e;
            seq.serialize_element(&EvidenceJson {
                concept: self.t.concept_name(concept),
                text,
                start,
                end,
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct MentionJson<'a> {
    concept: &'a str,
    start: usize,
    end: usize,
    text: &'a str,
    section: &'static str,
    negated: bool,
    uncertain: bool,
    historical: bool,
    hypothetical: bool,
    levels: Levels,
    severity: Option<Severity>,
    acuity: Option<Acuity>,
    trigger: String,
    term: &'a str,
    region: Option<Region>,
    genant_grade: Option<u8>,
    height_loss_pct: Option<f32>,
    meyerding_grade: Option<u8>,
    slip_mm: Option<f32>,
    cobb_degrees: Option<f32>,
    direction: Option<Direction>,
    negated_trigger: &'a str,
    uncertain_trigger: &'a str,
    historical_trigger: &'a str,
    hypothetical_trigger: &'a str,
    sentence_index: u32,
    sentence: &'a str,
}

#[derive(Serialize)]
struct RecommendationJson<'a> {
    action: &'a str,
    rule: &'a str,
    strength: Strength,
    urgency: Urgency,
    rationale: &'a str,
    evidence: EvidenceList<'a>,
    source: &'a str,
    condition: Option<&'a str>,
}

#[derive(Serialize)]
struct CautionJson<'a> {
    caution: &'a str,
    rule: &'a str,
    message: &'a str,
    evidence: EvidenceList<'a>,
    source: &'a str,
}

#[derive(Serialize)]
struct FlagJson<'a> {
    flag: &'a str,
    severity: FlagSeverity,
    message: &'a str,
    evidence: EvidenceList<'a>,
}

impl Serialize for ReportJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (t, report, a, chars) = (self.t, self.report, self.a, self.chars);
        let text = report.text.as_str();
        let result = |i: usize| a.concepts.get(i).copied().unwrap_or_default();
        fn ev<'x>(j: &ReportJson<'x>, idx: &'x [u32]) -> EvidenceList<'x> {
            EvidenceList {
                t: j.t,
                report: j.report,
                a: j.a,
                chars: j.chars,
                idx,
            }
        }
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("report_id", &report.id)?;
        let concepts = t.concepts();
        let builtin = BUILTIN_CONCEPTS.len().min(concepts.len());
        for (i, c) in concepts[..builtin].iter().enumerate() {
            map.serialize_entry(c, &result(i).status)?;
        }
        for (i, c) in concepts[..builtin].iter().enumerate() {
            map.serialize_entry(&format!("{c}_levels"), &result(i).levels)?;
        }
        let vf = result(ConceptId::VERTEBRAL_FRACTURE.index());
        map.serialize_entry("vertebral_fracture_severity", &vf.severity)?;
        map.serialize_entry("vertebral_fracture_acuity", &vf.acuity)?;
        map.serialize_entry(
            "actions",
            &Seq(a.recommendations.iter().map(|r| r.action.as_str())),
        )?;
        for (i, c) in concepts.iter().enumerate().skip(builtin) {
            map.serialize_entry(c, &result(i).status)?;
        }
        for (i, c) in concepts.iter().enumerate().skip(builtin) {
            map.serialize_entry(&format!("{c}_levels"), &result(i).levels)?;
        }
        let x = ReportExtras::of(a);
        map.serialize_entry("vertebral_fracture_genant_grade", &x.genant_grade)?;
        map.serialize_entry("spondylolisthesis_meyerding_grade", &x.meyerding_grade)?;
        map.serialize_entry("scoliosis_cobb_degrees", &x.cobb_degrees)?;
        map.serialize_entry("warnings", &a.warnings)?;
        let mentions = a.mentions.iter().map(|m| MentionJson {
            concept: t.concept_name(m.concept),
            start: chars.char_offset(m.span.start),
            end: chars.char_offset(m.span.end),
            text: text.get(m.span.start..m.span.end).unwrap_or(""),
            section: m.section.as_str(),
            negated: m.negated.is_some(),
            uncertain: m.uncertain.is_some(),
            historical: m.historical.is_some(),
            hypothetical: m.hypothetical.is_some(),
            levels: m.attrs.levels,
            severity: m.attrs.severity,
            acuity: m.attrs.acuity,
            trigger: triggers(text, m).collect::<Vec<_>>().join(";"),
            term: t.term(m),
            region: m.attrs.region,
            genant_grade: m.attrs.genant_grade,
            height_loss_pct: m.attrs.height_loss_pct,
            meyerding_grade: m.attrs.meyerding_grade,
            slip_mm: m.attrs.slip_mm,
            cobb_degrees: m.attrs.cobb_degrees,
            direction: m.attrs.direction,
            negated_trigger: flag_text(text, m.negated),
            uncertain_trigger: flag_text(text, m.uncertain),
            historical_trigger: flag_text(text, m.historical),
            hypothetical_trigger: flag_text(text, m.hypothetical),
            sentence_index: m.sentence,
            sentence: sentence_text(text, a, m),
        });
        map.serialize_entry("mentions", &Seq(mentions))?;
        let recs = a.recommendations.iter().map(|r| RecommendationJson {
            action: &r.action,
            rule: &r.rule,
            strength: r.strength,
            urgency: r.urgency,
            rationale: &r.rationale,
            evidence: ev(self, &r.evidence),
            source: &r.source,
            condition: r.condition.as_deref(),
        });
        map.serialize_entry("recommendations", &Seq(recs))?;
        let cautions = a.cautions.iter().map(|c| CautionJson {
            caution: &c.id,
            rule: &c.rule,
            message: &c.message,
            evidence: ev(self, &c.evidence),
            source: &c.source,
        });
        map.serialize_entry("cautions", &Seq(cautions))?;
        let flags = a.flags.iter().map(|f| FlagJson {
            flag: &f.flag,
            severity: f.severity,
            message: &f.message,
            evidence: ev(self, &f.evidence),
        });
        map.serialize_entry("flags", &Seq(flags))?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Pipeline;

    #[test]
    fn keys_follow_the_reports_columns_then_details() {
        let p = Pipeline::builtin();
        let t = Tables::new(&p);
        let mut report = Report::new("r1", "FINDINGS: 30° kyphosis – T12 fracture.");
        report.warnings.push("w".into());
        let start = report.text.find("fracture").unwrap();
        let mut a = Analysis {
            concepts: vec![ConceptResult::default(); 11],
            ..Analysis::default()
        };
        a.concepts[0].status = Some(Status::Present);
        a.concepts[0].levels.insert(18);
        a.mentions.push(Mention {
            concept: ConceptId::VERTEBRAL_FRACTURE,
            span: Span::new(start, start + 8),
            section: SectionKind::Findings,
            sentence: 0,
            term: 0,
            negated: None,
            uncertain: None,
            historical: None,
            hypothetical: None,
            attrs: Attributes::default(),
        });
        a.recommendations.push(Recommendation {
            action: "dxa".into(),
            rule: "R1".into(),
            strength: Strength::Conditional,
            condition: Some("if T-score unknown".into()),
            urgency: Urgency::Routine,
            rationale: "why".into(),
            evidence: vec![0],
            source: "seed".into(),
        });
        let chars = CharIndex::new(&report.text);
        let mut buf = Vec::new();
        write_report(&mut buf, &t, &report, &a, &chars).unwrap();
        let line = String::from_utf8(buf).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["vertebral_fracture"], "present");
        assert_eq!(v["retropulsion"], serde_json::Value::Null);
        assert_eq!(v["vertebral_fracture_levels"], serde_json::json!(["T12"]));
        assert_eq!(v["actions"], serde_json::json!(["dxa"]));
        assert_eq!(v["mentions"][0]["start"], 29);
        assert_eq!(v["recommendations"][0]["evidence"][0]["text"], "fracture");
        assert_eq!(v["recommendations"][0]["condition"], "if T-score unknown");
        let keys: Vec<usize> = [
            "\"report_id\"",
            "\"vertebral_fracture\"",
            "\"osseous_lesion_levels\"",
            "\"actions\"",
            "\"mentions\"",
        ]
        .iter()
        .map(|k| line.find(k).unwrap())
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{line}");
    }
}
