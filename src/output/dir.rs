//! An output directory: every table, `results.jsonl` and `summary.json`, written atomically.

use super::json::write_report;
use super::row::Row;
use super::tables::*;
use super::{OutputError, Sink, Summary};
use crate::input::RecordError;
use crate::model::{Analysis, Report};
use crate::pipeline::Pipeline;
use crate::span::CharIndex;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The files of an output directory, in the order they are listed.
pub const FILES: [&str; 8] = [
    "reports.csv",
    "mentions.csv",
    "recommendations.csv",
    "cautions.csv",
    "audit.csv",
    "errors.csv",
    "results.jsonl",
    "summary.json",
];

type CsvOut = csv::Writer<BufWriter<File>>;

/// Writes an output directory. Files are written as `NAME.tmp` and renamed by [`Sink::finish`];
/// dropped unfinished, it removes them.
pub struct OutDir<'p> {
    dir: PathBuf,
    tables: Tables<'p>,
    row: Row,
    reports: CsvOut,
    mentions: CsvOut,
    recommendations: CsvOut,
    cautions: CsvOut,
    audit: CsvOut,
    errors: CsvOut,
    results: BufWriter<File>,
    finished: bool,
}

fn tmp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.tmp"))
}

impl<'p> OutDir<'p> {
    /// Creates `dir` if needed and opens every table for writing (header rows included).
    pub fn create(dir: &Path, pipeline: &'p Pipeline) -> Result<OutDir<'p>, OutputError> {
        let dir_name = dir.display().to_string();
        std::fs::create_dir_all(dir).map_err(|e| OutputError::io(&dir_name, &e))?;
        let open = |name: &str| -> Result<BufWriter<File>, OutputError> {
            let f =
                File::create(tmp_path(dir, name)).map_err(|e| OutputError::io(&dir_name, &e))?;
            Ok(BufWriter::with_capacity(1 << 16, f))
        };
        let csv_open = |name: &str, header: &[String]| -> Result<CsvOut, OutputError> {
            let mut w = csv::WriterBuilder::new()
                .flexible(false)
                .from_writer(open(name)?);
            w.write_record(header)
                .map_err(|e| OutputError::csv(&dir.join(name).display().to_string(), e))?;
            Ok(w)
        };
        let owned = |cols: &[&str]| cols.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let tables = Tables::new(pipeline);
        let mut out = OutDir {
            dir: dir.to_path_buf(),
            tables,
            row: Row::default(),
            reports: csv_open(FILES[0], &tables.report_columns())?,
            mentions: csv_open(FILES[1], &owned(&MENTION_COLUMNS))?,
            recommendations: csv_open(FILES[2], &owned(&RECOMMENDATION_COLUMNS))?,
            cautions: csv_open(FILES[3], &owned(&CAUTION_COLUMNS))?,
            audit: csv_open(FILES[4], &owned(&AUDIT_COLUMNS))?,
            errors: csv_open(FILES[5], &owned(&ERROR_COLUMNS))?,
            results: open(FILES[6])?,
            finished: false,
        };
        // summary.json is written at the end; make sure it can be.
        File::create(tmp_path(dir, FILES[7])).map_err(|e| OutputError::io(&dir_name, &e))?;
        out.finished = false;
        Ok(out)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(&self, name: &str) -> impl Fn(csv::Error) -> OutputError {
        let path = self.dir.join(name).display().to_string();
        move |e| OutputError::csv(&path, e)
    }

    fn io_err(&self, name: &str) -> impl Fn(std::io::Error) -> OutputError {
        let path = self.dir.join(name).display().to_string();
        move |e| OutputError::io(&path, &e)
    }

    fn remove_tmp(&self) {
        for name in FILES {
            let _ = std::fs::remove_file(tmp_path(&self.dir, name));
        }
    }
}

impl Sink for OutDir<'_> {
    fn report(&mut self, report: &Report, a: &Analysis) -> Result<(), OutputError> {
        let chars = CharIndex::new(&report.text);
        let t = self.tables;
        t.report_row(&mut self.row, report, a);
        self.row
            .write(&mut self.reports)
            .map_err(self.err(FILES[0]))?;
        for m in &a.mentions {
            t.mention_row(&mut self.row, report, a, &chars, m);
            self.row
                .write(&mut self.mentions)
                .map_err(self.err(FILES[1]))?;
        }
        for r in &a.recommendations {
            t.recommendation_row(&mut self.row, report, a, &chars, r);
            self.row
                .write(&mut self.recommendations)
                .map_err(self.err(FILES[2]))?;
        }
        for c in &a.cautions {
            t.caution_row(&mut self.row, report, a, &chars, c);
            self.row
                .write(&mut self.cautions)
                .map_err(self.err(FILES[3]))?;
        }
        for f in &a.flags {
            t.audit_row(&mut self.row, report, a, &chars, f);
            self.row
                .write(&mut self.audit)
                .map_err(self.err(FILES[4]))?;
        }
        write_report(&mut self.results, &t, report, a, &chars)
            .map_err(std::io::Error::from)
            .and_then(|_| self.results.write_all(b"\n"))
            .map_err(self.io_err(FILES[6]))?;
        Ok(())
    }

    fn error(&mut self, error: &RecordError) -> Result<(), OutputError> {
        self.tables.error_row(&mut self.row, error);
        self.row.write(&mut self.errors).map_err(self.err(FILES[5]))
    }

    fn finish(&mut self, summary: &Summary) -> Result<(), OutputError> {
        let csvs = [
            (&mut self.reports, FILES[0]),
            (&mut self.mentions, FILES[1]),
            (&mut self.recommendations, FILES[2]),
            (&mut self.cautions, FILES[3]),
            (&mut self.audit, FILES[4]),
            (&mut self.errors, FILES[5]),
        ];
        for (w, name) in csvs {
            w.flush()
                .map_err(|e| OutputError::io(self.dir.join(name).display().to_string(), &e))?;
        }
        self.results.flush().map_err(self.io_err(FILES[6]))?;
        let mut json = serde_json::to_vec_pretty(summary).map_err(|e| {
            OutputError::io(self.dir.join(FILES[7]).display().to_string(), &e.into())
        })?;
        json.push(b'\n');
        std::fs::write(tmp_path(&self.dir, FILES[7]), json).map_err(self.io_err(FILES[7]))?;
        for name in FILES {
            std::fs::rename(tmp_path(&self.dir, name), self.dir.join(name))
                .map_err(self.io_err(name))?;
        }
        self.finished = true;
        Ok(())
    }
}

impl Drop for OutDir<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.remove_tmp();
        }
    }
}
