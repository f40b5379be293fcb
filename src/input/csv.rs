//! CSV and TSV: a header row, then one report per row. Quoted fields may span lines; CRLF and a
//! UTF-8 byte order mark are accepted. Columns other than the id, the text and the patient-context
//! names are ignored.
//!
//! Broken quoting is a record error, not a silent merge: text after a closing quote (`"a"b`)
//! is how a stray quote swallows the rows after it into one field, and a quoted field still
//! open at the end of the input is a truncated file. Either makes the record that holds it an
//! error that names the lines involved; reading goes on after it.

use super::{decode, invalid_utf8_warning, skip_bom, InputError, ReadOptions, Record, RecordError};
use crate::model::{Report, PATIENT_FIELDS};
use crate::text::find_where;
use std::collections::VecDeque;
use std::io::{self, BufRead, Read};

/// Reads reports from CSV or TSV, one row at a time.
pub struct CsvReader {
    reader: ::csv::Reader<QuoteCheck<Box<dyn BufRead + Send>>>,
    source: String,
    id_col: usize,
    text_col: usize,
    width: usize,
    /// (column index, patient field name)
    patient_cols: Vec<(usize, &'static str)>,
    row: ::csv::ByteRecord,
    record: u64,
    done: bool,
}

impl CsvReader {
    /// Reads the header from `reader`; fails when the id or text column is missing.
    pub fn new(
        mut reader: Box<dyn BufRead + Send>,
        source: String,
        delimiter: u8,
        options: &ReadOptions,
    ) -> Result<CsvReader, InputError> {
        skip_bom(&mut *reader).map_err(|e| InputError::io(&source, None, &e))?;
        let mut reader = ::csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(QuoteCheck::new(reader, delimiter));
        let headers: Vec<String> = match reader.byte_headers() {
            Ok(h) => h
                .iter()
                .map(|f| String::from_utf8_lossy(f).trim().to_string())
                .collect(),
            Err(e) => return Err(csv_error(&source, &e)),
        };
        if headers.iter().all(|h| h.is_empty()) {
            return Err(InputError::new(
                source,
                Some(1),
                "no header row (the input is empty)",
            ));
        }
        let find = |name: &str| headers.iter().position(|h| h == name);
        let listed = || {
            headers
                .iter()
                .map(|h| format!("{h:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let kind = if delimiter == b'\t' { "TSV" } else { "CSV" };
        let id_col = find(&options.id_column).ok_or_else(|| {
            InputError::new(
                &source,
                Some(1),
                format!(
                    "no id column {:?} in the {kind} header (columns: {}); choose one with --id-column",
                    options.id_column,
                    listed()
                ),
            )
        })?;
        let text_col = find(&options.text_column).ok_or_else(|| {
            InputError::new(
                &source,
                Some(1),
                format!(
                    "no text column {:?} in the {kind} header (columns: {}); choose one with --text-column",
                    options.text_column,
                    listed()
                ),
            )
        })?;
        let patient_cols = headers
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != id_col && i != text_col)
            .filter_map(|(i, h)| {
                PATIENT_FIELDS
                    .iter()
                    .find(|f| f.eq_ignore_ascii_case(h))
                    .map(|f| (i, *f))
            })
            .collect();
        Ok(CsvReader {
            reader,
            source,
            id_col,
            text_col,
            width: headers.len(),
            patient_cols,
            row: ::csv::ByteRecord::new(),
            record: 0,
            done: false,
        })
    }

    fn build(&self, line: Option<u64>, fault: Option<Fault>) -> Record {
        let row = &self.row;
        let id = row
            .get(self.id_col)
            .map(|b| decode(b).0.trim().to_string())
            .unwrap_or_default();
        let error = |id: String, reason: String| RecordError {
            source: self.source.clone(),
            record: self.record,
            line,
            id: (!id.is_empty()).then_some(id),
            reason,
        };
        if let Some(f) = fault {
            let inside = match f.line.saturating_sub(f.open_line) {
                0 => String::new(),
                1 => format!("; the row on line {} may be inside it", f.line),
                _ => format!(
                    "; the rows on lines {}-{} may be inside it",
                    f.open_line + 1,
                    f.line
                ),
            };
            let reason = match f.kind {
                FaultKind::TextAfterQuote => format!(
                    "broken quoting: the quoted field opened on line {} is closed on line {} with \
                     text after the closing quote (a quote inside a quoted field must be \
                     doubled){inside}",
                    f.open_line, f.line
                ),
                FaultKind::Unclosed => format!(
                    "broken quoting: the quoted field opened on line {} is not closed before the \
                     end of the input (a truncated file?){inside}",
                    f.open_line
                ),
            };
            return Err(error(id, reason));
        }
        if row.len() != self.width {
            let reason = format!(
                "row has {} field{}, the header has {}",
                row.len(),
                if row.len() == 1 { "" } else { "s" },
                self.width
            );
            return Err(error(id, reason));
        }
        if id.is_empty() {
            return Err(error(id, "empty report id".into()));
        }
        let mut report = Report {
            id,
            ..Report::default()
        };
        let (text, bad) = decode(&row[self.text_col]);
        report.text = text.into_owned();
        if bad {
            report.warnings.push(invalid_utf8_warning("the text"));
        }
        for &(col, field) in &self.patient_cols {
            let (value, bad) = decode(&row[col]);
            if bad {
                report.warnings.push(invalid_utf8_warning(field));
            }
            super::set_patient(&mut report, field, &value);
        }
        Ok(report)
    }
}

impl Iterator for CsvReader {
    type Item = Result<Record, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.reader.read_byte_record(&mut self.row) {
            Ok(true) => {
                self.record += 1;
                // The parser's own position points just after the previous record, before any
                // blank line or the `\n` of a CRLF, so its line can be short; the line of the
                // record's first byte is taken from the quoting check.
                let start = self.row.position().map_or(0, |p| p.byte());
                let end = self.reader.position().byte();
                let check = self.reader.get_mut();
                let line = check
                    .take_start(start, end)
                    .or_else(|| self.row.position().map(|p| p.line()));
                let fault = self.reader.get_mut().take_fault(start, end);
                Some(Ok(self.build(line, fault)))
            }
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(csv_error(&self.source, &e)))
            }
        }
    }
}

