//! Input readers: CSV, TSV, JSONL, `.txt` files and directories of them, and standard input.
//!
//! Every reader streams: it yields one [`Record`] at a time, in input order, and never holds more
//! than the record it is reading. A record that cannot be read becomes a [`RecordError`] (it ends
//! up in `errors.csv`) and reading goes on; a problem with the input as a whole (a missing file, a
//! missing id or text column, an I/O error) is an [`InputError`] and stops the run.
//!
//! Decisions that hold for every format:
//! - Invalid UTF-8 is decoded lossily (each bad sequence becomes U+FFFD), the report is kept, and
//!   a note is added to [`Report::warnings`]; the byte offsets of the output then refer to the
//!   decoded text.
//! - A patient-context value that cannot be read (`age` = `old`) leaves that field unknown and adds
//!   a warning to the report; the report is still analyzed, because its text is the main input and
//!   an unknown value is never taken as false.
//! - Empty text is a normal report (every status blank). A blank id is a record error.

mod csv;
mod jsonl;
mod txt;

use crate::model::Report;
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

pub use self::csv::CsvReader;
pub use self::jsonl::JsonlReader;
pub use self::txt::TxtReader;

/// One record as read: a report, or why it could not be read.
pub type Record = Result<Report, RecordError>;

/// A record that could not be read. It is reported and counted; reading goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The file it came from (`<stdin>` for standard input).
    pub source: String,
    /// 1-based number of the data record within its source (the header is not a record).
    pub record: u64,
    /// 1-based physical line where the record starts, when known.
    pub line: Option<u64>,
    /// The record's id, when it could be read.
    pub id: Option<String>,
    /// What is wrong (never the report text).
    pub reason: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "{}:{}: record {}: {}",
                self.source, line, self.record, self.reason
            ),
            None => write!(
                f,
                "{}: record {}: {}",
                self.source, self.record, self.reason
            ),
        }
    }
}

impl std::error::Error for RecordError {}

/// A problem with an input as a whole; it stops the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file (`<stdin>` for standard input).
    pub source: String,
    /// 1-based line, when the problem has one.
    pub line: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl InputError {
    /// A new error.
    pub fn new(
        source: impl Into<String>,
        line: Option<u64>,
        message: impl Into<String>,
    ) -> InputError {
        InputError {
            source: source.into(),
            line,
            message: message.into(),
        }
    }

    fn io(source: &str, line: Option<u64>, err: &io::Error) -> InputError {
        InputError::new(source, line, format!("cannot read: {}", io_reason(err)))
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.source, line, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for InputError {}

/// The reason of an I/O error without the "(os error N)" suffix.
pub(crate) fn io_reason(err: &io::Error) -> String {
    let s = err.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
    /// One JSON object per line.
    Jsonl,
    /// Plain text: one file is one report, its id the file stem.
    Txt,
}

impl InputFormat {
    /// Every format, in the order the CLI lists them.
    pub const ALL: [InputFormat; 4] = [
        InputFormat::Csv,
        InputFormat::Tsv,
        InputFormat::Jsonl,
        InputFormat::Txt,
    ];

    /// The name used on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            InputFormat::Csv => "csv",
            InputFormat::Tsv => "tsv",
            InputFormat::Jsonl => "jsonl",
            InputFormat::Txt => "txt",
        }
    }

    /// Parses a name (`csv`, `tsv`, `jsonl`, `txt`; ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<InputFormat> {
        InputFormat::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
    }

    /// The format a file name implies: `.csv`; `.tsv`/`.tab`; `.jsonl`/`.ndjson`; `.txt`.
    pub fn from_path(path: &Path) -> Option<InputFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(InputFormat::Csv),
            "tsv" | "tab" => Some(InputFormat::Tsv),
            "jsonl" | "ndjson" => Some(InputFormat::Jsonl),
            "txt" => Some(InputFormat::Txt),
            _ => None,
        }
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file.
    File(PathBuf),
    /// Standard input.
    Stdin,
}

impl Source {
    /// The name used in messages and in `errors.csv`.
    pub fn name(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Stdin => STDIN_NAME.to_string(),
        }
    }
}

