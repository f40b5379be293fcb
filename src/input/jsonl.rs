//! JSONL: one JSON object per line. The id may be a string or a number, the text must be a string;
//! patient-context keys may sit at the top level or under `"patient"` (the latter wins). Blank
//! lines are skipped and are not records. A line that is not a JSON object is one record error.
//!
//! A line of the usual shape is read in place, straight from the reader's buffer, by a small
//! scanner ([`scan`]) that keeps only the values a report is made of; a line the buffer cuts is
//! copied out first. Anything the scanner is not sure of (an error, a number out of range, a lone
//! surrogate, deep nesting, invalid UTF-8) goes to `serde_json`, which decides and words the
//! error; both give the same [`Fields`].

mod scan;

use super::{invalid_utf8_warning, InputError, ReadOptions, Record, RecordError};
use crate::model::{Report, PATIENT_FIELDS};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;

/// Reads reports from JSONL, one line at a time.
pub struct JsonlReader {
    reader: Box<dyn BufRead + Send>,
    /// A line not read in place: the buffer cuts it, or it is not of the usual shape.
    buf: Vec<u8>,
    lines: Lines,
    done: bool,
}

/// What turns a line into a record: the keys to look for, where the line is, and scratch space.
struct Lines {
    source: String,
    keys: Keys,
    line: u64,
    record: u64,
    scratch: scan::Scratch,
}

/// The keys of the id and of the text.
struct Keys {
    id: String,
    text: String,
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
            buf: Vec::new(),
            lines: Lines {
                source,
                keys: Keys {
                    id: options.id_column.clone(),
                    text: options.text_column.clone(),
                },
                line: 0,
                record: 0,
                scratch: scan::Scratch::default(),
            },
            done: false,
        }
    }
}

impl Lines {
    /// One line (without its line break) as a record.
    fn parse(&mut self, bytes: &[u8]) -> Record {
        if let Some((fields, _)) = scan::line(bytes, &self.keys, &mut self.scratch, true) {
            return self.build(fields, false);
        }
        match std::str::from_utf8(bytes) {
            Ok(line) => self.parse_str(line, false),
            // Invalid bytes are replaced, and the line is read again.
            Err(_) => self.parse_str(&String::from_utf8_lossy(bytes), true),
        }
    }

    /// One line as a record, read by `serde_json`; `bad_utf8` says that invalid bytes were
    /// replaced in `line_text`.
    fn parse_str(&self, line_text: &str, bad_utf8: bool) -> Record {
        let seed = LineSeed { keys: &self.keys };
        let mut de = serde_json::Deserializer::from_str(line_text);
        let parsed = seed.deserialize(&mut de).and_then(|p| de.end().map(|()| p));
        match parsed {
            Ok(Line::Object(fields)) => self.build(fields, bad_utf8),
            Ok(Line::Other(kind)) => {
                Err(self.error(None, format!("expected a JSON object, got {kind}")))
            }
            // serde_json's messages name a position, never the content; the line is the
            // record's, so only the column is kept.
            Err(e) => {
                let msg = e.to_string();
                let msg = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
                Err(self.error(
                    None,
                    format!("invalid JSON at column {}: {msg}", e.column()),
                ))
            }
        }
    }

    fn error(&self, id: Option<String>, reason: String) -> RecordError {
        RecordError {
            source: self.source.clone(),
            record: self.record,
            line: Some(self.line),
            id,
            reason,
        }
    }