/// Where the quoting of the input is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultKind {
    /// Text right after the quote that closes a field (`"a"b`).
    TextAfterQuote,
    /// A quoted field still open at the end of the input.
    Unclosed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fault {
    kind: FaultKind,
    /// Byte offset of the fault (for `Unclosed`, the last byte of the input).
    byte: u64,
    /// Line where the quoted field opened.
    open_line: u64,
    /// Line of the fault (for `Unclosed`, the last line of the input).
    line: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: it closes the field or, doubled, stands for itself.
    QuoteInQuoted,
    /// Spaces after a closing quote (harmless: the parser keeps them in the field).
    Closed,
}

/// Follows the quoting of the bytes the CSV parser reads, with the rules of that parser
/// (a field is quoted when it starts with `"`; `""` inside it is a quote; `\r` and `\n` end a
/// record; blank lines are skipped), and notes each [`Fault`] and the byte offset and line of
/// each record's first byte, so that they can be tied to the record that holds them. It only
/// watches: the parser sees the bytes unchanged. What it notes ahead of the parser is bounded
/// by the parser's buffer and the record being read.
struct QuoteCheck<R> {
    inner: R,
    delimiter: u8,
    state: Quoting,
    offset: u64,
    line: u64,
    open_line: u64,
    at_end: bool,
    last: u8,
    faults: VecDeque<Fault>,
    /// Whether the next byte that is not a line break starts a record.
    record_start: bool,
    /// (byte offset, line) of the first byte of each record.
    starts: VecDeque<(u64, u64)>,
}

impl<R> QuoteCheck<R> {
    fn new(inner: R, delimiter: u8) -> QuoteCheck<R> {
        QuoteCheck {
            inner,
            delimiter,
            state: Quoting::FieldStart,
            offset: 0,
            line: 1,
            open_line: 1,
            at_end: false,
            last: 0,
            faults: VecDeque::new(),
            record_start: true,
            starts: VecDeque::new(),
        }
    }

