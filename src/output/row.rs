//! A reusable CSV row: fields are copied into one [`csv::ByteRecord`] whose buffers are kept
//! between rows, so writing a row allocates nothing once the buffers have grown.

use std::fmt::Display;
use std::io::Write;

/// Whether a cell would be read as a formula by a spreadsheet.
pub(crate) fn needs_quote_mark(s: &[u8]) -> bool {
    matches!(s.first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'))
}

/// One row under construction.
#[derive(Debug, Default)]
pub(crate) struct Row {
    record: csv::ByteRecord,
    scratch: Vec<u8>,
}

impl Row {
    /// Starts a new row.
    pub fn clear(&mut self) {
        self.record.clear();
    }

    /// A text cell, made safe for spreadsheets.
    pub fn cell(&mut self, s: &str) {
        if needs_quote_mark(s.as_bytes()) {
            self.scratch.clear();
            self.scratch.push(b'\'');
            self.scratch.extend_from_slice(s.as_bytes());
            self.record.push_field(&self.scratch);
        } else {
            self.record.push_field(s.as_bytes());
        }
    }

    /// A text cell written exactly as given (the mention text).
    pub fn verbatim(&mut self, s: &str) {
        self.record.push_field(s.as_bytes());
    }

    /// An empty cell.
    pub fn empty(&mut self) {
        self.record.push_field(b"");
    }

    /// A formatted cell, made safe for spreadsheets.
    pub fn display(&mut self, v: impl Display) {
        self.scratch.clear();
        // Writing into a Vec cannot fail.
        let _ = write!(self.scratch, "{v}");
        if needs_quote_mark(&self.scratch) {
            self.scratch.insert(0, b'\'');
        }
        self.record.push_field(&self.scratch);
    }

    /// An optional formatted cell (empty when `None`).
    pub fn opt(&mut self, v: Option<impl Display>) {
        match v {
            Some(v) => self.display(v),
            None => self.empty(),
        }
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, b: bool) {
        self.record.push_field(if b { b"true" } else { b"false" });
    }

    /// Items joined by `;`, made safe for spreadsheets.
    pub fn joined<I, T>(&mut self, items: I)
    where
        I: IntoIterator<Item = T>,
        T: Display,
    {
        self.scratch.clear();
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.scratch.push(b';');
            }
            let _ = write!(self.scratch, "{item}");
        }
        if needs_quote_mark(&self.scratch) {
            self.scratch.insert(0, b'\'');
        }
        self.record.push_field(&self.scratch);
    }

    /// Appends the row as one RFC 4180 record ending in `\n`: a field is quoted when it holds a
    /// comma, a quote, CR or LF (quotes doubled), or when it is the only field and empty; the same
    /// output as `csv::Writer`'s default style.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let only = self.record.len() == 1;
        for (i, field) in self.record.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let quote = (only && field.is_empty())
                || field
                    .iter()
                    .any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
            if quote {
                out.push(b'"');
                for &b in field {
                    if b == b'"' {
                        out.push(b'"');
                    }
                    out.push(b);
                }
                out.push(b'"');
            } else {
                out.extend_from_slice(field);
            }
        }
        out.push(b'\n');
    }

    /// A header row.
    pub fn header<S: AsRef<str>>(&mut self, names: &[S]) {
        self.clear();
        for n in names {
            self.verbatim(n.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: impl FnOnce(&mut Row)) -> String {
        let mut row = Row::default();
        f(&mut row);
        let mut out = Vec::new();
        row.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn encoding_matches_the_csv_crate() {
        let cases: &[&[&str]] = &[
            &["a", "b,c", "d\"e", "f\ng", "h\r\ni", "", " j ", "k'l"],
            &[""],
            &["", ""],
            &["x"],
            &["\"", ",", "\r"],
            &["30°", "L4–5"],
        ];
        for fields in cases {
            let mut row = Row::default();
            for f in *fields {
                row.verbatim(f);
            }
            let mut ours = Vec::new();
            row.encode(&mut ours);
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(*fields).unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(w.into_inner().unwrap()).unwrap()
            );
        }
    }

    #[test]
    fn formulas_get_a_quote_mark() {
        assert_eq!(
            render(|r| r.cell("=HYPERLINK(\"x\")")),
            "\"'=HYPERLINK(\"\"x\"\")\"\n"
        );
        assert_eq!(render(|r| r.cell("+1")), "'+1\n");
        assert_eq!(render(|r| r.cell("-2")), "'-2\n");
        assert_eq!(render(|r| r.cell("@SUM")), "'@SUM\n");
        assert_eq!(render(|r| r.cell("\tx")), "'\tx\n");
        assert_eq!(render(|r| r.display(-3)), "'-3\n");
        assert_eq!(render(|r| r.cell("T12")), "T12\n");
        assert_eq!(render(|r| r.verbatim("-x")), "-x\n");
    }

    #[test]
    fn joined_booleans_and_options() {
        let out = render(|r| {
            r.joined(["a", "b"]);
            r.boolean(true);
            r.opt(None::<u8>);
            r.opt(Some(2.5f32));
            r.cell("two\nlines");
        });
        assert_eq!(out, "a;b,true,,2.5,\"two\nlines\"\n");
    }

    proptest::proptest! {
        #[test]
        fn encoding_matches_the_csv_crate_for_any_fields(fields in proptest::collection::vec(".{0,12}", 1..6)) {
            let mut row = Row::default();
            for f in &fields {
                row.verbatim(f);
            }
            let mut ours = Vec::new();
            row.encode(&mut ours);
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(&fields).unwrap();
            proptest::prop_assert_eq!(ours, w.into_inner().unwrap());
        }
    }
}
