//! Rendering: one analyzed report becomes the bytes of its rows in each table. Rendering runs on
//! the analysis threads, so the thread that writes only copies bytes, in input order.

use super::json::write_report;
use super::row::Row;
use super::tables::{Fixed, Tables};
use crate::model::{Analysis, ConceptId, Mention, Report};
use crate::pipeline::Pipeline;
use crate::span::CharIndex;
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

/// The texts that repeat on every row a rule or caution emits, encoded once per run: each
/// rule's rationale and source, each caution's message and source. A row whose text differs
/// from its rule's (or names no known rule) is encoded as it comes.
#[derive(Debug, Clone, Default)]
pub(crate) struct FixedTexts {
    /// By rule id, sorted.
    rules: Vec<(String, Fixed, Fixed)>,
    /// By caution id, sorted.
    cautions: Vec<(String, Fixed, Fixed)>,
    /// Concept names, by concept index.
    concepts: Vec<Fixed>,
    /// Lexicon terms, by term index.
    terms: Vec<Fixed>,
    none: Fixed,
}

impl FixedTexts {
    pub fn new(pipeline: &Pipeline) -> FixedTexts {
        let rules = pipeline.rules();
        let mut by_rule: Vec<(String, Fixed, Fixed)> = rules
            .rules()
            .iter()
            .map(|r| {
                (
                    r.id().to_string(),
                    Fixed::new(r.rationale()),
                    Fixed::new(r.source()),
                )
            })
            .collect();
        by_rule.sort_by(|a, b| a.0.cmp(&b.0));
        let mut cautions: Vec<(String, Fixed, Fixed)> = rules
            .cautions()
            .iter()
            .map(|c| (c.id.clone(), Fixed::new(&c.message), Fixed::new(&c.source)))
            .collect();
        cautions.sort_by(|a, b| a.0.cmp(&b.0));
        FixedTexts {
            rules: by_rule,
            cautions,
            concepts: pipeline
                .concept_names()
                .iter()
                .map(|c| Fixed::new(c))
                .collect(),
            terms: pipeline
                .lexicons()
                .terms
                .iter()
                .map(|t| Fixed::new(&t.text))
                .collect(),
            none: Fixed::new(""),
        }
    }

    fn find<'a>(
        table: &'a [(String, Fixed, Fixed)],
        id: &str,
        none: &'a Fixed,
    ) -> (&'a Fixed, &'a Fixed) {
        match table.binary_search_by(|e| e.0.as_str().cmp(id)) {
            Ok(i) => (&table[i].1, &table[i].2),
            Err(_) => (none, none),
        }
    }

    /// The rationale and source of rule `id`.
    pub fn rule(&self, id: &str) -> (&Fixed, &Fixed) {
        FixedTexts::find(&self.rules, id, &self.none)
    }

    /// The name of a concept.
    pub fn concept(&self, id: ConceptId) -> &Fixed {
        self.concepts.get(id.index()).unwrap_or(&self.none)
    }

    /// The lexicon term that matched a mention.
    pub fn term(&self, m: &Mention) -> &Fixed {
        self.terms.get(m.term as usize).unwrap_or(&self.none)
    }

    /// The message and source of caution `id`.
    pub fn caution(&self, id: &str) -> (&Fixed, &Fixed) {
        FixedTexts::find(&self.cautions, id, &self.none)
    }
}

thread_local! {
    /// The report id encoded as a CSV field.
    static ID: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
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
    pub fn render_into(&self, report: &Report, a: &Analysis, out: &mut Rendered) {
        if self.parts == Parts::NONE {
            return;
        }
        let chars = CharIndex::new(&report.text);
        let t = &self.tables;
        let p = self.parts;
        ID.with(|id| {
            // The id starts every row: encoded once.
            let id = &mut *id.borrow_mut();
            id.clear();
            Row::encode_cell(id, &report.id);
            let row = |out: &mut Vec<u8>, write: &dyn Fn(&mut Row)| {
                let mut row = Row::new(out);
                row.encoded(id);
                write(&mut row);
                row.end();
            };
            if p.contains(Parts::REPORTS) {
                row(&mut out.reports, &|row| t.report_row(row, a));
            }
            if p.contains(Parts::MENTIONS) {
                for m in &a.mentions {
                    row(&mut out.mentions, &|row| {
                        t.mention_row(row, &self.fixed, report, a, &chars, m)
                    });
                }
            }
            if p.contains(Parts::RECOMMENDATIONS) {
                for r in &a.recommendations {
                    let (rationale, source) = self.fixed.rule(&r.rule);
                    row(&mut out.recommendations, &|row| {
                        t.recommendation_row(row, report, a, &chars, r, rationale, source)
                    });
                }
            }
            if p.contains(Parts::CAUTIONS) {
                for c in &a.cautions {
                    let (message, source) = self.fixed.caution(&c.id);
                    row(&mut out.cautions, &|row| {
                        t.caution_row(row, report, a, &chars, c, message, source)
                    });
                }
            }
            if p.contains(Parts::AUDIT) {
                for f in &a.flags {
                    row(&mut out.audit, &|row| {
                        t.audit_row(row, report, a, &chars, f)
                    });
                }
            }
        });
        if p.contains(Parts::RESULTS) {
            write_report(&mut out.results, t, &self.fixed, report, a, &chars);
            out.results.push(b'\n');
        }
    }

    /// Renders one report.
    pub fn render(&self, report: &Report, a: &Analysis) -> Rendered {
        let mut out = Rendered::default();
        self.render_into(report, a, &mut out);
        out
    }
}