/// How standard input is named in messages and tables.
pub const STDIN_NAME: &str = "<stdin>";

/// Options shared by the readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// Column (CSV/TSV) or key (JSONL) of the report id.
    pub id_column: String,
    /// Column (CSV/TSV) or key (JSONL) of the report text.
    pub text_column: String,
    /// Format for every input; `None` means from the file extension (standard input: CSV).
    pub format: Option<InputFormat>,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions {
            id_column: "id".into(),
            text_column: "text".into(),
            format: None,
        }
    }
}

/// One input to read, with its format resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Where.
    pub source: Source,
    /// In which format.
    pub format: InputFormat,
}

/// Resolves command-line inputs into a list of [`Input`]s, in order: `-` is standard input, a
/// directory is its `.txt` files sorted by name (not recursive), a file's format comes from
/// `options.format` or its extension. No input at all means standard input.
///
/// Fails on a path that does not exist, a file whose format cannot be told, or a directory that
/// cannot be listed.
pub fn resolve(paths: &[PathBuf], options: &ReadOptions) -> Result<Vec<Input>, InputError> {
    let mut inputs = Vec::new();
    if paths.is_empty() {
        inputs.push(Input {
            source: Source::Stdin,
            format: options.format.unwrap_or(InputFormat::Csv),
        });
        return Ok(inputs);
    }
    for path in paths {
        if path.as_os_str() == "-" {
            inputs.push(Input {
                source: Source::Stdin,
                format: options.format.unwrap_or(InputFormat::Csv),
            });
            continue;
        }
        let name = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| InputError::io(&name, None, &e))?;
        if meta.is_dir() {
            for file in txt::list_dir(path)? {
                inputs.push(Input {
                    source: Source::File(file),
                    format: InputFormat::Txt,
                });
            }
            continue;
        }
        let format = match options.format.or_else(|| InputFormat::from_path(path)) {
            Some(f) => f,
            None => return Err(InputError::new(
                name,
                None,
                "cannot tell the format from the file name; use --input-format csv|tsv|jsonl|txt",
            )),
        };
        inputs.push(Input {
            source: Source::File(path.clone()),
            format,
        });
    }
    Ok(inputs)
}

/// A stream of records from one input.
pub type RecordIter = Box<dyn Iterator<Item = Result<Record, InputError>> + Send>;

/// Opens one input. For CSV and TSV this reads the header and fails when the id or text column is
/// missing (the message lists the columns that exist).
pub fn open(input: &Input, options: &ReadOptions) -> Result<RecordIter, InputError> {
    let name = input.source.name();
    let reader: Box<dyn BufRead + Send> = match &input.source {
        Source::Stdin => Box::new(BufReader::with_capacity(1 << 16, io::stdin())),
        Source::File(p) => {
            let f = std::fs::File::open(p).map_err(|e| InputError::io(&name, None, &e))?;
            Box::new(BufReader::with_capacity(1 << 16, f))
        }
    };
    open_reader(reader, name, input.format, options, stem(&input.source))
}

/// Opens records from any reader (for tests and embedding). `stem` is the id of a `.txt` input.
pub fn open_reader(
    reader: Box<dyn BufRead + Send>,
    name: String,
    format: InputFormat,
    options: &ReadOptions,
    stem: String,
) -> Result<RecordIter, InputError> {
    Ok(match format {
        InputFormat::Csv => Box::new(CsvReader::new(reader, name, b',', options)?),
        InputFormat::Tsv => Box::new(CsvReader::new(reader, name, b'\t', options)?),
        InputFormat::Jsonl => Box::new(JsonlReader::new(reader, name, options)),
        InputFormat::Txt => Box::new(TxtReader::new(reader, name, stem)),
    })
}

fn stem(source: &Source) -> String {
    match source {
        Source::File(p) => p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string()),
        Source::Stdin => "stdin".to_string(),
    }
}

/// The start of the warning on a report whose id an earlier report already had.
pub const DUPLICATE_ID_WARNING: &str = "duplicate report id";

