//! The columns of every table and how one report becomes rows.

use super::fixed::{Fixed, FixedTexts};
#[cfg(test)]
use super::render::Parts;
use super::row::Row;
use super::shared::{item_of, EvidenceOf, MentionOut, Shared};
use crate::input::RecordError;
use crate::model::*;
use crate::pipeline::Pipeline;

/// Required columns of `mentions.csv`, in order, then the extra ones.
pub const MENTION_COLUMNS: [&str; 28] = [
    "report_id",
    "concept",
    "start",
    "end",
    "text",
    "section",
    "negated",
    "uncertain",
    "historical",
    "hypothetical",
    "levels",
    "severity",
    "acuity",
    "trigger",
    // extras
    "term",
    "region",
    "genant_grade",
    "height_loss_pct",
    "meyerding_grade",
    "slip_mm",
    "cobb_degrees",
    "direction",
    "negated_trigger",
    "uncertain_trigger",
    "historical_trigger",
    "hypothetical_trigger",
    "sentence_index",
    "sentence",
];

/// Columns of `recommendations.csv`: the required ones, then `condition`.
pub const RECOMMENDATION_COLUMNS: [&str; 9] = [
    "report_id",
    "action",
    "rule",
    "strength",
    "urgency",
    "rationale",
    "evidence",
    "source",
    "condition",
];

/// Columns of `audit.csv`.
pub const AUDIT_COLUMNS: [&str; 5] = ["report_id", "flag", "severity", "message", "evidence"];

/// Columns of `cautions.csv`.
pub const CAUTION_COLUMNS: [&str; 6] = [
    "report_id",
    "caution",
    "rule",
    "message",
    "evidence",
    "source",
];

/// Columns of `errors.csv`: the required ones, then the physical `line` where the record starts.
pub const ERROR_COLUMNS: [&str; 5] = ["source", "record", "report_id", "error", "line"];

/// Extra report-level columns of `reports.csv` after the user concepts.
pub const REPORT_EXTRA_COLUMNS: [&str; 6] = [
    "vertebral_fracture_genant_grade",
    "spondylolisthesis_meyerding_grade",
    "scoliosis_cobb_degrees",
    "cautions",
    "flags",
    "warnings",
];

/// The table layout of one pipeline (its concepts decide the columns of `reports.csv`).
#[derive(Debug, Clone, Copy)]
pub struct Tables<'p> {
    pipeline: &'p Pipeline,
    concepts: &'p [String],
}

impl<'p> Tables<'p> {
    /// The layout for `pipeline`.
    pub fn new(pipeline: &'p Pipeline) -> Tables<'p> {
        Tables {
            pipeline,
            concepts: pipeline.concept_names(),
        }
    }

    /// Concept names: the built-ins, then user concepts.
    pub fn concepts(&self) -> &'p [String] {
        self.concepts
    }

    fn builtin_count(&self) -> usize {
        BUILTIN_CONCEPTS.len().min(self.concepts.len())
    }

    /// Columns of `reports.csv`: `report_id`, the 11 statuses, the 11 `_levels`,
    /// `vertebral_fracture_severity`, `vertebral_fracture_acuity`, `actions`; then each user
    /// concept's status and `_levels`, then [`REPORT_EXTRA_COLUMNS`].
    pub fn report_columns(&self) -> Vec<String> {
        let b = self.builtin_count();
        let mut cols = vec!["report_id".to_string()];
        cols.extend(self.concepts[..b].iter().cloned());
        cols.extend(self.concepts[..b].iter().map(|c| format!("{c}_levels")));
        cols.push("vertebral_fracture_severity".into());
        cols.push("vertebral_fracture_acuity".into());
        cols.push("actions".into());
        for c in &self.concepts[b..] {
            cols.push(c.clone());
        }
        for c in &self.concepts[b..] {
            cols.push(format!("{c}_levels"));
        }
        cols.extend(REPORT_EXTRA_COLUMNS.iter().map(|s| s.to_string()));
        cols
    }

