//! Rendering: one analyzed report becomes the bytes of its rows in each table. Rendering runs on
//! the analysis threads, so the thread that writes only copies bytes, in input order.

use super::fixed::FixedTexts;
use super::json::write_report;
use super::row::Row;
use super::shared::Shared;
use super::tables::Tables;
use crate::model::{Analysis, Report};
use crate::pipeline::Pipeline;
use std::cell::RefCell;
use std::ops::BitOr;

/// Which parts of the output a sink needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Parts(u8);

impl Parts {
    /// Nothing rendered (the sink reads the analysis itself).
    pub const NONE: Parts = Parts(0);
    /// `reports.csv` rows.
    pub const REPORTS: Parts = Parts(1);
    /// `mentions.csv` rows.
    pub const MENTIONS: Parts = Parts(1 << 1);
    /// `recommendations.csv` rows.
    pub const RECOMMENDATIONS: Parts = Parts(1 << 2);
    /// `cautions.csv` rows.
    pub const CAUTIONS: Parts = Parts(1 << 3);
    /// `audit.csv` rows.
    pub const AUDIT: Parts = Parts(1 << 4);
    /// The `results.jsonl` line.
    pub const RESULTS: Parts = Parts(1 << 5);
    /// Every part.
    pub const ALL: Parts = Parts((1 << 6) - 1);

    /// Whether every part of `other` is in `self`.
    pub const fn contains(self, other: Parts) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether some part of `other` is in `self`.
    pub const fn intersects(self, other: Parts) -> bool {
        self.0 & other.0 != 0
    }
}

impl BitOr for Parts {
    type Output = Parts;
    fn bitor(self, rhs: Parts) -> Parts {
        Parts(self.0 | rhs.0)
    }
}

/// One report's output as bytes: CSV rows (no header, each ending in `\n`) and its JSON line
/// (ending in `\n`). Parts that were not asked for are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Its `reports.csv` row.
    pub reports: Vec<u8>,
    /// Its `mentions.csv` rows.
    pub mentions: Vec<u8>,
    /// Its `recommendations.csv` rows.
    pub recommendations: Vec<u8>,
    /// Its `cautions.csv` rows.
    pub cautions: Vec<u8>,
    /// Its `audit.csv` rows.
    pub audit: Vec<u8>,
    /// Its `results.jsonl` line.
    pub results: Vec<u8>,
}

impl Rendered {
    /// Empties every part, keeping the buffers.
    pub fn clear(&mut self) {
        self.reports.clear();
        self.mentions.clear();
        self.recommendations.clear();
        self.cautions.clear();
        self.audit.clear();
        self.results.clear();
    }

    /// The length of every part, to go back to with [`Rendered::truncate`].
    pub(crate) fn lens(&self) -> [usize; 6] {
        [
            self.reports.len(),
            self.mentions.len(),
            self.recommendations.len(),
            self.cautions.len(),
            self.audit.len(),
            self.results.len(),
        ]
    }

    /// Cuts every part back to the length [`Rendered::lens`] gave (dropping what was rendered
    /// since).
    pub(crate) fn truncate(&mut self, lens: [usize; 6]) {
        for (part, len) in self.parts_mut().into_iter().zip(lens) {
            part.truncate(len);
        }
    }

    /// Every part, in the order of the files of an output directory: reports, mentions,
    /// recommendations, cautions, audit, results.
    pub(crate) fn parts_mut(&mut self) -> [&mut Vec<u8>; 6] {
        [
            &mut self.reports,
            &mut self.mentions,
            &mut self.recommendations,
            &mut self.cautions,
            &mut self.audit,
            &mut self.results,
        ]
    }

    /// Gives back the memory of every part whose capacity is over `bytes` (after a long
    /// report), keeping the others for reuse.
    pub fn trim(&mut self, bytes: usize) {
        for part in self.parts_mut() {
            if part.capacity() > bytes {
                *part = Vec::new();
            }
        }
    }

