//! Rendering: one analyzed report becomes the bytes of its rows in each table. Rendering runs on
//! the analysis threads, so the thread that writes only copies bytes, in input order.

use super::enc;
use super::json::write_report;
use super::row::Row;
use super::tables::{flag_bits, Fixed, ReportExtras, Tables};
use crate::model::{Analysis, Caution, ConceptId, Mention, Recommendation, Report, SectionKind};
use crate::pipeline::Pipeline;
use crate::span::CharIndex;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
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

    /// Gives back the memory of every part whose capacity is over `bytes` (after a long
    /// report), keeping the others for reuse.
    pub fn trim(&mut self, bytes: usize) {
        for part in [
            &mut self.reports,
            &mut self.mentions,
            &mut self.recommendations,
            &mut self.cautions,
            &mut self.audit,
            &mut self.results,
        ] {
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

/// A hasher for the ids of rules and cautions (a multiply-rotate over eight-byte words): much
/// cheaper than SipHash for these short keys, which come from the rule file, not from report
/// text.
#[derive(Debug, Clone, Copy, Default)]
struct IdHasher(u64);

impl IdHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = words.remainder();
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        self.mix(u64::from_le_bytes(word) ^ bytes.len() as u64);
    }

    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.mix(u64::from(b));
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The table picks buckets with the low bits: fold the well-mixed high bits into them.
        self.0 ^ (self.0 >> 32)
    }
}

/// Indices keyed by rule, action or caution id.
type ById = HashMap<Box<str>, u32, BuildHasherDefault<IdHasher>>;

/// The texts of one rule, encoded once.
#[derive(Debug, Clone)]
pub(crate) struct RuleTexts {
    pub id: Fixed,
    pub rationale: Fixed,
    pub source: Fixed,
    /// Its condition in words (used in CSV only: `results.jsonl` writes conditions as they
    /// are).
    pub condition: Fixed,
}

/// The texts of one caution, encoded once.
#[derive(Debug, Clone)]
pub(crate) struct CautionTexts {
    pub id: Fixed,
    pub message: Fixed,
    pub source: Fixed,
}

/// Which texts of a recommendation are its rule's and its action's, found once per report for
/// every table and `results.jsonl`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RuleMatch {
    /// The rule's texts (see [`FixedTexts::rule_at`]).
    pub rule: u32,
    /// The action's id (see [`FixedTexts::action_at`]).
    pub action: u32,
    /// Whether the action id is that action's (a non-empty one).
    pub action_id: bool,
    /// Whether the rule id is the rule's (a non-empty one).
    pub id: bool,
    /// Whether the rationale is the rule's.
    pub rationale: bool,
    /// Whether the source is the rule's.
    pub source: bool,
    /// Whether the condition is the rule's (a non-empty one).
    pub condition: bool,
}

/// Which texts of a caution are its definition's, found once per report.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CautionMatch {
    /// The caution's texts (see [`FixedTexts::caution_at`]).
    pub caution: u32,
    /// Whether the id is the caution's (a non-empty one).
    pub id: bool,
    /// Whether the message is the caution's.
    pub message: bool,
    /// Whether the source is the caution's.
    pub source: bool,
}

/// The texts that repeat on every row a rule or caution emits, encoded once per run: each
/// rule's id, rationale, source and condition, each caution's id, message and source, the
/// concept names (and their keys in `results.jsonl`) and the lexicon terms. A row whose text
/// differs from its rule's (or names no known rule) is encoded as it comes.
#[derive(Debug, Clone)]
pub(crate) struct FixedTexts {
    /// The texts of each rule, then empty ones (for a row that names no known rule).
    rules: Vec<RuleTexts>,
    rule_ids: ById,
    /// The id of each action, then an empty one.
    actions: Vec<Fixed>,
    action_ids: ById,
    /// The texts of each caution, then empty ones.
    cautions: Vec<CautionTexts>,
    caution_ids: ById,
    /// Concept names, by concept index.
    concepts: Vec<Fixed>,
    /// How each concept's mentions start in `results.jsonl`, by concept index:
    /// `{"concept":"name","start":`.
    mention_heads: Vec<Vec<u8>>,
    /// The `results.jsonl` keys of each concept's status and levels, by concept index:
    /// `,"name":` and `,"name_levels":`.
    concept_keys: Vec<[Vec<u8>; 2]>,
    /// Lexicon terms, by term index.
    terms: Vec<Fixed>,
    /// What follows a mention's text in each format, by section and flags (see
    /// [`FixedTexts::section_and_flags`]).
    section_and_flags: Vec<[Vec<u8>; 2]>,
    none: Fixed,
}