    /// The lexicon term that matched a mention.
    pub fn term(&self, m: &Mention) -> &'p str {
        self.pipeline.term_text(m)
    }

    /// The name of a concept.
    pub fn concept_name(&self, id: ConceptId) -> &'p str {
        self.concepts
            .get(id.index())
            .map(String::as_str)
            .unwrap_or("")
    }

    // The report, mention, recommendation, caution and audit row writers write every column
    // after `report_id`; the renderer writes the id, encoded once per report.

    pub(crate) fn report_row(&self, row: &mut Row, fixed: &FixedTexts, a: &Analysis, cx: &Shared) {
        let b = self.builtin_count();
        let result = |i: usize| a.concepts.get(i).copied().unwrap_or_default();
        for i in 0..b {
            row.opt_name(result(i).status.map(Status::as_str));
        }
        for i in 0..b {
            row.levels(result(i).levels);
        }
        let vf = result(ConceptId::VERTEBRAL_FRACTURE.index());
        row.opt_name(vf.severity.map(Severity::as_str));
        row.opt_name(vf.acuity.map(Acuity::as_str));
        // Ids encoded once need no quotes; only another one makes the cell worth a scan.
        let known = |id: &Fixed, same: bool| same && !id.needs_quotes();
        let actions_known = a.recommendations.len() == cx.recommendations.len()
            && (cx.recommendations.iter()).all(|m| known(fixed.action_at(m.action), m.action_id));
        row.joined_known(
            a.recommendations.iter().map(|r| r.action.as_bytes()),
            |out, action| out.extend_from_slice(action),
            !actions_known,
        );
        for i in b..self.concepts.len() {
            row.opt_name(result(i).status.map(Status::as_str));
        }
        for i in b..self.concepts.len() {
            row.levels(result(i).levels);
        }
        let extras = &cx.extras;
        row.opt_uint(extras.genant_grade.map(u64::from));
        row.opt_uint(extras.meyerding_grade.map(u64::from));
        row.opt_f32(extras.cobb_degrees);
        let cautions_known = a.cautions.len() == cx.cautions.len()
            && (cx.cautions.iter()).all(|m| known(&fixed.caution_at(m.caution).id, m.id));
        row.joined_known(
            a.cautions.iter().map(|c| c.id.as_bytes()),
            |out, id| out.extend_from_slice(id),
            !cautions_known,
        );
        row.joined(a.flags.iter().map(|f| f.flag.as_str()));
        row.joined(a.warnings.iter());
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn mention_row(
        &self,
        row: &mut Row,
        fixed: &FixedTexts,
        report: &Report,
        a: &Analysis,
        cx: &Shared,
        i: usize,
        m: &Mention,
        last: &mut Option<LastSentence>,
    ) {
        let text = report.text.as_str();
        let bytes = text.as_bytes();
        let share = cx.mention(i);
        row.encoded_cells(fixed.concept(m.concept).csv_cell());
        row.uint(share.start as u64);
        row.uint(share.end as u64);
        let mention = &bytes[share.text.0..share.text.1];
        if share.csv_plain {
            // Known to need no quotes (and written verbatim: no quote mark).
            row.encoded(mention);
        } else {
            row.verbatim(mention);
        }
        row.encoded_cells(fixed.section_and_flags(m.section, share.bits, false));
        row.levels(m.attrs.levels);
        row.opt_name(m.attrs.severity.map(Severity::as_str));
        row.opt_name(m.attrs.acuity.map(Acuity::as_str));
        row.cell_known(cx.trigger(i).unwrap_or(""), !share.triggers_plain);
        row.encoded_cells(fixed.term(m).csv_cell());
        let at = &m.attrs;
        if !share.extras {
            // The usual mention: seven empty cells.
            row.encoded_cells(b",,,,,,,");
        } else {
            row.opt_name(at.region.map(Region::as_str));
            row.opt_uint(at.genant_grade.map(u64::from));
            row.opt_f32(at.height_loss_pct);
            row.opt_uint(at.meyerding_grade.map(u64::from));
            row.opt_f32(at.slip_mm);
            row.opt_f32(at.cobb_degrees);
            row.opt_name(at.direction.map(Direction::as_str));
        }
        if share.bits == 0 {
            row.encoded_cells(b",,,,");
        } else {
            for (from, to) in share.flags {
                row.cell_known(&bytes[from..to], !share.triggers_plain);
            }
        }
        row.uint(u64::from(m.sentence));
        // Mentions of one sentence come one after another: all but the first copy its cell.
        match last {
            Some(l) if l.sentence == m.sentence => row.copy_of(l.cell.clone()),
            _ => {
                // The cell starts after its separator.
                let from = row.position() + 1;
                row.cell(sentence_text(text, a, m));
                *last = Some(LastSentence {
                    sentence: m.sentence,
                    cell: from..row.position(),
                });
            }
        }
    }

    pub(crate) fn recommendation_row(
        &self,
        row: &mut Row,
        fixed: &FixedTexts,
        cx: &Shared,
        i: usize,
        r: &Recommendation,
    ) {
        let same = cx.recommendation(i);
        let rule = fixed.rule_at(same.rule);
        // The parts that are the rule's are copied whole; the others are written cell by cell.
        let parts = fixed.rule_parts(same.rule);
        if let Some(cells) = parts.prefix(&same, r.strength, r.urgency, false) {
            row.encoded_cells(cells);
        } else {
            match parts.head(&same, false) {
                Some(cells) => row.encoded_cells(cells),
                None => {
                    fixed
                        .action_at(same.action)
                        .csv_if(row, &r.action, same.action_id);
                    rule.id.csv_if(row, &r.rule, same.id);
                }
            }
            match parts.body(&same, r.strength, r.urgency, false) {
                Some(cells) => row.encoded_cells(cells),
                None => {
                    row.name(r.strength.as_str());
                    row.name(r.urgency.as_str());
                    rule.rationale.csv_if(row, &r.rationale, same.rationale);
                }
            }
        }
        evidence(row, cx, EvidenceOf::Recommendation, i, &r.evidence);
        let condition = r.condition.as_deref().unwrap_or("");
        // An empty condition cell, or the rule's own condition.
        let tail = (same.condition || condition.is_empty())
            .then(|| parts.tail(&same, same.condition, false))
            .flatten();
        if let Some(cells) = tail {
            row.encoded_cells(cells);
            return;
        }
        rule.source.csv_if(row, &r.source, same.source);
        match cx.condition(i, false) {
            Some(cell) => row.encoded_cells(cell),
            None => rule.condition.csv_if(row, condition, same.condition),
        }
    }

    pub(crate) fn caution_row(
        &self,
        row: &mut Row,
        fixed: &FixedTexts,
        cx: &Shared,
        i: usize,
        c: &Caution,
    ) {
        let same = cx.caution(i);
        let caution = fixed.caution_at(same.caution);
        // The caution id, rule id and message in one copy when all are theirs.
        match fixed.rule_parts(same.rule).caution_head(&same, false) {
            Some(cells) => row.encoded_cells(cells),
            None => {
                caution.id.csv_if(row, &c.id, same.id);
                (fixed.rule_at(same.rule).id).csv_if(row, &c.rule, same.rule_id);
                caution.message.csv_if(row, &c.message, same.message);
            }
        }
        evidence(row, cx, EvidenceOf::Caution, i, &c.evidence);
        caution.source.csv_if(row, &c.source, same.source);
    }

    pub(crate) fn audit_row(&self, row: &mut Row, cx: &Shared, i: usize, f: &AuditFlag) {
        row.cell(&f.flag);
        row.name(f.severity.as_str());
        row.cell(&f.message);
        evidence(row, cx, EvidenceOf::Flag, i, &f.evidence);
    }

    pub(crate) fn error_row(&self, row: &mut Row, e: &RecordError) {
        row.cell(&e.source);
        row.uint(e.record);
        row.cell(e.id.as_deref().unwrap_or(""));
        row.cell(&e.reason);
        row.opt_uint(e.line);
    }
}

