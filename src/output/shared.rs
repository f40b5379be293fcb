//! What the rows of one report share, worked out once per report before any row is written.

use super::enc;
use super::fixed::{CautionMatch, FixedTexts, RuleMatch};
use super::json;
use super::render::Parts;
use super::row::Row;
use super::tables::{evidence_cell_of, flag_bits, has_attribute_extras, ReportExtras};
use crate::model::{Analysis, Report};
use crate::span::CharIndex;

/// One mention's share of its report's rows: its character offsets, its evidence item and
/// what its text needs in each format.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MentionOut {
    /// Character offset of its start.
    pub start: usize,
    /// Character offset of its end.
    pub end: usize,
    /// Where its text is in the report text (byte offsets): its span, checked once to be a
    /// slice of the text; an empty range when it is not (its text is written empty).
    pub text: (usize, usize),
    /// Whether its span is a slice of the text.
    pub sliced: bool,
    /// Its flags as bits (see [`flag_bits`]).
    pub bits: u8,
    /// Whether it has a region, a grade, a measure or a direction (see
    /// [`has_attribute_extras`]).
    pub extras: bool,
    /// The texts of its flags' triggers as [`MentionOut::text`] is its own (negated,
    /// uncertain, historical, hypothetical; an empty range for a flag not set), when a table
    /// writes them.
    pub flags: [(usize, usize); 4],
    /// Where its evidence item (`text@start-end`) is in [`Shared::items`], once an evidence
    /// cell that lists it was written (see [`Shared::add_items`]); `None` before, and when its
    /// span is not a slice of the text (evidence leaves it out).
    pub item: Option<(usize, usize)>,
    /// Whether its text is a slice of the report text that a CSV cell holds as it is (no
    /// comma, quote, CR or LF).
    pub csv_plain: bool,
    /// Whether its text is a slice of the report text that a JSON string holds as it is.
    pub json_plain: bool,
    /// Whether the texts of its flags' triggers are plain (see [`enc::is_plain`]): written as
    /// they are in both formats.
    pub triggers_plain: bool,
    /// Where its distinct trigger texts, `;`-joined (see [`super::tables::triggers`]), are in
    /// [`Shared::triggers`], if it has any: the `trigger` cell of `mentions.csv` and of
    /// `results.jsonl`, joined once for both.
    pub trigger: Option<(usize, usize)>,
}

/// Where the two encodings of one evidence list are in [`Shared::evidence_bytes`].
#[derive(Debug, Clone, Copy, Default)]
struct EvidenceCells {
    /// The CSV cell after its separator (`,text@start-end;...`).
    csv: (usize, usize),
    /// The `results.jsonl` key and array (`,"evidence":[...]`), or nothing.
    json: (usize, usize),
}

/// Whose evidence: a recommendation's, a caution's or a flag's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EvidenceOf {
    Recommendation,
    Caution,
    Flag,
}

/// What the rows of one report share, worked out once per report: the id as a CSV field, each
/// mention's offsets, evidence item and what its text needs, the report-level grades, and
/// which texts of each recommendation and caution are encoded once. One per thread, its memory
/// kept from one report to the next.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The report id as a CSV field.
    pub id: enc::Field,
    chars: CharIndex,
    /// One per mention of the analysis, in order.
    pub mentions: Vec<MentionOut>,
    /// The evidence items of the mentions, back to back.
    pub items: Vec<u8>,
    /// The joined trigger texts of the mentions, back to back.
    triggers: String,
    /// The report-level grades.
    pub extras: ReportExtras,
    /// Which texts of each recommendation are its rule's.
    pub recommendations: Vec<RuleMatch>,
    /// Which texts of each caution are its definition's.
    pub cautions: Vec<CautionMatch>,
    /// The evidence of each recommendation, caution and flag, in that order.
    evidence: Vec<EvidenceCells>,
    /// Each distinct evidence list of the report: where its indices are in `evidence_idx`, and
    /// its cells. A report's recommendations and cautions mostly point at the same mentions:
    /// each list is encoded once.
    evidence_lists: Vec<((usize, usize), EvidenceCells)>,
    evidence_idx: Vec<u32>,
    evidence_bytes: Vec<u8>,
    /// Which encodings of the evidence were worked out: CSV, JSON.
    evidence_in: [bool; 2],
    /// Conditions that differ from their rule's, encoded once and kept from one report to the
    /// next (see [`Conditions`]).
    conditions: Conditions,
    /// Where the encoded condition of each recommendation is in `conditions`, if it is there.
    condition_of: Vec<Option<(u32, u32)>>,
}