impl FixedTexts {
    pub fn new(pipeline: &Pipeline) -> FixedTexts {
        let rules = pipeline.rules();
        let key = |name: &str, suffix: &str| {
            let mut k = b",\"".to_vec();
            enc::json_escape(&mut k, name);
            k.extend_from_slice(suffix.as_bytes());
            k.extend_from_slice(b"\":");
            k
        };
        let mut rule_texts: Vec<RuleTexts> = rules
            .rules()
            .iter()
            .map(|r| RuleTexts {
                id: Fixed::new(r.id()),
                rationale: Fixed::new(r.rationale()),
                source: Fixed::new(r.source()),
                condition: Fixed::new(r.condition().unwrap_or("")),
            })
            .collect();
        rule_texts.push(RuleTexts {
            id: Fixed::new(""),
            rationale: Fixed::new(""),
            source: Fixed::new(""),
            condition: Fixed::new(""),
        });
        let mut caution_texts: Vec<CautionTexts> = rules
            .cautions()
            .iter()
            .map(|c| CautionTexts {
                id: Fixed::new(&c.id),
                message: Fixed::new(&c.message),
                source: Fixed::new(&c.source),
            })
            .collect();
        caution_texts.push(CautionTexts {
            id: Fixed::new(""),
            message: Fixed::new(""),
            source: Fixed::new(""),
        });
        let ids = |ids: Vec<&str>| -> ById {
            (0u32..)
                .zip(ids)
                .map(|(i, id)| (id.into(), i))
                .collect()
        };
        FixedTexts {
            rule_ids: ids(rules.rules().iter().map(|r| r.id()).collect()),
            rules: rule_texts,
            action_ids: ids(rules.actions().iter().map(|a| a.id.as_str()).collect()),
            actions: rules
                .actions()
                .iter()
                .map(|a| Fixed::new(&a.id))
                .chain([Fixed::new("")])
                .collect(),
            caution_ids: ids(rules.cautions().iter().map(|c| c.id.as_str()).collect()),
            cautions: caution_texts,
            concepts: pipeline
                .concept_names()
                .iter()
                .map(|c| Fixed::new(c))
                .collect(),
            mention_heads: pipeline
                .concept_names()
                .iter()
                .map(|c| mention_head(&Fixed::new(c)))
                .collect(),
            concept_keys: pipeline
                .concept_names()
                .iter()
                .map(|c| [key(c, ""), key(c, "_levels")])
                .collect(),
            terms: pipeline
                .lexicons()
                .terms
                .iter()
                .map(|t| Fixed::new(&t.text))
                .collect(),
            section_and_flags: SectionKind::ALL
                .iter()
                .flat_map(|&section| (0..16).map(move |bits| section_and_flags(section, bits)))
                .collect(),
            none: Fixed::new(""),
        }
    }

    /// Finds the rule of a recommendation and which of its texts are the rule's.
    pub fn match_rule(&self, r: &Recommendation) -> RuleMatch {
        let rule = self.find(&self.rule_ids, &r.rule, self.rules.len());
        let t = self.rule_at(rule);
        let action = self.find(&self.action_ids, &r.action, self.actions.len());
        let condition = r.condition.as_deref().unwrap_or("");
        RuleMatch {
            rule,
            action,
            action_id: !r.action.is_empty() && r.action == self.action_at(action).text(),
            id: !r.rule.is_empty() && r.rule == t.id.text(),
            rationale: r.rationale == t.rationale.text(),
            source: r.source == t.source.text(),
            condition: !condition.is_empty() && condition == t.condition.text(),
        }
    }

    /// Finds the definition of a caution and which of its texts are the definition's.
    pub fn match_caution(&self, c: &Caution) -> CautionMatch {
        let caution = self.find(&self.caution_ids, &c.id, self.cautions.len());
        let t = self.caution_at(caution);
        CautionMatch {
            caution,
            id: !c.id.is_empty() && c.id == t.id.text(),
            message: c.message == t.message.text(),
            source: c.source == t.source.text(),
        }
    }

    /// The index of `id` in `ids`, or the last entry of a table of `len` (the empty texts).
    #[inline]
    fn find(&self, ids: &ById, id: &str, len: usize) -> u32 {
        ids.get(id).copied().unwrap_or(len as u32 - 1)
    }

    /// The texts of a rule (see [`RuleMatch::rule`]).
    #[inline]
    pub fn rule_at(&self, i: u32) -> &RuleTexts {
        &self.rules[(i as usize).min(self.rules.len() - 1)]
    }