    /// The report made of the values of one line.
    fn build(&self, fields: Fields, bad_utf8: bool) -> Record {
        let keys = &self.keys;
        let id = match fields.id {
            Some(Val::Str(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(Val::Str(_)) => return Err(self.error(None, "empty report id".into())),
            Some(Val::Number(n)) => n.into_owned(),
            Some(other) => {
                return Err(self.error(
                    None,
                    format!(
                        "{:?} must be a string or a number, got {}",
                        keys.id,
                        other.kind()
                    ),
                ))
            }
            None => return Err(self.error(None, format!("no {:?} key", keys.id))),
        };
        let text = match fields.text {
            Some(Val::Str(s)) => s.into_owned(),
            Some(other) => {
                return Err(self.error(
                    Some(id),
                    format!("{:?} must be a string, got {}", keys.text, other.kind()),
                ))
            }
            None => return Err(self.error(Some(id), format!("no {:?} key", keys.text))),
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
            Some(Patient::Object(p)) => {
                for (field, v) in PATIENT_FIELDS.iter().zip(p) {
                    if let Some(v) = v {
                        set_value(&mut report, field, v);
                    }
                }
            }
            Some(Patient::Not(kind)) => report.warnings.push(format!(
                "patient context ignored: \"patient\" must be an object, got {kind}"
            )),
            None => {}
        }
        Ok(report)
    }
}

/// A value a report is made of, as read from a line: strings and numbers borrow from the line
/// when they can; of an array or an object only the kind is kept.
#[derive(Debug, Clone, PartialEq)]
enum Val<'a> {
    Null,
    Bool(bool),
    /// A number, written as `serde_json` writes it (`80`, `-3`, `80.0`).
    Number(Cow<'a, str>),
    Str(Cow<'a, str>),
    Array,
    Object,
}

impl Val<'_> {
    /// The kind of value, as error messages name it.
    fn kind(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "a boolean",
            Val::Number(_) => "a number",
            Val::Str(_) => "a string",
            Val::Array => "an array",
            Val::Object => "an object",
        }
    }
}

/// Patient-context values, in the order of [`PATIENT_FIELDS`].
type PatientValues<'a> = [Option<Val<'a>>; PATIENT_FIELDS.len()];

/// The `"patient"` value of a line (a `null` one is as good as none). Made once per line at
/// most, so the size of the object variant does not matter.
#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
enum Patient<'a> {
    /// An object: the patient-context values in it.
    Object(PatientValues<'a>),
    /// Anything else: its kind.
    Not(&'static str),
}

/// The values of one line that a report is made of; every other key is skipped without being
/// kept. When a key repeats, the last value wins (as in a JSON object read whole).
#[derive(Debug, Default, PartialEq)]
struct Fields<'a> {
    id: Option<Val<'a>>,
    text: Option<Val<'a>>,
    /// Patient-context values at the top level (a field named like the id or text key is not
    /// one).
    top: PatientValues<'a>,
    patient: Option<Patient<'a>>,
}