/// The evidence of a recommendation, caution or flag as one cell: the cell worked out once per
/// report and evidence list, or else written now.
fn evidence(row: &mut Row, cx: &Shared, of: EvidenceOf, i: usize, idx: &[u32]) {
    match cx.evidence(of, i, false) {
        Some(cell) => row.encoded_cells(cell),
        None => evidence_cell(row, cx, idx),
    }
}

/// The evidence of a recommendation, caution or flag as one cell: `text@start-end`, `;`-joined,
/// from the items worked out once per report.
fn evidence_cell(row: &mut Row, cx: &Shared, idx: &[u32]) {
    evidence_cell_of(row, &cx.mentions, &cx.items, idx);
}

/// [`evidence_cell`] from the mentions of a report and their items.
pub(crate) fn evidence_cell_of(row: &mut Row, mentions: &[MentionOut], items: &[u8], idx: &[u32]) {
    let may_need_quotes = idx
        .iter()
        .any(|&i| mentions.get(i as usize).is_some_and(|m| !m.csv_plain));
    row.joined_known(
        idx.iter().filter_map(|&i| item_of(mentions, items, i)),
        |out, item| out.extend_from_slice(item),
        may_need_quotes,
    );
}

/// The sentence of the last mention row written into an output, and where its cell is there
/// (see [`Tables::mention_row`]).
#[derive(Debug, Clone)]
pub(crate) struct LastSentence {
    sentence: u32,
    cell: std::ops::Range<usize>,
}