    /// The id of an action (see [`RuleMatch::action`]).
    #[inline]
    pub fn action_at(&self, i: u32) -> &Fixed {
        &self.actions[(i as usize).min(self.actions.len() - 1)]
    }

    /// The texts of a caution (see [`CautionMatch::caution`]).
    #[inline]
    pub fn caution_at(&self, i: u32) -> &CautionTexts {
        &self.cautions[(i as usize).min(self.cautions.len() - 1)]
    }

    /// The name of a concept.
    #[inline]
    pub fn concept(&self, id: ConceptId) -> &Fixed {
        self.concepts.get(id.index()).unwrap_or(&self.none)
    }

    /// How a mention of concept `id` starts in `results.jsonl`: `{"concept":"name","start":`.
    #[inline]
    pub fn mention_head(&self, id: ConceptId) -> &[u8] {
        self.mention_heads
            .get(id.index())
            .map_or(b"{\"concept\":\"\",\"start\":", Vec::as_slice)
    }

    /// The `results.jsonl` key of concept `i`'s status (`,"name":`), or of its levels.
    #[inline]
    pub fn concept_key(&self, i: usize, levels: bool) -> &[u8] {
        self.concept_keys
            .get(i)
            .map_or(b",\"\":", |k| &k[usize::from(levels)])
    }

    /// The lexicon term that matched a mention.
    #[inline]
    pub fn term(&self, m: &Mention) -> &Fixed {
        self.terms.get(m.term as usize).unwrap_or(&self.none)
    }

    /// A mention's section and its four flags, as the CSV cells that follow its text
    /// (`,findings,false,true,false,false`) or as the JSON that does
    /// (`,"section":"findings","negated":false,...`): written once per section and combination
    /// of flags.
    #[inline]
    pub fn section_and_flags(&self, m: &Mention, json: bool) -> &[u8] {
        let bits = flag_bits(m);
        let i = m.section as usize * 16 + bits;
        match self.section_and_flags.get(i) {
            Some(both) => &both[usize::from(json)],
            None => &[],
        }
    }
}

/// [`FixedTexts::mention_head`] of a concept name.
fn mention_head(name: &Fixed) -> Vec<u8> {
    let mut head = b"{\"concept\":".to_vec();
    head.extend_from_slice(name.json_bytes());
    head.extend_from_slice(b",\"start\":");
    head
}

/// [`FixedTexts::section_and_flags`] of `section` and flag `bits`, CSV then JSON.
fn section_and_flags(section: SectionKind, bits: usize) -> [Vec<u8>; 2] {
    let names = ["negated", "uncertain", "historical", "hypothetical"];
    let mut csv = Vec::new();
    let mut row = Row::starting_with(&mut csv, b"");
    row.name(section.as_str());
    let mut json = format!(",\"section\":\"{}\"", section.as_str());
    for (i, name) in names.iter().enumerate() {
        let set = bits & (1 << i) != 0;
        row.boolean(set);
        json.push_str(&format!(",\"{name}\":{set}"));
    }
    row.end();
    csv.pop(); // the row's `\n`
    [csv, json.into_bytes()]
}

/// One mention's share of its report's rows: its character offsets and its evidence item.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MentionOut {
    /// Character offset of its start.
    pub start: usize,
    /// Character offset of its end.
    pub end: usize,
    /// Where its evidence item (`text@start-end`) is in [`Shared::items`]; `None` when its span
    /// is not a slice of the text (evidence leaves it out).
    pub item: Option<(usize, usize)>,
    /// Whether its text holds a byte that forces CSV quotes (a comma, a quote, CR or LF).
    pub needs_quotes: bool,
}

/// What the rows of one report share, worked out once per report: the id as a CSV field, each
/// mention's offsets and evidence item, and the report-level grades. One per thread, its
/// memory kept from one report to the next.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The report id as a CSV field.
    pub id: Vec<u8>,
    chars: CharIndex,
    /// One per mention of the analysis, in order.
    pub mentions: Vec<MentionOut>,
    /// The evidence items of the mentions, back to back.
    pub items: Vec<u8>,
    /// The report-level grades.
    pub extras: ReportExtras,
    /// Which texts of each recommendation are its rule's.
    pub recommendations: Vec<RuleMatch>,
    /// Which texts of each caution are its definition's.
    pub cautions: Vec<CautionMatch>,
}