impl<'a> Fields<'a> {
    /// Keeps `val`, the value of `key`; `object` holds its patient-context values when it is
    /// an object and `key` is `"patient"`.
    fn put(&mut self, key: Key, val: Val<'a>, object: Option<PatientValues<'a>>) {
        if key.patient {
            self.patient = match (object, &val) {
                (Some(p), _) => Some(Patient::Object(p)),
                (None, Val::Null) => None,
                (None, v) => Some(Patient::Not(v.kind())),
            };
        }
        if let Some(i) = key.field {
            self.top[i] = Some(val);
        } else if key.id && key.text {
            self.text = Some(val.clone());
            self.id = Some(val);
        } else if key.id {
            self.id = Some(val);
        } else if key.text {
            self.text = Some(val);
        }
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

impl Key {
    /// What `k` stands for at the top level of a line.
    fn of(k: &[u8], keys: &Keys) -> Key {
        let (id, text) = (k == keys.id.as_bytes(), k == keys.text.as_bytes());
        Key {
            id,
            text,
            patient: k == b"patient",
            field: if id || text { None } else { field_index(k) },
        }
    }

    /// Whether the key stands for nothing (its value is skipped).
    fn is_none(self) -> bool {
        self == Key::default()
    }
}

/// The place of a patient-context field in [`PATIENT_FIELDS`].
fn field_index(k: &[u8]) -> Option<usize> {
    PATIENT_FIELDS.iter().position(|f| f.as_bytes() == k)
}

/// A line: an object, or the kind of value it is instead. Made once per line and taken apart at
/// once, so the size of the object variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Line<'a> {
    Object(Fields<'a>),
    Other(&'static str),
}

/// Reads one line with `serde_json`, keeping only the values a report needs.
#[derive(Clone, Copy)]
struct LineSeed<'k> {
    keys: &'k Keys,
}

impl<'de> DeserializeSeed<'de> for LineSeed<'_> {
    type Value = Line<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Line<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LineSeed<'_> {
    type Value = Line<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Line<'de>, E> {
        Ok(Line::Other("a boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Line<'de>, E> {
        Ok(Line::Other("a number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Line<'de>, E> {
        Ok(Line::Other("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Line<'de>, E> {
        Ok(Line::Other("a number"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Line<'de>, E> {
        Ok(Line::Other("a string"))
    }
    fn visit_unit<E>(self) -> Result<Line<'de>, E> {
        Ok(Line::Other("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Line<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Line::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Line<'de>, A::Error> {
        let mut f = Fields::default();
        while let Some(key) = map.next_key_seed(KeySeed(self.keys))? {
            if key.is_none() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let (val, object) = map.next_value_seed(ValSeed {
                patient: key.patient,
            })?;
            f.put(key, val, object);
        }
        Ok(Line::Object(f))
    }
}

/// Reads a key of a line as what it stands for.
struct KeySeed<'k>(&'k Keys);

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
        Ok(Key::of(k.as_bytes(), self.0))
    }
}

/// Reads a kept value; with `patient`, also the patient-context values of an object.
///
/// Every part of a kept value goes through `deserialize_any`, so `serde_json`'s nesting limit
/// holds for it as it does for a `serde_json::Value` (`IgnoredAny` would skip it).
#[derive(Clone, Copy)]
struct ValSeed {
    patient: bool,
}

impl<'de> DeserializeSeed<'de> for ValSeed {
    type Value = (Val<'de>, Option<PatientValues<'de>>);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValSeed {
    type Value = (Val<'de>, Option<PatientValues<'de>>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok((Val::Bool(b), None))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok((Val::Number(n.to_string().into()), None))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok((Val::Number(n.to_string().into()), None))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Self::Value, E> {
        // As `serde_json::Value` has it: a float is written the way serde_json writes it.
        let val = serde_json::Number::from_f64(n)
            .map_or(Val::Null, |n| Val::Number(n.to_string().into()));
        Ok((val, None))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok((Val::Str(Cow::Borrowed(s)), None))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok((Val::Str(Cow::Owned(s.to_string())), None))
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok((Val::Str(Cow::Owned(s)), None))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok((Val::Null, None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok((Val::Array, None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if !self.patient {
            while map.next_entry::<Skip, Skip>()?.is_some() {}
            return Ok((Val::Object, None));
        }
        let mut values = PatientValues::default();
        while let Some(field) = map.next_key_seed(FieldSeed)? {
            match field {
                Some(i) => values[i] = Some(map.next_value_seed(ValSeed { patient: false })?.0),
                None => map.next_value::<Skip>().map(drop)?,
            }
        }
        Ok((Val::Object, Some(values)))
    }
}

/// Reads a key of the `"patient"` object as the place of its field in [`PATIENT_FIELDS`].
struct FieldSeed;

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, k: &str) -> Result<Option<usize>, E> {
        Ok(field_index(k.as_bytes()))
    }
}

/// A part of a kept value that is not needed: read through `deserialize_any` and dropped.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Skip, D::Error> {
        d.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }
}

fn set_value(report: &mut Report, field: &str, v: &Val) {
    match v {
        Val::Null => super::set_patient(report, field, ""),
        Val::Bool(b) => super::set_patient(report, field, if *b { "true" } else { "false" }),
        Val::Number(n) => super::set_patient(report, field, n),
        Val::Str(s) => super::set_patient(report, field, s),
        Val::Array | Val::Object => report.warnings.push(format!(
            "patient context ignored: {field}: expected a value, got {}",
            v.kind()
        )),
    }
}

impl Iterator for JsonlReader {
    type Item = Result<Record, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        let lines = &mut self.lines;
        while !self.done {
            // A line of the usual shape that the buffer holds whole is read in place.
            let buffered = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(InputError::io(&lines.source, Some(lines.line + 1), &e)));
                }
            };
            if let Some((fields, used)) =
                scan::line(buffered, &lines.keys, &mut lines.scratch, false)
            {
                lines.line += 1;
                lines.record += 1;
                let record = lines.build(fields, false);
                self.reader.consume(used);
                return Some(Ok(record));
            }
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    lines.line += 1;
                    let mut bytes = &self.buf[..];
                    if lines.line == 1 && bytes.starts_with(b"\xEF\xBB\xBF") {
                        bytes = &bytes[3..];
                    }
                    while let [rest @ .., b'\n' | b'\r'] = bytes {
                        bytes = rest;
                    }
                    if bytes.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    lines.record += 1;
                    return Some(Ok(lines.parse(bytes)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(InputError::io(&lines.source, Some(lines.line + 1), &e)));
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

    /// Reads `line` with the fast reader and, when it takes the line, checks that `serde_json`
    /// takes it too and keeps the same values. Says whether the fast reader took it.
    fn fast_agrees(line: &str, keys: &Keys) -> bool {
        let mut scratch = scan::Scratch::default();
        let Some((fast, len)) = scan::line(line.as_bytes(), keys, &mut scratch, true) else {
            return false;
        };
        assert_eq!(len, line.len());
        let mut de = serde_json::Deserializer::from_str(line);
        let slow = LineSeed { keys }
            .deserialize(&mut de)
            .and_then(|p| de.end().map(|()| p));
        match slow {
            Ok(Line::Object(slow)) => assert_eq!(fast, slow, "{line}"),
            Ok(Line::Other(kind)) => panic!("{line}: serde_json read {kind}"),
            Err(e) => panic!("{line}: serde_json: {e}"),
        }
        // Read in place from a buffer that holds more than the line, the same.
        let buffered = format!("{line}\n{{\"id\": 1}}\n");
        let (again, len) = scan::line(buffered.as_bytes(), keys, &mut scratch, false).unwrap();
        assert_eq!((again, len), (fast, line.len() + 1));
        true
    }

    fn keys(id: &str, text: &str) -> Keys {
        Keys {
            id: id.into(),
            text: text.into(),
        }
    }

    #[test]
    fn the_fast_reader_takes_the_usual_lines_and_agrees() {
        let default = keys("id", "text");
        for line in [
            r#"{"id":"gen-1","text":"A\nB \"q\" \u00e9 \ud83d\ude00 \/ \\ \t","age":35,"sex":"M"}"#,
            r#"  {"id": 7, "text": "", "t_score": -2.5, "frax_hip": 1e2, "age": 0} "#,
            r#"{"id":"a","text":"b","gold":{"x":[1,{"y":null},"z",true,false,-0.5e-3],"w":{}},"k":[]}"#,
            r#"{"id":"a","text":"b","patient":{"age":"71","sex":null,"x":[1],"neuro_deficit":true}}"#,
            r#"{"id":"a","text":"b","patient":[1],"age":{"a":1},"sex":[]}"#,
            r#"{"id":"a","text":"b","patient":null,"id":" c ","text":"d"}"#,
            "{\"id\":\"a\",\t\"text\"\r:\"b\" ,\"age\":-0}",
            r#"{"id":18446744073709551615,"text":"b","age":12345678901234567890123}"#,
            r#"{"id":99999999999999999999,"text":"b","age":-9223372036854775809}"#,
            r#"{}"#,
            r#"{"text":"only"}"#,
        ] {
            assert!(fast_agrees(line, &default), "{line}");
        }
        for (id, text) in [("body", "body"), ("patient", "age"), ("sex", "text")] {
            let line = r#"{"body":"x","patient":{"age":3},"age":"4","sex":"f","text":"t"}"#;
            assert!(fast_agrees(line, &keys(id, text)), "{id} {text}");
        }
    }

    #[test]
    fn the_fast_reader_leaves_the_rest_to_serde_json() {
        let default = keys("id", "text");
        for line in [
            r#"{"id":"a","text":"b",}"#,
            r#"{"id":"a","text":"b"} x"#,
            r#"{"id":"a","text":"b""#,
            r#"{"id":"a","te\u0078t":"b"}"#,
            r#"{"id":"a","text":"\ud83d"}"#,
            r#"{"id":"a","text":"\udc00"}"#,
            r#"{"id":"a","text":"\x"}"#,
            "{\"id\":\"a\",\"text\":\"b\u{1}\"}",
            "{\"id\":\"a\",\n\"text\":\"b\"}",
            r#"{"id":01,"text":"b"}"#,
            r#"{"id":1.,"text":"b"}"#,
            r#"{"id":-,"text":"b"}"#,
            r#"{"id":1e400,"text":"b"}"#,
            r#"{"id":"a","text":"b","x":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}"#,
            r#"[1]"#,
            r#""a""#,
            r#"{"id":"a","text":nul}"#,
            "\u{feff}{\"id\":\"a\"}",
        ] {
            assert!(!fast_agrees(line, &default), "{line}");
        }
    }

    /// Pieces of JSON lines, valid or nearly so.
    mod gen {
        use proptest::prelude::*;

        fn string() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                8 => "[a-zA-Z0-9 .,:-]{0,12}",
                2 => "[a-z ]{16,50}",
                2 => Just(r"\n".to_string()),
                2 => Just(r#"\""#.to_string()),
                2 => Just(r"\\".to_string()),
                2 => Just(r"\/\b\f\r\t".to_string()),
                2 => Just(r"\u00E9\u0000\u2014".to_string()),
                2 => Just(r"\ud83d\ude00".to_string()),
                2 => Just("é°–😀".to_string()),
                // Pieces serde_json rejects in a kept string.
                1 => Just(r"\ud83d".to_string()),
                1 => Just(r"\udc00x".to_string()),
                1 => Just(r"\u12".to_string()),
                1 => Just(r"\q".to_string()),
                1 => Just("\u{1}\u{7f}".to_string()),
                1 => Just("\t".to_string()),
            ];
            proptest::collection::vec(piece, 0..6).prop_map(|p| format!("\"{}\"", p.concat()))
        }

        fn number() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => "-?(0|[1-9][0-9]{0,21})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,3})?",
                4 => "[0-9]{1,3}",
                2 => prop::sample::select(vec![
                    "18446744073709551615",
                    "18446744073709551616",
                    "99999999999999999999",
                    "9223372036854775808",
                    "-9223372036854775808",
                    "-9223372036854775809",
                    "-0",
                    "-0.0",
                    "1E2",
                    "2.50",
                ])
                .prop_map(String::from),
                1 => prop::sample::select(vec!["00", "1.", "1e", "-", ".5", "1e400", "+1"])
                    .prop_map(String::from),
            ]
        }

        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => prop::sample::select(vec![
                    "id", "text", "age", "sex", "t_score", "neuro_deficit", "patient", "gold",
                    "body",
                ])
                .prop_map(|k| format!("\"{k}\"")),
                1 => string(),
                1 => Just(r#""te\u0078t""#.to_string()),
            ]
        }

        fn space() -> impl Strategy<Value = &'static str> {
            prop::sample::select(vec!["", "", "", " ", "  ", "\t", "\r", "\n"])
        }

        fn leaf() -> impl Strategy<Value = String> {
            prop_oneof![
                3 => string(),
                2 => number(),
                1 => prop::sample::select(vec!["true", "false", "null", "null", "nul"])
                    .prop_map(String::from),
            ]
        }

        fn value() -> impl Strategy<Value = String> {
            leaf().prop_recursive(4, 24, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec((inner.clone(), space()), 0..4).prop_map(|v| {
                        let items: Vec<String> =
                            v.into_iter().map(|(x, s)| format!("{s}{x}{s}")).collect();
                        format!("[{}]", items.join(","))
                    }),
                    object(inner),
                ]
            })
        }

        fn object(value: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
            proptest::collection::vec((key(), value, space(), space()), 0..6).prop_map(|m| {
                let members: Vec<String> = m
                    .into_iter()
                    .map(|(k, v, s, t)| format!("{s}{k}{t}:{s}{v}{t}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            })
        }

        /// A line, sometimes with one byte changed, inserted or taken out.
        pub fn line() -> impl Strategy<Value = Vec<u8>> {
            let edit = prop_oneof![
                3 => Just(None),
                1 => (any::<prop::sample::Index>(), 0..3u8, prop::sample::select(
                    b"{}[]\",:\\ 0-.eu\n\xff\xc3".to_vec()
                ))
                .prop_map(Some),
            ];
            let top = prop_oneof![3 => leaf(), 1 => value()];
            (object(top), edit).prop_map(|(line, edit)| {
                let mut bytes = line.into_bytes();
                if let Some((at, how, b)) = edit {
                    let i = at.index(bytes.len());
                    match how {
                        0 => bytes[i] = b,
                        1 => bytes.insert(i, b),
                        _ => drop(bytes.remove(i)),
                    }
                }
                bytes
            })
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn the_fast_reader_agrees_with_serde_json_on_any_line(line in gen::line()) {
            let Ok(line) = std::str::from_utf8(&line) else {
                let mut scratch = scan::Scratch::default();
                let took = scan::line(&line, &keys("id", "text"), &mut scratch, true).is_some();
                proptest::prop_assert!(!took, "the fast reader took invalid UTF-8");
                return Ok(());
            };
            for (id, text) in [("id", "text"), ("body", "body"), ("patient", "age")] {
                fast_agrees(line, &keys(id, text));
            }
        }
    }
}