/// Reads every input in turn, opening each only when the previous one is done.
///
/// A report whose id an earlier report (in any input) already had is kept, with a warning that
/// starts with [`DUPLICATE_ID_WARNING`]; `summary.json` counts them. To tell, a 64-bit hash
/// ([`id_hash`]) of every report id is remembered: 9 to 16 bytes per distinct id (about 45 MB
/// for 3 million reports), never the ids or the text. Two different ids with the same hash (odds about one
/// in 10^19 per pair) would be reported as a duplicate.
pub struct Records {
    inputs: std::vec::IntoIter<Input>,
    options: ReadOptions,
    current: Option<RecordIter>,
    failed: bool,
    /// Names of the inputs opened so far.
    sources: Vec<String>,
    /// Records read from the current input.
    record: u64,
    /// A hash of each report id seen.
    seen: HashSet<u64, BuildHasherDefault<AsIs>>,
}

/// The hasher of a set of hashes: a `u64` that is already a hash is used as it is, rather than
/// hashed a second time.
#[derive(Default)]
struct AsIs(u64);

impl Hasher for AsIs {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A 64-bit hash of a report id, the same every run. Sixteen bytes at a time (the last ones
/// padded with zeros; the length goes into the last step), each step a 64 by 64-bit multiply
/// whose two halves are xored: the mixing of the wyhash family, which spreads every input bit
/// over the whole hash at a fraction of the cost of SipHash on short ids.
fn id_hash(id: &[u8]) -> u64 {
    const P: [u64; 4] = [
        0xa076_1d64_78bd_642f,
        0xe703_7ed1_a0b4_28db,
        0x8ebc_6af0_9c88_c6e3,
        0x5899_65cc_7537_4cc3,
    ];
    let mix = |a: u64, b: u64| {
        let r = u128::from(a) * u128::from(b);
        (r as u64) ^ ((r >> 64) as u64)
    };
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(w)
    };
    let mut h = P[0];
    for chunk in id.chunks(16) {
        let (a, b) = chunk.split_at(chunk.len().min(8));
        h = mix(word(a) ^ P[1], word(b) ^ h ^ P[2]);
    }
    mix(h ^ P[3], id.len() as u64 ^ P[1])
}

impl Records {
    /// Records from `inputs`, in order.
    pub fn new(inputs: Vec<Input>, options: ReadOptions) -> Records {
        Records {
            inputs: inputs.into_iter(),
            options,
            current: None,
            failed: false,
            sources: Vec::new(),
            record: 0,
            seen: HashSet::default(),
        }
    }

