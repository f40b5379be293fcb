//! Output writers: the CSV tables, `results.jsonl` and `summary.json` of an output directory, or
//! one table streamed to any writer.
//!
//! - Offsets in every table are character (Unicode scalar) offsets into the original text, so that
//!   Python's `text[start:end]` is the mention text.
//! - Spreadsheet safety: a CSV cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
//!   gets a leading `'`, so that a spreadsheet shows it as text instead of running it as a formula.
//!   The one exception is the `text` column of `mentions.csv`, written verbatim so that it equals
//!   the slice of the report at `start..end`; mentions are matched on words and begin with a
//!   letter or a digit, so the rule would not change them anyway. JSON output is never altered.
//! - An output directory is written atomically: every file goes to `NAME.tmp` and all are renamed
//!   when the run completes; a run that fails leaves no partial tables behind.

mod dir;
mod enc;
mod fixed;
mod json;
mod render;
mod row;
mod shared;
mod stream;
mod summary;
mod tables;

pub use dir::OutDir;
pub use dir::FILES;
pub(crate) use enc::{find_json_special, find_non_ascii, json_special, json_special_mask};
pub use render::{Parts, Rendered, Renderer};
pub use stream::{StreamFormat, StreamSink};
pub use summary::{Summary, Tally};
pub use tables::{
    Tables, AUDIT_COLUMNS, CAUTION_COLUMNS, ERROR_COLUMNS, MENTION_COLUMNS, RECOMMENDATION_COLUMNS,
    REPORT_EXTRA_COLUMNS,
};

use crate::input::RecordError;
use crate::model::{Analysis, Report};
use std::fmt;
use std::io;

/// Where analyzed reports go. The batch driver renders the [`Parts`] a sink asks for on the
/// analysis threads, then calls [`Sink::report`] and [`Sink::error`] in input order and
/// [`Sink::chunk_done`] after each chunk; the caller calls [`Sink::finish`] once the run is
/// complete.
pub trait Sink {
    /// The parts to render for this sink.
    fn parts(&self) -> Parts;
    /// One analyzed report, with the parts rendered. The sink may take the buffer of a part
    /// instead of copying its bytes, leaving another (empty) one in its place: the driver
    /// clears every part before it renders the next report into it.
    fn report(
        &mut self,
        report: &Report,
        analysis: &Analysis,
        rendered: &mut Rendered,
    ) -> Result<(), OutputError>;
    /// Buffers to render the next report into, after the bytes they already hold, instead of
    /// the driver's own: a sink that gathers its output before writing it offers the buffers
    /// it writes from, so that rendered rows are not copied there. The driver renders the
    /// report into them and then calls [`Sink::report`] with its own parts empty. `None` (the
    /// default): the driver renders into its own buffers.
    fn render_target(&mut self) -> Option<&mut Rendered> {
        None
    }
    /// One record that could not be read.
    fn error(&mut self, error: &RecordError) -> Result<(), OutputError>;
    /// A chunk of records is done (a chance to flush).
    fn chunk_done(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
    /// The run is complete: write what remains and make the output visible.
    fn finish(&mut self, summary: &Summary) -> Result<(), OutputError>;
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn parts(&self) -> Parts {
        (**self).parts()
    }
    fn report(
        &mut self,
        report: &Report,
        analysis: &Analysis,
        rendered: &mut Rendered,
    ) -> Result<(), OutputError> {
        (**self).report(report, analysis, rendered)
    }
    fn render_target(&mut self) -> Option<&mut Rendered> {
        (**self).render_target()
    }
    fn error(&mut self, error: &RecordError) -> Result<(), OutputError> {
        (**self).error(error)
    }
    fn chunk_done(&mut self) -> Result<(), OutputError> {
        (**self).chunk_done()
    }
    fn finish(&mut self, summary: &Summary) -> Result<(), OutputError> {
        (**self).finish(summary)
    }
}

/// Writing an output failed.
#[derive(Debug)]
pub struct OutputError {
    /// The file or directory (`<stdout>` for standard output).
    pub path: String,
    /// The kind of I/O error (a closed pipe is [`io::ErrorKind::BrokenPipe`]).
    pub kind: io::ErrorKind,
    /// What went wrong.
    pub message: String,
}

impl OutputError {
    /// An error from an I/O error on `path`.
    pub fn io(path: impl Into<String>, err: &io::Error) -> OutputError {
        OutputError {
            path: path.into(),
            kind: err.kind(),
            message: crate::input::io_reason(err),
        }
    }

    /// Whether the reader of a pipe went away (`| head`): not worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        self.kind == io::ErrorKind::BrokenPipe
    }
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: cannot write: {}", self.path, self.message)
    }
}

impl std::error::Error for OutputError {}
