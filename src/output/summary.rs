//! Run counts and timing (`summary.json` and the end-of-run line).

use crate::input::RecordError;
use crate::model::{Analysis, Report, Status};
use serde::Serialize;
use std::collections::BTreeMap;

/// Counts of one concept's report-level statuses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// `present`
    pub present: u64,
    /// `absent`
    pub absent: u64,
    /// `uncertain`
    pub uncertain: u64,
    /// Not mentioned.
    pub blank: u64,
}

/// What a run read, wrote and found, and how long it took.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Records read (`reports + errors`).
    pub records_read: u64,
    /// Rows of `reports.csv`.
    pub reports_written: u64,
    /// Rows of `errors.csv`.
    pub errors: u64,
    /// Warnings (invalid UTF-8, unreadable patient values, duplicate ids), over all reports.
    pub warnings: u64,
    /// Reports with at least one warning.
    pub reports_with_warnings: u64,
    /// Reports whose id an earlier report already had (each also has a warning).
    pub duplicate_ids: u64,
    /// Mentions found.
    pub mentions: u64,
    /// Bytes of report text analyzed.
    pub text_bytes: u64,
    /// Status counts per concept, in column order (a JSON object keyed by concept).
    #[serde(serialize_with = "ordered_map")]
    pub concepts: Vec<(String, StatusCounts)>,
    /// How many reports each action was recommended for.
    pub actions: BTreeMap<String, u64>,
    /// How many times each audit flag was raised.
    pub flags: BTreeMap<String, u64>,
    /// How many times each caution was raised.
    pub cautions: BTreeMap<String, u64>,
    /// Wall-clock seconds from the first read to the last write.
    pub elapsed_seconds: f64,
    /// Megabytes (10^6 bytes) of report text per second.
    pub mb_per_second: f64,
    /// Reports per second.
    pub reports_per_second: f64,
    /// Analysis threads.
    pub threads: usize,
}

impl Summary {
    /// An empty summary for these concepts.
    pub fn new(concepts: &[String]) -> Summary {
        Summary {
            concepts: concepts
                .iter()
                .map(|c| (c.clone(), StatusCounts::default()))
                .collect(),
            ..Summary::default()
        }
    }

    /// Counts one analyzed report.
    pub fn add_report(&mut self, report: &Report, a: &Analysis) {
        self.records_read += 1;
        self.reports_written += 1;
        self.warnings += a.warnings.len() as u64;
        self.reports_with_warnings += u64::from(!a.warnings.is_empty());
        self.duplicate_ids += u64::from(
            a.warnings
                .iter()
                .any(|w| w.starts_with(crate::input::DUPLICATE_ID_WARNING)),
        );
        self.mentions += a.mentions.len() as u64;
        self.text_bytes += report.text.len() as u64;
        for (i, (_, c)) in self.concepts.iter_mut().enumerate() {
            match a.concepts.get(i).and_then(|r| r.status) {
                Some(Status::Present) => c.present += 1,
                Some(Status::Absent) => c.absent += 1,
                Some(Status::Uncertain) => c.uncertain += 1,
                None => c.blank += 1,
            }
        }
        for r in &a.recommendations {
            bump(&mut self.actions, &r.action);
        }
        for f in &a.flags {
            bump(&mut self.flags, &f.flag);
        }
        for c in &a.cautions {
            bump(&mut self.cautions, &c.id);
        }
    }

    /// Counts one record error.
    pub fn add_error(&mut self, _error: &RecordError) {
        self.records_read += 1;
        self.errors += 1;
    }

    /// Records the run's duration and thread count and derives the rates.
    pub fn finish(&mut self, elapsed_seconds: f64, threads: usize) {
        self.elapsed_seconds = elapsed_seconds;
        self.threads = threads;
        let secs = elapsed_seconds.max(1e-9);
        self.mb_per_second = self.text_bytes as f64 / 1e6 / secs;
        self.reports_per_second = self.reports_written as f64 / secs;
    }

    /// The counts of one concept.
    pub fn concept(&self, name: &str) -> StatusCounts {
        self.concepts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| *c)
            .unwrap_or_default()
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

fn ordered_map<S: serde::Serializer>(
    items: &[(String, StatusCounts)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(items.iter().map(|(k, v)| (k, v)))
}
