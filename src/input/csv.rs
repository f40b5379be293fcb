//! CSV and TSV: a header row, then one report per row. Quoted fields may span lines; CRLF and a
//! UTF-8 byte order mark are accepted. Columns other than the id, the text and the patient-context
//! names are ignored.

use super::{decode, invalid_utf8_warning, skip_bom, InputError, ReadOptions, Record, RecordError};
use crate::model::{Report, PATIENT_FIELDS};
use std::io::BufRead;

/// Reads reports from CSV or TSV, one row at a time.
pub struct CsvReader {
    reader: ::csv::Reader<Box<dyn BufRead + Send>>,
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
            .from_reader(reader);
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

    fn build(&self, line: Option<u64>) -> Record {
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
        report.text = text;
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
                let line = self.row.position().map(|p| p.line());
                Some(Ok(self.build(line)))
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

    proptest::proptest! {
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
