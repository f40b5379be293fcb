//! JSONL: one JSON object per line. The id may be a string or a number, the text must be a string;
//! patient-context keys may sit at the top level or under `"patient"` (the latter wins). Blank
//! lines are skipped and are not records. A line that is not a JSON object is one record error.

use super::{invalid_utf8_warning, InputError, ReadOptions, Record, RecordError};
use crate::model::{Report, PATIENT_FIELDS};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
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

    /// One line as a record; `bad_utf8` says that invalid bytes were replaced in `line_text`.
    fn parse(&self, line_text: &str, bad_utf8: bool) -> Record {
        let error = |id: Option<String>, reason: String| RecordError {
            source: self.source.clone(),
            record: self.record,
            line: Some(self.line),
            id,
            reason,
        };
        let seed = LineSeed {
            id_key: &self.id_key,
            text_key: &self.text_key,
        };
        let mut de = serde_json::Deserializer::from_str(line_text);
        let parsed = seed.deserialize(&mut de).and_then(|p| de.end().map(|()| p));
        let mut fields = match parsed {
            Ok(Line::Object(f)) => f,
            Ok(Line::Other(kind)) => {
                return Err(error(None, format!("expected a JSON object, got {kind}")))
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
        let id = match &fields.id {
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
        let text = match fields.text.take() {
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
        for (field, v) in PATIENT_FIELDS.iter().zip(&fields.top) {
            if let Some(v) = v {
                set_value(&mut report, field, v);
            }
        }
        match &fields.patient {
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

/// The values of one line that a report is made of; every other key is skipped without being
/// kept. When a key repeats, the last value wins (as in a JSON object read whole).
#[derive(Default)]
struct Fields {
    id: Option<Value>,
    text: Option<Value>,
    /// Patient-context values at the top level, in the order of [`PATIENT_FIELDS`] (a field
    /// named like the id or text key is not one).
    top: [Option<Value>; PATIENT_FIELDS.len()],
    patient: Option<Value>,
}

/// A line: an object, or the kind of value it is instead. Made once per line and taken apart at
/// once, so the size of the object variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Line {
    Object(Fields),
    Other(&'static str),
}

/// Reads one line, keeping only the values a report needs.
#[derive(Clone, Copy)]
struct LineSeed<'k> {
    id_key: &'k str,
    text_key: &'k str,
}

impl<'de> DeserializeSeed<'de> for LineSeed<'_> {
    type Value = Line;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Line, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LineSeed<'_> {
    type Value = Line;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Line, E> {
        Ok(Line::Other("a boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Line, E> {
        Ok(Line::Other("a number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Line, E> {
        Ok(Line::Other("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Line, E> {
        Ok(Line::Other("a number"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Line, E> {
        Ok(Line::Other("a string"))
    }
    fn visit_unit<E>(self) -> Result<Line, E> {
        Ok(Line::Other("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Line, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Line::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Line, A::Error> {
        let mut f = Fields::default();
        while let Some(key) = map.next_key_seed(KeySeed(self))? {
            if key == Key::default() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let v: Value = map.next_value()?;
            if let Some(i) = key.field {
                f.top[i] = Some(v.clone());
            }
            if key.patient {
                f.patient = Some(v.clone());
            }
            if key.text {
                f.text = Some(v.clone());
            }
            if key.id {
                f.id = Some(v);
            }
        }
        Ok(Line::Object(f))
    }
}

/// What a key of a line stands for (it may stand for several things at once, or for nothing).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Key {
    id: bool,
    text: bool,
    patient: bool,
    field: Option<usize>,
}

struct KeySeed<'k>(LineSeed<'k>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, k: &str) -> Result<Key, E> {
        let LineSeed { id_key, text_key } = self.0;
        Ok(Key {
            id: k == id_key,
            text: k == text_key,
            patient: k == "patient",
            field: PATIENT_FIELDS
                .iter()
                .position(|&f| f == k)
                .filter(|_| k != id_key && k != text_key),
        })
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
                    // Parsed in place; a copy only when invalid bytes must be replaced.
                    return Some(Ok(match std::str::from_utf8(bytes) {
                        Ok(line) => self.parse(line, false),
                        Err(_) => self.parse(&String::from_utf8_lossy(bytes), true),
                    }));
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

    #[test]
    fn only_the_needed_keys_are_kept_and_the_last_one_wins() {
        let recs = read(concat!(
            "{\"gold\": {\"x\": [1, {\"y\": null}]}, \"te\\u0078t\": \"a\\nb\", \"id\": \"r1\", \"id\": \" r2 \", \"age\": 70, \"patient\": {\"age\": 80}}\n",
            "\"just a string\"\n",
            "null\n",
            "3.5\n",
            "{\"id\": \"r3\", \"text\": \"x\"} trailing\n",
            "{\"id\": \"r4\", \"text\": \"x\", \"patient\": [1]}\n",
        ));
        let r = recs[0].as_ref().unwrap();
        assert_eq!((r.id.as_str(), r.text.as_str()), ("r2", "a\nb"));
        assert_eq!(r.patient.age, Some(80.0), "the patient object wins");
        assert!(recs[1].as_ref().unwrap_err().reason.contains("a string"));
        assert!(recs[2].as_ref().unwrap_err().reason.contains("null"));
        assert!(recs[3].as_ref().unwrap_err().reason.contains("a number"));
        assert!(recs[4]
            .as_ref()
            .unwrap_err()
            .reason
            .starts_with("invalid JSON"));
        let r4 = recs[5].as_ref().unwrap();
        assert!(r4.warnings[0].contains("an array"), "{:?}", r4.warnings);
    }

    #[test]
    fn id_and_text_may_be_the_same_key() {
        let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(
            b"{\"body\": \"Mild scoliosis.\"}\n".to_vec(),
        ));
        let options = ReadOptions {
            id_column: "body".into(),
            text_column: "body".into(),
            ..ReadOptions::default()
        };
        let recs: Vec<Record> = JsonlReader::new(reader, "t.jsonl".into(), &options)
            .map(|r| r.unwrap())
            .collect();
        let r = recs[0].as_ref().unwrap();
        assert_eq!(
            (r.id.as_str(), r.text.as_str()),
            ("Mild scoliosis.", "Mild scoliosis.")
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_and_noted() {
        let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(
            b"{\"id\": \"u\", \"text\": \"T12 \xff fracture\"}\n".to_vec(),
        ));
        let recs: Vec<Record> = JsonlReader::new(reader, "t.jsonl".into(), &ReadOptions::default())
            .map(|r| r.unwrap())
            .collect();
        let r = recs[0].as_ref().unwrap();
        assert_eq!(r.text, "T12 \u{FFFD} fracture");
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].contains("invalid UTF-8"));
    }
}