/// Report-level grades read from the affirmed mentions of a present concept (the highest one).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ReportExtras {
    pub genant_grade: Option<u8>,
    pub meyerding_grade: Option<u8>,
    pub cobb_degrees: Option<f32>,
}

impl ReportExtras {
    pub fn of(a: &Analysis) -> ReportExtras {
        ReportExtras {
            genant_grade: highest(a, ConceptId::VERTEBRAL_FRACTURE, |at| at.genant_grade),
            meyerding_grade: highest(a, ConceptId::SPONDYLOLISTHESIS, |at| at.meyerding_grade),
            cobb_degrees: highest(a, ConceptId::SCOLIOSIS, |at| at.cobb_degrees),
        }
    }
}

fn highest<T: PartialOrd + Copy>(
    a: &Analysis,
    concept: ConceptId,
    get: impl Fn(&Attributes) -> Option<T>,
) -> Option<T> {
    if a.status(concept) != Some(Status::Present) {
        return None;
    }
    a.mentions
        .iter()
        .filter(|m| m.concept == concept && m.affirmed())
        .filter_map(|m| get(&m.attrs))
        .fold(None, |best, v| match best {
            Some(b) if b >= v => Some(b),
            _ => Some(v),
        })
}

/// Whether a mention has a region, a grade, a measure or a direction (most have none: their
/// cells are all empty, and their keys left out).
#[inline]
pub(crate) fn has_attribute_extras(at: &Attributes) -> bool {
    at.region.is_some()
        || at.genant_grade.is_some()
        || at.height_loss_pct.is_some()
        || at.meyerding_grade.is_some()
        || at.slip_mm.is_some()
        || at.cobb_degrees.is_some()
        || at.direction.is_some()
}

/// The text a flag's trigger covers ("" when the flag is not set): the simple way, for tests
/// (rows read the ranges [`Shared::prepare`] checked once).
#[cfg(test)]
pub(crate) fn flag_text(text: &str, flag: Flag) -> &str {
    flag.and_then(|s| text.get(s.start..s.end)).unwrap_or("")
}