    fn note_id(&mut self, report: &mut Report) {
        if !self.seen.insert(id_hash(report.id.as_bytes())) {
            report.warnings.push(format!(
                "{DUPLICATE_ID_WARNING}: an earlier record has the same id"
            ));
        }
    }
}

impl Iterator for Records {
    type Item = Result<Record, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(cur) = self.current.as_mut() {
                match cur.next() {
                    Some(Err(e)) => {
                        self.failed = true;
                        self.current = None;
                        return Some(Err(e));
                    }
                    Some(mut item) => {
                        self.record += 1;
                        if let Ok(Ok(report)) = &mut item {
                            self.note_id(report);
                        }
                        return Some(item);
                    }
                    None => self.current = None,
                }
            }
            let input = self.inputs.next()?;
            self.sources.push(input.source.name());
            self.record = 0;
            match open(&input, &self.options) {
                Ok(it) => self.current = Some(it),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Sets one patient-context field; a value that cannot be read leaves the field unknown and adds
/// a warning to the report (the warning names the field and the accepted forms, never the text).
pub(crate) fn set_patient(report: &mut Report, field: &str, value: &str) {
    if let Err(msg) = report.patient.set(field, value) {
        report
            .warnings
            .push(format!("patient context ignored: {msg}"));
    }
}

/// Decodes bytes as UTF-8, replacing invalid sequences; says whether anything was replaced.
/// Valid bytes are borrowed, not copied.
pub(crate) fn decode(bytes: &[u8]) -> (Cow<'_, str>, bool) {
    // Checked first: `from_utf8_lossy` alone would also borrow valid bytes, but reads them
    // much more slowly.
    match std::str::from_utf8(bytes) {
        Ok(s) => (Cow::Borrowed(s), false),
        Err(_) => (String::from_utf8_lossy(bytes), true),
    }
}

/// Decodes owned bytes as UTF-8 without copying when they are valid.
pub(crate) fn decode_owned(bytes: Vec<u8>) -> (String, bool) {
    match String::from_utf8(bytes) {
        Ok(s) => (s, false),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
    }
}

/// The warning added to a report whose bytes were not valid UTF-8.
pub(crate) fn invalid_utf8_warning(what: &str) -> String {
    format!("invalid UTF-8 in {what} replaced with U+FFFD")
}

/// Skips a UTF-8 byte order mark at the start of `reader`.
pub(crate) fn skip_bom(reader: &mut dyn BufRead) -> io::Result<()> {
    let buf = loop {
        match reader.fill_buf() {
            Ok(b) => break b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    if buf.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    Ok(())
}

/// Reads all of `reader` (a `.txt` input).
pub(crate) fn read_all(reader: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    reader.read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids of the usual shapes (numbered, of every length from empty to past two steps, with
    /// zero bytes that the padding must not hide) all hash apart.
    #[test]
    fn id_hashes_tell_ids_apart() {
        let mut ids: Vec<Vec<u8>> = Vec::new();
        for n in 0..200_000u32 {
            ids.push(format!("gen-{n:07}").into_bytes());
            ids.push(n.to_string().into_bytes());
        }
        for len in 0..40 {
            ids.push(vec![0; len]);
            ids.push(vec![b'a'; len]);
            let mut z = vec![b'a'; len];
            z.push(0);
            ids.push(z);
        }
        for k in 0..40 {
            for v in [1u8, 0x80] {
                let mut x = vec![0u8; 40];
                x[k] = v;
                ids.push(x);
            }
        }
        ids.sort();
        ids.dedup();
        let mut seen = HashSet::new();
        for id in &ids {
            assert!(seen.insert(id_hash(id)), "{id:?}");
        }
        assert_eq!(id_hash(b"gen-0000001"), id_hash(b"gen-0000001"));
    }

    #[test]
    fn format_from_extension() {
        assert_eq!(
            InputFormat::from_path(Path::new("a/b.CSV")),
            Some(InputFormat::Csv)
        );
        assert_eq!(
            InputFormat::from_path(Path::new("b.tsv")),
            Some(InputFormat::Tsv)
        );
        assert_eq!(
            InputFormat::from_path(Path::new("b.ndjson")),
            Some(InputFormat::Jsonl)
        );
        assert_eq!(
            InputFormat::from_path(Path::new("b.txt")),
            Some(InputFormat::Txt)
        );
        assert_eq!(InputFormat::from_path(Path::new("b.xlsx")), None);
        assert_eq!(InputFormat::parse("JSONL"), Some(InputFormat::Jsonl));
    }

    #[test]
    fn decode_reports_replacement() {
        assert_eq!(decode(b"ok"), (Cow::Borrowed("ok"), false));
        let (s, bad) = decode(b"a\xFFb");
        assert!(bad);
        assert_eq!(s, "a\u{FFFD}b");
    }

    #[test]
    fn resolve_rejects_missing_and_unknown() {
        let opts = ReadOptions::default();
        let err = resolve(&[PathBuf::from("/no/such/file.csv")], &opts).unwrap_err();
        assert_eq!(err.source, "/no/such/file.csv");
        assert!(err.message.contains("No such file"), "{}", err.message);
        let dir = std::env::temp_dir().join(format!("spinex-resolve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let odd = dir.join("reports.xlsx");
        std::fs::write(&odd, "x").unwrap();
        let err = resolve(std::slice::from_ref(&odd), &opts).unwrap_err();
        assert!(err.message.contains("--input-format"));
        let forced = ReadOptions {
            format: Some(InputFormat::Csv),
            ..ReadOptions::default()
        };
        assert_eq!(
            resolve(&[odd], &forced).unwrap()[0].format,
            InputFormat::Csv
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_input_is_stdin() {
        let inputs = resolve(&[], &ReadOptions::default()).unwrap();
        assert_eq!(
            inputs,
            vec![Input {
                source: Source::Stdin,
                format: InputFormat::Csv
            }]
        );
    }
}