/// A condition that differs from its rule's, with its encodings.
#[derive(Debug)]
struct EncodedCondition {
    text: Box<str>,
    /// The CSV cell after its separator, as [`Row::cell`] writes it.
    csv: Vec<u8>,
    /// The JSON string.
    json: Vec<u8>,
}

/// The conditions that differ from their rule's (they name what to obtain for the patient),
/// encoded once per thread: a rule words its condition in only a few ways, so the same texts
/// come back report after report. Kept by rule index, so that a look-up compares the few texts
/// of one rule; the encodings depend only on the text, so an index that names another rule
/// (or none) only makes the look-up miss.
#[derive(Debug, Default)]
struct Conditions {
    by_rule: Vec<Vec<EncodedCondition>>,
}

impl Conditions {
    /// Distinct conditions kept per rule; more are encoded as they come.
    const PER_RULE: usize = 32;
    /// Rules whose conditions are kept; those of rules past this are encoded as they come.
    const RULES: usize = 1024;
    /// Longest condition kept, in bytes.
    const MAX_LEN: usize = 4096;

    /// Where the encodings of `text` for rule `rule` are, found or made now; `None` when they
    /// are not kept.
    fn find_or_add(&mut self, rule: u32, text: &str) -> Option<(u32, u32)> {
        let r = rule as usize;
        if r >= Self::RULES || text.len() > Self::MAX_LEN {
            return None;
        }
        if self.by_rule.len() <= r {
            self.by_rule.resize_with(r + 1, Vec::new);
        }
        let kept = &mut self.by_rule[r];
        if let Some(k) = kept.iter().position(|c| *c.text == *text) {
            return Some((rule, k as u32));
        }
        if kept.len() >= Self::PER_RULE {
            return None;
        }
        let mut csv = Vec::new();
        Row::starting_with(&mut csv, &[]).cell(text);
        let mut json = Vec::new();
        enc::json_str(&mut json, text);
        kept.push(EncodedCondition {
            text: text.into(),
            csv,
            json,
        });
        Some((rule, kept.len() as u32 - 1))
    }

    fn get(&self, (rule, k): (u32, u32)) -> Option<&EncodedCondition> {
        self.by_rule.get(rule as usize)?.get(k as usize)
    }
}

