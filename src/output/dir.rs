//! An output directory: every table, `results.jsonl` and `summary.json`, written atomically.

use super::render::{Parts, Rendered};
use super::row::Row;
use super::tables::*;
use super::{OutputError, Sink, Summary};
use crate::input::RecordError;
use crate::model::{Analysis, Report};
use crate::pipeline::Pipeline;
use std::fs::File;
use std::io::{IoSlice, Write};
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
    /// One per file of [`FILES`] but `summary.json`.
    files: Vec<FileOut>,
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
                out.files.push(FileOut::new(f));
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
            let result = out.files[i].copy(&out.scratch);
            result.map_err(|e| out.io_err(i, e))?;
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

    /// Queues the bytes of `part` for `file`, taking its buffer when it is long.
    fn put(&mut self, file: usize, part: &mut Vec<u8>) -> Result<(), OutputError> {
        match self.files[file].take(part) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.io_err(file, e)),
        }
    }
}

/// Bytes gathered for one file before they are written.
const FLUSH_BYTES: usize = 256 << 10;
/// Buffers gathered for one file before they are written.
const FLUSH_BUFFERS: usize = 128;
/// A rendered part at least this long is taken whole; a shorter one is copied.
const TAKE_BYTES: usize = 2 << 10;
/// The room a buffer that short parts are copied into is made with.
const COPY_BYTES: usize = 64 << 10;
/// A written buffer with more room than this is dropped rather than kept for reuse.
const KEEP_BYTES: usize = 1 << 20;

/// One file of an output directory and the bytes waiting to be written to it. A long rendered
/// part is not copied: its buffer is taken (an empty one from earlier writes given back in its
/// place) and queued, short parts are copied into the last queued buffer, and the queue goes
/// to the file in one vectored write once it holds [`FLUSH_BYTES`].
struct FileOut {
    file: File,
    /// Buffers to write, in order.
    queued: Vec<Vec<u8>>,
    /// Bytes in `queued`.
    bytes: usize,
    /// Written buffers, emptied, to be given back for parts taken or filled with copies.
    spare: Vec<Vec<u8>>,
}

impl FileOut {
    fn new(file: File) -> FileOut {
        FileOut {
            file,
            queued: Vec::new(),
            bytes: 0,
            spare: Vec::new(),
        }
    }

    /// Queues the bytes of `part`: its buffer itself when it is long (leaving an empty one in
    /// its place), else a copy.
    fn take(&mut self, part: &mut Vec<u8>) -> std::io::Result<()> {
        if part.len() < TAKE_BYTES {
            return self.copy(part);
        }
        let len = part.len();
        // The part's next rows are likely to be about as long: a smaller buffer would only be
        // grown (and copied) while they are rendered.
        let spare = match self.spare.pop() {
            Some(buf) if buf.capacity() >= len => buf,
            _ => Vec::with_capacity(len.next_power_of_two()),
        };
        self.queued.push(std::mem::replace(part, spare));
        self.queued_bytes(len)
    }

    /// Queues a copy of `bytes`.
    fn copy(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self.queued.last_mut() {
            Some(last) if last.capacity() - last.len() >= bytes.len() => {
                last.extend_from_slice(bytes)
            }
            _ => {
                let mut buf = self.spare.pop().unwrap_or_default();
                buf.reserve(COPY_BYTES.max(bytes.len()));
                buf.extend_from_slice(bytes);
                self.queued.push(buf);
            }
        }
        self.queued_bytes(bytes.len())
    }

    /// Counts `len` more bytes queued, and writes the queue when it is long enough.
    fn queued_bytes(&mut self, len: usize) -> std::io::Result<()> {
        self.bytes += len;
        if self.bytes >= FLUSH_BYTES || self.queued.len() >= FLUSH_BUFFERS {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes every queued byte, and keeps the buffers for reuse.
    fn flush(&mut self) -> std::io::Result<()> {
        write_all_vectored(&mut self.file, &self.queued)?;
        for mut buf in self.queued.drain(..) {
            if buf.capacity() <= KEEP_BYTES {
                buf.clear();
                self.spare.push(buf);
            }
        }
        self.bytes = 0;
        Ok(())
    }
}

/// Writes every byte of `bufs`, in order, with as few vectored writes as the file takes.
fn write_all_vectored(file: &mut File, bufs: &[Vec<u8>]) -> std::io::Result<()> {
    // The first buffer not written in full, and how much of it is.
    let (mut i, mut done) = (0, 0);
    loop {
        while bufs.get(i).is_some_and(|b| done == b.len()) {
            i += 1;
            done = 0;
        }
        let Some(first) = bufs.get(i) else {
            return Ok(());
        };
        let slices: Vec<IoSlice> = std::iter::once(IoSlice::new(&first[done..]))
            .chain(bufs[i + 1..].iter().map(|b| IoSlice::new(b)))
            .collect();
        let mut n = match file.write_vectored(&slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        while n > 0 {
            let left = bufs[i].len() - done;
            if n < left {
                done += n;
                break;
            }
            n -= left;
            i += 1;
            done = 0;
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

    fn report(&mut self, _: &Report, _: &Analysis, r: &mut Rendered) -> Result<(), OutputError> {
        self.put(REPORTS, &mut r.reports)?;
        self.put(MENTIONS, &mut r.mentions)?;
        self.put(RECOMMENDATIONS, &mut r.recommendations)?;
        self.put(CAUTIONS, &mut r.cautions)?;
        self.put(AUDIT, &mut r.audit)?;
        self.put(RESULTS, &mut r.results)
    }

    fn error(&mut self, error: &RecordError) -> Result<(), OutputError> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let mut row = Row::new(&mut buf);
        self.tables.error_row(&mut row, error);
        row.end();
        let result = self.files[ERRORS].copy(&buf);
        self.scratch = buf;
        result.map_err(|e| self.io_err(ERRORS, e))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Parts of every length class, taken or copied, come out in order, byte for byte, and
    /// every part is left empty to be rendered into again.
    #[test]
    fn queued_parts_are_written_in_order() {
        let path = std::env::temp_dir().join(format!("spinex-fileout-{}", std::process::id()));
        let mut out = FileOut::new(File::create(&path).unwrap());
        let mut expected = Vec::new();
        let mut part = Vec::new();
        let lens = [
            0,
            1,
            100,
            TAKE_BYTES - 1,
            TAKE_BYTES,
            5000,
            70_000,
            3,
            FLUSH_BYTES + 7,
        ];
        for round in 0..40usize {
            for (k, &len) in lens.iter().enumerate() {
                part.clear();
                part.extend((0..len).map(|i| (i * 7 + k * 13 + round) as u8));
                expected.extend_from_slice(&part);
                if round % 3 == 0 {
                    out.copy(&part).unwrap();
                } else {
                    out.take(&mut part).unwrap();
                    assert!(part.is_empty() || part.len() < TAKE_BYTES);
                }
            }
        }
        out.flush().unwrap();
        drop(out);
        let written = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(
            written == expected,
            "{} bytes, {} expected",
            written.len(),
            expected.len()
        );
    }
}