    fn step(&mut self, b: u8) {
        let line_break = b == b'\n' || b == b'\r';
        let ends_field = b == self.delimiter || line_break;
        if self.record_start && !line_break {
            self.starts.push_back((self.offset, self.line));
            self.record_start = false;
        }
        self.state = match self.state {
            Quoting::FieldStart if b == b'"' => {
                self.open_line = self.line;
                Quoting::Quoted
            }
            Quoting::FieldStart | Quoting::Unquoted if ends_field => Quoting::FieldStart,
            Quoting::FieldStart | Quoting::Unquoted => Quoting::Unquoted,
            Quoting::Quoted if b == b'"' => Quoting::QuoteInQuoted,
            Quoting::Quoted => Quoting::Quoted,
            Quoting::QuoteInQuoted if b == b'"' => Quoting::Quoted,
            Quoting::QuoteInQuoted | Quoting::Closed if ends_field => Quoting::FieldStart,
            Quoting::QuoteInQuoted | Quoting::Closed if b == b' ' || b == b'\t' => Quoting::Closed,
            Quoting::QuoteInQuoted | Quoting::Closed => {
                self.faults.push_back(Fault {
                    kind: FaultKind::TextAfterQuote,
                    byte: self.offset,
                    open_line: self.open_line,
                    line: self.line,
                });
                Quoting::Unquoted
            }
        };
        if line_break && self.state == Quoting::FieldStart {
            self.record_start = true;
        }
        if b == b'\n' {
            self.line += 1;
        }
        self.last = b;
        self.offset += 1;
    }

    /// Follows `bytes`, as [`QuoteCheck::step`] on each byte would. Inside a quoted field only
    /// a quote changes the state (line breaks are only counted), and inside an unquoted one only
    /// a delimiter or a line break: such runs are skipped sixteen bytes at a time.
    fn watch(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some(&b) = rest.first() {
            let run = match self.state {
                Quoting::Quoted => {
                    let run = find_where(rest, |b| b == b'"');
                    self.line += count_newlines(&rest[..run]);
                    run
                }
                Quoting::Unquoted => {
                    let delimiter = self.delimiter;
                    find_where(rest, |b| (b == delimiter) | (b == b'\n') | (b == b'\r'))
                }
                _ => 0,
            };
            if run == 0 {
                self.step(b);
                rest = &rest[1..];
            } else {
                self.offset += run as u64;
                self.last = rest[run - 1];
                rest = &rest[run..];
            }
        }
    }

    /// The line of the first byte of the record at bytes `[start, end)`.
    fn take_start(&mut self, start: u64, end: u64) -> Option<u64> {
        while self.starts.front().is_some_and(|&(b, _)| b < start) {
            self.starts.pop_front();
        }
        let &(b, line) = self.starts.front()?;
        (b < end).then(|| {
            self.starts.pop_front();
            line
        })
    }

    /// The first fault in the record at bytes `[start, end)`, dropping those before it.
    fn take_fault(&mut self, start: u64, end: u64) -> Option<Fault> {
        while self.faults.front().is_some_and(|f| f.byte < start) {
            self.faults.pop_front();
        }
        let f = *self.faults.front().filter(|f| f.byte < end)?;
        // Several faults in one record are one error.
        while self.faults.front().is_some_and(|f| f.byte < end) {
            self.faults.pop_front();
        }
        Some(f)
    }
}

impl<R: Read> Read for QuoteCheck<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !self.at_end && !buf.is_empty() {
            self.at_end = true;
            if self.state == Quoting::Quoted && self.offset > 0 {
                self.faults.push_back(Fault {
                    kind: FaultKind::Unclosed,
                    byte: self.offset - 1,
                    open_line: self.open_line,
                    // The last line holding a byte (not the empty one after a final newline).
                    line: self.line - u64::from(self.last == b'\n'),
                });
            }
        }
        self.watch(&buf[..n]);
        Ok(n)
    }
}