    /// Bytes held, over every part.
    pub fn len(&self) -> usize {
        self.reports.len()
            + self.mentions.len()
            + self.recommendations.len()
            + self.cautions.len()
            + self.audit.len()
            + self.results.len()
    }

    /// Whether every part is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// After a report with more text than this, the thread's [`Shared`] gives its memory back.
const KEEP_TEXT_BYTES: usize = 64 << 10;

thread_local! {
    /// What the rows of the report being rendered share.
    static SHARED: RefCell<Shared> = RefCell::new(Shared::default());
}

/// Renders reports into the parts a sink asked for; shared by the analysis threads.
#[derive(Debug, Clone)]
pub struct Renderer<'p> {
    tables: Tables<'p>,
    fixed: FixedTexts,
    parts: Parts,
}

impl<'p> Renderer<'p> {
    /// A renderer of `parts` for the tables of `pipeline`.
    pub fn new(pipeline: &'p Pipeline, parts: Parts) -> Renderer<'p> {
        Renderer {
            tables: Tables::new(pipeline),
            fixed: FixedTexts::new(pipeline),
            parts,
        }
    }

    /// Renders one report into `out` (appending; clear it first to reuse it).
    // Called once per report: kept out of line, so that a profile shows what rendering costs.
    #[inline(never)]
    pub fn render_into(&self, report: &Report, a: &Analysis, out: &mut Rendered) {
        let p = self.parts;
        if p == Parts::NONE {
            return;
        }
        SHARED.with(|shared| {
            let cx = &mut *shared.borrow_mut();
            cx.prepare(&self.fixed, report, a, p);
            let cx = &*cx;
            let (t, fixed) = (&self.tables, &self.fixed);
            // The id starts every row: encoded once.
            let id = &cx.id;
            if p.contains(Parts::REPORTS) {
                let mut r = Row::starting_with_field(&mut out.reports, id);
                t.report_row(&mut r, fixed, a, cx);
                r.end();
            }
            if p.contains(Parts::MENTIONS) {
                let mut last = None;
                for (i, m) in a.mentions.iter().enumerate() {
                    let mut r = Row::starting_with_field(&mut out.mentions, id);
                    t.mention_row(&mut r, fixed, report, a, cx, i, m, &mut last);
                    r.end();
                }
            }
            if p.contains(Parts::RECOMMENDATIONS) {
                for (i, rec) in a.recommendations.iter().enumerate() {
                    let mut r = Row::starting_with_field(&mut out.recommendations, id);
                    t.recommendation_row(&mut r, fixed, cx, i, rec);
                    r.end();
                }
            }
            if p.contains(Parts::CAUTIONS) {
                for (i, c) in a.cautions.iter().enumerate() {
                    let mut r = Row::starting_with_field(&mut out.cautions, id);
                    t.caution_row(&mut r, fixed, cx, i, c);
                    r.end();
                }
            }
            if p.contains(Parts::AUDIT) {
                for (i, f) in a.flags.iter().enumerate() {
                    let mut r = Row::starting_with_field(&mut out.audit, id);
                    t.audit_row(&mut r, cx, i, f);
                    r.end();
                }
            }
            if p.contains(Parts::RESULTS) {
                write_report(&mut out.results, t, fixed, report, a, cx);
                out.results.push(b'\n');
            }
        });
        if report.text.len() > KEEP_TEXT_BYTES {
            // Give back what a report far larger than usual made the thread hold.
            SHARED.with(|shared| *shared.borrow_mut() = Shared::default());
        }
    }

    /// Renders one report.
    pub fn render(&self, report: &Report, a: &Analysis) -> Rendered {
        let mut out = Rendered::default();
        self.render_into(report, a, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    /// A report with one mention, and an analysis with one recommendation and one caution
    /// that carry the texts of the first rule, action and caution of the built-in rules.
    fn analysis(p: &Pipeline) -> (Report, Analysis) {
        let rules = p.rules();
        let rule = &rules.rules()[0];
        let caution = &rules.cautions()[0];
        let report = Report::new("r,1", "=T12 \"fracture\", old.");
        let mut a = Analysis {
            concepts: vec![ConceptResult::default(); p.concept_names().len()],
            ..Analysis::default()
        };
        a.mentions.push(Mention {
            concept: ConceptId::VERTEBRAL_FRACTURE,
            span: Span::new(0, 4),
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
            action: rules.actions()[0].id.clone(),
            rule: rule.id().into(),
            strength: Strength::Conditional,
            condition: Some(rule.condition().unwrap_or("if so").into()),
            urgency: Urgency::Routine,
            rationale: rule.rationale().into(),
            evidence: vec![0],
            source: rule.source().into(),
        });
        a.cautions.push(Caution {
            id: caution.id.clone(),
            rule: rule.id().into(),
            message: caution.message.clone(),
            evidence: vec![0, 3],
            source: caution.source.clone(),
        });
        (report, a)
    }

    fn parts(r: &Rendered) -> [String; 6] {
        [
            &r.reports,
            &r.mentions,
            &r.recommendations,
            &r.cautions,
            &r.audit,
            &r.results,
        ]
        .map(|b| String::from_utf8(b.clone()).unwrap())
    }

    #[test]
    fn texts_encoded_once_come_out_as_texts_encoded_as_they_come() {
        let p = Pipeline::builtin();
        let renderer = Renderer::new(&p, Parts::ALL);
        let (report, a) = analysis(&p);
        let known = parts(&renderer.render(&report, &a));
        // The same texts under ids that name no rule, action or caution.
        let mut b = a.clone();
        b.recommendations[0].rule = "no.rule".into();
        b.recommendations[0].action = "no_action".into();
        b.cautions[0].id = "no_caution".into();
        b.cautions[0].rule = "no.rule".into();
        let fresh = parts(&renderer.render(&report, &b)).map(|s| {
            s.replace("no.rule", &a.recommendations[0].rule)
                .replace("no_action", &a.recommendations[0].action)
                .replace("no_caution", &a.cautions[0].id)
        });
        assert_eq!(known, fresh);
        assert!(known[2].contains("T12@0-4"), "{}", known[2]);
    }

    /// A renderer of every table, and the same renderer without the parts encoded once per
    /// rule (every row written field by field).
    fn with_and_without_rule_parts(p: &Pipeline) -> (Renderer<'_>, Renderer<'_>) {
        let fused = Renderer::new(p, Parts::ALL);
        let plain = Renderer {
            fixed: fused.fixed.clone().without_rule_parts(),
            ..fused.clone()
        };
        (fused, plain)
    }

    /// Recommendations whose texts are their rule's in every combination (and some that are
    /// not), written from the parts encoded once per rule and written field by field.
    #[test]
    fn recommendations_from_rule_parts_match_recommendations_written_field_by_field() {
        let p = Pipeline::builtin();
        let (fused, plain) = with_and_without_rule_parts(&p);
        let rules = p.rules();
        let (report, mut a) = analysis(&p);
        a.cautions.clear();
        let ids = (rules.rules().iter().map(|r| r.id())).chain(["no.rule", ""]);
        for (k, id) in ids.enumerate() {
            let rule = rules.rules().get(k);
            let mut actions: Vec<&str> =
                rule.map_or(Vec::new(), |r| rules.actions_of(r).into_iter().collect());
            actions.extend([rules.actions()[0].id.as_str(), "no_action", ""]);
            let own = |f: fn(&crate::recommend::Rule) -> &str| rule.map_or("", f);
            let rationales = [own(|r| r.rationale()), "", "why, \"so\""];
            let sources = [own(|r| r.source()), "", "=src"];
            let own_condition = rule.and_then(|r| r.condition());
            let conditions = [None, Some(""), own_condition, Some("if, so")];
            a.recommendations.clear();
            for action in &actions {
                for &strength in Strength::ALL {
                    for &urgency in Urgency::ALL {
                        for rationale in rationales {
                            for source in sources {
                                for condition in conditions {
                                    a.recommendations.push(Recommendation {
                                        action: (*action).into(),
                                        rule: id.into(),
                                        strength,
                                        condition: condition.map(Text::from),
                                        urgency,
                                        rationale: rationale.into(),
                                        evidence: vec![0],
                                        source: source.into(),
                                    });
                                }
                            }
                        }
                    }
                }
            }
            assert_eq!(
                parts(&fused.render(&report, &a)),
                parts(&plain.render(&report, &a)),
                "rule {id}"
            );
        }
    }

    /// Cautions whose texts are their definition's and their rule's in every combination (and
    /// some that are not), written from the parts encoded once per rule and field by field.
    #[test]
    fn cautions_from_rule_parts_match_cautions_written_field_by_field() {
        let p = Pipeline::builtin();
        let (fused, plain) = with_and_without_rule_parts(&p);
        let rules = p.rules();
        let (report, mut a) = analysis(&p);
        a.recommendations.clear();
        let ids = (rules.rules().iter().map(|r| r.id())).chain(["no.rule", ""]);
        for (k, id) in ids.enumerate() {
            let rule = rules.rules().get(k);
            let mut raised: Vec<&str> = rule.map_or(Vec::new(), |r| rules.cautions_of(r));
            raised.extend([rules.cautions()[0].id.as_str(), "no_caution", ""]);
            a.cautions.clear();
            for caution in &raised {
                let own = rules.cautions().iter().find(|c| c.id == *caution);
                let messages = [own.map_or("", |c| c.message.as_str()), "", "why, \"so\""];
                let sources = [own.map_or("", |c| c.source.as_str()), "", "=src"];
                for message in messages {
                    for source in sources {
                        a.cautions.push(Caution {
                            id: (*caution).into(),
                            rule: id.into(),
                            message: message.into(),
                            evidence: vec![0],
                            source: source.into(),
                        });
                    }
                }
            }
            assert_eq!(
                parts(&fused.render(&report, &a)),
                parts(&plain.render(&report, &a)),
                "rule {id}"
            );
        }
    }

    #[test]
    fn texts_that_differ_from_their_rule_are_encoded_as_they_come() {
        let p = Pipeline::builtin();
        let renderer = Renderer::new(&p, Parts::ALL);
        let (report, mut a) = analysis(&p);
        let r = &mut a.recommendations[0];
        r.action = "=act,ion".into();
        r.rationale = "why, \"quoted\"".into();
        r.source = Text::default();
        r.condition = Some(Text::default());
        a.cautions[0].message = "-x".into();
        let out = renderer.render(&report, &a);
        let row = |bytes: &[u8]| {
            let mut rows = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(bytes);
            rows.records().next().unwrap().unwrap()
        };
        let rec = row(&out.recommendations);
        assert_eq!(&rec[0], "r,1");
        assert_eq!(&rec[1], "'=act,ion");
        assert_eq!(&rec[5], "why, \"quoted\"");
        assert_eq!(&rec[6], "'=T12@0-4");
        assert_eq!((&rec[7], &rec[8]), ("", ""));
        let caution = row(&out.cautions);
        assert_eq!(&caution[3], "'-x");
        assert_eq!(&caution[4], "'=T12@0-4");
        let reports = row(&out.reports);
        assert!(reports.iter().any(|f| f == "'=act,ion"));
        let v: serde_json::Value = serde_json::from_slice(&out.results).unwrap();
        assert_eq!(v["actions"], serde_json::json!(["=act,ion"]));
        let rec = &v["recommendations"][0];
        assert_eq!(rec["action"], "=act,ion");
        assert_eq!(rec["rationale"], "why, \"quoted\"");
        assert!(rec.get("source").is_none());
        assert_eq!(rec["condition"], "");
        assert_eq!(v["cautions"][0]["message"], "-x");
        assert_eq!(v["cautions"][0]["evidence"], serde_json::json!([0]));
    }
}
