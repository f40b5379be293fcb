//! An output directory: every table, `results.jsonl` and `summary.json`, written atomically.

use super::render::{Parts, Rendered};
use super::row::Row;
use super::tables::*;
use super::{OutputError, Sink, Summary};
use crate::input::RecordError;
use crate::model::{Analysis, Report};
use crate::pipeline::Pipeline;
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

const REPORTS: usize = 0;
const MENTIONS: usize = 1;
const RECOMMENDATIONS: usize = 2;
const CAUTIONS: usize = 3;
const AUDIT: usize = 4;
const ERRORS: usize = 5;
const RESULTS: usize = 6;
const SUMMARY: usize = 7;

/// Writes an output directory. Files are written as `NAME.tmp` and renamed by [`Sink::finish`];
/// dropped unfinished, it removes them.
pub struct OutDir<'p> {
    dir: PathBuf,
    tables: Tables<'p>,
    scratch: Vec<u8>,
    /// One writer per file of [`FILES`] but `summary.json`.
    files: Vec<BufWriter<File>>,
    finished: bool,
}

fn tmp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.tmp"))
}

impl<'p> OutDir<'p> {
    /// Creates `dir` if needed and opens every table for writing (header rows included).
    pub fn create(dir: &Path, pipeline: &'p Pipeline) -> Result<OutDir<'p>, OutputError> {
        let dir_name = dir.display().to_string();
        if dir.exists() && !dir.is_dir() {
            return Err(OutputError {
                path: dir_name,
                kind: std::io::ErrorKind::AlreadyExists,
                message: "exists and is not a directory".into(),
            });
        }
        std::fs::create_dir_all(dir).map_err(|e| OutputError::io(&dir_name, &e))?;
        let mut out = OutDir {
            dir: dir.to_path_buf(),
            tables: Tables::new(pipeline),
            scratch: Vec::new(),
            files: Vec::with_capacity(RESULTS + 1),
            finished: false,
        };
        for name in FILES {
            // summary.json is written at the end; creating it now proves that it can be.
            let f =
                File::create(tmp_path(dir, name)).map_err(|e| OutputError::io(&dir_name, &e))?;
            if name != FILES[SUMMARY] {
                out.files.push(BufWriter::with_capacity(1 << 17, f));
            }
        }
        let headers: [Vec<String>; 6] = [
            out.tables.report_columns(),
            owned(&MENTION_COLUMNS),
            owned(&RECOMMENDATION_COLUMNS),
            owned(&CAUTION_COLUMNS),
            owned(&AUDIT_COLUMNS),
            owned(&ERROR_COLUMNS),
        ];
        for (i, header) in headers.iter().enumerate() {
            out.scratch.clear();
            Row::header(&mut out.scratch, header);
            out.files[i]
                .write_all(&out.scratch)
                .map_err(|e| out.io_err(i, e))?;
        }
        Ok(out)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io_err(&self, file: usize, e: std::io::Error) -> OutputError {
        OutputError::io(self.dir.join(FILES[file]).display().to_string(), &e)
    }

    fn put(&mut self, file: usize, bytes: &[u8]) -> Result<(), OutputError> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self.files[file].write_all(bytes) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.io_err(file, e)),
        }
    }
}

fn owned(cols: &[&str]) -> Vec<String> {
    cols.iter().map(|s| s.to_string()).collect()
}

impl Sink for OutDir<'_> {
    fn parts(&self) -> Parts {
        Parts::ALL
    }

    fn report(&mut self, _: &Report, _: &Analysis, r: &Rendered) -> Result<(), OutputError> {
        self.put(REPORTS, &r.reports)?;
        self.put(MENTIONS, &r.mentions)?;
        self.put(RECOMMENDATIONS, &r.recommendations)?;
        self.put(CAUTIONS, &r.cautions)?;
        self.put(AUDIT, &r.audit)?;
        self.put(RESULTS, &r.results)
    }

    fn error(&mut self, error: &RecordError) -> Result<(), OutputError> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let mut row = Row::new(&mut buf);
        self.tables.error_row(&mut row, error);
        row.end();
        let result = self.put(ERRORS, &buf);
        self.scratch = buf;
        result
    }

    fn finish(&mut self, summary: &Summary) -> Result<(), OutputError> {
        for i in 0..self.files.len() {
            if let Err(e) = self.files[i].flush() {
                return Err(self.io_err(i, e));
            }
        }
        let mut json =
            serde_json::to_vec_pretty(summary).map_err(|e| self.io_err(SUMMARY, e.into()))?;
        json.push(b'\n');
        std::fs::write(tmp_path(&self.dir, FILES[SUMMARY]), json)
            .map_err(|e| self.io_err(SUMMARY, e))?;
        for (i, name) in FILES.iter().enumerate() {
            std::fs::rename(tmp_path(&self.dir, name), self.dir.join(name))
                .map_err(|e| self.io_err(i, e))?;
        }
        self.finished = true;
        Ok(())
    }
}

impl Drop for OutDir<'_> {
    fn drop(&mut self) {
        if !self.finished {
            for name in FILES {
                let _ = std::fs::remove_file(tmp_path(&self.dir, name));
            }
        }
    }
}
