//! One table streamed to a writer (standard output in a pipe), in input order.

use super::render::{Parts, Rendered};
use super::row::Row;
use super::tables::{Tables, MENTION_COLUMNS};
use super::{OutputError, Sink, Summary};
use crate::input::RecordError;
use crate::model::{Analysis, Report};
use crate::pipeline::Pipeline;
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

/// Streams one table to `W`; record errors are not part of any streamed table (they are counted in
/// the summary). The writer is flushed after every chunk so that a pipe sees rows as they come.
pub struct StreamSink<W: Write> {
    format: StreamFormat,
    out: W,
    name: String,
}

impl<W: Write> StreamSink<W> {
    /// A sink writing `format` to `writer`, named `name` in error messages. CSV headers are written
    /// at once.
    pub fn new(
        mut writer: W,
        name: impl Into<String>,
        format: StreamFormat,
        pipeline: &Pipeline,
    ) -> Result<StreamSink<W>, OutputError> {
        let name = name.into();
        let header = match format {
            StreamFormat::Jsonl => None,
            StreamFormat::ReportsCsv => Some(Tables::new(pipeline).report_columns()),
            StreamFormat::MentionsCsv => {
                Some(MENTION_COLUMNS.iter().map(|s| s.to_string()).collect())
            }
        };
        if let Some(header) = header {
            let mut buf = Vec::new();
            Row::header(&mut buf, &header);
            writer
                .write_all(&buf)
                .map_err(|e| OutputError::io(&name, &e))?;
        }
        Ok(StreamSink {
            format,
            out: writer,
            name,
        })
    }
}

impl<W: Write> Sink for StreamSink<W> {
    fn parts(&self) -> Parts {
        match self.format {
            StreamFormat::Jsonl => Parts::RESULTS,
            StreamFormat::ReportsCsv => Parts::REPORTS,
            StreamFormat::MentionsCsv => Parts::MENTIONS,
        }
    }

    fn report(&mut self, _: &Report, _: &Analysis, r: &mut Rendered) -> Result<(), OutputError> {
        let bytes = match self.format {
            StreamFormat::Jsonl => &r.results,
            StreamFormat::ReportsCsv => &r.reports,
            StreamFormat::MentionsCsv => &r.mentions,
        };
        self.out
            .write_all(bytes)
            .map_err(|e| OutputError::io(&self.name, &e))
    }

    fn error(&mut self, _error: &RecordError) -> Result<(), OutputError> {
        Ok(())
    }

    fn chunk_done(&mut self) -> Result<(), OutputError> {
        self.out
            .flush()
            .map_err(|e| OutputError::io(&self.name, &e))
    }

    fn finish(&mut self, _summary: &Summary) -> Result<(), OutputError> {
        self.chunk_done()
    }
}
