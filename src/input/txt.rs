//! Plain text: a `.txt` file is one report whose id is the file stem; a directory is its `.txt`
//! files (not its subdirectories), sorted by file name so that runs are repeatable.

use super::{decode_owned, invalid_utf8_warning, read_all, InputError, Record};
use crate::model::Report;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Reads one text input as one report.
pub struct TxtReader {
    reader: Option<Box<dyn BufRead + Send>>,
    source: String,
    id: String,
}

impl TxtReader {
    /// The report in `reader`, with id `id`.
    pub fn new(reader: Box<dyn BufRead + Send>, source: String, id: String) -> TxtReader {
        TxtReader {
            reader: Some(reader),
            source,
            id,
        }
    }
}

impl Iterator for TxtReader {
    type Item = Result<Record, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut reader = self.reader.take()?;
        let mut bytes = match read_all(&mut reader) {
            Ok(b) => b,
            Err(e) => return Some(Err(InputError::io(&self.source, None, &e))),
        };
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.drain(..3);
        }
        let (text, bad) = decode_owned(bytes);
        let mut report = Report::new(std::mem::take(&mut self.id), text);
        if bad {
            report.warnings.push(invalid_utf8_warning("the text"));
        }
        Some(Ok(Ok(report)))
    }
}

/// The `.txt` files of a directory, sorted by name.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let name = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|e| InputError::io(&name, None, &e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| InputError::io(&name, None, &e))?;
        let path = entry.path();
        let is_txt = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("txt"));
        if is_txt && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}