/// The number of `\n` in `bytes`, counted in bytes (at most 255 at a time) so that the compiler
/// counts sixteen at once.
fn count_newlines(bytes: &[u8]) -> u64 {
    bytes
        .chunks(255)
        .map(|c| u64::from(c.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n'))))
        .sum()
}

fn csv_error(source: &str, e: &::csv::Error) -> InputError {
    let line = e.position().map(|p| p.line());
    match e.kind() {
        ::csv::ErrorKind::Io(io) => InputError::io(source, line, io),
        _ => InputError::new(source, line, format!("cannot read CSV: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{open_reader, InputFormat};

    fn read(data: &[u8], format: InputFormat) -> Vec<Record> {
        let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(data.to_vec()));
        open_reader(
            reader,
            "t.csv".into(),
            format,
            &ReadOptions::default(),
            "t".into(),
        )
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
    }

    #[test]
    fn bom_crlf_multiline() {
        let data = b"\xEF\xBB\xBFid,text,age\r\nr1,\"FINDINGS:\r\nNormal.\",71\r\nr2,plain,\r\n";
        let recs = read(data, InputFormat::Csv);
        assert_eq!(recs.len(), 2);
        let r1 = recs[0].as_ref().unwrap();
        assert_eq!(r1.id, "r1");
        assert_eq!(r1.text, "FINDINGS:\r\nNormal.");
        assert_eq!(r1.patient.age, Some(71.0));
        let r2 = recs[1].as_ref().unwrap();
        assert_eq!(r2.patient.age, None);
        assert!(r2.warnings.is_empty());
    }

    #[test]
    fn short_row_is_one_error_and_reading_goes_on() {
        let data = b"id,text\nr1,a\nr2\nr3,c,extra\nr4,d\n";
        let recs = read(data, InputFormat::Csv);
        assert_eq!(recs.len(), 4);
        let e = recs[1].as_ref().unwrap_err();
        assert_eq!(
            (e.record, e.line, e.id.as_deref()),
            (2, Some(3), Some("r2"))
        );
        assert!(e.reason.contains("1 field"), "{}", e.reason);
        let e = recs[2].as_ref().unwrap_err();
        assert_eq!(e.record, 3);
        assert_eq!(recs[3].as_ref().unwrap().id, "r4");
    }

    #[test]
    fn tsv_and_bad_patient_value_and_invalid_utf8() {
        let data = b"text\tid\tsex\tneuro_deficit\nab\xFFc\tx1\tf\tmaybe\n";
        let recs = read(data, InputFormat::Tsv);
        let r = recs[0].as_ref().unwrap();
        assert_eq!(r.id, "x1");
        assert_eq!(r.text, "ab\u{FFFD}c");
        assert_eq!(r.patient.sex.as_deref(), Some("F"));
        assert_eq!(r.patient.neuro_deficit, None);
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
        assert!(r.warnings.iter().any(|w| w.contains("neuro_deficit")));
    }

    #[test]
    fn missing_column_lists_columns() {
        let reader: Box<dyn BufRead + Send> =
            Box::new(std::io::Cursor::new(b"id,body\n1,x\n".to_vec()));
        let err = match open_reader(
            reader,
            "in.csv".into(),
            InputFormat::Csv,
            &ReadOptions::default(),
            String::new(),
        ) {
            Err(e) => e,
            Ok(_) => panic!("expected an error"),
        };
        assert_eq!(err.source, "in.csv");
        assert_eq!(err.line, Some(1));
        assert!(
            err.message.contains("\"text\"") && err.message.contains("\"body\""),
            "{}",
            err.message
        );
    }

    #[test]
    fn blank_id_is_an_error_and_empty_text_is_a_report() {
        let recs = read(b"id,text\n,abc\nr2,\n", InputFormat::Csv);
        assert!(recs[0]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("empty report id"));
        assert_eq!(recs[1].as_ref().unwrap().text, "");
    }

    /// A record error as (record, line, reason).
    type Failed = (u64, Option<u64>, String);

    fn errors_and_ids(data: &[u8]) -> Vec<Result<String, Failed>> {
        read(data, InputFormat::Csv)
            .into_iter()
            .map(|r| match r {
                Ok(rep) => Ok(rep.id),
                Err(e) => Err((e.record, e.line, e.reason)),
            })
            .collect()
    }

    #[test]
    fn a_stray_quote_that_swallows_rows_is_one_error_naming_the_lines() {
        let data =
            b"id,text\nq1,\"No fracture.\"\nq2,\"Mild L1 wedge\nq3,\"Scoliosis.\"\nq4,plain\n";
        let got = errors_and_ids(data);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], Ok("q1".into()));
        let (record, line, reason) = got[1].clone().unwrap_err();
        assert_eq!((record, line), (2, Some(3)));
        assert!(reason.starts_with("broken quoting"), "{reason}");
        assert!(reason.contains("the row on line 4"), "{reason}");
        assert_eq!(got[2], Ok("q4".into()));
    }

    #[test]
    fn a_quote_left_open_at_the_end_is_an_error() {
        let got = errors_and_ids(b"id,text\r\nq1,ok\r\nq2,\"FINDINGS: Mild\r\nL1 wed");
        assert_eq!(got[0], Ok("q1".into()));
        let (record, line, reason) = got[1].clone().unwrap_err();
        assert_eq!((record, line), (2, Some(3)));
        assert!(reason.contains("not closed before the end"), "{reason}");
        assert!(reason.contains("the row on line 4"), "{reason}");
    }

    #[test]
    fn error_lines_count_blank_lines_and_crlf() {
        for nl in ["\n", "\r\n"] {
            let data = ["id,text", "", "q1,ok", "", "", "q2", "q3,\"a", "b\"", "q4"].join(nl);
            let got = errors_and_ids(data.as_bytes());
            assert_eq!(got[0], Ok("q1".into()));
            assert_eq!(got[1].clone().unwrap_err().1, Some(6), "{nl:?}");
            assert_eq!(got[2], Ok("q3".into()));
            assert_eq!(got[3].clone().unwrap_err().1, Some(9), "{nl:?}");
        }
    }

    #[test]
    fn good_quoting_and_harmless_oddities_are_not_errors() {
        let data = concat!(
            "id,text\n",
            "a,\"He said \"\"no\"\" fracture\"\n",
            "b,\"two\nlines, with a comma\"\n",
            "c,\"spaces after the quote\"  \n",
            "d,a stray \" inside an unquoted field\n",
            "e,\"\"\n",
            "\"f\" ,\"last\""
        );
        let got = errors_and_ids(data.as_bytes());
        let ids: Vec<_> = got.iter().map(|r| r.clone().unwrap()).collect();
        assert_eq!(ids, ["a", "b", "c", "d", "e", "f"]);
        let tsv = read(b"id\ttext\nt1\t\"x\"\ty\n", InputFormat::Tsv);
        assert!(tsv[0].as_ref().unwrap_err().reason.contains("field"));
        let tsv = read(b"id\ttext\nt1\t\"x\"y\n", InputFormat::Tsv);
        assert!(tsv[0]
            .as_ref()
            .unwrap_err()
            .reason
            .starts_with("broken quoting"));
    }

    /// What a quoting check has noted so far.
    fn noted<R>(c: &QuoteCheck<R>) -> impl PartialEq + std::fmt::Debug {
        (
            (
                c.state,
                c.offset,
                c.line,
                c.open_line,
                c.last,
                c.record_start,
            ),
            (c.faults.clone(), c.starts.clone()),
        )
    }

    proptest::proptest! {
        #[test]
        fn skipping_runs_notes_what_stepping_each_byte_does(
            pieces in proptest::collection::vec(
                (0usize..40, proptest::sample::select(b" ,\t\r\n\"\"".to_vec())), 0..30),
            cut in 0usize..600,
            tab in proptest::bool::ANY,
        ) {
            // Runs of plain bytes, long and short, between bytes that matter.
            let bytes: Vec<u8> = pieces
                .iter()
                .flat_map(|&(run, b)| std::iter::repeat(b'a').take(run).chain([b]))
                .collect();
            let delimiter = if tab { b'\t' } else { b',' };
            let mut each = QuoteCheck::new((), delimiter);
            for &b in &bytes {
                each.step(b);
            }
            let mut runs = QuoteCheck::new((), delimiter);
            let (a, b) = bytes.split_at(cut.min(bytes.len()));
            runs.watch(a);
            runs.watch(b);
            proptest::prop_assert_eq!(noted(&runs), noted(&each));
        }

        #[test]
        fn any_text_survives_a_csv_round_trip(
            rows in proptest::collection::vec(("[a-z0-9=+@-][a-z0-9 _.-]{0,8}[a-z0-9]", "(?s).{0,40}"), 1..8),
            crlf in proptest::bool::ANY,
        ) {
            let mut w = ::csv::WriterBuilder::new()
                .terminator(if crlf { ::csv::Terminator::CRLF } else { ::csv::Terminator::Any(b'\n') })
                .from_writer(Vec::new());
            w.write_record(["id", "text"]).unwrap();
            for (id, text) in &rows {
                w.write_record([id, text]).unwrap();
            }
            let recs = read(&w.into_inner().unwrap(), InputFormat::Csv);
            proptest::prop_assert_eq!(recs.len(), rows.len());
            for (rec, (id, text)) in recs.iter().zip(&rows) {
                let r = rec.as_ref().unwrap();
                proptest::prop_assert_eq!(&r.id, id);
                proptest::prop_assert_eq!(&r.text, text);
            }
        }
    }
}