impl Shared {
    /// Works out what the rows of `report` share; evidence items only when `items`.
    pub fn prepare(&mut self, fixed: &FixedTexts, report: &Report, a: &Analysis, items: bool) {
        let text = report.text.as_str();
        self.id.clear();
        enc::csv_field(&mut self.id, report.id.as_bytes(), true);
        self.chars.reset(text);
        self.mentions.clear();
        self.items.clear();
        for m in &a.mentions {
            let mut out = MentionOut {
                start: self.chars.char_offset(m.span.start),
                end: self.chars.char_offset(m.span.end),
                ..MentionOut::default()
            };
            if items {
                if let Some(t) = text.get(m.span.start..m.span.end) {
                    let from = self.items.len();
                    self.items.extend_from_slice(t.as_bytes());
                    self.items.push(b'@');
                    enc::uint(&mut self.items, out.start as u64);
                    self.items.push(b'-');
                    enc::uint(&mut self.items, out.end as u64);
                    out.item = Some((from, self.items.len()));
                    out.needs_quotes = enc::find_csv_special(t.as_bytes(), 0).is_some();
                }
            }
            self.mentions.push(out);
        }
        self.extras = ReportExtras::of(a);
        self.recommendations.clear();
        self.recommendations
            .extend(a.recommendations.iter().map(|r| fixed.match_rule(r)));
        self.cautions.clear();
        self.cautions
            .extend(a.cautions.iter().map(|c| fixed.match_caution(c)));
    }

    /// Which texts of recommendation `i` are its rule's.
    #[inline]
    pub fn recommendation(&self, i: usize) -> RuleMatch {
        self.recommendations.get(i).copied().unwrap_or_default()
    }

    /// Which texts of caution `i` are its definition's.
    #[inline]
    pub fn caution(&self, i: usize) -> CautionMatch {
        self.cautions.get(i).copied().unwrap_or_default()
    }

    /// The offsets of mention `i` (zero when there is no such mention).
    #[inline]
    pub fn mention(&self, i: usize) -> MentionOut {
        self.mentions.get(i).copied().unwrap_or_default()
    }

    /// The evidence item of mention `i`, if it has one.
    #[inline]
    pub fn item(&self, i: u32) -> Option<&[u8]> {
        let (from, to) = self.mentions.get(i as usize)?.item?;
        self.items.get(from..to)
    }
}

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
            let evidence = Parts::RECOMMENDATIONS | Parts::CAUTIONS | Parts::AUDIT;
            cx.prepare(&self.fixed, report, a, p.intersects(evidence));
            let cx = &*cx;
            let (t, fixed) = (&self.tables, &self.fixed);
            // The id starts every row: encoded once.
            let id = cx.id.as_slice();
            if p.contains(Parts::REPORTS) {
                let mut r = Row::starting_with(&mut out.reports, id);
                t.report_row(&mut r, fixed, a, cx);
                r.end();
            }
            if p.contains(Parts::MENTIONS) {
                for (i, m) in a.mentions.iter().enumerate() {
                    let mut r = Row::starting_with(&mut out.mentions, id);
                    t.mention_row(&mut r, fixed, report, a, cx, i, m);
                    r.end();
                }
            }
            if p.contains(Parts::RECOMMENDATIONS) {
                for (i, rec) in a.recommendations.iter().enumerate() {
                    let mut r = Row::starting_with(&mut out.recommendations, id);
                    t.recommendation_row(&mut r, fixed, cx, i, rec);
                    r.end();
                }
            }
            if p.contains(Parts::CAUTIONS) {
                for (i, c) in a.cautions.iter().enumerate() {
                    let mut r = Row::starting_with(&mut out.cautions, id);
                    t.caution_row(&mut r, fixed, cx, i, c);
                    r.end();
                }
            }
            if p.contains(Parts::AUDIT) {
                for f in &a.flags {
                    let mut r = Row::starting_with(&mut out.audit, id);
                    t.audit_row(&mut r, cx, f);
                    r.end();
                }
            }
            if p.contains(Parts::RESULTS) {
                write_report(&mut out.results, t, fixed, report, a, cx);
                out.results.push(b'\n');
            }
        });
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

    #[test]
    fn texts_that_differ_from_their_rule_are_encoded_as_they_come() {
        let p = Pipeline::builtin();
        let renderer = Renderer::new(&p, Parts::ALL);
        let (report, mut a) = analysis(&p);
        let r = &mut a.recommendations[0];
        r.action = "=act,ion".into();
        r.rationale = "why, \"quoted\"".into();
        r.source = String::new();
        r.condition = Some(String::new());
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