/// The distinct trigger texts that set a mention's flags, in the order negated, uncertain,
/// historical, hypothetical: the simple way, for tests ([`Shared::prepare`] joins them in its
/// pass over the flags).
#[cfg(test)]
pub(crate) fn triggers<'t, 'm>(text: &'t str, m: &'m Mention) -> Triggers<'t, 'm> {
    Triggers {
        text,
        m,
        next: if flag_bits(m) == 0 { 4 } else { 0 },
    }
}

/// The four flags of a mention as bits: negated 1, uncertain 2, historical 4, hypothetical 8.
#[inline]
pub(crate) fn flag_bits(m: &Mention) -> usize {
    usize::from(m.negated.is_some())
        | usize::from(m.uncertain.is_some()) << 1
        | usize::from(m.historical.is_some()) << 2
        | usize::from(m.hypothetical.is_some()) << 3
}

/// See [`triggers`].
#[cfg(test)]
pub(crate) struct Triggers<'t, 'm> {
    text: &'t str,
    m: &'m Mention,
    /// The next flag to look at (4: done).
    next: usize,
}

#[cfg(test)]
impl<'t> Iterator for Triggers<'t, '_> {
    type Item = &'t str;

    fn next(&mut self) -> Option<&'t str> {
        let m = self.m;
        let flags = [m.negated, m.uncertain, m.historical, m.hypothetical];
        while let Some(&flag) = flags.get(self.next) {
            let i = self.next;
            self.next += 1;
            // A span an earlier flag has was given then, or is not a slice of the text.
            let Some(span) = flag else { continue };
            if flags[..i].contains(&flag) {
                continue;
            }
            if let Some(t) = self.text.get(span.start..span.end) {
                return Some(t);
            }
        }
        None
    }
}