/// Whether two evidence lists are equal, compared index by index: they hold a few indices
/// each, fewer than it takes to make a call to `memcmp` (which `==` on slices makes) worth it.
#[inline]
fn same_indices(a: &[u32], b: &[u32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

impl Shared {
    /// Works out what the rows of `parts` for `report` share.
    pub fn prepare(&mut self, fixed: &FixedTexts, report: &Report, a: &Analysis, parts: Parts) {
        let items = parts.intersects(Parts::RECOMMENDATIONS | Parts::CAUTIONS | Parts::AUDIT);
        let csv = items || parts.contains(Parts::MENTIONS);
        let json = parts.contains(Parts::RESULTS);
        let details = json || parts.contains(Parts::MENTIONS);
        let text = report.text.as_str();
        self.id.set_csv(report.id.as_bytes());
        if !a.mentions.is_empty() {
            self.chars.reset(text);
        }
        self.mentions.clear();
        self.items.clear();
        self.triggers.clear();
        for m in &a.mentions {
            // Written in place: the vector's last entry is this mention's.
            self.mentions.push(MentionOut {
                start: self.chars.char_offset(m.span.start),
                end: self.chars.char_offset(m.span.end),
                ..MentionOut::default()
            });
            let Some(out) = self.mentions.last_mut() else {
                continue;
            };
            let bits = flag_bits(m);
            out.bits = bits as u8;
            out.extras = has_attribute_extras(&m.attrs);
            // One scan tells both formats that a text is plain; another only when it is not.
            let plain = |t: &str| enc::is_plain(t.as_bytes());
            if details && bits != 0 {
                // One pass over the flags checks each span once, keeps its range, and joins the
                // distinct triggers (as [`super::tables::triggers`] lists them). The texts of
                // every flag (one that is not a slice of the text is empty, and plain) are
                // plain when their joined text is.
                let from = self.triggers.len();
                let mut n = 0;
                let flags = [m.negated, m.uncertain, m.historical, m.hypothetical];
                for (k, flag) in flags.iter().enumerate() {
                    let Some(s) = flag else { continue };
                    let Some(t) = text.get(s.start..s.end) else {
                        continue;
                    };
                    out.flags[k] = (s.start, s.end);
                    // A span an earlier flag has was joined then.
                    if flags[..k].contains(flag) {
                        continue;
                    }
                    if n > 0 {
                        self.triggers.push(';');
                    }
                    self.triggers.push_str(t);
                    n += 1;
                }
                out.trigger = (n > 0).then_some((from, self.triggers.len()));
                out.triggers_plain = plain(&self.triggers[from..]);
            } else {
                out.triggers_plain = details;
            }
            if let Some(t) = text.get(m.span.start..m.span.end) {
                out.text = (m.span.start, m.span.end);
                out.sliced = true;
                let plain = plain(t);
                out.csv_plain = csv && (plain || enc::find_csv_special(t.as_bytes(), 0).is_none());
                out.json_plain =
                    json && (plain || enc::find_json_special(t.as_bytes(), 0).is_none());
            }
        }
        self.extras = ReportExtras::of(a);
        self.recommendations.clear();
        self.recommendations
            .extend(a.recommendations.iter().map(|r| fixed.match_rule(r)));
        self.condition_of.clear();
        for (r, m) in a.recommendations.iter().zip(&self.recommendations) {
            let at = match r.condition.as_deref() {
                Some(c) if !m.condition && !c.is_empty() => self.conditions.find_or_add(m.rule, c),
                _ => None,
            };
            self.condition_of.push(at);
        }
        self.cautions.clear();
        self.cautions
            .extend(a.cautions.iter().map(|c| fixed.match_caution(c)));
        self.evidence.clear();
        self.evidence_lists.clear();
        self.evidence_idx.clear();
        self.evidence_bytes.clear();
        self.evidence_in = [items, json];
        if items || json {
            let lists = (a.recommendations.iter().map(|r| &r.evidence))
                .chain(a.cautions.iter().map(|c| &c.evidence))
                .chain(a.flags.iter().map(|f| &f.evidence));
            for idx in lists {
                let cells = self.evidence_cells(text, idx, items, json, a.mentions.len());
                self.evidence.push(cells);
            }
        }
    }

    /// Writes the evidence items (`text@start-end`) of the mentions of `idx` that are slices
    /// of `text` (the report text) and do not have theirs yet. Only the mentions that some
    /// evidence lists get one: about half of them.
    pub(crate) fn add_items(&mut self, text: &str, idx: &[u32]) {
        for &i in idx {
            let Some(m) = self.mentions.get_mut(i as usize) else {
                continue;
            };
            if m.item.is_some() || !m.sliced {
                continue;
            }
            let from = self.items.len();
            self.items
                .extend_from_slice(&text.as_bytes()[m.text.0..m.text.1]);
            self.items.push(b'@');
            enc::uint(&mut self.items, m.start as u64);
            self.items.push(b'-');
            enc::uint(&mut self.items, m.end as u64);
            m.item = Some((from, self.items.len()));
        }
    }

    /// The cells of evidence list `idx` (into `n` mentions of report text `text`), encoded now
    /// unless an earlier recommendation, caution or flag of the report has the same list.
    fn evidence_cells(
        &mut self,
        text: &str,
        idx: &[u32],
        csv: bool,
        json: bool,
        n: usize,
    ) -> EvidenceCells {
        let known = (self.evidence_lists.iter())
            .find(|((from, to), _)| same_indices(&self.evidence_idx[*from..*to], idx));
        if let Some(&(_, cells)) = known {
            return cells;
        }
        let start = self.evidence_bytes.len();
        if csv {
            self.add_items(text, idx);
            let mut row = Row::starting_with(&mut self.evidence_bytes, &[]);
            evidence_cell_of(&mut row, &self.mentions, &self.items, idx);
        }
        let mid = self.evidence_bytes.len();
        if json {
            json::evidence(&mut self.evidence_bytes, idx, n);
        }
        let cells = EvidenceCells {
            csv: (start, mid),
            json: (mid, self.evidence_bytes.len()),
        };
        let from = self.evidence_idx.len();
        self.evidence_idx.extend_from_slice(idx);
        (self.evidence_lists).push(((from, self.evidence_idx.len()), cells));
        cells
    }

    /// The evidence of recommendation, caution or flag `i` as the CSV cell after its
    /// separator, or in `results.jsonl` (`,"evidence":[...]`, or nothing), if it was worked
    /// out.
    #[inline]
    pub fn evidence(&self, of: EvidenceOf, i: usize, json: bool) -> Option<&[u8]> {
        let at = match of {
            EvidenceOf::Recommendation => i,
            EvidenceOf::Caution => self.recommendations.len() + i,
            EvidenceOf::Flag => self.recommendations.len() + self.cautions.len() + i,
        };
        if !self.evidence_in[usize::from(json)] {
            return None;
        }
        let cells = self.evidence.get(at)?;
        let (from, to) = if json { cells.json } else { cells.csv };
        self.evidence_bytes.get(from..to)
    }

    /// Which texts of recommendation `i` are its rule's.
    #[inline]
    pub fn recommendation(&self, i: usize) -> RuleMatch {
        self.recommendations.get(i).copied().unwrap_or_default()
    }

    /// The condition of recommendation `i` as the CSV cell after its separator, or as a JSON
    /// string, when it differs from its rule's and was encoded once (else the row encodes it
    /// as it comes).
    #[inline]
    pub fn condition(&self, i: usize, json: bool) -> Option<&[u8]> {
        let c = self.conditions.get((*self.condition_of.get(i)?)?)?;
        Some(if json { &c.json } else { &c.csv })
    }

    /// Which texts of caution `i` are its definition's.
    #[inline]
    pub fn caution(&self, i: usize) -> CautionMatch {
        self.cautions.get(i).copied().unwrap_or_default()
    }

    /// The distinct trigger texts of mention `i`, `;`-joined, if it has any.
    #[inline]
    pub fn trigger(&self, i: usize) -> Option<&str> {
        let (from, to) = self.mention(i).trigger?;
        self.triggers.get(from..to)
    }

    /// What mention `i` shares (zero offsets when there is no such mention).
    #[inline]
    pub fn mention(&self, i: usize) -> &MentionOut {
        const NONE: &MentionOut = &MentionOut {
            start: 0,
            end: 0,
            text: (0, 0),
            sliced: false,
            bits: 0,
            extras: false,
            flags: [(0, 0); 4],
            item: None,
            csv_plain: false,
            json_plain: false,
            triggers_plain: false,
            trigger: None,
        };
        self.mentions.get(i).unwrap_or(NONE)
    }
}

/// The evidence item of mention `i` of `mentions`, whose items are in `items`.
#[inline]
pub(crate) fn item_of<'a>(mentions: &[MentionOut], items: &'a [u8], i: u32) -> Option<&'a [u8]> {
    let (from, to) = mentions.get(i as usize)?.item?;
    items.get(from..to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::output::tables::{flag_text, triggers, Tables};
    use crate::pipeline::Pipeline;

    proptest::proptest! {
        /// Mention texts and triggers found plain are written as the writers that scan them
        /// write them, in both formats.
        #[test]
        fn texts_found_plain_are_written_as_texts_scanned(
            text in "(?s)[a-z ,\"\\\\\n\t=-]{0,40}",
            mentions in proptest::collection::vec(
                ((0usize..40, 0usize..8), proptest::collection::vec(
                    proptest::option::of((0usize..40, 0usize..6)), 4)),
                0..6),
        ) {
            let p = Pipeline::builtin();
            let (fixed, tables) = (FixedTexts::new(&p), Tables::new(&p));
            let report = Report::new("r", text);
            let span = |(start, len): (usize, usize)| Span::new(start, start + len);
            let mut a = Analysis::default();
            for (at, flags) in mentions {
                a.mentions.push(Mention {
                    concept: ConceptId::VERTEBRAL_FRACTURE,
                    span: span(at),
                    section: SectionKind::Findings,
                    sentence: 0,
                    term: 0,
                    negated: flags[0].map(span),
                    uncertain: flags[1].map(span),
                    historical: flags[2].map(span),
                    hypothetical: flags[3].map(span),
                    attrs: Attributes::default(),
                });
            }
            let write = |cx: &Shared| {
                let mut csv = Vec::new();
                let mut last = None;
                for (i, m) in a.mentions.iter().enumerate() {
                    let mut row = Row::starting_with(&mut csv, b"r");
                    tables.mention_row(&mut row, &fixed, &report, &a, cx, i, m, &mut last);
                    row.end();
                }
                let mut json = Vec::new();
                json::write_report(&mut json, &tables, &fixed, &report, &a, cx);
                (String::from_utf8(csv).unwrap(), String::from_utf8(json).unwrap())
            };
            let mut cx = Shared::default();
            cx.prepare(&fixed, &report, &a, Parts::ALL);
            // The triggers joined once are those the writers would join, and are plain when
            // the text of every flag is.
            for (i, m) in a.mentions.iter().enumerate() {
                let each: Vec<&str> = triggers(&report.text, m).collect();
                let joined = (!each.is_empty()).then(|| each.join(";"));
                proptest::prop_assert_eq!(cx.trigger(i), joined.as_deref());
                let flags = [m.negated, m.uncertain, m.historical, m.hypothetical];
                let plain = flags.iter().all(|&f| enc::is_plain(flag_text(&report.text, f).as_bytes()));
                proptest::prop_assert_eq!(cx.mention(i).triggers_plain, plain);
                // The ranges checked once are the texts sliced as they come.
                let share = cx.mention(i);
                let slice = |(from, to): (usize, usize)| &report.text[from..to];
                for (k, &f) in flags.iter().enumerate() {
                    proptest::prop_assert_eq!(slice(share.flags[k]), flag_text(&report.text, f));
                }
                let own = report.text.get(m.span.start..m.span.end);
                proptest::prop_assert_eq!(slice(share.text), own.unwrap_or(""));
                proptest::prop_assert_eq!(share.sliced, own.is_some());
                proptest::prop_assert_eq!(usize::from(share.bits), flag_bits(m));
                proptest::prop_assert_eq!(share.extras, has_attribute_extras(&m.attrs));
            }
            let found = write(&cx);
            for m in &mut cx.mentions {
                (m.csv_plain, m.json_plain, m.triggers_plain) = (false, false, false);
            }
            proptest::prop_assert_eq!(found, write(&cx));
        }

        /// Conditions encoded once per thread are the cells and strings written for each
        /// recommendation as it comes, however the texts and rules repeat.
        #[test]
        fn conditions_encoded_once_match_conditions_written_each_time(
            recs in proptest::collection::vec(
                (0usize..4, proptest::option::of("(?s)[=+a,\"\n\\\\-]{0,3}.{0,12}")), 0..30),
        ) {
            let p = Pipeline::builtin();
            let fixed = FixedTexts::new(&p);
            let rules = p.rules().rules();
            let report = Report::new("r", "text");
            let mut cx = Shared::default();
            // Several reports through one `Shared`, as on one thread.
            for chunk in recs.chunks(7) {
                let mut a = Analysis::default();
                for (k, condition) in chunk {
                    // Rule 3 stands for a rule id that names no rule.
                    let (rule, own) = match rules.get(*k).filter(|_| *k < 3) {
                        Some(r) => (r.id().to_string(), r.condition()),
                        None => ("no.rule".to_string(), None),
                    };
                    // Now and then the rule's own condition.
                    let condition = match (condition, own) {
                        (Some(c), Some(own)) if c.len() % 5 == 0 => Some(own.to_string()),
                        (c, _) => c.clone(),
                    };
                    a.recommendations.push(Recommendation {
                        action: "dxa".into(),
                        rule: rule.into(),
                        strength: Strength::Conditional,
                        condition: condition.map(Text::from),
                        urgency: Urgency::Routine,
                        rationale: Text::default(),
                        evidence: Vec::new(),
                        source: Text::default(),
                    });
                }
                cx.prepare(&fixed, &report, &a, crate::output::render::Parts::ALL);
                for (i, r) in a.recommendations.iter().enumerate() {
                    let same = cx.recommendation(i);
                    let rule = fixed.rule_at(same.rule);
                    let condition = r.condition.as_deref().unwrap_or("");
                    let mut csv = Vec::new();
                    rule.condition.csv_if(&mut Row::starting_with(&mut csv, &[]), condition, same.condition);
                    let mut json = Vec::new();
                    rule.condition.json_if(&mut json, condition, same.condition);
                    if let Some(cell) = cx.condition(i, false) {
                        proptest::prop_assert_eq!(cell, csv.as_slice());
                    }
                    if let Some(s) = cx.condition(i, true) {
                        proptest::prop_assert_eq!(s, json.as_slice());
                    }
                    // Every condition that differs from its rule's is kept.
                    let differs = !same.condition && !condition.is_empty();
                    proptest::prop_assert_eq!(cx.condition(i, false).is_some(), differs);
                }
            }
        }
    }
}
