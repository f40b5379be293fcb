//! JSONL: one JSON object per line. The id may be a string or a number, the text must be a string;
//! patient-context keys may sit at the top level or under `"patient"` (the latter wins). Blank
//! lines are skipped and are not records. A line that is not a JSON object is one record error.

use super::{decode_owned, invalid_utf8_warning, InputError, ReadOptions, Record, RecordError};
use crate::model::{Report, PATIENT_FIELDS};
use serde_json::{Map, Value};
use std::io::BufRead;

/// Reads reports from JSONL, one line at a time.
pub struct JsonlReader {
    reader: Box<dyn BufRead + Send>,
    source: String,
    id_key: String,
    text_key: String,
    buf: Vec<u8>,
    line: u64,
    record: u64,
    done: bool,
}

impl JsonlReader {
    /// Records from `reader`.
    pub fn new(
        reader: Box<dyn BufRead + Send>,
        source: String,
        options: &ReadOptions,
    ) -> JsonlReader {
        JsonlReader {
            reader,
            source,
            id_key: options.id_column.clone(),
            text_key: options.text_column.clone(),
            buf: Vec::with_capacity(1 << 14),
            line: 0,
            record: 0,
            done: false,
        }
    }

    fn parse(&self, bytes: Vec<u8>) -> Record {
        let (line_text, bad_utf8) = decode_owned(bytes);
        let error = |id: Option<String>, reason: String| RecordError {
            source: self.source.clone(),
            record: self.record,
            line: Some(self.line),
            id,
            reason,
        };
        let mut obj: Map<String, Value> = match serde_json::from_str::<Value>(&line_text) {
            Ok(Value::Object(m)) => m,
            Ok(other) => {
                return Err(error(
                    None,
                    format!("expected a JSON object, got {}", kind(&other)),
                ))
            }
            // serde_json's messages name a position, never the content; the line is the
            // record's, so only the column is kept.
            Err(e) => {
                let msg = e.to_string();
                let msg = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
                return Err(error(
                    None,
                    format!("invalid JSON at column {}: {msg}", e.column()),
                ));
            }
        };
        let id = match obj.get(&self.id_key) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(Value::String(_)) => return Err(error(None, "empty report id".into())),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => {
                return Err(error(
                    None,
                    format!(
                        "{:?} must be a string or a number, got {}",
                        self.id_key,
                        kind(other)
                    ),
                ))
            }
            None => return Err(error(None, format!("no {:?} key", self.id_key))),
        };
        let text = match obj.remove(&self.text_key) {
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(error(
                    Some(id),
                    format!("{:?} must be a string, got {}", self.text_key, kind(&other)),
                ))
            }
            None => return Err(error(Some(id), format!("no {:?} key", self.text_key))),
        };
        let mut report = Report {
            id,
            text,
            ..Report::default()
        };
        if bad_utf8 {
            report.warnings.push(invalid_utf8_warning("the line"));
        }
        for field in PATIENT_FIELDS {
            if field == self.id_key || field == self.text_key {
                continue;
            }
            if let Some(v) = obj.get(field) {
                set_value(&mut report, field, v);
            }
        }
        match obj.get("patient") {
            Some(Value::Object(p)) => {
                for field in PATIENT_FIELDS {
                    if let Some(v) = p.get(field) {
                        set_value(&mut report, field, v);
                    }
                }
            }
            Some(Value::Null) | None => {}
            Some(other) => report.warnings.push(format!(
                "patient context ignored: \"patient\" must be an object, got {}",
                kind(other)
            )),
        }
        Ok(report)
    }
}

fn set_value(report: &mut Report, field: &str, v: &Value) {
    match v {
        Value::Null => super::set_patient(report, field, ""),
        Value::Bool(b) => super::set_patient(report, field, if *b { "true" } else { "false" }),
        Value::Number(n) => super::set_patient(report, field, &n.to_string()),
        Value::String(s) => super::set_patient(report, field, s),
        other => report.warnings.push(format!(
            "patient context ignored: {field}: expected a value, got {}",
            kind(other)
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Iterator for JsonlReader {
    type Item = Result<Record, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line += 1;
                    let mut bytes = &self.buf[..];
                    if self.line == 1 && bytes.starts_with(b"\xEF\xBB\xBF") {
                        bytes = &bytes[3..];
                    }
                    while let [rest @ .., b'\n' | b'\r'] = bytes {
                        bytes = rest;
                    }
                    if bytes.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    self.record += 1;
                    let owned = bytes.to_vec();
                    return Some(Ok(self.parse(owned)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(InputError::io(&self.source, Some(self.line + 1), &e)));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(data: &str) -> Vec<Record> {
        let reader: Box<dyn BufRead + Send> =
            Box::new(std::io::Cursor::new(data.as_bytes().to_vec()));
        JsonlReader::new(reader, "t.jsonl".into(), &ReadOptions::default())
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn ids_patient_and_broken_lines() {
        let recs = read(concat!(
            "{\"id\": 7, \"text\": \"a\", \"age\": 80, \"patient\": {\"sex\": \"m\", \"cancer_history\": true}}\n",
            "\n",
            "{\"id\": \"b\", \"text\": \n",
            "[1,2]\n",
            "{\"id\": \"c\", \"text\": 3}\r\n",
            "{\"id\": \"d\", \"text\": \"x\", \"t_score\": \"low\"}\r\n",
        ));
        assert_eq!(recs.len(), 5);
        let r = recs[0].as_ref().unwrap();
        assert_eq!((r.id.as_str(), r.text.as_str()), ("7", "a"));
        assert_eq!(r.patient.age, Some(80.0));
        assert_eq!(r.patient.sex.as_deref(), Some("M"));
        assert_eq!(r.patient.cancer_history, Some(true));
        let e = recs[1].as_ref().unwrap_err();
        assert_eq!((e.record, e.line), (2, Some(3)));
        assert!(
            e.reason.starts_with("invalid JSON at column 20: "),
            "{}",
            e.reason
        );
        assert!(recs[2].as_ref().unwrap_err().reason.contains("an array"));
        let e = recs[3].as_ref().unwrap_err();
        assert_eq!(e.id.as_deref(), Some("c"));
        let d = recs[4].as_ref().unwrap();
        assert_eq!(d.patient.t_score, None);
        assert_eq!(d.warnings.len(), 1);
    }
}
