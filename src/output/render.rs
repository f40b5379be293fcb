//! Rendering: one analyzed report becomes the bytes of its rows in each table. Rendering runs on
//! the analysis threads, so the thread that writes only copies bytes, in input order.

use super::json::write_report;
use super::row::Row;
use super::tables::Tables;
use crate::model::{Analysis, Report};
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
}

thread_local! {
    static ROW: RefCell<Row> = RefCell::new(Row::default());
}

/// Renders reports into the parts a sink asked for; shared by the analysis threads.
#[derive(Debug, Clone, Copy)]
pub struct Renderer<'p> {
    tables: Tables<'p>,
    parts: Parts,
}

impl<'p> Renderer<'p> {
    /// A renderer of `parts` for the tables of `pipeline`.
    pub fn new(pipeline: &'p Pipeline, parts: Parts) -> Renderer<'p> {
        Renderer {
            tables: Tables::new(pipeline),
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
        ROW.with(|row| {
            let row = &mut *row.borrow_mut();
            if p.contains(Parts::REPORTS) {
                t.report_row(row, report, a);
                row.encode(&mut out.reports);
            }
            if p.contains(Parts::MENTIONS) {
                for m in &a.mentions {
                    t.mention_row(row, report, a, &chars, m);
                    row.encode(&mut out.mentions);
                }
            }
            if p.contains(Parts::RECOMMENDATIONS) {
                for r in &a.recommendations {
                    t.recommendation_row(row, report, a, &chars, r);
                    row.encode(&mut out.recommendations);
                }
            }
            if p.contains(Parts::CAUTIONS) {
                for c in &a.cautions {
                    t.caution_row(row, report, a, &chars, c);
                    row.encode(&mut out.cautions);
                }
            }
            if p.contains(Parts::AUDIT) {
                for f in &a.flags {
                    t.audit_row(row, report, a, &chars, f);
                    row.encode(&mut out.audit);
                }
            }
        });
        if p.contains(Parts::RESULTS) {
            // Serializing into a Vec cannot fail: every value is a plain string, number or bool.
            if write_report(&mut out.results, t, report, a, &chars).is_ok() {
                out.results.push(b'\n');
            }
        }
    }

    /// Renders one report.
    pub fn render(&self, report: &Report, a: &Analysis) -> Rendered {
        let mut out = Rendered::default();
        self.render_into(report, a, &mut out);
        out
    }
}
