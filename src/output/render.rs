//! Rendering: one analyzed report becomes the bytes of its rows in each table. Rendering runs on
//! the analysis threads, so the thread that writes only copies bytes, in input order.

use super::enc;
use super::json::write_report;
use super::row::Row;
use super::tables::{Fixed, ReportExtras, Tables};
use crate::model::{Analysis, ConceptId, Mention, Report};
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

/// Texts keyed by rule or caution id.
type ById<T> = HashMap<Box<str>, T, BuildHasherDefault<IdHasher>>;

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

/// The texts that repeat on every row a rule or caution emits, encoded once per run: each
/// rule's id, rationale, source and condition, each caution's id, message and source, the
/// concept names (and their keys in `results.jsonl`) and the lexicon terms. A row whose text
/// differs from its rule's (or names no known rule) is encoded as it comes.
#[derive(Debug, Clone)]
pub(crate) struct FixedTexts {
    rules: ById<RuleTexts>,
    cautions: ById<CautionTexts>,
    /// Concept names, by concept index.
    concepts: Vec<Fixed>,
    /// The `results.jsonl` keys of each concept's status and levels, by concept index:
    /// `,"name":` and `,"name_levels":`.
    concept_keys: Vec<[Vec<u8>; 2]>,
    /// Lexicon terms, by term index.
    terms: Vec<Fixed>,
    none: Fixed,
    no_rule: RuleTexts,
    no_caution: CautionTexts,
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
        FixedTexts {
            rules: rules
                .rules()
                .iter()
                .map(|r| {
                    let texts = RuleTexts {
                        id: Fixed::new(r.id()),
                        rationale: Fixed::new(r.rationale()),
                        source: Fixed::new(r.source()),
                        condition: Fixed::new(r.condition().unwrap_or("")),
                    };
                    (r.id().into(), texts)
                })
                .collect(),
            cautions: rules
                .cautions()
                .iter()
                .map(|c| {
                    let texts = CautionTexts {
                        id: Fixed::new(&c.id),
                        message: Fixed::new(&c.message),
                        source: Fixed::new(&c.source),
                    };
                    (c.id.as_str().into(), texts)
                })
                .collect(),
            concepts: pipeline
                .concept_names()
                .iter()
                .map(|c| Fixed::new(c))
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
            none: Fixed::new(""),
            no_rule: RuleTexts {
                id: Fixed::new(""),
                rationale: Fixed::new(""),
                source: Fixed::new(""),
                condition: Fixed::new(""),
            },
            no_caution: CautionTexts {
                id: Fixed::new(""),
                message: Fixed::new(""),
                source: Fixed::new(""),
            },
        }
    }

    /// The texts of rule `id` (empty ones when there is no such rule).
    #[inline]
    pub fn rule(&self, id: &str) -> &RuleTexts {
        self.rules.get(id).unwrap_or(&self.no_rule)
    }

    /// The texts of caution `id` (empty ones when there is no such caution).
    #[inline]
    pub fn caution(&self, id: &str) -> &CautionTexts {
        self.cautions.get(id).unwrap_or(&self.no_caution)
    }

    /// The name of a concept.
    #[inline]
    pub fn concept(&self, id: ConceptId) -> &Fixed {
        self.concepts.get(id.index()).unwrap_or(&self.none)
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
}

impl Shared {
    /// Works out what the rows of `report` share; evidence items only when `items`.
    pub fn prepare(&mut self, report: &Report, a: &Analysis, items: bool) {
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
            cx.prepare(report, a, p.intersects(evidence));
            let cx = &*cx;
            let (t, fixed) = (&self.tables, &self.fixed);
            // The id starts every row: encoded once.
            let id = cx.id.as_slice();
            fn row<'o>(out: &'o mut Vec<u8>, id: &[u8]) -> Row<'o> {
                let mut row = Row::new(out);
                row.encoded(id);
                row
            }
            if p.contains(Parts::REPORTS) {
                let mut r = row(&mut out.reports, id);
                t.report_row(&mut r, a, &cx.extras);
                r.end();
            }
            if p.contains(Parts::MENTIONS) {
                for (i, m) in a.mentions.iter().enumerate() {
                    let mut r = row(&mut out.mentions, id);
                    t.mention_row(&mut r, fixed, report, a, cx, i, m);
                    r.end();
                }
            }
            if p.contains(Parts::RECOMMENDATIONS) {
                for rec in &a.recommendations {
                    let mut r = row(&mut out.recommendations, id);
                    t.recommendation_row(&mut r, fixed, cx, rec);
                    r.end();
                }
            }
            if p.contains(Parts::CAUTIONS) {
                for c in &a.cautions {
                    let mut r = row(&mut out.cautions, id);
                    t.caution_row(&mut r, fixed, cx, c);
                    r.end();
                }
            }
            if p.contains(Parts::AUDIT) {
                for f in &a.flags {
                    let mut r = row(&mut out.audit, id);
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
