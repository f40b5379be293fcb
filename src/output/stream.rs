//! One table streamed to a writer (standard output in a pipe), in input order.

use super::json::write_report;
use super::row::Row;
use super::tables::{Tables, MENTION_COLUMNS};
use super::{OutputError, Sink, Summary};
use crate::input::RecordError;
use crate::model::{Analysis, Report};
use crate::pipeline::Pipeline;
use crate::span::CharIndex;
use std::io::Write;

/// Which table to stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// `results.jsonl` lines.
    Jsonl,
    /// `reports.csv` rows, with the header.
    ReportsCsv,
    /// `mentions.csv` rows, with the header.
    MentionsCsv,
}

impl StreamFormat {
    /// Parses `jsonl`, `reports-csv` or `mentions-csv`.
    pub fn parse(s: &str) -> Option<StreamFormat> {
        match s {
            "jsonl" => Some(StreamFormat::Jsonl),
            "reports-csv" => Some(StreamFormat::ReportsCsv),
            "mentions-csv" => Some(StreamFormat::MentionsCsv),
            _ => None,
        }
    }
}

enum Out<W: Write> {
    Json(W),
    Csv(Box<csv::Writer<W>>),
}

/// Streams one table to `W`; record errors are not part of any streamed table (they are counted in
/// the summary). The writer is flushed after every chunk so that a pipe sees rows as they come.
pub struct StreamSink<'p, W: Write> {
    tables: Tables<'p>,
    format: StreamFormat,
    out: Out<W>,
    row: Row,
    name: String,
}

impl<'p, W: Write> StreamSink<'p, W> {
    /// A sink writing `format` to `writer`, named `name` in error messages. CSV headers are written
    /// at once.
    pub fn new(
        writer: W,
        name: impl Into<String>,
        format: StreamFormat,
        pipeline: &'p Pipeline,
    ) -> Result<StreamSink<'p, W>, OutputError> {
        let tables = Tables::new(pipeline);
        let name = name.into();
        let out = match format {
            StreamFormat::Jsonl => Out::Json(writer),
            StreamFormat::ReportsCsv | StreamFormat::MentionsCsv => {
                let mut w = csv::Writer::from_writer(writer);
                let header = match format {
                    StreamFormat::ReportsCsv => tables.report_columns(),
                    _ => MENTION_COLUMNS.iter().map(|s| s.to_string()).collect(),
                };
                w.write_record(&header)
                    .map_err(|e| OutputError::csv(&name, e))?;
                Out::Csv(Box::new(w))
            }
        };
        Ok(StreamSink {
            tables,
            format,
            out,
            row: Row::default(),
            name,
        })
    }
}

impl<W: Write> Sink for StreamSink<'_, W> {
    fn report(&mut self, report: &Report, a: &Analysis) -> Result<(), OutputError> {
        let t = self.tables;
        match (&mut self.out, self.format) {
            (Out::Json(w), _) => {
                let chars = CharIndex::new(&report.text);
                write_report(&mut *w, &t, report, a, &chars)
                    .map_err(std::io::Error::from)
                    .and_then(|_| w.write_all(b"\n"))
                    .map_err(|e| OutputError::io(&self.name, &e))
            }
            (Out::Csv(w), StreamFormat::ReportsCsv) => {
                t.report_row(&mut self.row, report, a);
                self.row
                    .write(w)
                    .map_err(|e| OutputError::csv(&self.name, e))
            }
            (Out::Csv(w), _) => {
                let chars = CharIndex::new(&report.text);
                for m in &a.mentions {
                    t.mention_row(&mut self.row, report, a, &chars, m);
                    self.row
                        .write(w)
                        .map_err(|e| OutputError::csv(&self.name, e))?;
                }
                Ok(())
            }
        }
    }

    fn error(&mut self, _error: &RecordError) -> Result<(), OutputError> {
        Ok(())
    }

    fn chunk_done(&mut self) -> Result<(), OutputError> {
        let r = match &mut self.out {
            Out::Json(w) => w.flush(),
            Out::Csv(w) => w.flush(),
        };
        r.map_err(|e| OutputError::io(&self.name, &e))
    }

    fn finish(&mut self, _summary: &Summary) -> Result<(), OutputError> {
        self.chunk_done()
    }
}