/// The sentence a mention sits in ("" when unknown).
pub(crate) fn sentence_text<'t>(text: &'t str, a: &Analysis, m: &Mention) -> &'t str {
    a.sentences
        .get(m.sentence as usize)
        .and_then(|s| text.get(s.span.start..s.span.end))
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_columns_follow_the_contract() {
        let p = Pipeline::builtin();
        let cols = Tables::new(&p).report_columns();
        assert_eq!(cols[0], "report_id");
        assert_eq!(cols[1..12], BUILTIN_CONCEPTS.map(String::from));
        assert_eq!(cols[12], "vertebral_fracture_levels");
        assert_eq!(cols[22], "osseous_lesion_levels");
        assert_eq!(
            cols[23..26],
            [
                "vertebral_fracture_severity",
                "vertebral_fracture_acuity",
                "actions"
            ]
        );
        assert_eq!(cols[26..], REPORT_EXTRA_COLUMNS.map(String::from));
    }

    fn mention(concept: ConceptId, span: Span) -> Mention {
        Mention {
            concept,
            span,
            section: SectionKind::Findings,
            sentence: 0,
            term: 0,
            negated: None,
            uncertain: None,
            historical: None,
            hypothetical: None,
            attrs: Attributes::default(),
        }
    }

    #[test]
    fn triggers_are_distinct_and_in_flag_order() {
        let text = "No definite fracture.";
        let mut m = mention(ConceptId::VERTEBRAL_FRACTURE, Span::new(12, 20));
        assert_eq!(triggers(text, &m).count(), 0);
        m.negated = Some(Span::new(0, 2));
        m.uncertain = Some(Span::new(3, 11));
        m.historical = Some(Span::new(0, 2));
        assert_eq!(triggers(text, &m).collect::<Vec<_>>(), ["No", "definite"]);
        // A span that is not a slice of the text is left out, however often it comes.
        m.negated = Some(Span::new(3, 99));
        m.hypothetical = Some(Span::new(3, 99));
        assert_eq!(triggers(text, &m).collect::<Vec<_>>(), ["definite", "No"]);
    }

    #[test]
    fn extras_take_the_highest_affirmed_grade() {
        let mut a = Analysis {
            concepts: vec![ConceptResult::default(); 11],
            ..Analysis::default()
        };
        let mut m1 = mention(ConceptId::VERTEBRAL_FRACTURE, Span::new(0, 1));
        m1.attrs.genant_grade = Some(1);
        let mut m2 = m1.clone();
        m2.attrs.genant_grade = Some(3);
        let mut m3 = m1.clone();
        m3.attrs.genant_grade = Some(2);
        m2.negated = Some(Span::new(0, 1));
        a.mentions = vec![m1, m2, m3];
        assert_eq!(
            ReportExtras::of(&a).genant_grade,
            None,
            "blank status has no grade"
        );
        a.concepts[0].status = Some(Status::Present);
        assert_eq!(ReportExtras::of(&a).genant_grade, Some(2));
    }

    #[test]
    fn evidence_uses_character_offsets() {
        let report = Report::new("r", "30° kyphosis – T12 fracture");
        let start = report.text.find("fracture").unwrap();
        let a = Analysis {
            mentions: vec![mention(
                ConceptId::VERTEBRAL_FRACTURE,
                Span::new(start, start + 8),
            )],
            ..Analysis::default()
        };
        let mut cx = Shared::default();
        cx.prepare(
            &FixedTexts::new(&Pipeline::builtin()),
            &report,
            &a,
            Parts::ALL,
        );
        let mut out = Vec::new();
        let mut row = Row::new(&mut out);
        cx.add_items(&report.text, &[0, 5]);
        evidence_cell(&mut row, &cx, &[0, 5, 0]);
        row.end();
        assert_eq!(out, b"fracture@19-27;fracture@19-27\n");
        let c: Vec<char> = report.text.chars().collect();
        assert_eq!(c[19..27].iter().collect::<String>(), "fracture");
    }

    #[test]
    fn evidence_is_quoted_when_a_text_needs_it() {
        let report = Report::new("r", "-x, \"y\"");
        let a = Analysis {
            mentions: vec![
                mention(ConceptId::VERTEBRAL_FRACTURE, Span::new(0, 7)),
                mention(ConceptId::VERTEBRAL_FRACTURE, Span::new(0, 2)),
            ],
            ..Analysis::default()
        };
        let mut cx = Shared::default();
        cx.prepare(
            &FixedTexts::new(&Pipeline::builtin()),
            &report,
            &a,
            Parts::ALL,
        );
        let mut out = Vec::new();
        cx.add_items(&report.text, &[1, 0]);
        let mut row = Row::new(&mut out);
        evidence_cell(&mut row, &cx, &[1]);
        evidence_cell(&mut row, &cx, &[1, 0]);
        row.end();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "'-x@0-2,\"'-x@0-2;-x, \"\"y\"\"@0-7\"\n"
        );
    }

    proptest::proptest! {
        /// Sentence cells copied from the row before are the cells written for each mention.
        #[test]
        fn sentence_cells_copied_match_sentence_cells_written_each_time(
            text in "(?s)[a-z ,\"\n=-]{0,40}",
            cuts in proptest::collection::vec(0usize..40, 0..6),
            sentences in proptest::collection::vec(0u32..8, 0..10),
        ) {
            let p = Pipeline::builtin();
            let (fixed, tables) = (FixedTexts::new(&p), Tables::new(&p));
            let report = Report::new("r", text);
            let mut a = Analysis::default();
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut from = 0;
            for to in cuts {
                a.sentences.push(Sentence { span: Span::new(from, to), section: 0 });
                from = to;
            }
            for (k, &sentence) in sentences.iter().enumerate() {
                let mut m = mention(ConceptId::VERTEBRAL_FRACTURE, Span::new(k, k + 1));
                m.sentence = sentence;
                a.mentions.push(m);
            }
            let mut cx = Shared::default();
            cx.prepare(&fixed, &report, &a, Parts::ALL);
            let (mut copied, mut each) = (Vec::new(), Vec::new());
            let mut last = None;
            for (i, m) in a.mentions.iter().enumerate() {
                let mut row = Row::starting_with(&mut copied, b"r");
                tables.mention_row(&mut row, &fixed, &report, &a, &cx, i, m, &mut last);
                row.end();
                let mut row = Row::starting_with(&mut each, b"r");
                tables.mention_row(&mut row, &fixed, &report, &a, &cx, i, m, &mut None);
                row.end();
            }
            proptest::prop_assert_eq!(String::from_utf8(copied), String::from_utf8(each));
        }

        /// Evidence cells worked out once per report and list are the cells written for each
        /// recommendation, caution and flag as it comes.
        #[test]
        fn evidence_encoded_once_matches_evidence_written_each_time(
            lists in proptest::collection::vec(proptest::collection::vec(0u32..6, 0..4), 0..12),
            parts in proptest::sample::select(vec![Parts::ALL, Parts::RESULTS, Parts::AUDIT, Parts::MENTIONS]),
        ) {
            let report = Report::new("r", "-x, \"y\" and a fracture");
            let mut a = Analysis::default();
            for span in [Span::new(0, 7), Span::new(0, 2), Span::new(14, 22), Span::new(3, 99)] {
                a.mentions.push(mention(ConceptId::VERTEBRAL_FRACTURE, span));
            }
            for (k, idx) in lists.iter().enumerate() {
                match k % 3 {
                    0 => a.recommendations.push(Recommendation {
                        action: "dxa".into(),
                        rule: "r".into(),
                        strength: Strength::Recommended,
                        condition: None,
                        urgency: Urgency::Routine,
                        rationale: Text::default(),
                        evidence: idx.clone(),
                        source: Text::default(),
                    }),
                    1 => a.cautions.push(Caution {
                        id: "c".into(),
                        rule: "r".into(),
                        message: Text::default(),
                        evidence: idx.clone(),
                        source: Text::default(),
                    }),
                    _ => a.flags.push(AuditFlag {
                        flag: "f".into(),
                        severity: FlagSeverity::Warning,
                        message: String::new(),
                        evidence: idx.clone(),
                    }),
                }
            }
            let mut cx = Shared::default();
            cx.prepare(&FixedTexts::new(&Pipeline::builtin()), &report, &a, Parts::ALL);
            let mut simple = Shared::default();
            simple.prepare(&FixedTexts::new(&Pipeline::builtin()), &report, &a, parts);
            let of = (a.recommendations.iter().map(|r| (EvidenceOf::Recommendation, &r.evidence)))
                .chain(a.cautions.iter().map(|c| (EvidenceOf::Caution, &c.evidence)))
                .chain(a.flags.iter().map(|f| (EvidenceOf::Flag, &f.evidence)));
            let mut seen = [0; 3];
            for (of, idx) in of {
                let i = &mut seen[of as usize];
                let mut out = Vec::new();
                let mut row = Row::starting_with(&mut out, &[]);
                evidence_cell(&mut row, &cx, idx);
                proptest::prop_assert_eq!(cx.evidence(of, *i, false), Some(out.as_slice()));
                let mut json = Vec::new();
                crate::output::json::evidence(&mut json, idx, a.mentions.len());
                proptest::prop_assert_eq!(cx.evidence(of, *i, true), Some(json.as_slice()));
                // An encoding the parts do not need is left out; rows then write it as it
                // comes.
                let csv = parts.intersects(Parts::RECOMMENDATIONS | Parts::CAUTIONS | Parts::AUDIT);
                let json = parts.contains(Parts::RESULTS);
                proptest::prop_assert_eq!(simple.evidence(of, *i, false).is_some(), csv);
                proptest::prop_assert_eq!(simple.evidence(of, *i, true).is_some(), json);
                *i += 1;
            }
        }
    }
}
